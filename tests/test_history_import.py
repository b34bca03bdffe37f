"""Importing another integration's statistics into the merged history."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.slimme_meter import history_import
from custom_components.slimme_meter.history import (
    HOUR,
    IMPORTED,
    LOCAL,
    REMOTE,
    MergedHistory,
    Series,
    SeriesHistory,
    statistic_id,
)
from custom_components.slimme_meter.history_import import (
    SourceError,
    SourceRows,
    async_apply,
    async_candidates,
    async_plan,
    async_read_source,
    async_remove,
    plan,
)

from .import_helpers import DSMR_SENSOR, H, add_external, compile_dsmr_sensor, read_rows

METER = "E0026000030030026"
IMPORT = Series.ELECTRICITY_IMPORT
SID = statistic_id(METER, IMPORT)
# The night the clocks go forward in the Netherlands (2026-03-29 02:00 CET).
SPRING = datetime(2026, 3, 28, 20, tzinfo=UTC)
# The night they go back (2026-10-25 03:00 CEST).
AUTUMN = datetime(2026, 10, 24, 18, tzinfo=UTC)

pytestmark = [pytest.mark.recorder, pytest.mark.usefixtures("home_zone")]


@pytest.fixture
async def history(hass: HomeAssistant) -> MergedHistory:
    merged = MergedHistory(hass, METER, "entry")
    await merged.async_load()
    return merged


def _end(start: datetime, hour: int) -> datetime:
    """The end of hour ``hour`` counted from ``start``."""
    return start + (hour + 1) * H


def _expected(
    start: datetime, values: dict[int, float]
) -> list[tuple[datetime, float, float]]:
    """Rows as the merged history must show them: registers and their sum."""
    rows = []
    total = 0.0
    previous: float | None = None
    for hour in sorted(values):
        value = values[hour]
        if previous is not None and value > previous:
            total += value - previous
        previous = value
        rows.append((start + hour * H, value, total))
    return rows


def _close(
    actual: list[tuple[datetime, float, float]],
    expected: list[tuple[datetime, float, float]],
) -> None:
    assert [row[0] for row in actual] == [row[0] for row in expected]
    for got, want in zip(actual, expected, strict=True):
        assert got[1:] == pytest.approx(want[1:], abs=1e-6), got[0]


async def test_dsmr_import_then_remote_then_local_is_the_union(
    hass: HomeAssistant, history: MergedHistory
) -> None:
    """Core dsmr's compiled statistics, then the grid operator, then the port."""
    registers = [1000 + 0.5 * hour + (0.25 if hour > 12 else 0) for hour in range(30)]
    await compile_dsmr_sensor(hass, SPRING, registers)
    source = await read_rows(hass, DSMR_SENSOR)
    assert len(source) == 30  # compiled by the recorder from the states
    assert source[-1][2] == pytest.approx(registers[-1] - registers[0])
    # We have read the port since hour 25 (the same meter).
    for hour in range(25, 30):
        history.record_local(IMPORT, _end(SPRING, hour), Decimal(str(registers[hour])))
    await history.async_write()

    plans = await async_plan(hass, history, {IMPORT: DSMR_SENSOR})
    preview = plans[0]
    assert (preview.added, preview.overlapping, preview.disagreeing) == (25, 5, 0)
    assert preview.first == int(_end(SPRING, 0).timestamp())
    assert preview.register
    assert not preview.mismatch
    assert preview.join is not None
    assert preview.join.source == preview.join.ours
    assert preview.drops == []
    assert await async_apply(history, plans) == 25

    # The grid operator's readings for hours 5 to 8 differ: they win over
    # the imported ones; a local reading wins over both.
    remote = {hour: registers[hour] + 2 for hour in range(5, 9)}
    history.merge_remote(
        IMPORT,
        [(_end(SPRING, hour), round(value * 1000)) for hour, value in remote.items()],
    )
    history.record_local(IMPORT, _end(SPRING, 6), Decimal(str(registers[6])))
    for hour in range(30, 33):
        registers.append(registers[-1] + 0.5)
        history.record_local(IMPORT, _end(SPRING, hour), Decimal(str(registers[hour])))
    await history.async_write()

    union = {hour: registers[hour] for hour in range(33)}
    union.update({hour: value for hour, value in remote.items() if hour != 6})
    rows = await read_rows(hass, SID)
    _close(rows, _expected(SPRING, union))
    series = history.series[IMPORT]
    assert series.values[int(_end(SPRING, 6).timestamp())][1] == LOCAL
    assert series.values[int(_end(SPRING, 7).timestamp())][1] == REMOTE
    assert series.values[int(_end(SPRING, 9).timestamp())][1] == IMPORTED
    # The spring day has 23 hours; the hours held are the UTC hours.
    local_day = [
        row
        for row in rows
        if dt_util.as_local(row[0]).date() == datetime(2026, 3, 29).date()
    ]
    assert len(local_day) == 23
    assert history.summary()[IMPORT]["imported"] == 25 - 4


def _homewizard_rows() -> tuple[list[tuple[datetime, float, float]], list[float]]:
    """A HomeWizard-like source in Wh over the autumn night; the meter is
    replaced after hour 10 (its register starts again near zero)."""
    rows = []
    registers = []
    total = 0.0
    register = 5_000_000.0
    for hour in range(48):
        used = 300.0 + 10 * (hour % 5)
        if hour == 11:
            register = 100.0  # the new meter
        else:
            register += used
            total += used if hour else 0
        registers.append(register)
        rows.append((AUTUMN + hour * H, register, total))
    return rows, registers


async def test_homewizard_in_wh_with_a_replaced_meter(
    hass: HomeAssistant, history: MergedHistory
) -> None:
    rows, registers = _homewizard_rows()
    add_external(hass, "homewizard_like:p1_import", "Wh", rows, unit_class="energy")
    # We read the new meter from hour 40 on; at hour 42 our reading is 0.2 kWh
    # higher than the source's (hours 42 and 43 disagree).
    ours = {hour: registers[hour] / 1000 for hour in range(40, 48)}
    ours[42] += 0.2
    for hour, value in ours.items():
        history.record_local(IMPORT, _end(AUTUMN, hour), Decimal(f"{value:.3f}"))
    await history.async_write()
    before = await read_rows(hass, SID)

    plans = await async_plan(hass, history, {IMPORT: "homewizard_like:p1_import"})
    preview = plans[0]
    assert preview.drops == [int(_end(AUTUMN, 11).timestamp())]
    assert (preview.added, preview.overlapping, preview.disagreeing) == (40, 8, 2)
    assert preview.largest_difference == 200
    assert preview.join is not None
    assert preview.join.matches
    answer = preview.as_dict()
    assert answer["hours_added"] == 40
    assert answer["largest_difference"] == pytest.approx(0.2)
    assert answer["unit"] == "kWh"
    assert answer["first"] == AUTUMN.isoformat()
    assert answer["register_drops"] == [_end(AUTUMN, 11).isoformat()]
    assert answer["join"]["matches"] is True

    assert await async_apply(history, plans) == 40
    merged = await read_rows(hass, SID)
    assert len(merged) == 48
    # Continuous across the replaced meter and the switch: the source's
    # consumption up to hour 40, ours after.
    source_sums = [row[2] / 1000 for row in rows]
    for hour in range(41):
        assert merged[hour][2] == pytest.approx(source_sums[hour], abs=1e-6)
    our_rows = _expected(AUTUMN, ours)
    for hour in range(40, 48):
        assert merged[hour][1] == pytest.approx(ours[hour])
        assert merged[hour][2] - merged[40][2] == pytest.approx(
            our_rows[hour - 40][2], abs=1e-6
        )
    assert min(row[2] for row in merged) == 0
    # The autumn day has 25 hours.
    day = [r for r in merged if dt_util.as_local(r[0]).date().day == 25]
    assert len(day) == 25
    # The source's statistics stay as they were.
    assert [row[2] for row in await read_rows(hass, "homewizard_like:p1_import")] == [
        pytest.approx(row[2]) for row in rows
    ]

    # Idempotent: a second run changes nothing.
    again = await async_plan(hass, history, {IMPORT: "homewizard_like:p1_import"})
    assert again[0].readings == preview.readings
    assert await async_apply(history, again) == 0
    assert await read_rows(hass, SID) == merged

    # Undo: what was imported goes, our own rows are as before.
    assert await async_remove(history) == 40
    _close(await read_rows(hass, SID), before)
    assert await async_remove(history) == 0


async def test_another_meter_at_the_join_is_a_mismatch(
    hass: HomeAssistant, history: MergedHistory
) -> None:
    add_external(
        hass,
        "other:gas",
        "L",
        [(SPRING + hour * H, 7_000_000 + 100 * hour, 100 * hour) for hour in range(6)],
        unit_class="volume",
    )
    history.record_local(Series.GAS, _end(SPRING, 8), Decimal("1234.000"))
    await async_wait_recording_done(hass)
    preview = (await async_plan(hass, history, {Series.GAS: "other:gas"}))[0]
    # No hour in common: the source's register was far above ours.
    assert preview.join is not None
    assert (preview.join.source, preview.join.ours) == (7_000_500, 1_234_000)
    assert preview.mismatch
    assert preview.overlapping == 0
    # The gap carries nothing; the source's own consumption stays.
    assert [value for _, value in preview.readings][-1] == 1_234_000
    assert preview.readings[0][1] == 1_234_000 - 500


def test_plan_of_runs_between_and_after_our_hours() -> None:
    ours = SeriesHistory()
    for hour, value in ((10, 5_000), (20, 6_000)):
        ours.put(hour * HOUR, value, LOCAL)
    source = SourceRows("x:y")
    for hour in (8, 9, 10, 12, 13, 22, 23):
        source.hours.append(hour * HOUR)
        source.sums[hour * HOUR] = hour * 100
    result = plan(IMPORT, source, ours)
    assert result.readings == [
        (8 * HOUR, 4_800),  # joins hour 10, which the source has
        (9 * HOUR, 4_900),
        (12 * HOUR, 6_000 - 100),  # joins hour 20, which it lacks
        (13 * HOUR, 6_000),
        (22 * HOUR, 6_000),  # after all of ours: goes on from hour 20
        (23 * HOUR, 6_100),
    ]
    assert result.join is None  # no state: nothing to compare
    assert not result.register
    # Nothing of our own: the source's sum, ending on its register.
    source.states = dict.fromkeys(source.hours, 9000)
    alone = plan(IMPORT, source, SeriesHistory())
    assert alone.readings[-1] == (23 * HOUR, 9_000)
    assert alone.register
    assert alone.join is None
    assert plan(IMPORT, SourceRows("x:y"), ours).readings == []
    # A state only after our first hour: nothing to compare at the join.
    source.states = {23 * HOUR: 9_000}
    assert plan(IMPORT, source, ours).join is None


def test_a_daily_utility_meter_is_no_register() -> None:
    source = SourceRows("utility_meter:daily")
    for hour in range(24 * 40):
        end = (hour + 1) * HOUR
        source.hours.append(end)
        source.sums[end] = hour * 100
        source.states[end] = (hour % 24) * 100
    ours = SeriesHistory()
    ours.put(24 * 41 * HOUR, 1_000_000, LOCAL)
    result = plan(IMPORT, source, ours)
    assert len(result.drops) == 39
    assert not result.register
    assert result.join is None


async def test_candidates_and_unusable_sources(hass: HomeAssistant) -> None:
    add_external(hass, "homewizard_like:p1_import", "Wh", [(SPRING, 1.0, 0.0)])
    add_external(hass, "other:water", "L", [(SPRING, 1.0, 0.0)])
    add_external(hass, "other:gas_ft3", "ft³", [(SPRING, 1.0, 0.0)])
    add_external(hass, "other:temperature", "°C", [(SPRING, 1.0, 0.0)])
    add_external(hass, "other:energy_mean", "kWh", [(SPRING, 1.0, 0.0)], has_sum=False)
    history = MergedHistory(hass, METER, "entry")
    history.record_local(Series.GAS, _end(SPRING, 1), Decimal("1.000"))
    await history.async_write()
    await read_rows(hass, SID)
    found = await async_candidates(hass)
    assert [c.statistic_id for c in found[IMPORT]] == ["homewizard_like:p1_import"]
    assert found[IMPORT][0].unit == "Wh"
    assert [c.statistic_id for c in found[Series.WATER]] == [
        "other:gas_ft3",
        "other:water",
    ]  # our own statistics are never offered
    with pytest.raises(SourceError) as err:
        await async_read_source(hass, IMPORT, "other:water")
    assert err.value.key == "import_source_unit"
    with pytest.raises(SourceError) as err:
        await async_read_source(hass, IMPORT, "other:energy_mean")
    assert err.value.key == "import_source_no_sum"
    with pytest.raises(SourceError) as err:
        await async_read_source(hass, IMPORT, "other:nothing")
    assert (err.value.key, err.value.statistic_id) == (
        "import_source_missing",
        "other:nothing",
    )
    ft3 = await async_read_source(hass, Series.GAS, "other:gas_ft3")
    assert ft3.states == {int(SPRING.timestamp()) + HOUR: 28}  # 1 ft³ = 28.3 L
    assert {"L", "m³"} <= history_import.CONVERTERS[Series.WATER].VALID_UNITS


async def test_imported_hours_survive_a_restart_and_can_be_removed_then(
    hass: HomeAssistant, history: MergedHistory
) -> None:
    history.record_local(Series.WATER, _end(SPRING, 3), Decimal("10.000"))
    history.merge_imported(
        Series.WATER, [(int(_end(SPRING, h).timestamp()), 9_000 + h) for h in range(3)]
    )
    await history.async_write()
    await history.async_save()
    again = MergedHistory(hass, METER, "entry")
    await again.async_load()
    assert again.summary()[Series.WATER]["imported"] == 3
    assert await async_remove(again) == 3
    _close(
        await read_rows(hass, statistic_id(METER, Series.WATER)),
        [(SPRING + 3 * H, 10.0, 0.0)],
    )
