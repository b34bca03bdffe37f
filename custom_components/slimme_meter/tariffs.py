"""Which tariff was in force: the meter's own indicator, or a tariff schedule.

A schedule puts the low tariff at night, at weekends and, in the
Netherlands, on the national holidays the grid operators count as low:
Nieuwjaarsdag, Tweede Paasdag, Koningsdag, Hemelvaartsdag, Tweede
Pinksterdag and both days of Christmas, all day (local time). Belgian grid
operators count a holiday on a weekday as a day like any other: the Belgian
schedule has no holidays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Final

SCHEDULE_NL: Final = "netherlands"
SCHEDULE_BE: Final = "belgium"
SCHEDULE_CUSTOM: Final = "custom"

KINGS_DAY_SINCE = 2014  # Koninginnedag (30 April) before


def easter(year: int) -> date:
    """Return Easter Sunday of a year (the Anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * weekday) // 451
    month, day = divmod(h + weekday - 7 * m + 114, 31)
    return date(year, month, day + 1)


@lru_cache(maxsize=64)
def dutch_holidays(year: int) -> frozenset[date]:
    """Return the days of a year on which Dutch grid operators count low.

    Koningsdag is 27 April, or 26 April when the 27th is a Sunday (until
    2013 Koninginnedag: 30 April, or 29 April when the 30th is a Sunday).
    """
    sunday = easter(year)
    kings = date(year, 4, 27) if year >= KINGS_DAY_SINCE else date(year, 4, 30)
    if kings.weekday() == 6:
        kings -= timedelta(days=1)
    return frozenset(
        {
            date(year, 1, 1),  # Nieuwjaarsdag
            sunday + timedelta(days=1),  # Tweede Paasdag
            kings,  # Koningsdag
            sunday + timedelta(days=39),  # Hemelvaartsdag
            sunday + timedelta(days=50),  # Tweede Pinksterdag
            date(year, 12, 25),  # Eerste Kerstdag
            date(year, 12, 26),  # Tweede Kerstdag
        }
    )


@dataclass(frozen=True, slots=True)
class Schedule:
    """When the low tariff is in force: a night window, weekends, holidays."""

    low_start: int  # local hour the low tariff begins
    low_end: int  # local hour it ends
    low_weekends: bool
    low_holidays: bool = False  # the Dutch national holidays, all day

    def low(self, local: datetime) -> bool:
        """Return whether the low tariff is in force in the hour starting then."""
        if self.low_weekends and local.weekday() >= 5:
            return True
        hour = local.hour
        if self.low_start <= self.low_end:
            night = self.low_start <= hour < self.low_end
        else:
            night = hour >= self.low_start or hour < self.low_end
        return night or (
            self.low_holidays and local.date() in dutch_holidays(local.year)
        )


# Netherlands: low from 23:00 to 07:00, all weekend and on the national
# holidays (some grid operators, in Noord-Brabant and Limburg, begin at
# 21:00: a custom schedule). Belgium: night from 22:00 to 07:00 and all
# weekend, holidays on a weekday as normal days (some municipalities have
# 21:00 to 06:00: a custom schedule).
SCHEDULES: dict[str, Schedule] = {
    SCHEDULE_NL: Schedule(23, 7, True, True),
    SCHEDULE_BE: Schedule(22, 7, True, False),
}


def meter_tariff_low(indicator: Any, spec: str) -> bool | None:
    """Return whether a meter's tariff indicator (96.14.0) means the low tariff.

    Dutch meters count the low tariff as 1, Belgian ones the night as 2.
    """
    try:
        tariff = int(indicator)
    except (TypeError, ValueError):
        return None
    if tariff not in (1, 2):
        return None
    return tariff == (2 if spec == "belgium_5b" else 1)
