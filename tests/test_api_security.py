"""Who may ask kavlan-api what: refused requests (no certificate, an unknown CA, an expired certificate, a user
certificate acting for someone else, a wrong password) get the right status, or no TLS session at all, and
change nothing; a trusted service acts for a user with that user's rights only."""

# ruff: noqa: F811 (the server fixtures are imported from api_fixture, then named as parameters)

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
import requests
from api_fixture import SITE, ApiServer, api_certs, api_server  # noqa: F401
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kavlan_core.authz import PRIVILEGES

ROUTED = "{\"type='kavlan'\"}/vlan=1+/nodes=2"


@pytest.fixture(scope="module")
def alices_job(api_server: ApiServer) -> dict[str, Any]:
    job = api_server.reserve("alice", ROUTED)
    return {"id": job["uid"], "vlan": job["resources_by_type"]["vlans"][0], "nodes": job["assigned_nodes"]}


def snapshot(s: ApiServer) -> dict[str, Any]:
    """Everything a request could change: every NIC's VLAN, every VLAN's holder and DHCP, every job."""
    nodes = s.get("root", f"/sites/{SITE}/vlans/nodes").json()["items"]
    vlans = [(v["uid"], v["job"], v["dhcpd"]) for v in s.get("root", f"/sites/{SITE}/vlans").json()["items"]]
    jobs = [
        (j["uid"], j["state"])
        for j in s.get("root", f"/sites/{SITE}/jobs", params={"state": "all"}).json()["items"]
    ]
    return {"nodes": nodes, "vlans": vlans, "jobs": jobs}


def attempts(s: ApiServer, session: requests.Session, job: dict[str, Any]) -> list[requests.Response]:
    """A move, a DHCP start, a reservation and a job deletion, with ``session``'s credentials."""
    base = s.url + f"/sites/{SITE}"
    return [
        session.post(f"{base}/vlans/{job['vlan']}/nodes", json=job["nodes"], timeout=30),
        session.put(f"{base}/vlans/{job['vlan']}/dhcpd", json={"action": "start"}, timeout=30),
        session.post(f"{base}/jobs", json={"resources": "/nodes=1"}, timeout=30),
        session.delete(f"{base}/jobs/{job['id']}", timeout=30),
    ]


def _assert_refused(responses: list[requests.Response], status: int, words: str) -> None:
    for r in responses:
        assert r.status_code == status, (r.request.method, r.request.url, r.text)
        body = r.json()
        assert body["code"] == status and words in body["message"], body


def _issue(
    ca_dir: Path,
    cn: str | None,
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    ca_key: Any = None,
    ca_name: x509.Name | None = None,
) -> tuple[bytes, bytes]:
    """A client certificate made here with cryptography: signed by the CA in ``ca_dir`` unless another is given."""
    if ca_key is None:
        ca_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), password=None)
        ca_name = x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes()).subject
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
                if cn is not None
                else [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kavlan")]
            )
        )
        .issuer_name(ca_name)  # type: ignore[arg-type]
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), pem


def _write(tmp_path: Path, name: str, cert: bytes, key: bytes) -> tuple[str, str]:
    (tmp_path / f"{name}.pem").write_bytes(cert)
    (tmp_path / f"{name}.key").write_bytes(key)
    return str(tmp_path / f"{name}.pem"), str(tmp_path / f"{name}.key")


def _tls_refused(s: ApiServer, cert: tuple[str, str], job: dict[str, Any], alert: str) -> None:
    """The TLS layer refuses the certificate with an alert naming why, and no HTTP answer at all (with TLS 1.2
    the handshake fails; with TLS 1.3 the client's handshake ends first and its request gets the alert)."""
    session = s.client()
    session.cert = cert
    with pytest.raises(requests.exceptions.ConnectionError):
        session.post(s.url + f"/sites/{SITE}/vlans/{job['vlan']}/nodes", json=job["nodes"], timeout=30)
    port = int(s.url.rsplit(":", 1)[1])
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = ssl.create_default_context(cafile=s.ca)
        ctx.load_cert_chain(*cert)
        ctx.minimum_version = ctx.maximum_version = version
        with (
            pytest.raises(ssl.SSLError) as refused,
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(f"GET /sites/{SITE}/kavlan/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            tls.recv(1000)
        assert f"alert {alert}" in str(refused.value), (version, refused.value)


NOW = dt.datetime.now(dt.UTC)


def test_no_credentials_401(api_server: ApiServer, alices_job: dict[str, Any]) -> None:
    before = snapshot(api_server)
    responses = attempts(api_server, api_server.client(), alices_job)
    _assert_refused(responses, 401, "authentication required")
    assert all(r.headers["WWW-Authenticate"].startswith("Basic ") for r in responses)
    assert snapshot(api_server) == before


def test_wrong_password_401(api_server: ApiServer, alices_job: dict[str, Any]) -> None:
    """Each guesser from an address of its own: an address is refused (429) after 5 wrong guesses
    (test_api_bruteforce)."""
    before = snapshot(api_server)
    _assert_refused(
        attempts(
            api_server, api_server.client("alice", password="guessed-wrong", source="127.0.0.21"), alices_job
        ),
        401,
        "wrong user name or password",
    )
    _assert_refused(
        attempts(
            api_server, api_server.client("mallory", password="anything", source="127.0.0.22"), alices_job
        ),
        401,
        "wrong user name or password",
    )
    garbled = api_server.client()
    garbled.headers["Authorization"] = "Basic " + base64.b64encode(b"no-colon-here").decode()
    _assert_refused(attempts(api_server, garbled, alices_job), 401, "authentication required")
    assert snapshot(api_server) == before
    # the right password works (and alice's own rights apply)
    ok = api_server.client("alice", password="alice-password-1").get(
        api_server.url + f"/sites/{SITE}/kavlan/whoami", timeout=30
    )
    assert ok.json()["uid"] == "alice"


def test_unknown_ca_refused_by_tls(api_server: ApiServer, alices_job: dict[str, Any], tmp_path: Path) -> None:
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    rogue_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "KaVLAN CA")])  # same name, other key
    cert = _issue(
        tmp_path,
        "alice",
        not_before=NOW - dt.timedelta(hours=1),
        not_after=NOW + dt.timedelta(days=1),
        ca_key=rogue_key,
        ca_name=rogue_name,
    )
    before = snapshot(api_server)
    lines = len(api_server.access_log.read_text().splitlines())
    _tls_refused(api_server, _write(tmp_path, "rogue-alice", *cert), alices_job, "unknown ca")
    assert snapshot(api_server) == before
    seen = [json.loads(x) for x in api_server.access_log.read_text().splitlines()[lines:]]
    assert not any(e.get("method") == "POST" for e in seen)  # the request never reached HTTP
    refused = [e for e in seen if e.get("event") == "refused"]
    assert refused and "TLS: client certificate refused" in refused[0]["reason"]


def test_expired_certificate_refused_by_tls(
    api_server: ApiServer, alices_job: dict[str, Any], api_certs: Path, tmp_path: Path
) -> None:
    expired = _issue(
        api_certs, "alice", not_before=NOW - dt.timedelta(days=30), not_after=NOW - dt.timedelta(days=1)
    )
    before = snapshot(api_server)
    _tls_refused(api_server, _write(tmp_path, "expired-alice", *expired), alices_job, "certificate expired")
    assert snapshot(api_server) == before
    # the same CA, in date: accepted (so the refusal above was the date)
    fresh = _issue(
        api_certs, "alice", not_before=NOW - dt.timedelta(hours=1), not_after=NOW + dt.timedelta(days=1)
    )
    s = api_server.client()
    s.cert = _write(tmp_path, "fresh-alice", *fresh)
    assert s.get(api_server.url + f"/sites/{SITE}/kavlan/whoami", timeout=30).json()["uid"] == "alice"


def test_user_certificate_acting_for_someone_else_403(
    api_server: ApiServer, alices_job: dict[str, Any]
) -> None:
    before = snapshot(api_server)
    # carol's certificate claiming to be alice, to move alice's nodes
    _assert_refused(
        attempts(api_server, api_server.client("carol", act_for="alice"), alices_job),
        403,
        "carol is not a trusted service",
    )
    # alice's password claiming to be root
    _assert_refused(
        attempts(
            api_server, api_server.client("alice", password="alice-password-1", act_for="root"), alices_job
        ),
        403,
        "only a trusted service",
    )
    assert snapshot(api_server) == before
    # naming oneself is harmless (python-grid5000 always sends the header with a certificate)
    me = api_server.client("alice", act_for="alice").get(
        api_server.url + f"/sites/{SITE}/kavlan/whoami", timeout=30
    )
    assert me.status_code == 200 and me.json()["uid"] == "alice" and me.json()["via"] is None


def test_a_trusted_service_acts_for_a_user_with_that_users_rights(
    api_server: ApiServer, alices_job: dict[str, Any]
) -> None:
    # for bob, alice's nodes are refused as they would be to bob himself
    before = snapshot(api_server)
    r = api_server.client("oar", act_for="bob").post(
        api_server.url + f"/sites/{SITE}/vlans/{alices_job['vlan']}/nodes",
        json=alices_job["nodes"],
        timeout=30,
    )
    assert r.status_code == 403 and PRIVILEGES in r.json()["message"] and "bob" in r.json()["message"]
    bad = api_server.client("oar", act_for="al ice")
    assert bad.get(api_server.url + f"/sites/{SITE}/kavlan/whoami", timeout=30).status_code == 403
    assert snapshot(api_server) == before
    # for alice, alice's nodes move
    oar = api_server.client("oar", act_for="alice")
    assert oar.get(api_server.url + f"/sites/{SITE}/kavlan/whoami", timeout=30).json() == {
        "uid": "alice",
        "admin": False,
        "via": "oar",
        "method": "service",
    }
    r = oar.post(
        api_server.url + f"/sites/{SITE}/vlans/{alices_job['vlan']}/nodes",
        json=alices_job["nodes"],
        timeout=30,
    )
    assert r.status_code == 200 and {v["status"] for v in r.json().values()} == {"success"}
    audit = [json.loads(x) for x in api_server.audit_log.read_text().splitlines()]
    last = next(a for a in reversed(audit) if a["what"] == "vlan.set")
    assert last["who"] == "alice" and last["via"] == "oar" and last["result"]["status"] == 200
    refused = [a for a in audit if a["what"] == "vlan.set" and a["who"] == "bob" and a["via"] == "oar"]
    assert refused and refused[0]["result"]["status"] == 403 and refused[0]["before"] == refused[0]["after"]
    access = [json.loads(x) for x in api_server.access_log.read_text().splitlines()]
    assert any(a.get("via") == "oar" and a["user"] == "alice" for a in access)
    assert any(a.get("status") == 401 and a.get("claimed") == "mallory" for a in access)


def _in_date(api_certs: Path, cn: str | None) -> tuple[bytes, bytes]:
    return _issue(api_certs, cn, not_before=NOW - dt.timedelta(hours=1), not_after=NOW + dt.timedelta(days=1))


def test_certificate_users_are_read_as_g5k_api_reads_them(
    api_server: ApiServer, api_certs: Path, tmp_path: Path
) -> None:
    """A CN in capitals is the same user (g5k-api compares lower case); a certificate without a user, or
    naming none (unknown, (unknown), anonymous), is the read-only anonymous."""

    def whoami(cert: tuple[str, str], act_for: str | None = None) -> requests.Response:
        s = api_server.client(act_for=act_for)
        s.cert = cert
        return s.get(api_server.url + f"/sites/{SITE}/kavlan/whoami", timeout=30)

    upper = _write(tmp_path, "upper-alice", *_in_date(api_certs, "Alice"))
    assert whoami(upper).json()["uid"] == "alice"
    assert whoami(upper, act_for="ALICE").json() == {
        "uid": "alice",
        "admin": False,
        "via": None,
        "method": "certificate",
    }
    for cn in (None, "unknown", "(unknown)", "anonymous"):
        cert = _write(tmp_path, f"nobody-{cn}", *_in_date(api_certs, cn))
        assert whoami(cert).json()["uid"] == "anonymous", cn
        s = api_server.client()
        s.cert = cert
        r = s.post(api_server.url + f"/sites/{SITE}/jobs", json={"resources": "nodes=1"}, timeout=30)
        assert r.status_code == 403 and "may only read" in r.json()["message"]
    nobody = _write(tmp_path, "nobody-acting", *_in_date(api_certs, None))
    assert whoami(nobody, act_for="alice").status_code == 403  # no user may act for anyone
    assert whoami(api_server.cert("alice"), act_for="unknown").json()["uid"] == "anonymous"


def test_a_trusted_service_acts_for_an_administrator_only_when_configured(
    api_server: ApiServer, api_certs: Path, tmp_path: Path
) -> None:
    r = api_server.client("oar", act_for="root").get(
        api_server.url + f"/sites/{SITE}/kavlan/whoami", timeout=30
    )
    assert r.status_code == 403 and "not for root, an administrator" in r.json()["message"]
    from api_fixture import start_server

    configured = start_server(tmp_path / "admins", api_certs, args=["--trusted-service-for-admins", "oar"])
    try:
        me = configured.client("oar", act_for="root").get(
            configured.url + f"/sites/{SITE}/kavlan/whoami", timeout=30
        )
        assert me.json() == {"uid": "root", "admin": True, "via": "oar", "method": "service"}
    finally:
        configured.stop()


@pytest.mark.parametrize("face", ["kavlan", "kavlan-oarstat"])
def test_the_faces_say_why_the_server_refused_a_certificate(
    api_server: ApiServer, api_certs: Path, tmp_path: Path, face: str
) -> None:
    import os
    import subprocess

    expired = _write(
        tmp_path,
        "expired",
        *_issue(
            api_certs, "alice", not_before=NOW - dt.timedelta(days=30), not_after=NOW - dt.timedelta(days=2)
        ),
    )
    rogue = _issue(
        tmp_path,
        "alice",
        not_before=NOW - dt.timedelta(hours=1),
        not_after=NOW + dt.timedelta(days=1),
        ca_key=ec.generate_private_key(ec.SECP256R1()),
        ca_name=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Rogue CA")]),
    )
    stranger = _write(tmp_path, "rogue", *rogue)
    early = _write(
        tmp_path,
        "early",
        *_issue(
            api_certs, "alice", not_before=NOW + dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=2)
        ),
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAVLAN_", "OAR_"))}
    env.update(KAVLAN_DATA_DIR=str(tmp_path / "data"), KAVLAN_CONFIG=str(tmp_path / "none.toml"))
    for cert, words in (
        (expired, "it expired on "),
        (early, "it is not valid before "),
        (stranger, "it is signed by CN=Rogue CA, which is not a CA the server trusts"),
    ):
        if face == "kavlan":
            args = [
                "kavlan",
                "--api",
                api_server.url,
                "-C",
                api_server.ca,
                "-c",
                cert[0],
                "-k",
                cert[1],
                "-V",
                "-j",
                "1",
            ]
            hint = "(-c/-k)"
        else:
            args = [face, "--api", api_server.url, "--ca-cert", api_server.ca, "--client-cert", cert[0]]
            args += ["--client-key", cert[1]]
            hint = "(--client-cert/--client-key)"
        proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1 and proc.stdout == "", proc
        (line,) = proc.stderr.splitlines()
        assert f"{face}: the KaVLAN API server {api_server.url} refused your certificate: {words}" in line, (
            line
        )
        assert line.endswith(hint), line
