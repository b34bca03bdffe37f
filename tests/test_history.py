"""The merged history: exact sums, local over remote, rewrites, removal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
import random
from typing import Any

from homeassistant.components.recorder import get_instance
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.slimme_meter.history import (
    LOCAL,
    REMOTE,
    MergedHistory,
    Series,
    SeriesHistory,
    statistic_id,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
H = timedelta(hours=1)
IMPORT = Series.ELECTRICITY_IMPORT
SID = statistic_id("E0026000030030026", IMPORT)

pytestmark = pytest.mark.recorder


@pytest.fixture
async def history(hass: HomeAssistant) -> MergedHistory:
    merged = MergedHistory(hass, "E0026000030030026", "entry")
    await merged.async_load()
    return merged


async def _rows(
    hass: HomeAssistant, sid: str = SID
) -> list[tuple[datetime, float, float]]:
    await async_wait_recording_done(hass)
    result: dict[str, list[Any]] = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        T0 - 48 * H,
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


def test_statistic_id_is_valid() -> None:
    assert statistic_id("E0026-000/ABC", Series.GAS) == "slimme_meter:e0026_000_abc_gas"


def test_series_local_wins_and_counts_disagreements() -> None:
    series = SeriesHistory()
    assert series.put(100 * 3600, 5000, REMOTE)
    assert series.put(100 * 3600, 5001, LOCAL)  # local replaces remote
    assert not series.put(100 * 3600, 5002, REMOTE)  # remote never replaces local
    assert series.disagreements == 1
    assert not series.put(100 * 3600, 5001, REMOTE)  # agreeing: no change
    assert series.disagreements == 1
    assert series.values[100 * 3600] == (5001, LOCAL)


def test_sums_rebase_on_a_lower_register() -> None:
    series = SeriesHistory()
    for hour, value in enumerate((1000, 1500, 1800, 20, 120, 120)):
        series.put(hour * 3600, value, LOCAL)
    assert [row[2] for row in series.rows()] == [0, 500, 800, 800, 900, 900]
    assert [row[1] for row in series.rows(4)] == [120, 120]


def test_kept_sums_follow_late_changed_and_dropped_readings() -> None:
    # Sums are kept between writes; every change must show as a full
    # recount would show it.
    series = SeriesHistory()
    rng = random.Random(7)
    for step in range(400):
        hour = rng.randrange(80) * 3600
        series.put(hour, rng.randrange(5_000), rng.choice((LOCAL, REMOTE)))
        if step % 97 == 96:
            series.drop_source(REMOTE)
        start = rng.randrange(len(series.hours)) if series.hours else 0
        recount = SeriesHistory.from_json(series.to_json())
        assert series.rows(start) == recount.rows(start)


async def test_write_merged_rows(hass: HomeAssistant, history: MergedHistory) -> None:
    history.record_local(IMPORT, T0 + H, Decimal("100.000"))
    history.merge_remote(IMPORT, [(T0 + 2 * H, 100_500), (T0 + 3 * H, 101_250)])
    history.merge_remote(IMPORT, [(T0 + H, 99_999)])  # local wins
    await history.async_write()
    assert await _rows(hass) == [
        (T0, 100.0, 0.0),
        (T0 + H, 100.5, 0.5),
        (T0 + 2 * H, 101.25, 1.25),
    ]
    assert history.summary()[IMPORT]["disagreements"] == 1
    assert history.covered_until() == T0 + 3 * H
    assert history.oldest() == T0 + H
    # The P1 port's newest register is the local one, not the newer remote.
    assert history.last_local(IMPORT) == int((T0 + H).timestamp())
    assert history.last_local(Series.GAS) is None  # no such series
    history.merge_remote(Series.GAS, [(T0 + H, 5_000)])
    assert history.last_local(Series.GAS) is None  # remote readings only


async def test_gap_filled_later_rewrites_later_sums(
    hass: HomeAssistant, history: MergedHistory
) -> None:
    history.merge_remote(IMPORT, [(T0 + H, 1_000), (T0 + 4 * H, 4_000)])
    await history.async_write()
    # The two hours nobody has are estimated: the gap spread evenly.
    assert await _rows(hass) == [
        (T0, 1.0, 0.0),
        (T0 + H, 2.0, 1.0),
        (T0 + 2 * H, 3.0, 2.0),
        (T0 + 3 * H, 4.0, 3.0),
    ]
    summary = history.summary()[IMPORT.value]
    assert summary["estimated"] == 2
    assert summary["estimated_hours"] == [
        [(T0 + 2 * H).isoformat(), (T0 + 3 * H).isoformat()]
    ]
    # The real hours arrive late and replace the estimates.
    history.merge_remote(IMPORT, [(T0 + 2 * H, 1_500), (T0 + 3 * H, 3_500)])
    await history.async_write()
    assert await _rows(hass) == [
        (T0, 1.0, 0.0),
        (T0 + H, 1.5, 0.5),
        (T0 + 2 * H, 3.5, 2.5),
        (T0 + 3 * H, 4.0, 3.0),
    ]
    # A late correction of one hour rewrites it and every later sum.
    history.merge_remote(IMPORT, [(T0 + 2 * H, 1_700)])
    await history.async_write()
    assert [row[2] for row in await _rows(hass)] == [0.0, 0.7, 2.5, 3.0]
    assert history.summary()[IMPORT.value]["estimated"] == 0


async def test_resync_is_idempotent(
    hass: HomeAssistant, history: MergedHistory
) -> None:
    readings = [(T0 + i * H, 1_000 + 250 * i) for i in range(1, 25)]
    assert history.merge_remote(IMPORT, readings) == 24
    await history.async_write()
    first = await _rows(hass)
    assert history.merge_remote(IMPORT, readings) == 0
    await history.async_write()
    assert await _rows(hass) == first
    assert len(first) == 24
    assert first[-1][2] == pytest.approx(5.75)


async def test_remove_remote_keeps_local(
    hass: HomeAssistant, history: MergedHistory
) -> None:
    history.merge_remote(IMPORT, [(T0 + H, 1_000), (T0 + 2 * H, 2_000)])
    history.record_local(IMPORT, T0 + 3 * H, Decimal("2.500"))
    history.record_local(IMPORT, T0 + 4 * H, Decimal("3.000"))
    await history.async_write()
    assert len(await _rows(hass)) == 4
    assert await history.async_remove_remote() == 2
    assert await _rows(hass) == [(T0 + 2 * H, 2.5, 0.0), (T0 + 3 * H, 3.0, 0.5)]


async def test_history_survives_a_restart(
    hass: HomeAssistant, history: MergedHistory
) -> None:
    history.merge_remote(Series.GAS, [(T0 + H, 10_000), (T0 + 2 * H, 10_250)])
    history.record_local(Series.GAS, T0 + 3 * H, Decimal("10.300"))
    await history.async_write()
    await history.async_save()
    again = MergedHistory(hass, "E0026000030030026", "entry")
    await again.async_load()
    assert again.series[Series.GAS].values == history.series[Series.GAS].values
    assert again.summary()[Series.GAS]["local"] == 1
    assert again.summary()[Series.GAS]["remote"] == 2
