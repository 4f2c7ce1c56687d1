"""A network's public site at its own host name, through the real nginx gateway (issue 11, item 3).

The gateway is rendered with YUI_GATEWAY_NETWORK_HOSTS mapping two host names to two networks: each host
serves its network's public site, any other host the default network's, /n/<slug>/ works on every host, and a
client's own X-Yui-Network never chooses a network (the gateway replaces it, or drops it on an unmapped host).
The nginx image's hook writes the same map lines as render.py.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import pytest
from identity.models import Facility, Network

from deploy.gateway.render import GatewayConfigError, network_hosts
from tests.support.gateway import Gateway, nginx_in_front
from tests.support.stack import Stack

ENVSH = Path(__file__).resolve().parents[2] / "deploy" / "gateway" / "14-yui-gateway-defaults.envsh"
HTML = {"Accept": "text/html"}


@dataclass
class Mapped:
    gateway: Gateway
    north: str
    south: str

    def facility(self, tenant: str) -> str:
        return f"{tenant}-診療所"


@pytest.fixture(scope="module")
async def mapped(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Mapped]:
    north, south = f"gwn-{uuid4().hex[:8]}", f"gws-{uuid4().hex[:8]}"
    async with stack["identity"].sessionmaker() as session, session.begin():
        for tenant in (north, south):
            session.add(Network(slug=tenant, name=f"{tenant} ネット"))
            await session.flush()
            session.add(Facility(id=uuid4(), tenant=tenant, name=f"{tenant}-診療所", kind="clinic"))
    env = {"YUI_GATEWAY_NETWORK_HOSTS": f"north.yui.test={north},South.Yui.Test={south}"}
    async with nginx_in_front(stack, tmp_path_factory.mktemp("network-hosts"), env) as gateway:
        yield Mapped(gateway, north, south)


class TestHostNames:
    async def test_ten2_each_host_serves_its_networks_public_site(self, mapped: Mapped) -> None:
        async with mapped.gateway.client() as client:
            for host, own, other in (
                ("north.yui.test", mapped.north, mapped.south),
                ("south.yui.test", mapped.south, mapped.north),
            ):
                page = await client.get("/directory", headers={**HTML, "Host": host})
                assert page.status_code == 200, page.text[:500]
                assert mapped.facility(own) in page.text and mapped.facility(other) not in page.text

    async def test_ten2_an_unmapped_host_serves_the_default_network(self, mapped: Mapped) -> None:
        async with mapped.gateway.client() as client:
            page = await client.get("/directory", headers=HTML)
            assert mapped.facility(mapped.north) not in page.text
            assert mapped.facility(mapped.south) not in page.text

    async def test_ten2_a_clients_own_network_header_never_passes(self, mapped: Mapped) -> None:
        async with mapped.gateway.client() as client:
            unmapped = await client.get("/directory", headers={**HTML, "X-Yui-Network": mapped.north})
            assert mapped.facility(mapped.north) not in unmapped.text
            replaced = await client.get(
                "/directory", headers={**HTML, "Host": "north.yui.test", "X-Yui-Network": mapped.south}
            )
            assert mapped.facility(mapped.north) in replaced.text
            assert mapped.facility(mapped.south) not in replaced.text

    async def test_ten2_the_prefixed_site_works_through_the_gateway(self, mapped: Mapped) -> None:
        async with mapped.gateway.client() as client:
            page = await client.get(f"/n/{mapped.south}/directory", headers=HTML)
            assert page.status_code == 200
            assert mapped.facility(mapped.south) in page.text
            assert mapped.facility(mapped.north) not in page.text
            unknown = await client.get("/n/no-such-network/directory", headers=HTML)
            assert unknown.status_code == 404


class TestHostMapSetting:
    def test_ten2_the_setting_becomes_map_lines(self) -> None:
        assert network_hosts("Kita.Example.jp=kita, minami.example.jp=minami-2,") == (
            "kita.example.jp kita;\nminami.example.jp minami-2;\n"
        )
        assert network_hosts("") == ""
        for bad in ("kita.example.jp", "kita example=kita", "kita.example.jp=Kita", "x=a;b", "=kita"):
            with pytest.raises(GatewayConfigError):
                network_hosts(bad)

    def test_ten2_the_nginx_image_hook_writes_the_same_lines(self, tmp_path: Path) -> None:
        setting = "Kita.Example.jp=kita,minami.example.jp=minami-2"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "YUI_GATEWAY_INCLUDE_DIR": str(tmp_path),
            "YUI_GATEWAY_NETWORK_HOSTS": setting,
        }
        subprocess.run(["/bin/sh", "-c", f'set -eu; . "{ENVSH}" >/dev/null'], env=env, check=True)
        assert (tmp_path / "network-hosts" / "hosts.conf").read_text() == network_hosts(setting)
        refused = subprocess.run(
            ["/bin/sh", "-c", f'set -eu; . "{ENVSH}" >/dev/null'],
            env={**env, "YUI_GATEWAY_NETWORK_HOSTS": "kita.example.jp"},
            capture_output=True,
            check=False,
        )
        assert refused.returncode != 0
