"""A simulated Meterbeheer HUB serving one household's P4 usage as JSON feeds.

The usage comes from :class:`~simulators.p4_data.P4History`, the household
the P1 simulator renders as telegrams: a quarter's usage is the difference of
the meter's registers at its two ends. As EDSN hands it out, only the last
``measured_days`` days before the mandate are measured quarters (gas: hours);
the ``daily_days`` before them are day values and everything older month
values, each spread evenly over its quarters (hours), the way Meterbeheer
"synchronises" them (a day of 150 kWh as 96 points of 1.5625 kWh).

Served (field names of the feed are the integration's assumptions M1-M5)::

    GET    /api/v1/feed                      (Authorization: Bearer KEY)
    DELETE /api/v1/feed/{uuid}               -> 204
    GET    /feed/{uuid}/{channel}.json?from=YYYY-MM-DD&to=YYYY-MM-DD

A feed is ``pending`` for the first ``pending_polls`` lists, then
``verified``. Switches: :meth:`revoke` (the mandate ended: the feed is gone,
its URLs answer 404), :meth:`fault` (API+: a P4 fault code in every feed
document), :meth:`fail` (an HTTP status for the next requests), a range of
more than 365 days answers 400.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
import sys
from typing import Any

from aiohttp import web

from .cli import run, until_stopped
from .http_server import HttpSimulator
from .meter import SimulatedMeter
from .p4 import DEFAULT_ELECTRICITY_EAN, DEFAULT_GAS_EAN
from .p4_data import AMSTERDAM, DayRegisters, P4History, default_meter

MAX_DAYS = 365
DEFAULT_API_KEY = "test-key"


def _local(moment: datetime) -> str:
    return moment.astimezone(AMSTERDAM).isoformat()


class MeterbeheerSimulator(HttpSimulator[int]):
    """One household's feeds behind a simulated Meterbeheer HUB."""

    def __init__(
        self,
        meter: SimulatedMeter | None = None,
        *,
        history_days: int = 60,
        first_day: date | None = None,
        measured_days: int = 10,
        daily_days: int = 40,
        api_key: str = DEFAULT_API_KEY,
        pending_polls: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Serve ``history_days`` days; the mandate starts the day after them."""
        if first_day is None:
            today = datetime.now(AMSTERDAM).date()
            first_day = today - timedelta(days=history_days)
        if meter is None:
            meter = default_meter(first_day)
        super().__init__(host=host, port=port)
        self.history = P4History(meter, first_day, history_days)
        self.mandate = self.history.last_day + timedelta(days=1)
        self.measured_days = measured_days
        self.daily_days = daily_days
        self.api_key = api_key
        self.pending_polls = pending_polls
        self.feeds: dict[str, str] = {"feed-e": DEFAULT_ELECTRICITY_EAN}
        if meter.gas_equipment_id is not None:
            self.feeds["feed-g"] = DEFAULT_GAS_EAN
        self.fault_code: str | None = None
        self.gone: set[str] = set()
        """Feeds still listed whose URLs answer 404 (deleted meanwhile)."""
        self.requests: list[tuple[str, dict[str, str]]] = []

    def add_days(self, count: int = 1) -> None:
        """Publish ``count`` more measured days (the mandate runs on)."""
        self.history.extend(count)

    def revoke(self, uuid: str = "feed-e") -> None:
        """End the mandate: the feed is gone."""
        self.feeds.pop(uuid, None)

    def fault(self, code: str | None) -> None:
        """Put this P4 fault code in every feed document (API+; None: none)."""
        self.fault_code = code

    def fail(self, status: int, count: int = 1) -> None:
        """Answer the next ``count`` requests with ``status``."""
        self.queue_fault(status, count)

    # ------------------------------------------------------------- the data

    def kind(self, day: date) -> str:
        """How a day is served: ``measured``, ``day`` or ``month``."""
        age = (self.mandate - day).days
        if age <= self.measured_days:
            return "measured"
        return "day" if age <= self.measured_days + self.daily_days else "month"

    def _usage(self, registers: DayRegisters, gas: bool) -> list[tuple[int, int]]:
        """(index, Wh or litres) of each period of a day, measured."""
        values = registers.gas_l if gas else None
        if gas:
            assert values is not None
            hours = registers.hour_indices
            return [(a, values[b] - values[a]) for a, b in pairwise(hours)]
        return [
            (index, registers.import_wh[index + 1] - registers.import_wh[index])
            for index in range(len(registers.times) - 1)
        ]

    def _export(self, registers: DayRegisters) -> list[tuple[int, int]]:
        return [
            (index, registers.export_wh[index + 1] - registers.export_wh[index])
            for index in range(len(registers.times) - 1)
        ]

    def periods(self, channel: str, gas: bool) -> list[dict[str, Any]]:
        """Every period served for a channel, oldest first, in kWh or m3."""
        rows: list[tuple[datetime, datetime, Decimal, date]] = []
        for registers in self.history:
            usage = (
                self._usage(registers, gas)
                if gas or channel == "1.8.0"
                else self._export(registers)
            )
            step = 4 if gas else 1
            for index, value in usage:
                rows.append(
                    (
                        registers.times[index],
                        registers.times[index + step],
                        Decimal(value) / 1000,
                        registers.day,
                    )
                )
        # Spread day and month values evenly over their periods.
        groups: dict[Any, list[int]] = {}
        for position, (_, _, _, day) in enumerate(rows):
            kind = self.kind(day)
            if kind == "day":
                groups.setdefault(day, []).append(position)
            elif kind == "month":
                groups.setdefault((day.year, day.month), []).append(position)
        for positions in groups.values():
            total = sum((rows[p][2] for p in positions), Decimal(0))
            share = total / len(positions)
            for position in positions:
                start, end, _, day = rows[position]
                rows[position] = (start, end, share, day)
        return [
            {"from": _local(start), "to": _local(end), "value": float(value)}
            for start, end, value, _ in rows
        ]

    def measured_hours(self, channel: str = "1.8.0") -> dict[int, int]:
        """Hour start -> Wh of every hour of the measured days."""
        result: dict[int, int] = {}
        for registers in self.history:
            if self.kind(registers.day) != "measured":
                continue
            values = registers.import_wh if channel == "1.8.0" else registers.export_wh
            for index, moment in enumerate(registers.times[:-1]):
                if moment.minute == 0:
                    epoch = int(moment.timestamp())
                    result[epoch] = values[index + 4] - values[index]
        return result

    def feed(self, uuid: str) -> dict[str, Any]:
        """Return the management API's object of one feed."""
        gas = uuid == "feed-g"
        polls = sum(1 for path, _ in self.requests if path == "/api/v1/feed")
        channels = ["1.8.0"] if gas else ["1.8.0", "2.8.0"]
        return {
            "uuid": uuid,
            "provider": "EDSN",
            "name": "Gas" if gas else "Stroom",
            "status": "pending" if polls <= self.pending_polls else "verified",
            "ean": self.feeds[uuid],
            "postalCode": "1234 AB",
            "houseNumber": "1",
            "type": "G" if gas else "E",
            "channels": [
                {"code": code, "url": f"{self.url}/feed/{uuid}/{code}.json"}
                for code in channels
            ],
        }

    # ---------------------------------------------------------------- HTTP

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one request."""
        self.requests.append((request.path, dict(request.query)))
        if (status := self.take_fault()) is not None:
            return web.json_response({"message": f"simulated {status}"}, status=status)
        if request.path.startswith("/api/"):
            if request.headers.get("Authorization") != f"Bearer {self.api_key}":
                return web.json_response({"message": "Unauthenticated."}, status=401)
            if request.method == "DELETE":
                self.revoke(request.match_info["uuid"])
                return web.Response(status=204)
            return web.json_response([self.feed(uuid) for uuid in self.feeds])
        uuid, channel = request.match_info["uuid"], request.match_info["channel"]
        if uuid not in self.feeds or uuid in self.gone:
            return web.json_response({"message": "Not found"}, status=404)
        try:
            first = date.fromisoformat(request.query["from"])
            last = date.fromisoformat(request.query["to"])
        except (KeyError, ValueError):
            return web.json_response({"message": "from and to required"}, status=400)
        if (last - first).days >= MAX_DAYS or last < first:
            return web.json_response({"message": "at most 365 days"}, status=400)
        gas = uuid == "feed-g"
        data = [
            period
            for period in self.periods(channel, gas)
            if first <= datetime.fromisoformat(period["from"]).date() <= last
        ]
        document: dict[str, Any] = {
            "ean": self.feeds[uuid],
            "channel": channel,
            "unit": "m3" if gas else "kWh",
            "data": data,
        }
        if self.fault_code is not None:
            document["faultCode"] = self.fault_code
        return web.json_response(document)

    def create_app(self) -> web.Application:
        """Return the application: the management API and the feeds."""
        app = web.Application()
        app.router.add_get("/api/v1/feed", self.handle)
        app.router.add_delete("/api/v1/feed/{uuid}", self.handle)
        app.router.add_get("/feed/{uuid}/{channel}.json", self.handle)
        return app


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.meterbeheer",
        description="A simulated Meterbeheer HUB serving one household.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8097)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--key", default=DEFAULT_API_KEY)
    return parser


async def _serve(args: argparse.Namespace) -> None:
    simulator = MeterbeheerSimulator(
        history_days=args.days, api_key=args.key, host=args.host, port=args.port
    )
    async with simulator:
        print(f"Meterbeheer HUB on {simulator.url}", flush=True)
        await until_stopped()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator until interrupted."""
    return run(_parser(), _serve, argv)


if __name__ == "__main__":
    sys.exit(main())
