"""``scripts/develop``: a simulated smart meter in a real Home Assistant.

Starts the simulator stack (:mod:`simulators.stack`) and ``hass`` on a
configuration directory, sets up a fresh instance over its APIs
(:mod:`devtools.bootstrap`), prints a ``READY`` line and runs until Ctrl-C or
SIGTERM, which stop both process groups. ``switch`` flips a simulator switch
of the running stack; ``sync`` asks the integration to fetch the remote
history now.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
import contextlib
import ctypes
import json
import os
from pathlib import Path
import re
import signal
import socket
import sys
import time
from typing import Any
import urllib.request

from simulators.profiles import get_profile
from simulators.stack import (
    DEFAULT_API_KEY,
    DEFAULT_CONTROL_PORT,
    DEFAULT_DAYS,
    DEFAULT_P1_KEY,
    DEFAULT_P1_PORT,
    DEFAULT_P4_PORT,
    P1_PROFILES,
    SWITCHES,
)

from . import bootstrap
from .bootstrap import PASSWORD, PRICE_DOMAIN, TOKEN_FILE, USER, Stack, log
from .hass import HassClient, HassError

PROVIDERS = ("nl_p4", "nl_meterbeheer", "lu_leneda")
"""The consent services ``--provider`` can simulate and link."""

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
DEFAULT_PORT = 8123
DEFAULT_CONFIG = ROOT / "config"
CONFIGURATION = "configuration.yaml"
HASS_OUTPUT = "hass.out"
HASS = "Home Assistant"
RESTART_EXIT_CODE = 100
"""Home Assistant's exit code when a restart is asked for."""
START_TIMEOUT = 300.0
STACK_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0
SYNC_SETTLE_SECONDS = 5.0
PR_SET_PDEATHSIG = 1

CONFIGURATION_TEMPLATE = """\
# Home Assistant configuration of the development stack (scripts/develop).
# default_config: is left out on purpose: some of its parts need hardware,
# binaries or the internet. These are what the device page, the Energy
# dashboard and the repairs need.
frontend:
config:
http:
  server_host: {host}
  server_port: {port}
recorder:
history:
logbook:
energy:
repairs:
search:
system_health:
logger:
  default: warning
  logs:
    custom_components.slimme_meter: info
"""


class StackError(Exception):
    """The stack could not start or stopped by itself."""


def _resolve(path: str) -> Path:
    return Path(path).resolve()


def render_configuration(port: int) -> str:
    """Return the configuration.yaml of a development instance on ``port``."""
    return CONFIGURATION_TEMPLATE.format(host=HOST, port=port)


def configured_port(config: Path) -> int | None:
    """Return the HTTP port in ``<config>/configuration.yaml``, if set there."""
    path = config / CONFIGURATION
    if not path.exists():
        return None
    match = re.search(r"^\s*server_port:\s*(\d+)\s*$", path.read_text(), re.M)
    return int(match.group(1)) if match else None


def prepare_config(config: Path, port: int | None) -> int:
    """Create the configuration directory if needed; return the HTTP port.

    An existing configuration.yaml is never rewritten: its port is used, and a
    different ``port`` asked for is an error.
    """
    config.mkdir(parents=True, exist_ok=True)
    path = config / CONFIGURATION
    existing = configured_port(config)
    if path.exists():
        if port is not None and existing is not None and existing != port:
            msg = (
                f"{path} serves port {existing}, not {port}: leave out --port "
                "or use another --config"
            )
            raise StackError(msg)
        port = existing or port or DEFAULT_PORT
    else:
        port = port or DEFAULT_PORT
        path.write_text(render_configuration(port))
        log(f"wrote {path}")
    link_integration(config)
    # The simulated dynamic price (devtools/simulated_prices), beside it.
    _link(config / "custom_components" / PRICE_DOMAIN, ROOT / "devtools" / PRICE_DOMAIN)
    return port


def link_integration(config: Path) -> None:
    """Make the integration a custom component of ``config``."""
    folder = config / "custom_components"
    folder.mkdir(exist_ok=True)
    _link(folder / "slimme_meter", ROOT / "custom_components" / "slimme_meter")


def _link(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` (a symbolic link), unless it does already."""
    if link.is_symlink() and link.resolve() == target:
        return
    if link.is_symlink():
        link.unlink()
    elif link.exists():
        msg = f"{link} exists and is not a link to {target}"
        raise StackError(msg)
    link.symlink_to(target, target_is_directory=True)


def check_ports(ports: dict[str, int]) -> None:
    """Fail early, with a clear message, when a port is taken."""
    for name, port in ports.items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((HOST, port))
            except OSError:
                msg = (
                    f"port {port} ({name}) is in use: is another scripts/develop "
                    f"running? Pick other ports with --port, --p1, --p4, --control"
                )
                raise StackError(msg) from None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Let the child end when this process dies without cleaning up (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Processes:
    """The child processes, each the leader of its own process group."""

    def __init__(self) -> None:
        """Start with none."""
        self.children: dict[str, asyncio.subprocess.Process] = {}
        self._commands: dict[str, tuple[list[str], Path, Path | None]] = {}

    async def start(
        self,
        name: str,
        args: Sequence[str],
        *,
        cwd: Path = ROOT,
        output: Path | None = None,
    ) -> asyncio.subprocess.Process:
        """Start ``args`` in ``cwd``, in a new session (its own process group).

        Its output goes to ``output`` (appended), else to this terminal.
        ``python -m`` puts ``cwd`` first on the module path; PYTHONPATH is not
        passed on, so Home Assistant finds the integration only through the
        configuration's custom_components folder.
        """
        self._commands[name] = (list(args), cwd, output)
        env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        with contextlib.ExitStack() as stack:
            sink = stack.enter_context(output.open("ab")) if output else None
            process = await asyncio.create_subprocess_exec(
                *args,
                cwd=cwd,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=sink,
                stderr=asyncio.subprocess.STDOUT if sink is not None else None,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self.children[name] = process
        return process

    async def restart(self, name: str) -> None:
        """Start ``name`` again, the way it was started."""
        await self._stop(name, self.children[name])
        args, cwd, output = self._commands[name]
        await self.start(name, args, cwd=cwd, output=output)

    def check(self) -> None:
        """Raise StackError if a child has exited."""
        for name, process in self.children.items():
            if process.returncode is not None:
                msg = f"{name} exited with code {process.returncode}"
                raise StackError(msg)

    async def wait_any(self) -> str:
        """Wait until a child exits; return its name."""
        waits = {
            asyncio.ensure_future(process.wait()): name
            for name, process in self.children.items()
        }
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return waits[done.pop()]

    async def stop_all(self) -> None:
        """Stop the children, newest first: SIGTERM, then SIGKILL to the group."""
        for name, process in reversed(list(self.children.items())):
            await self._stop(name, process)
        self.children.clear()

    @staticmethod
    async def _stop(name: str, process: asyncio.subprocess.Process) -> None:
        if process.returncode is None:
            log(f"stopping {name}")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(STOP_TIMEOUT):
                    await process.wait()
            except TimeoutError:
                log(f"{name} did not stop in {STOP_TIMEOUT:.0f} s: killing it")
        # Whatever is left of the group (children of the child) goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


async def wait_for(what: str, probe: Any, processes: Processes, timeout: float) -> None:
    """Poll ``probe()`` until it returns true; fail if a child exits first."""
    deadline = time.monotonic() + timeout
    while not await probe():
        processes.check()
        if time.monotonic() > deadline:
            msg = f"{what} did not come up in {timeout:.0f} s"
            raise StackError(msg)
        await asyncio.sleep(0.5)


def _control_state(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://{HOST}:{port}/sim", timeout=5) as answer:
        return dict(json.load(answer))


async def _stack_ready(port: int) -> bool:
    try:
        await asyncio.to_thread(_control_state, port)
    except OSError:
        return False
    return True


async def settle(client: HassClient, processes: Processes) -> None:
    """After each start of Home Assistant: wait until it runs, keep it so."""
    await wait_for("Home Assistant", client.available, processes, START_TIMEOUT)
    await bootstrap.wait_until_running(client, START_TIMEOUT)
    async with client.websocket() as ws:
        for done in await bootstrap.settle_http(ws):
            log(done)


async def bring_up(
    args: argparse.Namespace, processes: Processes
) -> tuple[str, HassClient]:
    """Start everything and set up Home Assistant.

    Returns the READY line and a (closed) client with the token.
    """
    started = time.monotonic()
    config = await asyncio.to_thread(_resolve, args.config)
    port = await asyncio.to_thread(prepare_config, config, args.port)
    check_ports(
        {"Home Assistant": port, "P1": args.p1, "P4": args.p4, "control": args.control}
    )
    python = sys.executable
    await processes.start("simulators", [python, *stack_arguments(args)])
    await wait_for(
        "the simulators", lambda: _stack_ready(args.control), processes, STACK_TIMEOUT
    )
    await processes.start(
        HASS,
        [python, "-m", "homeassistant", "-c", str(config), "--skip-pip"],
        cwd=config,
        output=config / HASS_OUTPUT,
    )
    log(f"Home Assistant starting (log: {config / 'home-assistant.log'})")
    base = f"http://{HOST}:{port}"
    async with HassClient(base) as client:
        await wait_for("Home Assistant", client.available, processes, START_TIMEOUT)
        log(f"Home Assistant is up after {time.monotonic() - started:.1f} s")
        fresh = await bootstrap.ensure_token(client, config)
        await settle(client, processes)
        stack = linked_stack(args)
        new_prices = await bootstrap.find_entry(client, PRICE_DOMAIN) is None
        if new_prices:
            # Its history covers the imported one, and is in the recorder
            # before the meter's costs are computed with it.
            days = args.days + 1
            await bootstrap.add_price_sensor(client, days)
            async with client.websocket() as ws:
                hours = await bootstrap.wait_for_price_history(ws, days)
            log(f"added the simulated dynamic price ({hours} hours of history)")
        entry = await bootstrap.find_entry(client)
        created = entry is None
        if entry is None:
            entry = await bootstrap.create_entry(client, stack)
            log(f"added {entry.get('title')!r}")
        if created or new_prices:
            await bootstrap.set_prices(client, entry["entry_id"])
            log(
                "energy prices set (import at the simulated dynamic price, a "
                "low/normal pair for export, gas, a daily charge)"
            )
        async with client.websocket() as ws:
            if not await bootstrap.energy_configured(ws):
                log("waiting for the imported history (statistics)")
                found = await bootstrap.wait_for_statistics(ws)
                await bootstrap.configure_energy(ws, found)
                log(f"Energy dashboard: {', '.join(sorted(found.values()))}")
        if removed := await bootstrap.remove_onboarding_extras(client):
            log(f"removed what the onboarding added: {', '.join(sorted(removed))}")
    kind = "fresh" if fresh else "existing"
    log(f"ready after {time.monotonic() - started:.1f} s ({kind} configuration)")
    line = f"READY {base} user={USER} password={PASSWORD} token={config / TOKEN_FILE}"
    return line, HassClient(base, client.token)


def p1_key(provider: str) -> str | None:
    """Return the P1 decryption key of ``provider``'s meter (None: not encrypted).

    A Leneda household has a Luxembourg Smarty, which encrypts its telegrams.
    """
    return DEFAULT_P1_KEY if get_profile(P1_PROFILES[provider]).encrypted else None


def stack_arguments(args: argparse.Namespace) -> list[str]:
    """Return the arguments of ``python`` that run the simulator stack."""
    key = p1_key(args.provider)
    return [
        "-m",
        "simulators.stack",
        "--host",
        HOST,
        "--p1",
        str(args.p1),
        "--p4",
        str(args.p4),
        "--control",
        str(args.control),
        "--days",
        str(args.days),
        "--key",
        DEFAULT_API_KEY,
        "--provider",
        args.provider,
        *(["--p1-key", key] if key else []),
    ]


def linked_stack(args: argparse.Namespace) -> Stack:
    """Return where the simulators listen, with what the config flow enters."""
    return Stack(
        HOST,
        args.p1,
        f"http://{HOST}:{args.p4}",
        DEFAULT_API_KEY,
        args.provider,
        p1_key=p1_key(args.provider),
    )


async def develop(args: argparse.Namespace) -> int:
    """Run the stack until SIGINT or SIGTERM; return the exit code."""
    processes = Processes()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)

    async def run() -> int:
        line, client = await bring_up(args, processes)
        print(line, flush=True)
        log(
            "Ctrl-C stops; flip simulator switches with "
            "'scripts/develop switch NAME' (see --help)"
        )
        while True:
            name = await processes.wait_any()
            code = processes.children[name].returncode
            if name != HASS or code != RESTART_EXIT_CODE:
                msg = f"{name} exited by itself (code {code})"
                raise StackError(msg)
            # A restart asked for in the UI: Home Assistant leaves it to its
            # supervisor, which is this process here.
            log("Home Assistant restarts")
            await processes.restart(HASS)
            async with client:
                await settle(client, processes)
            log("Home Assistant is back")

    runner = asyncio.create_task(run())
    waiter = asyncio.create_task(stopped.wait())
    code = 0
    try:
        await asyncio.wait({runner, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if runner.done():
            try:
                code = runner.result()
            except (StackError, HassError) as err:
                log(f"error: {err}")
                code = 1
            except Exception as err:  # reported, then everything stops
                log(f"error: {type(err).__name__}: {err}")
                code = 1
        else:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
    finally:
        waiter.cancel()
        await processes.stop_all()
    log("stopped")
    return code


# ------------------------------------------------------------ switch, sync


def switch(args: argparse.Namespace) -> int:
    """Flip a simulator switch (or show the switches) of the running stack."""
    url = f"http://{HOST}:{args.control}/sim"
    if args.name is not None:
        if args.name not in SWITCHES:
            log(f"unknown switch {args.name!r}; switches: {', '.join(SWITCHES)}")
            return 2
        url += f"/{args.name}"
    request = urllib.request.Request(  # noqa: S310
        url, method="POST" if args.name else "GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            state = json.load(answer)
    except OSError as err:
        log(f"no simulator stack at {url} ({err}): is scripts/develop running?")
        return 1
    print(
        f"readout={state['readout']} consent={state['consent']} cable={state['cable']}"
    )
    return 0


async def sync(args: argparse.Namespace) -> int:
    """Ask the integration to fetch the remote history now."""
    config = await asyncio.to_thread(_resolve, args.config)
    port = args.port or configured_port(config) or DEFAULT_PORT
    token_file = config / TOKEN_FILE
    try:
        token = token_file.read_text().strip()
    except OSError:
        log(f"no {token_file}: start scripts/develop --config {config} first")
        return 1
    async with HassClient(f"http://{HOST}:{port}", token) as client:
        try:
            entry = await bootstrap.find_entry(client)
            if entry is None:
                log("no Slimme Meter entry")
                return 1
            await client.post(
                f"/api/services/{bootstrap.DOMAIN}/sync_remote_history",
                {"config_entry_id": entry["entry_id"]},
            )
            log(f"sync requested for {entry.get('title')!r}")
            await asyncio.sleep(SYNC_SETTLE_SECONDS)
            state = await remote_path_state(client, entry["entry_id"])
        except (HassError, OSError) as err:
            log(f"error: {err}")
            return 1
    print(f"remote path: {state}")
    return 0


async def remote_path_state(client: HassClient, entry_id: str) -> str:
    """Return the state of the entry's remote path sensor."""
    async with client.websocket() as ws:
        entities = await ws.command("config/entity_registry/list")
    for entity in entities:
        if (
            entity.get("config_entry_id") == entry_id
            and entity.get("translation_key") == "remote_path"
        ):
            state = await client.get(f"/api/states/{entity['entity_id']}")
            return str(state["state"])
    return "unknown"


# ------------------------------------------------------------ command line


def _switch_help() -> str:
    return "\n".join(f"  {name:14} {text}" for name, text in SWITCHES.items())


def _run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/develop",
        description=(
            "Run a simulated smart meter (P1 and the P4 consent API) and a real\n"
            "Home Assistant with this integration set up, until Ctrl-C."
        ),
        epilog=(
            "commands:\n"
            "  scripts/develop switch [NAME] [--control PORT]\n"
            "                 flip a simulator switch of the running stack\n"
            "                 (without NAME: show the switches' state)\n"
            "  scripts/develop sync [--config DIR] [--port PORT]\n"
            "                 fetch the remote history now\n"
            "                 (the action slimme_meter.sync_remote_history)\n\n"
            f"simulator switches:\n{_switch_help()}\n\n"
            f"Home Assistant: http://{HOST}:PORT, user {USER!r}, password "
            f"{PASSWORD!r};\na long-lived token is written to DIR/{TOKEN_FILE}."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        default=str(DEFAULT_CONFIG),
        metavar="DIR",
        help="Home Assistant configuration directory (default: config/)",
    )
    parser.add_argument(
        "--port",
        type=int,
        help=f"Home Assistant's HTTP port (default: {DEFAULT_PORT}, or the port "
        "in an existing configuration.yaml)",
    )
    parser.add_argument(
        "--p1",
        type=int,
        default=DEFAULT_P1_PORT,
        metavar="PORT",
        help=f"P1 simulator port (default: {DEFAULT_P1_PORT})",
    )
    parser.add_argument(
        "--p4",
        type=int,
        default=DEFAULT_P4_PORT,
        metavar="PORT",
        help=f"P4 consent API simulator port (default: {DEFAULT_P4_PORT})",
    )
    parser.add_argument(
        "--control",
        type=int,
        default=DEFAULT_CONTROL_PORT,
        metavar="PORT",
        help=f"simulator control API port (default: {DEFAULT_CONTROL_PORT})",
    )
    parser.add_argument(
        "--days",
        type=int,
        default=DEFAULT_DAYS,
        help=f"days of P4 history (default: {DEFAULT_DAYS})",
    )
    parser.add_argument(
        "--provider",
        choices=PROVIDERS,
        default=PROVIDERS[0],
        help="the consent service simulated on the --p4 port and linked: "
        "nl_p4 (Smart Data Solutions), nl_meterbeheer (Meterbeheer HUB) or "
        "lu_leneda (Leneda, with a Luxembourg Smarty on the P1 port that "
        "encrypts its telegrams); default nl_p4",
    )
    return parser


def _switch_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/develop switch",
        description="Flip a simulator switch of the running stack.",
        epilog=f"switches:\n{_switch_help()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", nargs="?", help="the switch (without: show them)")
    parser.add_argument(
        "--control",
        type=int,
        default=DEFAULT_CONTROL_PORT,
        metavar="PORT",
        help=f"control API port (default: {DEFAULT_CONTROL_PORT})",
    )
    return parser


def _sync_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/develop sync",
        description="Fetch the remote history now (slimme_meter.sync_remote_history).",
    )
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), metavar="DIR")
    parser.add_argument("--port", type=int, help="Home Assistant's HTTP port")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "switch":
        return switch(_switch_parser().parse_args(argv[1:]))
    if argv and argv[0] == "sync":
        return asyncio.run(sync(_sync_parser().parse_args(argv[1:])))
    return asyncio.run(develop(_run_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
