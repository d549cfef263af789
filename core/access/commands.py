"""A site's own command (a console or power command, a deployment tool), run bounded in time and told back as ""
when it succeeded or as the sentence of why not, its last words included."""

from __future__ import annotations

import asyncio

TAIL = 200
"""How much of a failed command's output the sentence keeps (its end: where the reason is)."""


async def run_bounded(argv: list[str], timeout: float) -> str:
    """Run ``argv`` with no input, at most ``timeout`` seconds: "" when it exited 0, else why not."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except OSError as exc:
        return f"cannot run {argv[0]}: {exc.strerror}"
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return f"{argv[0]} did not finish within {timeout:.0f} s"
    if proc.returncode:
        tail = out.decode(errors="replace").strip()[-TAIL:]
        return f"{argv[0]} exited with status {proc.returncode}" + (f": {tail}" if tail else "")
    return ""
