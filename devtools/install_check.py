"""Install the integration as a user does, on one Home Assistant release.

``scripts/test install [VERSION ...]`` runs this once per release. The
virtual environment it gets holds only what a user's installation holds:
``homeassistant==VERSION``, the requirements of the manifests of the
integrations ours depends on (what Home Assistant installs when it sets them
up), and our own manifest's requirements; nothing from ``requirements/``.

Two runs of a real ``hass`` (``--skip-pip``, so nothing is installed behind
the check's back) on a fresh configuration, each against the P1 simulator:

1. before our manifest's requirements are installed: adding the meter must
   fail. This proves the check notices a package the manifest leaves out.
2. after they are installed: the config flow over REST adds the meter through
   the network bridge, and a sensor shows a value from the simulator.

Run with the development lane's Python (the driver, the simulator); the
release's own environment only runs ``hass``.

    python -m devtools.install_check --python PYTHON_OF_THE_RELEASE_VENV
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from pathlib import Path
import socket
import sys
import tempfile
import time
from typing import Any

from . import bootstrap
from .develop import HOST, Processes, StackError, link_integration, wait_for
from .hass import HassClient, HassError

START_TIMEOUT = 180.0
VALUE_TIMEOUT = 60.0
POWER = "sensor.electricity_meter_power_import"
CONFIGURATION = """\
# A user's minimal configuration: the HTTP API and the config flows.
http:
  server_host: {host}
  server_port: {port}
config:
logger:
  default: warning
"""


def free_port() -> int:
    """Return a loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def log(message: str) -> None:
    """Print one line of progress."""
    print(f"install-check: {message}", flush=True)


async def add_meter(client: HassClient, p1_port: int) -> dict[str, Any]:
    """Add the meter behind the simulated bridge through the config flow."""
    stack = bootstrap.Stack(HOST, p1_port, "", "")
    replies = bootstrap.answers(stack)
    replies["remote_offer"] = lambda _: {"next_step_id": "finish"}
    return await bootstrap.run_flow(client, replies)


async def sensor_value(client: HassClient, entity_id: str) -> str | None:
    """Return an entity's state when it is a value, else None."""
    try:
        state = await client.get(f"/api/states/{entity_id}")
    except HassError as err:
        if err.status == bootstrap.HTTP_NOT_FOUND:
            return None
        raise
    value = str(state.get("state"))
    return None if value in ("unknown", "unavailable") else value


async def one_run(python: str, *, expect_meter: bool) -> str:
    """Start the simulator and a fresh ``hass``; add the meter; check it.

    Returns what was seen, for the log; raises StackError when the outcome is
    not the expected one.
    """
    processes = Processes()
    with tempfile.TemporaryDirectory(prefix="slimme-install-") as folder:
        config = Path(folder)
        port, p1_port = free_port(), free_port()
        (config / "configuration.yaml").write_text(
            CONFIGURATION.format(host=HOST, port=port)
        )
        link_integration(config)
        try:
            await processes.start(
                "P1 simulator",
                [sys.executable, "-m", "simulators.p1", "--tcp", f"{HOST}:{p1_port}"],
            )
            await processes.start(
                "hass",
                [python, "-m", "homeassistant", "-c", str(config), "--skip-pip"],
                cwd=config,
                output=config / "hass.out",
            )
            async with HassClient(f"http://{HOST}:{port}") as client:
                await wait_for("hass", client.available, processes, START_TIMEOUT)
                client.token = await bootstrap.onboard(client)
                await bootstrap.wait_until_running(client, START_TIMEOUT)
                return await _check(client, p1_port, processes, expect_meter)
        except (StackError, HassError):
            log_tail(config)
            raise
        finally:
            await processes.stop_all()


async def _check(
    client: HassClient, p1_port: int, processes: Processes, expect_meter: bool
) -> str:
    try:
        entry = await add_meter(client, p1_port)
    except HassError as err:
        if expect_meter:
            raise
        return f"adding the meter failed as it must: {err}"
    if not expect_meter:
        msg = f"the meter was added without its requirements: {entry}"
        raise StackError(msg)

    async def has_value() -> bool:
        return await sensor_value(client, POWER) is not None

    await wait_for(POWER, has_value, processes, VALUE_TIMEOUT)
    return f"{entry['title']}: {POWER} = {await sensor_value(client, POWER)} kW"


def log_tail(config: Path, lines: int = 30) -> None:
    """Print the end of Home Assistant's log, to see why."""
    for name in ("home-assistant.log", "hass.out"):
        path = config / name
        if path.exists():
            print(f"--- {name} (last {lines} lines)")
            print("\n".join(path.read_text(errors="replace").splitlines()[-lines:]))


def main(argv: Sequence[str] | None = None) -> int:
    """Run one of the two runs (``--without-requirements``: the first)."""
    parser = argparse.ArgumentParser(prog="python -m devtools.install_check")
    parser.add_argument("--python", required=True, help="the release venv's python")
    parser.add_argument(
        "--without-requirements",
        action="store_true",
        help="our manifest's requirements are not installed: expect a failure",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        seen = asyncio.run(
            one_run(args.python, expect_meter=not args.without_requirements)
        )
    except (StackError, HassError, OSError) as err:
        log(f"FAILED: {err}")
        return 1
    log(f"{seen} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
