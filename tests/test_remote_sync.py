"""The remote path through Home Assistant: backfill, daily sync, every state.

A simulated P4 consent API serves the household's grid-operator readings over
loopback HTTP; the real recorder keeps the statistics. Time starts at a fixed
moment and runs (freezegun with tick); jumps forward fire the sync's timers.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.slimme_meter.diagnostics import (
    async_get_config_entry_diagnostics,
)
from custom_components.slimme_meter.history import WRITE_CHUNK, MergedHistory, Series
from custom_components.slimme_meter.remote.api import RemoteState
from custom_components.slimme_meter.remote.p4 import OLDEST_CURSOR
from simulators.p4_data import local_midnight

from .helpers import state_of, until
from .remote_helpers import (
    AMS,
    COVERED_UNTIL,
    DAYS,
    FIRST_DAY,
    HISTORY_START,
    HOUR,
    LAST_SYNC,
    PATH,
    REMOTE_PATH,
    SERIES,
    START,
    Household,
    SyncRuns,
    all_rows,
    assert_consistent,
    expected_rows,
    household,
    issues,
    jump,
    start,
    sync_now,
)

pytestmark = [
    pytest.mark.freeze_time(START, tick=True),
    pytest.mark.recorder,
    pytest.mark.usefixtures("socket_enabled", "home_zone", "steady_link"),
]


def registers(home: Household) -> dict[Series, dict[int, int]]:
    """The household's registers at every whole hour the history covers."""
    first = local_midnight(home.p4.days[0].day)
    last = local_midnight(home.p4.days[-1].day + timedelta(days=1))
    values: dict[Series, dict[int, int]] = {series: {} for series in SERIES}
    for reading in home.meter.hourly_registers(first, last):
        epoch = int(reading.time.timestamp())
        values[Series.ELECTRICITY_IMPORT][epoch] = int(reading.import_total_kwh * 1000)
        values[Series.ELECTRICITY_EXPORT][epoch] = int(reading.export_total_kwh * 1000)
        assert reading.gas_m3 is not None
        values[Series.GAS][epoch] = int(reading.gas_m3 * 1000)
    return values


async def test_backfill_on_first_link(
    hass: HomeAssistant, runs: SyncRuns, hass_storage: dict[str, Any]
) -> None:
    async with household() as home:
        events = async_capture_events(hass, EVENT_STATE_CHANGED)
        entry = home.entry()
        runtime = await start(hass, entry)
        await runs.wait(1)
        remote = runtime.remote
        assert remote is not None
        assert remote.state is RemoteState.ACTIVE

        # Every hour of the three days, for the three registers.
        expected = registers(home)
        rows = await all_rows(hass, home.equipment_id)
        for series in SERIES:
            assert len(expected[series]) == DAYS * 24 + 1
            assert rows[series] == expected_rows(expected[series])
            assert_consistent(rows[series])
        first = local_midnight(FIRST_DAY)
        last = local_midnight(FIRST_DAY + timedelta(days=DAYS))
        assert rows[Series.GAS][0][0] == first - HOUR
        assert rows[Series.GAS][-1][0] == last - HOUR

        assert state_of(hass, HISTORY_START) == first.isoformat()
        assert state_of(hass, COVERED_UNTIL) == last.isoformat()
        assert remote.last_sync is not None
        assert (
            state_of(hass, LAST_SYNC)
            == remote.last_sync.replace(microsecond=0).isoformat()
        )
        path = [
            event.data["new_state"].state
            for event in events
            if event.data["entity_id"] == REMOTE_PATH
        ]
        assert path == ["backfilling", "active"]

        # Three pages of four objects and one empty page, each after the last.
        stamps = home.p4.bulk_requests
        assert len(stamps) == 4
        assert stamps[0] == OLDEST_CURSOR
        assert stamps[1:] == [home.p4.feed[i].stamp for i in (3, 7, 11)]
        stored = hass_storage[f"slimme_meter.remote.{entry.entry_id}"]["data"]
        assert stored == {
            "eans": remote.eans,
            "cursor": home.p4.feed[11].stamp,
            "backfilled": True,
            "last_sync": remote.last_sync.isoformat(),
            "failing_since": None,
        }
        assert issues(hass, entry.entry_id) == set()

        # The next sync is tomorrow at 07:30 local time.
        tomorrow = datetime(2025, 1, 10, 7, 30, tzinfo=AMS)
        assert len(runs.delays) == 1
        assert abs(at(runs.delays[0]) - tomorrow) < timedelta(seconds=2)


async def no_request_for_a_moment(home: Household, count: int) -> None:
    """Let the loop run a little; the simulator must see no new request."""
    for _ in range(6):
        await asyncio.sleep(0.005)
    assert len(home.p4.requests) == count


def at(delay: float | None) -> datetime:
    """The moment a run's delay ends, counted from now."""
    assert delay is not None
    return datetime.now(UTC) + timedelta(seconds=delay)


async def test_backfill_resumes_from_the_stored_cursor(
    hass: HomeAssistant, runs: SyncRuns, hass_storage: dict[str, Any]
) -> None:
    async with household() as home:
        # The third page fails: two pages (two days) are in, then a restart.
        home.p4.before_request = lambda n: home.p4.unavailable() if n == 3 else None
        entry = home.entry()
        runtime = await start(hass, entry)
        await runs.wait(1)
        assert runtime.remote_state is RemoteState.TEMPORARILY_UNAVAILABLE
        assert state_of(hass, REMOTE_PATH) == "temporarily_unavailable"
        assert runs.delays == [60.0]  # a failed page is tried again soon
        key = f"slimme_meter.remote.{entry.entry_id}"
        assert hass_storage[key]["data"]["cursor"] == home.p4.feed[7].stamp
        assert hass_storage[key]["data"]["backfilled"] is False
        expected = registers(home)
        two_days = int(local_midnight(FIRST_DAY + timedelta(days=2)).timestamp())
        rows = await all_rows(hass, home.equipment_id)
        for series in SERIES:
            part = {h: v for h, v in expected[series].items() if h <= two_days}
            assert rows[series] == expected_rows(part)

        assert await hass.config_entries.async_unload(entry.entry_id)
        requests = len(home.p4.bulk_requests)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        await runs.wait(2)
        runtime = entry.runtime_data
        assert runtime.remote_state is RemoteState.ACTIVE
        # It went on after the stored cursor: the third page, then the end.
        assert home.p4.bulk_requests[requests:] == [
            home.p4.feed[7].stamp,
            home.p4.feed[11].stamp,
        ]
        rows = await all_rows(hass, home.equipment_id)
        for series in SERIES:
            assert rows[series] == expected_rows(expected[series])


async def test_rows_a_stopped_write_left_out_are_written_at_the_next_run(
    hass: HomeAssistant, runs: SyncRuns
) -> None:
    # One page brings 25 days: more rows per series than one recorder job.
    async with household(first_day=date(2024, 12, 14), days=25, page_size=100) as home:
        add = MergedHistory._add
        stopped: list[int] = []

        def add_then_stop(
            self: MergedHistory, series: Series, rows: list[tuple[int, int, int]]
        ) -> None:
            add(self, series, rows)
            if not stopped:
                # Home Assistant stops right after the first job was queued.
                stopped.append(len(rows))
                task = asyncio.current_task()
                assert task is not None
                task.cancel()

        entry = home.entry()
        with patch.object(MergedHistory, "_add", add_then_stop):
            await start(hass, entry)
            await until(lambda: stopped)
            assert await hass.config_entries.async_unload(entry.entry_id)
        assert stopped == [WRITE_CHUNK]
        assert runs.delays == []  # the run never finished
        rows = await all_rows(hass, home.equipment_id)
        assert sorted(len(found) for found in rows.values()) == [0, 0, WRITE_CHUNK]

        # After the restart the page is read again and changes nothing; the
        # rows left out are written all the same.
        assert await hass.config_entries.async_setup(entry.entry_id)
        await runs.wait(1)
        assert entry.runtime_data.remote_state is RemoteState.ACTIVE
        expected = registers(home)
        rows = await all_rows(hass, home.equipment_id)
        for series in SERIES:
            assert len(expected[series]) == 25 * 24 + 1 > WRITE_CHUNK
            assert rows[series] == expected_rows(expected[series])


async def test_resync_is_idempotent(hass: HomeAssistant, runs: SyncRuns) -> None:
    async with household() as home:
        entry = home.entry()
        runtime = await start(hass, entry)
        await runs.wait(1)
        remote = runtime.remote
        assert remote is not None
        first = await all_rows(hass, home.equipment_id)
        imported = remote.readings_imported
        assert imported == 3 * (DAYS * 24 + 1)

        for count in (2, 3):
            await sync_now(hass, entry.entry_id)
            await runs.wait(count)
            assert await all_rows(hass, home.equipment_id) == first
        # Each sync asked once, after the stored cursor, and found nothing.
        assert home.p4.bulk_requests[-2:] == [home.p4.feed[-1].stamp] * 2

        # Starting over imports every page again: nothing changes.
        await remote.async_forget()
        remote.request_sync()
        await runs.wait(4)
        assert home.p4.bulk_requests[-4] == OLDEST_CURSOR
        assert await all_rows(hass, home.equipment_id) == first
        assert remote.readings_imported == imported
        assert remote.state is RemoteState.ACTIVE


async def test_late_correction_rewrites_the_corrected_hours(
    hass: HomeAssistant, runs: SyncRuns
) -> None:
    async with household() as home:
        entry = home.entry()
        await start(hass, entry)
        await runs.wait(1)
        before = await all_rows(hass, home.equipment_id)

        corrected = FIRST_DAY + timedelta(days=1)
        home.p4.correct(corrected)
        await sync_now(hass, entry.entry_id)
        await runs.wait(2)
        after = await all_rows(hass, home.equipment_id)
        served = home.served()
        day_start = local_midnight(corrected)
        day_end = local_midnight(corrected + timedelta(days=1))
        for series in SERIES:
            assert after[series] == expected_rows(served[series])
            assert_consistent(after[series])
            changed = [
                old[0]
                for old, new in zip(before[series], after[series], strict=True)
                if old != new
            ]
            assert changed, series
            # Only hours of the corrected day changed (its 00:00 ends stay).
            assert all(day_start <= start < day_end - HOUR for start in changed)
            assert after[series][-1] == before[series][-1]


async def test_readings_without_values_are_skipped(
    hass: HomeAssistant, runs: SyncRuns
) -> None:
    async with household() as home:
        blank_day = FIRST_DAY + timedelta(days=1)
        home.p4.blank(blank_day)  # four items in the middle of the day
        runtime = await start(hass, home.entry())
        assert runtime.history is not None
        await runs.wait(1)
        noon = datetime(2025, 1, 7, 12, tzinfo=AMS)
        missing = {
            Series.ELECTRICITY_IMPORT: [noon],  # 12:00-12:45: one whole hour
            Series.ELECTRICITY_EXPORT: [noon],
            Series.GAS: [noon + i * HOUR for i in range(4)],  # hourly items
        }
        expected = registers(home)
        rows = await all_rows(hass, home.equipment_id)
        for series in SERIES:
            gone = {int(moment.timestamp()) for moment in missing[series]}
            kept = {h: v for h, v in expected[series].items() if h not in gone}
            assert rows[series] == expected_rows(kept)
            # The missing hours are there, estimated; diagnostics list them.
            starts = [row[0] for row in rows[series]]
            for moment in missing[series]:
                assert moment - HOUR in starts
            summary = runtime.history.summary()[series.value]
            assert summary["estimated"] == len(missing[series])
            (first, last) = summary["estimated_hours"][0]
            assert datetime.fromisoformat(first) == missing[series][0]
            assert datetime.fromisoformat(last) == missing[series][-1]
            # No zero, no dip, and no hour carries the gap.
            assert all(row[1] > 0 for row in rows[series])
            sums = [row[2] for row in rows[series]]
            assert sums == sorted(sums)


@pytest.mark.parametrize(
    ("sunday", "hours"),
    [
        pytest.param(
            date(2025, 3, 30),
            23,
            marks=pytest.mark.freeze_time("2025-03-29T10:30:00+00:00", tick=True),
            id="spring",
        ),
        pytest.param(
            date(2025, 10, 26),
            25,
            marks=pytest.mark.freeze_time("2025-10-25T10:30:00+00:00", tick=True),
            id="autumn",
        ),
    ],
)
async def test_dst_days(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    runs: SyncRuns,
    sunday: date,
    hours: int,
) -> None:
    # Saturday morning; the grid operator has delivered up to Friday.
    async with household(first_day=sunday - timedelta(days=3), days=2) as home:
        await start(hass, home.entry())
        await runs.wait(1)

        # The daily sync runs at 07:30 local time on the Sunday the clocks
        # change, not an hour early or late.
        due = datetime.combine(sunday, time(7, 30), AMS)
        assert abs(at(runs.delays[0]) - due) < timedelta(seconds=2)
        home.p4.add_days(1)  # Saturday
        requests = len(home.p4.requests)
        jump(freezer, due - timedelta(minutes=1))
        await no_request_for_a_moment(home, requests)
        jump(freezer, due + timedelta(minutes=1))
        await runs.wait(2)
        assert len(home.p4.requests) == requests + 2  # the new day, then the end

        # The Sunday itself has 23 or 25 hours, each on its own UTC hour.
        home.p4.add_days(1)
        assert home.p4.dst_days == {sunday: hours * 4 + 1}
        monday = datetime.combine(sunday + timedelta(days=1), time(7, 30), AMS)
        assert abs(at(runs.delays[1]) - monday) < timedelta(seconds=2)
        jump(freezer, monday + timedelta(minutes=1))
        await runs.wait(3)
        expected = registers(home)
        rows = await all_rows(hass, home.equipment_id)
        begin = local_midnight(sunday)
        end = local_midnight(sunday + timedelta(days=1))
        assert end - begin == timedelta(hours=hours)
        for series in SERIES:
            assert rows[series] == expected_rows(expected[series])
            assert_consistent(rows[series])
            day = [row for row in rows[series] if begin <= row[0] < end]
            assert len(day) == hours
            # Each UTC hour of the day holds the register at its end.
            for start_, state, _ in day:
                hour_end = int((start_ + HOUR).timestamp())
                assert state == expected[series][hour_end] / 1000
        local_hours = [
            (row[0] + HOUR).astimezone(AMS).hour
            for row in rows[Series.ELECTRICITY_IMPORT]
            if begin <= row[0] < end
        ]
        if hours == 23:  # 02:00 does not exist
            assert local_hours == [1, *range(3, 24), 0]
        else:  # 02:00 happens twice
            assert local_hours == [1, 2, 2, *range(3, 24), 0]


async def linked(hass: HomeAssistant, home: Household, runs: SyncRuns) -> Any:
    """Set up the entry and wait for its backfill; return the entry."""
    entry = home.entry()
    runtime = await start(hass, entry)
    await runs.wait(1)
    assert runtime.remote_state is RemoteState.ACTIVE
    return entry


async def test_readout_switched_off_stops_fetching_until_the_user_acts(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, runs: SyncRuns
) -> None:
    async with household() as home:
        entry = await linked(hass, home, runs)
        runtime = entry.runtime_data
        imported = await all_rows(hass, home.equipment_id)

        # At the next daily sync the grid operator refuses the new day.
        home.p4.reject("038", ean=home.p4.electricity_ean, day=date(2025, 1, 9))
        jump(freezer, datetime(2025, 1, 10, 7, 31, tzinfo=AMS))
        await runs.wait(2)
        assert runtime.remote_state is RemoteState.READOUT_SWITCHED_OFF
        assert state_of(hass, REMOTE_PATH) == "readout_switched_off"
        assert issues(hass, entry.entry_id) == {"readout_switched_off"}
        assert runs.delays[-1] is None  # no timer: it waits for the user
        diagnostics = await async_get_config_entry_diagnostics(hass, entry)
        assert diagnostics["remote"]["state"] == "readout_switched_off"
        assert diagnostics["remote"]["rejections"] == {"038": 1}
        assert diagnostics["remote"]["last_error"] == (
            "038: Slimme meter staat administratief uit"
        )

        # Days pass: nothing is fetched, what was imported stays.
        requests = len(home.p4.requests)
        home.p4.add_days(2)
        jump(freezer, datetime(2025, 1, 11, 7, 31, tzinfo=AMS))
        jump(freezer, datetime(2025, 1, 12, 7, 31, tzinfo=AMS))
        await no_request_for_a_moment(home, requests)
        assert await all_rows(hass, home.equipment_id) == imported
        assert issues(hass, entry.entry_id) == {"readout_switched_off"}

        # Read-out is back on and the user asks again: the new days come in.
        await sync_now(hass, entry.entry_id)
        await runs.wait(3)
        assert runtime.remote_state is RemoteState.ACTIVE
        assert issues(hass, entry.entry_id) == set()
        rows = await all_rows(hass, home.equipment_id)
        expected = registers(home)
        for series in SERIES:
            assert rows[series] == expected_rows(expected[series])
        assert rows[Series.GAS][-1][0] + HOUR == datetime(2025, 1, 10, 23, tzinfo=UTC)


async def test_every_refusal_code_raises_its_issue_until_it_recovers(
    hass: HomeAssistant, runs: SyncRuns
) -> None:
    async with household() as home:
        # Remote read-out went off after the second day, during the backfill.
        home.p4.feed[8:] = []
        home.p4.reject("038", day=FIRST_DAY + timedelta(days=2))
        entry = home.entry()
        runtime = await start(hass, entry)
        await runs.wait(1)
        assert runtime.remote_state is RemoteState.READOUT_SWITCHED_OFF
        assert issues(hass, entry.entry_id) == {"readout_switched_off"}
        assert runtime.remote is not None
        # The fetch completed: it says so, and what it imported.
        assert runtime.remote.backfilled
        assert runtime.remote.last_sync is not None
        assert state_of(hass, LAST_SYNC) not in (None, "unknown")
        diagnostics = await async_get_config_entry_diagnostics(hass, entry)
        imported = diagnostics["remote"]["imported"]
        assert set(imported) == {series.value for series in SERIES}
        assert imported["gas"]["first"] == local_midnight(FIRST_DAY).isoformat()
        assert imported["gas"]["last"] == (
            local_midnight(FIRST_DAY + timedelta(days=2)).isoformat()
        )
        assert imported["gas"]["readings"] >= 48
        # What came before stays.
        expected = registers(home)
        two_days = int(local_midnight(FIRST_DAY + timedelta(days=2)).timestamp())
        rows = await all_rows(hass, home.equipment_id)
        for series in SERIES:
            part = {h: v for h, v in expected[series].items() if h <= two_days}
            assert rows[series] == expected_rows(part)
        await sync_now(hass, entry.entry_id)
        await runs.wait(2)
        assert runtime.remote_state is RemoteState.ACTIVE
        assert runtime.remote.backfilled
        assert issues(hass, entry.entry_id) == set()

        # Then each code in turn, for the gas connection only.
        cases = [
            ("008", RemoteState.CONSENT_ENDED, "consent_ended"),
            ("040", RemoteState.CONSENT_ENDED, "consent_ended"),
            ("039", RemoteState.NOT_REMOTELY_READABLE, "not_remotely_readable"),
            ("007", RemoteState.NOT_REMOTELY_READABLE, "not_remotely_readable"),
            ("038", RemoteState.READOUT_SWITCHED_OFF, "readout_switched_off"),
        ]
        count = 2
        for code, state, kind in cases:
            home.p4.reject(code, ean=home.p4.gas_ean)
            await sync_now(hass, entry.entry_id)
            count += 1
            await runs.wait(count)
            assert runtime.remote_state is state, code
            assert state_of(hass, REMOTE_PATH) == state.value
            assert issues(hass, entry.entry_id) == {kind}
            assert runs.delays[-1] is None

            # The cause is gone and the user asks again: the issue goes.
            await sync_now(hass, entry.entry_id)
            count += 1
            await runs.wait(count)
            assert runtime.remote_state is RemoteState.ACTIVE, code
            assert issues(hass, entry.entry_id) == set()
        rejections = {code: 1 for code, *_ in cases}
        # Both connections refused during the backfill.
        assert dict(runtime.remote.rejections) == {**rejections, "038": 3}


async def test_temporary_refusals_retry_and_recover(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, runs: SyncRuns
) -> None:
    async with household() as home:
        entry = await linked(hass, home, runs)
        runtime = entry.runtime_data
        count = 1
        for code in ("009", "012", "014", "041"):
            home.p4.reject(code)
            await sync_now(hass, entry.entry_id)
            count += 1
            await runs.wait(count)
            assert runtime.remote_state is RemoteState.TEMPORARILY_UNAVAILABLE, code
            assert state_of(hass, REMOTE_PATH) == "temporarily_unavailable"
            assert issues(hass, entry.entry_id) == set()
            assert runs.delays[-1] == 60.0

            if code == "009":
                home.p4.add_days(1)  # the grid operator delivers after all
            requests = len(home.p4.requests)
            jump(freezer, at(50))
            await no_request_for_a_moment(home, requests)
            jump(freezer, at(20))
            count += 1
            await runs.wait(count)
            assert runtime.remote_state is RemoteState.ACTIVE, code
            assert runs.delays[-1] is not None
            assert runs.delays[-1] > 300  # the daily sync, tomorrow
        rows = await all_rows(hass, home.equipment_id)
        expected = registers(home)
        for series in SERIES:
            assert rows[series] == expected_rows(expected[series])
        assert rows[Series.GAS][-1][0] + HOUR == datetime(2025, 1, 9, 23, tzinfo=UTC)


async def test_service_unavailable_retries_soon_then_backs_off(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, runs: SyncRuns
) -> None:
    async with household() as home:
        entry = await linked(hass, home, runs)
        runtime = entry.runtime_data
        home.p4.unavailable(count=9)
        await sync_now(hass, entry.entry_id)
        for count in range(2, 12):
            await runs.wait(count)
            if count < 11:
                assert runtime.remote_state is RemoteState.TEMPORARILY_UNAVAILABLE
                assert state_of(hass, REMOTE_PATH) == "temporarily_unavailable"
                jump(freezer, at(runs.delays[-1]) + timedelta(seconds=1))
        assert runtime.remote_state is RemoteState.ACTIVE
        # Within 15 minutes five times, then longer, up to six hours.
        assert runs.delays[1:-1] == [
            60.0,
            120.0,
            240.0,
            480.0,
            900.0,
            1800.0,
            3600.0,
            7200.0,
            14400.0,
        ]
        assert issues(hass, entry.entry_id) == set()

        # After a success the next failure waits a minute again.
        home.p4.unavailable()
        await sync_now(hass, entry.entry_id)
        await runs.wait(12)
        assert runs.delays[-1] == 60.0


async def test_refused_key_starts_reauth(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, runs: SyncRuns
) -> None:
    async with household() as home:
        entry = await linked(hass, home, runs)
        runtime = entry.runtime_data
        home.p4.refuse()
        await sync_now(hass, entry.entry_id)
        await runs.wait(2)
        await hass.async_block_till_done()
        assert runtime.remote_state is RemoteState.AUTH_FAILED
        assert state_of(hass, REMOTE_PATH) == "auth_failed"
        flows = [
            flow
            for flow in hass.config_entries.flow.async_progress()
            if flow["context"]["source"] == "reauth"
        ]
        assert len(flows) == 1
        assert flows[0]["context"]["entry_id"] == entry.entry_id
        assert flows[0]["step_id"] == "reauth_remote"
        assert issues(hass, entry.entry_id) == set()

        requests = len(home.p4.requests)
        home.p4.add_days(1)
        jump(freezer, datetime(2025, 1, 10, 7, 31, tzinfo=AMS))
        await no_request_for_a_moment(home, requests)


async def test_awaiting_rate_limited_and_unreachable_recover(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, runs: SyncRuns
) -> None:
    async with household() as home:
        entry = await linked(hass, home, runs)
        runtime = entry.runtime_data

        # Asked too early: the grid operator has no data for today yet.
        home.p4.reject("010", day=date(2025, 1, 9))
        await sync_now(hass, entry.entry_id)
        await runs.wait(2)
        assert runtime.remote_state is RemoteState.AWAITING_DATA
        assert state_of(hass, REMOTE_PATH) == "awaiting_data"
        assert issues(hass, entry.entry_id) == set()
        due = datetime(2025, 1, 10, 7, 30, tzinfo=AMS)
        assert abs(at(runs.delays[-1]) - due) < timedelta(seconds=2)
        home.p4.add_days(1)
        jump(freezer, due + timedelta(minutes=1))
        await runs.wait(3)
        assert runtime.remote_state is RemoteState.ACTIVE

        # Too many requests: it waits as long as it is asked to.
        home.p4.rate_limit(retry_after=120)
        await sync_now(hass, entry.entry_id)
        await runs.wait(4)
        assert runtime.remote_state is RemoteState.RATE_LIMITED
        assert state_of(hass, REMOTE_PATH) == "rate_limited"
        assert runs.delays[-1] == 120.0
        requests = len(home.p4.requests)
        jump(freezer, at(110))
        await no_request_for_a_moment(home, requests)
        jump(freezer, at(15))
        await runs.wait(5)
        assert runtime.remote_state is RemoteState.ACTIVE
        assert len(home.p4.requests) == requests + 1

        # The service cannot be reached; it is back at the retry.
        await home.p4.stop()
        await sync_now(hass, entry.entry_id)
        await runs.wait(6)
        assert runtime.remote_state is RemoteState.UNREACHABLE
        assert state_of(hass, REMOTE_PATH) == "unreachable"
        assert runtime.remote is not None
        assert runtime.remote.last_error is not None
        assert "cannot reach" in runtime.remote.last_error
        assert runs.delays[-1] == 60.0
        await home.p4.start()  # on the same port
        home.p4.add_days(1)
        jump(freezer, at(61))
        await runs.wait(7)
        assert runtime.remote_state is RemoteState.ACTIVE
        assert runtime.remote.last_error is None
        rows = await all_rows(hass, home.equipment_id)
        expected = registers(home)
        for series in SERIES:
            assert rows[series] == expected_rows(expected[series])
        assert rows[Series.GAS][-1][0] + HOUR == datetime(2025, 1, 10, 23, tzinfo=UTC)


def _break_second_interval(document: dict[str, Any]) -> dict[str, Any]:
    """An item without an offset in the page's second interval object."""
    document["IntervalObjects"][1]["Items"][3]["DateTimeOffset"] = "2025-01-06T01:00"
    return document


async def test_invalid_answers_import_nothing(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, runs: SyncRuns
) -> None:
    async with household() as home:
        # Cut-off JSON, an answer over 20 MiB, then a page with one bad item.
        home.p4.malformed()
        home.p4.oversized()
        home.p4.mangle(_break_second_interval)
        entry = home.entry()
        runtime = await start(hass, entry)
        assert runtime.history is not None
        for count in (1, 2, 3):
            await runs.wait(count)
            assert runtime.remote_state is RemoteState.UNEXPECTED_ANSWER
            assert state_of(hass, REMOTE_PATH) == "unexpected_answer"
            assert all(not s.hours for s in runtime.history.series.values())
            assert await all_rows(hass, home.equipment_id) == {
                series: [] for series in SERIES
            }
            jump(freezer, at(runs.delays[-1]) + timedelta(seconds=1))
        assert runs.delays[:3] == [60.0, 120.0, 240.0]
        assert runtime.remote is not None
        assert runtime.remote.last_error is not None
        await runs.wait(4)
        assert runtime.remote_state is RemoteState.ACTIVE
        expected = registers(home)
        rows = await all_rows(hass, home.equipment_id)
        for series in SERIES:
            assert rows[series] == expected_rows(expected[series])


async def test_another_meter_pauses_the_import_until_trusted(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, runs: SyncRuns
) -> None:
    # The connection's readings come from another household's meter.
    async with household(p4_seed=1) as home:
        remote_meter = home.p4.days[0].meter_id
        assert not home.equipment_id.endswith(remote_meter)
        entry = home.entry()
        runtime = await start(hass, entry)
        await runs.wait(1)
        remote = runtime.remote
        assert remote is not None
        assert remote.mismatched_meter == remote_meter
        assert issues(hass, entry.entry_id) == {"meter_mismatch"}
        issue = ir.async_get(hass).async_get_issue(
            "slimme_meter", f"meter_mismatch_{entry.entry_id}"
        )
        assert issue is not None
        assert issue.translation_placeholders == {
            "meter": "Smart meter",
            "remote_meter": remote_meter,
        }
        assert runs.delays == [None]
        assert len(home.p4.requests) == 1
        assert runtime.history is not None
        assert runtime.history.summary() == {}
        assert await all_rows(hass, home.equipment_id) == {s: [] for s in SERIES}
        diagnostics = await async_get_config_entry_diagnostics(hass, entry)
        assert diagnostics["remote"]["meter_mismatch"] is True
        # Paused, the remote path delivers nothing (and no telegram came yet).
        assert state_of(hass, PATH) == "none"

        # Paused: the daily sync time passes without a request.
        home.p4.add_days(1)
        jump(freezer, datetime(2025, 1, 10, 7, 31, tzinfo=AMS))
        await no_request_for_a_moment(home, 1)

        # The user confirms the connection is theirs: everything comes in.
        options = dict(entry.options)
        options["remote"] = {**options["remote"], "trusted_meters": [remote_meter]}
        hass.config_entries.async_update_entry(entry, options=options)
        await hass.async_block_till_done()
        await runs.wait(2)
        remote = runtime.remote
        assert remote is not None
        assert remote.mismatched_meter is None
        assert remote.state is RemoteState.ACTIVE
        assert issues(hass, entry.entry_id) == set()
        assert state_of(hass, PATH) == "remote_only"
        served = home.served()
        rows = await all_rows(hass, home.equipment_id)
        for series in SERIES:
            assert rows[series] == expected_rows(served[series])


async def test_replaced_meter_rebases_the_sums(
    hass: HomeAssistant, runs: SyncRuns
) -> None:
    async with household() as home:
        swap_day = FIRST_DAY + timedelta(days=1)
        home.p4.swap_meter(swap_day)
        old, new = home.p4.days[0].meter_id, home.p4.days[-1].meter_id
        assert old != new
        # The P1 port shows the new meter; the old one is trusted.
        entry = home.entry(
            equipment_id=home.equipment_id[:3] + new,
            remote={"trusted_meters": [old]},
        )
        await start(hass, entry)
        await runs.wait(1)
        assert entry.runtime_data.remote_state is RemoteState.ACTIVE
        served = home.served()
        swap = local_midnight(swap_day)
        rows = await all_rows(hass, entry.unique_id)
        for series in (Series.ELECTRICITY_IMPORT, Series.ELECTRICITY_EXPORT):
            assert rows[series] == expected_rows(served[series])
            assert_consistent(rows[series])
            by_start = {row[0]: row for row in rows[series]}
            before, at_swap = by_start[swap - 2 * HOUR], by_start[swap - HOUR]
            # The register restarts lower; the sum does not move that hour.
            assert at_swap[1] < before[1]
            assert at_swap[2] == before[2]
            steps = [b[2] - a[2] for a, b in pairwise(rows[series])]
            assert min(steps) >= 0
            assert max(steps) < 10  # kWh in an hour: no spike
        assert rows[Series.ELECTRICITY_IMPORT][-1][2] > 0
        # Gas has its own meter, untouched by the swap.
        assert rows[Series.GAS] == expected_rows(registers(home)[Series.GAS])


@pytest.mark.freeze_time("2025-01-09T05:00:00+00:00", tick=True)
async def test_sync_asked_for_during_a_run_is_not_lost(
    hass: HomeAssistant, runs: SyncRuns
) -> None:
    # Early morning: the next daily sync is today at 07:30.
    async with household() as home:
        entry = await linked(hass, home, runs)
        runtime = entry.runtime_data
        due = datetime(2025, 1, 9, 7, 30, tzinfo=AMS)
        assert abs(at(runs.delays[0]) - due) < timedelta(seconds=2)

        # A slow answer that fails; meanwhile the action is called again.
        home.p4.delay = 0.2
        home.p4.unavailable()
        requests = len(home.p4.requests)
        await sync_now(hass, entry.entry_id)
        await until(lambda: len(home.p4.requests) > requests)
        home.p4.delay = 0
        await sync_now(hass, entry.entry_id)
        await runs.wait(2)
        assert runs.delays[1] == 60.0
        # The second call is served right away, not at the retry.
        await runs.wait(3, timeout=2)
        assert runtime.remote_state is RemoteState.ACTIVE
