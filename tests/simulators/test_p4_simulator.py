"""The simulated P4 consent API: data, paging, switches and command line."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
import json
import os
from pathlib import Path
import sys
import time
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from dsmr_parser import telegram_specifications
from dsmr_parser.parsers import TelegramParser
import pytest

from simulators import p4 as p4_sim
from simulators.household import HouseholdOptions
from simulators.meter import MeterOptions, SimulatedMeter
from simulators.p4 import (
    DEFAULT_ELECTRICITY_EAN,
    DEFAULT_GAS_EAN,
    REJECTION_TEXTS,
    P4Simulator,
    create_app,
)
from simulators.p4_data import (
    P4History,
    day_times,
    default_meter,
    local_midnight,
    p4_meter_number,
)
from simulators.telegram import render_telegram

pytestmark = pytest.mark.usefixtures("socket_enabled")

AMS = ZoneInfo("Europe/Amsterdam")
WINTER = date(2025, 1, 6)
V5 = TelegramParser(telegram_specifications.V5)
KEY = {"X-API-KEY": "test-key"}
ROOT = Path(__file__).parents[2]


@pytest.fixture
async def sim() -> AsyncGenerator[P4Simulator]:
    simulator = P4Simulator(first_day=WINTER, history_days=2, page_size=3)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def http() -> AsyncGenerator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _get(
    http: aiohttp.ClientSession,
    sim: P4Simulator,
    path: str,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> tuple[int, Any, aiohttp.ClientResponse]:
    async with http.get(
        sim.url + path, headers=KEY if headers is None else headers, params=params
    ) as response:
        body = await response.read()
    try:
        document = json.loads(body)
    except ValueError:
        document = body
    return response.status, document, response


# ------------------------------------------------------------------ the data


def test_registers_equal_p1_telegrams() -> None:
    start = datetime(2025, 1, 6, 0, 0, tzinfo=AMS)
    meter = default_meter(start.date(), seed=11)
    sim = P4Simulator(meter, history_days=2)
    assert sim.days[0].day == start.date()
    probe = meter.copy()
    day = sim.days[1]
    electricity = {
        moment: (r180, r280)
        for moment, r180, r280 in sim.interval_values(DEFAULT_ELECTRICITY_EAN, day.day)
    }
    gas = {
        moment: litres
        for moment, litres, _ in sim.interval_values(DEFAULT_GAS_EAN, day.day)
    }
    for index in (0, 1, 29, 30, 52, 77, 96):
        moment = day.times[index]
        probe.advance(moment)
        telegram = V5.parse(render_telegram("nl_dsmr5_gas", probe).decode("ascii"))
        imported = (
            telegram.ELECTRICITY_USED_TARIFF_1.value
            + telegram.ELECTRICITY_USED_TARIFF_2.value
        )
        exported = (
            telegram.ELECTRICITY_DELIVERED_TARIFF_1.value
            + telegram.ELECTRICITY_DELIVERED_TARIFF_2.value
        )
        assert electricity[moment] == (int(imported * 1000), int(exported * 1000))
        if index % 4 == 0:
            gas_line = telegram.get_mbus_device_by_channel(1).MBUS_METER_READING
            assert gas_line.datetime == moment
            assert gas[moment] == int(gas_line.value * 1000)
    assert p4_meter_number(meter.equipment_id) == day.meter_id
    assert meter.equipment_id.endswith(day.meter_id)


def test_quarter_and_hour_counts() -> None:
    sim = P4Simulator(first_day=date(2025, 3, 29), history_days=3)
    assert sim.dst_days == {date(2025, 3, 30): 93}
    counts = [len(sim.interval_values(DEFAULT_GAS_EAN, d.day)) for d in sim.days]
    assert counts == [25, 24, 25]
    autumn = P4Simulator(first_day=date(2025, 10, 26), history_days=1)
    assert autumn.dst_days == {date(2025, 10, 26): 101}
    assert len(autumn.interval_values(DEFAULT_GAS_EAN, date(2025, 10, 26))) == 26
    assert len(day_times(WINTER)) == 97
    assert sim.interval_values(DEFAULT_GAS_EAN, date(2024, 1, 1)) == []


def test_default_history() -> None:
    sim = P4Simulator()
    assert len(sim.days) == 28
    assert sim.days[-1].day == datetime.now(AMS).date() - timedelta(days=1)
    assert len(sim.feed) == 28 * 4


def test_first_day_from_meter() -> None:
    midnight = local_midnight(WINTER)
    exact = SimulatedMeter(MeterOptions(slot_seconds=300), start=midnight)
    assert P4Simulator(exact, history_days=1).days[0].day == WINTER
    later = SimulatedMeter(
        MeterOptions(slot_seconds=300), start=midnight + timedelta(hours=5)
    )
    assert P4Simulator(later, history_days=1).days[0].day == WINTER + timedelta(days=1)
    with pytest.raises(ValueError, match="after"):
        P4History(later, WINTER, 1)


def test_without_gas() -> None:
    options = MeterOptions(household=HouseholdOptions(gas=False), slot_seconds=300)
    meter = SimulatedMeter(options, start=local_midnight(WINTER))
    sim = P4Simulator(meter, history_days=1)
    assert sim.eans == [DEFAULT_ELECTRICITY_EAN]
    assert sim.days[0].gas_l is None
    assert sim.days[0].gas_meter_id is None
    assert sim.days[0].gas_hourly() == []
    assert {entry.ean for entry in sim.feed} == {DEFAULT_ELECTRICITY_EAN}


def test_history_access() -> None:
    history = P4History(default_meter(WINTER), WINTER, 0)
    assert len(history) == 0
    assert history.last_day == WINTER - timedelta(days=1)
    assert history.get(WINTER) is None
    history.extend(2)
    assert [d.day for d in history] == [WINTER, WINTER + timedelta(days=1)]
    assert history.get(WINTER - timedelta(days=1)) is None


def test_swap_meter() -> None:
    sim = P4Simulator(first_day=WINTER, history_days=3)
    before = [d.meter_id for d in sim.days]
    gas_before = [d.gas_l for d in sim.days]
    sim.swap_meter(WINTER + timedelta(days=1))
    after = [d.meter_id for d in sim.days]
    assert after[0] == before[0]
    assert after[1] == after[2] != before[1]
    assert sim.days[1].import_wh[0] < 100 < sim.days[0].import_wh[-1]
    assert sim.days[1].export_wh[0] == 0
    assert [d.gas_l for d in sim.days] == gas_before  # the gas meter stays
    assert sim.metering_point(DEFAULT_ELECTRICITY_EAN)["MeterId"] == after[2]


# ------------------------------------------------------------------ the feed


async def test_metering_points(http: aiohttp.ClientSession, sim: P4Simulator) -> None:
    status, points, _ = await _get(http, sim, "/api/v5/meteringpoints/")
    assert status == 200
    assert points == [
        {
            "Ean": DEFAULT_ELECTRICITY_EAN,
            "MeterId": sim.days[-1].meter_id,
            "Product": "Electricity",
            "Address": "Simulatiestraat 1, 1234 AB Teststad",
        },
        {
            "Ean": DEFAULT_GAS_EAN,
            "MeterId": sim.days[-1].gas_meter_id,
            "Product": "Gas",
            "Address": "Simulatiestraat 1, 1234 AB Teststad",
        },
    ]
    assert (await _get(http, sim, "/api/v5/meteringpoints"))[1] == points
    status, point, _ = await _get(
        http, sim, f"/api/v5/meteringpoints/{DEFAULT_GAS_EAN}"
    )
    assert (status, point) == (200, points[1])
    status, error, _ = await _get(
        http, sim, "/api/v5/meteringpoints/871600000000000000"
    )
    assert status == 404
    assert "not found" in error["ResponseStatus"]["Message"]


def test_metering_point_shape_is_the_providers() -> None:
    from custom_components.slimme_meter.remote import p4 as provider

    assert (
        provider.MP_EAN[0],
        provider.MP_METER_ID[0],
        provider.MP_PRODUCT[0],
        provider.MP_ADDRESS[0],
    ) == (
        p4_sim.MP_EAN,
        p4_sim.MP_METER_ID,
        p4_sim.MP_PRODUCT,
        p4_sim.MP_ADDRESS,
    )
    for renames in p4_sim._MP_RENAMES.values():
        for name in renames.values():
            assert any(
                name in names
                for names in (
                    provider.MP_EAN,
                    provider.MP_METER_ID,
                    provider.MP_PRODUCT,
                )
            )
    assert provider.PRODUCTS[p4_sim.PRODUCT_ELECTRICITY.lower()] == "electricity"
    assert provider.PRODUCTS[p4_sim.PRODUCT_GAS.lower()] == "gas"
    assert provider.CURSOR_FORMAT == p4_sim.CURSOR_FORMAT
    assert p4_sim.OVERSIZED_BYTES > provider.MAX_BODY_BYTES


async def test_paging_with_cursor(
    http: aiohttp.ClientSession, sim: P4Simulator
) -> None:
    flags = {"IncludeDayObjects": "true"}
    status, page, _ = await _get(
        http, sim, "/v8/readings-bulk/20000101-000000-000000", params=flags
    )
    assert status == 200
    assert set(page) == {
        "Message",
        "TimeStamp",
        "DayObjectCount",
        "IntervalObjectCount",
        "RejectionObjectCount",
        "DayObjects",
        "IntervalObjects",
        "RejectionObjects",
    }
    assert (page["IntervalObjectCount"], page["DayObjectCount"]) == (2, 1)
    interval, gas = page["IntervalObjects"]
    assert interval["MeasureUnit"] == "WH"
    assert interval["QueryDate"] == "2025-01-06"
    assert len(interval["Items"]) == 97
    first = interval["Items"][0]
    assert first["DateTimeOffset"] == "2025-01-06T00:00:00.0000000+01:00"
    assert first["R180"] == sim.days[0].import_wh[0]
    assert gas["MeasureUnit"] == "MTQ"
    assert len(gas["Items"]) == 25
    assert "R280" not in gas["Items"][0]
    litres = sim.days[0].gas_l
    assert litres is not None
    assert Decimal(str(gas["Items"][0]["R180"])) * 1000 == litres[0]
    day = page["DayObjects"][0]
    start = sim.days[0].start
    assert day["MeasureUnit"] == "KWH"
    assert Decimal(str(day["R181"])) == start.import_t1_kwh
    assert Decimal(str(day["R182"])) == start.import_t2_kwh
    assert Decimal(str(day["R180"])) == start.import_total_kwh
    assert page["TimeStamp"] == sim.feed[2].stamp == "20250107-060002-000000"

    stamps = [page["TimeStamp"]]
    while True:
        _, page, _ = await _get(
            http, sim, f"/v8/readings-bulk/{stamps[-1]}", params=flags
        )
        if not (page["DayObjects"] or page["IntervalObjects"]):
            break
        stamps.append(page["TimeStamp"])
    assert stamps == [sim.feed[i].stamp for i in (2, 5, 7)]
    assert page["TimeStamp"] == stamps[-1]  # an empty page echoes the cursor


async def test_day_objects_only_when_asked(
    http: aiohttp.ClientSession, sim: P4Simulator
) -> None:
    _, page, _ = await _get(http, sim, "/v8/readings-bulk/20000101-000000-000000")
    assert page["DayObjects"] == []
    assert page["IntervalObjectCount"] == 3
    _, page, _ = await _get(
        http,
        sim,
        "/v8/readings-bulk/20000101-000000-000000",
        params={
            "IncludeIntervalObjects": "false",
            "IncludeDayObjects": "1",
            "ObjectFilter": "LastDayOnly",
        },
    )
    assert page["IntervalObjects"] == []
    assert page["DayObjectCount"] == 3


async def test_server_side_cursor(
    http: aiohttp.ClientSession, sim: P4Simulator
) -> None:
    sim.page_size = 5
    _, first, _ = await _get(http, sim, "/v8/readings-bulk")
    assert len(first["IntervalObjects"]) == 4  # day objects are left out by default
    assert first["TimeStamp"] == sim.feed[6].stamp  # the last interval object
    _, second, _ = await _get(http, sim, "/v8/readings-bulk")
    assert second["IntervalObjects"] == []
    assert second["TimeStamp"] == sim.feed[6].stamp
    sim.add_days(1)
    _, third, _ = await _get(http, sim, "/v8/readings-bulk")
    assert [o["QueryDate"] for o in third["IntervalObjects"]] == ["2025-01-08"] * 2


async def test_empty_feed_first_stamp(http: aiohttp.ClientSession) -> None:
    sim = P4Simulator(first_day=WINTER, history_days=0)
    await sim.start()
    try:
        _, page, _ = await _get(http, sim, "/v8/readings-bulk")
    finally:
        await sim.stop()
    assert page["TimeStamp"] == "19700101-000000-000000"
    assert sim.feed == []
    point = sim.metering_point(DEFAULT_GAS_EAN)
    assert sim.meter.gas_equipment_id is not None
    assert point["MeterId"] == p4_meter_number(sim.meter.gas_equipment_id)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v8/readings-bulk/2025-01-01", {}),
        ("/v8/readings-bulk", {"ObjectFilter": "Week"}),
        ("/v8/readings-bulk", {"IncludeDayObjects": "yes"}),
    ],
)
async def test_bad_requests(
    http: aiohttp.ClientSession, sim: P4Simulator, path: str, params: dict[str, str]
) -> None:
    status, error, _ = await _get(http, sim, path, params=params)
    assert status == 400
    assert error["ResponseStatus"]["ErrorCode"] == "400"


async def test_api_key(http: aiohttp.ClientSession, sim: P4Simulator) -> None:
    assert (await _get(http, sim, "/v8/readings-bulk", headers={}))[0] == 401
    bad = {"X-API-KEY": "nope"}
    assert (await _get(http, sim, "/api/v5/meteringpoints/", headers=bad))[0] == 401
    status, _, _ = await _get(
        http, sim, "/api/v5/meteringpoints/", headers={}, params={"ApiKey": "test-key"}
    )
    assert status == 200
    sim.api_key = "other"
    assert (await _get(http, sim, "/api/v5/meteringpoints/"))[0] == 401
    assert [r.api_key for r in sim.requests] == [None, "nope", "test-key", "test-key"]


# ------------------------------------------------------------------ switches


async def test_status_switches(http: aiohttp.ClientSession, sim: P4Simulator) -> None:
    moment = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    sim.refuse(status=403)
    sim.rate_limit(count=2, retry_after=moment)
    sim.rate_limit(retry_after=None)
    sim.unavailable(retry_after=1.5)
    sim.unavailable(status=502, retry_after="later")
    seen = []
    for _ in range(7):
        status, _, response = await _get(http, sim, "/api/v5/meteringpoints/")
        seen.append((status, response.headers.get("Retry-After")))
    assert seen == [
        (403, None),
        (429, "Tue, 01 Jan 2030 12:00:00 GMT"),
        (429, "Tue, 01 Jan 2030 12:00:00 GMT"),
        (429, None),
        (503, "1.5"),
        (502, "later"),
        (200, None),
    ]


async def test_malformed(http: aiohttp.ClientSession, sim: P4Simulator) -> None:
    sim.malformed(count=2)
    for _ in range(2):
        status, body, _ = await _get(http, sim, "/v8/readings-bulk")
        assert status == 200
        assert isinstance(body, bytes)
        assert body.startswith(b'{"Message": null, "TimeStamp":')
    assert isinstance((await _get(http, sim, "/v8/readings-bulk"))[1], dict)


@pytest.mark.parametrize("declare_length", [True, False])
async def test_oversized(
    http: aiohttp.ClientSession, sim: P4Simulator, declare_length: bool
) -> None:
    sim.oversized(size=3 * 1024 * 1024 + 7, declare_length=declare_length)
    status, document, response = await _get(http, sim, "/v8/readings-bulk")
    assert status == 200
    assert (response.content_length is not None) is declare_length
    assert document["TimeStamp"] == "19700101-000000-000000"
    assert len(json.dumps(document, separators=(", ", ": "))) == 3 * 1024 * 1024 + 7


async def test_oversized_client_gone(sim: P4Simulator) -> None:
    sim.oversized()
    reader, writer = await asyncio.open_connection(sim.host, sim.port)
    writer.write(
        b"GET /v8/readings-bulk HTTP/1.1\r\nHost: x\r\nX-API-KEY: test-key\r\n\r\n"
    )
    await writer.drain()
    assert (await reader.readline()).startswith(b"HTTP/1.1 200")
    writer.transport.abort()
    await asyncio.sleep(0.05)
    assert not sim._faults


async def test_mangle_and_delay(http: aiohttp.ClientSession, sim: P4Simulator) -> None:
    sim.mangle(lambda page: {"changed": page["TimeStamp"]})
    sim.delay = 0.2
    began = time.perf_counter()
    _, document, _ = await _get(http, sim, "/v8/readings-bulk")
    assert time.perf_counter() - began >= 0.2
    assert document == {"changed": sim.feed[4].stamp}


async def test_reject(http: aiohttp.ClientSession, sim: P4Simulator) -> None:
    every = sim.reject("038")
    assert [(e.ean, e.day, e.code) for e in every] == [
        (DEFAULT_ELECTRICITY_EAN, date(2025, 1, 7), "038"),
        (DEFAULT_GAS_EAN, date(2025, 1, 7), "038"),
    ]
    one = sim.reject("999", DEFAULT_GAS_EAN, day=WINTER, text="anders")
    assert one[0].stamp > every[1].stamp > every[0].stamp > sim.feed[7].stamp
    with pytest.raises(ValueError, match="unknown EAN"):
        sim.reject("008", "871600000000000000")
    sim.page_size = 100
    _, page, _ = await _get(http, sim, "/v8/readings-bulk")
    assert page["RejectionObjects"] == [
        {
            "Ean": DEFAULT_ELECTRICITY_EAN,
            "QueryDate": "2025-01-07",
            "QueryReason": "INT",
            "RejectionCode": "038",
            "RejectionText": REJECTION_TEXTS["038"],
        },
        {
            "Ean": DEFAULT_GAS_EAN,
            "QueryDate": "2025-01-07",
            "QueryReason": "INT",
            "RejectionCode": "038",
            "RejectionText": REJECTION_TEXTS["038"],
        },
        {
            "Ean": DEFAULT_GAS_EAN,
            "QueryDate": "2025-01-06",
            "QueryReason": "INT",
            "RejectionCode": "999",
            "RejectionText": "anders",
        },
    ]
    assert page["RejectionObjectCount"] == 3


def test_every_rejection_code_has_a_text() -> None:
    codes = {
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
    assert codes <= set(REJECTION_TEXTS)
    assert all(len(code) == 3 and code.isdigit() for code in REJECTION_TEXTS)


async def test_blank(http: aiohttp.ClientSession, sim: P4Simulator) -> None:
    sim.blank(WINTER, DEFAULT_ELECTRICITY_EAN, count=3)
    sim.blank(WINTER, DEFAULT_GAS_EAN, count=2)
    _, page, _ = await _get(http, sim, "/v8/readings-bulk")
    electricity, gas = page["IntervalObjects"][:2]
    items = electricity["Items"]
    assert [("R180" in i, i.get("R180")) for i in items[48:51]] == [
        (False, None),
        (True, None),
        (False, None),
    ]
    assert all(i.get("R180") is not None for i in items[:48] + items[51:])
    assert all(len(i) == 3 for i in items[:48])
    assert [i.get("R180") for i in gas["Items"][12:14]] == [None, None]
    assert gas["Items"][14]["R180"] is not None


async def test_correct(http: aiohttp.ClientSession, sim: P4Simulator) -> None:
    original = sim.interval_values(DEFAULT_ELECTRICITY_EAN, WINTER)
    first = sim.correct(WINTER)
    second = sim.correct(WINTER, DEFAULT_GAS_EAN)
    assert [e.revision for e in first + second] == [1, 1, 2]
    corrected = sim.interval_values(DEFAULT_ELECTRICITY_EAN, WINTER, revision=1)
    assert corrected[0] == original[0]
    assert corrected[-1] == original[-1]
    assert corrected != original
    imports = [value for _, value, _ in corrected]
    assert imports == sorted(imports)
    gas = sim.interval_values(DEFAULT_GAS_EAN, WINTER, revision=2)
    assert [g[1] for g in gas] == sorted(g[1] for g in gas)
    with pytest.raises(ValueError, match="not in the history"):
        sim.correct(date(2024, 1, 1))
    sim.page_size = 100
    _, page, _ = await _get(http, sim, "/v8/readings-bulk")
    reissued = page["IntervalObjects"][-3]
    assert reissued["QueryDate"] == "2025-01-06"
    assert [i["R180"] for i in reissued["Items"]] == imports


async def test_add_days(sim: P4Simulator) -> None:
    sim.reject("010")
    added = sim.add_days(2)
    assert [d.day for d in added] == [date(2025, 1, 8), date(2025, 1, 9)]
    stamps = [entry.stamp for entry in sim.feed]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)
    assert sim.feed[-1].stamp == "20250110-060003-000000"


def test_rejection_on_an_empty_feed() -> None:
    sim = P4Simulator(first_day=WINTER, history_days=0)
    entries = sim.reject("010", day=WINTER)
    assert len(entries) == 2
    assert entries[0].stamp < entries[1].stamp


async def test_start_twice_and_app(sim: P4Simulator) -> None:
    port = sim.port
    await sim.start()
    assert sim.port == port
    app = create_app(sim)
    names = {route.name for route in app.router.routes()}
    assert {"meteringpoints", "meteringpoint", "bulk", "bulk_from"} <= names
    await sim.stop()
    await sim.stop()
    assert sim.url == f"http://127.0.0.1:{port}"


# -------------------------------------------------------------- command line


async def test_command_line() -> None:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulators.p4",
        "--port",
        "0",
        "--days",
        "3",
        "--key",
        "secret",
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert line.startswith("P4 API on http://127.0.0.1:")
        url = line.split()[3]
        assert "key 'secret'" in line
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{url}/api/v5/meteringpoints/", headers={"X-API-KEY": "secret"}
            ) as response,
        ):
            assert response.status == 200
            assert len(await response.json()) == 2
    finally:
        process.terminate()
    # SIGTERM stops the servers cleanly.
    assert await asyncio.wait_for(process.wait(), 20) == 0


def test_main_stops_on_interrupt(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(coroutine: Any) -> None:
        coroutine.close()
        raise KeyboardInterrupt

    monkeypatch.setattr(asyncio, "run", interrupted)
    assert p4_sim.main(["--days", "1"]) == 0


def test_default_meter_is_fast_profile() -> None:
    meter = default_meter(WINTER, seed=3)
    assert meter.options.slot_seconds == 300
    assert meter.options.household.gas
    assert meter.time == local_midnight(WINTER)
    assert replace(meter.options, slot_seconds=10).household.solar_kwp > 0
