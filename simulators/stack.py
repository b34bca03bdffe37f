"""One simulated household behind both data paths, with switches to flip.

The development stack (``scripts/develop``) runs this in one process::

    python -m simulators.stack --p1 2000 --p4 8099 --control 8100 --days 42

- a P1 meter (profile ``nl_dsmr5_gas``, one telegram a second) on TCP port
  ``--p1``, like a P1-to-network bridge (with ``--provider lu_leneda`` a
  Luxembourg Smarty, profile ``lu_encrypted``: a telegram every 10 seconds,
  encrypted with the key ``--p1-key``);
- the P4 consent API (:mod:`simulators.p4`) on port ``--p4``, accepting the
  API key ``--key`` (``dev-key``), with ``--days`` days of readings that end
  at today's 00:00 (Europe/Amsterdam);
- a control API on port ``--control``.

With ``--provider lu_leneda`` Leneda (:mod:`simulators.leneda`) serves the
same household's quarter hours on the ``--p4`` port instead (Energy ID
``LUXE-TE-ST-1234``, POD ``LU0000010133700000000000081434123``); with
``--provider nl_meterbeheer`` Meterbeheer HUB (:mod:`simulators.meterbeheer`)
does, its feeds; the SDS simulator then moves to a free port. The meter is
of the P1 profile's kind (a Smarty's equipment id is ``SAG…``); the household
behind it is the same.

Both paths show the same meter: the P4 history is computed from the meter
the P1 telegrams come from (with the same registers at every quarter hour of
the history), and the P4 meter number is the P1 equipment id without its
manufacturer prefix. The history is computed in 5-minute load slots (weeks
in a fraction of a second); from today's 00:00 on, the live meter runs in the
profile's 10-second slots, so the power changes from telegram to telegram.

Control API
-----------
``GET /sim``
    The switches' state as JSON (plus where the simulators listen).
``POST /sim/{name}``
    Flip a switch (see :data:`SWITCHES`); answers the new state, 404 for an
    unknown name.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
import sys
from typing import Any

from aiohttp import web

from .cli import run, until_stopped
from .dlms import DEFAULT_ENCRYPTION_KEY
from .http_server import HttpSimulator
from .leneda import CODE_EXPORT, DEFAULT_GAS_POD, LenedaSimulator
from .meterbeheer import MeterbeheerSimulator
from .p4 import VARIANTS as P4_VARIANTS, P4Simulator
from .p4_data import AMSTERDAM, default_meter, local_midnight
from .profiles import Profile, get_profile
from .source import TelegramSource, wall_clock
from .tcp import P1TcpServer

P1_PROFILES: dict[str, str] = {
    "nl_p4": "nl_dsmr5_gas",
    "nl_meterbeheer": "nl_dsmr5_gas",
    "lu_leneda": "lu_encrypted",
}
"""The meter on the P1 port of each consent service's household."""
DEFAULT_HOST = "127.0.0.1"
DEFAULT_P1_PORT = 2000
DEFAULT_P4_PORT = 8099
DEFAULT_CONTROL_PORT = 8100
DEFAULT_DAYS = 42
DEFAULT_API_KEY = "dev-key"
DEFAULT_P1_KEY = DEFAULT_ENCRYPTION_KEY
"""The key an encrypted meter (``lu_encrypted``) encrypts its telegrams with."""

READOUT_OFF_CODE = "038"
"""P4: the smart meter is switched off administratively ("administratief uit")."""
CONSENT_ENDED_CODE = "008"
"""P4: the requesting party is not (or no longer) authorised."""

SWITCHES: dict[str, str] = {
    "readout-off": (
        f"remote read-out switched off: P4 rejection {READOUT_OFF_CODE} from now on"
    ),
    "readout-on": "remote read-out is on again",
    "consent-ended": (
        f"the consent ended: P4 rejection {CONSENT_ENDED_CODE} from now on"
    ),
    "consent-ok": "the consent is valid again",
    "cable-pull": "the P1 port goes away: connections drop, the port refuses",
    "cable-plug": "the P1 port listens again",
    "export-revoked": f"Leneda: the owner no longer grants {CODE_EXPORT}",
    "export-granted": f"Leneda: {CODE_EXPORT} is granted again",
}
"""The switches of the control API and what each one does."""


class SimulatorStack:
    """A P1 meter, its P4 history and a control API (see the module)."""

    def __init__(
        self,
        *,
        host: str = DEFAULT_HOST,
        p1_port: int = DEFAULT_P1_PORT,
        p4_port: int = DEFAULT_P4_PORT,
        control_port: int = DEFAULT_CONTROL_PORT,
        days: int = DEFAULT_DAYS,
        api_key: str = DEFAULT_API_KEY,
        seed: int = 0,
        interval: float | None = None,
        provider: str = "nl_p4",
        p1_key: str = DEFAULT_P1_KEY,
    ) -> None:
        """Build the household; :meth:`start` opens the ports (0 picks free ones).

        ``interval`` defaults to the P1 profile's; ``p1_key`` is what an
        encrypted meter encrypts with.
        """
        self.profile: Profile = get_profile(P1_PROFILES[provider])
        today = datetime.now(AMSTERDAM).date()
        first_day = today - timedelta(days=days)
        meter = default_meter(first_day, seed=seed, profile=self.profile.name)
        self.leneda: LenedaSimulator | None = None
        self.hub: MeterbeheerSimulator | None = None
        if provider == "nl_meterbeheer":
            self.hub = MeterbeheerSimulator(
                meter,
                first_day=first_day,
                history_days=days,
                api_key=api_key,
                host=host,
                port=p4_port,
            )
            p4_port = 0
        if provider == "lu_leneda":
            self.leneda = LenedaSimulator(
                meter,
                first_day=first_day,
                history_days=days,
                api_key=api_key,
                gas_pod=DEFAULT_GAS_POD,
                host=host,
                port=p4_port,
            )
            p4_port = 0
        self.p4 = P4Simulator(
            meter, api_key=api_key, host=host, port=p4_port, history_days=days
        )
        live = meter.copy()
        live.advance(local_midnight(today))
        # From here on the live meter runs in the profile's short load slots.
        live.options = replace(
            live.options, slot_seconds=self.profile.meter_options.slot_seconds
        )
        self.meter = live
        self.p1_key = p1_key if self.profile.encrypted else None
        self.p1 = P1TcpServer(
            TelegramSource(
                self.profile, live, clock=wall_clock, encryption_key=self.p1_key
            ),
            host=host,
            port=p1_port,
            interval=interval,
        )
        self.host = host
        self.control = ControlApi(self, host=host, port=control_port)
        self.readout = True
        self.consent = True
        self._actions: dict[str, Callable[[], Awaitable[None]]] = {
            "readout-off": self._readout_off,
            "readout-on": self._readout_on,
            "consent-ended": self._consent_ended,
            "consent-ok": self._consent_ok,
            "cable-pull": self.p1.unlisten,
            "cable-plug": self.p1.listen,
            "export-revoked": self._export_revoked,
            "export-granted": self._export_granted,
        }

    # ------------------------------------------------------------- switches

    async def _readout_off(self) -> None:
        self.readout = False
        self.p4.reject(READOUT_OFF_CODE, standing=True)

    async def _readout_on(self) -> None:
        self.readout = True
        self.p4.lift(READOUT_OFF_CODE)

    async def _consent_ended(self) -> None:
        self.consent = False
        self.p4.reject(CONSENT_ENDED_CODE, standing=True)
        if self.leneda is not None:
            self.leneda.revoke()
        if self.hub is not None:
            self.hub.gone = set(self.hub.feeds)

    async def _consent_ok(self) -> None:
        self.consent = True
        self.p4.lift(CONSENT_ENDED_CODE)
        if self.leneda is not None:
            self.leneda.grant()
        if self.hub is not None:
            self.hub.gone = set()

    async def _export_revoked(self) -> None:
        if self.leneda is not None:
            self.leneda.revoke(CODE_EXPORT)

    async def _export_granted(self) -> None:
        if self.leneda is not None:
            self.leneda.grant(CODE_EXPORT)

    async def flip(self, name: str) -> dict[str, Any]:
        """Flip the switch ``name``; return the new state (KeyError if unknown)."""
        await self._actions[name]()
        return self.state()

    def state(self) -> dict[str, Any]:
        """Return the switches' state and where the simulators listen."""
        return {
            "readout": "on" if self.readout else "off",
            "consent": "ok" if self.consent else "ended",
            "cable": "plugged" if self.p1.serving else "pulled",
            "p1": {
                "url": f"tcp://{self.p1.host}:{self.p1.port}",
                "profile": self.profile.name,
                "encryption_key": self.p1_key,
                "equipment_id": self.meter.equipment_id,
                "clients": self.p1.clients,
            },
            "p4": {
                "url": self.p4.url,
                "api_key": self.p4.api_key,
                "eans": self.p4.eans,
                "meter_id": self.p4.days[-1].meter_id if self.p4.days else None,
                "first_day": self.p4.history.first_day.isoformat(),
                "last_day": self.p4.history.last_day.isoformat(),
                "standing_rejections": self.p4.standing,
            },
            "switches": sorted(SWITCHES),
        } | ({"leneda": self._leneda_state()} if self.leneda else {})

    def _leneda_state(self) -> dict[str, Any]:
        assert self.leneda is not None
        return {
            "url": self.leneda.url,
            "energy_id": self.leneda.energy_id,
            "pod": self.leneda.pod,
            "shared": self.leneda.shared,
            "not_granted": sorted(self.leneda.ungranted),
            "last_day": self.leneda.last_day.isoformat(),
        }

    # ---------------------------------------------------------- control API

    async def _get_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.state())

    async def _post_switch(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self._actions:
            return web.json_response(
                {"error": f"unknown switch {name!r}", "switches": sorted(SWITCHES)},
                status=404,
            )
        state = await self.flip(name)
        print(f"switch {name}: {SWITCHES[name]}", flush=True)
        return web.json_response(state)

    def control_app(self) -> web.Application:
        """Return the control API's application."""
        app = web.Application()
        app.router.add_get("/sim", self._get_state)
        app.router.add_post("/sim/{name}", self._post_switch)
        return app

    @property
    def control_port(self) -> int:
        """The control API's port (the actual one once started)."""
        return self.control.port

    @property
    def control_url(self) -> str:
        """The control API's base URL (once started)."""
        return self.control.url

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the consent API(s), the P1 port and the control API."""
        await self.p4.start()
        if self.leneda is not None:
            await self.leneda.start()
        if self.hub is not None:
            await self.hub.start()
        await self.p1.start()
        await self.control.start()

    async def stop(self) -> None:
        """Close everything."""
        await self.control.stop()
        await self.p1.stop()
        await self.p4.stop()
        if self.leneda is not None:
            await self.leneda.stop()
        if self.hub is not None:
            await self.hub.stop()


class ControlApi(HttpSimulator[None]):
    """The stack's control API (see the module), served apart from the meter."""

    access_log = True

    def __init__(self, stack: SimulatorStack, *, host: str, port: int) -> None:
        """Serve ``stack``'s switches on ``host``:``port``."""
        super().__init__(host=host, port=port)
        self.stack = stack

    def create_app(self) -> web.Application:
        """Return the stack's control application."""
        return self.stack.control_app()


# ------------------------------------------------------------ command line


def _parser() -> argparse.ArgumentParser:
    switches = "\n".join(f"  {name:14} {text}" for name, text in SWITCHES.items())
    parser = argparse.ArgumentParser(
        prog="python -m simulators.stack",
        description="A simulated smart meter on both data paths (P1 and P4).",
        epilog=f"switches (POST /sim/NAME on the control port):\n{switches}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    parser.add_argument(
        "--p1", type=int, default=DEFAULT_P1_PORT, help="P1 telegram port (TCP)"
    )
    parser.add_argument(
        "--p4", type=int, default=DEFAULT_P4_PORT, help="P4 consent API port"
    )
    parser.add_argument(
        "--control", type=int, default=DEFAULT_CONTROL_PORT, help="control API port"
    )
    parser.add_argument(
        "--days", type=int, default=DEFAULT_DAYS, help="days of P4 history"
    )
    parser.add_argument(
        "--key", default=DEFAULT_API_KEY, help="the P4 API key to accept"
    )
    parser.add_argument("--seed", type=int, default=0, help="household seed")
    parser.add_argument(
        "--p1-key",
        default=DEFAULT_P1_KEY,
        help="the key an encrypted P1 meter encrypts with (32 hex digits)",
    )
    parser.add_argument(
        "--provider",
        choices=("nl_p4", "nl_meterbeheer", "lu_leneda"),
        default="nl_p4",
        help="the consent API served on the --p4 port",
    )
    parser.add_argument(
        "--variant",
        action="append",
        choices=P4_VARIANTS,
        default=[],
        help="serve this P4 answer shape instead of the documented one",
    )
    return parser


async def _serve(args: argparse.Namespace) -> None:
    stack = SimulatorStack(
        host=args.host,
        p1_port=args.p1,
        p4_port=args.p4,
        control_port=args.control,
        days=args.days,
        api_key=args.key,
        seed=args.seed,
        provider=args.provider,
        p1_key=args.p1_key,
    )
    stack.p4.variants = set(args.variant)
    await stack.start()
    state = stack.state()
    key = f", key {stack.p1_key}" if stack.p1_key else ""
    print(
        f"P1 {stack.profile.name} on {state['p1']['url']} (meter "
        f"{state['p1']['equipment_id']}, every {stack.p1.interval:g} s{key}); "
        f"P4 API on {stack.p4.url} (key {stack.p4.api_key!r}, readings "
        f"{state['p4']['first_day']} to {state['p4']['last_day']}); "
        f"control API on {stack.control_url}/sim",
        flush=True,
    )
    if stack.hub is not None:
        print(f"Meterbeheer HUB on {stack.hub.url}", flush=True)
    if stack.leneda is not None:
        print(
            f"Leneda API on {stack.leneda.url} (Energy ID {stack.leneda.energy_id},"
            f" POD {stack.leneda.pod})",
            flush=True,
        )
    try:
        await until_stopped()
    finally:
        await stack.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the stack until interrupted (SIGINT or SIGTERM)."""
    return run(_parser(), _serve, argv)


if __name__ == "__main__":
    sys.exit(main())
