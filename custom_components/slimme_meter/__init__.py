"""Slimme Meter: a smart meter's P1 port, and its history from the grid operator."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.storage import Store
from homeassistant.helpers.typing import ConfigType

from .const import (
    CONF_AUTHENTICATION_KEY,
    CONF_ENCRYPTION_KEY,
    CONF_METER_KEY,
    CONF_REMOTE,
    CONF_SPEC,
    DOMAIN,
    LOGGER,
)
from .costs import CONF_COSTS, CostHistory, PriceSettings
from .history import STORAGE_VERSION, MergedHistory
from .p1.connection import Endpoint, close
from .p1.decode import Decoder
from .p1.reader import Stream
from .p1.specs import FORMER_SPEC_IDS, SPECS
from .runtime import MeterRuntime, SlimmeMeterConfigEntry, update_intervals
from .services import async_setup_services

PLATFORMS = [Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions."""
    async_setup_services(hass)
    return True


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
    try:
        await _async_start(hass, entry, endpoint, decoder, stream)
    except BaseException:
        # Release the port, or the retry finds it still locked.
        await close(stream[1])
        raise
    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))
    return True


async def _async_start(
    hass: HomeAssistant,
    entry: SlimmeMeterConfigEntry,
    endpoint: Endpoint,
    decoder: Decoder,
    stream: Stream,
) -> None:
    """Set up everything that reads from the opened port, then start reading."""
    if CONF_METER_KEY not in entry.data:
        # Statistics keep the name of the first meter, also after a swap.
        hass.config_entries.async_update_entry(
            entry,
            data={**entry.data, CONF_METER_KEY: entry.unique_id or entry.entry_id},
        )
    history = costs = None
    if "recorder" in hass.config.components:
        history = MergedHistory(hass, entry.data[CONF_METER_KEY], entry.entry_id)
        await history.async_load()
        costs = CostHistory(
            hass,
            history,
            entry.entry_id,
            PriceSettings.from_options(entry.options.get(CONF_COSTS)),
            decoder.spec.id,
        )
        await costs.async_load()
    runtime = MeterRuntime(hass, entry, endpoint, decoder, history, costs=costs)
    entry.runtime_data = runtime
    # The remote path first: its sensors start with its real state, never
    # with a passing "not configured".
    await runtime.async_configure_remote()
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    runtime.start(stream)


async def async_migrate_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Bring an entry of an earlier version up to date.

    Version 2 renamed the specification ids to valid translation keys
    (``5B`` became ``belgium_5b``); labels and behaviour stay the same.
    """
    if entry.version > 2:
        return False  # made by a newer release: leave it alone
    if entry.version == 1:
        spec = entry.data[CONF_SPEC]
        data = {**entry.data, CONF_SPEC: FORMER_SPEC_IDS.get(spec, spec)}
        hass.config_entries.async_update_entry(entry, data=data, version=2)
        LOGGER.debug("Migrated %s to version 2 (specification %s)", entry.title, spec)
    return True


async def _async_entry_updated(
    hass: HomeAssistant, entry: SlimmeMeterConfigEntry
) -> None:
    """Reload for new connection settings; apply options without reconnecting."""
    runtime = entry.runtime_data
    if dict(entry.data) != runtime.data:
        hass.config_entries.async_schedule_reload(entry.entry_id)
        return
    runtime.intervals.update(update_intervals(entry.options))
    if entry.options.get(CONF_REMOTE) != runtime.remote_options:
        await runtime.async_configure_remote()
    if runtime.costs is not None:
        settings = PriceSettings.from_options(entry.options.get(CONF_COSTS))
        if settings != runtime.costs.settings:
            await runtime.costs.async_configure(settings)


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


async def async_remove_entry(
    hass: HomeAssistant, entry: SlimmeMeterConfigEntry
) -> None:
    """Delete what this entry stored: its merged history, costs, sync progress.

    The long-term statistics stay; remove them in the statistics developer
    tools if they are no longer wanted.
    """
    for kind in ("history", "remote", "costs"):
        await Store[Any](
            hass, STORAGE_VERSION, f"{DOMAIN}.{kind}.{entry.entry_id}"
        ).async_remove()
