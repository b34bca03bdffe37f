"""Cost statistics on the merged history, with the real recorder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import get_instance
from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    async_import_statistics,
    get_metadata,
)
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.slimme_meter.costs import (
    CostHistory,
    PriceSettings,
    cost_statistic_id,
)
from custom_components.slimme_meter.history import MergedHistory, Series
from custom_components.slimme_meter.tariffs import Schedule, meter_tariff_low

from .remote_helpers import statistic_id_rows

METER = "E0026000030030026"
T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday, 01:00 in Amsterdam
H = timedelta(hours=1)
IMPORT = Series.ELECTRICITY_IMPORT
EXPORT = Series.ELECTRICITY_EXPORT
GAS = Series.GAS

pytestmark = pytest.mark.recorder


@pytest.fixture
async def history(hass: HomeAssistant, home_zone: None) -> MergedHistory:
    merged = MergedHistory(hass, METER, "entry")
    await merged.async_load()
    return merged


async def _costs(
    hass: HomeAssistant, history: MergedHistory, **options: Any
) -> CostHistory:
    costs = CostHistory(
        hass, history, "entry", PriceSettings.from_options(options), "dsmr_5"
    )
    await costs.async_load()
    return costs


async def _rows(
    hass: HomeAssistant, series: Series = IMPORT, since: datetime = T0 - 48 * H
) -> list[tuple[datetime, float]]:
    rows = await statistic_id_rows(hass, cost_statistic_id(METER, series), since)
    return [(start, round(total, 6)) for start, _, total in rows]


def _hourly(start: datetime, values: list[int]) -> list[tuple[datetime, int]]:
    """Register readings (thousandths) at the ends of consecutive hours."""
    return [(start + (i + 1) * H, value) for i, value in enumerate(values)]


def test_statistic_ids() -> None:
    assert cost_statistic_id(METER, IMPORT) == (
        "slimme_meter:e0026000030030026_electricity_import_cost"
    )
    assert cost_statistic_id(METER, EXPORT).endswith("_electricity_export_compensation")
    assert cost_statistic_id(METER, GAS).endswith("_gas_cost")


def test_meter_tariff_indicator() -> None:
    assert meter_tariff_low("0001", "dsmr_5") is True
    assert meter_tariff_low("0002", "dsmr_5") is False
    assert meter_tariff_low("0002", "belgium_5b") is True
    assert meter_tariff_low("0001", "belgium_5b") is False
    assert meter_tariff_low(None, "dsmr_5") is None
    assert meter_tariff_low("0003", "dsmr_5") is None


def test_schedules() -> None:
    nl = PriceSettings.from_options({}).schedule
    assert nl == Schedule(23, 7, True, True)
    monday = datetime(2026, 3, 2)
    assert nl.low(monday.replace(hour=23))
    assert nl.low(monday.replace(hour=6))
    assert not nl.low(monday.replace(hour=7))
    assert nl.low(monday.replace(day=7, hour=12))  # Saturday
    be = PriceSettings.from_options({"tariff_schedule": "belgium"}).schedule
    assert be.low(monday.replace(hour=22))
    custom = PriceSettings.from_options(
        {
            "tariff_schedule": "custom",
            "low_start": 1,
            "low_end": 5,
            "low_weekends": False,
        }
    ).schedule
    assert custom.low(monday.replace(hour=1))
    assert not custom.low(monday.replace(hour=5))
    assert not custom.low(monday.replace(day=7, hour=3, minute=0).replace(hour=12))


async def test_fixed_prices_on_every_energy_row(
    hass: HomeAssistant, history: MergedHistory
) -> None:
    costs = await _costs(
        hass,
        history,
        electricity_import_price=0.25,
        electricity_export_price=0.10,
        gas_price=1.40,
    )
    history.merge_remote(IMPORT, _hourly(T0, [1_000, 1_400, 2_400, 2_400]))
    history.merge_remote(EXPORT, _hourly(T0, [500, 500, 800, 1_300]))
    # Gas with a gap: the estimated hours are priced too.
    history.merge_remote(GAS, [(T0 + H, 10_000), (T0 + 4 * H, 10_300)])
    await history.async_write()
    assert await _rows(hass) == [
        (T0, 0.0),
        (T0 + H, 0.1),
        (T0 + 2 * H, 0.35),
        (T0 + 3 * H, 0.35),
    ]
    assert await _rows(hass, EXPORT) == [
        (T0, 0.0),
        (T0 + H, 0.0),
        (T0 + 2 * H, 0.03),
        (T0 + 3 * H, 0.08),
    ]
    assert await _rows(hass, GAS) == [
        (T0, 0.0),
        (T0 + H, 0.14),
        (T0 + 2 * H, 0.28),
        (T0 + 3 * H, 0.42),
    ]
    metadata = await get_instance(hass).async_add_executor_job(
        lambda: get_metadata(hass, statistic_ids={cost_statistic_id(METER, IMPORT)})
    )
    meta = metadata[cost_statistic_id(METER, IMPORT)][1]
    assert meta["unit_of_measurement"] == "EUR"
    assert meta["has_sum"] is True
    assert meta["source"] == "slimme_meter"
    summary = costs.summary()
    assert summary[IMPORT.value] == {
        "hours": 4,
        "total": 0.35,
        "unknown_price_hours": [],
    }
    # A new hour from the P1 port: one row more, the sum goes on.
    history.record_local(IMPORT, T0 + 5 * H, Decimal("3.400"))
    await history.async_write()
    rows = await _rows(hass)
    assert rows[-1] == (T0 + 4 * H, 0.6)
    assert len(rows) == 5


async def test_tariff_pair_schedule_and_meter_indicator(
    hass: HomeAssistant, history: MergedHistory
) -> None:
    # Monday 2 March 2026, 20:00 to 02:00 in Amsterdam (UTC+1): low from 23:00.
    start = datetime(2026, 3, 2, 19, tzinfo=UTC)
    costs = await _costs(
        hass,
        history,
        electricity_import_price=0.30,
        electricity_import_price_low=0.20,
    )
    # The meter showed the low tariff at 21:00 local (the user's own hours).
    costs.record_tariff(int((start + 1 * H).timestamp()), "0001")
    history.merge_remote(IMPORT, _hourly(start, [0, 1_000, 2_000, 3_000, 4_000, 5_000]))
    await history.async_write()
    sums = [total for _, total in await _rows(hass, since=start - H)]
    # 20:00 row is the first (sum 0); then 21:00 low (meter), 22:00 normal,
    # 23:00, 00:00 and 01:00 low (schedule).
    assert sums == [0.0, 0.2, 0.5, 0.7, 0.9, 1.1]


async def test_holiday_after_the_clocks_change_is_low_all_local_day(
    hass: HomeAssistant, history: MergedHistory
) -> None:
    # Easter 2027 is 28 March, the day the clocks go forward (23 hours);
    # Tweede Paasdag, 29 March, is low all day in a custom schedule with
    # holidays (low from 01:00 to 05:00, not at weekends).
    costs = await _costs(
        hass,
        history,
        electricity_import_price=0.30,
        electricity_import_price_low=0.20,
        tariff_schedule="custom",
        low_start=1,
        low_end=5,
        low_weekends=False,
        low_holidays=True,
    )
    start = datetime(2027, 3, 27, 23, tzinfo=UTC)  # 28 March, 00:00 local
    hours = 23 + 24 + 1  # two local days and the first hour of the next
    # Where the P1 port saw the meter on the normal tariff, the meter wins
    # (Tweede Paasdag, 12:00 local).
    costs.record_tariff(int((start + 35 * H).timestamp()), "0002")
    history.merge_remote(
        IMPORT, [(start, 0), *_hourly(start, [1_000 * (i + 1) for i in range(hours)])]
    )
    await history.async_write()
    rows = await _rows(hass, since=start - H)
    steps = [round(b[1] - a[1], 6) for a, b in pairwise(rows)]
    # Easter Sunday: low at 01:00, 03:00 and 04:00 (02:00 does not exist).
    assert steps[:23] == [
        0.2 if hour in (1, 3, 4) else 0.3 for hour in (0, 1, *range(3, 24))
    ]
    # Tweede Paasdag, 00:00 to 24:00 local, but for the meter's own hour.
    assert steps[23:47] == [0.2] * 12 + [0.3] + [0.2] * 11
    assert steps[47] == 0.3  # Tuesday 00:00
    assert costs.summary()[IMPORT.value]["total"] == pytest.approx(
        3 * 0.2 + 20 * 0.3 + 23 * 0.2 + 0.3 + 0.3
    )


async def test_daily_charge_spread_over_dst_days(
    hass: HomeAssistant, history: MergedHistory
) -> None:
    # 29 March 2026 has 23 hours in Amsterdam, 25 October 2026 has 25.
    for day, hours in (
        (datetime(2026, 3, 28, 23, tzinfo=UTC), 23),
        (datetime(2026, 10, 24, 22, tzinfo=UTC), 25),
    ):
        merged = MergedHistory(hass, f"{METER}{hours}", f"entry{hours}")
        await merged.async_load()
        costs = CostHistory(
            hass,
            merged,
            f"entry{hours}",
            PriceSettings.from_options(
                {"electricity_import_price": 0.0, "daily_charge": 1.15}
            ),
        )
        await costs.async_load()
        # One row before local midnight, then the whole local day.
        merged.merge_remote(
            IMPORT, _hourly(day - H, [1_000 * i for i in range(hours + 1)])
        )
        await merged.async_write()
        rows = costs.series[IMPORT]
        assert len(rows.hours) == hours + 1
        # The first hour (the day before) carries its own day's share.
        day_total = rows.sums[-1] - rows.sums[0]
        assert day_total == pytest.approx(1.15)
        assert rows.sums[2] - rows.sums[1] == pytest.approx(1.15 / hours)


async def test_history_correction_and_estimates_replaced_rewrite_costs(
    hass: HomeAssistant, history: MergedHistory
) -> None:
    await _costs(hass, history, electricity_import_price=0.5)
    history.merge_remote(IMPORT, [(T0 + H, 1_000), (T0 + 4 * H, 4_000)])
    await history.async_write()
    assert [total for _, total in await _rows(hass)] == [0.0, 0.5, 1.0, 1.5]
    # The estimated hours are replaced by readings: every later sum moves.
    history.merge_remote(IMPORT, [(T0 + 2 * H, 1_100), (T0 + 3 * H, 3_900)])
    await history.async_write()
    assert [total for _, total in await _rows(hass)] == [0.0, 0.05, 1.45, 1.5]


async def test_price_change_rewrites_history(
    hass: HomeAssistant, history: MergedHistory
) -> None:
    costs = await _costs(hass, history, electricity_import_price=0.5, gas_price=1.0)
    history.merge_remote(IMPORT, _hourly(T0, [0, 1_000, 2_000]))
    history.merge_remote(GAS, _hourly(T0, [0, 1_000, 2_000]))
    await history.async_write()
    assert [total for _, total in await _rows(hass)] == [0.0, 0.5, 1.0]
    await costs.async_configure(
        PriceSettings.from_options({"electricity_import_price": 0.25})
    )
    assert [total for _, total in await _rows(hass)] == [0.0, 0.25, 0.5]
    # Gas is no longer priced: its costs are gone, not left at old prices.
    assert await _rows(hass, GAS) == []
    # The settings survive a restart: nothing is written again.
    await costs.async_save()
    again = await _costs(hass, history, electricity_import_price=0.25)
    assert again.series[IMPORT].dirty_from is None
    assert again.series[IMPORT].sums == costs.series[IMPORT].sums


async def test_remove_remote_history_removes_its_costs(
    hass: HomeAssistant, history: MergedHistory
) -> None:
    await _costs(hass, history, electricity_import_price=1.0)
    history.merge_remote(IMPORT, [(T0 + H, 1_000), (T0 + 2 * H, 2_000)])
    history.record_local(IMPORT, T0 + 3 * H, Decimal("2.500"))
    history.record_local(IMPORT, T0 + 4 * H, Decimal("3.000"))
    await history.async_write()
    assert [total for _, total in await _rows(hass)] == [0.0, 1.0, 1.5, 2.0]
    await history.async_remove_remote()
    assert await _rows(hass) == [(T0 + 2 * H, 0.0), (T0 + 3 * H, 0.5)]


async def _prices(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    changes: list[tuple[datetime, str]],
    entity_id: str = "sensor.price",
    unit: str = "EUR/kWh",
) -> None:
    """Record a price entity's states at their moments."""
    for moment, value in changes:
        freezer.move_to(moment)
        hass.states.async_set(entity_id, value, {"unit_of_measurement": unit})
        await hass.async_block_till_done()
    await async_wait_recording_done(hass)


@pytest.mark.freeze_time(T0 - 2 * H)
async def test_hourly_price_entity_and_unknown_prices(
    hass: HomeAssistant, history: MergedHistory, freezer: FrozenDateTimeFactory
) -> None:
    # Prices per MWh: brought to per kWh. Unavailable for the third hour.
    await _prices(
        hass,
        freezer,
        [
            (T0 - H, "200"),
            (T0 + H, "300"),
            (T0 + 2 * H, "unavailable"),
            (T0 + 3 * H, "100"),
        ],
        unit="EUR/MWh",
    )
    freezer.move_to(T0 + 6 * H)
    costs = await _costs(hass, history, electricity_import_price_entity="sensor.price")
    history.merge_remote(IMPORT, _hourly(T0, [1_000, 2_000, 4_000, 8_000, 9_000]))
    await history.async_write()
    # 00:00 (first row), 01:00 1 kWh x 0.30, 02:00 unknown (no row), 03:00
    # 4 kWh x 0.10, 04:00 1 kWh x 0.10; the sum goes on past the unknown
    # hour without it.
    assert await _rows(hass) == [
        (T0, 0.0),
        (T0 + H, 0.3),
        (T0 + 3 * H, 0.7),
        (T0 + 4 * H, 0.8),
    ]
    assert costs.summary()[IMPORT.value]["unknown_price_hours"] == [
        [(T0 + 3 * H).isoformat(), (T0 + 3 * H).isoformat()]
    ]


@pytest.mark.freeze_time(T0 - 2 * H)
async def test_quarter_hour_prices_price_quarter_hour_energy(
    hass: HomeAssistant, history: MergedHistory, freezer: FrozenDateTimeFactory
) -> None:
    # 15-minute prices: 0.10, 0.40, 0.10, 0.40 in the hour from T0 + 2 H
    # (mean 0.25); 1 kWh used in the second and in the fourth quarter.
    quarter = timedelta(minutes=15)
    hour = T0 + 2 * H
    await _prices(
        hass,
        freezer,
        [
            (T0 + H, "0.20"),
            *((hour + i * quarter, ("0.10", "0.40")[i % 2]) for i in range(4)),
        ],
    )
    freezer.move_to(T0 + 6 * H)
    costs = await _costs(hass, history, electricity_import_price_entity="sensor.price")
    # The grid operator's 15-minute readings within the hour.
    history.merge_quarters(
        IMPORT,
        [
            (hour + quarter, 5_000),
            (hour + 2 * quarter, 6_000),
            (hour + 3 * quarter, 6_000),
        ],
    )
    history.merge_remote(IMPORT, _hourly(T0, [4_000, 5_000, 7_000]))
    await history.async_write()
    rows = await _rows(hass)
    # 00:00: first row. 01:00: 1 kWh at 0.20. 02:00: by quarter-hour
    # 1 x 0.40 + 1 x 0.40 = 0.80, not 2 kWh x the mean 0.25 = 0.50.
    assert rows == [(T0, 0.0), (T0 + H, 0.2), (T0 + 2 * H, 1.0)]
    assert rows[-1][1] - rows[-2][1] != pytest.approx(2 * 0.25)
    # Without the quarter-hour registers, the hour's mean price.
    costs.quarters.clear()
    await costs.async_configure(costs.settings)
    assert (await _rows(hass))[-1] == (T0 + 2 * H, 0.7)


@pytest.mark.freeze_time(T0 + 24 * H)
async def test_tariffs_quarters_and_unwritten_rows_survive_a_restart(
    hass: HomeAssistant, history: MergedHistory
) -> None:
    costs = await _costs(hass, history, electricity_import_price_entity="sensor.price")
    for hour in range(3):
        costs.record_tariff(int((T0 + hour * H).timestamp()), "0001")
    costs.record_tariff(int((T0 + 5 * H).timestamp()), "0002")
    quarter = timedelta(minutes=15)
    history.merge_quarters(IMPORT, [(T0 + quarter, 1_100), (T0 + H, 2_000)])
    # Older than the recorder keeps states: no quarter-hour price, not kept.
    history.merge_quarters(IMPORT, [(T0 - 300 * H + quarter, 1)])
    assert costs.quarters[IMPORT] == {int((T0 + quarter).timestamp()): 1_100}
    # Rows taken but not yet priced (a write stopped in between).
    rows = [(int((T0 + H).timestamp()), 1_000, 0)]
    costs.rows_changed(IMPORT, rows, None)
    costs.rows_changed(IMPORT, [(rows[0][0] + 3600, 1_500, 500)], 0)
    await costs.async_save()
    again = await _costs(hass, history, electricity_import_price_entity="sensor.price")
    assert again.tariffs == costs.tariffs
    assert again.quarters == costs.quarters
    # Not priced for gas: its readings within hours are not kept.
    history.merge_quarters(GAS, [(T0 + quarter, 1)])
    assert GAS not in again.quarters


async def test_long_histories_are_computed_in_chunks(
    hass: HomeAssistant, history: MergedHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("custom_components.slimme_meter.costs.COMPUTE_CHUNK", 3)
    await _costs(hass, history, electricity_import_price=0.5, daily_charge=2.4)
    history.merge_remote(IMPORT, _hourly(T0, [1_000 * i for i in range(10)]))
    await history.async_write()
    # 1 kWh at 0.50 an hour, plus 2.40 a day (0.10 an hour) from the second row.
    sums = [total for _, total in await _rows(hass)]
    assert sums == pytest.approx([0.1 + 0.6 * i for i in range(10)])


async def test_price_entity_statistics_stand_in_for_purged_states(
    hass: HomeAssistant, history: MergedHistory
) -> None:
    # No states left, only the price entity's hourly means (per MWh).
    metadata: dict[str, Any] = {
        "has_sum": False,
        "mean_type": StatisticMeanType.ARITHMETIC,
        "name": None,
        "source": "recorder",
        "statistic_id": "sensor.price",
        "unit_of_measurement": "EUR/MWh",
    }
    if "unit_class" in StatisticMetaData.__annotations__:
        metadata["unit_class"] = None
    async_import_statistics(
        hass,
        StatisticMetaData(**metadata),  # type: ignore[typeddict-item]
        [
            StatisticData(start=T0 + i * H, mean=mean, min=mean, max=mean)
            for i, mean in enumerate((100.0, 200.0))
        ],
    )
    hass.states.async_set("sensor.price", "150", {"unit_of_measurement": "EUR/MWh"})
    await async_wait_recording_done(hass)
    costs = await _costs(hass, history, electricity_import_price_entity="sensor.price")
    history.merge_remote(IMPORT, [(T0, 0), *_hourly(T0, [1_000, 3_000])])
    await history.async_write()
    # 1 kWh at 0.10, then 2 kWh at 0.20 (the state set now is not the past).
    assert [total for _, total in await _rows(hass, since=T0 - 2 * H)] == [
        0.0,
        0.1,
        0.5,
    ]
    assert costs.summary()[IMPORT.value]["unknown_price_hours"] == []
