"""Leneda and the P1 port of one Luxembourg home through Home Assistant.

The Leneda simulator serves the quarter hours of the same simulated household
the P1 server renders as telegrams; the real recorder keeps the statistics.
Leneda has no registers: its energy is anchored to the P1 registers.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.slimme_meter.const import DOMAIN
from custom_components.slimme_meter.diagnostics import (
    async_get_config_entry_diagnostics,
)
from custom_components.slimme_meter.history import Series
from custom_components.slimme_meter.remote.api import RemoteState
from custom_components.slimme_meter.repairs import async_create_fix_flow
from simulators.leneda import (
    CODE_EXPORT,
    CODE_GAS,
    CODE_IMPORT,
    DEFAULT_ENERGY_ID,
    DEFAULT_POD,
    GAS_POD,
    PRODUCTION_POD,
    LenedaSimulator,
)
from simulators.meter import SimulatedMeter
from simulators.p4_data import default_meter

from .helpers import state_of, until
from .remote_helpers import (
    AMS,
    REMOTE_PATH,
    P1Server,
    Row,
    SyncRuns,
    assert_consistent,
    assert_no_spike,
    by_end,
    hour_registers,
    jump,
    p1_entry,
    send_telegram,
    serving,
    start,
    statistics_rows,
    sync_now,
)

pytestmark = [
    pytest.mark.recorder,
    pytest.mark.usefixtures("socket_enabled", "home_zone", "steady_link"),
]

FIRST_DAY = date(2025, 1, 6)
DAYS = 3
START = "2025-01-09T10:30:00+00:00"
IMPORT_TOTAL = "sensor.electricity_meter_energy_import_total"


@pytest.fixture
def time_zone() -> str:
    return "Europe/Luxembourg"


@dataclass
class Home:
    meter: SimulatedMeter
    leneda: LenedaSimulator
    p1: P1Server
    equipment_id: str

    def entry(self, **remote: Any) -> MockConfigEntry:
        options = {
            "provider": "lu_leneda",
            "api_key": "test-key",
            "base_url": self.leneda.url,
            "energy_id": DEFAULT_ENERGY_ID,
            "eans": [DEFAULT_POD],
            "grants": [CODE_IMPORT, CODE_EXPORT],
            "trusted_meters": [],
        }
        return p1_entry(self.p1, self.equipment_id, options | remote)

    def registers(self, code: str = CODE_IMPORT) -> dict[int, int]:
        """The meter's register (Wh) at every hour end Leneda covers."""
        return hour_registers(self.leneda.history, export=code != CODE_IMPORT)

    async def send(self, hass: HomeAssistant, entry: MockConfigEntry) -> int:
        """Send a telegram; return the import register it showed (Wh)."""
        return await send_telegram(hass, self.p1, entry)


@asynccontextmanager
async def home(
    *, first_day: date = FIRST_DAY, days: int = DAYS, leneda_seed: int | None = None
) -> AsyncGenerator[Home]:
    meter = default_meter(first_day)
    served = (
        meter if leneda_seed is None else default_meter(first_day, seed=leneda_seed)
    )
    leneda = LenedaSimulator(served, first_day=first_day, history_days=days)
    async with serving(leneda, meter) as p1:
        yield Home(meter, leneda, p1, meter.equipment_id)


async def import_rows(
    hass: HomeAssistant, house: Home, series: Series = Series.ELECTRICITY_IMPORT
) -> list[Row]:
    return await statistics_rows(hass, house.equipment_id, series)


def raised(hass: HomeAssistant, kind: str, entry: MockConfigEntry) -> bool:
    registry = ir.async_get(hass)
    return registry.async_get_issue(DOMAIN, f"{kind}_{entry.entry_id}") is not None


def issue_of(hass: HomeAssistant, kind: str, entry: MockConfigEntry) -> ir.IssueEntry:
    """Return the raised repair issue of one kind."""
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"{kind}_{entry.entry_id}")
    assert issue is not None
    return issue


async def fix_flow(hass: HomeAssistant, issue: ir.IssueEntry) -> Any:
    """Open the repair's fix flow, as the Repairs dialog does."""
    flow = await async_create_fix_flow(hass, issue.issue_id, issue.data)
    flow.hass = hass
    return flow


async def stop_asking(
    hass: HomeAssistant, entry: MockConfigEntry, grants: list[str]
) -> None:
    """Choose "stop importing these registers": only `grants` stay asked."""
    flow = await fix_flow(hass, issue_of(hass, "grant_missing", entry))
    await flow.async_step_skip_registers()
    await hass.async_block_till_done()
    assert entry.options["remote"]["grants"] == grants
    await until(lambda: not raised(hass, "grant_missing", entry))


async def p1_hours(
    hass: HomeAssistant,
    house: Home,
    entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    hours: tuple[int, ...],
) -> dict[int, int]:
    """Send P1 telegrams 30 s after these hours (UTC) of 9 January.

    Returns the import register each sent, by hour end.
    """
    sent = {}
    for hour in hours:
        boundary = datetime(2025, 1, 9, hour, tzinfo=UTC)
        jump(freezer, boundary + timedelta(seconds=30))
        sent[int(boundary.timestamp())] = await house.send(hass, entry)
    return sent


async def next_morning(
    house: Home, freezer: FrozenDateTimeFactory, runs: SyncRuns, run: int
) -> None:
    """Leneda serves one more day; the next morning's sync (run ``run``) reads it."""
    house.leneda.add_days(1)
    jump(freezer, datetime(2025, 1, 10, 7, 31, tzinfo=AMS))
    await runs.wait(run)


async def joined_at_once(
    hass: HomeAssistant,
    house: Home,
    runtime: Any,
    local: dict[int, int],
    served: dict[int, int],
) -> None:
    """The first P1 registers join the imported ones at once, not at a sync.

    The imported registers end at the meter's; the hours Leneda has not
    served yet are estimated, and no hour carries the difference between the
    assumed start and the meter's register.
    """
    await hass.async_block_till_done()
    rows = await import_rows(hass, house)
    assert_consistent(rows)
    got = by_end(rows)
    for moment, value in local.items():
        assert round(got[moment][0] * 1000) == value
    assert round(got[max(served)][0] * 1000) <= local[min(local)]
    assert_no_spike(rows, served)
    assert runtime.remote is not None
    assert runtime.remote.local_recorded() == 0  # joined: nothing more to do


@pytest.mark.freeze_time(START, tick=True)
async def test_backfill_then_the_registers_join_the_p1_port(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, runs: SyncRuns
) -> None:
    async with home() as house:
        hole = datetime(2025, 1, 7, 9, 15, tzinfo=UTC)
        house.leneda.blank(hole, 2)  # the hour from 09:00 lacks two quarters
        entry = house.entry()
        runtime = await start(hass, entry)
        await runs.wait(1)
        assert runtime.remote_state is RemoteState.ACTIVE
        rows = await import_rows(hass, house)
        assert_consistent(rows)
        truth = house.registers()
        first = min(truth)
        got = by_end(rows)
        # No P1 reading yet: the sums are exact, the state counts from zero.
        hole_end = int(hole.timestamp()) - 900 + 3600
        hole_energy = truth[hole_end] - truth[hole_end - 3600]
        for moment, value in truth.items():
            if moment == hole_end:
                continue  # the hole: estimated
            expected = value - truth[first] - (hole_energy if moment > hole_end else 0)
            assert round(got[moment][1] * 1000) == expected, moment

        assert runtime.remote is not None
        assert runtime.remote.local_recorded() == 0  # no P1 register yet

        # P1 telegrams just after 11:00 and 12:00 (UTC) of the next day.
        local = await p1_hours(hass, house, entry, freezer, (11, 12))

        await joined_at_once(hass, house, runtime, local, truth)

        # The next morning Leneda has the 9th: the paths overlap, and every
        # remote register is the meter's, moved by the last P1 reading's 30 s.
        await next_morning(house, freezer, runs, 2)
        truth = house.registers()
        newest = max(local)
        shift = local[newest] - truth[newest]
        assert 0 <= shift < 100
        rows = await import_rows(hass, house)
        assert_consistent(rows)
        got = by_end(rows)
        for moment, value in truth.items():
            if moment in local:
                assert round(got[moment][0] * 1000) == local[moment]
                continue
            # Before the hole, the hole's energy is unknown (not invented):
            # the older registers end where the newer ones begin, and the
            # hour before the hole is estimated.
            if moment == hole_end - 3600:
                continue
            ahead = hole_energy if moment < hole_end else 0
            assert round(got[moment][0] * 1000) == value + shift + ahead, moment
        # No spike: no hour carries more than the largest hour measured.
        assert_no_spike(rows, truth)
        diagnostics = runtime.history.summary() if runtime.history else {}
        # The hour before the hole, in both registers; nothing else.
        assert diagnostics["electricity_import"]["estimated"] == 1
        assert diagnostics["electricity_export"]["estimated"] == 1


@pytest.mark.freeze_time(START, tick=True)
async def test_a_correction_is_taken_at_the_next_sync(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, runs: SyncRuns
) -> None:
    async with home() as house:
        entry = house.entry()
        await start(hass, entry)
        await runs.wait(1)
        house.leneda.correct(date(2025, 1, 8), factor=1.5)
        await next_morning(house, freezer, runs, 2)
        rows = await import_rows(hass, house)
        assert_consistent(rows)
        got = by_end(rows)
        hourly = house.leneda.hourly_wh(CODE_IMPORT)
        for hour_start, wh in hourly.items():
            end = hour_start + 3600
            assert round((got[end][1] - got[hour_start][1]) * 1000) == wh


@pytest.mark.freeze_time(START, tick=True)
async def test_consent_withdrawn_stops_the_import_and_p1_keeps_updating(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, runs: SyncRuns
) -> None:
    async with home() as house:
        entry = house.entry()
        runtime = await start(hass, entry)
        await runs.wait(1)
        await house.send(hass, entry)
        before = state_of(hass, IMPORT_TOTAL)
        house.leneda.revoke()
        await sync_now(hass, entry.entry_id)
        await runs.wait(2)
        assert runtime.remote_state is RemoteState.CONSENT_ENDED
        assert state_of(hass, REMOTE_PATH) == "consent_ended"
        assert raised(hass, "consent_ended", entry)
        asked = len(house.leneda.requests)
        # Days pass: nothing is fetched, the P1 port keeps updating.
        jump(freezer, datetime(2025, 1, 11, 8, tzinfo=AMS))
        await house.send(hass, entry)
        assert len(house.leneda.requests) == asked
        assert state_of(hass, IMPORT_TOTAL) != before
        assert runtime.available


@pytest.mark.freeze_time(START, tick=True)
async def test_a_missing_grant_is_its_own_repair(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, runs: SyncRuns
) -> None:
    async with home() as house:
        house.leneda.revoke(CODE_EXPORT)
        entry = house.entry()
        runtime = await start(hass, entry)
        await runs.wait(1)
        assert runtime.remote_state is RemoteState.ACTIVE
        assert raised(hass, "grant_missing", entry)
        issue = issue_of(hass, "grant_missing", entry)
        assert issue.translation_placeholders == {
            "meter": "Smart meter",
            "codes": f"{CODE_EXPORT} ({DEFAULT_POD})",
        }
        diagnostics = await async_get_config_entry_diagnostics(hass, entry)
        assert diagnostics["remote"]["missing_grants"] == [CODE_EXPORT]
        assert diagnostics["remote"]["implausible"] is None
        imported = diagnostics["remote"]["imported"]
        assert set(imported) == {"electricity_import"}
        assert imported["electricity_import"]["readings"] == DAYS * 24 + 1
        options = diagnostics["entry"]["options"]["remote"]
        assert options["energy_id"] == options["eans"] == "**REDACTED**"
        imported = await import_rows(hass, house)
        assert len(imported) == DAYS * 24 + 1  # and the first hour start
        exported = await import_rows(hass, house, Series.ELECTRICITY_EXPORT)
        assert exported == []

        # The owner grants it; "check again" imports it and clears the issue.
        house.leneda.grant(CODE_EXPORT)
        flow = await fix_flow(hass, issue)
        menu = await flow.async_step_init()
        assert menu["menu_options"] == ["check_again", "skip_registers"]
        await flow.async_step_check_again()
        await runs.wait(2)
        assert not raised(hass, "grant_missing", entry)
        exported = await import_rows(hass, house, Series.ELECTRICITY_EXPORT)
        assert len(exported) == DAYS * 24 + 1

        # Revoked again: this time the user stops asking for it.
        house.leneda.revoke(CODE_EXPORT)
        await flow.async_step_check_again()
        await runs.wait(3)
        await stop_asking(hass, entry, [CODE_IMPORT])


@pytest.mark.freeze_time(START, tick=True)
async def test_energy_that_does_not_match_pauses_until_confirmed(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, runs: SyncRuns
) -> None:
    with (
        patch("custom_components.slimme_meter.remote.sync.PLAUSIBLE_HOURS", 2),
        patch("custom_components.slimme_meter.remote.sync.PLAUSIBLE_FLOOR", 0),
    ):
        async with home(leneda_seed=7) as house:
            entry = house.entry()
            runtime = await start(hass, entry)
            await runs.wait(1)
            await p1_hours(hass, house, entry, freezer, (11, 12, 13))
            await next_morning(house, freezer, runs, 2)
            assert runtime.remote is not None
            assert runtime.remote.mismatched_meter == DEFAULT_POD
            assert not runtime.remote.delivering
            assert raised(hass, "remote_implausible", entry)
            assert not raised(hass, "meter_mismatch", entry)
            issue = issue_of(hass, "remote_implausible", entry)
            assert issue.data["reason"].startswith("2 h: P1 ")
            diagnostics = await async_get_config_entry_diagnostics(hass, entry)
            assert diagnostics["remote"]["implausible"]["hours"] == 2
            flow = await fix_flow(hass, issue)
            menu = await flow.async_step_init()
            assert menu["menu_options"] == ["trust_meter", "disable_remote"]
            await flow.async_step_trust_meter()
            await hass.async_block_till_done()
            assert entry.options["remote"]["trusted_meters"] == [DEFAULT_POD]
            await until(lambda: entry.runtime_data.remote is not None)
            await until(
                lambda: (
                    entry.runtime_data.remote.state is RemoteState.ACTIVE
                    and not raised(hass, "remote_implausible", entry)
                )
            )


@pytest.mark.freeze_time("2025-01-09T10:30:00+00:00", tick=True)
async def test_two_years_backfill_exactly_across_every_clock_change(
    hass: HomeAssistant, runs: SyncRuns
) -> None:
    """The whole depth the client reads: 730 days, four clock changes."""
    first_day = date(2023, 1, 9)
    async with home(first_day=first_day, days=730) as house:
        entry = house.entry()
        runtime = await start(hass, entry)
        await runs.wait(1, timeout=120)
        assert runtime.remote_state is RemoteState.ACTIVE
        for series, code in (
            (Series.ELECTRICITY_IMPORT, CODE_IMPORT),
            (Series.ELECTRICITY_EXPORT, CODE_EXPORT),
        ):
            rows = await import_rows(hass, house, series)
            assert_consistent(rows)
            got = by_end(rows)
            # What lies within the 730 days the client reads back from now.
            oldest = min(got)
            truth = {
                moment: value
                for moment, value in house.registers(code).items()
                if moment >= oldest
            }
            assert len(rows) == len(truth)
            base = truth[min(truth)]
            assert all(
                round(got[moment][1] * 1000) == value - base
                for moment, value in truth.items()
            )
        # Two years back from now, through two springs and two autumns.
        assert len(rows) > 728 * 24
        assert runtime.history is not None
        assert runtime.history.summary()["electricity_import"]["estimated"] == 0


def gas_registers(house: Home) -> dict[int, int]:
    """The gas meter's register (litres) at every hour end Leneda covers."""
    result: dict[int, int] = {}
    for day in house.leneda.history:
        assert day.gas_l is not None
        for moment, value in zip(day.times, day.gas_l, strict=True):
            if moment.minute == 0:
                result[int(moment.timestamp())] = value
    return result


def with_own_pods(house: Home) -> MockConfigEntry:
    """Production and gas on metering points of their own, all three granted."""
    house.leneda.production_pod = PRODUCTION_POD
    house.leneda.gas_pod = GAS_POD
    return house.entry(
        eans=[DEFAULT_POD, PRODUCTION_POD, GAS_POD],
        grants=[CODE_IMPORT, CODE_EXPORT, CODE_GAS],
        production_pod=PRODUCTION_POD,
        gas_pod=GAS_POD,
    )


@pytest.mark.freeze_time(START, tick=True)
async def test_gas_from_its_own_pod_joins_the_p1_gas_register(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, runs: SyncRuns
) -> None:
    async with home() as house:
        entry = with_own_pods(house)
        runtime = await start(hass, entry)
        await runs.wait(1)
        assert runtime.remote_state is RemoteState.ACTIVE
        assert not raised(hass, "grant_missing", entry)
        # No P1 gas reading yet: the sums are exact, the state counts from 0.
        truth = gas_registers(house)
        first = min(truth)
        rows = await import_rows(hass, house, Series.GAS)
        assert_consistent(rows)
        assert len(rows) == DAYS * 24 + 1
        got = by_end(rows)
        for moment, value in truth.items():
            assert round(got[moment][1] * 1000) == value - truth[first], moment
        # Production from its own POD, consumption from the main one.
        exported = await import_rows(hass, house, Series.ELECTRICITY_EXPORT)
        assert len(exported) == DAYS * 24 + 1
        assert {q["obisCode"] for q in house.leneda.requests} == {
            CODE_IMPORT,
            CODE_EXPORT,
            CODE_GAS,
        }

        # Telegrams just after 17:00 and 18:00 (UTC): the gas register then.
        await p1_hours(hass, house, entry, freezer, (17, 18))
        assert runtime.history is not None
        local = runtime.history.local_readings(Series.GAS)
        assert len(local) == 2

        # The next morning Leneda has the 9th: every gas row is the register.
        await next_morning(house, freezer, runs, 2)
        truth = gas_registers(house)
        rows = await import_rows(hass, house, Series.GAS)
        assert_consistent(rows)
        got = by_end(rows)
        for moment, value in local.items():
            assert value == truth[moment]  # one household on both paths
        for moment, value in truth.items():
            assert round(got[moment][0] * 1000) == value, moment
        assert_no_spike(rows, truth)
        assert round(rows[-1][2] * 1000) == max(truth.values()) - truth[min(truth)]
        assert runtime.history.summary()["gas"]["estimated"] == 0
        assert runtime.remote is not None
        assert runtime.remote.mismatched_meter is None


@pytest.mark.freeze_time(START, tick=True)
async def test_a_missing_gas_grant_names_its_pod_and_electricity_imports(
    hass: HomeAssistant, runs: SyncRuns
) -> None:
    async with home() as house:
        house.leneda.revoke(CODE_GAS)
        entry = with_own_pods(house)
        runtime = await start(hass, entry)
        await runs.wait(1)
        assert runtime.remote_state is RemoteState.ACTIVE
        issue = issue_of(hass, "grant_missing", entry)
        assert issue.translation_placeholders == {
            "meter": "Smart meter",
            "codes": f"{CODE_GAS} ({GAS_POD})",
        }
        assert await import_rows(hass, house, Series.GAS) == []
        imported = await import_rows(hass, house)
        assert len(imported) == DAYS * 24 + 1
        diagnostics = await async_get_config_entry_diagnostics(hass, entry)
        assert diagnostics["remote"]["missing_grants"] == [CODE_GAS]

        # The gas POD no longer shared at all: the same repair, nothing stops.
        house.leneda.grant(CODE_GAS)
        house.leneda.revoke(pod=GAS_POD)
        flow = await fix_flow(hass, issue)
        await flow.async_step_check_again()
        await runs.wait(2)
        assert runtime.remote_state is RemoteState.ACTIVE
        assert raised(hass, "grant_missing", entry)
        assert await import_rows(hass, house, Series.GAS) == []

        # Shared again: "check again" imports gas and clears the issue.
        house.leneda.grant(pod=GAS_POD)
        await flow.async_step_check_again()
        await runs.wait(3)
        assert not raised(hass, "grant_missing", entry)
        rows = await import_rows(hass, house, Series.GAS)
        assert len(rows) == DAYS * 24 + 1

        # Revoked again, and the user stops asking for gas.
        house.leneda.revoke(CODE_GAS)
        await flow.async_step_check_again()
        await runs.wait(4)
        await stop_asking(hass, entry, [CODE_IMPORT, CODE_EXPORT])


@pytest.mark.freeze_time("2025-10-29T10:30:00+00:00", tick=True)
async def test_gas_across_the_autumn_change_takes_a_correction(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, runs: SyncRuns
) -> None:
    """Quarter-hour gas in m3 over a 25-hour day, then that day corrected."""
    async with home(first_day=date(2025, 10, 24), days=4) as house:
        house.leneda.variants = {"gas_quarter", "gas_m3"}
        entry = house.entry(grants=[CODE_IMPORT, CODE_GAS])
        runtime = await start(hass, entry)
        await runs.wait(1)
        assert runtime.remote_state is RemoteState.ACTIVE
        truth = gas_registers(house)
        assert len(truth) == 4 * 24 + 1 + 1  # 26 October has 25 hours
        rows = await import_rows(hass, house, Series.GAS)
        assert_consistent(rows)
        got = by_end(rows)
        assert set(got) == set(truth)
        assert all(
            round(got[moment][1] * 1000) == value - truth[min(truth)]
            for moment, value in truth.items()
        )

        # Leneda serves 26 October again as version 2 (gas half as much again).
        house.leneda.correct(date(2025, 10, 26), factor=1.5)
        house.leneda.add_days(1)
        jump(freezer, datetime(2025, 10, 30, 7, 31, tzinfo=AMS))
        await runs.wait(2)
        rows = await import_rows(hass, house, Series.GAS)
        assert_consistent(rows)
        got = by_end(rows)
        hourly = house.leneda.hourly_wh(CODE_GAS)
        assert len(hourly) == 5 * 24 + 1
        for hour_start, litres in hourly.items():
            end = hour_start + 3600
            assert round((got[end][1] - got[hour_start][1]) * 1000) == litres
        assert runtime.history is not None
        assert runtime.history.summary()["gas"]["estimated"] == 0


@pytest.mark.freeze_time(START, tick=True)
async def test_gas_that_does_not_match_the_p1_gas_meter_pauses_until_confirmed(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, runs: SyncRuns
) -> None:
    with (
        patch("custom_components.slimme_meter.remote.sync.PLAUSIBLE_HOURS", 2),
        patch("custom_components.slimme_meter.remote.sync.PLAUSIBLE_FLOOR", 0),
    ):
        async with home(leneda_seed=7) as house:
            house.leneda.gas_pod = GAS_POD
            entry = house.entry(
                eans=[DEFAULT_POD, GAS_POD], grants=[CODE_GAS], gas_pod=GAS_POD
            )
            runtime = await start(hass, entry)
            await runs.wait(1)
            await p1_hours(hass, house, entry, freezer, (14, 15, 16))
            await next_morning(house, freezer, runs, 2)
            assert runtime.remote is not None
            assert runtime.remote.mismatched_meter == GAS_POD
            issue = issue_of(hass, "remote_implausible", entry)
            assert issue.data["reason"].startswith("2 h: P1 ")
            assert issue.data["reason"].endswith(" m³")
            flow = await fix_flow(hass, issue)
            await flow.async_step_trust_meter()
            await hass.async_block_till_done()
            assert entry.options["remote"]["trusted_meters"] == [GAS_POD]
            await until(lambda: entry.runtime_data.remote is not None)
            await until(
                lambda: (
                    entry.runtime_data.remote.state is RemoteState.ACTIVE
                    and not raised(hass, "remote_implausible", entry)
                )
            )
