"""Both paths of one meter through Home Assistant: the merged history and the UI.

A simulated household feeds a P1 TCP server (telegrams on demand) and the P4
consent API simulator; the real recorder keeps the statistics. Time starts
at a fixed moment and runs (freezegun with tick); jumps forward cross hour
boundaries and fire the sync's timers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
import pytest

from custom_components.slimme_meter.diagnostics import (
    async_get_config_entry_diagnostics,
)
from custom_components.slimme_meter.history import MergedHistory, Series
from custom_components.slimme_meter.remote.api import RemoteState
from custom_components.slimme_meter.runtime import MeterRuntime

from .helpers import state_of, until
from .remote_helpers import (
    AMS,
    COVERED_UNTIL,
    HISTORY_START,
    HOUR,
    LOCAL_PATH,
    PATH,
    REMOTE_PATH,
    SERIES,
    START,
    Household,
    SyncRuns,
    Values,
    all_rows,
    assert_consistent,
    expected_rows,
    household,
    issues,
    jump,
    net_power_shown,
    start,
)

pytestmark = [
    pytest.mark.freeze_time(START, tick=True),
    pytest.mark.recorder,
    pytest.mark.usefixtures("socket_enabled", "home_zone", "steady_link"),
]
DOMAIN = "slimme_meter"


def p1_registers(home: Household) -> dict[Series, int]:
    """The registers the last telegram showed, in thousandths."""
    meter = home.p1.meter
    gas = meter.gas_reading
    assert gas is not None
    return {
        Series.ELECTRICITY_IMPORT: int(meter.import_total_kwh * 1000),
        Series.ELECTRICITY_EXPORT: int(meter.export_total_kwh * 1000),
        Series.GAS: int(gas.value_m3 * 1000),
    }


def registers_shown(runtime: MeterRuntime) -> tuple[Decimal | None, ...]:
    """Import and export totals of the last telegram read."""
    snapshot = runtime.snapshot
    assert snapshot is not None
    return (snapshot.total(1), snapshot.total(2))


async def call(hass: HomeAssistant, service: str, entry_id: str) -> None:
    await hass.services.async_call(
        DOMAIN, service, {"config_entry_id": entry_id}, blocking=True
    )


@pytest.mark.freeze_time("2025-01-08T10:55:00+00:00", tick=True)
async def test_local_wins_and_remote_fills_the_hours_local_lacks(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, runs: SyncRuns
) -> None:
    # The grid operator has delivered up to yesterday (6 and 7 January).
    async with household(days=2) as home:
        entry = home.entry()
        runtime: MeterRuntime = await start(hass, entry)
        await runs.wait(1)
        assert runtime.history is not None
        await home.send(hass, entry)  # 10:55: no hour boundary
        assert runtime.history.summary()["electricity_import"]["local"] == 0

        # Telegrams just after 11:00, 12:00 and 16:00: Home Assistant was
        # down from 12:00 until 16:00, and again from 16:00 overnight.
        local: dict[Series, Values] = {series: {} for series in SERIES}
        for hour in (11, 12, 16):
            boundary = datetime(2025, 1, 8, hour, tzinfo=UTC)
            jump(freezer, boundary + timedelta(seconds=30))
            await home.send(hass, entry)
            for series, value in p1_registers(home).items():
                local[series][int(boundary.timestamp())] = value
            # The gas reading in the telegram is the one captured on the hour.
            gas = home.p1.meter.gas_reading
            assert gas is not None
            assert gas.timestamp == boundary

        # Until the grid operator delivers, each local hour carries the gap
        # before it.
        served = home.served()
        rows = await all_rows(hass, home.equipment_id)
        for series in SERIES:
            assert rows[series] == expected_rows(served[series] | local[series])

        # The next morning the grid operator delivers the 8th.
        home.p4.add_days(1)
        jump(freezer, datetime(2025, 1, 9, 7, 31, tzinfo=AMS))
        await runs.wait(2)
        assert runtime.remote_state is RemoteState.ACTIVE
        served = home.served()
        rows = await all_rows(hass, home.equipment_id)
        diagnostics = await async_get_config_entry_diagnostics(hass, entry)
        for series in SERIES:
            merged = served[series] | local[series]
            assert rows[series] == expected_rows(merged)
            assert_consistent(rows[series])
            by_start = {row[0]: row[1] for row in rows[series]}
            # Where both have the hour, the hour holds the P1 register.
            for hour_end, value in local[series].items():
                start_ = datetime.fromtimestamp(hour_end, UTC) - HOUR
                assert by_start[start_] == value / 1000
            # The hours Home Assistant missed hold the grid operator's.
            for hour in (13, 14, 15, 17, 23):
                missed = datetime(2025, 1, 8, hour, tzinfo=UTC)
                value = served[series][int(missed.timestamp())]
                assert by_start[missed - HOUR] == value / 1000
            summary = diagnostics["history"][series.value]
            differ = sum(
                value != served[series][hour_end]
                for hour_end, value in local[series].items()
            )
            assert summary["local"] == 3
            assert summary["remote"] == len(served[series]) - 3
            assert summary["disagreements"] == differ
        # Half a minute of consumption shows in the electricity registers;
        # the gas reading captured on the hour is the grid operator's.
        assert diagnostics["history"]["electricity_import"]["disagreements"] > 0
        assert diagnostics["history"]["gas"]["disagreements"] == 0


async def test_active_data_path_follows_both_paths(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, runs: SyncRuns
) -> None:
    async with household() as home:
        entry = home.entry()
        runtime: MeterRuntime = await start(hass, entry)
        await runs.wait(1)
        # Connected, but no telegram yet: only the remote path delivers.
        assert state_of(hass, PATH) == "remote_only"
        await home.send(hass, entry)
        assert state_of(hass, PATH) == "local_and_remote"

        # The P1 bridge goes away.
        await home.p1.unlisten()
        await until(lambda: state_of(hass, PATH) == "remote_only")
        assert state_of(hass, LOCAL_PATH) in {"disconnected", "connecting"}
        assert state_of(hass, REMOTE_PATH) == "active"

        # And the consent service fails too.
        home.p4.unavailable()
        await call(hass, "sync_remote_history", entry.entry_id)
        await runs.wait(2)
        assert runtime.remote_state is RemoteState.TEMPORARILY_UNAVAILABLE
        assert state_of(hass, PATH) == "none"

        # The bridge is back.
        await home.p1.listen()
        await home.p1.wait_for_clients()
        await home.send(hass, entry)
        assert state_of(hass, LOCAL_PATH) == "connected"
        assert state_of(hass, PATH) == "local_only"

        # The service is back at the retry.
        jump(freezer, datetime.now(UTC) + timedelta(seconds=301))
        await runs.wait(3)
        await hass.async_block_till_done()
        assert state_of(hass, PATH) == "local_and_remote"
        assert home.p1.connections == 2


async def test_local_values_keep_flowing_whatever_the_remote_path_does(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, runs: SyncRuns
) -> None:
    async with household() as home:
        entry = home.entry()
        runtime: MeterRuntime = await start(hass, entry)
        await runs.wait(1)
        await home.send(hass, entry)
        assert state_of(hass, PATH) == "local_and_remote"
        powers = [net_power_shown(hass)]
        energy = [registers_shown(runtime)]
        moment = datetime(2025, 1, 9, 10, 30, tzinfo=UTC)
        count = 1
        faults: list[tuple[Callable[[], object], RemoteState]] = [
            (lambda: home.p4.reject("038"), RemoteState.READOUT_SWITCHED_OFF),
            (
                lambda: home.p4.unavailable(count=1000),
                RemoteState.TEMPORARILY_UNAVAILABLE,
            ),
            (lambda: home.p4.reject("008"), RemoteState.CONSENT_ENDED),
        ]
        for fault, state in faults:
            fault()
            await call(hass, "sync_remote_history", entry.entry_id)
            count += 1
            await runs.wait(count)
            assert runtime.remote_state is state
            assert state_of(hass, PATH) == "local_only"

            # New telegrams with other power and energy values keep coming.
            for _ in range(2):
                moment += timedelta(minutes=7)
                jump(freezer, moment)
                await runs.idle()  # a failing path retries meanwhile
                count = len(runs.delays)
                await home.send(hass, entry)
                power = net_power_shown(hass)
                meter = home.p1.meter
                assert power == meter.power_import_kw - meter.power_export_kw
                powers.append(power)
                energy.append(registers_shown(runtime))
                assert state_of(hass, PATH) == "local_only"
                assert runtime.remote_state is state
            if state is RemoteState.TEMPORARILY_UNAVAILABLE:
                home.p4.recover()
        assert len(set(powers)) == len(powers), powers
        assert energy == sorted(energy)
        assert len(set(energy)) == len(energy)


@pytest.mark.freeze_time("2025-01-09T10:55:00+00:00", tick=True)
async def test_remove_remote_history_keeps_local_readings(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, runs: SyncRuns
) -> None:
    async with household() as home:
        entry = home.entry()
        runtime: MeterRuntime = await start(hass, entry)
        await runs.wait(1)
        local: dict[Series, Values] = {series: {} for series in SERIES}
        for hour in (11, 12, 13):
            boundary = datetime(2025, 1, 9, hour, tzinfo=UTC)
            jump(freezer, boundary + timedelta(seconds=20))
            await home.send(hass, entry)
            for series, value in p1_registers(home).items():
                local[series][int(boundary.timestamp())] = value
        served = home.served()
        rows = await all_rows(hass, home.equipment_id)
        for series in SERIES:
            assert rows[series] == expected_rows(served[series] | local[series])
        assert state_of(hass, HISTORY_START) == "2025-01-05T23:00:00+00:00"

        await call(hass, "remove_remote_history", entry.entry_id)
        rows = await all_rows(hass, home.equipment_id)
        for series in SERIES:
            # Only the P1 readings are left; their sums start at 0 again.
            assert rows[series] == expected_rows(local[series])
            assert_consistent(rows[series])
        assert runtime.history is not None
        summary = runtime.history.summary()
        assert {series: (s["local"], s["remote"]) for series, s in summary.items()} == {
            series.value: (3, 0) for series in SERIES
        }
        assert state_of(hass, HISTORY_START) == "2025-01-09T11:00:00+00:00"
        assert state_of(hass, COVERED_UNTIL) == "2025-01-09T13:00:00+00:00"

        # Removing again finds nothing to remove and changes nothing.
        await call(hass, "remove_remote_history", entry.entry_id)
        for series, series_rows in (await all_rows(hass, home.equipment_id)).items():
            assert series_rows == expected_rows(local[series])


async def test_actions_refuse_what_they_cannot_do(
    hass: HomeAssistant, runs: SyncRuns
) -> None:
    async with household() as home:
        entry = home.entry(with_remote=False)
        await start(hass, entry)
        for service in ("sync_remote_history", "remove_remote_history"):
            with pytest.raises(ServiceValidationError) as err:
                await call(hass, service, "no_such_entry")
            assert err.value.translation_key == "entry_not_found"
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, "sync_remote_history", entry.entry_id)
        assert err.value.translation_key == "remote_not_configured"

        assert await hass.config_entries.async_unload(entry.entry_id)
        for service in ("sync_remote_history", "remove_remote_history"):
            with pytest.raises(ServiceValidationError) as err:
                await call(hass, service, entry.entry_id)
            assert err.value.translation_key == "entry_not_loaded"
        assert runs.delays == []


@pytest.mark.parametrize("with_recorder", [False])
async def test_remove_without_recorder_is_refused(
    hass: HomeAssistant, runs: SyncRuns
) -> None:
    async with household() as home:
        entry = home.entry()
        runtime: MeterRuntime = await start(hass, entry)
        # Without the recorder there is no history, so no remote path either.
        assert runtime.history is None
        assert runtime.remote is None
        assert state_of(hass, REMOTE_PATH) == "not_configured"
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, "remove_remote_history", entry.entry_id)
        assert err.value.translation_key == "no_history"
        assert home.p4.requests == []


async def test_switching_the_remote_path_off_keeps_the_p1_connection(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, runs: SyncRuns
) -> None:
    async with household() as home:
        entry = home.entry()
        runtime: MeterRuntime = await start(hass, entry)
        await runs.wait(1)
        await home.send(hass, entry)
        assert state_of(hass, PATH) == "local_and_remote"
        # Read-out was switched off: an issue is raised.
        home.p4.reject("038")
        await call(hass, "sync_remote_history", entry.entry_id)
        await runs.wait(2)
        assert issues(hass, entry.entry_id) == {"readout_switched_off"}
        remote_options = entry.options["remote"]
        cursor = runtime.remote.cursor if runtime.remote else None
        assert cursor == home.p4.feed[-1].stamp

        # The user stops importing history.
        hass.config_entries.async_update_entry(entry, options={})
        await hass.async_block_till_done()
        assert runtime.remote is None
        assert state_of(hass, REMOTE_PATH) == "not_configured"
        assert state_of(hass, PATH) == "local_only"
        assert issues(hass, entry.entry_id) == set()
        with pytest.raises(ServiceValidationError):
            await call(hass, "sync_remote_history", entry.entry_id)

        # Days pass: nothing is fetched; the P1 port was never reopened.
        requests = len(home.p4.requests)
        home.p4.add_days(1)
        jump(freezer, datetime(2025, 1, 10, 7, 31, tzinfo=AMS))
        await home.send(hass, entry)
        assert len(home.p4.requests) == requests
        assert home.p1.connections == 1
        assert entry.runtime_data is runtime  # not reloaded

        # Switched on again, it goes on where it stopped.
        hass.config_entries.async_update_entry(
            entry, options={"remote": remote_options}
        )
        await hass.async_block_till_done()
        await runs.wait(3)
        assert runtime.remote_state is RemoteState.ACTIVE
        assert home.p4.bulk_requests[requests:] == [
            cursor,
            home.p4.feed[-1].stamp,
        ]
        assert state_of(hass, PATH) == "local_and_remote"
        assert home.p1.connections == 1
        rows = await all_rows(hass, home.equipment_id)
        assert rows[Series.GAS][-1][0] + HOUR == datetime(2025, 1, 9, 23, tzinfo=UTC)


async def test_a_series_that_appears_while_the_history_is_written(
    hass: HomeAssistant,
) -> None:
    # A gas reading comes in while a remote page is being written.
    history = MergedHistory(hass, "E0012345678901234", "race")
    await history.async_load()
    first = datetime(2025, 1, 6, tzinfo=UTC)
    power = [(first + i * HOUR, 1_000_000 + 300 * i) for i in range(1, 601)]
    history.merge_remote(Series.ELECTRICITY_IMPORT, power)
    writing = asyncio.get_running_loop().create_task(history.async_write())
    await asyncio.sleep(0)  # the write yields after its first chunk
    assert not writing.done()
    history.record_local(Series.GAS, first + 601 * HOUR, Decimal("1234.567"))
    await writing
    await history.async_write()
    rows = await all_rows(hass, "E0012345678901234")
    assert rows[Series.ELECTRICITY_IMPORT] == expected_rows(
        {int(moment.timestamp()): value for moment, value in power}
    )
    assert rows[Series.GAS] == [(first + 600 * HOUR, 1234.567, 0.0)]


async def test_an_interrupted_write_is_finished_after_a_restart(
    hass: HomeAssistant,
) -> None:
    # Home Assistant stops while a long backfill page is being written.
    history = MergedHistory(hass, "E0012345678901234", "stop")
    await history.async_load()
    first = datetime(2025, 1, 6, tzinfo=UTC)
    power = {
        int((first + i * HOUR).timestamp()): 1_000_000 + 300 * i for i in range(1, 601)
    }
    history.merge_remote(
        Series.ELECTRICITY_IMPORT,
        [(datetime.fromtimestamp(h, UTC), v) for h, v in power.items()],
    )
    writing = asyncio.get_running_loop().create_task(history.async_write())
    await asyncio.sleep(0)  # the first 500 rows are queued, then it yields
    assert not writing.done()
    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writing
    await history.async_save()

    # After the restart the next write (a P1 reading) finishes the job.
    again = MergedHistory(hass, "E0012345678901234", "stop")
    await again.async_load()
    again.record_local(Series.ELECTRICITY_IMPORT, first + 601 * HOUR, "1180.300")
    await again.async_write()
    power[int((first + 601 * HOUR).timestamp())] = 1_180_300
    rows = await all_rows(hass, "E0012345678901234")
    assert rows[Series.ELECTRICITY_IMPORT] == expected_rows(power)
