"""Bad input in every step: a translated error or a schema error, never a crash.

Each case feeds one bad input to a step of the config flow, the options flow,
reconfigure or one of the reauth flows. The step must either be shown again
with an error whose key exists in strings.json and both translations, or be
refused by the form's schema (Home Assistant's InvalidData, naming the field).
Any other exception fails the test, and so does a logged traceback. After the
error the same flow must go on with good input.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Generator
from contextlib import suppress
from dataclasses import replace
import json
import math
from pathlib import Path
import socket
from typing import Any, NamedTuple
from unittest.mock import patch

from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowManager, FlowResultType, InvalidData
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import pytest_socket
import serialx

from custom_components.slimme_meter.const import DOMAIN, MAX_UPDATE_INTERVAL
from custom_components.slimme_meter.remote.registry import PROVIDERS
from simulators.p4 import DEFAULT_ELECTRICITY_EAN, DEFAULT_GAS_EAN, P4Simulator

from .helpers import meter_entry
from .p1_helpers import (
    AUTH_KEY,
    KEY,
    LUX,
    LUX_ID,
    V5,
    V5_ID,
    PtyCable,
    closed_port,
    encrypt,
    pty_cables,
    with_crc,
)
from .remote_helpers import link_input

COMPONENT = Path(__file__).parents[1] / "custom_components" / DOMAIN
FLOW = "custom_components.slimme_meter.config_flow"
ELECTRICITY = DEFAULT_ELECTRICITY_EAN
GAS = DEFAULT_GAS_EAN

STRINGS = json.loads((COMPONENT / "strings.json").read_text(encoding="utf-8"))
TRANSLATIONS = {
    language: json.loads(
        (COMPONENT / "translations" / f"{language}.json").read_text(encoding="utf-8")
    )
    for language in ("en", "nl")
}

type Result = dict[str, Any]
type Errors = dict[str, str]


class Schema(NamedTuple):
    """The form's schema refuses the input: InvalidData naming this field."""

    field: str


type Expected = Errors | Schema


# --------------------------------------------------------------------------
# Loopback endpoints


class Bridge:
    """A loopback P1 bridge: sends `payload` to every client, then may hang up."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.payload = V5
        self.hang_up = False
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            writer.write(self.payload)
            await writer.drain()
            if not self.hang_up:
                await reader.read()
        except OSError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def stop(self) -> None:
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class RawService:
    """A loopback HTTP server answering every request with `answer`, verbatim."""

    def __init__(self) -> None:
        self.answer = b""
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        with suppress(OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(self.answer)
            await writer.drain()
        writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@pytest.fixture
async def bridge(socket_enabled: None) -> AsyncGenerator[Bridge]:
    server = Bridge()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def bridge6(socket_enabled: None) -> AsyncGenerator[Bridge]:
    """A bridge on the IPv6 loopback address, which tests may then reach."""
    pytest_socket.socket_allow_hosts(["127.0.0.1", "::1"])
    server = Bridge("::1")
    await server.start()
    yield server
    await server.stop()
    pytest_socket.socket_allow_hosts(["127.0.0.1"])


@pytest.fixture
async def raw_service(socket_enabled: None) -> AsyncGenerator[RawService]:
    server = RawService()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def resolver() -> Generator[list[str]]:
    """Names under .invalid do not resolve, at once (there is no DNS here)."""
    looked_up: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.rstrip(".").lower().endswith(".invalid"):
            looked_up.append(name)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    with patch.object(socket, "getaddrinfo", getaddrinfo):
        yield looked_up


@pytest.fixture
def cables() -> Generator[Callable[[], PtyCable]]:
    with (
        pty_cables() as make,
        patch.object(serialx, "list_serial_ports", return_value=[]),
    ):
        yield make


@pytest.fixture(autouse=True)
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Generator[list[str]]:
    """Fail when the integration logged a traceback, unless a test expects it."""
    expected: list[str] = []
    yield expected
    logged = [
        record.getMessage()
        for record in caplog.get_records("call")
        if record.exc_info and record.name.startswith("custom_components")
    ]
    assert logged == expected


# --------------------------------------------------------------------------
# Helpers


def translated(section: str, key: str) -> None:
    """Assert the error key has a text in strings.json and both translations."""
    for name, document in (("strings.json", STRINGS), *TRANSLATIONS.items()):
        text = document[section]["error"].get(key)
        assert isinstance(text, str), f"{section}.error.{key} missing in {name}"
        assert text.strip(), f"{section}.error.{key} empty in {name}"


def assert_form(
    result: Result, step_id: str, errors: Errors | None, section: str = "config"
) -> None:
    assert result["type"] is FlowResultType.FORM, result
    assert result["step_id"] == step_id
    assert result["errors"] == errors
    for key in (errors or {}).values():
        translated(section, key)


async def attempt(
    manager: FlowManager[Any, Any, Any],
    flow_id: str,
    step_id: str,
    user_input: Any,
    expected: Expected,
    *,
    section: str = "config",
) -> None:
    """Submit bad input; the step refuses it as expected and stays where it was."""
    if isinstance(expected, Schema):
        with pytest.raises(InvalidData) as info:
            await manager.async_configure(flow_id, user_input)
        assert list(info.value.schema_errors) == [expected.field]
        assert all(info.value.schema_errors.values())  # each with its message
        (progress,) = [
            flow for flow in manager.async_progress() if flow["flow_id"] == flow_id
        ]
        assert progress["step_id"] == step_id
        return
    result = await manager.async_configure(flow_id, user_input)
    assert_form(result, step_id, expected, section)


def network_input(host: str, port: Any, spec: str = "auto") -> dict[str, Any]:
    return {"host": host, "port": port, "specification": spec}


async def network_form(
    hass: HomeAssistant, context: dict[str, Any] | None = None
) -> str:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER, **(context or {})}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "network"}
    )
    assert_form(result, "network", {})
    return str(result["flow_id"])


async def recovers_to_confirm(
    hass: HomeAssistant, flow_id: str, user_input: dict[str, Any]
) -> Result:
    """Good input after the error: the flow finds the meter."""
    result = await hass.config_entries.flow.async_configure(flow_id, user_input)
    assert_form(result, "confirm", None)
    hass.config_entries.flow.async_abort(flow_id)
    return result


def listening_briefly() -> Any:
    return patch(f"{FLOW}.VALIDATION_TIMEOUT", 0.3)


# --------------------------------------------------------------------------
# Network bridge: the host and port fields

NAN = math.nan
INVALID_HOST = {"host": "invalid_host"}
INVALID_PORT = {"port": "invalid_port"}

# (host, port field, expected); {port} in the host, or as the port field,
# stands for the bridge's port.
NETWORK_CASES: dict[str, tuple[Any, Any, Expected]] = {
    "empty_host": ("", "{port}", INVALID_HOST),
    "spaces": ("   ", "{port}", INVALID_HOST),
    "space_inside": ("127.0.0 .1", "{port}", INVALID_HOST),
    "port_0_in_host": ("127.0.0.1:0", 8088, INVALID_HOST),
    "port_65536_in_host": ("127.0.0.1:65536", 8088, INVALID_HOST),
    "port_minus_1_in_host": ("127.0.0.1:-1", 8088, INVALID_HOST),
    "port_not_numeric_in_host": ("127.0.0.1:p1", 8088, INVALID_HOST),
    "two_ports": ("127.0.0.1:{port}:1", 8088, INVALID_HOST),
    "socket_without_host": ("socket://", "{port}", INVALID_HOST),
    "socket_port_0": ("socket://127.0.0.1:0", 8088, INVALID_HOST),
    "socket_port_65536": ("socket://127.0.0.1:65536", 8088, INVALID_HOST),
    "udp_scheme": ("udp://127.0.0.1:{port}", 8088, INVALID_HOST),
    "user_info": ("meter@127.0.0.1:{port}", 8088, INVALID_HOST),
    "path_after_host": ("127.0.0.1:{port}/p1", 8088, INVALID_HOST),
    "query_after_host": ("127.0.0.1:{port}?raw", 8088, INVALID_HOST),
    "ipv6_open_bracket": ("[::1", "{port}", INVALID_HOST),
    "ipv6_bad_literal": ("[::1::2]", "{port}", INVALID_HOST),
    "host_300_chars": ("h" * 300, "{port}", INVALID_HOST),
    "label_64_chars": ("m" * 64 + ".invalid", "{port}", INVALID_HOST),
    "name_over_253": (".".join(["m" * 60] * 5), "{port}", INVALID_HOST),
    "empty_label": ("meter..invalid", "{port}", INVALID_HOST),
    "nul_byte": ("127.0.0.1\x00", "{port}", INVALID_HOST),
    "nul_inside": ("met\x00er.invalid", "{port}", INVALID_HOST),
    "newline_inside": ("127.0.\n0.1", "{port}", INVALID_HOST),
    "tab_inside": ("127.0.0.1\t:{port}", 8088, INVALID_HOST),
    "port_nan": ("127.0.0.1", NAN, INVALID_PORT),
    "port_nan_text": ("127.0.0.1", "nan", INVALID_PORT),
    "port_fraction": ("127.0.0.1", 8088.5, INVALID_PORT),
    "port_and_host_bad": ("", NAN, {"host": "invalid_host", "port": "invalid_port"}),
    "port_0": ("127.0.0.1", 0, Schema("port")),
    "port_65536": ("127.0.0.1", 65536, Schema("port")),
    "port_minus_1": ("127.0.0.1", -1, Schema("port")),
    "port_text": ("127.0.0.1", "p1", Schema("port")),
    "port_empty": ("127.0.0.1", "", Schema("port")),
    "port_none": ("127.0.0.1", None, Schema("port")),
    "port_infinite": ("127.0.0.1", math.inf, Schema("port")),
    "host_not_text": (8088, "{port}", Schema("host")),
    "host_none": (None, "{port}", Schema("host")),
}


def _fill(user_input: dict[str, Any], port: int) -> dict[str, Any]:
    """Put the bridge's port where the case says {port}."""
    filled = {
        key: value.format(port=port) if isinstance(value, str) else value
        for key, value in user_input.items()
    }
    if user_input["port"] == "{port}":
        filled["port"] = port
    return filled


@pytest.mark.usefixtures("fast_validation")
@pytest.mark.parametrize("case", NETWORK_CASES)
async def test_network_address(hass: HomeAssistant, bridge: Bridge, case: str) -> None:
    host, port, expected = NETWORK_CASES[case]
    flow_id = await network_form(hass)
    user_input = _fill(network_input(host, port), bridge.port)
    manager = hass.config_entries.flow
    await attempt(manager, flow_id, "network", user_input, expected)
    assert bridge.connections == 0

    await recovers_to_confirm(hass, flow_id, network_input("127.0.0.1", bridge.port))
    assert bridge.connections == 1


@pytest.mark.usefixtures("fast_validation")
@pytest.mark.parametrize(
    "case", ["unknown_specification", "extra_field", "missing_host"]
)
async def test_network_form_shape(
    hass: HomeAssistant, bridge: Bridge, case: str
) -> None:
    """A specification that does not exist, a field the form lacks, none at all."""
    flow_id = await network_form(hass)
    good = network_input("127.0.0.1", bridge.port)
    user_input, field = {
        "unknown_specification": ({**good, "specification": "6"}, "specification"),
        "extra_field": ({**good, "baudrate": 9600}, "base"),
        "missing_host": ({"port": bridge.port}, "host"),
    }[case]
    await attempt(
        hass.config_entries.flow, flow_id, "network", user_input, Schema(field)
    )
    await recovers_to_confirm(hass, flow_id, good)


@pytest.mark.usefixtures("fast_validation")
@pytest.mark.parametrize(
    "host",
    ["meter.invalid", "bücher.invalid", "xn--bcher-kva.invalid", "METER.INVALID."],
)
async def test_network_host_does_not_resolve(
    hass: HomeAssistant, bridge: Bridge, resolver: list[str], host: str
) -> None:
    """A well-formed name that does not resolve: the bridge cannot be reached."""
    flow_id = await network_form(hass)
    user_input = network_input(host, bridge.port)
    result = await hass.config_entries.flow.async_configure(flow_id, user_input)
    assert_form(result, "network", {"base": "cannot_connect"})
    assert resolver == [host.lower()]  # as the address field gives it
    await recovers_to_confirm(hass, flow_id, network_input("127.0.0.1", bridge.port))


@pytest.mark.usefixtures("fast_validation")
@pytest.mark.parametrize(
    ("host", "port"),
    [
        ("::1", "{port}"),
        ("[::1]", "{port}"),
        ("[::1]:{port}", 8088),
        ("socket://[::1]:{port}", 8088),
        ("  [::1]:{port} ", 8088),
    ],
    ids=["bare", "brackets", "brackets_port", "socket_url", "blanks_around"],
)
async def test_network_ipv6(
    hass: HomeAssistant, bridge6: Bridge, host: str, port: Any
) -> None:
    """IPv6 literals work with and without brackets; nothing listening is told."""
    flow_id = await network_form(hass)
    # Nothing listens on that port of ::1.
    with socket.socket(socket.AF_INET6) as sock:
        sock.bind(("::1", 0))
        nobody6 = sock.getsockname()[1]
    user_input = network_input(
        host.format(port=nobody6), nobody6 if port == "{port}" else port
    )
    result = await hass.config_entries.flow.async_configure(flow_id, user_input)
    assert_form(result, "network", {"base": "cannot_connect"})

    user_input = network_input(
        host.format(port=bridge6.port), bridge6.port if port == "{port}" else port
    )
    result = await hass.config_entries.flow.async_configure(flow_id, user_input)
    assert_form(result, "confirm", None)
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"next_step_id": "finish"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["host"] == "::1"
    assert result["data"]["port"] == bridge6.port
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(result["result"].entry_id)


def _wrong_crc(telegram: bytes) -> bytes:
    good = with_crc(telegram)
    crc = good[good.rindex(b"!") + 1 : good.rindex(b"!") + 5]
    wrong = b"%04X" % (int(crc, 16) ^ 0x0001)
    return good.replace(b"!" + crc, b"!" + wrong)


# (payload, hang up after it, expected error)
BRIDGE_CASES = {
    "hangs_up_at_once": (b"", True, "no_telegram"),
    "half_telegram": (V5[: len(V5) // 2], False, "invalid_telegrams"),
    "half_telegram_then_hang_up": (V5[: len(V5) // 2], True, "invalid_telegrams"),
    "v5_wrong_crc": (_wrong_crc(V5), False, "invalid_telegrams"),
    "start_marks_only": (b"/" * 5000, False, "invalid_telegrams"),
    "binary_zeros": (b"\x00" * 5000, False, "invalid_telegrams"),
    "unicode_text": (
        "/Ünïcødé ☃\r\n\r\n!0000\r\n".encode() * 3,
        False,
        "invalid_telegrams",
    ),
}


@pytest.mark.usefixtures("fast_validation")
@pytest.mark.parametrize("case", BRIDGE_CASES)
async def test_network_bridge_sends_no_telegram(
    hass: HomeAssistant, bridge: Bridge, case: str
) -> None:
    """The port accepts, but what comes out is not a valid telegram."""
    bridge.payload, bridge.hang_up, error = BRIDGE_CASES[case]
    flow_id = await network_form(hass)
    user_input = network_input("127.0.0.1", bridge.port)
    with listening_briefly():
        result = await hass.config_entries.flow.async_configure(flow_id, user_input)
    assert_form(result, "network", {"base": error})

    bridge.payload, bridge.hang_up = V5, False
    result = await recovers_to_confirm(hass, flow_id, user_input)
    assert result["description_placeholders"]["equipment_id"] == V5_ID


# --------------------------------------------------------------------------
# Serial port


INVALID_SERIAL = {"serial_port": "invalid_serial_port"}

# {tmp} stands for a directory of the test's own.
SERIAL_CASES: dict[str, tuple[Any, Expected]] = {
    "empty": ("", INVALID_SERIAL),
    "spaces": ("   ", INVALID_SERIAL),
    "nul_byte": ("/dev/tty\x00USB0", INVALID_SERIAL),
    "newline": ("/dev/ttyUSB0\n/dev/ttyUSB1", INVALID_SERIAL),
    "directory": ("{tmp}", {"base": "cannot_connect"}),
    "regular_file": ("{tmp}/regular_file", {"base": "cannot_connect"}),
    "dev_null": ("/dev/null", {"base": "cannot_connect"}),
    "not_text": (17, Schema("serial_port")),
}


def serial_path(case: str, tmp_path: Path) -> tuple[Any, Expected]:
    path, expected = SERIAL_CASES[case]
    (tmp_path / "regular_file").write_text("not a serial port")
    if isinstance(path, str):
        path = path.format(tmp=tmp_path)
    return path, expected


async def serial_form(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "serial"}
    )
    assert_form(result, "serial", {})
    return str(result["flow_id"])


@pytest.mark.usefixtures("fast_validation")
@pytest.mark.parametrize("case", SERIAL_CASES)
async def test_serial_path(
    hass: HomeAssistant, cables: Callable[[], PtyCable], tmp_path: Path, case: str
) -> None:
    path, expected = serial_path(case, tmp_path)
    cable = cables()
    cable.default = V5
    flow_id = await serial_form(hass)
    user_input = {"serial_port": path, "specification": "auto"}
    await attempt(hass.config_entries.flow, flow_id, "serial", user_input, expected)
    assert cable.opens == []

    await recovers_to_confirm(
        hass, flow_id, {"serial_port": f" {cable.path} ", "specification": "auto"}
    )
    assert cable.opens == [(115200, 8, "N")]


@pytest.mark.usefixtures("fast_validation")
@pytest.mark.parametrize(
    ("payload", "error"),
    [(b"", "no_telegram"), (b"\xff\x00~garbage~" * 500, "invalid_telegrams")],
    ids=["silent", "garbage"],
)
async def test_serial_cable_sends_no_telegram(
    hass: HomeAssistant, cables: Callable[[], PtyCable], payload: bytes, error: str
) -> None:
    cable = cables()
    cable.default = payload
    flow_id = await serial_form(hass)
    user_input = {"serial_port": cable.path, "specification": "auto"}
    with listening_briefly():
        result = await hass.config_entries.flow.async_configure(flow_id, user_input)
    assert_form(result, "serial", {"base": error})
    assert len(cable.opens) == 3  # every line setting was tried

    cable.default = V5
    await recovers_to_confirm(hass, flow_id, user_input)


# --------------------------------------------------------------------------
# Keys of an encrypted meter

INVALID_KEY = {"encryption_key": "invalid_key"}
NEEDS_KEY = {"encryption_key": "needs_key"}

KEY_CASES: dict[str, tuple[dict[str, Any], Expected]] = {
    "too_short": ({"encryption_key": KEY[:-1]}, INVALID_KEY),
    "too_long": ({"encryption_key": KEY + "0"}, INVALID_KEY),
    "aes_256_length": ({"encryption_key": KEY * 2}, INVALID_KEY),
    "not_hex": ({"encryption_key": "G" * 32}, INVALID_KEY),
    "non_ascii": ({"encryption_key": "é" * 32}, INVALID_KEY),
    "fullwidth_digits": ({"encryption_key": "\uff10" * 32}, INVALID_KEY),
    "spaces_inside": (
        {"encryption_key": " ".join(KEY[i : i + 4] for i in range(0, 32, 4))},
        INVALID_KEY,
    ),
    "colons": (
        {"encryption_key": ":".join(KEY[i : i + 2] for i in range(0, 32, 2))},
        INVALID_KEY,
    ),
    "hex_prefix": ({"encryption_key": "0x" + KEY}, INVALID_KEY),
    "newline_inside": ({"encryption_key": KEY[:16] + "\n" + KEY[16:]}, INVALID_KEY),
    "auth_key_not_hex": (
        {"encryption_key": KEY, "authentication_key": "Z" * 32},
        {"authentication_key": "invalid_key"},
    ),
    "both_wrong": (
        {"encryption_key": "1234", "authentication_key": "5678"},
        {"encryption_key": "invalid_key", "authentication_key": "invalid_key"},
    ),
    "no_key": ({}, NEEDS_KEY),
    "blank_key": ({"encryption_key": "   "}, NEEDS_KEY),
    "only_auth_key": ({"authentication_key": AUTH_KEY}, NEEDS_KEY),
    "key_not_text": ({"encryption_key": 1234}, Schema("encryption_key")),
    "extra_field": ({"encryption_key": KEY, "key": KEY}, Schema("base")),
}


async def key_form(hass: HomeAssistant, bridge: Bridge) -> str:
    bridge.payload = encrypt(LUX)
    flow_id = await network_form(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, network_input("127.0.0.1", bridge.port)
    )
    assert_form(result, "key", {})
    return flow_id


@pytest.mark.usefixtures("fast_validation")
@pytest.mark.parametrize("case", KEY_CASES)
async def test_key_step(hass: HomeAssistant, bridge: Bridge, case: str) -> None:
    user_input, expected = KEY_CASES[case]
    flow_id = await key_form(hass, bridge)
    await attempt(hass.config_entries.flow, flow_id, "key", user_input, expected)
    assert bridge.connections == 1  # refused before listening again

    result = await recovers_to_confirm(hass, flow_id, {"encryption_key": KEY})
    assert result["description_placeholders"]["equipment_id"] == LUX_ID


@pytest.mark.usefixtures("fast_validation")
@pytest.mark.parametrize(
    "key",
    [KEY.upper(), KEY.lower(), KEY[:16].lower() + KEY[16:], f"\t{KEY}\n"],
    ids=["upper", "lower", "mixed", "blanks_around"],
)
async def test_key_step_accepts_any_case(
    hass: HomeAssistant, bridge: Bridge, key: str
) -> None:
    flow_id = await key_form(hass, bridge)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"encryption_key": key, "authentication_key": AUTH_KEY.lower()}
    )
    assert_form(result, "confirm", None)
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"next_step_id": "finish"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["encryption_key"] == KEY
    assert result["data"]["authentication_key"] == AUTH_KEY
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(result["result"].entry_id)


# --------------------------------------------------------------------------
# Reconfigure


def network_entry(port: int) -> MockConfigEntry:
    return meter_entry(port, equipment_id=V5_ID)


RECONFIGURE_CASES: dict[str, tuple[dict[str, Any], Expected]] = {
    "empty_host": (network_input("", "{port}"), INVALID_HOST),
    "port_0_in_host": (network_input("127.0.0.1:0", 8088), INVALID_HOST),
    "host_300_chars": (network_input("h" * 300, "{port}"), INVALID_HOST),
    "nul_byte": (network_input("127.0.0.1\x00", "{port}"), INVALID_HOST),
    "port_nan": (network_input("127.0.0.1", NAN), INVALID_PORT),
    "port_fraction": (network_input("127.0.0.1", 1.5), INVALID_PORT),
    "port_65536": (network_input("127.0.0.1", 65536), Schema("port")),
    "port_text": (network_input("127.0.0.1", "eighty"), Schema("port")),
    "key_with_colons": (
        {**network_input("127.0.0.1", "{port}"), "encryption_key": "0F:" * 16},
        INVALID_KEY,
    ),
    "host_and_key": (
        {**network_input("", "{port}"), "authentication_key": "x"},
        {"host": "invalid_host", "authentication_key": "invalid_key"},
    ),
    "unknown_specification": (
        network_input("127.0.0.1", "{port}", "7"),
        Schema("specification"),
    ),
}


@pytest.mark.usefixtures("fast_validation")
@pytest.mark.parametrize("case", RECONFIGURE_CASES)
async def test_reconfigure_network(
    hass: HomeAssistant, bridge: Bridge, case: str
) -> None:
    user_input, expected = RECONFIGURE_CASES[case]
    user_input = _fill(user_input, bridge.port)
    entry = network_entry(closed_port())
    entry.add_to_hass(hass)
    before = dict(entry.data)
    result = await entry.start_reconfigure_flow(hass)
    flow_id = result["flow_id"]
    await attempt(
        hass.config_entries.flow, flow_id, "reconfigure", user_input, expected
    )
    assert entry.data == before
    assert bridge.connections == 0

    result = await hass.config_entries.flow.async_configure(
        flow_id, network_input("127.0.0.1", bridge.port)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["port"] == bridge.port
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.usefixtures("fast_validation")
@pytest.mark.parametrize(
    "case", ["empty", "spaces", "nul_byte", "directory", "regular_file"]
)
async def test_reconfigure_serial(
    hass: HomeAssistant, cables: Callable[[], PtyCable], tmp_path: Path, case: str
) -> None:
    path, expected = serial_path(case, tmp_path)
    cable = cables()
    cable.default = V5
    entry = meter_entry(serial_port="/dev/ttyUSB9", equipment_id=V5_ID)
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    flow_id = result["flow_id"]
    user_input = {"serial_port": path, "specification": "auto"}
    await attempt(
        hass.config_entries.flow, flow_id, "reconfigure", user_input, expected
    )
    assert entry.data["serial_port"] == "/dev/ttyUSB9"

    result = await hass.config_entries.flow.async_configure(
        flow_id, {"serial_port": cable.path, "specification": "auto"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["serial_port"] == cable.path
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(entry.entry_id)


# --------------------------------------------------------------------------
# Reauth: the meter's key

REAUTH_KEY_CASES: dict[str, tuple[dict[str, Any], Expected]] = {
    "no_key": ({}, NEEDS_KEY),
    "blank_key": ({"encryption_key": " \t "}, NEEDS_KEY),
    "only_auth_key": ({"authentication_key": AUTH_KEY}, NEEDS_KEY),
    "colons": ({"encryption_key": ":".join([KEY[:16], KEY[16:]])}, INVALID_KEY),
    "not_hex": ({"encryption_key": "KEY" * 11 + "K"}, INVALID_KEY),
    "auth_key_short": (
        {"encryption_key": KEY, "authentication_key": AUTH_KEY[:30]},
        {"authentication_key": "invalid_key"},
    ),
    "key_not_text": ({"encryption_key": ["0F"] * 16}, Schema("encryption_key")),
}


@pytest.mark.usefixtures("fast_validation")
@pytest.mark.parametrize("case", REAUTH_KEY_CASES)
async def test_reauth_key(hass: HomeAssistant, bridge: Bridge, case: str) -> None:
    user_input, expected = REAUTH_KEY_CASES[case]
    bridge.payload = encrypt(LUX)
    entry = meter_entry(
        bridge.port, spec="luxembourg_msn", equipment_id=LUX_ID, encryption_key="0" * 32
    )
    entry.add_to_hass(hass)
    entry.async_start_reauth(hass)
    await hass.async_block_till_done()
    (flow,) = hass.config_entries.flow.async_progress()
    flow_id = flow["flow_id"]
    await attempt(
        hass.config_entries.flow, flow_id, "reauth_confirm", user_input, expected
    )
    assert bridge.connections == 0
    assert entry.data["encryption_key"] == "0" * 32

    result = await hass.config_entries.flow.async_configure(
        flow_id, {"encryption_key": KEY}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["encryption_key"] == KEY
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(entry.entry_id)


# --------------------------------------------------------------------------
# The consent service: API key and address

KEY_FORMAT = {"api_key": "invalid_api_key_format"}
# The address is a field of the Advanced section: its error is the section's.
INVALID_URL = {"advanced": "invalid_url"}

API_KEY_CASES: dict[str, tuple[Any, Expected]] = {
    "empty": ("", KEY_FORMAT),
    "whitespace": (" \t ", KEY_FORMAT),
    "space_inside": ("test key", KEY_FORMAT),
    "newline_inside": ("test\nkey", KEY_FORMAT),
    "carriage_return": ("test-key\r\nX-Other: 1", KEY_FORMAT),
    "nul_byte": ("test\x00key", KEY_FORMAT),
    "non_ascii": ("sleutel-€", KEY_FORMAT),
    "cyrillic": ("ключ", KEY_FORMAT),
    "very_long": ("k" * 1025, KEY_FORMAT),
    "longest_refused": ("k" * 1024, {"base": "invalid_api_key"}),
    "not_text": (12345, Schema("api_key")),
}

BASE_URL_CASES: dict[str, tuple[str, Expected]] = {
    "not_a_url": ("p4 service", INVALID_URL),
    "bare_word": ("smartdatasolutions", INVALID_URL),
    "host_port_only": ("127.0.0.1:{port}", INVALID_URL),
    "ftp": ("ftp://127.0.0.1:{port}", INVALID_URL),
    "file": ("file:///etc/passwd", INVALID_URL),
    "missing_host": ("https://", INVALID_URL),
    "missing_host_with_path": ("http:///api", INVALID_URL),
    "port_out_of_range": ("http://127.0.0.1:99999", INVALID_URL),
    "port_0": ("http://127.0.0.1:0", INVALID_URL),
    "port_not_numeric": ("http://127.0.0.1:web", INVALID_URL),
    "query": ("http://127.0.0.1:{port}?key=1", INVALID_URL),
    "space_in_host": ("http://p4 service.invalid", INVALID_URL),
    "nul_byte": ("http://127.0.0.1\x00:{port}", INVALID_URL),
    "host_300_chars": ("https://" + "h" * 300, INVALID_URL),
    "ipv6_open_bracket": ("http://[::1", INVALID_URL),
    "nothing_listens": ("http://127.0.0.1:{closed}", {"base": "remote_unreachable"}),
    "path_not_found": ("http://127.0.0.1:{port}/v0", {"base": "unexpected_answer"}),
}


async def remote_form(hass: HomeAssistant, bridge: Bridge) -> str:
    """Run the config flow to the form asking for the API key."""
    bridge.payload = V5
    flow_id = await network_form(hass)
    manager = hass.config_entries.flow
    result = await manager.async_configure(
        flow_id, network_input("127.0.0.1", bridge.port)
    )
    assert_form(result, "confirm", None)
    result = await manager.async_configure(flow_id, {})
    result = await manager.async_configure(flow_id, {"next_step_id": "remote"})
    assert_form(result, "remote", {})
    return flow_id


async def links_to_points(
    manager: FlowManager[Any, Any, Any], flow_id: str, sim: P4Simulator
) -> None:
    result = await manager.async_configure(flow_id, link_input(sim))
    assert_form(result, "remote_points", None)
    assert sim.requests[-1].api_key == "test-key"


@pytest.mark.usefixtures("fast_validation")
@pytest.mark.parametrize("case", API_KEY_CASES)
async def test_remote_api_key(
    hass: HomeAssistant, bridge: Bridge, sim: P4Simulator, case: str
) -> None:
    api_key, expected = API_KEY_CASES[case]
    flow_id = await remote_form(hass, bridge)
    manager = hass.config_entries.flow
    await attempt(
        manager, flow_id, "remote", link_input(sim, api_key=api_key), expected
    )
    if "api_key" in expected or isinstance(expected, Schema):
        assert sim.requests == []  # refused before asking the service
    await links_to_points(manager, flow_id, sim)
    manager.async_abort(flow_id)


@pytest.mark.usefixtures("fast_validation")
@pytest.mark.parametrize("case", BASE_URL_CASES)
async def test_remote_base_url(
    hass: HomeAssistant, bridge: Bridge, sim: P4Simulator, case: str
) -> None:
    base_url, expected = BASE_URL_CASES[case]
    base_url = base_url.format(port=sim.port, closed=closed_port())
    flow_id = await remote_form(hass, bridge)
    manager = hass.config_entries.flow
    await attempt(
        manager, flow_id, "remote", link_input(sim, base_url=base_url), expected
    )
    if expected == INVALID_URL:
        assert sim.requests == []
    await links_to_points(manager, flow_id, sim)
    manager.async_abort(flow_id)


@pytest.mark.usefixtures("fast_validation")
async def test_remote_blank_base_url_is_the_default(
    hass: HomeAssistant, bridge: Bridge, sim: P4Simulator
) -> None:
    flow_id = await remote_form(hass, bridge)
    manager = hass.config_entries.flow
    own = replace(PROVIDERS["nl_p4"], default_base_url=sim.url)
    with patch.dict(PROVIDERS, {"nl_p4": own}):
        result = await manager.async_configure(flow_id, link_input(sim, base_url="   "))
    assert_form(result, "remote_points", None)
    manager.async_abort(flow_id)


@pytest.mark.usefixtures("fast_validation")
@pytest.mark.parametrize(
    ("user_input", "field"),
    [
        ({"provider": "uk_dcc", "api_key": "test-key", "advanced": {}}, "provider"),
        ({"provider": "nl_p4", "advanced": {}}, "api_key"),
        ({"provider": "nl_p4", "api_key": "test-key"}, "advanced"),
        (
            {"provider": "nl_p4", "api_key": "test-key", "advanced": "x"},
            "advanced",
        ),
        # A field inside a section: Home Assistant files its error under base.
        (
            {"provider": "nl_p4", "api_key": "test-key", "advanced": {"base_url": 80}},
            "base",
        ),
        (
            {"provider": "nl_p4", "api_key": "test-key", "advanced": {"other": 1}},
            "base",
        ),
    ],
    ids=[
        "unknown_provider",
        "no_api_key",
        "no_advanced_section",
        "advanced_not_a_section",
        "base_url_not_text",
        "unknown_field_in_section",
    ],
)
async def test_remote_form_shape(
    hass: HomeAssistant,
    bridge: Bridge,
    sim: P4Simulator,
    user_input: dict[str, Any],
    field: str,
) -> None:
    flow_id = await remote_form(hass, bridge)
    manager = hass.config_entries.flow
    await attempt(manager, flow_id, "remote", user_input, Schema(field))
    await links_to_points(manager, flow_id, sim)
    manager.async_abort(flow_id)


@pytest.mark.usefixtures("fast_validation")
async def test_remote_points_config_flow(
    hass: HomeAssistant, bridge: Bridge, sim: P4Simulator
) -> None:
    """No connection picked, or one the service did not offer; then a real one."""
    flow_id = await remote_form(hass, bridge)
    manager = hass.config_entries.flow
    await links_to_points(manager, flow_id, sim)
    await attempt(
        manager, flow_id, "remote_points", {"eans": []}, {"eans": "eans_required"}
    )
    await attempt(
        manager,
        flow_id,
        "remote_points",
        {"eans": ["871687120000000099"]},
        Schema("eans"),
    )
    await attempt(
        manager, flow_id, "remote_points", {"eans": ELECTRICITY}, Schema("eans")
    )
    # The P1 meter (V5) is not the service's meter: consent is asked next.
    result = await manager.async_configure(
        flow_id, {"eans": [ELECTRICITY, ELECTRICITY]}
    )
    assert_form(result, "remote_mismatch", {})
    await attempt(
        manager, flow_id, "remote_mismatch", {"confirm": None, "x": 1}, Schema("base")
    )
    manager.async_abort(flow_id)


# --------------------------------------------------------------------------
# The consent service's answers (options flow: no meter to detect first)

# An answer that came with 200 but gives no usable list: the connection is
# typed by hand, and the step says why.
MANUAL_UNEXPECTED = "manual:unexpected_answer"
MANUAL_NONE = "manual:no_metering_points"

SERVICE_CASES: dict[str, tuple[Callable[[P4Simulator], Any], str]] = {
    "http_404": (lambda sim: sim.refuse(1, 404), "unexpected_answer"),
    "http_500": (lambda sim: sim.unavailable(1, 500), "remote_unreachable"),
    "http_502": (lambda sim: sim.unavailable(1, 502), "remote_unreachable"),
    "http_429_date": (
        lambda sim: sim.rate_limit(1, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"),
        "remote_unreachable",
    ),
    "http_429_garbage_retry": (
        lambda sim: sim.rate_limit(1, retry_after="soon"),
        "remote_unreachable",
    ),
    "oversized_declared": (lambda sim: sim.oversized(1), MANUAL_UNEXPECTED),
    "oversized_streamed": (
        lambda sim: sim.oversized(1, declare_length=False),
        MANUAL_UNEXPECTED,
    ),
    "object_not_list": (
        lambda sim: sim.mangle(lambda points: {"MeteringPoints": points}),
        MANUAL_UNEXPECTED,
    ),
    "null": (lambda sim: sim.mangle(lambda points: None), MANUAL_UNEXPECTED),
    "string": (lambda sim: sim.mangle(lambda points: "none"), MANUAL_UNEXPECTED),
    "number": (lambda sim: sim.mangle(lambda points: 2), MANUAL_UNEXPECTED),
    "items_not_objects": (
        lambda sim: sim.mangle(lambda points: [point["Ean"] for point in points]),
        MANUAL_UNEXPECTED,
    ),
    "missing_ean": (
        lambda sim: sim.mangle(
            lambda points: [{**point, "Ean": None} for point in points]
        ),
        MANUAL_UNEXPECTED,
    ),
    "missing_product": (
        lambda sim: sim.mangle(
            lambda points: [
                {k: v for k, v in point.items() if k != "Product"} for point in points
            ]
        ),
        MANUAL_UNEXPECTED,
    ),
    "ean_number": (
        lambda sim: sim.mangle(
            lambda points: [{**point, "Ean": int(point["Ean"])} for point in points]
        ),
        MANUAL_UNEXPECTED,
    ),
    "ean_short": (
        lambda sim: sim.mangle(
            lambda points: [{**point, "Ean": "8716"} for point in points]
        ),
        MANUAL_UNEXPECTED,
    ),
    "meter_id_number": (
        lambda sim: sim.mangle(
            lambda points: [{**point, "MeterId": 42} for point in points]
        ),
        MANUAL_UNEXPECTED,
    ),
    "address_list": (
        lambda sim: sim.mangle(
            lambda points: [{**point, "Address": ["Straat 1"]} for point in points]
        ),
        MANUAL_UNEXPECTED,
    ),
    "product_bool": (
        lambda sim: sim.mangle(
            lambda points: [{**point, "Product": True} for point in points]
        ),
        MANUAL_UNEXPECTED,
    ),
    "empty_objects": (
        lambda sim: sim.mangle(lambda points: [{}, {}]),
        MANUAL_UNEXPECTED,
    ),
    "empty_list": (lambda sim: sim.mangle(lambda points: []), MANUAL_NONE),
    "blank_products": (
        lambda sim: sim.mangle(
            lambda points: [{**point, "Product": " "} for point in points]
        ),
        MANUAL_NONE,
    ),
}


async def options_remote_form(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    manager = hass.config_entries.options
    result = await manager.async_init(entry.entry_id)
    result = await manager.async_configure(
        result["flow_id"], {"next_step_id": "remote_manage"}
    )
    assert_form(result, "remote", {}, "options")
    return str(result["flow_id"])


@pytest.fixture
def entry(hass: HomeAssistant) -> MockConfigEntry:
    """A meter that is not set up: options change without a reload."""
    config_entry = meter_entry(1, equipment_id=V5_ID)
    config_entry.add_to_hass(hass)
    return config_entry


@pytest.mark.parametrize("case", SERVICE_CASES)
async def test_service_answers(
    hass: HomeAssistant, entry: MockConfigEntry, sim: P4Simulator, case: str
) -> None:
    fault, error = SERVICE_CASES[case]
    flow_id = await options_remote_form(hass, entry)
    manager = hass.config_entries.options
    fault(sim)
    await refused(manager, flow_id, link_input(sim), error)
    assert len(sim.requests) == 1
    if not error.startswith("manual:"):
        await links_to_points(manager, flow_id, sim)
    manager.async_abort(flow_id)


async def refused(
    manager: FlowManager[Any, Any, Any],
    flow_id: str,
    user_input: dict[str, Any],
    error: str,
) -> None:
    """Submit the remote step: refused on it, or on to typing the connection."""
    if error.startswith("manual:"):
        result = await manager.async_configure(flow_id, user_input)
        assert_form(result, "remote_manual", {"base": error[7:]}, "options")
        return
    await attempt(
        manager, flow_id, "remote", user_input, {"base": error}, section="options"
    )


RAW_ANSWERS: dict[str, bytes] = {  # with what each one is told
    "empty_body": b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "html": (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 25\r\n\r\n"
        b"<html>Maintenance</html>\n"
    ),
    "deep_nesting": b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
    + b"[" * 100000,
    "huge_integer": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5002\r\n\r\n[" + b"9" * 5000 + b"]"
    ),
    "nan_literal": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n[NaN]",
    "not_utf8": b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n\xff\xfe[]",
    "cut_off": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n[{",
    "bad_gzip": (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 8\r\n\r\n"
        b"notgzip!"
    ),
    "bad_length_header": b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n[]",
    "not_http": b"SSH-2.0-OpenSSH_9.6\r\n",
    "hangs_up": b"",
    "status_418": b"HTTP/1.1 418 I'm a teapot\r\nContent-Length: 2\r\n\r\n[]",
    "redirect_to_ftp": (
        b"HTTP/1.1 302 Found\r\nLocation: ftp://127.0.0.1/points\r\n"
        b"Content-Length: 0\r\n\r\n"
    ),
}


@pytest.mark.parametrize("case", RAW_ANSWERS)
async def test_service_raw_answers(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sim: P4Simulator,
    raw_service: RawService,
    case: str,
) -> None:
    """Answers no real HTTP service should give, byte for byte."""
    raw_service.answer = RAW_ANSWERS[case]
    flow_id = await options_remote_form(hass, entry)
    manager = hass.config_entries.options
    user_input = link_input(sim, base_url=raw_service.url)
    error = RAW_ERRORS.get(case, "remote_unreachable")
    await refused(manager, flow_id, user_input, error)
    if not error.startswith("manual:"):
        await links_to_points(manager, flow_id, sim)
    manager.async_abort(flow_id)


RAW_ERRORS = {
    "empty_body": MANUAL_UNEXPECTED,
    "html": MANUAL_UNEXPECTED,
    "deep_nesting": MANUAL_UNEXPECTED,
    "huge_integer": MANUAL_UNEXPECTED,
    "nan_literal": MANUAL_UNEXPECTED,
    "not_utf8": MANUAL_UNEXPECTED,
    "status_418": "unexpected_answer",
}


async def test_service_unexpected_error(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sim: P4Simulator,
    no_tracebacks: list[str],
) -> None:
    """A failure nobody foresaw is told as such, and logged."""
    flow_id = await options_remote_form(hass, entry)
    manager = hass.config_entries.options
    with patch(
        "custom_components.slimme_meter.remote.p4.P4Provider.metering_points",
        side_effect=TypeError("resolver"),
    ):
        await attempt(
            manager,
            flow_id,
            "remote",
            link_input(sim),
            {"base": "unknown"},
            section="options",
        )
    no_tracebacks.append("Unexpected error while asking for the connections")
    await links_to_points(manager, flow_id, sim)
    manager.async_abort(flow_id)


@pytest.mark.parametrize(
    ("user_input", "expected"),
    [
        ({"api_key": ""}, KEY_FORMAT),
        ({"api_key": "sleutel\n"}, {"base": "invalid_api_key"}),  # blanks around go
        ({"api_key": "test\nkey"}, KEY_FORMAT),
        ({"base_url": "ftp://127.0.0.1"}, INVALID_URL),
        ({"api_key": "", "base_url": "p4"}, {**KEY_FORMAT, **INVALID_URL}),
    ],
    ids=["empty_key", "wrong_key", "newline_key", "ftp_url", "both"],
)
async def test_options_remote_input(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sim: P4Simulator,
    user_input: dict[str, Any],
    expected: Errors,
) -> None:
    flow_id = await options_remote_form(hass, entry)
    manager = hass.config_entries.options
    await attempt(
        manager,
        flow_id,
        "remote",
        link_input(sim, **user_input),
        expected,
        section="options",
    )
    await links_to_points(manager, flow_id, sim)
    manager.async_abort(flow_id)


async def test_options_remote_points(
    hass: HomeAssistant, entry: MockConfigEntry, sim: P4Simulator
) -> None:
    flow_id = await options_remote_form(hass, entry)
    manager = hass.config_entries.options
    await links_to_points(manager, flow_id, sim)
    await attempt(
        manager,
        flow_id,
        "remote_points",
        {"eans": []},
        {"eans": "eans_required"},
        section="options",
    )
    await attempt(manager, flow_id, "remote_points", {"eans": None}, Schema("eans"))
    result = await manager.async_configure(flow_id, {"eans": [GAS, GAS]})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["remote"]["eans"] == [GAS]


# --------------------------------------------------------------------------
# Options: update policy

POLICY_CASES: dict[str, tuple[dict[str, Any], Expected]] = {
    "negative": ({"live_interval": -1, "counter_interval": 0}, Schema("live_interval")),
    "above_maximum": (
        {"live_interval": 0, "counter_interval": MAX_UPDATE_INTERVAL + 1},
        Schema("counter_interval"),
    ),
    "infinite": (
        {"live_interval": math.inf, "counter_interval": 0},
        Schema("live_interval"),
    ),
    "text": (
        {"live_interval": "often", "counter_interval": 0},
        Schema("live_interval"),
    ),
    "none": ({"live_interval": None, "counter_interval": 0}, Schema("live_interval")),
    "extra_field": (
        {"live_interval": 5, "counter_interval": 5, "gas_interval": 5},
        Schema("base"),
    ),
    "nan": (
        {"live_interval": NAN, "counter_interval": 0},
        {"live_interval": "invalid_interval"},
    ),
    "nan_text": (
        {"live_interval": 0, "counter_interval": "nan"},
        {"counter_interval": "invalid_interval"},
    ),
    "fraction": (
        {"live_interval": 2.5, "counter_interval": 0.1},
        {"live_interval": "invalid_interval", "counter_interval": "invalid_interval"},
    ),
}


async def policy_form(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    manager = hass.config_entries.options
    result = await manager.async_init(entry.entry_id)
    result = await manager.async_configure(
        result["flow_id"], {"next_step_id": "update_policy"}
    )
    assert_form(result, "update_policy", None, "options")
    return str(result["flow_id"])


@pytest.mark.parametrize("case", POLICY_CASES)
async def test_update_policy(
    hass: HomeAssistant, entry: MockConfigEntry, case: str
) -> None:
    user_input, expected = POLICY_CASES[case]
    flow_id = await policy_form(hass, entry)
    manager = hass.config_entries.options
    await attempt(
        manager, flow_id, "update_policy", user_input, expected, section="options"
    )
    assert entry.options == {}

    result = await manager.async_configure(
        flow_id, {"live_interval": "30", "counter_interval": float(MAX_UPDATE_INTERVAL)}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        "live_interval": 30,
        "counter_interval": MAX_UPDATE_INTERVAL,
    }
    assert all(type(value) is int for value in entry.options.values())


def test_interval_error_names_the_maximum() -> None:
    for name, document in (("strings.json", STRINGS), *TRANSLATIONS.items()):
        text = document["options"]["error"]["invalid_interval"]
        assert str(MAX_UPDATE_INTERVAL) in text, name


# --------------------------------------------------------------------------
# Reauth: the consent service's API key

REAUTH_API_CASES: dict[str, tuple[Any, Callable[[P4Simulator], Any], Expected]] = {
    "empty": ("", lambda sim: None, KEY_FORMAT),
    "whitespace": ("   ", lambda sim: None, KEY_FORMAT),
    "newline_inside": ("new\nkey", lambda sim: None, KEY_FORMAT),
    "non_ascii": ("sléutel", lambda sim: None, KEY_FORMAT),
    "very_long": ("k" * 5000, lambda sim: None, KEY_FORMAT),
    "not_text": (None, lambda sim: None, Schema("api_key")),
    "refused_403": (
        "test-key",
        lambda sim: sim.refuse(1, 403),
        {"base": "invalid_api_key"},
    ),
    "http_500": (
        "test-key",
        lambda sim: sim.unavailable(1, 500),
        {"base": "remote_unreachable"},
    ),
    "rate_limited": (
        "test-key",
        lambda sim: sim.rate_limit(1),
        {"base": "remote_unreachable"},
    ),
    "not_found": (
        "test-key",
        lambda sim: sim.refuse(1, 404),
        {"base": "unexpected_answer"},
    ),
}


@pytest.mark.parametrize(
    "fault",
    [lambda sim: sim.malformed(1), lambda sim: sim.mangle(lambda p: {"points": p})],
    ids=["malformed", "wrong_shape"],
)
async def test_reauth_key_accepted_when_only_the_list_is_unreadable(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sim: P4Simulator,
    fault: Callable[[P4Simulator], Any],
) -> None:
    """The service took the key (no 401): the connections stay as they were."""
    linked = {"api_key": "old-key", "base_url": sim.url, "eans": [ELECTRICITY]}
    hass.config_entries.async_update_entry(entry, options={"remote": linked})
    entry.async_start_reauth(hass, data={**entry.data, "reauth": "api_key"})
    await hass.async_block_till_done()
    (flow,) = hass.config_entries.flow.async_progress()
    fault(sim)
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"api_key": "test-key"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.options["remote"] == {**linked, "api_key": "test-key"}


@pytest.mark.parametrize("case", REAUTH_API_CASES)
async def test_reauth_api_key(
    hass: HomeAssistant, entry: MockConfigEntry, sim: P4Simulator, case: str
) -> None:
    api_key, fault, expected = REAUTH_API_CASES[case]
    linked = {
        "provider": "nl_p4",
        "api_key": "old-key",
        "base_url": sim.url,
        "eans": [ELECTRICITY],
    }
    hass.config_entries.async_update_entry(entry, options={"remote": linked})
    entry.async_start_reauth(hass, data={**entry.data, "reauth": "api_key"})
    await hass.async_block_till_done()
    (flow,) = hass.config_entries.flow.async_progress()
    flow_id = flow["flow_id"]
    fault(sim)
    await attempt(
        hass.config_entries.flow,
        flow_id,
        "reauth_remote",
        {"api_key": api_key},
        expected,
    )
    assert entry.options["remote"]["api_key"] == "old-key"

    result = await hass.config_entries.flow.async_configure(
        flow_id, {"api_key": "test-key"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.options["remote"] == {**linked, "api_key": "test-key"}


# --------------------------------------------------------------------------
# Menus


async def test_menus_refuse_unknown_choices(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    manager = hass.config_entries.flow
    result = await manager.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    flow_id = result["flow_id"]
    await attempt(
        manager, flow_id, "user", {"next_step_id": "bluetooth"}, Schema("next_step_id")
    )
    result = await manager.async_configure(flow_id, {})  # nothing chosen
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "user"
    result = await manager.async_configure(flow_id, {"next_step_id": "network"})
    assert_form(result, "network", {})
    manager.async_abort(flow_id)

    options = hass.config_entries.options
    result = await options.async_init(entry.entry_id)
    flow_id = result["flow_id"]
    await attempt(
        options,
        flow_id,
        "init",
        {"next_step_id": "remote_disable"},
        Schema("next_step_id"),
    )
    result = await options.async_configure(flow_id, {"next_step_id": "update_policy"})
    assert_form(result, "update_policy", None, "options")
    options.async_abort(flow_id)
