"""Config, reconfigure, reauth and options flows against real loopback meters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
import importlib.util
from pathlib import Path
import sys
from typing import Any, NamedTuple
from unittest.mock import patch

from homeassistant import config_entries
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import selector as ha_selector
from homeassistant.helpers.service_info.usb import UsbServiceInfo
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import serialx

from custom_components.slimme_meter import config_flow
from custom_components.slimme_meter.const import DOMAIN
from custom_components.slimme_meter.meter_model import title

from .p1_helpers import (
    AUTH_KEY,
    FLUVIUS,
    KEY,
    LUX,
    LUX_BAD_CRC,
    LUX_ID,
    Q3D,
    SWEDEN,
    V2_2,
    V4_2,
    V5,
    V5_HEADER,
    V5_ID,
    WRONG_KEY,
    PtyCable,
    closed_port,
    encrypt,
    encrypted_stream,
    lux_meter,
    pty_cables,
    v5_meter,
)
from .server import TelegramServer

FLOW = "custom_components.slimme_meter.config_flow"
OTHER_ID = "K8EG009999999999"
USB_SERIAL = "A10KQ3P1"

type Result = dict[str, Any]
type StartServer = Callable[[], Awaitable[TelegramServer]]


# --------------------------------------------------------------------------
# Fixtures and helpers


@pytest.fixture
async def start_server(socket_enabled: None) -> AsyncGenerator[StartServer]:
    """Start loopback meters on demand; stop them all afterwards."""
    servers: list[TelegramServer] = []

    async def start() -> TelegramServer:
        server = TelegramServer()
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def server(start_server: StartServer) -> TelegramServer:
    return await start_server()


@pytest.fixture
def cables() -> Generator[Callable[[], PtyCable]]:
    with pty_cables() as make:
        yield make


def listening_briefly() -> Any:
    """Listen only briefly: for attempts where the meter stays silent."""
    return patch(f"{FLOW}.VALIDATION_TIMEOUT", 0.3)


def _port_info(device: str, product: str | None = None) -> serialx.SerialPortInfo:
    return serialx.SerialPortInfo(
        device=device,
        resolved_device="" if product is None else device,
        vid=0x0403,
        pid=0x6001,
        serial_number=USB_SERIAL,
        manufacturer="FTDI",
        product=product,
        bcd_device=None,
        interface_description=None,
        interface_num=None,
    )


@pytest.fixture
def port_list() -> Generator[list[serialx.SerialPortInfo]]:
    """The serial ports the system reports (no USB hardware exists here).

    The flow lists them itself where Home Assistant has no serial port
    selector (before 2026.5); these tests see that list on every lane.
    """
    ports: list[serialx.SerialPortInfo] = []
    with (
        patch.object(serialx, "list_serial_ports", return_value=ports),
        patch(f"{config_flow.__name__}._SERIAL_PORT_SELECTOR", None),
    ):
        yield ports


def network_input(
    port: int, host: str = "127.0.0.1", spec: str = "auto"
) -> dict[str, Any]:
    return {"host": host, "port": port, "specification": spec}


async def start_flow(hass: HomeAssistant, connection: str) -> Result:
    """Open the user flow and choose the connection in its menu."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "user"
    assert result["menu_options"] == ["serial", "network"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": connection}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == connection
    assert result["errors"] == {}
    return result


async def submit(
    hass: HomeAssistant,
    flow_id: str,
    user_input: dict[str, Any],
    server: TelegramServer | None = None,
    payload: bytes = b"",
) -> Result:
    """Submit a step; the meter behind server sends payload once connected."""
    manager = hass.config_entries.flow
    if server is None:
        return await manager.async_configure(flow_id, user_input)
    server.drop_clients()
    task = asyncio.create_task(manager.async_configure(flow_id, user_input))
    connected = asyncio.create_task(server.wait_client())
    await asyncio.wait({task, connected}, return_when=asyncio.FIRST_COMPLETED)
    if connected.done():
        await connected
        if payload:
            await server.send(payload)
    else:  # the step ended without listening: nothing to send
        connected.cancel()
    return await task


def suggested(result: Result) -> dict[str, Any]:
    """Return the values a form shows filled in."""
    return {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description and "suggested_value" in key.description
    }


def field_options(result: Result, name: str) -> list[Any]:
    for key, selector in result["data_schema"].schema.items():
        if str(key) == name:
            return list(selector.config["options"])
    raise AssertionError(f"no field {name}")


def assert_form(result: Result, step_id: str, errors: dict[str, str] | None) -> None:
    assert result["type"] is FlowResultType.FORM, result
    assert result["step_id"] == step_id
    assert result["errors"] == errors


def assert_no_flows(hass: HomeAssistant) -> None:
    assert hass.config_entries.flow.async_progress() == []


def network_entry(
    port: int,
    unique_id: str = V5_ID,
    spec: str = "5",
    **extra: Any,
) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        version=2,
        unique_id=unique_id,
        title=f"Smart meter {unique_id}",
        data={
            "connection": "network",
            "host": "127.0.0.1",
            "port": port,
            "specification": spec,
            "equipment_id": unique_id,
            **extra,
        },
    )


def serial_entry(path: str, unique_id: str = V5_ID, **kwargs: Any) -> MockConfigEntry:
    return MockConfigEntry(
        **kwargs,
        domain=DOMAIN,
        unique_id=unique_id,
        title="Smart meter",
        data={
            "connection": "serial",
            "serial_port": path,
            "specification": "5",
            "equipment_id": unique_id,
        },
    )


async def unload(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await hass.async_block_till_done()
    if entry.state is ConfigEntryState.LOADED:
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


# --------------------------------------------------------------------------
# User flow over the network


class Meter(NamedTuple):
    """A fixture telegram and what the flow should find in it."""

    telegram: bytes
    spec: str
    name: str
    header: str
    equipment_id: str | None
    mbus: str


METERS = {
    "v5": Meter(
        V5, "5", "DSMR 5 (Netherlands)", V5_HEADER, V5_ID, "1: 2222ABCD123456789"
    ),
    "v4_2": Meter(
        V4_2,
        "4",
        "DSMR 4 (Netherlands)",
        "KFM5KAIFA-METER",
        "3960221976967177082151037881335713",
        "1: 4819243993373755377509728609491464",
    ),
    "v2_2": Meter(
        V2_2,
        "dsmr_2_2",
        "DSMR 2.2 (Netherlands)",
        "ISk5\\2MT382-1004",
        "00000000000000",
        "1: 000000000000",
    ),
    "fluvius": Meter(
        FLUVIUS,
        "belgium_5b",
        "e-MUCS 5B (Belgium, Fluvius)",
        "FLU5\\253769484_A",
        "1SAG3101021605",
        "1: 7FLO2119033733, 2: 8SAG1234567890",
    ),
    "sweden": Meter(SWEDEN, "sweden_5s", "P1 (Sweden)", "KAM5", None, "-"),
    "q3d": Meter(
        Q3D, "q3d", "EasyMeter Q3D", "ESY5Q3DB1024 V3.04", "1ESY1313002565", "-"
    ),
    "luxembourg": Meter(
        LUX,
        "luxembourg_5l",
        "Smarty (Luxembourg)",
        "Lux5\\253694471_M",
        LUX_ID,
        "1: FLO189900060355, 4: ELS353589980300",
    ),
}


@pytest.mark.usefixtures("fast_validation")
@pytest.mark.parametrize("meter", METERS.values(), ids=METERS.keys())
async def test_network_detects_meter(
    hass: HomeAssistant, server: TelegramServer, meter: Meter
) -> None:
    result = await start_flow(hass, "network")
    flow_id = result["flow_id"]
    task = asyncio.create_task(
        hass.config_entries.flow.async_configure(flow_id, network_input(server.port))
    )
    await server.wait_client()
    await server.send(meter.telegram)
    result = await task

    assert_form(result, "confirm", None)
    assert result["description_placeholders"] == {
        "specification": meter.name,
        "settings": "TCP",
        "meter": meter.header,
        "equipment_id": meter.equipment_id or "-",
        "mbus": meter.mbus,
    }
    result = await submit(hass, flow_id, {})
    assert result["type"] is FlowResultType.MENU
    result = await submit(hass, flow_id, {"next_step_id": "finish"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == title(meter.header)
    assert result["data"] == {
        "connection": "network",
        "host": "127.0.0.1",
        "port": server.port,
        "specification": meter.spec,
        "equipment_id": meter.equipment_id,
    }
    entry = result["result"]
    assert entry.data["specification"] == meter.spec
    assert entry.unique_id == (
        meter.equipment_id or f"{meter.header}@127.0.0.1:{server.port}"
    )
    assert_no_flows(hass)


@pytest.mark.usefixtures("fast_validation")
async def test_meter_without_id_is_known_by_header_and_address(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    result = await start_flow(hass, "network")
    result = await submit(
        hass, result["flow_id"], network_input(server.port), server, SWEDEN
    )
    assert_form(result, "confirm", None)
    result = await submit(hass, result["flow_id"], {})
    assert result["type"] is FlowResultType.MENU
    result = await submit(hass, result["flow_id"], {"next_step_id": "finish"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == f"KAM5@127.0.0.1:{server.port}"
    assert result["data"]["equipment_id"] is None
    assert_no_flows(hass)


@pytest.mark.usefixtures("fast_validation")
async def test_meter_without_header_or_mbus_ids(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    """Placeholders and title fall back when the telegram leaves things out."""
    telegram = V2_2.replace(b"/ISk5\\2MT382-1004", b"/").replace(
        b"0-1:96.1.0(000000000000)\r\n", b""
    )
    result = await start_flow(hass, "network")
    result = await submit(
        hass, result["flow_id"], network_input(server.port), server, telegram
    )
    assert_form(result, "confirm", None)
    assert result["description_placeholders"] == {
        "specification": "DSMR 2.2 (Netherlands)",
        "settings": "TCP",
        "meter": "-",
        "equipment_id": "00000000000000",
        "mbus": "1: -",
    }
    result = await submit(hass, result["flow_id"], {})
    assert result["type"] is FlowResultType.MENU
    result = await submit(hass, result["flow_id"], {"next_step_id": "finish"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Smart meter"
    assert_no_flows(hass)


@pytest.mark.usefixtures("fast_validation")
@pytest.mark.parametrize(
    ("host", "port_field"),
    [
        ("socket://127.0.0.1:{port}", 8088),
        ("127.0.0.1:{port}", 8088),
        ("tcp://127.0.0.1:{port}", 1),
        ("  127.0.0.1  ", None),
    ],
)
async def test_network_address_forms(
    hass: HomeAssistant, server: TelegramServer, host: str, port_field: int | None
) -> None:
    result = await start_flow(hass, "network")
    user_input = network_input(port_field or server.port, host.format(port=server.port))
    result = await submit(hass, result["flow_id"], user_input, server, V5)
    assert_form(result, "confirm", None)
    result = await submit(hass, result["flow_id"], {})
    assert result["type"] is FlowResultType.MENU
    result = await submit(hass, result["flow_id"], {"next_step_id": "finish"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["host"] == "127.0.0.1"
    assert result["data"]["port"] == server.port
    assert result["result"].unique_id == V5_ID
    assert_no_flows(hass)


@pytest.mark.usefixtures("fast_validation")
async def test_network_invalid_host_then_success(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    result = await start_flow(hass, "network")
    flow_id = result["flow_id"]
    assert suggested(result) == {}
    for host in ("not a host:port", "http://x", "socket://:5"):
        user_input = network_input(server.port, host)
        result = await submit(hass, flow_id, user_input)
        assert_form(result, "network", {"host": "invalid_host"})
        assert suggested(result) == user_input
    assert server.connections == 0

    result = await submit(hass, flow_id, network_input(server.port), server, V5)
    assert_form(result, "confirm", None)
    result = await submit(hass, flow_id, {})
    assert result["type"] is FlowResultType.MENU
    result = await submit(hass, flow_id, {"next_step_id": "finish"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == V5_ID
    assert_no_flows(hass)


@pytest.mark.usefixtures("fast_validation")
async def test_network_cannot_connect_then_success(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    result = await start_flow(hass, "network")
    flow_id = result["flow_id"]
    user_input = network_input(closed_port())
    result = await submit(hass, flow_id, user_input)
    assert_form(result, "network", {"base": "cannot_connect"})
    assert suggested(result) == user_input

    result = await submit(hass, flow_id, network_input(server.port), server, V5)
    assert_form(result, "confirm", None)
    result = await submit(hass, flow_id, {})
    assert result["type"] is FlowResultType.MENU
    result = await submit(hass, flow_id, {"next_step_id": "finish"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["port"] == server.port
    assert_no_flows(hass)


@pytest.mark.usefixtures("fast_validation")
async def test_network_no_telegram_then_success(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    result = await start_flow(hass, "network")
    flow_id = result["flow_id"]
    user_input = network_input(server.port)
    with listening_briefly():
        result = await submit(hass, flow_id, user_input, server)
    assert_form(result, "network", {"base": "no_telegram"})
    assert suggested(result) == user_input

    result = await submit(hass, flow_id, user_input, server, V5)
    assert_form(result, "confirm", None)
    result = await submit(hass, flow_id, {})
    assert result["type"] is FlowResultType.MENU
    result = await submit(hass, flow_id, {"next_step_id": "finish"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["specification"] == "5"
    assert_no_flows(hass)


@pytest.mark.usefixtures("fast_validation")
@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\x13 line noise without any telegram \xfe\xff" * 4,
        LUX_BAD_CRC,
        LUX_BAD_CRC * 3,  # more than 4 kB: given up on before the timeout
    ],
    ids=["noise", "bad_crc", "many_bad_crc"],
)
async def test_network_invalid_telegrams_then_success(
    hass: HomeAssistant, server: TelegramServer, garbage: bytes
) -> None:
    result = await start_flow(hass, "network")
    flow_id = result["flow_id"]
    user_input = network_input(server.port)
    with listening_briefly():
        result = await submit(hass, flow_id, user_input, server, garbage)
    assert_form(result, "network", {"base": "invalid_telegrams"})
    assert suggested(result) == user_input

    result = await submit(hass, flow_id, user_input, server, LUX)
    assert_form(result, "confirm", None)
    result = await submit(hass, flow_id, {})
    assert result["type"] is FlowResultType.MENU
    result = await submit(hass, flow_id, {"next_step_id": "finish"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["specification"] == "luxembourg_5l"
    assert result["result"].unique_id == LUX_ID
    assert_no_flows(hass)


@pytest.mark.usefixtures("fast_validation")
async def test_network_manual_specification(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    result = await start_flow(hass, "network")
    flow_id = result["flow_id"]
    # DSMR 5 requires a checksum; this DSMR 2.2 meter sends none.
    user_input = network_input(server.port, spec="5")
    with listening_briefly():
        result = await submit(hass, flow_id, user_input, server, V2_2)
    assert_form(result, "network", {"base": "invalid_telegrams"})
    assert suggested(result) == user_input

    result = await submit(
        hass, flow_id, network_input(server.port, spec="4"), server, V5
    )
    assert_form(result, "confirm", None)
    assert result["description_placeholders"]["specification"] == "DSMR 4 (Netherlands)"
    result = await submit(hass, flow_id, {})
    assert result["type"] is FlowResultType.MENU
    result = await submit(hass, flow_id, {"next_step_id": "finish"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["specification"] == "4"
    assert result["data"]["equipment_id"] == V5_ID
    assert_no_flows(hass)


@pytest.mark.usefixtures("fast_validation")
async def test_unexpected_error_then_success(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    result = await start_flow(hass, "network")
    flow_id = result["flow_id"]
    user_input = network_input(server.port)
    with patch(f"{FLOW}.detect", side_effect=RuntimeError("boom")):
        result = await submit(hass, flow_id, user_input)
    assert_form(result, "network", {"base": "unknown"})
    assert suggested(result) == user_input

    result = await submit(hass, flow_id, user_input, server, V5)
    assert_form(result, "confirm", None)
    result = await submit(hass, flow_id, {})
    assert result["type"] is FlowResultType.MENU
    result = await submit(hass, flow_id, {"next_step_id": "finish"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert_no_flows(hass)


@pytest.mark.usefixtures("fast_validation")
async def test_same_meter_twice_is_aborted(
    hass: HomeAssistant, start_server: StartServer
) -> None:
    first, second = await start_server(), await start_server()
    result = await start_flow(hass, "network")
    result = await submit(hass, result["flow_id"], network_input(first.port), first, V5)
    result = await submit(hass, result["flow_id"], {})
    assert result["type"] is FlowResultType.MENU
    result = await submit(hass, result["flow_id"], {"next_step_id": "finish"})
    assert result["type"] is FlowResultType.CREATE_ENTRY

    # The same meter, now also reachable through another bridge.
    result = await start_flow(hass, "network")
    result = await submit(
        hass, result["flow_id"], network_input(second.port), second, V5
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    entries = hass.config_entries.async_entries(DOMAIN)
    assert [entry.data["port"] for entry in entries] == [first.port]
    assert_no_flows(hass)


# --------------------------------------------------------------------------
# Encrypted meters


@pytest.mark.usefixtures("fast_validation")
async def test_encrypted_meter_asks_for_key(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    result = await start_flow(hass, "network")
    flow_id = result["flow_id"]
    result = await submit(
        hass, flow_id, network_input(server.port), server, encrypt(LUX)
    )
    assert_form(result, "key", {})
    assert suggested(result) == {}

    for user_input, errors in (
        ({"encryption_key": "not-a-key"}, {"encryption_key": "invalid_key"}),
        (
            {"encryption_key": KEY, "authentication_key": KEY[:-2]},
            {"authentication_key": "invalid_key"},
        ),
    ):
        result = await submit(hass, flow_id, user_input)
        assert_form(result, "key", errors)
        assert suggested(result) == user_input
    assert server.connections == 1

    # Three frames: more than 4 kB that do not decrypt, no waiting for a timeout.
    user_input = {"encryption_key": WRONG_KEY}
    result = await submit(hass, flow_id, user_input, server, encrypted_stream(LUX))
    assert_form(result, "key", {"base": "decryption_failed"})
    assert suggested(result) == user_input

    result = await submit(
        hass,
        flow_id,
        {"encryption_key": f" {KEY.lower()} ", "authentication_key": AUTH_KEY.lower()},
        server,
        encrypt(LUX),
    )
    assert_form(result, "confirm", None)
    assert result["description_placeholders"] == {
        "specification": "Smarty encrypted (Luxembourg, MSn)",
        "settings": "TCP",
        "meter": "Lux5\\253694471_M",
        "equipment_id": LUX_ID,
        "mbus": "1: FLO189900060355, 4: ELS353589980300",
    }
    result = await submit(hass, flow_id, {})
    assert result["type"] is FlowResultType.MENU
    result = await submit(hass, flow_id, {"next_step_id": "finish"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        "connection": "network",
        "host": "127.0.0.1",
        "port": server.port,
        "specification": "luxembourg_msn",
        "equipment_id": LUX_ID,
        "encryption_key": KEY,
        "authentication_key": AUTH_KEY,
    }
    assert result["result"].unique_id == LUX_ID
    assert_no_flows(hass)


@pytest.mark.usefixtures("fast_validation")
async def test_encrypted_spec_chosen_goes_to_key_step(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    result = await start_flow(hass, "network")
    flow_id = result["flow_id"]
    # Without a key no frame decrypts: straight on to the key step.
    result = await submit(
        hass,
        flow_id,
        network_input(server.port, spec="luxembourg_msn"),
        server,
        encrypted_stream(LUX),
    )
    assert_form(result, "key", {})

    # A blank authentication key is left out.
    result = await submit(
        hass,
        flow_id,
        {"encryption_key": KEY, "authentication_key": "   "},
        server,
        encrypt(LUX),
    )
    assert_form(result, "confirm", None)
    result = await submit(hass, flow_id, {})
    assert result["type"] is FlowResultType.MENU
    result = await submit(hass, flow_id, {"next_step_id": "finish"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["specification"] == "luxembourg_msn"
    assert result["data"]["encryption_key"] == KEY
    assert "authentication_key" not in result["data"]
    assert_no_flows(hass)


# --------------------------------------------------------------------------
# User flow on a serial port


@pytest.mark.skipif(
    not hasattr(ha_selector, "SerialPortSelector"),
    reason="Home Assistant before 2026.5 has no serial port selector",
)
async def test_serial_port_selector_where_home_assistant_has_one(
    hass: HomeAssistant,
) -> None:
    """Home Assistant's selector lists local and ESPHome serial proxy ports."""
    result = await start_flow(hass, "serial")
    for key, selector in result["data_schema"].schema.items():
        if str(key) == "serial_port":
            assert selector.serialize() == {"selector": {"serial_port": {}}}
    hass.config_entries.flow.async_abort(result["flow_id"])


@pytest.mark.usefixtures("fast_validation", "port_list")
async def test_serial_port_given_as_a_url(
    hass: HomeAssistant, cables: Callable[[], PtyCable]
) -> None:
    """A port serialx opens by URL, as ESPHome's serial proxy ports are given."""
    cable = cables()
    cable.default = V5
    url = f"posix://{cable.path}"
    result = await start_flow(hass, "serial")
    result = await submit(
        hass, result["flow_id"], {"serial_port": url, "specification": "auto"}
    )
    assert_form(result, "confirm", None)
    assert cable.opens == [(115200, 8, "N")]
    result = await submit(hass, result["flow_id"], {})
    assert result["type"] is FlowResultType.MENU
    result = await submit(hass, result["flow_id"], {"next_step_id": "finish"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["serial_port"] == url
    await hass.async_block_till_done()
    # The entry reads the meter through the same URL.
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.state is ConfigEntryState.LOADED
    await hass.config_entries.async_unload(entry.entry_id)


async def test_serial_port_list_by_id_first(
    hass: HomeAssistant, port_list: list[serialx.SerialPortInfo]
) -> None:
    by_id = "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10KQ3P1-if00-port0"
    port_list.extend(
        [
            _port_info("/dev/ttyUSB0", "FT232R USB UART"),
            _port_info("/dev/ttyS0"),
            _port_info(by_id, "P1 cable"),
        ]
    )
    result = await start_flow(hass, "serial")
    assert field_options(result, "serial_port") == [
        {"value": by_id, "label": f"{by_id} - P1 cable"},
        {"value": "/dev/ttyUSB0", "label": "/dev/ttyUSB0 - FT232R USB UART"},
        {"value": "/dev/ttyS0", "label": "/dev/ttyS0"},
    ]
    assert "auto" in field_options(result, "specification")
    hass.config_entries.flow.async_abort(result["flow_id"])
    assert_no_flows(hass)


@pytest.mark.usefixtures("fast_validation")
async def test_serial_detects_meter(
    hass: HomeAssistant,
    cables: Callable[[], PtyCable],
    port_list: list[serialx.SerialPortInfo],
) -> None:
    cable = cables()
    cable.default = V5
    port_list.append(_port_info(cable.path, "P1 cable"))
    result = await start_flow(hass, "serial")
    assert field_options(result, "serial_port") == [
        {"value": cable.path, "label": f"{cable.path} - P1 cable"}
    ]
    result = await submit(
        hass, result["flow_id"], {"serial_port": cable.path, "specification": "auto"}
    )
    assert_form(result, "confirm", None)
    assert result["description_placeholders"]["settings"] == "115200 8N1"
    assert cable.opens == [(115200, 8, "N")]

    result = await submit(hass, result["flow_id"], {})
    assert result["type"] is FlowResultType.MENU
    result = await submit(hass, result["flow_id"], {"next_step_id": "finish"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Iskraemeco MT382-1000"
    assert result["data"] == {
        "connection": "serial",
        "serial_port": cable.path,
        "specification": "5",
        "equipment_id": V5_ID,
    }
    assert result["result"].unique_id == V5_ID
    assert_no_flows(hass)


async def test_serial_finds_meter_at_its_line_speed(
    hass: HomeAssistant,
    cables: Callable[[], PtyCable],
    port_list: list[serialx.SerialPortInfo],
) -> None:
    """A DSMR 2.2 meter stays silent at the faster settings tried first."""
    cable = cables()
    cable.replies = [b"", b"", V2_2]
    result = await start_flow(hass, "serial")
    with patch(f"{FLOW}.VALIDATION_TIMEOUT", 1.5):
        result = await submit(
            hass,
            result["flow_id"],
            {"serial_port": cable.path, "specification": "auto"},
        )
    assert_form(result, "confirm", None)
    assert result["description_placeholders"]["settings"] == "9600 7E1"
    assert cable.opens == [(115200, 8, "N"), (115200, 7, "E"), (9600, 7, "E")]
    result = await submit(hass, result["flow_id"], {})
    assert result["type"] is FlowResultType.MENU
    result = await submit(hass, result["flow_id"], {"next_step_id": "finish"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["specification"] == "dsmr_2_2"
    assert_no_flows(hass)


@pytest.mark.usefixtures("fast_validation")
async def test_serial_missing_port_then_success(
    hass: HomeAssistant,
    cables: Callable[[], PtyCable],
    port_list: list[serialx.SerialPortInfo],
    tmp_path: Path,
) -> None:
    cable = cables()
    cable.default = V4_2
    result = await start_flow(hass, "serial")
    flow_id = result["flow_id"]
    user_input = {"serial_port": str(tmp_path / "ttyUSB7"), "specification": "4"}
    result = await submit(hass, flow_id, user_input)
    assert_form(result, "serial", {"base": "cannot_connect"})
    assert suggested(result) == user_input

    result = await submit(
        hass, flow_id, {"serial_port": cable.path, "specification": "4"}
    )
    assert_form(result, "confirm", None)
    assert result["description_placeholders"]["settings"] == "115200 7E1"
    assert cable.opens == [(115200, 7, "E")]
    result = await submit(hass, flow_id, {})
    assert result["type"] is FlowResultType.MENU
    result = await submit(hass, flow_id, {"next_step_id": "finish"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["specification"] == "4"
    assert_no_flows(hass)


# --------------------------------------------------------------------------
# USB discovery


def _usb(device: str, serial_number: str | None = USB_SERIAL) -> UsbServiceInfo:
    return UsbServiceInfo(
        device=device,
        vid="0403",
        pid="6001",
        serial_number=serial_number,
        manufacturer="FTDI",
        description="P1 cable",
    )


async def _discover(hass: HomeAssistant, info: UsbServiceInfo) -> Result:
    return await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USB}, data=info
    )


@pytest.mark.usefixtures("fast_validation")
async def test_usb_discovery(
    hass: HomeAssistant, cables: Callable[[], PtyCable]
) -> None:
    # Another meter on another cable (disabled: it stays unloaded here).
    serial_entry(
        "/dev/ttyUSB9",
        unique_id=OTHER_ID,
        disabled_by=config_entries.ConfigEntryDisabler.USER,
    ).add_to_hass(hass)
    cable = cables()
    cable.default = V5
    result = await _discover(hass, _usb(cable.path))
    assert_form(result, "usb_confirm", {})
    assert result["description_placeholders"] == {"port": cable.path}
    (progress,) = hass.config_entries.flow.async_progress()
    assert progress["context"]["title_placeholders"] == {"port": cable.path}
    assert progress["context"]["unique_id"] == f"usb:{USB_SERIAL}"
    assert cable.opens == []

    result = await submit(hass, result["flow_id"], {})
    assert_form(result, "confirm", None)
    assert result["description_placeholders"]["settings"] == "115200 8N1"
    result = await submit(hass, result["flow_id"], {})
    assert result["type"] is FlowResultType.MENU
    result = await submit(hass, result["flow_id"], {"next_step_id": "finish"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        "connection": "serial",
        "serial_port": cable.path,
        "specification": "5",
        "equipment_id": V5_ID,
    }
    assert result["result"].unique_id == V5_ID
    assert_no_flows(hass)


@pytest.mark.usefixtures("fast_validation")
async def test_usb_discovery_cable_not_ready_then_success(
    hass: HomeAssistant, cables: Callable[[], PtyCable], tmp_path: Path
) -> None:
    cable = cables()
    cable.default = V5
    link = tmp_path / "usb-P1_cable-if00-port0"
    result = await _discover(hass, _usb(str(link), serial_number=None))
    assert_form(result, "usb_confirm", {})
    (progress,) = hass.config_entries.flow.async_progress()
    assert progress["context"]["unique_id"] == f"usb:{link}"

    result = await submit(hass, result["flow_id"], {})
    assert_form(result, "usb_confirm", {"base": "cannot_connect"})
    assert result["description_placeholders"] == {"port": str(link)}

    link.symlink_to(cable.path)
    result = await submit(hass, result["flow_id"], {})
    assert_form(result, "confirm", None)
    result = await submit(hass, result["flow_id"], {})
    assert result["type"] is FlowResultType.MENU
    result = await submit(hass, result["flow_id"], {"next_step_id": "finish"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["serial_port"] == str(link)
    assert_no_flows(hass)


async def test_usb_discovery_of_a_port_in_use(hass: HomeAssistant) -> None:
    path = "/dev/serial/by-id/usb-FTDI_P1-if00-port0"
    serial_entry(path).add_to_hass(hass)
    result = await _discover(hass, _usb(path))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert_no_flows(hass)


async def test_usb_discovery_ignored_before(hass: HomeAssistant) -> None:
    MockConfigEntry(
        domain=DOMAIN,
        version=2,
        source=config_entries.SOURCE_IGNORE,
        unique_id=f"usb:{USB_SERIAL}",
        data={},
    ).add_to_hass(hass)
    result = await _discover(hass, _usb("/dev/ttyUSB0"))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert_no_flows(hass)


async def test_usb_discovery_already_in_progress(hass: HomeAssistant) -> None:
    first = await _discover(hass, _usb("/dev/ttyUSB0"))
    assert_form(first, "usb_confirm", {})
    result = await _discover(hass, _usb("/dev/ttyUSB0"))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_in_progress"
    assert len(hass.config_entries.flow.async_progress()) == 1
    hass.config_entries.flow.async_abort(first["flow_id"])
    assert_no_flows(hass)


# --------------------------------------------------------------------------
# Reconfigure


@pytest.mark.usefixtures("fast_validation")
async def test_reconfigure_network(
    hass: HomeAssistant, start_server: StartServer
) -> None:
    old, new = await start_server(), await start_server()
    entry = network_entry(old.port)
    entry.add_to_hass(hass)

    result = await entry.start_reconfigure_flow(hass)
    flow_id = result["flow_id"]
    assert_form(result, "reconfigure", {})
    assert suggested(result) == {
        "host": "127.0.0.1",
        "port": old.port,
        "specification": "5",
    }

    for user_input, errors in (
        (network_input(new.port, "http://x"), {"host": "invalid_host"}),
        (
            {**network_input(new.port), "encryption_key": "xyz"},
            {"encryption_key": "invalid_key"},
        ),
        (network_input(closed_port()), {"base": "cannot_connect"}),
    ):
        result = await submit(hass, flow_id, user_input)
        assert_form(result, "reconfigure", errors)
        assert suggested(result) == user_input
    assert entry.data["port"] == old.port

    result = await submit(hass, flow_id, network_input(new.port), new, V5)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.unique_id == V5_ID
    assert entry.data == {
        "connection": "network",
        "host": "127.0.0.1",
        "port": new.port,
        "specification": "5",
        "equipment_id": V5_ID,
    }
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert new.connections == 2  # detection, then the reloaded entry
    assert old.connections == 0
    await unload(hass, entry)
    assert_no_flows(hass)


@pytest.mark.usefixtures("fast_validation")
async def test_reconfigure_errors_from_the_meter(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = network_entry(server.port)
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    flow_id = result["flow_id"]
    user_input = network_input(server.port)

    with listening_briefly():
        result = await submit(hass, flow_id, user_input, server)
    assert_form(result, "reconfigure", {"base": "no_telegram"})
    result = await submit(hass, flow_id, user_input, server, LUX_BAD_CRC * 3)
    assert_form(result, "reconfigure", {"base": "invalid_telegrams"})
    # The meter was replaced by an encrypted one: its key is needed.
    result = await submit(hass, flow_id, user_input, server, encrypt(LUX))
    assert_form(result, "reconfigure", {"base": "needs_key"})
    assert suggested(result) == user_input
    with_key = {**user_input, "encryption_key": WRONG_KEY}
    result = await submit(hass, flow_id, with_key, server, encrypted_stream(LUX))
    assert_form(result, "reconfigure", {"base": "decryption_failed"})
    assert suggested(result) == with_key
    assert entry.data["specification"] == "5"

    hass.config_entries.flow.async_abort(flow_id)
    assert_no_flows(hass)


@pytest.mark.usefixtures("fast_validation")
async def test_reconfigure_meter_swap_keeps_entry(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = network_entry(server.port)
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await submit(
        hass, result["flow_id"], network_input(server.port), server, v5_meter(OTHER_ID)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert hass.config_entries.async_entries(DOMAIN) == [entry]
    assert entry.unique_id == OTHER_ID
    assert entry.data["equipment_id"] == OTHER_ID
    await unload(hass, entry)
    assert_no_flows(hass)


@pytest.mark.usefixtures("fast_validation")
async def test_reconfigure_to_a_meter_of_another_entry(
    hass: HomeAssistant, start_server: StartServer
) -> None:
    first, second = await start_server(), await start_server()
    other = network_entry(first.port)
    other.add_to_hass(hass)
    entry = network_entry(second.port, unique_id=OTHER_ID)
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await submit(hass, result["flow_id"], network_input(first.port), first, V5)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.unique_id == OTHER_ID
    assert entry.data["port"] == second.port
    assert other.unique_id == V5_ID
    assert_no_flows(hass)


@pytest.mark.usefixtures("fast_validation")
async def test_reconfigure_replaces_keys(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = network_entry(
        server.port,
        unique_id=LUX_ID,
        spec="luxembourg_msn",
        encryption_key=WRONG_KEY,
        authentication_key=AUTH_KEY,
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert suggested(result) == {
        "host": "127.0.0.1",
        "port": server.port,
        "specification": "luxembourg_msn",
        "encryption_key": WRONG_KEY,
        "authentication_key": AUTH_KEY,
    }
    result = await submit(
        hass,
        result["flow_id"],
        {
            **network_input(server.port, spec="luxembourg_msn"),
            "encryption_key": KEY.lower(),
        },
        server,
        encrypt(LUX),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == {
        "connection": "network",
        "host": "127.0.0.1",
        "port": server.port,
        "specification": "luxembourg_msn",
        "equipment_id": LUX_ID,
        "encryption_key": KEY,
    }
    assert entry.unique_id == LUX_ID
    await unload(hass, entry)
    assert_no_flows(hass)


@pytest.mark.usefixtures("fast_validation")
async def test_reconfigure_serial(
    hass: HomeAssistant,
    cables: Callable[[], PtyCable],
    port_list: list[serialx.SerialPortInfo],
    tmp_path: Path,
) -> None:
    old, new = cables(), cables()
    old.default = new.default = V5
    port_list.extend([_port_info(old.path, "old"), _port_info(new.path, "new")])
    entry = serial_entry(old.path)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert old.opens == [(115200, 8, "N")]

    result = await entry.start_reconfigure_flow(hass)
    flow_id = result["flow_id"]
    assert_form(result, "reconfigure", {})
    assert suggested(result) == {"serial_port": old.path, "specification": "5"}
    assert [option["value"] for option in field_options(result, "serial_port")] == [
        old.path,
        new.path,
    ]

    user_input = {"serial_port": str(tmp_path / "gone"), "specification": "auto"}
    result = await submit(hass, flow_id, user_input)
    assert_form(result, "reconfigure", {"base": "cannot_connect"})
    assert suggested(result) == user_input
    # The old cable was not involved: the entry kept reading it.
    assert entry.state is ConfigEntryState.LOADED
    assert old.opens == [(115200, 8, "N")]

    result = await submit(
        hass, flow_id, {"serial_port": new.path, "specification": "auto"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == {
        "connection": "serial",
        "serial_port": new.path,
        "specification": "5",
        "equipment_id": V5_ID,
        "meter_key": V5_ID,
    }
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert new.opens == [(115200, 8, "N"), (115200, 8, "N")]  # detection, entry
    assert old.opens == [(115200, 8, "N")]
    await unload(hass, entry)
    assert_no_flows(hass)


@pytest.mark.usefixtures("fast_validation")
async def test_reconfigure_loaded_serial_entry_on_its_own_port(
    hass: HomeAssistant,
    cables: Callable[[], PtyCable],
    port_list: list[serialx.SerialPortInfo],
) -> None:
    """The entry's reader holds the port: it pauses while the flow listens."""
    cable = cables()
    cable.replies = [V4_2, b""]  # the entry's first reading, a silent attempt
    cable.default = V4_2
    entry = serial_entry(cable.path)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED

    result = await entry.start_reconfigure_flow(hass)
    flow_id = result["flow_id"]
    user_input = {"serial_port": cable.path, "specification": "4"}
    with listening_briefly():
        result = await submit(hass, flow_id, user_input)
    assert_form(result, "reconfigure", {"base": "no_telegram"})
    # Entry (DSMR 5 settings), detection (DSMR 4 settings), entry again.
    assert cable.opens == [(115200, 8, "N"), (115200, 7, "E"), (115200, 8, "N")]
    assert entry.state is ConfigEntryState.LOADED

    result = await submit(
        hass, flow_id, {"serial_port": cable.path, "specification": "auto"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["specification"] == "4"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.spec.id == "4"
    assert cable.opens[-1] == (115200, 7, "E")
    await unload(hass, entry)
    assert_no_flows(hass)


# --------------------------------------------------------------------------
# Reauth


def _encrypted_entry(port: int) -> MockConfigEntry:
    return network_entry(
        port, unique_id=LUX_ID, spec="luxembourg_msn", encryption_key=WRONG_KEY
    )


async def _start_reauth(hass: HomeAssistant, entry: MockConfigEntry) -> Result:
    entry.async_start_reauth(hass)
    await hass.async_block_till_done()
    (flow,) = hass.config_entries.flow.async_progress()
    assert flow["context"]["source"] == config_entries.SOURCE_REAUTH
    assert flow["step_id"] == "reauth_confirm"
    return await hass.config_entries.flow.async_configure(flow["flow_id"])


@pytest.mark.usefixtures("fast_validation")
async def test_reauth_new_key(hass: HomeAssistant, server: TelegramServer) -> None:
    entry = _encrypted_entry(server.port)
    entry.add_to_hass(hass)
    result = await _start_reauth(hass, entry)
    flow_id = result["flow_id"]
    assert_form(result, "reauth_confirm", {})
    assert result["description_placeholders"]["endpoint"] == f"127.0.0.1:{server.port}"

    result = await submit(hass, flow_id, {"encryption_key": "12345"})
    assert_form(result, "reauth_confirm", {"encryption_key": "invalid_key"})
    assert suggested(result) == {"encryption_key": "12345"}

    user_input = {"encryption_key": WRONG_KEY}
    result = await submit(hass, flow_id, user_input, server, encrypted_stream(LUX))
    assert_form(result, "reauth_confirm", {"base": "decryption_failed"})
    assert suggested(result) == user_input
    assert entry.data["encryption_key"] == WRONG_KEY

    result = await submit(
        hass,
        flow_id,
        {"encryption_key": KEY.lower(), "authentication_key": AUTH_KEY.lower()},
        server,
        encrypt(LUX),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data == {
        "connection": "network",
        "host": "127.0.0.1",
        "port": server.port,
        "specification": "luxembourg_msn",
        "equipment_id": LUX_ID,
        "encryption_key": KEY,
        "authentication_key": AUTH_KEY,
    }
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    await unload(hass, entry)
    assert_no_flows(hass)


@pytest.mark.usefixtures("fast_validation")
async def test_reauth_wrong_meter(hass: HomeAssistant, server: TelegramServer) -> None:
    entry = _encrypted_entry(server.port)
    entry.add_to_hass(hass)
    result = await _start_reauth(hass, entry)
    result = await submit(
        hass,
        result["flow_id"],
        {"encryption_key": KEY},
        server,
        encrypt(lux_meter("SAG1030790009999")),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_meter"
    assert entry.data["encryption_key"] == WRONG_KEY
    assert entry.unique_id == LUX_ID
    assert_no_flows(hass)


async def test_reauth_loaded_serial_entry(
    hass: HomeAssistant, cables: Callable[[], PtyCable]
) -> None:
    """The entry keeps its port open while failing to decrypt; reauth still works."""
    cable = cables()
    cable.default = encrypted_stream(LUX)
    entry = MockConfigEntry(
        domain=DOMAIN,
        version=2,
        unique_id=LUX_ID,
        title="Smart meter",
        data={
            "connection": "serial",
            "serial_port": cable.path,
            "specification": "luxembourg_msn",
            "equipment_id": LUX_ID,
            "encryption_key": WRONG_KEY,
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED

    result = await _start_reauth(hass, entry)
    flow_id = result["flow_id"]
    assert result["description_placeholders"]["endpoint"] == cable.path
    result = await submit(hass, flow_id, {"encryption_key": WRONG_KEY})
    assert_form(result, "reauth_confirm", {"base": "decryption_failed"})
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED

    result = await submit(hass, flow_id, {"encryption_key": KEY})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["encryption_key"] == KEY
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    await unload(hass, entry)
    assert_no_flows(hass)


# --------------------------------------------------------------------------
# Options


async def _policy_form(hass: HomeAssistant, entry: MockConfigEntry) -> Result:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == [
        "update_policy",
        "remote_manage",
        "import_history",
        "costs",
    ]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "update_policy"}
    )
    assert_form(result, "update_policy", None)
    return result


async def test_options_flow_sets_intervals(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = network_entry(server.port)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    # Defaults: live values at most every 30 s (steps at once), energy
    # registers at most every 5 minutes.
    assert entry.runtime_data.intervals == {"live": 30.0, "counter": 300.0}

    result = await _policy_form(hass, entry)
    assert suggested(result) == {}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"live_interval": 5.0, "counter_interval": 60}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {"live_interval": 5, "counter_interval": 60}
    assert all(type(value) is int for value in entry.options.values())
    await hass.async_block_till_done()
    assert entry.runtime_data.intervals == {"live": 5.0, "counter": 60.0}
    assert entry.state is ConfigEntryState.LOADED

    result = await _policy_form(hass, entry)
    assert suggested(result) == {"live_interval": 5, "counter_interval": 60}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"live_interval": 0, "counter_interval": 3600}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.runtime_data.intervals == {"live": 0.0, "counter": 3600.0}
    assert hass.config_entries.options.async_progress() == []
    await unload(hass, entry)
    assert_no_flows(hass)


# --------------------------------------------------------------------------
# Home Assistant before 2026.10


def test_schemas_fall_back_to_voluptuous(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without probatio the module still loads and builds voluptuous schemas."""
    import voluptuous

    from custom_components.slimme_meter import config_flow

    monkeypatch.setitem(sys.modules, "probatio", None)
    # Loading registers the handler class again: put the original back after.
    monkeypatch.setitem(
        config_entries.HANDLERS, DOMAIN, config_entries.HANDLERS[DOMAIN]
    )
    spec = importlib.util.spec_from_file_location(
        "custom_components.slimme_meter.config_flow_without_probatio",
        config_flow.__file__,
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.vol is voluptuous
    schema = module._key_schema()
    assert isinstance(schema, voluptuous.Schema)
    assert schema({"encryption_key": KEY}) == {"encryption_key": KEY}
