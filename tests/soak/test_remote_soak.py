"""Fault soak of the remote path: a long backfill from a failing consent API.

One simulated household feeds the P4 consent-API simulator (``months`` of
15-minute electricity and hourly gas readings) and a P1 server (its live
telegrams). The integration backfills the whole history into the real
recorder while the API misbehaves, request by request, in a repeating
cycle: bursts of 429 with ``Retry-After`` (seconds and an HTTP date), 503s
with and without ``Retry-After``, answers that come just before the client's
30 s timeout and answers that come too late, cut-off JSON and a page with
one malformed item.

Half-way through the backfill Home Assistant restarts, for real and in this
process: the first instance is stopped while a page is being fetched (as
Home Assistant stops: the entry is not unloaded, background tasks are
cancelled and the stores' final write runs), then a second Home Assistant
starts on the same recorder database (an SQLite file) and the same
``.storage`` (phcc's mocked storage, shared by both instances), with the
same config entry. It goes on from the stored cursor.

Time is controlled: the clock is frozen and ticks (freezegun); every retry
wait and every slow answer is crossed by moving the clock, so hours of
backoff take no real time. Between runs the P1 server sends a telegram; the
power sensor must follow the meter throughout, before the restart, after it
and after the faults. Telegrams are sent outside the first minutes of an
hour, so the P1 path adds no readings of its own to the history.

At the end every hourly row of every statistic (state and sum) equals the
series computed from the household: no gap, no duplicate, no negative step.

Both Home Assistant instances are made here (``async_test_home_assistant``
and phcc's ``async_test_recorder``) instead of by the ``hass`` fixture, which
cannot be stopped and started again within a test.

Scale: ``SOAK_SCALE=short`` (``scripts/test soak short``) imports 3 months
instead of 24.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Generator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant import loader
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.slimme_meter.history import Series
from custom_components.slimme_meter.remote.api import RemoteState
from custom_components.slimme_meter.remote.sync import RemoteSync
from custom_components.slimme_meter.runtime import MeterRuntime
from simulators.p4_data import default_meter, local_midnight
from simulators.source import TelegramSource

from ..helpers import state_of, until
from ..remote_helpers import (
    REMOTE_PATH,
    SERIES,
    Household,
    P1Server,
    P4Server,
    all_rows,
    assert_consistent,
    expected_rows,
    issues,
    jump,
    net_power_shown,
    start as start_entry,
    steady_p1,
)
from .scale import pick

START = "2025-01-09T10:30:00+00:00"
MONTHS = pick(24, 3)
DAYS = round(MONTHS * 365.25 / 12)
FIRST_DAY = date(2025, 1, 9) - timedelta(days=DAYS)
PAGE_SIZE = 50  # objects per page: 4 a day (two connections, interval and day)
NEAR_TIMEOUT = 28.0  # the provider's client timeout is 30 s
TOO_LATE = 45.0
RESTART_DELAY = 20.0  # the page asked for while Home Assistant stops
CYCLE = 21  # requests per fault cycle

pytestmark = [
    pytest.mark.freeze_time(START, tick=True),
    pytest.mark.usefixtures("socket_enabled"),
    pytest.mark.parametrize("persistent_database", [True]),
]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Each Home Assistant of this module enables custom integrations itself."""


@pytest.fixture(autouse=True)
def steady_link() -> Generator[None]:
    """Telegrams come on demand: the P1 link never stalls; it reconnects fast."""
    with steady_p1():
        yield


def _cycle(p4: P4Server) -> dict[int, tuple[str, Callable[[], None]]]:
    """One cycle of the faults, by request number within the cycle.

    Each sets up what the API does from that request on.
    """

    def date_in(seconds: float) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=seconds)

    return {
        2: ("429", lambda: p4.rate_limit(count=3, retry_after=120)),
        6: ("503", lambda: p4.unavailable(count=2)),
        9: ("near timeout", lambda: None),
        11: ("malformed", p4.malformed),
        13: ("too late", lambda: None),
        15: ("429 date", lambda: p4.rate_limit(count=2, retry_after=date_in(90))),
        17: ("mangled", lambda: p4.mangle(_break_an_item)),
        19: ("503 retry-after", lambda: p4.unavailable(retry_after=60)),
    }


def _break_an_item(document: dict[str, Any]) -> dict[str, Any]:
    """One interval item of the page without an offset: the page is invalid."""
    for interval in document["IntervalObjects"]:
        if interval.get("Items"):
            interval["Items"][0]["DateTimeOffset"] = "2025-01-06T01:00"
            break
    return document


@dataclass
class Faults:
    """Injects the fault cycle into the API; notes what it did."""

    p4: P4Server
    injected: Counter[str] = field(default_factory=Counter)
    slow: asyncio.Event = field(default_factory=asyncio.Event)
    slow_for: float = 0.0
    restart_wanted: bool = False
    restarting: asyncio.Event = field(default_factory=asyncio.Event)
    requests_at_restart: int = 0
    active: bool = True

    def __post_init__(self) -> None:
        self.cycle = _cycle(self.p4)
        self.p4.before_request = self.before_request

    def before_request(self, number: int) -> None:
        self.p4.delay = 0.0
        if self.restart_wanted and not self.restarting.is_set():
            # This page is still on its way when Home Assistant stops.
            self.p4.delay = RESTART_DELAY
            self.requests_at_restart = number
            self.restarting.set()
            return
        if not self.active:
            return
        kind = self.cycle.get(number % CYCLE)
        if kind is None:
            return
        name, inject = kind
        self.injected[name] += 1
        inject()
        if name in ("near timeout", "too late"):
            self.slow_for = NEAR_TIMEOUT if name == "near timeout" else TOO_LATE
            self.p4.delay = self.slow_for
            self.slow.set()


@asynccontextmanager
async def home_assistant(
    async_test_recorder: Any, config_dir: str
) -> AsyncIterator[HomeAssistant]:
    """A running Home Assistant with the recorder on the test database."""
    async with async_test_home_assistant(config_dir=config_dir) as hass:
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
        await hass.config.async_set_time_zone("Europe/Amsterdam")
        async with async_test_recorder(hass):
            try:
                yield hass
            finally:
                await hass.async_stop()


def same_entry(entry: MockConfigEntry) -> MockConfigEntry:
    """The config entry as the restarted Home Assistant loads it."""
    return MockConfigEntry(
        domain=entry.domain,
        entry_id=entry.entry_id,
        unique_id=entry.unique_id,
        title=entry.title,
        data=dict(entry.data),
        options=dict(entry.options),
    )


@dataclass
class P1Check:
    """Sends telegrams between runs; the power sensor must follow the meter."""

    home: Household
    freezer: FrozenDateTimeFactory
    powers: dict[str, list[Decimal]] = field(default_factory=dict)
    phase: str = "before the restart"

    async def telegram(
        self, hass: HomeAssistant, runtime: MeterRuntime, *, idle: bool = True
    ) -> None:
        """Send a telegram; move the clock out of an hour's start if idle."""
        now = datetime.now(UTC)
        if now.minute < 6:
            # Near an hour boundary the P1 path would add an hourly reading
            # (the gas reading captured on the hour shows for five minutes).
            if not idle:
                return  # a jump now would time a request out
            jump(self.freezer, now.replace(minute=6, second=30))
        await self.home.p1.wait_for_clients(timeout=5)
        seen = runtime.counters.received
        await self.home.p1.send_now()
        await until(lambda: runtime.counters.received > seen, 5)
        await hass.async_block_till_done()
        meter = self.home.p1.meter
        power = net_power_shown(hass)
        assert power == meter.power_import_kw - meter.power_export_kw
        self.powers.setdefault(self.phase, []).append(power)


@dataclass
class Runs:
    """How each sync run ended: seconds until the next one and the state."""

    ended: list[tuple[float | None, RemoteState]] = field(default_factory=list)


@pytest.fixture
def runs() -> Generator[Runs]:
    """Record every run of RemoteSync.async_sync (the real one runs)."""
    recorded = Runs()
    original = RemoteSync.async_sync

    async def counted(self: RemoteSync) -> float | None:
        delay = await original(self)
        recorded.ended.append((delay, self.state))
        return delay

    with patch.object(RemoteSync, "async_sync", counted):
        yield recorded


@dataclass
class Soak:
    """The household, both Home Assistants in turn, and what happened."""

    recorder: Any
    config_dir: str
    freezer: FrozenDateTimeFactory
    runs: Runs
    home: Household
    faults: Faults
    p1: P1Check
    entry: MockConfigEntry
    hass: HomeAssistant | None = None
    runtime: MeterRuntime | None = None
    states: Counter[RemoteState] = field(default_factory=Counter)
    cursor_at_stop: str | None = None
    restarts: int = 0
    handled: int = 0
    _running: Any = None

    async def start(self) -> None:
        """Start Home Assistant and set the entry up."""
        self._running = home_assistant(self.recorder, self.config_dir)
        self.hass = await self._running.__aenter__()
        self.runtime = await start_entry(self.hass, self.entry)
        await self.p1.telegram(self.hass, self.runtime, idle=False)

    async def stop(self) -> None:
        """Stop Home Assistant as it stops (the entry is not unloaded)."""
        running, self._running = self._running, None
        if running is not None:
            await running.__aexit__(None, None, None)

    def _event(self) -> bool:
        return (
            len(self.runs.ended) > self.handled
            or self.faults.slow.is_set()
            or (self.faults.restarting.is_set() and not self.restarts)
        )

    async def backfill(self, half: datetime) -> None:
        """Drive the backfill to its end through the faults and the restart."""
        while True:
            # Wait for a run to end, a slow answer or the restart.
            await until(self._event, timeout=60)
            assert self.hass is not None
            assert self.runtime is not None
            remote = self.runtime.remote
            assert remote is not None
            if self.faults.restarting.is_set() and not self.restarts:
                await self.restart(remote.cursor)
                continue
            if self.faults.slow.is_set():
                # The answer comes just in time, or after the client's 30 s.
                self.faults.slow.clear()
                wait = min(self.faults.slow_for + 0.5, 31.0)
                jump(self.freezer, datetime.now(UTC) + timedelta(seconds=wait))
                continue
            delay, state = self.runs.ended[self.handled]
            self.handled += 1
            self.states[state] += 1
            await self.p1.telegram(self.hass, self.runtime)
            if remote.backfilled:
                return
            assert delay is not None, state
            covered = remote.history.covered_until()
            if not self.restarts and covered is not None and covered >= half:
                self.faults.restart_wanted = True
            jump(self.freezer, datetime.now(UTC) + timedelta(seconds=delay + 1))

    async def restart(self, cursor: str | None) -> None:
        """Stop Home Assistant while a page is on its way; start it again."""
        self.cursor_at_stop = cursor
        await self.stop()
        self.restarts += 1
        self.p1.phase = "after the restart"
        self.home.p4.delay = 0.0
        self.faults.restart_wanted = False
        self.entry = same_entry(self.entry)
        await self.start()
        assert self.runtime is not None
        assert self.runtime.remote is not None
        assert self.runtime.remote.cursor == cursor


def served_rows_equal_statistics(
    home: Household, rows: dict[Series, list[Any]]
) -> None:
    """Every hourly row equals the household's series: none missing or extra."""
    served = home.served()
    first_hour = local_midnight(FIRST_DAY)
    last_hour = local_midnight(FIRST_DAY + timedelta(days=DAYS))
    hours = int((last_hour - first_hour).total_seconds()) // 3600 + 1
    for series in SERIES:
        assert len(rows[series]) == len(served[series]) == hours
        assert rows[series] == expected_rows(served[series]), series
        assert_consistent(rows[series])


async def test_backfill_through_faults_and_a_restart(
    async_test_recorder: Any,
    hass_storage: dict[str, Any],
    freezer: FrozenDateTimeFactory,
    runs: Runs,
    tmp_path: Any,
) -> None:
    meter = default_meter(FIRST_DAY)
    p4 = P4Server(meter, history_days=DAYS, page_size=PAGE_SIZE)
    p1_meter = meter.copy()
    p1_meter.advance(datetime.now(UTC))
    p1 = P1Server(TelegramSource("nl_dsmr5_gas", p1_meter), interval=3600)
    await p4.start()
    await p1.listen()
    home = Household(meter, p4, p1, meter.equipment_id)
    soak = Soak(
        async_test_recorder,
        str(tmp_path),
        freezer,
        runs,
        home,
        Faults(p4),
        P1Check(home, freezer),
        home.entry(),
    )
    try:
        await soak.start()
        await soak.backfill(half=local_midnight(FIRST_DAY + timedelta(days=DAYS // 2)))
        # Everything is in.
        soak.faults.active = False
        hass, runtime = soak.hass, soak.runtime
        assert hass is not None
        assert runtime is not None
        assert runtime.remote is not None
        assert runtime.remote.state is RemoteState.ACTIVE
        assert runtime.remote.last_error is None
        assert state_of(hass, REMOTE_PATH) == "active"
        assert issues(hass, soak.entry.entry_id) == set()
        assert runtime.history is not None
        assert runtime.history.covered_until() == local_midnight(
            FIRST_DAY + timedelta(days=DAYS)
        )
        served_rows_equal_statistics(home, await all_rows(hass, home.equipment_id))
        # The P1 path after the faults, in the next five minutes.
        soak.p1.phase = "after the faults"
        jump(freezer, datetime.now(UTC) + timedelta(minutes=5))
        await soak.p1.telegram(hass, runtime)
    finally:
        await soak.stop()
        await p1.unlisten()
        await p4.stop()

    # Every kind of fault happened, the restart too, and they were felt.
    faults = soak.faults
    assert soak.restarts == 1
    assert set(faults.injected) == {name for name, _ in faults.cycle.values()}
    assert soak.states[RemoteState.RATE_LIMITED] >= 3
    assert soak.states[RemoteState.TEMPORARILY_UNAVAILABLE] >= 3
    assert soak.states[RemoteState.UNEXPECTED_ANSWER] >= 2, soak.states
    assert soak.states[RemoteState.UNREACHABLE] >= 1
    # After the restart it asked for the page after the stored cursor.
    assert p4.bulk_requests[faults.requests_at_restart] == soak.cursor_at_stop
    # The power sensor followed the meter (checked at every telegram) and
    # kept changing before the restart, after it and after the faults.
    powers = soak.p1.powers
    before, after = powers["before the restart"], powers["after the restart"]
    assert len(set(before)) >= 2, before
    assert len(set(after)) >= 2, after
    assert powers["after the faults"][0] != after[-1]
    print(
        f"\nremote soak: {MONTHS} months, {len(p4.bulk_requests)} requests,"
        f" faults {dict(faults.injected)},"
        f" run ends { {state.value: n for state, n in soak.states.items()} },"
        f" {sum(map(len, powers.values()))} telegrams"
    )
