"""The Meterbeheer HUB provider against its simulator over loopback HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
import json
from typing import Any

import aiohttp
import pytest

from custom_components.slimme_meter.remote.api import (
    AuthError,
    Batch,
    ConsentEndedError,
    InvalidResponseError,
    RateLimitedError,
    Register,
    RemoteState,
    UnavailableError,
    UnexpectedStatusError,
    UnreachableError,
)
from custom_components.slimme_meter.remote.meterbeheer import (
    MeterbeheerProvider,
    meter_matches,
    parse_feed,
)
from simulators.meterbeheer import MeterbeheerSimulator
from simulators.p4 import DEFAULT_ELECTRICITY_EAN, DEFAULT_GAS_EAN
from simulators.p4_data import AMSTERDAM

pytestmark = pytest.mark.usefixtures("socket_enabled")

FIRST_DAY = date(2025, 2, 1)
DAYS = 60  # to 1 April: the last 10 measured (with 30 March), 40 days, months
NOW = "2025-04-02T10:00:00+00:00"
EANS = [DEFAULT_ELECTRICITY_EAN, DEFAULT_GAS_EAN]


@pytest.fixture
async def sim() -> AsyncGenerator[MeterbeheerSimulator]:
    simulator = MeterbeheerSimulator(
        first_day=FIRST_DAY, history_days=DAYS, measured_days=10, daily_days=20
    )
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
    session: aiohttp.ClientSession, sim: MeterbeheerSimulator, key: str = "test-key"
) -> MeterbeheerProvider:
    return MeterbeheerProvider.from_options(session, key, sim.url, {})


async def backfill(client: MeterbeheerProvider) -> list[Batch]:
    batches, cursor = [], None
    while True:
        batch = await client.readings(EANS, cursor)
        batches.append(batch)
        cursor = batch.cursor
        if not batch.more:
            return batches


@pytest.mark.freeze_time(NOW)
async def test_points_come_from_the_feeds(
    sim: MeterbeheerSimulator, session: aiohttp.ClientSession
) -> None:
    points = await provider(session, sim).metering_points()
    assert [(p.ean, p.product, p.meter_id, p.address) for p in points] == [
        (DEFAULT_ELECTRICITY_EAN, "electricity", None, "1234 AB 1"),
        (DEFAULT_GAS_EAN, "gas", None, "1234 AB 1"),
    ]
    assert meter_matches("x", "y") is False
    with pytest.raises(AuthError):
        await provider(session, sim, "wrong").metering_points()


@pytest.mark.freeze_time(NOW)
async def test_measured_hours_are_exact_and_spread_days_are_day_totals(
    sim: MeterbeheerSimulator, session: aiohttp.ClientSession
) -> None:
    batches = await backfill(provider(session, sim))
    assert len(batches) == 2  # 400 days back: a year, then the rest
    usages = [usage for batch in batches for usage in batch.usages]
    hours = {
        int(u.start.timestamp()): u.value
        for u in usages
        if u.register is Register.ELECTRICITY_IMPORT
        and u.end - u.start == timedelta(hours=1)
    }
    assert hours == sim.measured_hours()
    # The spring-forward day (30 March) has 23 measured hours.
    march_30 = [
        h
        for h in hours
        if datetime.fromtimestamp(h, AMSTERDAM).date() == date(2025, 3, 30)
    ]
    assert len(march_30) == 23
    days = [
        u
        for u in usages
        if u.register is Register.ELECTRICITY_IMPORT
        and u.end - u.start > timedelta(hours=1)
    ]
    # Every day before the measured ten is a day total, never hours.
    # (read twice where the second window reads the last 3 days again)
    assert len({u.start for u in days}) == DAYS - 10
    assert all(u.value > 0 for u in days)
    # Gas comes per hour, export per quarter: both present.
    assert any(u.register is Register.GAS for u in usages)
    assert any(u.register is Register.ELECTRICITY_EXPORT for u in usages)
    assert batches[-1].cursor == "2025-04-02"
    # No request asked for more than a year.
    for path, query in sim.requests:
        if path.startswith("/feed/"):
            span = date.fromisoformat(query["to"]) - date.fromisoformat(query["from"])
            assert span.days < 365


@pytest.mark.freeze_time(NOW)
async def test_a_pending_feed_has_no_data_yet(
    session: aiohttp.ClientSession,
) -> None:
    sim = MeterbeheerSimulator(first_day=FIRST_DAY, history_days=DAYS, pending_polls=1)
    await sim.start()
    try:
        client = provider(session, sim)
        batch = await client.readings(EANS, "2025-03-30")
        assert batch.usages == ()
        assert {r.code for r in batch.rejections} == {"010"}
        assert all(r.state is None for r in batch.rejections)
        batch = await client.readings(EANS, "2025-03-30")
        assert batch.usages
    finally:
        await sim.stop()


@pytest.mark.freeze_time(NOW)
async def test_an_ended_mandate_and_api_plus_faults(
    sim: MeterbeheerSimulator, session: aiohttp.ClientSession
) -> None:
    client = provider(session, sim)
    sim.fault("38")
    batch = await client.readings(EANS, "2025-03-30")
    assert {(r.code, r.state) for r in batch.rejections} == {
        ("038", RemoteState.READOUT_SWITCHED_OFF)
    }
    sim.fault(None)
    sim.revoke("feed-g")
    with pytest.raises(ConsentEndedError, match=DEFAULT_GAS_EAN):
        await client.readings(EANS, "2025-03-30")
    sim.feeds["feed-g"] = DEFAULT_GAS_EAN
    sim.gone.add("feed-e")  # listed, but its URL answers 404
    with pytest.raises(ConsentEndedError, match="404"):
        await client.readings(EANS, "2025-03-30")


@pytest.mark.freeze_time(NOW)
@pytest.mark.parametrize(
    ("status", "error"),
    [
        (403, AuthError),
        (429, RateLimitedError),
        (502, UnavailableError),
        (400, UnexpectedStatusError),
    ],
)
async def test_http_statuses_are_typed(
    sim: MeterbeheerSimulator,
    session: aiohttp.ClientSession,
    status: int,
    error: type[Exception],
) -> None:
    sim.fail(status)
    with pytest.raises(error):
        await provider(session, sim).readings(EANS, None)


async def test_no_answer_is_unreachable(session: aiohttp.ClientSession) -> None:
    client = MeterbeheerProvider(session, "k", "http://127.0.0.1:9", timeout=2)
    with pytest.raises(UnreachableError):
        await client.metering_points()


def feed(**changes: Any) -> Any:
    data = [
        {
            "from": f"2025-01-01T00:{m:02d}:00+01:00",
            "to": f"2025-01-01T00:{m + 15:02d}:00+01:00"
            if m < 45
            else "2025-01-01T01:00:00+01:00",
            "value": 0.25,
        }
        for m in (0, 15, 30, 45)
    ]
    document = {"ean": DEFAULT_ELECTRICITY_EAN, "channel": "1.8.0", "unit": "kWh"}
    document |= {"data": data} | changes
    return json.loads(json.dumps(document), parse_float=Decimal)


def test_feed_shapes() -> None:
    fault, usages = parse_feed(feed(), "1.8.0", "f")
    assert fault is None
    assert [(u.start, u.value) for u in usages] == [
        (datetime(2024, 12, 31, 23, tzinfo=UTC), 1000)
    ]
    # A whole day as one period is a day total.
    day = feed(
        data=[
            {
                "start": "2025-01-01T00:00:00+01:00",
                "end": "2025-01-02T00:00:00+01:00",
                "usage": 12,
            }
        ]
    )
    _, usages = parse_feed(day, "1.8.0", "f")
    assert [(u.end - u.start, u.value) for u in usages] == [(timedelta(days=1), 12000)]
    # Other channels (tariff registers) are left out; the fault code stays.
    assert parse_feed(feed(faultCode=40), "1.8.1", "f") == ("040", [])
    assert parse_feed(feed(data=None), "1.8.0", "f") == (None, [])
    _, usages = parse_feed(feed(unit="m³"), "1.8.0", "f")
    assert {u.register for u in usages} == {Register.GAS}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"unit": "MWh"}, "unknown unit"),
        ({"data": {}}, "not a list"),
        ({"data": [1]}, "expected an object"),
        (
            {"data": [{"from": "2025-01-01T00:00:00Z", "to": "2025-01-01T00:15:00Z"}]},
            "not a number",
        ),
        (
            {
                "data": [
                    {
                        "from": "2025-01-01T00:00:00Z",
                        "to": "2025-01-01T00:15:00Z",
                        "value": -1,
                    }
                ]
            },
            "negative",
        ),
    ],
)
def test_what_cannot_be_understood(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidResponseError, match=message):
        parse_feed(feed(**changes), "1.8.0", "f")
    with pytest.raises(InvalidResponseError, match="expected an object"):
        parse_feed([], "1.8.0", "f")


async def serve(document: Any, status: int = 200, **headers: str) -> Any:
    """A one-route server answering ``document`` to every GET (raw bytes as is)."""
    from aiohttp import web

    async def answer(request: web.Request) -> web.Response:
        if isinstance(document, bytes):
            return web.Response(body=document, status=status, headers=headers)
        return web.json_response(document, status=status, headers=headers)

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"feeds": "x"}, "expected a list"),
        ([1], "expected an object"),
        ([{"ean": 1, "status": "verified"}], "ean or status missing"),
        ([{"ean": "1", "status": "verified", "channels": [{"code": 1}]}], "channel"),
        (b"{", "not valid JSON"),
        (b"x" * (20 * 1024 * 1024 + 1), "too large"),
    ],
)
async def test_a_feed_list_that_cannot_be_read(
    session: aiohttp.ClientSession, document: Any, message: str
) -> None:
    runner = await serve(document)
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        with pytest.raises(InvalidResponseError, match=message):
            await MeterbeheerProvider(session, "k", url).metering_points()
    finally:
        await runner.cleanup()


async def test_a_wrapped_feed_list_and_a_slow_hub(
    session: aiohttp.ClientSession,
) -> None:
    runner = await serve({"data": [{"ean": "1", "status": "Verified", "type": "G"}]})
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        (point,) = await MeterbeheerProvider(session, "k", url).metering_points()
        assert (point.ean, point.product, point.address) == ("1", "gas", None)
    finally:
        await runner.cleanup()
    from aiohttp import web

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.json_response([])

    app = web.Application()
    app.router.add_get("/{tail:.*}", slow)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        with pytest.raises(UnreachableError, match="in time"):
            await MeterbeheerProvider(session, "k", url, timeout=0.2).metering_points()
    finally:
        await runner.cleanup()
