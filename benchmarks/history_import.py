"""Importing months of grid-operator history: wall time and event-loop blocking.

A Home Assistant with the real recorder (SQLite in a temporary directory)
sets up one meter whose remote path is linked to the P4 consent-API simulator
on loopback, serving `months` months of one household's readings: electricity
import and export every 15 minutes, gas every hour. A P1 server sends a
telegram of the same household every second meanwhile, as at home.

Measured:
- import: the wall time from setting up the entry (the link) until the
  history covers the last day served and the recorder has committed every
  statistics row. The simulator computes and renders its pages before that,
  so generating the data is not counted;
- loop block: the longest time the event loop could not run a task, from a
  probe that sleeps 5 ms in a loop and records how late it wakes up;
- chunks: the rows per recorder job the history hands over (at most 500, so
  no single job holds the loop long).

The statistics are then read back and compared with the series computed from
the simulated household (the grid operator's readings, plus the P1 reading
of an hour boundary the run crossed): every hourly row's state and sum, the
row count per statistic (the hours covered), the last sum (last register
minus the first) and no negative steps.

    python -m benchmarks.history_import [months] [--page-size N] [--profile]

The last line is ``HISTORY import_s=<float> loop_block_ms=<float> rows=<int>``
(rows: statistics rows over all series).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
import cProfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import gc
from itertools import pairwise
import json
import os
import pstats
import socket
import statistics
import sys
import tempfile
import threading
import time
from typing import Any
from unittest.mock import patch

from aiohttp import web
from homeassistant import loader
from homeassistant.components.recorder import get_instance
from homeassistant.core import HomeAssistant
from homeassistant.helpers import recorder as recorder_helper
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.slimme_meter import (
    costs as costs_module,
    history as history_module,
)
from custom_components.slimme_meter.history import LOCAL, Series
from custom_components.slimme_meter.remote.api import RemoteState
from custom_components.slimme_meter.remote.p4 import OLDEST_CURSOR
from custom_components.slimme_meter.runtime import MeterRuntime
from simulators.p1 import P1TcpServer
from simulators.p4 import P4Simulator, RecordedRequest
from simulators.p4_data import AMSTERDAM, local_midnight
from simulators.source import TelegramSource
from tests.remote_helpers import Row, expected_rows, served_values, statistics_rows
from tests.test_costs_integration import cost_sums

SERIES = (Series.ELECTRICITY_IMPORT, Series.ELECTRICITY_EXPORT, Series.GAS)
# Prices for the three cost statistics: a low/normal pair on the Dutch
# schedule, and a fixed amount per day (the most work per hour).
PRICES = {
    "electricity_import_price": 0.30,
    "electricity_import_price_low": 0.22,
    "electricity_export_price": 0.10,
    "gas_price": 1.45,
    "daily_charge": 0.95,
    "tariff_schedule": "netherlands",
}
HOUR = 3600
IMPORT_GOAL_S = 30.0
BLOCK_GOAL_MS = 100.0
PROBE_INTERVAL = 0.005


class PreRenderedP4(P4Simulator):
    """The P4 simulator with every page of the backfill rendered up front."""

    pages: dict[str, bytes]

    def prerender(self) -> int:
        """Render the pages a backfill asks for, as the provider asks; return them."""
        self.pages = {}
        cursor = OLDEST_CURSOR
        while cursor not in self.pages:
            document = self.bulk_page(cursor, intervals=True, days=True)
            self.pages[cursor] = json_bytes(document)
            cursor = document["TimeStamp"]
        return len(self.pages)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve a rendered page; anything else as the simulator does."""
        body = self.pages.get(request.match_info.get("from", ""))
        if body is None or request.headers.get("X-API-KEY") != self.api_key:
            return await super().handle(request)
        self.requests.append(RecordedRequest(request.path, dict(request.query), None))
        return web.Response(body=body, content_type="application/json")


def json_bytes(document: Any) -> bytes:
    """Return a document as the simulator sends it."""
    return json.dumps(document).encode()


class LoopProbe:
    """Sleeps briefly in a loop and records how late each wake-up is.

    A full collection of the garbage collector stops every thread: the one
    that triggered it holds the interpreter lock throughout. Collections are
    recorded too, so a wake-up's lateness can be told apart from the part
    they caused, and the loop thread's CPU time from the time it waited.
    """

    def __init__(self) -> None:
        """Create a stopped probe."""
        self.lags: list[float] = []
        self.own: list[float] = []  # lateness not spent in the collector
        self.busy: list[float] = []  # loop thread CPU while late, not collecting
        # Full collections: start, end, whether the loop's thread ran it.
        self.pauses: list[tuple[float, float, bool]] = []
        self._thread = 0
        self._collecting: float | None = None
        self._task: asyncio.Task[None] | None = None

    def _collector(self, phase: str, info: dict[str, int]) -> None:
        now = time.monotonic()
        if phase == "start":
            self._collecting = now if info["generation"] == 2 else None
        elif self._collecting is not None:
            here = threading.get_ident() == self._thread
            self.pauses.append((self._collecting, now, here))
            self._collecting = None

    def start(self) -> None:
        """Start probing on the running loop."""
        self._thread = threading.get_ident()
        gc.callbacks.append(self._collector)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            before = time.monotonic()
            cpu = time.thread_time()
            await asyncio.sleep(PROBE_INTERVAL)
            after = time.monotonic()
            cpu = time.thread_time() - cpu
            lag = after - before - PROBE_INTERVAL
            due = after - lag
            pauses = self.pauses[-3:]
            if self._collecting is not None:  # its thread has not noted the end
                pauses.append((self._collecting, after, False))
            collecting = here = 0.0
            for start, end, in_loop_thread in pauses:
                if end > due and start < after:
                    overlap = min(end, after) - max(start, due)
                    collecting += overlap
                    here += overlap if in_loop_thread else 0.0
            self.lags.append(lag)
            self.own.append(max(0.0, lag - collecting))
            self.busy.append(max(0.0, min(lag, cpu - here)))

    async def stop(self) -> None:
        """Stop probing."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            gc.callbacks.remove(self._collector)

    @property
    def max_ms(self) -> float:
        """Return the longest lateness in ms."""
        return max(self.lags, default=0.0) * 1000

    @property
    def own_max_ms(self) -> float:
        """Return the longest lateness not spent in the collector, in ms."""
        return max(self.own, default=0.0) * 1000

    @property
    def busy_max_ms(self) -> float:
        """Return the longest time the loop thread ran code, in ms."""
        return max(self.busy, default=0.0) * 1000

    @property
    def pause_max_ms(self) -> float:
        """Return the longest full collection in ms."""
        return max((end - start for start, end, _ in self.pauses), default=0.0) * 1000

    def percentile_ms(self, share: float) -> float:
        """Return a percentile of the lateness in ms."""
        if not self.lags:
            return 0.0
        ordered = sorted(self.lags)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


@dataclass
class Chunks:
    """The statistics jobs the history handed to the recorder."""

    sizes: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def wrap(self, real: Callable[..., None]) -> Callable[..., None]:
        """Return real, counting rows and time per call."""

        def counted(hass: HomeAssistant, metadata: Any, rows: Any) -> None:
            started = time.perf_counter()
            real(hass, metadata, rows)
            self.seconds.append(time.perf_counter() - started)
            self.sizes.append(len(rows))

        return counted


@dataclass
class Result:
    """What one import measured."""

    months: int
    days: int
    pages: int
    requests: int
    import_s: float
    remote_done_s: float
    loop_cpu_s: float
    probe: LoopProbe
    chunks: Chunks
    rows: dict[str, int]
    problems: list[str]


@contextlib.asynccontextmanager
async def home_assistant(config_dir: str) -> AsyncIterator[HomeAssistant]:
    """Start a Home Assistant with the real recorder on SQLite in config_dir."""
    async with async_test_home_assistant(config_dir=config_dir) as hass:
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
        await hass.config.async_set_time_zone("Europe/Amsterdam")
        # Loopback on a free port: another Home Assistant may hold 8123.
        assert await async_setup_component(
            hass,
            "http",
            {"http": {"server_host": "127.0.0.1", "server_port": free_port()}},
        )
        recorder_helper.async_initialize_recorder(hass)
        db_url = "sqlite:///" + os.path.join(config_dir, "home-assistant_v2.db")
        assert await async_setup_component(
            hass, "recorder", {"recorder": {"db_url": db_url}}
        )
        await hass.async_block_till_done()
        await recorder_done(hass)
        try:
            yield hass
        finally:
            await hass.async_stop(force=True)


def free_port() -> int:
    """Return a TCP port on loopback that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def recorder_done(hass: HomeAssistant) -> None:
    """Wait until the recorder has committed everything queued so far."""
    await hass.async_block_till_done()
    await hass.async_add_executor_job(get_instance(hass).block_till_done)


def check(series: Series, rows: list[Row], values: dict[int, int]) -> list[str]:
    """Return what is wrong with one statistic's rows."""
    problems = []
    expected = expected_rows(values)
    if len(rows) != len(expected):
        problems.append(f"{series}: {len(rows)} rows, {len(expected)} hours covered")
    first, last = min(values), max(values)
    if rows and round(rows[-1][2] * 1000) != values[last] - values[first]:
        problems.append(f"{series}: last sum {rows[-1][2]} is not last - first")
    steps = [b[2] - a[2] for a, b in pairwise(rows)]
    if steps and min(steps) < 0:
        problems.append(f"{series}: a negative step")
    wrong = sum(1 for a, b in zip(rows, expected, strict=False) if a != b)
    if wrong:
        problems.append(f"{series}: {wrong} rows differ from the household's series")
    return problems


def make_entry(sim: P4Simulator, p1: P1TcpServer) -> MockConfigEntry:
    """Return the meter's config entry, its remote path linked to the simulator."""
    meter = p1.meter
    return MockConfigEntry(
        domain="slimme_meter",
        unique_id=meter.equipment_id,
        title="Smart meter",
        data={
            "connection": "network",
            "host": "127.0.0.1",
            "port": p1.port,
            "specification": "5",
            "equipment_id": meter.equipment_id,
        },
        options={
            "remote": {
                "provider": "nl_p4",
                "api_key": sim.api_key,
                "base_url": sim.url,
                "eans": list(sim.eans),
                "trusted_meters": [],
            },
            "costs": PRICES,
        },
    )


async def backfilled(runtime: MeterRuntime, last_hour: int) -> None:
    """Wait until the remote path has brought the history up to last_hour."""
    remote, history = runtime.remote, runtime.history
    assert remote is not None
    assert history is not None
    async with asyncio.timeout(600):
        while not (
            remote.backfilled
            and remote.state is RemoteState.ACTIVE
            and (covered := history.covered_until()) is not None
            and covered.timestamp() >= last_hour
        ):
            await asyncio.sleep(0.01)


async def verify(
    hass: HomeAssistant, runtime: MeterRuntime, sim: P4Simulator, chunks: Chunks
) -> tuple[dict[str, int], list[str]]:
    """Return the rows per statistic and what is wrong with them."""
    history = runtime.history
    assert history is not None
    values = served_values(sim)
    for series in SERIES:
        # A P1 reading at an hour boundary reached meanwhile counts too.
        values[series] |= {
            hour: value
            for hour, (value, source) in history.series[series].values.items()
            if source == LOCAL
        }
    rows: dict[str, int] = {}
    problems: list[str] = []
    for series in SERIES:
        found = await statistics_rows(hass, runtime.entry.data["meter_key"], series)
        rows[series.value] = len(found)
        problems += check(series, found, values[series])
    meter = runtime.entry.data["meter_key"]
    costs = runtime.costs
    assert costs is not None
    for series in SERIES:
        found_costs = await cost_sums(hass, meter, series)
        rows[f"{series.value} cost"] = len(found_costs)
        if len(found_costs) != rows[series.value]:
            problems.append(
                f"{series} cost: {len(found_costs)} rows, {rows[series.value]} hours"
            )
        if any(b[1] < a[1] - 1e-9 for a, b in pairwise(found_costs)):
            problems.append(f"{series} cost: a negative step")
        if found_costs and round(found_costs[-1][1], 6) != round(
            costs.series[series].sums[-1], 6
        ):
            problems.append(f"{series} cost: last sum differs from the computed one")
    if max(chunks.sizes, default=0) > history_module.WRITE_CHUNK:
        problems.append(f"a recorder job of {max(chunks.sizes)} rows")
    return rows, problems


async def run(months: int, page_size: int, profile: cProfile.Profile | None) -> Result:
    """Import `months` months into a fresh Home Assistant; return what it took."""
    days = round(months * 365.25 / 12)
    today = datetime.now(AMSTERDAM).date()
    sim = PreRenderedP4(
        history_days=days, first_day=today - timedelta(days=days), page_size=page_size
    )
    pages = sim.prerender()
    last_hour = int(local_midnight(today).timestamp())
    # The P1 side: the same household, from where the history ends.
    meter = sim.meter.copy()
    meter.advance(datetime.now(UTC))
    p1 = P1TcpServer(TelegramSource("nl_dsmr5_gas", meter), interval=1.0)
    await sim.start()
    await p1.start()
    chunks = Chunks()
    probe = LoopProbe()
    try:
        with (
            tempfile.TemporaryDirectory() as config_dir,
            patch.object(
                history_module,
                "async_write_statistics",
                chunks.wrap(history_module.async_write_statistics),
            ),
            patch.object(
                costs_module,
                "async_write_statistics",
                chunks.wrap(costs_module.async_write_statistics),
            ),
        ):
            async with home_assistant(config_dir) as hass:
                entry = make_entry(sim, p1)
                entry.add_to_hass(hass)
                probe.start()
                await asyncio.sleep(0.05)
                if profile is not None:
                    profile.enable()
                started = time.perf_counter()
                loop_cpu = time.thread_time()
                assert await hass.config_entries.async_setup(entry.entry_id)
                runtime: MeterRuntime = entry.runtime_data
                await backfilled(runtime, last_hour)
                remote_done = time.perf_counter() - started
                loop_cpu = time.thread_time() - loop_cpu
                await recorder_done(hass)
                import_s = time.perf_counter() - started
                if profile is not None:
                    profile.disable()
                await probe.stop()
                rows, problems = await verify(hass, runtime, sim, chunks)
                await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await probe.stop()
        await p1.stop()
        await sim.stop()
    return Result(
        months,
        days,
        pages,
        len(sim.requests),
        import_s,
        remote_done,
        loop_cpu,
        probe,
        chunks,
        rows,
        problems,
    )


def table(result: Result) -> list[str]:
    """Return the result as a small table."""
    chunks, probe = result.chunks, result.probe
    total = sum(result.rows.values())
    lines = [
        f"History import: {result.months} months ({result.days} days),"
        f" {result.pages} pages, {result.requests} requests",
        f"  {'import (link to committed)':<34} {result.import_s:8.2f} s"
        f"   goal <= {IMPORT_GOAL_S:.0f} s",
        f"  {'  remote path done after':<34} {result.remote_done_s:8.2f} s",
        f"  {'  loop thread CPU until then':<34} {result.loop_cpu_s:8.2f} s",
        f"  {'longest loop block (code)':<34} {probe.busy_max_ms:8.1f} ms"
        f"  goal <= {BLOCK_GOAL_MS:.0f} ms",
        f"  {'probe lateness max':<34} {probe.max_ms:8.1f} ms",
        f"  {'  outside full collections':<34} {probe.own_max_ms:8.1f} ms",
        f"  {'  p99 / median':<34} {probe.percentile_ms(0.99):8.1f}"
        f" / {statistics.median(probe.lags or [0.0]) * 1000:.1f} ms"
        f"  ({len(probe.lags)} probes)",
        f"  {'full collections':<34} {len(probe.pauses):8d}"
        f"   longest {probe.pause_max_ms:.1f} ms",
        f"  {'recorder jobs':<34} {len(chunks.sizes):8d}"
        f"   rows {sum(chunks.sizes)}, max {max(chunks.sizes, default=0)},"
        f" hand-over max {max(chunks.seconds, default=0.0) * 1000:.1f} ms",
    ]
    lines += [
        f"  {'rows ' + name:<34} {count:8d}" for name, count in result.rows.items()
    ]
    lines += [
        f"  {'rows (all statistics)':<34} {total:8d}",
        f"  {'verified':<34} {'yes' if not result.problems else 'NO':>8}",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a table and the HISTORY line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.history_import")
    parser.add_argument("months", nargs="?", type=int, default=24)
    parser.add_argument("--page-size", type=int, default=50, help="objects per page")
    parser.add_argument(
        "--profile", action="store_true", help="profile the event loop (cProfile)"
    )
    args = parser.parse_args(argv)
    profile = cProfile.Profile() if args.profile else None
    result = asyncio.run(run(args.months, args.page_size, profile))
    for line in table(result):
        print(line)
    if profile is not None:
        stats = pstats.Stats(profile, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
    for problem in result.problems:
        print(f"  problem: {problem}")
    if result.problems:
        return 1
    rows = sum(result.rows.values())
    print(
        f"HISTORY import_s={result.import_s:.2f}"
        f" loop_block_ms={result.probe.busy_max_ms:.1f} rows={rows}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
