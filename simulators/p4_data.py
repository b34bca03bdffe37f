"""What the P4 consent API knows of one household: its registers, day by day.

The P4 simulator (:mod:`simulators.p4`) serves readings computed here from a
:class:`~simulators.meter.SimulatedMeter`, the same household the P1
simulator renders as telegrams. For every local day of the history the
registers are taken at each quarter hour from 00:00 to the next 00:00
(Europe/Amsterdam, both ends included: 97 readings, 93 on the last Sunday of
March, 101 on the last Sunday of October), so a P4 reading equals what a
telegram of the same meter shows at that moment:

- electricity import ``R180`` = 1-0:1.8.1 + 1-0:1.8.2, in Wh;
- electricity export ``R280`` = 1-0:2.8.1 + 1-0:2.8.2, in Wh;
- gas ``R180`` = the gas register at each whole hour, in litres (the P1 gas
  reading captured at that hour).

The meter given is never moved; the registers are computed on a copy. A meter
swap on a day replaces the electricity meter at that day's 00:00: from then on
the MeterId is the new meter's and its registers restart near zero.

The P4 meter number of a meter is its P1 equipment identifier without the
three-character manufacturer prefix (``E0012345678901234`` becomes
``12345678901234``), so the two differ the way they do in the field and the
integration's meter comparison has something to do.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from .meter import RegisterReading, SimulatedMeter
from .profiles import get_profile

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
QUARTER_SECONDS = 900
HOUR_SECONDS = 3600
FAST_SLOT_SECONDS = 300
"""Slot length of the default meter: weeks of history in a fraction of a second."""
METER_PREFIX_LENGTH = 3


def local_midnight(day: date) -> datetime:
    """00:00 Europe/Amsterdam of ``day``, in UTC."""
    return datetime.combine(day, time(), AMSTERDAM).astimezone(UTC)


def day_times(day: date) -> list[datetime]:
    """Every quarter hour of a local day, both 00:00 ends included (UTC)."""
    start = int(local_midnight(day).timestamp())
    end = int(local_midnight(day + timedelta(days=1)).timestamp())
    return [
        datetime.fromtimestamp(epoch, UTC)
        for epoch in range(start, end + 1, QUARTER_SECONDS)
    ]


def p4_meter_number(equipment_id: str) -> str:
    """Return the meter number P4 reports for this P1 equipment id."""
    return equipment_id[METER_PREFIX_LENGTH:]


def default_meter(
    first_day: date, *, seed: int = 0, profile: str = "nl_dsmr5_gas"
) -> SimulatedMeter:
    """Return a household with solar and gas (``nl_dsmr5_gas``), fast to compute.

    The meter starts at 00:00 of ``first_day`` (Europe/Amsterdam). It is one
    of ``profile``'s kind: its serial number prefix and time zone (a Smarty's
    is ``SAG…`` in Europe/Luxembourg); the household stays the same.
    """
    kind = get_profile(profile).meter_options
    options = replace(
        get_profile("nl_dsmr5_gas").meter_options,
        slot_seconds=FAST_SLOT_SECONDS,
        timezone=kind.timezone,
        equipment_prefix=kind.equipment_prefix,
    )
    return SimulatedMeter(options, seed=seed, start=local_midnight(first_day))


def _wh(kwh: Decimal) -> int:
    return int(kwh * 1000)


@dataclass(frozen=True, slots=True)
class DayRegisters:
    """One local day's registers, every quarter hour."""

    day: date
    times: tuple[datetime, ...]
    """UTC, from 00:00 to the next 00:00 local time, both included."""
    import_wh: tuple[int, ...]
    export_wh: tuple[int, ...]
    gas_l: tuple[int, ...] | None
    """Gas in litres at the same times (None without a gas meter)."""
    start: RegisterReading
    """All registers at the day's 00:00 (the day reading, with tariffs)."""
    meter_id: str
    """The electricity meter's P4 number on this day."""
    gas_meter_id: str | None

    @property
    def hour_indices(self) -> list[int]:
        """Indices of the whole hours (gas is read hourly)."""
        return [
            index
            for index, moment in enumerate(self.times)
            if int(moment.timestamp()) % HOUR_SECONDS == 0
        ]

    def gas_hourly(self) -> list[tuple[datetime, int]]:
        """(time, litres) at every whole hour of the day."""
        if self.gas_l is None:
            return []
        return [(self.times[i], self.gas_l[i]) for i in self.hour_indices]


class P4History:
    """The day-by-day registers of a household, from ``first_day`` on."""

    def __init__(
        self,
        meter: SimulatedMeter,
        first_day: date,
        days: int,
        *,
        swaps: Collection[date] = (),
    ) -> None:
        """Compute ``days`` days from ``first_day`` (the meter must not be later)."""
        if meter.time > local_midnight(first_day):
            msg = f"the meter's time {meter.time} lies after {first_day}'s 00:00"
            raise ValueError(msg)
        self.meter = meter
        self.first_day = first_day
        self.swaps = set(swaps)
        self._days: list[DayRegisters] = []
        self._probe = meter.copy()
        self.extend(days)

    def __len__(self) -> int:
        """Return the number of days."""
        return len(self._days)

    def __iter__(self) -> Iterator[DayRegisters]:
        """Iterate over the days, oldest first."""
        return iter(self._days)

    @property
    def last_day(self) -> date:
        """The newest day (the day before ``first_day`` when empty)."""
        return self.first_day + timedelta(days=len(self._days) - 1)

    def get(self, day: date) -> DayRegisters | None:
        """Return the registers of ``day``, or None outside the history."""
        index = (day - self.first_day).days
        if 0 <= index < len(self._days):
            return self._days[index]
        return None

    def extend(self, days: int = 1) -> list[DayRegisters]:
        """Compute ``days`` more days; return them."""
        added = []
        probe = self._probe
        for _ in range(days):
            day = self.first_day + timedelta(days=len(self._days))
            times = day_times(day)
            if day in self.swaps:
                probe.advance(times[0])
                probe.swap()
            readings = []
            for moment in times:
                probe.advance(moment)
                readings.append(probe.registers())
            gas = (
                None
                if probe.gas_equipment_id is None
                else tuple(_gas_litres(reading) for reading in readings)
            )
            registers = DayRegisters(
                day=day,
                times=tuple(times),
                import_wh=tuple(_wh(r.import_total_kwh) for r in readings),
                export_wh=tuple(_wh(r.export_total_kwh) for r in readings),
                gas_l=gas,
                start=readings[0],
                meter_id=p4_meter_number(probe.equipment_id),
                gas_meter_id=None
                if probe.gas_equipment_id is None
                else p4_meter_number(probe.gas_equipment_id),
            )
            self._days.append(registers)
            added.append(registers)
        return added

    def swap(self, day: date) -> None:
        """Replace the electricity meter at 00:00 of ``day``; recompute from there."""
        self.swaps.add(day)
        days = len(self._days)
        self._days = []
        self._probe = self.meter.copy()
        self.extend(days)


def _gas_litres(reading: RegisterReading) -> int:
    assert reading.gas_m3 is not None
    return _wh(reading.gas_m3)


def dst_days(days: Collection[DayRegisters]) -> dict[date, int]:
    """Return the days with a clock change and their quarter-hour count."""
    return {d.day: len(d.times) for d in days if len(d.times) != 97}
