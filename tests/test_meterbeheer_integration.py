"""Meterbeheer HUB and the P1 port of one Dutch home through Home Assistant.

The hub simulator serves the usage of the same simulated household the P1
server renders as telegrams: ten days of measured quarters, day values spread
flat before them, month values before those. The real recorder keeps the
statistics.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.slimme_meter.const import DOMAIN
from custom_components.slimme_meter.history import Series
from custom_components.slimme_meter.remote.api import RemoteState
from simulators.meterbeheer import MeterbeheerSimulator
from simulators.p4 import DEFAULT_ELECTRICITY_EAN, DEFAULT_GAS_EAN
from simulators.p4_data import AMSTERDAM, default_meter

from .helpers import state_of
from .remote_helpers import (
    P1Server,
    SyncRuns,
    assert_consistent,
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

FIRST_DAY = date(2025, 2, 1)
DAYS = 60  # to 1 April; measured from 23 March (with the clock change)
START = "2025-04-02T10:30:00+00:00"
IMPORT_TOTAL = "sensor.electricity_meter_energy_import_total"


@dataclass
class Home:
    hub: MeterbeheerSimulator
    p1: P1Server
    equipment_id: str

    def entry(self) -> MockConfigEntry:
        options = {
            "provider": "nl_meterbeheer",
            "api_key": "test-key",
            "base_url": self.hub.url,
            "eans": [DEFAULT_ELECTRICITY_EAN, DEFAULT_GAS_EAN],
        }
        return p1_entry(self.p1, self.equipment_id, options)

    def registers(self) -> dict[int, int]:
        """The meter's import register (Wh) at every hour end served."""
        return hour_registers(self.hub.history)

    async def send(self, hass: HomeAssistant, entry: MockConfigEntry) -> int:
        return await send_telegram(hass, self.p1, entry)


@asynccontextmanager
async def home() -> AsyncGenerator[Home]:
    meter = default_meter(FIRST_DAY)
    hub = MeterbeheerSimulator(
        meter, first_day=FIRST_DAY, history_days=DAYS, measured_days=10, daily_days=20
    )
    async with serving(hub, meter) as p1:
        yield Home(hub, p1, meter.equipment_id)


def midnight(day: date) -> int:
    return int(datetime.combine(day, time(), AMSTERDAM).timestamp())


@pytest.mark.freeze_time(START, tick=True)
async def test_measured_hours_exact_spread_days_estimated_joined_to_p1(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, runs: SyncRuns
) -> None:
    async with home() as house:
        entry = house.entry()
        runtime = await start(hass, entry)
        await runs.wait(1)
        assert runtime.remote_state is RemoteState.ACTIVE
        rows = await statistics_rows(
            hass, house.equipment_id, Series.ELECTRICITY_IMPORT
        )
        assert_consistent(rows)
        got = by_end(rows)
        truth = house.registers()
        first = midnight(FIRST_DAY)
        # Measured hours: each row's step is the hour's usage, exactly.
        for hour_start, wh in house.hub.measured_hours().items():
            step = got[hour_start + 3600][1] - got[hour_start][1]
            assert round(step * 1000) == wh, hour_start
        # Day values are exact at their midnights; month values at the
        # month's (and the month part's) ends.
        exact = [midnight(date(2025, 3, 1)), midnight(date(2025, 3, 4))]
        exact += [midnight(date(2025, 3, 4) + timedelta(days=n)) for n in range(20)]
        for moment in exact:
            # Spread values carry fractions of a Wh: at most half a Wh a day.
            days = (moment - first) // 86400 + 1
            error = round(got[moment][1] * 1000) - (truth[moment] - truth[first])
            assert abs(error) <= days / 2, moment
        # The hours inside spread days are estimated (each day: 23 of 24).
        summary = runtime.history.summary() if runtime.history else {}
        estimated = summary["electricity_import"]["estimated"]
        assert estimated == 50 * 23
        # Estimated rows are even: no spike anywhere.
        steps = [b[2] - a[2] for a, b in pairwise(rows)]
        assert max(steps) < 3
        gas = await statistics_rows(hass, house.equipment_id, Series.GAS)
        assert_consistent(gas)

        # P1 readings after 11:00 and 12:00; the hub delivers the 2nd next day.
        local = {}
        for hour in (11, 12):
            boundary = datetime(2025, 4, 2, hour, tzinfo=UTC)
            jump(freezer, boundary + timedelta(seconds=30))
            local[int(boundary.timestamp())] = await house.send(hass, entry)
        house.hub.add_days(1)
        jump(freezer, datetime(2025, 4, 3, 7, 31, tzinfo=AMSTERDAM))
        await runs.wait(2)
        truth = house.registers()
        shift = local[max(local)] - truth[max(local)]
        assert 0 <= shift < 100
        rows = await statistics_rows(
            hass, house.equipment_id, Series.ELECTRICITY_IMPORT
        )
        assert_consistent(rows)
        got = by_end(rows)
        # Every exact register is now the meter's (moved by the 30 s of the
        # P1 reading); the sum runs on without a step.
        for moment in [*exact, *(h + 3600 for h in house.hub.measured_hours())]:
            if moment not in local:
                error = round(got[moment][0] * 1000) - (truth[moment] + shift)
                assert abs(error) <= DAYS / 2, moment
        for moment, value in local.items():
            assert round(got[moment][0] * 1000) == value
        steps = [b[2] - a[2] for a, b in pairwise(rows)]
        assert max(steps) < 3


@pytest.mark.freeze_time(START, tick=True)
async def test_an_ended_mandate_stops_the_import_and_p1_keeps_updating(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, runs: SyncRuns
) -> None:
    async with home() as house:
        entry = house.entry()
        runtime = await start(hass, entry)
        await runs.wait(1)
        await house.send(hass, entry)
        before = state_of(hass, IMPORT_TOTAL)
        house.hub.revoke()
        await sync_now(hass, entry.entry_id)
        await runs.wait(2)
        assert runtime.remote_state is RemoteState.CONSENT_ENDED
        issue = ir.async_get(hass).async_get_issue(
            DOMAIN, f"consent_ended_{entry.entry_id}"
        )
        assert issue is not None
        asked = len(house.hub.requests)
        jump(freezer, datetime(2025, 4, 4, 8, tzinfo=AMSTERDAM))
        await house.send(hass, entry)
        assert len(house.hub.requests) == asked
        assert state_of(hass, IMPORT_TOTAL) != before


@pytest.mark.freeze_time(START, tick=True)
async def test_a_pending_feed_awaits_data(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, runs: SyncRuns
) -> None:
    async with home() as house:
        house.hub.pending_polls = 2  # the backfill's two pages
        entry = house.entry()
        runtime = await start(hass, entry)
        await runs.wait(1)
        assert runtime.remote_state is RemoteState.AWAITING_DATA
        await sync_now(hass, entry.entry_id)
        await runs.wait(2)
        assert runtime.remote_state is RemoteState.ACTIVE
        rows = await statistics_rows(
            hass, house.equipment_id, Series.ELECTRICITY_IMPORT
        )
        assert rows
