"""A simulated Leneda (Luxembourg's energy data hub) serving one household.

The quarter hours come from :class:`~simulators.p4_data.P4History`, the same
simulated household the P1 simulator renders as telegrams: the average power
of each quarter hour is the difference of the meter's registers at its two
ends (Wh x 4 / 1000 kW), so Leneda's energy equals the P1 registers' growth.
Luxembourg keeps the same clock as Amsterdam, so the local days are the same.

Served::

    GET /api/metering-points/{pod}/time-series
        ?startDateTime=YYYY-MM-DDTHH:MM:SSZ&endDateTime=…&obisCode=1-1:1.29.0

with headers ``X-API-KEY`` and ``X-ENERGY-ID``; the answer is Leneda's
documented ``{"meteringPointCode", "obisCode", "intervalLength", "unit",
"items": [{"value", "startedAt", "type", "version", "calculated"}]}``, items
with ``startDateTime <= startedAt < endDateTime``. Codes served: consumption
``1-1:1.29.0`` and production ``1-1:2.29.0``.

What the notes leave open, and how it is served (each can be switched):

- a code the owner did not grant: 200 with ``unit`` and
  ``meteringPointCode`` null and no items (:meth:`revoke` with a code);
- consent withdrawn (a POD no longer shared): 404 (:meth:`revoke`);
- a correction: the quarter hours of a day again with ``version`` 2, after
  the first ones (:meth:`correct`);
- missing quarter hours (:meth:`blank`);
- a lag: only days up to ``last_day`` are served; :meth:`add_days` publishes
  more;
- answer shapes (``VARIANTS``): unsorted items, a lower-case unit; gas by
  the hour (the default), by the quarter hour or by the local day, its unit
  written ``m³`` (the default), ``m3``, ``M3`` or left blank;
- faults: an HTTP status (with Retry-After), a cut-off body (:meth:`fail`).
The error bodies are invented: Leneda documents none.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
import json
import sys
from typing import Any

from aiohttp import web

from .cli import run, until_stopped
from .http_server import HttpSimulator
from .meter import SimulatedMeter
from .p4_data import AMSTERDAM, DayRegisters, P4History, default_meter

CODE_IMPORT = "1-1:1.29.0"
CODE_EXPORT = "1-1:2.29.0"
CODE_GAS = "7-1:99.23.15"
CODES = (CODE_IMPORT, CODE_EXPORT, CODE_GAS)
DEFAULT_POD = "LU0000010133700000000000081434123"
DEFAULT_GAS_POD = "LU0000010133700000000000081434124"
"""The gas metering point of the development household (a POD of its own)."""
PRODUCTION_POD = "LU0000010133700000000000081434999"
GAS_POD = "LU0000020244800000000000092545234"
DEFAULT_API_KEY = "test-key"
DEFAULT_ENERGY_ID = "LUXE-TE-ST-1234"
TIME_SERIES = "/api/metering-points/{pod}/time-series"
VARIANTS: dict[str, str] = {
    "unsorted": "items newest first",
    "lower_unit": "the unit as kw",
    "gas_quarter": "gas by the quarter hour (PT15M)",
    "gas_daily": "gas by the local day (P1D)",
    "gas_m3": "the gas unit as m3",
    "gas_upper": "the gas unit as M3",
    "gas_blank_unit": "the gas unit left blank",
}
"""Answer shapes served instead of the documented one, by name."""


@dataclass(slots=True)
class _Fault:
    status: int
    retry_after: str | None = None
    cut: bool = False


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LenedaSimulator(HttpSimulator[_Fault]):
    """One metering point's quarter hours behind a simulated Leneda API."""

    def __init__(
        self,
        meter: SimulatedMeter | None = None,
        *,
        history_days: int = 28,
        first_day: date | None = None,
        api_key: str = DEFAULT_API_KEY,
        energy_id: str = DEFAULT_ENERGY_ID,
        pod: str = DEFAULT_POD,
        production_pod: str | None = None,
        gas_pod: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ) -> None:
        """Serve ``history_days`` local days of ``meter`` from ``first_day``."""
        if first_day is None:
            if meter is None:
                first_day = datetime.now(AMSTERDAM).date() - timedelta(
                    days=history_days
                )
            else:
                first_day = meter.time.astimezone(AMSTERDAM).date()
        if meter is None:
            meter = default_meter(first_day, seed=seed)
        super().__init__(host=host, port=port)
        self.history = P4History(meter, first_day, history_days)
        self.api_key = api_key
        self.energy_id = energy_id
        self.pod = pod
        self.production_pod = production_pod
        """Production's own POD (None: the consumption POD carries it)."""
        self.gas_pod = gas_pod
        """Gas's own POD (None: the consumption POD carries it)."""
        self.shared = True
        """False: the owner stopped sharing the consumption POD (404)."""
        self.unshared: set[str] = set()
        """Other PODs the owner stopped sharing (404)."""
        self.ungranted: set[str] = set()
        """Codes not granted: answered with null unit and no items."""
        self.variants: set[str] = set()
        self.requests: list[dict[str, str]] = []
        """The query of every request answered, oldest first."""
        self._corrections: dict[date, float] = {}
        self._blanks: set[datetime] = set()

    # ----------------------------------------------------------- household

    @property
    def last_day(self) -> date:
        """The newest local day served."""
        return self.history.last_day

    def add_days(self, count: int = 1) -> None:
        """Publish ``count`` more days."""
        self.history.extend(count)

    def pod_of(self, code: str) -> str:
        """Return the POD that carries ``code``."""
        own = {CODE_EXPORT: self.production_pod, CODE_GAS: self.gas_pod}.get(code)
        return own or self.pod

    def revoke(self, code: str | None = None, *, pod: str | None = None) -> None:
        """Stop sharing one code (granted no more), or a whole POD.

        Without arguments, the consumption POD.
        """
        if code is not None:
            self.ungranted.add(code)
        elif pod is None or pod == self.pod:
            self.shared = False
        else:
            self.unshared.add(pod)

    def grant(self, code: str | None = None, *, pod: str | None = None) -> None:
        """Share one code again, or a POD."""
        if code is not None:
            self.ungranted.discard(code)
        elif pod is None or pod == self.pod:
            self.shared = True
        else:
            self.unshared.discard(pod)

    def correct(self, day: date, factor: float = 1.1) -> None:
        """Serve ``day`` again as version 2, every quarter scaled by ``factor``."""
        self._corrections[day] = factor

    def blank(self, start: datetime, quarters: int = 1) -> None:
        """Leave out ``quarters`` quarter hours from ``start`` (UTC)."""
        for index in range(quarters):
            self._blanks.add(start + timedelta(minutes=15 * index))

    def fail(
        self,
        status: int,
        *,
        count: int = 1,
        retry_after: str | None = None,
        cut: bool = False,
    ) -> None:
        """Answer the next ``count`` requests with ``status`` (or a cut body)."""
        self.queue_fault(_Fault(status, retry_after=retry_after, cut=cut), count)

    def quarters(
        self, code: str, start: datetime | None = None, end: datetime | None = None
    ) -> list[tuple[datetime, Decimal, int]]:
        """Return the quarter hours served for ``code``: (start, value, version).

        The value is kW for electricity, m³ for gas. Only the days that
        overlap ``[start, end)`` when given.
        """
        result: list[tuple[datetime, Decimal, int]] = []
        gas = code == CODE_GAS
        scale = 1000 if gas else 250
        for registers in self._days(start, end):
            values = {
                CODE_IMPORT: registers.import_wh,
                CODE_EXPORT: registers.export_wh,
            }.get(code, registers.gas_l)
            if values is None:
                continue  # no gas meter
            factor = self._corrections.get(registers.day)
            for index in range(len(registers.times) - 1):
                moment = registers.times[index]
                if moment in self._blanks:
                    continue
                amount = values[index + 1] - values[index]
                result.append((moment, Decimal(amount) / scale, 1))
                if factor is not None:
                    scaled = int(amount * factor)
                    result.append((moment, Decimal(scaled) / scale, 2))
        return result

    def _days(self, start: datetime | None, end: datetime | None) -> list[DayRegisters]:
        return [
            registers
            for registers in self.history
            if not (
                (end is not None and registers.times[0] >= end)
                or (start is not None and registers.times[-1] <= start)
            )
        ]

    def intervals(
        self, code: str, start: datetime | None = None, end: datetime | None = None
    ) -> tuple[str, list[tuple[datetime, Decimal, int]]]:
        """Return the ``intervalLength`` and the intervals served for ``code``.

        Electricity by the quarter hour; gas by the hour unless a variant
        asks for quarter hours or local days. An hour or a day lacking a
        quarter is left out.
        """
        quarters = self.quarters(code, start, end)
        if code != CODE_GAS or "gas_quarter" in self.variants:
            return "PT15M", quarters
        daily = "gas_daily" in self.variants
        starts = (
            {t: r.times[0] for r in self._days(start, end) for t in r.times[:-1]}
            if daily
            else {}
        )
        groups: dict[tuple[datetime, int], list[Decimal]] = {}
        for moment, value, version in quarters:
            first = starts[moment] if daily else moment.replace(minute=0)
            groups.setdefault((first, version), []).append(value)
        sizes = {r.times[0]: len(r.times) - 1 for r in self._days(start, end)}
        return (
            "P1D" if daily else "PT1H",
            [
                (first, sum(values, Decimal(0)), version)
                for (first, version), values in groups.items()
                if len(values) == (sizes[first] if daily else 4)
            ],
        )

    def hourly_wh(self, code: str) -> dict[int, int]:
        """Return the amount of every complete hour served (hour start -> Wh, l).

        Wh for electricity, litres for gas; the latest version of each
        quarter hour.
        """
        scale = 1000 if code == CODE_GAS else 250
        latest = {start: value for start, value, _ in self.quarters(code)}
        hours: dict[int, list[Decimal]] = {}
        for start, value in latest.items():
            hours.setdefault(int(start.timestamp()) // 3600 * 3600, []).append(value)
        return {
            hour: int(sum(values) * scale)
            for hour, values in hours.items()
            if len(values) == 4
        }

    # ---------------------------------------------------------------- HTTP

    def _document(self, code: str, start: datetime, end: datetime) -> dict[str, Any]:
        if code in self.ungranted:
            return {
                "meteringPointCode": None,
                "obisCode": None,
                "intervalLength": None,
                "unit": None,
                "items": [],
            }
        interval, served = self.intervals(code, start, end)
        items = [
            {
                "value": float(value),
                "startedAt": _stamp(moment),
                "type": "Actual",
                "version": version,
                "calculated": False,
            }
            for moment, value, version in served
            if start <= moment < end
        ]
        if "unsorted" in self.variants:
            items.reverse()
        return {
            "meteringPointCode": self.pod_of(code),
            "obisCode": code,
            "intervalLength": interval,
            "unit": self._unit(code),
            "items": items,
        }

    def _unit(self, code: str) -> str:
        if code != CODE_GAS:
            return "kw" if "lower_unit" in self.variants else "kW"
        for variant, unit in (("gas_m3", "m3"), ("gas_upper", "M3")):
            if variant in self.variants:
                return unit
        return "" if "gas_blank_unit" in self.variants else "m³"

    @staticmethod
    def _error(status: int, message: str) -> web.Response:
        return web.json_response({"status": status, "message": message}, status=status)

    async def handle(self, request: web.Request) -> web.Response:
        """Answer one time-series request."""
        self.requests.append(dict(request.query))
        if (fault := self.take_fault()) is not None:
            if fault.cut:
                return web.Response(
                    body=b'{"items": [', content_type="application/json"
                )
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            response = self._error(fault.status, f"simulated HTTP {fault.status}")
            response.headers.update(headers)
            return response
        if (
            request.headers.get("X-API-KEY") != self.api_key
            or request.headers.get("X-ENERGY-ID") != self.energy_id
        ):
            return self._error(401, "Unauthorized")
        pod = request.match_info["pod"]
        pods = {self.pod, self.production_pod, self.gas_pod}
        if (
            pod not in pods
            or pod in self.unshared
            or (pod == self.pod and not self.shared)
        ):
            return self._error(404, "Metering point not found")
        try:
            start = datetime.fromisoformat(request.query["startDateTime"])
            end = datetime.fromisoformat(request.query["endDateTime"])
            code = request.query["obisCode"]
        except (KeyError, ValueError) as err:
            return self._error(400, f"bad query: {err}")
        if start.tzinfo is None or end.tzinfo is None or start > end:
            return self._error(400, "start and end must be UTC, in order")
        if code not in CODES or self.pod_of(code) != pod:
            return web.json_response(self._document_unknown())
        body = json.dumps(self._document(code, start, end)).encode()
        return web.Response(body=body, content_type="application/json")

    @staticmethod
    def _document_unknown() -> dict[str, Any]:
        return {"meteringPointCode": None, "obisCode": None, "unit": None, "items": []}

    def create_app(self) -> web.Application:
        """Return the application: the time-series route."""
        app = web.Application()
        app.router.add_get(TIME_SERIES, self.handle)
        return app


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.leneda",
        description="A simulated Leneda API serving one household.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8098)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--key", default=DEFAULT_API_KEY)
    parser.add_argument("--energy-id", default=DEFAULT_ENERGY_ID)
    parser.add_argument("--pod", default=DEFAULT_POD)
    parser.add_argument("--production-pod", help="production's own POD")
    parser.add_argument("--gas-pod", help="gas's own POD")
    parser.add_argument("--variant", action="append", choices=VARIANTS, default=[])
    return parser


async def _serve(args: argparse.Namespace) -> None:
    simulator = LenedaSimulator(
        history_days=args.days,
        api_key=args.key,
        energy_id=args.energy_id,
        pod=args.pod,
        production_pod=args.production_pod,
        gas_pod=args.gas_pod,
        host=args.host,
        port=args.port,
    )
    simulator.variants = set(args.variant)
    async with simulator:
        print(f"Leneda API on {simulator.url} (POD {simulator.pod})", flush=True)
        await until_stopped()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator until interrupted."""
    return run(_parser(), _serve, argv)


if __name__ == "__main__":
    sys.exit(main())
