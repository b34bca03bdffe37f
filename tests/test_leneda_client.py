"""The Leneda provider against the Leneda simulator over loopback HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
import json
from typing import Any

import aiohttp
from aiohttp import web
from freezegun.api import FrozenDateTimeFactory
import pytest

from custom_components.slimme_meter.remote import leneda
from custom_components.slimme_meter.remote.api import (
    AuthError,
    Batch,
    ConsentEndedError,
    InvalidResponseError,
    RateLimitedError,
    Register,
    UnavailableError,
    UnexpectedStatusError,
    UnreachableError,
)
from custom_components.slimme_meter.remote.leneda import (
    CODE_EXPORT,
    CODE_IMPORT,
    LenedaProvider,
    parse_series,
)
from simulators.leneda import DEFAULT_ENERGY_ID, DEFAULT_POD, LenedaSimulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

FIRST_DAY = date(2025, 3, 28)  # the clocks go forward on Sunday 30 March
DAYS = 5
NOW = "2025-04-03T10:00:00+00:00"  # served up to 1 April (a day's lag)


@pytest.fixture
async def sim() -> AsyncGenerator[LenedaSimulator]:
    simulator = LenedaSimulator(first_day=FIRST_DAY, history_days=DAYS)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture
async def session() -> AsyncGenerator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def provider(
    session: aiohttp.ClientSession, sim: LenedaSimulator, **kwargs: Any
) -> LenedaProvider:
    options = {"energy_id": DEFAULT_ENERGY_ID, "eans": [DEFAULT_POD]} | kwargs
    return LenedaProvider.from_options(session, "test-key", sim.url, options)


async def backfill(client: LenedaProvider) -> list[Batch]:
    batches: list[Batch] = []
    cursor = None
    while True:
        batch = await client.readings([DEFAULT_POD], cursor)
        batches.append(batch)
        cursor = batch.cursor
        if not batch.more:
            return batches


def hourly(batches: list[Batch], register: Register) -> dict[int, int]:
    result: dict[int, int] = {}
    for batch in batches:
        for usage in batch.usages:
            if usage.register is register:
                assert usage.end - usage.start == timedelta(hours=1)
                result[int(usage.start.timestamp())] = usage.value
    return result


@pytest.mark.freeze_time(NOW)
async def test_backfill_reads_every_hour_once_exactly(
    sim: LenedaSimulator, session: aiohttp.ClientSession
) -> None:
    batches = await backfill(provider(session, sim))
    # Two years back in windows of 30 days, each read again from 5 days back.
    assert len(batches) == 29  # 30 days, then 25 new days a window
    assert all(batch.more for batch in batches[:-1])
    imported = hourly(batches, Register.ELECTRICITY_IMPORT)
    exported = hourly(batches, Register.ELECTRICITY_EXPORT)
    assert imported == sim.hourly_wh(CODE_IMPORT)
    assert exported == sim.hourly_wh(CODE_EXPORT)
    # The spring-forward day has 23 hours: 5 days of 24 hours less one.
    assert len(imported) == DAYS * 24 - 1
    assert sum(imported.values()) > 0
    # The cursor ends where the data ends; each request names the code once.
    assert batches[-1].cursor == "2025-04-01T22:00:00Z"
    assert {query["obisCode"] for query in sim.requests} == {CODE_IMPORT, CODE_EXPORT}
    assert all(query["startDateTime"].endswith("Z") for query in sim.requests)


@pytest.mark.freeze_time(NOW)
async def test_a_sync_reads_the_last_days_again_and_takes_corrections(
    sim: LenedaSimulator, session: aiohttp.ClientSession
) -> None:
    client = provider(session, sim)
    cursor = (await backfill(client))[-1].cursor
    sim.correct(date(2025, 3, 31))
    sim.variants = {"unsorted", "lower_unit"}
    batch = await client.readings([DEFAULT_POD], cursor)
    assert not batch.more
    got = hourly([batch], Register.ELECTRICITY_IMPORT)
    assert got == sim.hourly_wh(CODE_IMPORT)  # the version 2 values
    # Read again from five days before the cursor.
    assert sim.requests[-1]["startDateTime"] == "2025-03-27T22:00:00Z"
    assert batch.cursor == cursor


@pytest.mark.freeze_time(NOW)
async def test_an_hour_lacking_a_quarter_is_left_out(
    sim: LenedaSimulator, session: aiohttp.ClientSession
) -> None:
    hole = datetime(2025, 3, 29, 10, 15, tzinfo=UTC)
    sim.blank(hole, 2)
    batches = await backfill(provider(session, sim))
    got = hourly(batches, Register.ELECTRICITY_IMPORT)
    assert int(hole.replace(minute=0).timestamp()) not in got
    assert len(got) == DAYS * 24 - 2


@pytest.mark.freeze_time(NOW)
async def test_a_code_not_granted_is_reported_and_the_others_read(
    sim: LenedaSimulator, session: aiohttp.ClientSession
) -> None:
    sim.revoke(CODE_EXPORT)
    client = provider(session, sim)
    batches = await backfill(client)
    assert batches[-1].missing_grants == {(DEFAULT_POD, CODE_EXPORT)}
    assert hourly(batches, Register.ELECTRICITY_EXPORT) == {}
    assert hourly(batches, Register.ELECTRICITY_IMPORT) == sim.hourly_wh(CODE_IMPORT)
    assert await client.probe(DEFAULT_POD) == {CODE_EXPORT}
    # Only export asked for, and not granted: nothing is shared any more.
    only_export = provider(session, sim, grants=[CODE_EXPORT])
    with pytest.raises(ConsentEndedError):
        await only_export.readings([DEFAULT_POD], None)


@pytest.mark.freeze_time(NOW)
async def test_a_pod_no_longer_shared_ends_the_consent(
    sim: LenedaSimulator, session: aiohttp.ClientSession
) -> None:
    sim.revoke()
    with pytest.raises(ConsentEndedError, match="404"):
        await provider(session, sim).readings([DEFAULT_POD], None)
    with pytest.raises(ConsentEndedError):
        await provider(session, sim).metering_points()


@pytest.mark.freeze_time(NOW)
async def test_linked_points_are_read_to_check_a_key(
    sim: LenedaSimulator, session: aiohttp.ClientSession
) -> None:
    points = await provider(session, sim).metering_points()
    assert [(p.ean, p.meter_id, p.product) for p in points] == [
        (DEFAULT_POD, None, "electricity")
    ]
    wrong = LenedaProvider.from_options(
        session,
        "other",
        sim.url,
        {"energy_id": DEFAULT_ENERGY_ID, "eans": [DEFAULT_POD]},
    )
    with pytest.raises(AuthError, match="401"):
        await wrong.metering_points()
    other_id = provider(session, sim, energy_id="LUXE-XX-YY-0000")
    with pytest.raises(AuthError):
        await other_id.probe(DEFAULT_POD)


@pytest.mark.freeze_time(NOW)
@pytest.mark.parametrize(
    ("status", "error", "retry_after"),
    [
        (403, AuthError, None),
        (429, RateLimitedError, 120.0),
        (503, UnavailableError, None),
        (400, UnexpectedStatusError, None),
    ],
)
async def test_http_statuses_are_typed(
    sim: LenedaSimulator,
    session: aiohttp.ClientSession,
    status: int,
    error: type[Exception],
    retry_after: float | None,
) -> None:
    sim.fail(status, retry_after="120" if retry_after else None)
    with pytest.raises(error) as caught:
        await provider(session, sim).readings([DEFAULT_POD], None)
    assert getattr(caught.value, "retry_after", None) == retry_after


@pytest.mark.freeze_time(NOW)
async def test_a_cut_answer_is_unexpected_not_unreachable(
    sim: LenedaSimulator, session: aiohttp.ClientSession
) -> None:
    sim.fail(200, cut=True)
    with pytest.raises(InvalidResponseError, match=f"time series {CODE_IMPORT}"):
        await provider(session, sim).readings([DEFAULT_POD], None)


async def test_no_answer_is_unreachable(session: aiohttp.ClientSession) -> None:
    client = LenedaProvider(
        session, "k", "http://127.0.0.1:9", energy_id="e", timeout=2
    )
    with pytest.raises(UnreachableError):
        await client.probe(DEFAULT_POD)


async def test_a_slow_answer_is_unreachable(session: aiohttp.ClientSession) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/{tail:.*}", slow)
    runner = web.AppRunner(app, shutdown_timeout=0.1, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        client = LenedaProvider(
            session, "k", f"http://127.0.0.1:{port}", energy_id="e", timeout=0.2
        )
        with pytest.raises(UnreachableError, match="in time"):
            await client.probe(DEFAULT_POD)
    finally:
        await runner.cleanup()


START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2025, 1, 2, tzinfo=UTC)


def document(**changes: Any) -> dict[str, Any]:
    items = [
        {"value": 1.0, "startedAt": f"2025-01-01T00:{minute:02d}:00Z", "version": 1}
        for minute in (0, 15, 30, 45)
    ]
    return {
        "meteringPointCode": DEFAULT_POD,
        "obisCode": CODE_IMPORT,
        "intervalLength": "PT15M",
        "unit": "kW",
        "items": items,
    } | changes


def parse(doc: Any, start: datetime = START, end: datetime = END) -> Any:
    """Parse a document the way it comes over the wire (numbers as Decimal)."""
    return parse_series(
        json.loads(json.dumps(doc), parse_float=Decimal), CODE_IMPORT, start, end
    )


HOUR = timedelta(hours=1)


def test_a_documented_answer_gives_whole_hours() -> None:
    assert parse(document()) == {(START, START + HOUR): 1000}
    hourly_doc = document(
        intervalLength="PT1H", items=[{"value": 2, "startedAt": "2025-01-01T01:00:00Z"}]
    )
    assert parse(hourly_doc) == {(START + HOUR, START + 2 * HOUR): 2000}
    assert parse(document(items=None)) == {}
    assert parse(document(unit=None)) is None
    assert parse(document(), END, END + timedelta(days=1)) == {}
    # A correction (a higher version) wins wherever it comes in the answer.
    corrected = document()
    corrected["items"].insert(
        0, {"value": 2.0, "startedAt": "2025-01-01T00:00:00Z", "version": 2}
    )
    assert parse(corrected) == {(START, START + HOUR): 1250}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"unit": "kWh"}, "is not kW"),
        ({"intervalLength": "PT7M"}, "does not divide an hour"),
        ({"intervalLength": "P1D"}, "does not divide an hour"),
        ({"items": {}}, "items is not a list"),
        ({"items": [1]}, "expected an object"),
        ({"items": [{"value": "1", "startedAt": "2025-01-01T00:00:00Z"}]}, "number"),
        ({"items": [{"value": -1, "startedAt": "2025-01-01T00:00:00Z"}]}, "negative"),
        ({"items": [{"value": True, "startedAt": "2025-01-01T00:00:00Z"}]}, "number"),
        (
            {
                "items": [
                    {"value": 1, "startedAt": "2025-01-01T00:00:00Z", "version": "2"}
                ]
            },
            "version",
        ),
        ({"items": [{"value": 1, "startedAt": "2025-01-01T00:05:00Z"}]}, "off the"),
        ({"items": [{"value": 1, "startedAt": "2025-01-01T00:00:00"}]}, "no offset"),
    ],
)
def test_what_cannot_be_understood_names_the_field(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidResponseError, match=message):
        parse(document(**changes))
    with pytest.raises(InvalidResponseError, match="expected an object"):
        parse([])


@pytest.mark.parametrize(
    ("typed", "valid"),
    [
        ("LU0000010133700000000000081434123", True),
        (" lu00000101337000 00000000081434123 ", True),
        ("LU-0000010133700000000000081434123", True),
        ("LU000001013370000000000008143412", False),
        ("BE0000010133700000000000081434123", False),
        ("LU-METERING_POINT1", False),
    ],
)
def test_a_pod_is_lu_and_31_digits(typed: str, valid: bool) -> None:
    assert leneda.valid_pod(leneda.normalise_pod(typed)) is valid
    assert leneda.meter_matches(typed, "SAG1030790002574") is False


@pytest.mark.freeze_time(NOW)
async def test_new_days_come_with_the_next_sync(
    sim: LenedaSimulator, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    client = provider(session, sim)
    cursor = (await backfill(client))[-1].cursor
    sim.add_days(1)
    freezer.move_to("2025-04-04T10:00:00+00:00")
    batch = await client.readings([DEFAULT_POD], cursor)
    assert batch.cursor == "2025-04-02T22:00:00Z"
    assert max(hourly([batch], Register.ELECTRICITY_IMPORT)) == int(
        datetime(2025, 4, 2, 21, tzinfo=UTC).timestamp()
    )


GAS_POD = "LU0000020244800000000000092545234"
PRODUCTION_POD = "LU0000010133700000000000081434999"


def spans(batches: list[Batch], register: Register) -> dict[tuple[int, int], int]:
    return {
        (int(usage.start.timestamp()), int(usage.end.timestamp())): usage.value
        for batch in batches
        for usage in batch.usages
        if usage.register is register
    }


@pytest.mark.freeze_time(NOW)
@pytest.mark.parametrize(
    "variants",
    [set(), {"gas_quarter", "gas_m3"}, {"gas_upper", "unsorted"}, {"gas_blank_unit"}],
)
async def test_gas_is_a_quantity_read_by_the_hour_or_the_quarter(
    sim: LenedaSimulator, session: aiohttp.ClientSession, variants: set[str]
) -> None:
    sim.variants = variants
    client = provider(session, sim, grants=[CODE_IMPORT, leneda.CODE_GAS])
    batches = await backfill(client)
    gas = hourly(batches, Register.GAS)
    # Litres per hour: the m³ summed as they are, never times a quarter hour.
    assert gas == sim.hourly_wh(leneda.CODE_GAS)
    assert len(gas) == DAYS * 24 - 1  # the spring-forward day has 23 hours
    assert sum(gas.values()) > 1000
    assert hourly(batches, Register.ELECTRICITY_IMPORT) == sim.hourly_wh(CODE_IMPORT)
    assert batches[-1].points[Register.GAS] == DEFAULT_POD


@pytest.mark.freeze_time(NOW)
async def test_gas_by_the_local_day_spans_23_hours_in_spring(
    sim: LenedaSimulator, session: aiohttp.ClientSession
) -> None:
    sim.variants = {"gas_daily"}
    batches = await backfill(provider(session, sim, grants=[leneda.CODE_GAS]))
    days = spans(batches, Register.GAS)
    hours = sim.hourly_wh(leneda.CODE_GAS)
    assert len(days) == DAYS
    for (start, end), litres in days.items():
        assert litres == sum(v for hour, v in hours.items() if start <= hour < end)
    lengths = sorted((end - start) // 3600 for start, end in days)
    assert lengths == [23, 24, 24, 24, 24]
    first = datetime.fromtimestamp(min(days)[0], UTC)
    assert first == datetime(2025, 3, 27, 23, tzinfo=UTC)  # 28 March 00:00 CET


@pytest.mark.freeze_time(NOW)
async def test_production_and_gas_are_read_from_their_own_pods(
    sim: LenedaSimulator, session: aiohttp.ClientSession
) -> None:
    sim.production_pod = PRODUCTION_POD
    sim.gas_pod = GAS_POD
    options = {
        "grants": [CODE_IMPORT, CODE_EXPORT, leneda.CODE_GAS],
        "eans": [DEFAULT_POD, PRODUCTION_POD, GAS_POD],
        "production_pod": PRODUCTION_POD,
        "gas_pod": GAS_POD,
    }
    client = provider(session, sim, **options)
    batches = await backfill(client)
    assert hourly(batches, Register.ELECTRICITY_EXPORT) == sim.hourly_wh(CODE_EXPORT)
    assert hourly(batches, Register.GAS) == sim.hourly_wh(leneda.CODE_GAS)
    assert batches[-1].missing_grants == frozenset()
    assert batches[-1].points == {
        Register.ELECTRICITY_IMPORT: DEFAULT_POD,
        Register.ELECTRICITY_EXPORT: PRODUCTION_POD,
        Register.GAS: GAS_POD,
    }
    points = await client.metering_points()
    assert [(p.ean, p.product) for p in points] == [
        (DEFAULT_POD, "electricity"),
        (PRODUCTION_POD, "electricity"),
        (GAS_POD, "gas"),
    ]
    assert await client.probe(GAS_POD) == frozenset()
    # Read from the consumption POD, gas is not there: not granted.
    wrong = provider(session, sim, grants=[CODE_IMPORT, leneda.CODE_GAS])
    batch = (await backfill(wrong))[-1]
    assert batch.missing_grants == {(DEFAULT_POD, leneda.CODE_GAS)}

    # The gas POD no longer shared: only gas is missing, the rest comes.
    sim.revoke(pod=GAS_POD)
    batch = await client.readings([DEFAULT_POD], batches[-1].cursor)
    assert batch.missing_grants == {(GAS_POD, leneda.CODE_GAS)}
    assert hourly([batch], Register.ELECTRICITY_IMPORT)
    with pytest.raises(ConsentEndedError, match=GAS_POD):
        await client.probe(GAS_POD)
    sim.grant(pod=GAS_POD)
    sim.revoke(pod=PRODUCTION_POD)
    sim.revoke(pod=DEFAULT_POD)
    with pytest.raises(ConsentEndedError, match=DEFAULT_POD):
        await client.readings([DEFAULT_POD], batches[-1].cursor)
    sim.grant(pod=DEFAULT_POD)
    sim.grant(pod=PRODUCTION_POD)
    assert await client.probe(PRODUCTION_POD) == frozenset()


def gas_document(**changes: Any) -> dict[str, Any]:
    return (
        document(
            obisCode=leneda.CODE_GAS,
            intervalLength="PT1H",
            unit="m³",
            items=[{"value": 0.25, "startedAt": "2025-01-01T00:00:00Z"}],
        )
        | changes
    )


def parse_gas(doc: Any) -> Any:
    return parse_series(
        json.loads(json.dumps(doc), parse_float=Decimal), leneda.CODE_GAS, START, END
    )


@pytest.mark.parametrize("unit", ["m³", "m3", "M3", " M³ ", ""])
def test_gas_units_are_read_as_cubic_metres(unit: str) -> None:
    assert parse_gas(gas_document(unit=unit)) == {(START, START + HOUR): 250}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"unit": "Nm³"}, "unit 'Nm³' is not m³"),
        ({"unit": "kWh"}, "is not m³"),
        ({"intervalLength": "P1W"}, "does not divide an hour"),
        ({"intervalLength": "PT90M"}, "does not divide an hour"),
    ],
)
def test_gas_that_is_not_a_volume_names_the_field(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidResponseError, match=message):
        parse_gas(gas_document(**changes))


def test_gas_by_the_day_or_by_hours_is_usage_over_that_span() -> None:
    day = gas_document(
        intervalLength="P1D",
        items=[{"value": 5.5, "startedAt": "2024-12-31T23:00:00Z"}],
    )
    got = parse_series(
        json.loads(json.dumps(day), parse_float=Decimal),
        leneda.CODE_GAS,
        START - HOUR,
        END,
    )
    assert got == {(START - HOUR, END - HOUR): 5500}
    two_hours = gas_document(intervalLength="PT2H")
    assert parse_gas(two_hours) == {(START, START + 2 * HOUR): 250}
    quarters = gas_document(
        intervalLength="PT15M",
        items=[
            {"value": 0.1, "startedAt": f"2025-01-01T00:{minute:02d}:00Z"}
            for minute in (0, 15, 30, 45)
        ],
    )
    assert parse_gas(quarters) == {(START, START + HOUR): 400}
