"""Actions: sync the remote history now, or remove what it imported."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv

from .const import DOMAIN
from .runtime import SlimmeMeterConfigEntry

try:
    import probatio as vol
except ImportError:  # Home Assistant before 2026.10 validates with voluptuous
    import voluptuous as vol  # type: ignore[no-redef]

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
SERVICE_SYNC = "sync_remote_history"
SERVICE_REMOVE = "remove_remote_history"
SCHEMA = vol.Schema({vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string})


def _entry(hass: HomeAssistant, call: ServiceCall) -> SlimmeMeterConfigEntry:
    entry_id = call.data[ATTR_CONFIG_ENTRY_ID]
    entry: SlimmeMeterConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_found",
            translation_placeholders={"entry_id": entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"title": entry.title},
        )
    return entry


async def _sync(call: ServiceCall) -> None:
    runtime = _entry(call.hass, call).runtime_data
    if runtime.remote is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="remote_not_configured"
        )
    runtime.remote.request_sync()


async def _remove(call: ServiceCall) -> None:
    runtime = _entry(call.hass, call).runtime_data
    if runtime.history is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="no_history"
        )
    await runtime.async_remove_remote_history()


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    hass.services.async_register(DOMAIN, SERVICE_SYNC, _sync, schema=SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_REMOVE, _remove, schema=SCHEMA)
