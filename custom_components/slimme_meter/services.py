"""Actions: sync or remove the remote history, import or remove another's."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv

from .const import DOMAIN
from .energy_dashboard import async_repoint
from .history import MergedHistory, Series, statistic_id
from .history_import import SourceError, async_apply, async_plan, async_remove
from .runtime import SlimmeMeterConfigEntry

try:
    import probatio as vol
except ImportError:  # Home Assistant before 2026.10 validates with voluptuous
    import voluptuous as vol  # type: ignore[no-redef]

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
SERVICE_SYNC = "sync_remote_history"
SERVICE_REMOVE = "remove_remote_history"
SERVICE_IMPORT = "import_history"
SERVICE_REMOVE_IMPORTED = "remove_imported_history"
ATTR_PREVIEW = "preview"
ATTR_CONFIRM_MISMATCH = "confirm_mismatch"
ATTR_ENERGY_DASHBOARD = "energy_dashboard"
SCHEMA = vol.Schema({vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string})
IMPORT_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        **{vol.Optional(series.value): cv.string for series in Series},
        vol.Optional(ATTR_PREVIEW, default=False): cv.boolean,
        vol.Optional(ATTR_CONFIRM_MISMATCH, default=False): cv.boolean,
        vol.Optional(ATTR_ENERGY_DASHBOARD, default=False): cv.boolean,
    }
)


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


def _history(call: ServiceCall) -> MergedHistory:
    history = _entry(call.hass, call).runtime_data.history
    if history is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="no_history"
        )
    return history


async def _remove(call: ServiceCall) -> None:
    _history(call)
    await _entry(call.hass, call).runtime_data.async_remove_remote_history()


async def _import(call: ServiceCall) -> ServiceResponse:
    """Preview or import other statistics; answer with what it did."""
    history = _history(call)
    choices = {
        series: call.data[series.value]
        for series in Series
        if series.value in call.data
    }
    if not choices:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="import_nothing_chosen"
        )
    try:
        plans = await async_plan(call.hass, history, choices)
    except SourceError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=err.key,
            translation_placeholders={"statistic_id": err.statistic_id},
        ) from err
    replacements = {
        item.statistic_id: statistic_id(history.meter, item.series) for item in plans
    }
    apply = not call.data[ATTR_PREVIEW]
    mismatch = next((item for item in plans if item.mismatch), None)
    if apply and mismatch is not None and not call.data[ATTR_CONFIRM_MISMATCH]:
        assert mismatch.join is not None
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="import_mismatch",
            translation_placeholders={
                "statistic_id": mismatch.statistic_id,
                "source": f"{mismatch.join.source / 1000:.3f}",
                "ours": f"{mismatch.join.ours / 1000:.3f}",
            },
        )
    hours = await async_apply(history, plans) if apply else 0
    dashboard = await async_repoint(
        call.hass,
        replacements,
        apply=apply and call.data[ATTR_ENERGY_DASHBOARD],
    )
    return {
        "series": {item.series.value: item.as_dict() for item in plans},
        "hours_imported": hours,
        "energy_dashboard": {
            "replaceable": list[Any](dashboard.replaced),
            "priced": list[Any](dashboard.priced),
            "replaced": apply and call.data[ATTR_ENERGY_DASHBOARD],
        },
    }


async def _remove_imported(call: ServiceCall) -> ServiceResponse:
    """Forget the imported hours; answer how many."""
    return {"hours_removed": await async_remove(_history(call))}


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    hass.services.async_register(DOMAIN, SERVICE_SYNC, _sync, schema=SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_REMOVE, _remove, schema=SCHEMA)
    hass.services.async_register(
        DOMAIN,
        SERVICE_IMPORT,
        _import,
        schema=IMPORT_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_REMOVE_IMPORTED,
        _remove_imported,
        schema=SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
