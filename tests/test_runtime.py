"""The runtime and the entities' state-write policy, through Home Assistant.

Each test sets up a config entry against a real loopback TCP server and
drives it with telegram bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from datetime import datetime, timedelta
from decimal import Decimal
import logging
from unittest.mock import Mock, PropertyMock, patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import EVENT_STATE_CHANGED, STATE_UNAVAILABLE
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.slimme_meter.const import DOMAIN
from custom_components.slimme_meter.p1.connection import Endpoint
from custom_components.slimme_meter.p1.decode import Decoder
from custom_components.slimme_meter.p1.reader import LinkState
from custom_components.slimme_meter.p1.specs import SPECS
from custom_components.slimme_meter.runtime import MeterRuntime

from .helpers import (
    AUTHENTICATION_KEY,
    ENCRYPTION_KEY,
    LUXEMBOURG,
    LUXEMBOURG_EQUIPMENT_ID,
    SWEDEN,
    V5,
    V5_EQUIPMENT_HEX,
    V5_EQUIPMENT_ID,
    bad_crc,
    edit,
    encrypt,
    meter_entry,
    power,
    setup_meter,
    state_of,
    until,
)
from .server import TelegramServer

POWER = "sensor.electricity_meter_power_import"
NET_POWER = "sensor.electricity_meter_net_power"
EXPORT = "sensor.electricity_meter_power_export"
TARIFF_1 = "sensor.electricity_meter_energy_import_tariff_1"
GAS = "sensor.gas_meter_gas_consumption"
GAS_MEASURED = "sensor.gas_meter_last_measurement"
GAS_VALVE = "sensor.gas_meter_valve_state"
REJECTED = "sensor.electricity_meter_telegrams_rejected"
RECEIVED = "sensor.electricity_meter_telegrams_received"
RECONNECTS = "sensor.electricity_meter_reconnects"

LOGGER_NAME = "custom_components.slimme_meter"
WRONG_KEY = "000102030405060708090A0B0C0D0E0F"

# The V5 fixture without its M-Bus channels and without the export power line.
V5_MBUS_LINES = (
    b"0-1:24.1.0(003)\r\n"
    b"0-1:96.1.0(3232323241424344313233343536373839)\r\n"
    b"0-1:24.2.1(170102161005W)(00000.107*m3)\r\n"
    b"0-2:24.1.0(003)\r\n"
    b"0-2:96.1.0()\r\n"
)
V5_BARE = edit(V5, (V5_MBUS_LINES, b""), (b"1-0:2.7.0(00.000*kW)\r\n", b""))


@pytest.fixture(autouse=True)
def fast_backoff() -> Generator[None]:
    """Reconnect after 20 ms, doubling to 80 ms."""
    with (
        patch("custom_components.slimme_meter.runtime.BACKOFF_INITIAL", 0.02),
        patch("custom_components.slimme_meter.runtime.BACKOFF_MAX", 0.08),
    ):
        yield


@pytest.fixture
def all_entities() -> Generator[None]:
    """Enable the entities that are disabled by default."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


async def start(
    hass: HomeAssistant, server: TelegramServer, entry: MockConfigEntry | None = None
) -> MockConfigEntry:
    """Set up an entry against the server and wait for its connection."""
    entry = entry or meter_entry(server.port)
    assert await setup_meter(hass, entry)
    await server.wait_client()
    return entry


async def send(
    hass: HomeAssistant, server: TelegramServer, entry: MockConfigEntry, data: bytes
) -> None:
    """Send bytes and wait until the runtime has handled a telegram or a reject."""
    counters = entry.runtime_data.counters
    seen = counters.received + counters.rejected
    await server.send(data)
    await until(lambda: counters.received + counters.rejected > seen)
    await hass.async_block_till_done()


def changes(events: list[Event], entity_id: str) -> list[str]:
    """Return the states an entity was written with, in order."""
    return [
        event.data["new_state"].state
        for event in events
        if event.data["entity_id"] == entity_id
    ]


def messages(caplog: pytest.LogCaptureFixture, level: int, text: str) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == LOGGER_NAME
        and record.levelno == level
        and text in record.getMessage()
    ]


async def test_unavailable_while_disconnected_and_logged_once(
    hass: HomeAssistant, server: TelegramServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    server.on_connect = V5
    entry = await start(hass, server)
    runtime: MeterRuntime = entry.runtime_data
    await until(lambda: state_of(hass, POWER) == "0.244")
    assert state_of(hass, GAS) == "0.107"
    assert runtime.available

    # The server goes away: several reconnects fail before it returns.
    events = async_capture_events(hass, EVENT_STATE_CHANGED)
    port = server.port
    await server.stop()
    await until(lambda: state_of(hass, POWER) == STATE_UNAVAILABLE)
    assert state_of(hass, GAS) == STATE_UNAVAILABLE
    assert not runtime.available
    await until(lambda: runtime.counters.reconnects >= 3)
    assert state_of(hass, RECONNECTS) == str(runtime.counters.reconnects)
    assert len(messages(caplog, logging.WARNING, "is unavailable")) == 1
    assert len(messages(caplog, logging.DEBUG, "still unavailable")) >= 2
    assert messages(caplog, logging.INFO, "is back") == []

    server.on_connect = power("0.500")
    await server.start(port)
    await until(lambda: state_of(hass, POWER) == "0.500")
    # Back with the new telegram's value, never the one from before the outage.
    assert changes(events, POWER) == [STATE_UNAVAILABLE, "0.500"]
    assert changes(events, GAS) == [STATE_UNAVAILABLE, "0.107"]
    assert len(messages(caplog, logging.WARNING, "is unavailable")) == 1
    assert len(messages(caplog, logging.INFO, "is back")) == 1
    # The path's own sensors stay available throughout.
    assert state_of(hass, RECONNECTS) == str(runtime.counters.reconnects)

    history = [state for _, state, _ in runtime.counters.history]
    assert history[:4] == ["connected", "disconnected", "connecting", "disconnected"]
    assert history[-1] == "connected"
    assert runtime.counters.history[1][2] == "connection closed"

    # A later outage is reported again, once.
    server.on_connect = V5
    server.drop_clients()
    await until(lambda: len(messages(caplog, logging.INFO, "is back")) == 2)
    assert len(messages(caplog, logging.WARNING, "is unavailable")) == 2
    assert state_of(hass, POWER) == "0.244"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_rejected_telegrams_are_counted_and_warned_once(
    hass: HomeAssistant,
    server: TelegramServer,
    caplog: pytest.LogCaptureFixture,
    all_entities: None,
) -> None:
    entry = await start(hass, server)
    runtime: MeterRuntime = entry.runtime_data
    await send(hass, server, entry, V5)
    assert state_of(hass, REJECTED) == "0"
    assert state_of(hass, RECEIVED) == "1"

    for count in range(1, 6):
        await send(hass, server, entry, bad_crc(V5))
        assert state_of(hass, REJECTED) == str(count)
        warnings = messages(caplog, logging.WARNING, "cannot be read")
        assert len(warnings) == (0 if count < 3 else 1)
    assert runtime.counters.rejected_by_reason == {"checksum": 5}
    # Rejects do not touch the values or the availability.
    assert state_of(hass, POWER) == "0.244"
    assert state_of(hass, RECEIVED) == "1"

    # A valid telegram ends the streak; a new streak warns again.
    await send(hass, server, entry, V5)
    for _ in range(3):
        await send(hass, server, entry, b"/XYZ5\r\n\r\nnoise\r\n!\r\n")
    assert len(messages(caplog, logging.WARNING, "cannot be read")) == 2
    assert runtime.counters.rejected_by_reason == {"checksum": 8}
    assert state_of(hass, REJECTED) == "8"
    assert state_of(hass, RECEIVED) == "2"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_meter_swap_keeps_entities(
    hass: HomeAssistant, server: TelegramServer, caplog: pytest.LogCaptureFixture
) -> None:
    # Every register change at once, so the new meter's registers show directly.
    entry = await start(
        hass, server, meter_entry(server.port, options={"counter_interval": 0})
    )
    await send(hass, server, entry, V5)
    registry = er.async_get(hass)
    before = {
        e.unique_id: e.entity_id
        for e in er.async_entries_for_config_entry(registry, entry.entry_id)
    }
    assert before[f"{entry.entry_id}_power_import"] == POWER

    new_id = "E0099887766554433"
    new_meter = edit(
        V5,
        (V5_EQUIPMENT_HEX.encode(), new_id.encode().hex().upper().encode()),
        (b"1-0:1.7.0(00.244*kW)", b"1-0:1.7.0(00.777*kW)"),
        (b"1-0:1.8.1(000004.426*kWh)", b"1-0:1.8.1(000000.012*kWh)"),
    )
    await send(hass, server, entry, new_meter)
    await send(hass, server, entry, new_meter)

    assert entry.unique_id == new_id
    assert entry.data["equipment_id"] == new_id
    assert entry.data["port"] == server.port  # the rest of the data is kept
    issue = ir.async_get(hass).async_get_issue(
        DOMAIN, f"meter_replaced_{entry.entry_id}"
    )
    assert issue is not None
    assert issue.translation_key == "meter_replaced"
    assert issue.translation_placeholders == {"old": V5_EQUIPMENT_ID, "new": new_id}
    assert issue.severity is ir.IssueSeverity.WARNING
    assert len(messages(caplog, logging.WARNING, "was replaced")) == 1

    after = {
        e.unique_id: e.entity_id
        for e in er.async_entries_for_config_entry(registry, entry.entry_id)
    }
    assert after == before
    assert state_of(hass, POWER) == "0.777"
    assert state_of(hass, TARIFF_1) == "0.012"
    assert entry.runtime_data.available
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize(
    ("equipment_id", "telegram"),
    [(None, V5), (V5_EQUIPMENT_ID, SWEDEN)],
    ids=["entry-without-id", "telegram-without-id"],
)
async def test_no_swap_without_both_ids(
    hass: HomeAssistant,
    server: TelegramServer,
    equipment_id: str | None,
    telegram: bytes,
) -> None:
    spec = "5" if telegram is V5 else "sweden_5s"
    entry = meter_entry(server.port, spec=spec, equipment_id=equipment_id)
    await start(hass, server, entry)
    await send(hass, server, entry, telegram)
    await send(hass, server, entry, telegram)
    assert entry.unique_id == equipment_id
    assert entry.data.get("equipment_id") == equipment_id
    assert (
        ir.async_get(hass).async_get_issue(DOMAIN, f"meter_replaced_{entry.entry_id}")
        is None
    )
    assert entry.runtime_data.counters.received == 2
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_decryption_failures_start_reauth(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = meter_entry(
        server.port,
        spec="luxembourg_msn",
        equipment_id=LUXEMBOURG_EQUIPMENT_ID,
        encryption_key=ENCRYPTION_KEY,
        authentication_key=AUTHENTICATION_KEY,
    )
    await start(hass, server, entry)
    await send(hass, server, entry, encrypt(LUXEMBOURG, counter=1))
    assert state_of(hass, POWER) == "0.005"
    assert entry.runtime_data.counters.received == 1

    def reauth_flows() -> list[dict[str, object]]:
        return [
            flow
            for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
            if flow["context"].get("source") == "reauth"
        ]

    with patch.object(
        entry, "async_start_reauth", wraps=entry.async_start_reauth
    ) as start_reauth:
        for counter in range(2, 4):
            await send(
                hass, server, entry, encrypt(LUXEMBOURG, WRONG_KEY, counter=counter)
            )
        assert reauth_flows() == []
        await send(hass, server, entry, encrypt(LUXEMBOURG, WRONG_KEY, counter=4))
        assert start_reauth.call_count == 1
        flows = reauth_flows()
        assert len(flows) == 1
        assert flows[0]["context"]["entry_id"] == entry.entry_id
        for counter in range(5, 9):
            await send(
                hass, server, entry, encrypt(LUXEMBOURG, WRONG_KEY, counter=counter)
            )
        assert start_reauth.call_count == 1  # once per streak of failures
    assert len(reauth_flows()) == 1
    assert entry.runtime_data.counters.rejected_by_reason == {"decryption": 7}
    # The connection and the last values stay; only the key is wrong.
    assert state_of(hass, POWER) == "0.005"
    assert entry.runtime_data.state is LinkState.CONNECTED
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.usefixtures("all_entities")
async def test_no_state_write_when_nothing_changed(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = await start(hass, server)
    await send(hass, server, entry, V5)
    await until(lambda: state_of(hass, GAS) == "0.107")
    watched = (POWER, NET_POWER, TARIFF_1, EXPORT, GAS, GAS_MEASURED, REJECTED)

    def stamps() -> dict[str, tuple[datetime, datetime]]:
        # (last_reported, last_updated): any write moves the first, a change both.
        return {
            eid: (state.last_reported, state.last_updated)
            for eid in watched
            if (state := hass.states.get(eid)) is not None
        }

    first = stamps()
    assert len(first) == len(watched)
    events = async_capture_events(hass, EVENT_STATE_CHANGED)

    await send(hass, server, entry, V5)  # the very same telegram
    assert stamps() == first
    assert [e for e in events if e.data["entity_id"] in watched] == []

    await send(hass, server, entry, power("01.000"))  # one value changes
    assert changes(events, POWER) == ["1.000"]
    assert changes(events, NET_POWER) == ["1.000"]
    now = stamps()
    assert now[POWER] != first[POWER]
    assert {eid: now[eid] for eid in watched[2:]} == {
        eid: first[eid] for eid in watched[2:]
    }
    assert entry.runtime_data.counters.received == 3
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.usefixtures("all_entities")
async def test_coalescing_window(hass: HomeAssistant, server: TelegramServer) -> None:
    with patch("custom_components.slimme_meter.runtime.STALL_FACTOR", 1000.0):
        entry = await start(hass, server)
    runtime: MeterRuntime = entry.runtime_data
    await send(hass, server, entry, V5)
    await until(lambda: state_of(hass, POWER) == "0.244")

    # Options apply live, without reconnecting.
    hass.config_entries.async_update_entry(
        entry, options={"live_interval": 10, "counter_interval": 0}
    )
    await hass.async_block_till_done()
    assert runtime.intervals == {"live": 10.0, "counter": 0.0}
    assert server.connections == 1
    assert runtime.interval("live") == 10.0
    assert runtime.interval(None) == 0.0

    events = async_capture_events(hass, EVENT_STATE_CHANGED)
    await send(hass, server, entry, power("00.250"))
    await send(hass, server, entry, power("00.262"))
    await send(
        hass,
        server,
        entry,
        edit(
            V5,
            (b"1-0:1.7.0(00.244*kW)", b"1-0:1.7.0(00.260*kW)"),
            (b"1-0:1.8.1(000004.426*kWh)", b"1-0:1.8.1(000004.500*kWh)"),
        ),
    )
    # Small moves of live values wait for the window; counters (no interval)
    # are written at once.
    assert changes(events, POWER) == []
    assert changes(events, NET_POWER) == []
    assert state_of(hass, POWER) == "0.244"
    assert changes(events, TARIFF_1) == ["4.500"]

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=11))
    await hass.async_block_till_done()
    assert changes(events, POWER) == ["0.260"]
    assert changes(events, NET_POWER) == ["0.260"]

    # A value that returns to what was written inside the window: no write.
    await send(hass, server, entry, power("00.270"))
    await send(hass, server, entry, power("00.260"))
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=22))
    await hass.async_block_till_done()
    assert changes(events, POWER) == ["0.260"]

    # A step (an appliance switching on or off) is written at once, inside
    # the window too; it replaces a value held.
    await send(hass, server, entry, power("01.000"))
    assert changes(events, POWER) == ["0.260", "1.000"]
    await send(hass, server, entry, power("01.020"))  # held
    await send(hass, server, entry, power("00.300"))
    assert changes(events, POWER) == ["0.260", "1.000", "0.300"]
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=33))
    await hass.async_block_till_done()
    assert changes(events, POWER) == ["0.260", "1.000", "0.300"]

    # A disconnect inside the window writes the pending value, then unavailable.
    await send(hass, server, entry, power("00.310"))
    assert changes(events, POWER) == ["0.260", "1.000", "0.300"]
    server.on_connect = power("05.000")
    server.drop_clients()
    await until(lambda: state_of(hass, POWER) == "5.000")
    assert changes(events, POWER) == [
        "0.260",
        "1.000",
        "0.300",
        "0.310",
        STATE_UNAVAILABLE,
        "5.000",
    ]
    assert changes(events, TARIFF_1) == ["4.500", "4.426", STATE_UNAVAILABLE, "4.426"]
    assert runtime.state is LinkState.CONNECTED
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize(
    ("shown", "new", "step"),
    [
        ("00.244", "00.268", False),  # less than 25 W
        ("00.244", "00.269", True),  # 25 W and more than a tenth
        ("02.000", "02.150", False),  # 150 W, less than a tenth
        ("02.000", "02.200", True),  # a tenth
        ("02.000", "01.800", True),
        ("00.000", "00.030", True),
        ("00.030", "00.000", True),
        ("00.010", "00.000", False),
    ],
)
async def test_what_a_power_step_is(
    hass: HomeAssistant, server: TelegramServer, shown: str, new: str, step: bool
) -> None:
    entry = await start(hass, server)
    await send(hass, server, entry, power(shown))
    await until(lambda: state_of(hass, POWER) == str(Decimal(shown)))
    events = async_capture_events(hass, EVENT_STATE_CHANGED)
    await send(hass, server, entry, power(new))
    assert changes(events, POWER) == ([str(Decimal(new))] if step else [])
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_change_after_the_window_is_written_at_once(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = await start(hass, server)
    await send(hass, server, entry, V5)
    await until(lambda: state_of(hass, POWER) == "0.244")
    entry.runtime_data.intervals["live"] = 0.2
    events = async_capture_events(hass, EVENT_STATE_CHANGED)
    await asyncio.sleep(0.21)  # the window since the last write has passed
    await send(hass, server, entry, power("00.250"))
    assert changes(events, POWER) == ["0.250"]
    await send(hass, server, entry, power("00.255"))  # inside the new window
    assert changes(events, POWER) == ["0.250"]
    await until(lambda: changes(events, POWER) == ["0.250", "0.255"], timeout=1)
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.freeze_time("2026-01-05T11:59:30+00:00", tick=True)
async def test_a_held_counter_is_written_before_the_full_hour(
    hass: HomeAssistant, server: TelegramServer, freezer: FrozenDateTimeFactory
) -> None:
    """Hourly statistics end with the last telegram of their hour."""
    with patch("custom_components.slimme_meter.runtime.STALL_FACTOR", 1000.0):
        entry = await start(hass, server)
    await send(hass, server, entry, V5)
    await until(lambda: state_of(hass, TARIFF_1) == "4.426")
    assert entry.runtime_data.interval("counter") == 300.0
    events = async_capture_events(hass, EVENT_STATE_CHANGED)

    def tariff_1(kwh: str) -> bytes:
        return edit(
            V5, (b"1-0:1.8.1(000004.426*kWh)", b"1-0:1.8.1(%s*kWh)" % kwh.encode())
        )

    await send(hass, server, entry, tariff_1("000004.427"))
    assert changes(events, TARIFF_1) == []  # held: the window has 5 minutes
    # Not the window's end but the full hour decides: written 2 s before it.
    async_fire_time_changed(hass, datetime.fromisoformat("2026-01-05T11:59:57Z"))
    await hass.async_block_till_done()
    assert changes(events, TARIFF_1) == []
    async_fire_time_changed(hass, datetime.fromisoformat("2026-01-05T11:59:58Z"))
    await hass.async_block_till_done()
    assert changes(events, TARIFF_1) == ["4.427"]

    # In the last seconds of the hour a change is written at once.
    freezer.move_to("2026-01-05T11:59:59+00:00")
    await send(hass, server, entry, tariff_1("000004.428"))
    assert changes(events, TARIFF_1) == ["4.427", "4.428"]

    # After the hour the window holds values again.
    freezer.move_to("2026-01-05T12:00:01+00:00")
    await send(hass, server, entry, tariff_1("000004.429"))
    assert changes(events, TARIFF_1) == ["4.427", "4.428"]
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_new_values_and_mbus_devices_add_entities(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = await start(hass, server)
    await send(hass, server, entry, V5_BARE)
    await until(lambda: state_of(hass, POWER) == "0.244")
    assert hass.states.get(GAS) is None
    assert hass.states.get(EXPORT) is None
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert len(devices) == 1
    first = {
        e.entity_id
        for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    }
    assert POWER in first

    await send(hass, server, entry, V5)
    await until(lambda: state_of(hass, GAS) == "0.107")
    assert state_of(hass, EXPORT) == "0.000"
    assert state_of(hass, GAS_MEASURED) == "2017-01-02T15:10:05+00:00"
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    gas = [d for d in devices if (DOMAIN, f"{entry.entry_id}_mbus_1") in d.identifiers]
    assert len(devices) == 2
    assert gas[0].serial_number == "2222ABCD123456789"
    # Only the new entities were added: the ones already there kept their ids.
    registry = er.async_get(hass)
    ids = {
        e.entity_id for e in er.async_entries_for_config_entry(registry, entry.entry_id)
    }
    assert ids - first == {EXPORT, NET_POWER, GAS, GAS_MEASURED, GAS_VALVE}

    # The same layout again adds nothing.
    await send(hass, server, entry, power("00.300"))
    assert len(er.async_entries_for_config_entry(registry, entry.entry_id)) == len(ids)
    assert state_of(hass, POWER) == "0.300"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_runtime_listeners_and_stop(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = await start(hass, server)
    runtime: MeterRuntime = entry.runtime_data
    await send(hass, server, entry, V5)

    layout = Mock()
    remove_layout = runtime.async_add_layout_listener(layout)
    layout.assert_called_once_with(runtime.snapshot)  # told about the present layout
    updates = Mock()
    remove_updates = runtime.async_add_listener(updates)
    await send(hass, server, entry, power("00.500"))
    assert updates.call_count == 1
    assert layout.call_count == 1  # same values, same devices
    await send(hass, server, entry, V5_BARE)
    assert layout.call_count == 2
    assert layout.call_args.args[0].mbus == ()
    remove_layout()
    remove_updates()
    await send(hass, server, entry, V5)
    assert updates.call_count == 2
    assert layout.call_count == 2

    assert await hass.config_entries.async_unload(entry.entry_id)
    await until(lambda: server.disconnects == 1)
    await runtime.stop()  # stopping twice is harmless
    assert runtime.snapshot is not None
    assert runtime.snapshot.value("1.7.0") == Decimal("0.244")


async def test_reconnects_count_attempts_after_an_outage(hass: HomeAssistant) -> None:
    entry = meter_entry(1)
    entry.add_to_hass(hass)
    runtime = MeterRuntime(
        hass, entry, Endpoint.from_data(entry.data), Decoder(SPECS["5"])
    )
    updates = Mock()
    runtime.async_add_listener(updates)
    runtime._on_state(LinkState.CONNECTING, None)  # the very first attempt
    assert runtime.counters.reconnects == 0
    runtime._on_state(LinkState.CONNECTING, None)
    assert runtime.counters.reconnects == 0
    runtime._on_state(LinkState.STALLED, "no valid telegram received")
    runtime._on_state(LinkState.CONNECTING, None)
    runtime._on_state(LinkState.DISCONNECTED, "refused")
    runtime._on_state(LinkState.CONNECTING, None)
    assert runtime.counters.reconnects == 2
    assert updates.call_count == 6
    runtime._on_state(LinkState.CONNECTED, None)
    assert updates.call_count == 6  # the telegram that comes with it notifies
    assert [state for _, state, _ in runtime.counters.history] == [
        "connecting",
        "connecting",
        "stalled",
        "connecting",
        "disconnected",
        "connecting",
        "connected",
    ]
    await runtime.stop()  # never started
