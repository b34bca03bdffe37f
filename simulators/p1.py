"""P1 stream simulators (TCP and pty) and their command line.

Run a simulated meter until Ctrl-C::

    python -m simulators.p1 --profile nl_dsmr5_gas --tcp 127.0.0.1:2000
    python -m simulators.p1 --profile nl_dsmr4 --pty
    python -m simulators.p1 --profile lu_encrypted --tcp 127.0.0.1:2001 --key KEY

Options: ``--interval`` seconds between telegrams (default: the profile's),
``--seed`` for another household, ``--speed`` to let simulated time run faster
than real time, ``--key`` / ``--auth-key`` (32 hex digits each) for the
encrypted profile.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import sys

from .cli import run, until_stopped
from .profiles import PROFILES, get_profile
from .serial_pty import P1PtySimulator
from .source import Clock, ScaledClock, TelegramSource, wall_clock
from .tcp import P1TcpServer
from .transmitter import TelegramFault, Transmitter

__all__ = ["P1PtySimulator", "P1TcpServer", "TelegramFault", "Transmitter", "main"]


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        msg = f"expected HOST:PORT, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return host, int(port)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.p1", description="Simulated P1 smart meter."
    )
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="nl_dsmr5_gas",
        help="meter profile",
    )
    parser.add_argument(
        "--tcp", type=_host_port, metavar="HOST:PORT", help="serve telegrams over TCP"
    )
    parser.add_argument(
        "--pty", action="store_true", help="write telegrams to a pseudo-terminal"
    )
    parser.add_argument(
        "--interval",
        type=float,
        help="seconds between telegrams (default: the profile's)",
    )
    parser.add_argument("--seed", type=int, default=0, help="household seed")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second"
    )
    parser.add_argument(
        "--key", help="encryption key, 32 hex digits (encrypted profiles)"
    )
    parser.add_argument(
        "--auth-key", help="authentication key, 32 hex digits (encrypted profiles)"
    )
    return parser


async def _serve(args: argparse.Namespace) -> None:
    profile = get_profile(args.profile)
    clock: Clock = (
        wall_clock if args.speed == 1.0 else ScaledClock(wall_clock(), args.speed)
    )
    meter = profile.create_meter(seed=args.seed, start=clock())

    def source() -> TelegramSource:
        return TelegramSource(
            profile,
            meter,
            clock=clock,
            encryption_key=args.key,
            authentication_key=args.auth_key,
        )

    transmitters: list[Transmitter] = []
    endpoint = (
        args.tcp
        if args.tcp is not None
        else (None if args.pty else ("127.0.0.1", 2000))
    )
    if endpoint is not None:
        server = P1TcpServer(
            source(), host=endpoint[0], port=endpoint[1], interval=args.interval
        )
        await server.start()
        transmitters.append(server)
        print(
            f"{profile.name}: serving on tcp://{server.host}:{server.port}", flush=True
        )
    if args.pty:
        pty_sim = P1PtySimulator(source(), interval=args.interval)
        await pty_sim.start()
        transmitters.append(pty_sim)
        print(
            f"{profile.name}: pty at {pty_sim.path} (device {pty_sim.device})",
            flush=True,
        )
    settings = profile.serial
    print(
        f"{profile.description}; every {transmitters[0].interval:g} s; "
        f"serial {settings.baudrate} "
        f"{settings.bytesize}{settings.parity}{settings.stopbits}; "
        f"meter {meter.equipment_id}. Ctrl-C stops.",
        flush=True,
    )
    try:
        await until_stopped()
    finally:
        for transmitter in transmitters:
            await transmitter.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator until interrupted (SIGINT or SIGTERM)."""
    return run(_parser(), _serve, argv)


if __name__ == "__main__":
    sys.exit(main())
