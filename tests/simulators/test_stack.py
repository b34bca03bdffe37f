"""The simulator stack of the development setup: one household, two paths, switches."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from simulators import stack as stack_module
from simulators.p4 import FIRST_STAMP
from simulators.p4_data import AMSTERDAM, local_midnight, p4_meter_number
from simulators.stack import (
    CONSENT_ENDED_CODE,
    READOUT_OFF_CODE,
    SWITCHES,
    SimulatorStack,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")

TIMEOUT = 5.0
INTERVAL = 0.05


@pytest.fixture
async def stack() -> AsyncGenerator[SimulatorStack]:
    """A running stack on free ports, with two days of history."""
    simulators = SimulatorStack(
        p1_port=0, p4_port=0, control_port=0, days=2, interval=INTERVAL
    )
    await simulators.start()
    yield simulators
    await simulators.stop()


@pytest.fixture
async def http() -> AsyncGenerator[aiohttp.ClientSession]:
    """An HTTP client."""
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=TIMEOUT)
    ) as session:
        yield session


async def flip(
    http: aiohttp.ClientSession, stack: SimulatorStack, name: str
) -> dict[str, Any]:
    async with http.post(f"{stack.control_url}/sim/{name}") as response:
        assert response.status == 200
        return dict(await response.json())


async def bulk(
    http: aiohttp.ClientSession, stack: SimulatorStack, after: str
) -> dict[str, Any]:
    async with http.get(
        f"{stack.p4.url}/v8/readings-bulk/{after}", headers={"X-API-KEY": "dev-key"}
    ) as response:
        assert response.status == 200
        return dict(await response.json())


def rejections(page: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((r["Ean"], r["RejectionCode"]) for r in page["RejectionObjects"])


async def first_bytes(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        async with asyncio.timeout(TIMEOUT):
            return await reader.readexactly(4)
    finally:
        writer.close()


def test_one_household_behind_both_paths() -> None:
    """P4's registers at today's 00:00 are the P1 meter's; the meter ids pair up."""
    simulators = SimulatorStack(p1_port=0, p4_port=0, control_port=0, days=3)
    today = datetime.now(AMSTERDAM).date()
    last = simulators.p4.days[-1]
    assert len(simulators.p4.days) == 3
    assert last.times[-1] == local_midnight(today) == simulators.meter.time
    registers = simulators.meter.registers()
    assert last.import_wh[-1] == int(registers.import_total_kwh * 1000)
    assert last.export_wh[-1] == int(registers.export_total_kwh * 1000)
    assert last.gas_l is not None
    assert registers.gas_m3 is not None
    assert last.gas_l[-1] == int(registers.gas_m3 * 1000)
    assert last.meter_id == p4_meter_number(simulators.meter.equipment_id)
    # The live meter runs in short slots: the power moves within minutes.
    assert simulators.meter.options.slot_seconds == 10
    assert simulators.p4.meter.options.slot_seconds == 300


async def test_state(http: aiohttp.ClientSession, stack: SimulatorStack) -> None:
    async with http.get(f"{stack.control_url}/sim") as response:
        state = await response.json()
    assert state["readout"] == "on"
    assert state["consent"] == "ok"
    assert state["cable"] == "plugged"
    assert state["p1"]["url"] == f"tcp://127.0.0.1:{stack.p1.port}"
    assert state["p1"]["equipment_id"] == stack.meter.equipment_id
    assert state["p1"]["profile"] == "nl_dsmr5_gas"
    assert state["p1"]["encryption_key"] is None
    assert state["p4"]["url"] == stack.p4.url
    assert state["p4"]["api_key"] == "dev-key"
    assert state["p4"]["eans"] == stack.p4.eans
    assert state["p4"]["standing_rejections"] == []
    assert state["switches"] == sorted(SWITCHES)


async def test_unknown_switch(
    http: aiohttp.ClientSession, stack: SimulatorStack
) -> None:
    async with http.post(f"{stack.control_url}/sim/meter-explodes") as response:
        assert response.status == 404
        body = await response.json()
    assert body["switches"] == sorted(SWITCHES)


@pytest.mark.parametrize(
    "case",
    [
        ("readout-off", "readout-on", "readout", ("off", "on"), READOUT_OFF_CODE),
        ("consent-ended", "consent-ok", "consent", ("ended", "ok"), CONSENT_ENDED_CODE),
    ],
    ids=["readout", "consent"],
)
async def test_rejection_switches(
    http: aiohttp.ClientSession,
    stack: SimulatorStack,
    case: tuple[str, str, str, tuple[str, str], str],
) -> None:
    """While off, every read past the last one is refused with the P4 code."""
    off, on, key, values, code = case
    page = await bulk(http, stack, FIRST_STAMP)
    assert rejections(page) == []
    assert page["IntervalObjectCount"] == 4  # two days, two EANs
    cursor = page["TimeStamp"]
    assert (await bulk(http, stack, cursor))["IntervalObjectCount"] == 0

    state = await flip(http, stack, off)
    assert state[key] == values[0]
    assert state["p4"]["standing_rejections"] == [code]
    expected = sorted((ean, code) for ean in stack.p4.eans)
    page = await bulk(http, stack, cursor)
    assert rejections(page) == expected
    # Still refused after the client read the rejection: it stands.
    page = await bulk(http, stack, page["TimeStamp"])
    assert rejections(page) == expected
    # Not twice in one read.
    assert rejections(await bulk(http, stack, cursor)) == sorted(expected * 2)

    state = await flip(http, stack, on)
    assert state[key] == values[1]
    assert state["p4"]["standing_rejections"] == []
    page = await bulk(http, stack, page["TimeStamp"])
    assert rejections(page) == []
    assert page["IntervalObjectCount"] == 0


async def test_both_rejections_at_once(
    http: aiohttp.ClientSession, stack: SimulatorStack
) -> None:
    await flip(http, stack, "readout-off")
    state = await flip(http, stack, "consent-ended")
    assert state["p4"]["standing_rejections"] == [CONSENT_ENDED_CODE, READOUT_OFF_CODE]
    page = await bulk(http, stack, FIRST_STAMP)
    assert {code for _, code in rejections(page)} == {
        CONSENT_ENDED_CODE,
        READOUT_OFF_CODE,
    }
    state = await flip(http, stack, "readout-on")
    assert state["p4"]["standing_rejections"] == [CONSENT_ENDED_CODE]


async def test_cable_switches(
    http: aiohttp.ClientSession, stack: SimulatorStack
) -> None:
    """Pulled, the P1 port drops its clients and refuses; plugged, it serves."""
    assert await first_bytes(stack.p1.port) == b"/ISk"
    reader, writer = await asyncio.open_connection("127.0.0.1", stack.p1.port)
    await stack.p1.wait_for_clients(1, TIMEOUT)

    state = await flip(http, stack, "cable-pull")
    assert state["cable"] == "pulled"
    async with asyncio.timeout(TIMEOUT):
        while await reader.read(4096):
            pass  # telegrams sent before the close, then the end of the stream
    writer.close()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", stack.p1.port)

    state = await flip(http, stack, "cable-plug")
    assert state["cable"] == "plugged"
    assert await first_bytes(stack.p1.port) == b"/ISk"


def test_switches_listed_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        stack_module.main(["--help"])
    text = capsys.readouterr().out
    for name in SWITCHES:
        assert name in text
    for flag in ("--p1", "--p4", "--control", "--days"):
        assert flag in text


async def test_leneda_serves_the_same_household(http: aiohttp.ClientSession) -> None:
    """With --provider lu_leneda, Leneda answers on the consent API's port."""
    from simulators.leneda import CODE_EXPORT, CODE_IMPORT

    simulators = SimulatorStack(
        p1_port=0,
        p4_port=0,
        control_port=0,
        days=2,
        interval=INTERVAL,
        provider="lu_leneda",
    )
    await simulators.start()
    try:
        leneda = simulators.leneda
        assert leneda is not None
        state = simulators.state()
        assert state["leneda"]["pod"] == leneda.pod
        # A Luxembourg household: a Smarty that encrypts its telegrams.
        assert state["p1"]["profile"] == "lu_encrypted"
        assert state["p1"]["equipment_id"].startswith("SAG")
        assert state["p1"]["encryption_key"] == simulators.p1_key
        assert (await first_bytes(simulators.p1.port))[0] == 0xDB
        assert state["leneda"]["not_granted"] == []
        # Leneda's energy is the P1 meter's: the same registers underneath.
        assert leneda.history.meter is simulators.p4.meter
        start = local_midnight(leneda.history.first_day)
        url = f"{leneda.url}/api/metering-points/{leneda.pod}/time-series"
        query = {
            "startDateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "endDateTime": datetime.now(AMSTERDAM).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "obisCode": CODE_IMPORT,
        }
        headers = {"X-API-KEY": "dev-key", "X-ENERGY-ID": leneda.energy_id}
        async with http.get(url, params=query, headers=headers) as response:
            document = await response.json()
        assert document["unit"] == "kW"
        assert len(document["items"]) == sum(
            len(day.times) - 1 for day in leneda.history
        )
        state = await flip(http, simulators, "export-revoked")
        assert state["leneda"]["not_granted"] == [CODE_EXPORT]
        state = await flip(http, simulators, "export-granted")
        assert state["leneda"]["not_granted"] == []
        state = await flip(http, simulators, "consent-ended")
        assert state["leneda"]["shared"] is False
        async with http.get(url, params=query, headers=headers) as response:
            assert response.status == 404
        state = await flip(http, simulators, "consent-ok")
        assert state["leneda"]["shared"] is True
    finally:
        await simulators.stop()


async def test_export_switches_do_nothing_without_leneda(
    http: aiohttp.ClientSession, stack: SimulatorStack
) -> None:
    state = await flip(http, stack, "export-revoked")
    assert "leneda" not in state
    await flip(http, stack, "export-granted")


async def test_meterbeheer_serves_the_same_household(
    http: aiohttp.ClientSession,
) -> None:
    simulators = SimulatorStack(
        p1_port=0,
        p4_port=0,
        control_port=0,
        days=2,
        interval=INTERVAL,
        provider="nl_meterbeheer",
    )
    await simulators.start()
    try:
        hub = simulators.hub
        assert hub is not None
        assert hub.history.meter is simulators.p4.meter
        headers = {"Authorization": "Bearer dev-key"}
        async with http.get(f"{hub.url}/api/v1/feed", headers=headers) as response:
            feeds = await response.json()
        url = feeds[0]["channels"][0]["url"]
        day = hub.history.first_day.isoformat()
        async with http.get(url, params={"from": day, "to": day}) as response:
            assert (await response.json())["unit"] == "kWh"
        await flip(http, simulators, "consent-ended")
        async with http.get(url, params={"from": day, "to": day}) as response:
            assert response.status == 404
        await flip(http, simulators, "consent-ok")
        async with http.get(url, params={"from": day, "to": day}) as response:
            assert response.status == 200
    finally:
        await simulators.stop()
