"""A UDP proxy on loopback that delays every datagram: it stands in for the network and a switch's CPU."""

from __future__ import annotations

import asyncio
import contextlib


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, proxy: DelayProxy, client: tuple[str, int]) -> None:
        self.proxy = proxy
        self.client = client
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(self.proxy.half, self.proxy.reply, data, self.client)


class DelayProxy(asyncio.DatagramProtocol):
    """Listen on 127.0.0.1:port, forward to target after rtt/2, answer back after rtt/2 (one upstream socket per client)."""

    def __init__(self, target: tuple[str, int], rtt_ms: float) -> None:
        self.target = target
        self.half = rtt_ms / 2000.0
        self.transport: asyncio.DatagramTransport | None = None
        self._upstreams: dict[tuple[str, int], asyncio.DatagramTransport] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        asyncio.get_running_loop().call_later(
            self.half, lambda: asyncio.ensure_future(self._forward(data, addr))
        )

    async def _forward(self, data: bytes, client: tuple[str, int]) -> None:
        up = self._upstreams.get(client)
        if up is None:
            loop = asyncio.get_running_loop()
            up, _ = await loop.create_datagram_endpoint(
                lambda: _Upstream(self, client), remote_addr=self.target
            )
            self._upstreams[client] = up
        up.sendto(data)

    def reply(self, data: bytes, client: tuple[str, int]) -> None:
        if self.transport is not None:
            self.transport.sendto(data, client)

    def close(self) -> None:
        for up in self._upstreams.values():
            up.close()
        if self.transport is not None:
            self.transport.close()


async def start_proxy(target: tuple[str, int], rtt_ms: float) -> tuple[DelayProxy, int]:
    """Start a proxy on a free loopback port; returns it and its port. Close it with proxy.close()."""
    assert target[0].startswith("127."), "the delay proxy only forwards to loopback"
    loop = asyncio.get_running_loop()
    transport, proxy = await loop.create_datagram_endpoint(
        lambda: DelayProxy(target, rtt_ms), local_addr=("127.0.0.1", 0)
    )
    return proxy, transport.get_extra_info("sockname")[1]


def _serve(targets: list[int], rtt_ms: float, conn: object) -> None:
    """In a process of its own: the proxies must not share the GIL with the code being measured."""

    async def main() -> None:
        ports = []
        for port in targets:
            _proxy, listen = await start_proxy(("127.0.0.1", port), rtt_ms)
            ports.append(listen)
        conn.send(ports)  # type: ignore[attr-defined]
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # type: ignore[attr-defined]  # until told to stop

    asyncio.run(main())


class ProxyProcess:
    """Delay proxies for several loopback UDP ports, served by a child process; stop() ends it."""

    def __init__(self, targets: list[int], rtt_ms: float) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(targets, rtt_ms, child), daemon=True)
        self._process.start()
        if not self._conn.poll(30):
            self.stop()
            raise RuntimeError("the delay proxies did not start")
        self.ports: list[int] = self._conn.recv()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send("stop")
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
