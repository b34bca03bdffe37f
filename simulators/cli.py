"""What the simulators' command lines share: serve until stopped.

`python -m simulators.p1`, `simulators.p4` and `simulators.stack` each start
their servers, print where they listen, wait for Ctrl-C (SIGINT) or SIGTERM
and stop their servers cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine, Sequence
import contextlib
import signal
from typing import Any


async def until_stopped() -> None:
    """Return when the process gets SIGINT or SIGTERM."""
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()


def run(
    parser: argparse.ArgumentParser,
    serve: Callable[[argparse.Namespace], Coroutine[Any, Any, None]],
    argv: Sequence[str] | None = None,
) -> int:
    """Parse the command line and serve until stopped."""
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))
    return 0
