"""The simulated meter: determinism, energy balance, tariffs, captures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
import itertools
from zoneinfo import ZoneInfo

import pytest

from simulators.household import HouseholdOptions
from simulators.meter import BE_TARIFFS, NL_TARIFFS, MeterOptions, SimulatedMeter
from simulators.profiles import PROFILES, get_profile

AMS = ZoneInfo("Europe/Amsterdam")
MONDAY_10H = datetime(2025, 1, 6, 10, 0, tzinfo=AMS)
SUMMER_NOON = datetime(2025, 6, 18, 12, 0, tzinfo=AMS)


def _meter(
    profile: str = "nl_dsmr5_gas", *, start: datetime = MONDAY_10H, seed: int = 7
) -> SimulatedMeter:
    return get_profile(profile).create_meter(seed=seed, start=start)


def test_same_seed_same_meter() -> None:
    a, b = _meter(), _meter()
    end = MONDAY_10H + timedelta(hours=3, seconds=17)
    a.advance(end)
    b.advance(end)
    assert a.snapshot() == b.snapshot()
    other = _meter(seed=8)
    other.advance(end)
    assert other.equipment_id != a.equipment_id
    assert other.registers() != a.registers()


def test_step_size_does_not_matter() -> None:
    one_go, stepwise = _meter(), _meter()
    end = MONDAY_10H + timedelta(hours=2)
    one_go.advance(end)
    moment = MONDAY_10H
    step = 0
    while moment < end:
        step = step % 23 + 1
        moment = min(moment + timedelta(seconds=step * 7), end)
        stepwise.advance(moment)
    assert stepwise.snapshot() == one_go.snapshot()


@pytest.mark.parametrize(
    ("start", "expect_export"),
    [(MONDAY_10H.replace(hour=18), False), (SUMMER_NOON, True)],
)
def test_registers_integrate_power(start: datetime, expect_export: bool) -> None:
    meter = _meter(start=start)
    before = meter.registers()
    imported = exported = Decimal(0)
    for _ in range(720):  # two hours in 10 s slots
        imported += meter.power_import_kw * 10
        exported += meter.power_export_kw * 10
        meter.advance(meter.time + timedelta(seconds=10))
    after = meter.registers()
    # kW * s -> kWh; registers are truncated to whole Wh.
    assert abs(
        after.import_total_kwh - before.import_total_kwh - imported / 3600
    ) < Decimal("0.002")
    assert abs(
        after.export_total_kwh - before.export_total_kwh - exported / 3600
    ) < Decimal("0.002")
    assert (exported > 0) is expect_export
    assert imported > 0 or exported > 0


def test_phases_add_up_to_totals() -> None:
    meter = _meter(start=SUMMER_NOON)
    for minute in range(0, 120, 7):
        meter.advance(SUMMER_NOON + timedelta(minutes=minute))
        phases = meter.phases
        assert len(phases) == 3
        net_phases = sum(p.power_import_kw - p.power_export_kw for p in phases)
        assert net_phases == meter.power_import_kw - meter.power_export_kw
        for phase in phases:
            assert Decimal(215) < phase.voltage_v < Decimal(245)
            watts = (phase.power_import_kw + phase.power_export_kw) * 1000
            assert (
                abs(phase.current_a * phase.voltage_v - watts) <= phase.voltage_v / 100
            )


@pytest.mark.parametrize(
    ("local", "tariff"),
    [
        (datetime(2025, 1, 6, 10, 0), 2),  # Monday daytime: normal
        (datetime(2025, 1, 6, 6, 59, 59), 1),  # before 07:00: low
        (datetime(2025, 1, 6, 7, 0), 2),
        (datetime(2025, 1, 6, 22, 59, 59), 2),
        (datetime(2025, 1, 6, 23, 0), 1),  # from 23:00: low
        (datetime(2025, 1, 11, 12, 0), 1),  # Saturday: low
        (datetime(2025, 1, 12, 18, 0), 1),  # Sunday: low
        (datetime(2025, 7, 4, 12, 0), 2),  # Friday in summer time
    ],
)
def test_active_tariff_nl(local: datetime, tariff: int) -> None:
    when = local.replace(tzinfo=AMS)
    assert NL_TARIFFS.tariff_at(when) == tariff
    assert _meter(start=when).active_tariff == tariff


def test_active_tariff_be_is_day_and_night() -> None:
    assert BE_TARIFFS.tariff_at(datetime(2025, 1, 6, 10, 0, tzinfo=AMS)) == 1
    assert BE_TARIFFS.tariff_at(datetime(2025, 1, 6, 22, 30, tzinfo=AMS)) == 2
    assert BE_TARIFFS.tariff_at(datetime(2025, 1, 11, 10, 0, tzinfo=AMS)) == 2


def test_energy_counts_on_the_active_tariff() -> None:
    meter = _meter(start=datetime(2025, 1, 6, 21, 0, tzinfo=AMS))
    start = meter.registers()
    meter.advance(datetime(2025, 1, 6, 23, 0, tzinfo=AMS))  # two normal hours
    normal = meter.registers()
    assert normal.import_t1_kwh == start.import_t1_kwh
    assert normal.import_t2_kwh > start.import_t2_kwh
    meter.advance(datetime(2025, 1, 7, 1, 0, tzinfo=AMS))  # two low hours
    low = meter.registers()
    assert low.import_t2_kwh == normal.import_t2_kwh
    assert low.import_t1_kwh > normal.import_t1_kwh


@pytest.mark.parametrize(
    ("profile", "cadence"),
    [
        ("nl_dsmr5_gas", 300),
        ("be_5b_gas_water", 300),
        ("nl_dsmr4", 3600),
        ("nl_dsmr22", 3600),
    ],
)
def test_gas_reading_cadence(profile: str, cadence: int) -> None:
    meter = _meter(profile, start=MONDAY_10H)
    probe = meter.copy()
    readings = {}
    for offset in range(0, 7200, 60):
        probe.advance(MONDAY_10H + timedelta(seconds=offset))
        readings[offset] = probe.gas_m3
    meter.advance(MONDAY_10H + timedelta(hours=1, minutes=47, seconds=31))
    gas = meter.gas_reading
    assert gas is not None
    elapsed = int((gas.timestamp - MONDAY_10H).total_seconds())
    expected = (3600 + 47 * 60 + 31) // cadence * cadence
    assert elapsed == expected
    assert gas.value_m3 == readings[elapsed]
    assert meter.gas_m3 is not None
    assert meter.gas_m3 >= gas.value_m3


def test_gas_timestamp_holds_between_captures() -> None:
    meter = _meter("nl_dsmr5_gas", start=MONDAY_10H)
    meter.advance(MONDAY_10H + timedelta(minutes=5))
    captured = meter.gas_reading
    for second in range(1, 300, 37):
        meter.advance(MONDAY_10H + timedelta(minutes=5, seconds=second))
        assert meter.gas_reading == captured
    meter.advance(MONDAY_10H + timedelta(minutes=10))
    assert meter.gas_reading is not None
    assert captured is not None
    assert meter.gas_reading.timestamp == captured.timestamp + timedelta(minutes=5)


def test_water_follows_gas_cadence_for_belgium() -> None:
    meter = _meter("be_5b_gas_water", start=datetime(2025, 1, 6, 7, 0, tzinfo=AMS))
    start_water = meter.water_m3
    meter.advance(datetime(2025, 1, 6, 9, 2, 10, tzinfo=AMS))
    water = meter.water_reading
    assert water is not None
    assert water.timestamp == datetime(2025, 1, 6, 9, 0, tzinfo=AMS)
    assert start_water is not None
    assert meter.water_m3 is not None
    assert meter.water_m3 > start_water  # morning showers
    assert _meter("nl_dsmr5_gas").water_reading is None


def test_hourly_registers_match_the_meter() -> None:
    meter = _meter(start=MONDAY_10H - timedelta(minutes=20))
    before = meter.time
    hours = meter.hourly_registers(
        meter.time, MONDAY_10H + timedelta(hours=5, minutes=59)
    )
    assert meter.time == before  # computed on a copy
    assert [r.time for r in hours] == [
        (MONDAY_10H + timedelta(hours=h)).astimezone(UTC) for h in range(6)
    ]
    for reading in hours:
        meter.advance(reading.time)
        assert meter.registers() == reading
    increments = [
        b.import_total_kwh - a.import_total_kwh for a, b in itertools.pairwise(hours)
    ]
    assert all(step >= 0 for step in increments)


def test_swap_replaces_the_meter() -> None:
    meter = _meter()
    meter.advance(MONDAY_10H + timedelta(minutes=3))
    old_id = meter.equipment_id
    gas_before = meter.gas_m3
    meter.swap()
    assert meter.equipment_id != old_id
    assert meter.import_total_kwh < Decimal("0.05")
    assert meter.export_total_kwh == 0
    assert meter.power_failure_log == ()
    assert meter.gas_m3 == gas_before
    meter.advance(MONDAY_10H + timedelta(hours=1))
    assert Decimal(0) < meter.import_total_kwh < Decimal(10)


def test_time_only_moves_forward() -> None:
    meter = _meter()
    meter.advance(MONDAY_10H + timedelta(minutes=1))
    with pytest.raises(ValueError, match="cannot go back"):
        meter.advance(MONDAY_10H)
    with pytest.raises(ValueError, match="timezone-aware"):
        meter.advance(datetime(2025, 1, 6, 12, 0))
    meter.advance(MONDAY_10H + timedelta(minutes=1, microseconds=999))
    assert meter.time == MONDAY_10H + timedelta(minutes=1)


def test_quarter_hour_demand_and_month_peak() -> None:
    meter = _meter("be_5b_gas_water", start=datetime(2025, 1, 31, 22, 0, tzinfo=AMS))
    assert len(meter.peak_history) == 13
    peak_before = meter.month_peak
    meter.advance(datetime(2025, 1, 31, 23, 45, tzinfo=AMS))
    start = meter.import_total_kwh
    meter.advance(datetime(2025, 2, 1, 0, 0, tzinfo=AMS))
    quarter_kwh = meter.import_total_kwh - start
    assert abs(meter.average_demand_kw - quarter_kwh * 4) < Decimal("0.01")
    history = meter.peak_history
    assert len(history) == 13
    assert history[0].month_start == datetime(2025, 2, 1, tzinfo=AMS)
    assert history[0].value_kw >= peak_before.value_kw
    assert meter.month_peak.value_kw == 0
    meter.advance(datetime(2025, 2, 1, 1, 0, tzinfo=AMS))
    peak = meter.month_peak
    assert peak.value_kw > 0
    assert datetime(2025, 2, 1, tzinfo=AMS) < peak.occurred <= meter.time


def test_runs_through_daylight_saving_changes() -> None:
    autumn = _meter(start=datetime(2025, 10, 25, 23, 30, tzinfo=UTC))
    autumn.advance(datetime(2025, 10, 26, 3, 0, tzinfo=UTC))
    assert autumn.active_tariff == 1  # Sunday
    spring = _meter(start=datetime(2025, 3, 30, 0, 30, tzinfo=UTC))
    hours = spring.hourly_registers(
        spring.time, datetime(2025, 3, 30, 4, 0, tzinfo=UTC)
    )
    assert len(hours) == 4


def test_every_profile_builds_a_meter() -> None:
    for profile in PROFILES.values():
        meter = profile.create_meter(seed=1, start=MONDAY_10H)
        meter.advance(MONDAY_10H + timedelta(minutes=2))
        snapshot = meter.snapshot()
        assert snapshot.time == MONDAY_10H + timedelta(minutes=2)
        assert len(snapshot.phases) == profile.meter_options.household.phases


def test_slot_length_must_divide_blocks() -> None:
    with pytest.raises(ValueError, match="slot_seconds"):
        SimulatedMeter(MeterOptions(slot_seconds=7), start=MONDAY_10H)
    meter = SimulatedMeter(
        MeterOptions(household=HouseholdOptions(phases=1, gas=False), slot_seconds=60),
        start=MONDAY_10H,
    )
    meter.advance(MONDAY_10H + timedelta(hours=1))
    assert meter.gas_m3 is None
    assert meter.gas_reading is None
