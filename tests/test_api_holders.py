"""Who holds which VLAN, and who may use one: computed by the service (the API's ``/vlans/users`` resources
answer with it), from the running jobs, for a site's own VLANs and the global ones."""

from __future__ import annotations

from typing import Any

from conftest import run
from kavlan_core.model import DEFAULT


def test_holders_per_user_per_vlan_and_rights(make_service: Any) -> None:
    svc = make_service()

    async def go() -> None:
        routed = await svc.submit("{\"type='kavlan'\"}/vlan=1", user="alice")
        local = await svc.submit("{\"type='kavlan-local'\"}/vlan=1", user="bob")
        glob = await svc.submit("{\"type='kavlan-global'\"}/vlan=1", user="carol", site="lille")
        lille = await svc.submit("{\"type='kavlan'\"}/vlan=1", user="dave", site="lille")
        r, lo, g, li = (j.vlans[0].vlan for j in (routed, local, glob, lille))
        # sophia sees its own VLANs and the global ones (lille's global VLAN too), not lille's routed one
        assert await svc.holders("sophia") == {"alice": [r], "bob": [lo], "carol": [g]}
        assert await svc.holders("lille") == {"carol": [g], "dave": [li]}
        assert await svc.holders("sophia", user="alice") == {"alice": [r]}
        assert await svc.holders("sophia", user="nobody") == {}
        assert await svc.vlan_holders(r, "sophia") == ["alice"]
        assert await svc.vlan_holders(g, "sophia") == ["carol"]  # a global VLAN is its owner site's
        assert await svc.vlan_holders(r, "lille") == (["dave"] if li == r else [])
        assert await svc.vlan_holders(DEFAULT, "sophia") == []
        assert await svc.may_use_vlan("alice", r, "sophia")
        assert not await svc.may_use_vlan("bob", r, "sophia")
        assert await svc.may_use_vlan("root", r, "sophia")  # an administrator
        assert await svc.may_use_vlan("bob", DEFAULT, "sophia")
        assert await svc.may_use_vlan("carol", g, "sophia") and await svc.may_use_vlan("carol", g, "lille")
        await svc.delete_job(routed.id, user="alice")
        assert "alice" not in await svc.holders("sophia")
        assert not await svc.may_use_vlan("alice", r, "sophia")

    run(go())
