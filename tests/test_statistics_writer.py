"""The bulk statistics writer: what it writes is what the recorder reads back.

Every case also writes the same batches through Home Assistant's own
``async_add_external_statistics`` to a second statistic and compares: the
bulk writer must store exactly what the recorder's import would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

from homeassistant.components.recorder import Recorder, get_instance
from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    async_add_external_statistics,
    get_last_statistics,
    get_metadata,
    statistics_during_period,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.slimme_meter import statistics_writer
from custom_components.slimme_meter.history import _HAS_UNIT_CLASS
from custom_components.slimme_meter.statistics_writer import async_write_statistics

from .remote_helpers import statistic_id_rows

T0 = datetime(2026, 3, 1, tzinfo=UTC)
H = timedelta(hours=1)
BULK = "slimme_meter:test_bulk"
CORE = "slimme_meter:test_core"

Row = tuple[datetime, float, float]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """Start the recorder before Home Assistant, as it must be."""


def _metadata(sid: str, name: str = "Test") -> StatisticMetaData:
    metadata: dict[str, Any] = {
        "has_sum": True,
        "mean_type": StatisticMeanType.NONE,
        "name": name,
        "source": "slimme_meter",
        "statistic_id": sid,
        "unit_of_measurement": "kWh",
    }
    if _HAS_UNIT_CLASS:
        metadata["unit_class"] = "energy"
    return StatisticMetaData(**metadata)  # type: ignore[typeddict-item]


def _stats(rows: list[Row]) -> list[StatisticData]:
    return [
        StatisticData(start=start, state=state, sum=total)
        for start, state, total in rows
    ]


def _write_both(hass: HomeAssistant, rows: list[Row]) -> None:
    """Write one batch with the bulk writer and with Home Assistant's import."""
    async_write_statistics(hass, _metadata(BULK), _stats(rows))
    async_add_external_statistics(hass, _metadata(CORE), _stats(rows))


async def _read_resets(hass: HomeAssistant, start: datetime) -> dict[str, list[Any]]:
    """Return the test statistic's rows from ``start`` with their last reset."""
    result: dict[str, list[Any]] = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        start,
        None,
        {BULK},
        "hour",
        None,
        {"state", "sum", "last_reset"},
    )
    return result


async def _read(hass: HomeAssistant, sid: str) -> list[Row]:
    return await statistic_id_rows(hass, sid, T0 - 48 * H)


async def _last(hass: HomeAssistant, sid: str) -> Row:
    result: dict[str, list[Any]] = await get_instance(hass).async_add_executor_job(
        get_last_statistics, hass, 1, sid, True, {"state", "sum"}
    )
    (row,) = result[sid]
    return (datetime.fromtimestamp(row["start"], UTC), row["state"], row["sum"])


async def _same_as_core(hass: HomeAssistant) -> list[Row]:
    """Return the bulk rows after checking they equal the recorder's own."""
    bulk = await _read(hass, BULK)
    assert bulk == await _read(hass, CORE)
    assert await _last(hass, BULK) == bulk[-1] == await _last(hass, CORE)
    return bulk


def _hours(first: int, count: int, base: float = 0.0) -> list[Row]:
    return [
        (T0 + (first + i) * H, base + first + i + 1.0, base + (first + i) * 0.5)
        for i in range(count)
    ]


async def test_inserts_rows(hass: HomeAssistant) -> None:
    rows = _hours(0, 30)
    _write_both(hass, rows)
    assert await _same_as_core(hass) == rows
    metadata = await get_instance(hass).async_add_executor_job(
        lambda: get_metadata(hass, statistic_ids={BULK})
    )
    meta = metadata[BULK][1]
    assert (meta["name"], meta["source"], meta["has_sum"]) == (
        "Test",
        "slimme_meter",
        True,
    )
    assert meta["unit_of_measurement"] == "kWh"


async def test_updates_existing_rows(hass: HomeAssistant) -> None:
    _write_both(hass, _hours(0, 20))
    changed = _hours(0, 20, base=100.0)
    _write_both(hass, changed)
    assert await _same_as_core(hass) == changed


async def test_batch_partly_over_existing_rows(hass: HomeAssistant) -> None:
    _write_both(hass, _hours(0, 10))
    _write_both(hass, _hours(5, 10, base=50.0))
    assert await _same_as_core(hass) == _hours(0, 5) + _hours(5, 10, base=50.0)


async def test_mixed_batch_with_gaps_and_rows_between(hass: HomeAssistant) -> None:
    """Existing rows inside the batch's range but not in it stay as they are."""
    _write_both(hass, _hours(0, 12))
    batch = _hours(2, 1, base=7.0) + _hours(6, 1, base=7.0) + _hours(12, 3, base=7.0)
    _write_both(hass, batch)
    expected = sorted({row[0]: row for row in _hours(0, 12) + batch}.values())
    assert await _same_as_core(hass) == expected


async def test_unordered_batch_and_a_repeated_hour(hass: HomeAssistant) -> None:
    """The last row of an hour wins, as it does when written one by one."""
    rows = _hours(0, 4)
    again = (rows[1][0], 99.0, 9.0)
    _write_both(hass, [rows[3], rows[1], rows[0], again, rows[2]])
    assert await _same_as_core(hass) == [rows[0], again, rows[2], rows[3]]


async def test_metadata_follows_the_latest_write(hass: HomeAssistant) -> None:
    async_write_statistics(hass, _metadata(BULK), _stats(_hours(0, 2)))
    async_write_statistics(hass, _metadata(BULK, "Renamed"), _stats(_hours(2, 2)))
    assert await _read(hass, BULK) == _hours(0, 4)
    metadata = await get_instance(hass).async_add_executor_job(
        lambda: get_metadata(hass, statistic_ids={BULK})
    )
    assert metadata[BULK][1]["name"] == "Renamed"


async def test_keeps_the_order_of_recorder_jobs(hass: HomeAssistant) -> None:
    """A clear queued between two writes removes only the first one's rows."""
    async_write_statistics(hass, _metadata(BULK), _stats(_hours(0, 5)))
    get_instance(hass).async_clear_statistics([BULK])
    async_write_statistics(hass, _metadata(BULK), _stats(_hours(10, 3)))
    assert await _read(hass, BULK) == _hours(10, 3)


async def test_local_times_are_stored_in_utc(hass: HomeAssistant) -> None:
    amsterdam = ZoneInfo("Europe/Amsterdam")
    rows = _hours(0, 3)
    local = [
        (start.astimezone(amsterdam), state, total) for start, state, total in rows
    ]
    async_write_statistics(hass, _metadata(BULK), _stats(local))
    assert await _read(hass, BULK) == rows


async def test_an_update_clears_what_the_recorder_clears(hass: HomeAssistant) -> None:
    """Mean, min, max and last reset of an existing row are set as given."""
    start = T0
    first = StatisticData(start=start, state=1.0, sum=1.0, last_reset=start - H)
    async_add_external_statistics(hass, _metadata(BULK), [first])
    async_write_statistics(hass, _metadata(BULK), _stats([(start, 2.0, 3.0)]))
    await async_wait_recording_done(hass)
    result = await _read_resets(hass, start)
    assert [(r["state"], r["sum"], r.get("last_reset")) for r in result[BULK]] == [
        (2.0, 3.0, None)
    ]
    reset = StatisticData(start=start, state=4.0, sum=5.0, last_reset=start - H)
    async_write_statistics(hass, _metadata(BULK), [reset])
    await async_wait_recording_done(hass)
    result = await _read_resets(hass, start)
    assert [(r["state"], r["sum"], r["last_reset"]) for r in result[BULK]] == [
        (4.0, 5.0, (start - H).timestamp())
    ]


async def test_nothing_to_write_queues_nothing(hass: HomeAssistant) -> None:
    with patch.object(get_instance(hass), "queue_task") as queue:
        async_write_statistics(hass, _metadata(BULK), [])
    queue.assert_not_called()


async def test_a_busy_database_runs_the_job_again(hass: HomeAssistant) -> None:
    """A job that met a locked database is queued again, as the recorder's."""
    write = statistics_writer.write_statistics
    calls: list[int] = []

    def busy_once(*args: Any) -> bool:
        calls.append(len(calls))
        return write(*args) if len(calls) > 1 else False

    with patch.object(statistics_writer, "write_statistics", busy_once):
        async_write_statistics(hass, _metadata(BULK), _stats(_hours(0, 3)))
        assert await _read(hass, BULK) == _hours(0, 3)
    assert calls == [0, 1]


@pytest.mark.parametrize(
    ("sid", "source", "start", "error"),
    [
        ("slimme_meter.test", "slimme_meter", T0, "Invalid statistic_id"),
        ("other:test", "slimme_meter", T0, "Invalid source"),
        (BULK, "", T0, "Invalid source"),
        (BULK, "slimme_meter", T0.replace(tzinfo=None), "Naive timestamp"),
        (BULK, "slimme_meter", T0 + timedelta(minutes=15), "top of the hour"),
    ],
)
async def test_rejects_what_the_recorder_rejects(
    hass: HomeAssistant, sid: str, source: str, start: datetime, error: str
) -> None:
    metadata = _metadata(sid)
    metadata["source"] = source
    with pytest.raises(HomeAssistantError, match=error):
        async_write_statistics(hass, metadata, _stats([(start, 1.0, 0.0)]))
    assert await _read(hass, BULK) == []


async def test_rejects_a_naive_last_reset(hass: HomeAssistant) -> None:
    row = StatisticData(start=T0, state=1.0, sum=0.0, last_reset=datetime(2026, 1, 1))
    with pytest.raises(HomeAssistantError, match="Naive timestamp"):
        async_write_statistics(hass, _metadata(BULK), [row])
    assert await _read(hass, BULK) == []
