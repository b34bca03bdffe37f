"""Tariff schedules: night, weekends and the Dutch holidays; the meter's indicator."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from custom_components.slimme_meter.costs import PriceSettings
from custom_components.slimme_meter.costs_flow import validate
from custom_components.slimme_meter.tariffs import (
    SCHEDULES,
    Schedule,
    dutch_holidays,
    easter,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NL = SCHEDULES["netherlands"]
BE = SCHEDULES["belgium"]


@pytest.mark.parametrize(
    ("year", "sunday"),
    [
        (1818, date(1818, 3, 22)),  # the earliest possible
        (1943, date(1943, 4, 25)),  # the latest possible
        (2013, date(2013, 3, 31)),
        (2019, date(2019, 4, 21)),
        (2024, date(2024, 3, 31)),
        (2025, date(2025, 4, 20)),
        (2026, date(2026, 4, 5)),
        (2027, date(2027, 3, 28)),
        (2028, date(2028, 4, 16)),
        (2038, date(2038, 4, 25)),
        (2285, date(2285, 3, 22)),
    ],
)
def test_easter(year: int, sunday: date) -> None:
    assert easter(year) == sunday
    assert sunday.weekday() == 6


@pytest.mark.parametrize(
    ("year", "days"),
    [
        # Koninginnedag on a Tuesday.
        (2013, ["01-01", "04-01", "04-30", "05-09", "05-20", "12-25", "12-26"]),
        # The first Koningsdag: 27 April was a Sunday, so the 26th.
        (2014, ["01-01", "04-21", "04-26", "05-29", "06-09", "12-25", "12-26"]),
        (2024, ["01-01", "04-01", "04-27", "05-09", "05-20", "12-25", "12-26"]),
        # 27 April a Sunday again: Koningsdag on Saturday the 26th.
        (2025, ["01-01", "04-21", "04-26", "05-29", "06-09", "12-25", "12-26"]),
        (2026, ["01-01", "04-06", "04-27", "05-14", "05-25", "12-25", "12-26"]),
        # Tweede Paasdag the day after the clocks go forward.
        (2027, ["01-01", "03-29", "04-27", "05-06", "05-17", "12-25", "12-26"]),
        (2028, ["01-01", "04-17", "04-27", "05-25", "06-05", "12-25", "12-26"]),
    ],
)
def test_dutch_holidays(year: int, days: list[str]) -> None:
    expected = {date.fromisoformat(f"{year}-{day}") for day in days}
    assert dutch_holidays(year) == expected


def _local(day: str, hour: int) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02}:00").replace(tzinfo=AMSTERDAM)


def _low_hours(schedule: Schedule, day: str) -> list[int]:
    """Return the local hours of a day in which the low tariff is in force."""
    start = _local(day, 0)
    end = start + timedelta(days=1)
    hours = []
    moment = start.astimezone(ZoneInfo("UTC"))
    while moment < end:
        local = moment.astimezone(AMSTERDAM)
        if schedule.low(local):
            hours.append(local.hour)
        moment += timedelta(hours=1)
    return hours


NIGHT_NL = [0, 1, 2, 3, 4, 5, 6, 23]
NIGHT_BE = [0, 1, 2, 3, 4, 5, 6, 22, 23]
ALL_DAY = list(range(24))


@pytest.mark.parametrize(
    ("day", "nl", "be"),
    [
        ("2026-04-28", NIGHT_NL, NIGHT_BE),  # a Tuesday like any other
        ("2026-04-27", ALL_DAY, NIGHT_BE),  # Koningsdag, a Monday
        ("2026-04-06", ALL_DAY, NIGHT_BE),  # Tweede Paasdag / Paasmaandag
        ("2026-05-14", ALL_DAY, NIGHT_BE),  # Hemelvaartsdag
        ("2026-05-25", ALL_DAY, NIGHT_BE),  # Tweede Pinksterdag
        ("2026-01-01", ALL_DAY, NIGHT_BE),  # Nieuwjaarsdag, a Thursday
        ("2026-12-25", ALL_DAY, NIGHT_BE),  # Eerste Kerstdag, a Friday
        ("2026-12-26", ALL_DAY, ALL_DAY),  # Tweede Kerstdag, a Saturday
        ("2026-05-05", NIGHT_NL, NIGHT_BE),  # Bevrijdingsdag: not low
        ("2026-04-03", NIGHT_NL, NIGHT_BE),  # Goede Vrijdag: not low
        ("2026-07-21", NIGHT_NL, NIGHT_BE),  # the Belgian national day
        ("2026-11-11", NIGHT_NL, NIGHT_BE),  # Wapenstilstand
        # Tweede Paasdag the day after the clocks go forward (2027).
        ("2027-03-29", ALL_DAY, NIGHT_BE),
        # Koningsdag moved to Saturday 26 April 2025; Sunday the 27th is
        # low as a weekend day, Friday the 25th is not a holiday.
        ("2025-04-25", NIGHT_NL, NIGHT_BE),
        ("2025-04-26", ALL_DAY, ALL_DAY),
    ],
)
def test_schedules_and_holidays(day: str, nl: list[int], be: list[int]) -> None:
    assert _low_hours(NL, day) == nl
    assert _low_hours(BE, day) == be


def test_custom_schedule_with_holidays_and_without_weekends() -> None:
    custom = PriceSettings.from_options(
        {
            "tariff_schedule": "custom",
            "low_start": 21,
            "low_end": 7,
            "low_weekends": False,
            "low_holidays": True,
        }
    ).schedule
    night = [0, 1, 2, 3, 4, 5, 6, 21, 22, 23]
    assert _low_hours(custom, "2026-12-25") == ALL_DAY
    # A holiday on a weekend is still low when weekends are not.
    assert _low_hours(custom, "2026-12-26") == ALL_DAY
    assert _low_hours(custom, "2026-12-27") == night  # an ordinary Sunday
    # The day the clocks go back (25 hours): 02:00 twice, both low.
    assert _low_hours(custom, "2026-10-25") == [0, 1, 2, 2, 3, 4, 5, 6, 21, 22, 23]
    # Saved before the holidays were a setting: without them.
    older = PriceSettings.from_options(
        {"tariff_schedule": "custom", "low_start": 21, "low_end": 7}
    )
    assert older.schedule.low_holidays is False
    assert _low_hours(older.schedule, "2026-12-25") == night


def test_holidays_change_the_fingerprint() -> None:
    base = {"tariff_schedule": "custom", "low_start": 21, "low_end": 7}
    assert (
        PriceSettings.from_options(base).fingerprint()
        != PriceSettings.from_options({**base, "low_holidays": True}).fingerprint()
    )


def test_options_keep_the_holidays_of_a_custom_schedule() -> None:
    errors: dict[str, str] = {}
    settings = validate(
        {
            "electricity_import_price": 0.3,
            "electricity_import_price_low": 0.2,
            "tariff_schedule": "custom",
            "low_start": 21,
            "low_end": 7,
            "low_weekends": True,
            "low_holidays": True,
        },
        errors,
    )
    assert errors == {}
    assert settings["low_holidays"] is True
    assert PriceSettings.from_options(settings).schedule == Schedule(21, 7, True, True)
    # The Dutch and Belgian schedules are fixed: no holiday setting stored.
    assert "low_holidays" not in validate({"tariff_schedule": "belgium"}, errors)
