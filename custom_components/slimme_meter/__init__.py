"""Slimme Meter: live values from a smart meter's P1 port."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import device_registry as dr

from .const import (
    CONF_AUTHENTICATION_KEY,
    CONF_COUNTER_INTERVAL,
    CONF_ENCRYPTION_KEY,
    CONF_LIVE_INTERVAL,
    CONF_SPEC,
    DOMAIN,
)
from .p1.connection import Endpoint
from .p1.decode import Decoder
from .p1.specs import SPECS
from .runtime import P1Runtime, SlimmeMeterConfigEntry

PLATFORMS = [Platform.SENSOR]


async def async_setup_entry(hass: HomeAssistant, entry: SlimmeMeterConfigEntry) -> bool:
    """Open the P1 port and start reading telegrams."""
    spec = SPECS[entry.data[CONF_SPEC]]
    endpoint = Endpoint.from_data(entry.data)
    decoder = Decoder(
        spec,
        entry.data.get(CONF_ENCRYPTION_KEY),
        entry.data.get(CONF_AUTHENTICATION_KEY),
    )
    try:
        stream = await endpoint.open(spec.serial)
    except (OSError, TimeoutError) as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="cannot_connect",
            translation_placeholders={"endpoint": str(endpoint), "error": str(err)},
        ) from err
    runtime = P1Runtime(hass, entry, endpoint, decoder)
    entry.runtime_data = runtime
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    runtime.start(stream)
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    return True


async def _async_options_updated(
    hass: HomeAssistant, entry: SlimmeMeterConfigEntry
) -> None:
    """Apply new update intervals without reconnecting."""
    entry.runtime_data.intervals.update(
        live=float(entry.options.get(CONF_LIVE_INTERVAL, 0)),
        counter=float(entry.options.get(CONF_COUNTER_INTERVAL, 0)),
    )


async def async_unload_entry(
    hass: HomeAssistant, entry: SlimmeMeterConfigEntry
) -> bool:
    """Stop reading and unload the sensors."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.stop()
    return unloaded


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: SlimmeMeterConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Allow removing an M-Bus meter that no longer appears in the telegrams."""
    snapshot = entry.runtime_data.snapshot
    present = (
        {f"{entry.entry_id}_mbus_{mbus.channel}" for mbus in snapshot.mbus}
        if snapshot
        else set()
    )
    return not any(
        domain == DOMAIN and (ident == entry.entry_id or ident in present)
        for domain, ident in device.identifiers
    )
