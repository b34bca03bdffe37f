"""Usages turned into registers that join the P1 port's (remote/anchor.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from custom_components.slimme_meter.remote.anchor import Overlap, UsageLedger
from custom_components.slimme_meter.remote.api import Register, Usage

IMPORT = Register.ELECTRICITY_IMPORT
T0 = datetime(2025, 1, 1, tzinfo=UTC)
H = 3600
E0 = int(T0.timestamp())


def hour(index: int, value: int, register: Register = IMPORT) -> Usage:
    start = T0 + timedelta(hours=index)
    return Usage(register, start, start + timedelta(hours=1), value)


def span(first: int, last: int, value: int) -> Usage:
    return Usage(IMPORT, T0 + timedelta(hours=first), T0 + timedelta(hours=last), value)


def as_epochs(readings: list[tuple[datetime, int]]) -> dict[int, int]:
    return {int(moment.timestamp()) - E0: value for moment, value in readings}


def test_without_p1_readings_the_sums_start_at_zero() -> None:
    ledger = UsageLedger()
    assert ledger.add([hour(0, 100), hour(1, 200), hour(2, 50)]) == 3
    assert ledger.add([hour(1, 200)]) == 0
    assert as_epochs(ledger.readings(IMPORT, {})) == {
        0: 0,
        H: 100,
        2 * H: 300,
        3 * H: 350,
    }


def test_a_p1_reading_inside_anchors_every_segment_before_it() -> None:
    ledger = UsageLedger()
    # Hours 0-1, a hole (hour 2 unknown), hours 3-4.
    ledger.add([hour(0, 100), hour(1, 200), hour(3, 10), hour(4, 20)])
    local = {E0 + 5 * H: 1_000_000, E0 + 9 * H: 1_000_500}
    got = as_epochs(ledger.readings(IMPORT, local))
    # The newest segment ends at the P1 register; the one before ends where
    # the next begins (the hole's energy is unknown: nothing is invented),
    # and that assumed end is left out: its hour is estimated.
    assert got == {
        3 * H: 999_970,
        4 * H: 999_980,
        5 * H: 1_000_000,
        0: 999_670,
        H: 999_770,
    }
    # A segment that holds a P1 reading takes that reading's offset.
    del local[E0 + 5 * H]
    local[E0 + 4 * H] = 2_000_000
    got = as_epochs(ledger.readings(IMPORT, local))
    assert got[5 * H] == 2_000_020
    assert got[H] == 1_999_790


def test_segments_after_the_last_p1_reading_continue_from_it() -> None:
    ledger = UsageLedger()
    ledger.add([hour(5, 100), hour(8, 7)])
    got = as_epochs(ledger.readings(IMPORT, {E0 + 2 * H: 5000}))
    # Each starts where the last known register is; those starts are assumed.
    assert got == {6 * H: 5100, 9 * H: 5107}


def test_a_day_total_is_spread_until_its_hours_are_measured() -> None:
    ledger = UsageLedger()
    ledger.add([span(0, 24, 2400)])
    # Only the day's two ends: the hours between are estimated by the history.
    assert as_epochs(ledger.readings(IMPORT, {})) == {0: 0, 24 * H: 2400}
    # The first measured hours of the day are exact; the rest is spread.
    ledger.add([hour(0, 50), hour(1, 70), hour(5, 1)])
    assert as_epochs(ledger.readings(IMPORT, {})) == {
        0: 0,
        H: 50,
        2 * H: 120,
        24 * H: 2400,
    }
    # Every hour measured: the day total is no longer used.
    ledger.add([hour(index, 100) for index in range(24)])
    got = as_epochs(ledger.readings(IMPORT, {}))
    assert len(got) == 25
    assert got[24 * H] == 2400
    assert got[12 * H] == 1200


def test_a_month_total_yields_to_the_days_inside_it() -> None:
    ledger = UsageLedger()
    ledger.add([span(0, 72, 9000), span(0, 24, 2000), span(24, 48, 3000)])
    # The month overlaps the finer days: the days are used; the month alone
    # is dropped (its third day stays unknown until it comes).
    assert as_epochs(ledger.readings(IMPORT, {})) == {
        0: 0,
        24 * H: 2000,
        48 * H: 5000,
    }
    # Spans off the hour or empty are no rows.
    assert ledger.add([Usage(IMPORT, T0, T0, 5)]) == 0
    assert (
        ledger.add(
            [Usage(IMPORT, T0 + timedelta(minutes=15), T0 + timedelta(hours=1), 5)]
        )
        == 0
    )


def test_a_measured_hour_beyond_a_total_that_is_smaller_is_ignored() -> None:
    ledger = UsageLedger()
    ledger.add([span(0, 24, 100), hour(0, 60), hour(1, 60)])
    assert as_epochs(ledger.readings(IMPORT, {})) == {0: 0, H: 60, 24 * H: 100}


def test_overlap_compares_the_hours_both_measured() -> None:
    ledger = UsageLedger()
    ledger.add([hour(0, 1000), hour(1, 1000), hour(2, 1000)])
    local = {E0: 0, E0 + H: 1000, E0 + 2 * H: 2100, E0 + 4 * H: 9999}
    overlap = ledger.overlap(IMPORT, local)
    assert overlap == Overlap(hours=2, local=2100, remote=2000)
    assert overlap.plausible(0.05, 0)
    assert not overlap.plausible(0.01, 50)
    assert overlap.plausible(0.01, 100)
    assert ledger.overlap(Register.ELECTRICITY_EXPORT, local).hours == 0
    # A register that went down (a replaced meter) is not compared.
    assert ledger.overlap(IMPORT, {E0: 500, E0 + H: 100}).hours == 0


def test_the_ledger_is_stored_compactly_and_restored() -> None:
    ledger = UsageLedger()
    ledger.add(
        [hour(0, 1), hour(1, 2), hour(5, 3), hour(0, 4, Register.ELECTRICITY_EXPORT)]
    )
    ledger.add([span(24, 48, 100)])
    data = ledger.to_json()
    assert data["fine"]["electricity_import"] == [[E0, [1, 2]], [E0 + 5 * H, [3]]]
    restored = UsageLedger.from_json(data)
    assert restored.fine == ledger.fine
    assert restored.coarse == ledger.coarse
    assert UsageLedger.from_json(None).fine == {}
    assert ledger.readings(Register.GAS, {}) == []
