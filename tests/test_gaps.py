"""No spikes: hours no path has are estimated, never piled onto one hour.

A simulated household feeds both paths; the real recorder keeps the
statistics. Each case leaves hours that neither the grid operator nor the P1
port has, and checks that no hour's step exceeds the largest real hourly step
of its series by more than a small factor, that the totals stay exact, and
that real readings replace the estimates when they arrive. Each test records
the largest step the history had before estimation (the whole gap in the
hour after it) and has now, as test properties.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest

from custom_components.slimme_meter.history import Series
from custom_components.slimme_meter.remote.api import RemoteState
from custom_components.slimme_meter.runtime import MeterRuntime

from .remote_helpers import (
    AMS,
    FIRST_DAY,
    SERIES,
    SyncRuns,
    Values,
    all_rows,
    assert_consistent,
    expected_rows,
    household,
    jump,
    largest_delta,
    start,
)

pytestmark = [
    pytest.mark.recorder,
    pytest.mark.usefixtures("socket_enabled", "home_zone", "steady_link"),
]
FACTOR = 1.5  # an estimated hour stays below 1.5 times the largest real hour


def known(runtime: MeterRuntime) -> dict[Series, Values]:
    """The real readings the history holds (either path), per series."""
    assert runtime.history is not None
    return {
        series: {
            hour: value
            for hour, (value, _) in runtime.history.series[series].values.items()
        }
        for series in SERIES
    }


async def check_no_spikes(
    hass: HomeAssistant,
    runtime: MeterRuntime,
    meter: str,
    record: Callable[[str, object], None],
) -> None:
    """Rows hold the real readings and estimates; no spike; totals exact."""
    rows = await all_rows(hass, meter)
    for series, values in known(runtime).items():
        assert rows[series] == expected_rows(values), series
        assert_consistent(rows[series])
        pairs = list(pairwise(sorted(values)))
        real = max(values[b] - values[a] for a, b in pairs if b - a == 3600)
        # Before: the hour after each gap carried all of it.
        before = max(values[b] - values[a] for a, b in pairs)
        after = round(largest_delta(rows[series]) * 1000)
        assert after <= FACTOR * real, (series, after, real)
        first, last = min(values), max(values)
        assert round(rows[series][-1][2] * 1000) == values[last] - values[first]
        record(
            f"{series.value}_largest_step",
            f"real {real}, before {before}, after {after} (thousandths)",
        )


@pytest.mark.freeze_time("2025-01-09T10:30:00+00:00", tick=True)
async def test_a_day_without_interval_readings(
    hass: HomeAssistant,
    runs: SyncRuns,
    record_property: Callable[[str, object], None],
) -> None:
    """The grid operator has only the day readings of one day."""
    async with household() as home:
        gap_day = FIRST_DAY + timedelta(days=1)
        home.p4.feed[:] = [
            entry
            for entry in home.p4.feed
            if not (entry.kind == "interval" and entry.day == gap_day)
        ]
        entry = home.entry()
        runtime = await start(hass, entry)
        await runs.wait(1)
        assert runtime.remote_state is RemoteState.ACTIVE
        assert runtime.history is not None
        summary = runtime.history.summary()
        for series in SERIES:
            # The day's midnights are known (day readings), its 23 hours not.
            assert summary[series.value]["estimated"] == 23
        await check_no_spikes(hass, runtime, home.equipment_id, record_property)


@pytest.mark.freeze_time("2025-01-19T18:59:00+00:00", tick=True)
async def test_ten_days_after_read_out_was_switched_off(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    runs: SyncRuns,
    record_property: Callable[[str, object], None],
) -> None:
    """Remote readings end; ten days later the P1 port is read for the first time."""
    async with household() as home:
        home.p4.reject("038", standing=True)
        entry = home.entry()
        runtime = await start(hass, entry)
        await runs.wait(1)
        assert runtime.remote_state is RemoteState.READOUT_SWITCHED_OFF
        for hour in (19, 20):
            jump(freezer, datetime(2025, 1, 19, hour, 0, 20, tzinfo=UTC))
            await home.send(hass, entry)
        assert runtime.history is not None
        summary = runtime.history.summary()
        for series in SERIES:
            # 9 January 00:00 (local) to 19 January 19:00 UTC: 259 hours between.
            assert summary[series.value]["estimated"] == 259, series
            assert summary[series.value]["local"] == 2
        await check_no_spikes(hass, runtime, home.equipment_id, record_property)


@pytest.mark.freeze_time("2025-01-09T18:00:10+00:00", tick=True)
async def test_first_install_in_the_evening(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    runs: SyncRuns,
    record_property: Callable[[str, object], None],
) -> None:
    """Installed at 19:00: the day so far is estimated until the operator has it."""
    async with household() as home:
        entry = home.entry()
        runtime = await start(hass, entry)
        await runs.wait(1)
        await home.send(hass, entry)  # 19:00 local: the first local hour
        jump(freezer, datetime(2025, 1, 9, 19, 0, 20, tzinfo=UTC))
        await home.send(hass, entry)
        assert runtime.history is not None
        summary = runtime.history.summary()
        for series in SERIES:
            assert summary[series.value]["estimated"] == 18  # 01:00 to 18:00
            assert summary[series.value]["local"] == 2
        await check_no_spikes(hass, runtime, home.equipment_id, record_property)

        # The next morning the grid operator delivers the day: no estimate left.
        home.p4.add_days(1)
        jump(freezer, datetime(2025, 1, 10, 7, 31, tzinfo=AMS))
        await runs.wait(2)
        summary = runtime.history.summary()
        for series in SERIES:
            assert summary[series.value]["estimated"] == 0
        rows = await all_rows(hass, home.equipment_id)
        for series, values in known(runtime).items():
            assert rows[series] == expected_rows(values)
