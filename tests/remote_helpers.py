"""One simulated household behind both paths, and readers of its statistics.

The same :class:`~simulators.meter.SimulatedMeter` feeds the P4 consent API
simulator (the grid operator's readings) and, through a copy, a P1 TCP server
(the live telegrams), so both paths agree the way they do in a real home.
Time runs from a fixed moment (freezegun with ``tick=True``): it flows as
usual, and :func:`jump` moves it forward, which makes every timer that falls
due in between fire, as in a Home Assistant that was simply left running.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Generator, Iterable, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
import logging
from typing import Any, Protocol
from unittest.mock import patch
from zoneinfo import ZoneInfo

from aiohttp import web
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import get_instance
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.slimme_meter.const import DOMAIN
from custom_components.slimme_meter.history import Series, statistic_id
from custom_components.slimme_meter.remote.sync import RemoteSync
from custom_components.slimme_meter.runtime import MeterRuntime
from simulators.meter import SimulatedMeter
from simulators.p1 import P1TcpServer
from simulators.p4 import P4Simulator
from simulators.p4_data import DayRegisters, default_meter
from simulators.source import TelegramSource

from .helpers import state_of, until

AMS = ZoneInfo("Europe/Amsterdam")
FIRST_DAY = date(2025, 1, 6)  # a Monday in winter
DAYS = 3
# Half past ten (UTC) on the day after the history: not at an hour boundary,
# after the grid operator delivered the last day (06:00 UTC) and after the
# daily sync time (07:30 local), so the next daily sync is tomorrow.
START = "2025-01-09T10:30:00+00:00"
HOUR = timedelta(hours=1)
SERIES = (Series.ELECTRICITY_IMPORT, Series.ELECTRICITY_EXPORT, Series.GAS)
ISSUE_KINDS = (
    "readout_switched_off",
    "consent_ended",
    "not_remotely_readable",
    "meter_mismatch",
)

PATH = "sensor.electricity_meter_active_data_path"
LOCAL_PATH = "sensor.electricity_meter_local_path_p1"
REMOTE_PATH = "sensor.electricity_meter_remote_path_grid_operator"
LAST_SYNC = "sensor.electricity_meter_last_remote_sync"
COVERED_UNTIL = "sensor.electricity_meter_history_covered_until"
HISTORY_START = "sensor.electricity_meter_history_starts"
POWER_IMPORT = "sensor.electricity_meter_power_import"
POWER_EXPORT = "sensor.electricity_meter_power_export"

Values = dict[int, int]  # hour end (epoch seconds) -> register in thousandths


def net_power_shown(hass: HomeAssistant) -> Decimal:
    """Power imported minus power exported, as the power sensors show them."""
    imported, exported = state_of(hass, POWER_IMPORT), state_of(hass, POWER_EXPORT)
    assert imported is not None
    assert exported is not None
    return Decimal(imported) - Decimal(exported)


Row = tuple[datetime, float, float]  # hour start, state, sum


class P1Server(P1TcpServer):
    """The P1 TCP server that also counts the connections it accepted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connections = 0

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        await super()._handle(reader, writer)


class P4Server(P4Simulator):
    """The P4 simulator with a hook run before each request is answered.

    ``before_request`` gets the number of the request (1 for the first), so a
    test can set a fault for exactly that request (a 503 after two pages).
    """

    before_request: Callable[[int], None] | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.before_request is not None:
            self.before_request(len(self.requests) + 1)
        return await super().handle(request)

    def recover(self) -> None:
        """Drop the faults still queued: the service works again."""
        self.clear_faults()

    @property
    def bulk_requests(self) -> list[str]:
        """The ``from`` of every bulk request, oldest first."""
        return [
            r.path.rsplit("/", 1)[-1]
            for r in self.requests
            if r.path.startswith("/v8/readings-bulk")
        ]


@dataclass
class Household:
    """A home with a smart meter: its P1 port and its grid operator's API."""

    meter: SimulatedMeter
    p4: P4Server
    p1: P1Server
    equipment_id: str

    def entry(
        self,
        *,
        remote: dict[str, Any] | None = None,
        with_remote: bool = True,
        equipment_id: str | None = None,
    ) -> MockConfigEntry:
        """Return a config entry for this home, the remote path on by default."""
        options = {
            "provider": "nl_p4",
            "api_key": "test-key",
            "base_url": self.p4.url,
            "eans": list(self.p4.eans),
            "trusted_meters": [],
            **(remote or {}),
        }
        return p1_entry(
            self.p1, equipment_id or self.equipment_id, options if with_remote else None
        )

    def served(self) -> dict[Series, Values]:
        """Return the hourly registers the P4 API serves now, per series."""
        return served_values(self.p4)

    async def send(self, hass: HomeAssistant, entry: MockConfigEntry) -> None:
        """Send one telegram now and wait until the runtime has read it."""
        await send_telegram(hass, self.p1, entry)


@asynccontextmanager
async def household(
    *,
    first_day: date = FIRST_DAY,
    days: int = DAYS,
    page_size: int = 4,
    seed: int = 0,
    p4_seed: int | None = None,
) -> AsyncGenerator[Household]:
    """Run a home's P1 server and P4 API on loopback for one test.

    ``p4_seed`` gives the grid operator another household (a neighbour's
    meter behind the configured connection).
    """
    meter = default_meter(first_day, seed=seed)
    p4_meter = meter if p4_seed is None else default_meter(first_day, seed=p4_seed)
    p4 = P4Server(p4_meter, history_days=days, page_size=page_size)
    async with serving(p4, meter) as p1:
        yield Household(meter, p4, p1, meter.equipment_id)


class Service(Protocol):
    """A simulated web service a remote provider talks to."""

    @property
    def url(self) -> str: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@asynccontextmanager
async def running[S: Service](service: S) -> AsyncGenerator[S]:
    """Run a simulated service on loopback for one test."""
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


@asynccontextmanager
async def serving(service: Service, meter: SimulatedMeter) -> AsyncGenerator[P1Server]:
    """Run a provider's service and the P1 server of ``meter`` (a copy of it).

    The P1 server sends telegrams only on ``send_now()``: it has no ticker.
    """
    p1 = P1Server(TelegramSource("nl_dsmr5_gas", meter.copy()), interval=3600)
    async with running(service):
        await p1.listen()
        try:
            yield p1
        finally:
            await p1.unlisten()


def p1_entry(
    p1: P1Server, equipment_id: str, remote: dict[str, Any] | None = None
) -> MockConfigEntry:
    """Return a config entry for the meter behind ``p1``.

    ``remote`` holds the remote path's options (None: the P1 port alone).
    """
    return MockConfigEntry(
        domain=DOMAIN,
        version=2,
        unique_id=equipment_id,
        title="Smart meter",
        data={
            "connection": "network",
            "host": "127.0.0.1",
            "port": p1.port,
            "specification": "5",
            "equipment_id": equipment_id,
        },
        options={} if remote is None else {"remote": remote},
    )


async def send_telegram(
    hass: HomeAssistant, p1: P1Server, entry: MockConfigEntry
) -> int:
    """Send one telegram now and wait until the runtime has read it.

    Return the import register the telegram showed, in Wh.
    """
    runtime: MeterRuntime = entry.runtime_data
    seen = runtime.counters.received
    await p1.send_now()
    await until(lambda: runtime.counters.received > seen)
    await hass.async_block_till_done()
    return int(p1.meter.import_total_kwh * 1000)


def hour_registers(
    history: Iterable[DayRegisters], *, export: bool = False
) -> dict[int, int]:
    """Return a service's import (or export) register, in Wh, at every whole hour."""
    result: dict[int, int] = {}
    for day in history:
        values = day.export_wh if export else day.import_wh
        for moment, value in zip(day.times, values, strict=True):
            if moment.minute == 0:
                result[int(moment.timestamp())] = value
    return result


async def start(hass: HomeAssistant, entry: MockConfigEntry) -> MeterRuntime:
    """Add the entry and set it up; return its runtime."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    runtime: MeterRuntime = entry.runtime_data
    return runtime


async def sync_now(hass: HomeAssistant, entry_id: str) -> None:
    """Ask for a sync of the remote history, as the action in the UI does."""
    await hass.services.async_call(
        DOMAIN, "sync_remote_history", {"config_entry_id": entry_id}, blocking=True
    )


def jump(freezer: FrozenDateTimeFactory, to: datetime) -> None:
    """Move the clock forward to ``to``; timers due by then fire."""
    now = datetime.now(UTC)
    assert to > now, f"{to} is not after {now}"
    freezer.move_to(to)


@dataclass
class SyncRuns:
    """What each run of a remote sync returned: seconds until the next one."""

    delays: list[float | None] = field(default_factory=list)
    started: int = 0

    async def wait(self, count: int, timeout: float = 5.0) -> None:
        """Wait until ``count`` runs have finished in all."""
        await until(lambda: len(self.delays) >= count, timeout)

    async def idle(self) -> None:
        """Let due timers fire, then wait until no run is under way.

        A jump while a request is in flight would time that request out.
        """
        for _ in range(5):
            await asyncio.sleep(0)
        await until(lambda: self.started == len(self.delays))


@contextmanager
def steady_p1() -> Generator[None]:
    """The P1 link never stalls between telegrams and reconnects fast."""
    with (
        quiet_logs(),
        patch("custom_components.slimme_meter.runtime.STALL_FACTOR", 1e6),
        patch("custom_components.slimme_meter.runtime.BACKOFF_INITIAL", 0.02),
        patch("custom_components.slimme_meter.runtime.BACKOFF_MAX", 0.08),
    ):
        yield


def link_input(
    sim: Service, *, provider: str = "nl_p4", base_url: Any = None, **changes: Any
) -> dict[str, Any]:
    """The remote step's input; the service's address is in the Advanced section."""
    address = sim.url if base_url is None else base_url
    return {
        "provider": provider,
        "api_key": "test-key",
        "advanced": {"base_url": address},
    } | changes


@contextmanager
def quiet_logs() -> Generator[None]:
    """Silence the simulator's access log and the recorder's SQL log.

    The test harness logs every SQL statement; with thousands of statistics
    rows written that costs more time than the tests themselves.
    """
    loggers = [logging.getLogger(n) for n in ("aiohttp.access", "sqlalchemy.engine")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextmanager
def count_sync_runs() -> Generator[SyncRuns]:
    """Record every run of RemoteSync.async_sync (the real one runs)."""
    runs = SyncRuns()
    original = RemoteSync.async_sync

    async def counted(self: RemoteSync) -> float | None:
        runs.started += 1
        delay = await original(self)
        runs.delays.append(delay)
        return delay

    with patch.object(RemoteSync, "async_sync", counted):
        yield runs


def served_values(p4: P4Simulator) -> dict[Series, Values]:
    """Return the hourly registers a P4 simulator serves now, per series.

    Corrections count: the newest revision of each day is what is served.
    """
    revision: dict[tuple[str, date], int] = {}
    for entry in p4.feed:
        if entry.kind == "interval":
            key = (entry.ean, entry.day)
            revision[key] = max(revision.get(key, 0), entry.revision)
    result: dict[Series, Values] = {series: {} for series in SERIES}
    for registers in p4.days:
        day = registers.day
        power = p4.interval_values(
            p4.electricity_ean, day, revision.get((p4.electricity_ean, day), 0)
        )
        for moment, imported, exported in power:
            if moment.minute == 0:
                epoch = int(moment.timestamp())
                result[Series.ELECTRICITY_IMPORT][epoch] = imported
                assert exported is not None
                result[Series.ELECTRICITY_EXPORT][epoch] = exported
        if p4.gas_ean is not None:
            gas = p4.interval_values(
                p4.gas_ean, day, revision.get((p4.gas_ean, day), 0)
            )
            for moment, litres, _ in gas:
                result[Series.GAS][int(moment.timestamp())] = litres
    return result


def with_estimates(values: Values) -> Values:
    """Return hourly registers with every missing hour estimated.

    A gap between two known hours gets the registers of a steady
    consumption over it, in whole thousandths rounded down (a register that
    went down is held until the known reading).
    """
    filled = dict(values)
    known = sorted(values)
    for before, after in pairwise(known):
        steps = (after - before) // 3600
        first, last = values[before], values[after]
        for step in range(1, steps):
            filled[before + step * 3600] = (
                first + (last - first) * step // steps if last >= first else first
            )
    return filled


def by_end(rows: list[Row]) -> dict[int, tuple[float, float]]:
    """Return each row's state and sum by the end of its hour (epoch seconds)."""
    return {int(row[0].timestamp()) + 3600: (row[1], row[2]) for row in rows}


def largest_delta(rows: list[Row]) -> float:
    """Return the largest hourly step of the sums."""
    return max((b[2] - a[2] for a, b in pairwise(rows)), default=0.0)


def expected_rows(values: Values) -> list[Row]:
    """Return the statistics rows of hourly registers: sums from 0, rebased.

    Hours missing between known ones are estimated, as the history does.
    """
    rows: list[Row] = []
    total = 0
    previous: int | None = None
    values = with_estimates(values)
    for hour_end in sorted(values):
        value = values[hour_end]
        if previous is not None and value > previous:
            total += value - previous
        previous = value
        start = datetime.fromtimestamp(hour_end, UTC) - HOUR
        rows.append((start, value / 1000, total / 1000))
    return rows


async def statistics_rows(
    hass: HomeAssistant,
    meter: str,
    series: Series,
    since: datetime = datetime(2000, 1, 1, tzinfo=UTC),
) -> list[Row]:
    """Return the long-term statistics of one series, oldest first."""
    return await statistic_id_rows(hass, statistic_id(meter, series), since)


async def statistic_id_rows(
    hass: HomeAssistant,
    sid: str,
    since: datetime = datetime(2000, 1, 1, tzinfo=UTC),
) -> list[Row]:
    """Return the hourly rows (start, state, sum) of one statistic, oldest first."""
    await async_wait_recording_done(hass)
    result: dict[str, list[Any]] = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        since,
        None,
        {sid},
        "hour",
        None,
        {"state", "sum"},
    )
    return [
        (datetime.fromtimestamp(row["start"], UTC), row["state"], row["sum"])
        for row in result.get(sid, [])
    ]


async def all_rows(hass: HomeAssistant, meter: str) -> dict[Series, list[Row]]:
    """Return the statistics of every series of a meter."""
    return {series: await statistics_rows(hass, meter, series) for series in SERIES}


def assert_consistent(rows: list[Row]) -> None:
    """Sums start at 0, never go down and step once per whole hour."""
    assert rows, "no rows"
    assert rows[0][2] == 0
    for (start, _, total), (next_start, _, next_total) in pairwise(rows):
        assert next_start - start == HOUR, f"gap after {start}"
        assert next_total >= total, f"negative step at {next_start}"


def assert_no_spike(rows: list[Row], registers: Mapping[int, int]) -> None:
    """No hour's sum grows by more than the largest hour the meter counted."""
    steps = [b[2] - a[2] for a, b in pairwise(rows)]
    largest = max(b - a for a, b in pairwise(sorted(registers.values())))
    assert max(steps) <= largest / 1000 + 0.001


def issues(hass: HomeAssistant, entry_id: str) -> set[str]:
    """Return the kinds of remote-path issues raised for an entry."""
    registry = ir.async_get(hass)
    return {
        kind
        for kind in ISSUE_KINDS
        if registry.async_get_issue(DOMAIN, f"{kind}_{entry_id}") is not None
    }
