"""The remote client's server URLs: one that is no server URL (unparsable, another scheme, credentials in it,
a query, bytes no URL holds) is refused in one sentence before any connection, and credentials are never shown."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kavlan_core import config
from kavlan_core.api.client.service import RemoteService
from kavlan_core.errors import BadInput


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://[::1", "Invalid IPv6 URL"),
        ("ftp://kavlan.example.org", "must start with https://"),
        ("kavlan.example.org:8443", "must start with https://"),
        ("https://alice:hunter2@kavlan.example.org/", "holds credentials"),
        ("https://kavlan.example.org:99999", "Port out of range"),
        ("https://kavlan.example.org/?x=1", "query"),
        ("https://kavlan\udcff.example.org", "characters a URL does not"),
        ("https://kavlan.example.org\n", "characters a URL does not"),
    ],
)
def test_a_url_that_is_no_server_is_one_sentence(tmp_path: Path, url: str, words: str) -> None:
    settings = config.load(env={"KAVLAN_CONFIG": str(tmp_path / "none.toml")}, api=url)
    with pytest.raises(BadInput) as caught:
        asyncio.run(RemoteService.open(settings))
    message = str(caught.value)
    assert words in message and "\n" not in message and caught.value.about == "api", message
    assert "hunter2" not in message


def test_a_site_server_url_is_checked_too(tmp_path: Path) -> None:
    settings = config.load(
        env={"KAVLAN_CONFIG": str(tmp_path / "none.toml")},
        api="https://127.0.0.1:1",
        api_sites={"lille": "gopher://lille"},
    )
    with pytest.raises(BadInput, match="setting api_sites.lille"):
        asyncio.run(RemoteService.open(settings))
