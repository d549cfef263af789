"""kavlan-api in this process: the real application behind the real connection guard (``app.listening``), on
127.0.0.1 over plain HTTP with HTTP Basic, its event loop in a thread of its own. A test sends any bytes with a
blocking client (http.client, a raw socket) and can look into the server's loop: how long one request held it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import http.client
import json
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kavlan_core import config
from kavlan_core.api.auth import set_password
from kavlan_core.api.server.app import init_app, listening
from kavlan_core.api.server.limits import Limits
from kavlan_core.api.server.options import Options
from kavlan_core.service import KavlanService

PASSWORDS = {"root": "root-password-5", "alice": "alice-password-6", "bob": "bob-password-7"}
SECRET = "S3cr3t-community-in-process-91d0"


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class InProcess:
    """One server: its URL, its files, its service, its loop (in ``thread``)."""

    url: str
    loop: asyncio.AbstractEventLoop
    service: KavlanService
    access_log: Path
    audit_log: Path
    thread: threading.Thread
    stopped: Future[None]
    _stop: asyncio.Event | None = None
    lag: list[float] = field(default_factory=list)
    """The event loop's longest stall since ``watch`` started: wall and processor seconds."""

    @property
    def port(self) -> int:
        return int(urlsplit(self.url).port or 0)

    def call(self, coro: Any, timeout: float = 60) -> Any:
        """Run ``coro`` in the server's loop, from the test's thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        user: str | None = "root",
        headers: Mapping[str, str] | None = None,
        timeout: float = 30,
    ) -> Reply:
        """One request on a connection of its own: the path is sent as it is (already encoded)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            sent = dict(headers or {})
            if user is not None:
                token = base64.b64encode(f"{user}:{PASSWORDS[user]}".encode()).decode()
                sent.setdefault("Authorization", f"Basic {token}")
            conn.request(method, path, body=body, headers=sent)
            resp = conn.getresponse()
            headers = {k.lower(): v for k, v in resp.getheaders()}
            # an event stream does not end: its first line is its answer
            streams = headers.get("content-type", "").startswith("application/x-ndjson")
            return Reply(resp.status, headers, resp.readline() if streams else resp.read())
        finally:
            conn.close()

    def post_json(self, path: str, value: Any, **kw: Any) -> Reply:
        headers = {"Content-Type": "application/json"}
        return self.request("POST", path, json.dumps(value).encode(), headers=headers, **kw)

    @contextlib.contextmanager
    def watch(self, tick: float = 0.001) -> Iterator[list[float]]:
        """The server loop's longest stall while the block runs, measured inside it: ``[wall, cpu]`` seconds.
        ``cpu`` is the loop thread's own processor time between two ticks (what requests cost it), which a
        busy machine descheduling the process does not inflate; ``wall`` is what a client would wait."""
        self.lag[:] = [0.0, 0.0]
        done = threading.Event()

        started = threading.Event()

        async def ticker() -> None:
            wall, cpu = time.perf_counter(), time.thread_time()
            started.set()
            while not done.is_set():
                await asyncio.sleep(tick)
                now_wall, now_cpu = time.perf_counter(), time.thread_time()
                self.lag[0] = max(self.lag[0], now_wall - wall - tick)
                self.lag[1] = max(self.lag[1], now_cpu - cpu)
                wall, cpu = now_wall, now_cpu

        # this process also holds pytest's and hypothesis' objects: a full collection of them (100 ms) is no
        # request's work, and a real server has no such heap; they are frozen out of the collector meanwhile
        gc.collect()
        gc.freeze()
        task = asyncio.run_coroutine_threadsafe(ticker(), self.loop)
        started.wait(10)
        try:
            yield self.lag
        finally:
            done.set()
            task.result(10)
            gc.unfreeze()

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self.stopped.result(30)
        self.thread.join(30)


def settings_for(tmp: Path, inventory: Path, **overrides: Any) -> config.Settings:
    credentials = tmp / "credentials.toml"
    credentials.write_text(f'[demo-switches]\nversion = "2c"\ncommunity = "{SECRET}"\n')
    credentials.chmod(0o600)  # a credentials file others may read is refused
    env = {"KAVLAN_CONFIG": str(tmp / "no-config.toml"), "KAVLAN_ADMINS": "root"}
    values = {
        "user": "kavlan-api",
        "inventory": str(inventory),
        "data_dir": str(tmp / "data"),
        "credentials": str(credentials),
        "retry_backoff": 0.01,
        **overrides,
    }
    return config.load(env=env, **values)


def users_file(path: Path) -> Path:
    if not path.exists():
        for user, password in PASSWORDS.items():
            set_password(path, user, password)
    return path


def start(tmp: Path, settings: config.Settings, *, limits: Limits | None = None, **options: Any) -> InProcess:
    """The server, listening: returns once it answers."""
    tmp.mkdir(parents=True, exist_ok=True)
    access, audit = tmp / "access.log", tmp / "audit.log"
    opts = Options(
        host="127.0.0.1",
        port=0,
        users_file=str(users_file(tmp / "users")),
        insecure_http=True,
        access_log=str(access),
        audit_log=str(audit),
        limits=limits or Limits(),
        **options,
    )
    loop = asyncio.new_event_loop()
    ready: Future[tuple[str, KavlanService, asyncio.Event]] = Future()
    stopped: Future[None] = Future()

    async def main() -> None:
        service = KavlanService(settings)
        stop = asyncio.Event()
        async with listening(init_app(service, opts), opts) as url:
            ready.set_result((url, service, stop))
            await stop.wait()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(main())
            stopped.set_result(None)
        except BaseException as exc:  # the test sees it from ready or stopped
            if not ready.done():
                ready.set_exception(exc)
            stopped.set_exception(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="kavlan-api-in-process", daemon=True)
    thread.start()
    url, service, stop = ready.result(60)
    return InProcess(url, loop, service, access, audit, thread, stopped, stop)
