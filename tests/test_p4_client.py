"""The P4 provider against the simulated consent API over loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from custom_components.slimme_meter.remote import p4
from custom_components.slimme_meter.remote.api import (
    AuthError,
    Batch,
    InvalidResponseError,
    Provider,
    RateLimitedError,
    Reading,
    Register,
    RemoteState,
    UnavailableError,
    UnreachableError,
)
from custom_components.slimme_meter.remote.p4 import (
    OLDEST_CURSOR,
    P4Provider,
    meter_matches,
    parse_retry_after,
)
from simulators.meter import SimulatedMeter
from simulators.p4 import (
    DEFAULT_ELECTRICITY_EAN,
    DEFAULT_GAS_EAN,
    VARIANTS as SIMULATED_VARIANTS,
    P4Simulator,
)
from simulators.p4_data import default_meter, local_midnight

pytestmark = pytest.mark.usefixtures("socket_enabled")

AMS = ZoneInfo("Europe/Amsterdam")
WINTER = date(2025, 1, 6)  # a Monday
EANS = (DEFAULT_ELECTRICITY_EAN, DEFAULT_GAS_EAN)


@pytest.fixture
async def session() -> AsyncGenerator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def sim() -> AsyncGenerator[P4Simulator]:
    simulator = P4Simulator(first_day=WINTER, history_days=3, page_size=5)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
def provider(session: aiohttp.ClientSession, sim: P4Simulator) -> P4Provider:
    return P4Provider(session, "test-key", sim.url, timeout=5)


async def _backfill(
    provider: P4Provider, eans: tuple[str, ...] = EANS, cursor: str | None = None
) -> list[Batch]:
    batches = []
    for _ in range(500):
        batch = await provider.readings(eans, cursor)
        batches.append(batch)
        cursor = batch.cursor
        if not batch.more:
            return batches
    raise AssertionError("the feed never ended")


def _merged(
    batches: list[Batch], daily: bool = False
) -> dict[tuple[Register, datetime], int]:
    values: dict[tuple[Register, datetime], int] = {}
    for batch in batches:
        for reading in batch.daily if daily else batch.readings:
            values[reading.register, reading.time] = reading.value
    return values


def _expected(
    meter: SimulatedMeter, times: list[datetime]
) -> dict[tuple[Register, datetime], int]:
    expected = {}
    for registers in meter.readings_at(times):
        moment = registers.time
        expected[Register.ELECTRICITY_IMPORT, moment] = int(
            registers.import_total_kwh * 1000
        )
        expected[Register.ELECTRICITY_EXPORT, moment] = int(
            registers.export_total_kwh * 1000
        )
        if moment.minute == 0:
            assert registers.gas_m3 is not None
            expected[Register.GAS, moment] = int(registers.gas_m3 * 1000)
    return expected


def test_is_a_provider(provider: P4Provider) -> None:
    checked: Provider = provider
    assert checked.name == "nl_p4"


# ------------------------------------------------------------ metering points


async def test_metering_points(provider: P4Provider, sim: P4Simulator) -> None:
    points = await provider.metering_points()
    assert [(p.ean, p.product) for p in points] == [
        (DEFAULT_ELECTRICITY_EAN, "electricity"),
        (DEFAULT_GAS_EAN, "gas"),
    ]
    electricity, gas = points
    assert electricity.meter_id is not None
    assert meter_matches(electricity.meter_id, sim.meter.equipment_id)
    assert gas.meter_id is not None
    assert sim.meter.gas_equipment_id is not None
    assert meter_matches(gas.meter_id, sim.meter.gas_equipment_id)
    assert electricity.address == "Simulatiestraat 1, 1234 AB Teststad"
    request = sim.requests[-1]
    assert request.path == "/api/v5/meteringpoints/"
    assert request.api_key == "test-key"
    assert request.query == {"OnlyPayload": "true"}
    assert provider.name == "nl_p4"


async def test_metering_points_products_and_optional_fields(
    provider: P4Provider, sim: P4Simulator
) -> None:
    def variants(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
        electricity, gas = points
        return [
            electricity | {"Product": " E ", "MeterId": "", "Address": None},
            gas | {"Product": "GAS"},
            {"Ean": "871687120000000032", "MeterId": None, "Product": "Heat"},
        ]

    sim.mangle(variants)
    points = await provider.metering_points()
    assert [(p.product, p.meter_id, p.address) for p in points] == [
        ("electricity", None, None),
        ("gas", points[1].meter_id, "Simulatiestraat 1, 1234 AB Teststad"),
    ]


@pytest.mark.parametrize(
    "transform",
    [
        lambda points: {"MeteringPoints": points},
        lambda points: [*points, "871687120000000032"],
        lambda points: [points[0] | {"Ean": "12345"}],
        lambda points: [points[0] | {"Ean": 871687120000000018}],
        lambda points: [{k: v for k, v in points[0].items() if k != "Product"}],
        lambda points: [points[0] | {"MeterId": 12345678}],
        lambda points: [points[0] | {"Address": 5}],
    ],
    ids=[
        "wrapped",
        "not-object",
        "short-ean",
        "numeric-ean",
        "no-product",
        "meter-int",
        "address-number",
    ],
)
async def test_metering_points_invalid(
    provider: P4Provider, sim: P4Simulator, transform: Callable[[Any], Any]
) -> None:
    sim.mangle(transform)
    with pytest.raises(InvalidResponseError):
        await provider.metering_points()


# -------------------------------------------------------------------- backfill


@pytest.mark.parametrize(
    ("first_day", "dst_day", "hours"),
    [
        (date(2025, 3, 24), date(2025, 3, 30), 23),
        (date(2025, 10, 20), date(2025, 10, 26), 25),
    ],
    ids=["spring", "autumn"],
)
async def test_backfill_equals_meter_registers(
    session: aiohttp.ClientSession, first_day: date, dst_day: date, hours: int
) -> None:
    meter = default_meter(first_day - timedelta(days=1), seed=5)
    sim = P4Simulator(meter, first_day=first_day, history_days=9, page_size=7)
    await sim.start()
    try:
        provider = P4Provider(session, "test-key", sim.url)
        batches = await _backfill(provider)
    finally:
        await sim.stop()

    assert sim.dst_days == {dst_day: hours * 4 + 1}
    # 9 days x 4 objects in pages of 7, then one empty page.
    assert len(batches) == 7
    assert all(batch.more for batch in batches[:-1])
    last = batches[-1]
    assert not last.more
    assert (last.readings, last.daily, last.rejections) == ((), (), ())
    assert last.cursor == batches[-2].cursor
    assert batches[0].cursor is not None
    assert sim.requests[0].path == f"/v8/readings-bulk/{OLDEST_CURSOR}"
    assert sim.requests[0].query == {
        "IncludeIntervalObjects": "true",
        "IncludeDayObjects": "true",
    }
    assert sim.requests[1].path == f"/v8/readings-bulk/{batches[0].cursor}"

    times = sorted({t for day in sim.days for t in day.times})
    assert len(times) == 9 * 96 + (hours - 24) * 4 + 1
    readings = _merged(batches)
    assert readings == _expected(meter, times)
    assert all(r.time.tzinfo is UTC for b in batches for r in b.readings)

    def hours_of(day: date) -> int:
        return sum(
            1
            for register, moment in readings
            if register is Register.GAS and moment.astimezone(AMS).date() == day
        )

    assert hours_of(dst_day) == hours
    assert hours_of(dst_day - timedelta(days=1)) == 24
    quarters = sum(
        1
        for register, moment in readings
        if register is Register.ELECTRICITY_IMPORT
        and moment.astimezone(AMS).date() == dst_day
    )
    assert quarters == hours * 4

    midnights = [local_midnight(first_day + timedelta(days=n)) for n in range(9)]
    expected_daily = {
        key: value
        for key, value in _expected(meter, midnights).items()
        if key[1] in midnights
    }
    assert _merged(batches, daily=True) == expected_daily

    meter_ids = frozenset().union(*(batch.meter_ids for batch in batches))
    assert meter_ids == {sim.days[0].meter_id}  # electricity only
    assert meter_matches(sim.days[0].meter_id, meter.equipment_id)


async def test_continues_after_cursor(provider: P4Provider, sim: P4Simulator) -> None:
    batches = await _backfill(provider)
    cursor = batches[-1].cursor
    again = await provider.readings(EANS, cursor)
    assert not again.more
    assert again.readings == ()

    added = sim.add_days(1)[0]
    later = await _backfill(provider, cursor=cursor)
    days = {r.time.astimezone(AMS).date() for b in later for r in b.readings}
    assert days == {added.day, added.day + timedelta(days=1)}  # both 00:00 ends
    assert len(_merged(later)) == 2 * 97 + 25


async def test_filters_eans(provider: P4Provider, sim: P4Simulator) -> None:
    batches = await _backfill(provider, (DEFAULT_ELECTRICITY_EAN,))
    registers = {r.register for b in batches for r in b.readings}
    assert registers == {Register.ELECTRICITY_IMPORT, Register.ELECTRICITY_EXPORT}
    assert frozenset().union(*(b.meter_ids for b in batches)) == {sim.days[0].meter_id}
    nothing = await _backfill(provider, ())
    assert all(b.readings == () and b.daily == () for b in nothing)
    assert len(nothing) == len(batches)  # the cursor moves all the same


async def test_readings_without_values_are_skipped(
    provider: P4Provider, sim: P4Simulator
) -> None:
    sim.blank(WINTER + timedelta(days=1), count=6)
    readings = _merged(await _backfill(provider))
    expected = _expected(sim.meter, sorted({t for d in sim.days for t in d.times}))
    missing = set(expected) - set(readings)
    assert {register for register, _ in missing} == set(Register)
    counts = {
        register: sum(1 for reg, _ in missing if reg is register)
        for register in Register
    }
    assert counts == {
        Register.ELECTRICITY_IMPORT: 6,
        Register.ELECTRICITY_EXPORT: 6,
        Register.GAS: 6,
    }
    assert all(readings[key] == expected[key] for key in readings)
    assert 0 not in readings.values()


async def test_late_correction(provider: P4Provider, sim: P4Simulator) -> None:
    batches = await _backfill(provider)
    first = _merged(batches)
    day = WINTER + timedelta(days=1)
    sim.correct(day, DEFAULT_ELECTRICITY_EAN)
    later = await _backfill(provider, cursor=batches[-1].cursor)
    corrected = _merged(later)
    assert {register for register, _ in corrected} == {
        Register.ELECTRICITY_IMPORT,
        Register.ELECTRICITY_EXPORT,
    }
    assert len(corrected) == 2 * 97
    changed = {key for key, value in corrected.items() if first[key] != value}
    assert changed
    ends = {local_midnight(day), local_midnight(day + timedelta(days=1))}
    assert not {moment for _, moment in changed} & ends
    expected = {
        (Register.ELECTRICITY_IMPORT, moment): r180
        for moment, r180, _ in sim.interval_values(
            DEFAULT_ELECTRICITY_EAN, day, revision=1
        )
    }
    assert {
        k: v for k, v in corrected.items() if k[0] is Register.ELECTRICITY_IMPORT
    } == expected


async def test_meter_swap(session: aiohttp.ClientSession) -> None:
    sim = P4Simulator(first_day=WINTER, history_days=4, page_size=50)
    old_id = sim.days[0].meter_id
    swap_day = WINTER + timedelta(days=2)
    sim.swap_meter(swap_day)
    await sim.start()
    try:
        batches = await _backfill(P4Provider(session, "test-key", sim.url))
    finally:
        await sim.stop()
    new_id = sim.days[-1].meter_id
    assert new_id != old_id
    seen = frozenset().union(*(b.meter_ids for b in batches))
    assert {old_id, new_id} <= seen
    readings = _merged(batches)
    swap = local_midnight(swap_day)
    before = readings[Register.ELECTRICITY_IMPORT, swap - timedelta(minutes=15)]
    after = readings[Register.ELECTRICITY_IMPORT, swap + timedelta(minutes=15)]
    assert after < before / 10  # the new meter starts near zero


# ------------------------------------------------------------------ rejections


@pytest.mark.parametrize(
    ("code", "state"),
    [
        ("008", RemoteState.CONSENT_ENDED),
        ("040", RemoteState.CONSENT_ENDED),
        ("038", RemoteState.READOUT_SWITCHED_OFF),
        ("039", RemoteState.NOT_REMOTELY_READABLE),
        ("007", RemoteState.NOT_REMOTELY_READABLE),
        ("009", RemoteState.TEMPORARILY_UNAVAILABLE),
        ("012", RemoteState.TEMPORARILY_UNAVAILABLE),
        ("014", RemoteState.TEMPORARILY_UNAVAILABLE),
        ("041", RemoteState.TEMPORARILY_UNAVAILABLE),
        ("010", None),
        ("011", None),
        ("000", RemoteState.TEMPORARILY_UNAVAILABLE),
        ("006", RemoteState.TEMPORARILY_UNAVAILABLE),
        ("013", RemoteState.TEMPORARILY_UNAVAILABLE),
    ],
)
async def test_rejection_states(
    provider: P4Provider, sim: P4Simulator, code: str, state: RemoteState | None
) -> None:
    cursor = (await _backfill(provider))[-1].cursor
    sim.reject(code, DEFAULT_GAS_EAN)
    batch = await provider.readings(EANS, cursor)
    assert batch.more
    assert len(batch.rejections) == 1
    rejection = batch.rejections[0]
    assert rejection.ean == DEFAULT_GAS_EAN
    assert rejection.day == sim.days[-1].day
    assert rejection.code == code
    assert rejection.state is state
    assert rejection.text
    assert not (await provider.readings(EANS, batch.cursor)).more


async def test_rejection_for_other_ean_is_skipped(
    provider: P4Provider, sim: P4Simulator
) -> None:
    cursor = (await _backfill(provider))[-1].cursor
    sim.reject("038", DEFAULT_GAS_EAN)
    batch = await provider.readings((DEFAULT_ELECTRICITY_EAN,), cursor)
    assert batch.rejections == ()
    assert batch.more


@pytest.mark.parametrize(
    ("raw", "code"), [(38, "038"), ("8", "008"), (" 040 ", "040"), (0, "000")]
)
async def test_rejection_code_forms(
    provider: P4Provider, sim: P4Simulator, raw: Any, code: str
) -> None:
    sim.reject("038", DEFAULT_ELECTRICITY_EAN)

    def recode(page: dict[str, Any]) -> dict[str, Any]:
        for rejection in page["RejectionObjects"]:
            rejection.update(RejectionCode=raw, QueryDate=None, RejectionText=None)
        return page

    sim.page_size = 100
    sim.mangle(recode)
    batch = await provider.readings(EANS, None)
    assert [(r.code, r.day, r.text) for r in batch.rejections] == [(code, None, None)]


# ---------------------------------------------------------------------- errors


async def test_wrong_key(session: aiohttp.ClientSession, sim: P4Simulator) -> None:
    provider = P4Provider(session, "wrong-key", sim.url)
    with pytest.raises(AuthError) as caught:
        await provider.readings(EANS, None)
    assert caught.value.state is RemoteState.AUTH_FAILED
    with pytest.raises(AuthError):
        await provider.metering_points()


@pytest.mark.parametrize("status", [401, 403])
async def test_refused(provider: P4Provider, sim: P4Simulator, status: int) -> None:
    sim.refuse(status=status)
    with pytest.raises(AuthError, match=str(status)):
        await provider.readings(EANS, None)
    assert (await provider.readings(EANS, None)).readings


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(120, 120.0), ("7", 7.0), (None, None), ("soon", None)],
)
async def test_rate_limited(
    provider: P4Provider, sim: P4Simulator, retry_after: Any, expected: float | None
) -> None:
    sim.rate_limit(count=2, retry_after=retry_after)
    for _ in range(2):
        with pytest.raises(RateLimitedError) as caught:
            await provider.readings(EANS, None)
        assert caught.value.retry_after == expected
        assert caught.value.state is RemoteState.RATE_LIMITED
    assert (await provider.readings(EANS, None)).readings


async def test_rate_limited_until_http_date(
    provider: P4Provider, sim: P4Simulator
) -> None:
    sim.rate_limit(retry_after=datetime.now(UTC) + timedelta(seconds=90))
    with pytest.raises(RateLimitedError) as caught:
        await provider.metering_points()
    assert caught.value.retry_after is not None
    assert 80 < caught.value.retry_after <= 90


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_unavailable(provider: P4Provider, sim: P4Simulator, status: int) -> None:
    sim.unavailable(status=status, retry_after=60)
    with pytest.raises(UnavailableError) as caught:
        await provider.readings(EANS, None)
    assert caught.value.state is RemoteState.TEMPORARILY_UNAVAILABLE
    assert caught.value.retry_after == 60.0


async def test_slow_answer(session: aiohttp.ClientSession, sim: P4Simulator) -> None:
    sim.delay = 2.0
    provider = P4Provider(session, "test-key", sim.url, timeout=0.2)
    with pytest.raises(UnreachableError) as caught:
        await provider.readings(EANS, None)
    assert caught.value.state is RemoteState.UNREACHABLE
    sim.delay = 0.0
    assert (await provider.readings(EANS, None)).readings


async def test_unreachable(session: aiohttp.ClientSession) -> None:
    sim = P4Simulator(first_day=WINTER, history_days=1)
    await sim.start()
    url = sim.url
    await sim.stop()
    with pytest.raises(UnreachableError):
        await P4Provider(session, "test-key", url).metering_points()


@pytest.mark.parametrize("cursor", ["not-a-cursor", "2025 01/../x"])
async def test_unexpected_status(provider: P4Provider, cursor: str) -> None:
    with pytest.raises(InvalidResponseError, match="unexpected HTTP status 40"):
        await provider.readings(EANS, cursor)


async def test_malformed_json(provider: P4Provider, sim: P4Simulator) -> None:
    sim.malformed()
    with pytest.raises(InvalidResponseError, match="JSON"):
        await provider.readings(EANS, None)
    assert (await provider.readings(EANS, None)).readings


@pytest.mark.parametrize("declare_length", [True, False])
async def test_oversized(
    provider: P4Provider, sim: P4Simulator, declare_length: bool
) -> None:
    sim.oversized(declare_length=declare_length)
    with pytest.raises(InvalidResponseError, match=r"large|exceeds"):
        await provider.readings(EANS, None)
    assert (await provider.readings(EANS, None)).readings


async def test_body_within_limit_is_read(
    provider: P4Provider, sim: P4Simulator
) -> None:
    sim.oversized(size=p4.MAX_BODY_BYTES, declare_length=False)
    batch = await provider.readings(EANS, None)
    assert batch == Batch(cursor="19700101-000000-000000")


def _first(page: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = page[kind][0]
    return found


def _item(page: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = _first(page, "IntervalObjects")["Items"][3]
    return found


INVALID_PAGES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "list": lambda page: [page],
    "no-timestamp": lambda page: {k: v for k, v in page.items() if k != "TimeStamp"},
    "bad-timestamp": lambda page: page | {"TimeStamp": "yesterday"},
    "message-int": lambda page: page | {"Message": 3},
    "count-text": lambda page: page | {"DayObjectCount": "2"},
    "count-bool": lambda page: page | {"IntervalObjectCount": True},
    "objects-not-list": lambda page: page | {"DayObjects": {}},
    "object-not-dict": lambda page: page | {"IntervalObjects": [[1, 2]]},
    "no-ean": lambda page: _first(page, "IntervalObjects").pop("Ean") and page,
    "unit": lambda page: (
        _first(page, "IntervalObjects").update(MeasureUnit="MJ") or page
    ),
    "no-unit": lambda page: _first(page, "DayObjects").pop("MeasureUnit") and page,
    "meter-id-int": lambda page: _first(page, "DayObjects").update(MeterId=5) or page,
    "no-query-date": lambda page: (
        _first(page, "IntervalObjects").pop("QueryDate") and page
    ),
    "bad-query-date": lambda page: (
        _first(page, "DayObjects").update(QueryDate="6-1-2025") or page
    ),
    "items-not-list": lambda page: (
        _first(page, "IntervalObjects").update(Items="x") or page
    ),
    "item-not-dict": lambda page: (
        _first(page, "IntervalObjects").update(Items=[3]) or page
    ),
    "no-time": lambda page: _item(page).pop("DateTimeOffset") and page,
    "bad-time": lambda page: _item(page).update(DateTimeOffset="noon") or page,
    "naive-time": lambda page: (
        _item(page).update(DateTimeOffset="2025-01-06T00:45:00") or page
    ),
    "value-text": lambda page: _item(page).update(R180="123") or page,
    "value-bool": lambda page: _item(page).update(R280=False) or page,
    "value-negative": lambda page: _item(page).update(R180=-1) or page,
    "value-negative-fraction": lambda page: _item(page).update(R180=-0.5) or page,
    "day-tariff-text": lambda page: _first(page, "DayObjects").update(R182="1") or page,
}


@pytest.mark.parametrize("name", list(INVALID_PAGES))
async def test_invalid_page(provider: P4Provider, sim: P4Simulator, name: str) -> None:
    sim.mangle(INVALID_PAGES[name])
    with pytest.raises(InvalidResponseError):
        await provider.readings(EANS, None)


INVALID_REJECTIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "code-missing": lambda r: r.pop("RejectionCode") and None,
    "code-long": lambda r: r.update(RejectionCode="0380"),
    "code-letters": lambda r: r.update(RejectionCode="E38"),
    "code-big": lambda r: r.update(RejectionCode=1038),
    "code-bool": lambda r: r.update(RejectionCode=True),
    "reason-int": lambda r: r.update(QueryReason=1),
    "text-int": lambda r: r.update(RejectionText=1),
    "date-int": lambda r: r.update(QueryDate=20250106),
}


@pytest.mark.parametrize("name", list(INVALID_REJECTIONS))
async def test_invalid_rejection(
    provider: P4Provider, sim: P4Simulator, name: str
) -> None:
    sim.reject("038", DEFAULT_ELECTRICITY_EAN)
    sim.page_size = 100

    def change(page: dict[str, Any]) -> dict[str, Any]:
        INVALID_REJECTIONS[name](page["RejectionObjects"][0])
        return page

    sim.mangle(change)
    with pytest.raises(InvalidResponseError):
        await provider.readings(EANS, None)


async def test_non_numbers_refused(provider: P4Provider, sim: P4Simulator) -> None:
    def nan(page: dict[str, Any]) -> dict[str, Any]:
        _item(page)["R180"] = float("nan")
        return page

    sim.mangle(nan)
    with pytest.raises(InvalidResponseError, match="NaN"):
        await provider.readings(EANS, None)


async def test_other_eans_are_not_validated(
    provider: P4Provider, sim: P4Simulator
) -> None:
    def foreign(page: dict[str, Any]) -> dict[str, Any]:
        stranger = {"Ean": "871687120000000099", "MeasureUnit": "MJ", "Items": "?"}
        page["IntervalObjects"].insert(0, stranger)
        page["DayObjects"].insert(0, {"Ean": "871687120000000099", "R180": "x"})
        page["RejectionObjects"].append(
            {"Ean": "871687120000000099", "RejectionCode": []}
        )
        return page

    sim.mangle(foreign)
    batch = await provider.readings(EANS, None)
    assert batch.readings
    assert batch.rejections == ()


async def test_units_and_tariff_sums(provider: P4Provider, sim: P4Simulator) -> None:
    sim.page_size = 2  # electricity interval + day of the first day

    def rewrite(page: dict[str, Any]) -> dict[str, Any]:
        interval = _first(page, "IntervalObjects")
        interval["MeasureUnit"] = "kwh"
        interval["Items"] = [
            {"DateTimeOffset": "2025-01-06T00:00:00+01:00", "R180": 1, "R280": None},
            {"DateTimeOffset": "2025-01-06T00:15:00+01:00", "R180": 1.002},
            {"DateTimeOffset": "2025-01-05T23:15:00Z", "R180": 1.0015, "R280": 0},
        ]
        day = _first(page, "DayObjects")
        day.update(R180=None, R280=None, R281=None, QueryDate="2025-01-06T00:00:00")
        return page

    sim.mangle(rewrite)
    batch = await provider.readings(EANS, None)
    at = datetime(2025, 1, 5, 23, 0, tzinfo=UTC)
    quarter = timedelta(minutes=15)
    assert batch.readings == (
        Reading(Register.ELECTRICITY_IMPORT, at, 1000),
        Reading(Register.ELECTRICITY_EXPORT, at + quarter, 0),
        # the later item wins, and a fraction of a Wh is cut off
        Reading(Register.ELECTRICITY_IMPORT, at + quarter, 1001),
    )
    start = sim.days[0].start
    assert batch.daily == (
        Reading(Register.ELECTRICITY_IMPORT, at, int(start.import_total_kwh * 1000)),
    )


async def test_gas_in_litres_and_r280_ignored(
    provider: P4Provider, sim: P4Simulator
) -> None:
    def rewrite(page: dict[str, Any]) -> dict[str, Any]:
        gas = {
            "Ean": DEFAULT_GAS_EAN,
            "MeterId": None,
            "QueryDate": "2025-01-06",
            "MeasureUnit": "DM3",
            "Items": [
                {
                    "DateTimeOffset": "2025-01-06T00:00:00+01:00",
                    "R180": 1234567,
                    "R280": 5,
                }
            ],
        }
        return page | {"IntervalObjects": [gas], "DayObjects": [], "Message": "ok"}

    sim.mangle(rewrite)
    batch = await provider.readings((DEFAULT_GAS_EAN,), None)
    assert batch.readings == (
        Reading(Register.GAS, datetime(2025, 1, 5, 23, 0, tzinfo=UTC), 1234567),
    )
    assert batch.meter_ids == frozenset()


async def test_iso_timestamp_becomes_cursor(
    provider: P4Provider, sim: P4Simulator
) -> None:
    sim.mangle(lambda page: page | {"TimeStamp": "2025-01-07T06:00:04.123456"})
    batch = await provider.readings(EANS, None)
    assert batch.cursor == "20250107-060004-123456"


async def test_cursor_that_does_not_move_ends(
    provider: P4Provider, sim: P4Simulator
) -> None:
    sim.mangle(lambda page: page | {"TimeStamp": "20250107-060000-000000"})
    batch = await provider.readings(EANS, "20250107-060000-000000")
    assert not batch.more


# ------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("p4_id", "p1_id", "expected"),
    [
        ("E0026000030030026", "E0026000030030026", True),
        ("26000030030026", "E0026000030030026", True),
        ("30030026", "E0026000030030026", True),
        ("e0026-0000-3003-0026", "E0026000030030026", True),
        ("4046395507", "K8EG004046395507", True),
        ("8EG00404", "K8EG004046395507", True),  # contained
        ("XK8EG004046395507", "K8EG004046395507", True),  # P4 ends with P1
        ("4046395508", "K8EG004046395507", False),
        ("0026", "E0026000030030026", False),  # too short to mean anything
        ("", "E0026000030030026", False),
        ("26000030030026", "", False),
        ("G0026000030030026", "E0026000030030026", False),
    ],
)
def test_meter_matches(p4_id: str, p1_id: str, expected: bool) -> None:
    assert meter_matches(p4_id, p1_id) is expected


def test_parse_retry_after() -> None:
    now = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)
    assert parse_retry_after(None) is None
    assert parse_retry_after("  ") is None
    assert parse_retry_after("30", now) == 30.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("nan") is None
    assert parse_retry_after("inf") is None
    assert parse_retry_after("Mon, 06 Jan 2025 12:02:00 GMT", now) == 120.0
    assert parse_retry_after("Mon, 06 Jan 2025 12:02:00 -0000", now) == 120.0
    assert parse_retry_after("Mon, 06 Jan 2025 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("whenever", now) is None


def test_rejection_state_table() -> None:
    assert p4.rejection_state("999") is RemoteState.TEMPORARILY_UNAVAILABLE
    assert set(p4.REJECTION_STATES) == {
        "007",
        "008",
        "009",
        "010",
        "011",
        "012",
        "014",
        "038",
        "039",
        "040",
        "041",
    }


# ------------------------------------------------------------------- variants


def test_every_accepted_shape_is_served_by_the_simulator() -> None:
    assert set(SIMULATED_VARIANTS) == set(p4.VARIANTS)


@pytest.mark.parametrize(
    "variants",
    [{name} for name in SIMULATED_VARIANTS]
    + [set(SIMULATED_VARIANTS) - {"plain_times"}],
    ids=[*SIMULATED_VARIANTS, "all"],
)
async def test_every_variant_reads_the_same(
    session: aiohttp.ClientSession, variants: set[str]
) -> None:
    """Each accepted shape gives exactly what the documented shape gives."""
    first_day = date(2025, 10, 25)  # with the autumn clock change
    meter = default_meter(first_day - timedelta(days=1), seed=5)
    sim = P4Simulator(meter, first_day=first_day, history_days=3, page_size=5)
    await sim.start()
    try:
        provider = P4Provider(session, "test-key", sim.url)
        documented_points = await provider.metering_points()
        documented = await _backfill(provider)
        sim.variants = variants
        points = await provider.metering_points()
        varied = await _backfill(provider)
    finally:
        await sim.stop()
    assert points == documented_points
    assert _merged(varied) == _merged(documented)
    assert _merged(varied, daily=True) == _merged(documented, daily=True)
    assert [b.cursor for b in varied] == [b.cursor for b in documented]
    assert [b.rejections for b in varied] == [b.rejections for b in documented]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "2025-10-26T02:45:00.0000000+01:00",
            datetime(2025, 10, 26, 1, 45, tzinfo=UTC),
        ),
        ("2025-10-26T02:45:00+02:00", datetime(2025, 10, 26, 0, 45, tzinfo=UTC)),
        ("2025-10-26T01:45:00Z", datetime(2025, 10, 26, 1, 45, tzinfo=UTC)),
        ("2025-10-26T01:45:00.5Z", datetime(2025, 10, 26, 1, 45, 0, 500000, UTC)),
        ("2025-10-26T01:45:00.123+0000", datetime(2025, 10, 26, 1, 45, 0, 123000, UTC)),
        ("2025-10-26 01:45:00.1234567z", datetime(2025, 10, 26, 1, 45, 0, 123456, UTC)),
    ],
)
def test_times_with_0_to_7_fraction_digits(text: str, expected: datetime) -> None:
    assert p4.parse_moment(text, "here") == expected


@pytest.mark.parametrize(
    "text",
    [
        "2025-10-26T01:45:00",
        "2025-10-26T01:45:00.12345678Z",
        "noon",
        "2025-13-01T00:00:00Z",
    ],
)
def test_times_refused(text: str) -> None:
    with pytest.raises(InvalidResponseError, match="here"):
        p4.parse_moment(text, "here")


@pytest.mark.parametrize(
    "text", ["2025-10-26", "20251026", "2025-10-26T00:00:00.0000000", " 2025-10-26 "]
)
def test_dates(text: str) -> None:
    assert p4.parse_day(text, "here") == date(2025, 10, 26)


@pytest.mark.parametrize(
    ("stamp", "cursor"),
    [
        ("20251026-060000-123456", "20251026-060000-123456"),
        ("2025-10-26T06:00:00.1234567Z", "20251026-060000-123456"),
        ("2025-10-26T06:00:00", "20251026-060000-000000"),
        ("2025-10-26T07:00:00.5+01:00", "20251026-070000-500000"),
    ],
)
async def test_cursor_forms(
    provider: P4Provider, sim: P4Simulator, stamp: str, cursor: str
) -> None:
    sim.mangle(lambda page: page | {"TimeStamp": stamp})
    batch = await provider.readings(EANS, None)
    assert batch.cursor == cursor


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        (
            {"EANID": "871687120000000018", "PRODUCTCODE": "elk"},
            ("electricity", None, None),
        ),
        (
            {
                "eanCode": "871687120000000018",
                "meterNumber": "E123456789",
                "energyType": "G",
                "address": {"street": "Dorpsstraat", "number": "3", "zip": "1234AB"},
            },
            ("gas", "E123456789", "Dorpsstraat 3, 1234AB"),
        ),
        (
            {
                "Ean": "871687120000000018",
                "ProductType": "Elektriciteit",
                "Street": "Laan",
                "HouseNumber": 12,
                "HouseNumberAddition": "bis",
                "City": "Stad",
                "Unknown": {"x": 1},
            },
            ("electricity", None, "Laan 12 bis, Stad"),
        ),
    ],
    ids=["upper", "camel-address-object", "address-on-the-point"],
)
async def test_metering_point_synonyms(
    provider: P4Provider,
    sim: P4Simulator,
    point: dict[str, Any],
    expected: tuple[str, str | None, str | None],
) -> None:
    sim.mangle(lambda points: {"status": "OK", "count": 1, "result": [point]})
    (found,) = await provider.metering_points()
    assert (found.product, found.meter_id, found.address) == expected
    assert found.ean == "871687120000000018"


async def test_an_answer_not_understood_names_endpoint_and_field(
    provider: P4Provider, sim: P4Simulator
) -> None:
    sim.mangle(lambda points: [{"Id": 1, "Product": "E"}])
    with pytest.raises(InvalidResponseError) as caught:
        await provider.metering_points()
    message = str(caught.value)
    assert "/api/v5/meteringpoints/" in message
    assert "Ean missing" in message
    assert "test-key" not in message
    assert caught.value.state is RemoteState.UNEXPECTED_ANSWER
