"""Diagnostics download: configuration, last telegram, counters, history."""

from __future__ import annotations

import re
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import (
    CONF_API_KEY,
    CONF_AUTHENTICATION_KEY,
    CONF_ENCRYPTION_KEY,
    CONF_ENERGY_ID,
    CONF_EQUIPMENT_ID,
    CONF_METER_KEY,
)
from .runtime import MeterRuntime, SlimmeMeterConfigEntry

TO_REDACT = {
    CONF_ENCRYPTION_KEY,
    CONF_AUTHENTICATION_KEY,
    CONF_EQUIPMENT_ID,
    CONF_METER_KEY,
    CONF_API_KEY,
    "eans",
    "trusted_meters",
    CONF_ENERGY_ID,
}
# Lines that identify the household's meters: equipment ids and logical names.
_ID_LINE = re.compile(
    r"^(\d+-\d+:(?:96\.1\.[01]|96\.1\.255|42\.0\.0|0\.0\.0)(?:\*\d+)?)\(.*\)(?=\r?$)",
    re.M,
)


def redact_telegram(raw: str) -> str:
    """Return a telegram with the lines carrying equipment ids redacted."""
    return _ID_LINE.sub(r"\1(**REDACTED**)", raw)


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: SlimmeMeterConfigEntry
) -> dict[str, Any]:
    """Return what support needs, without keys or meter ids."""
    runtime = entry.runtime_data
    counters = runtime.counters
    snapshot = runtime.snapshot
    return {
        "entry": {
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": async_redact_data(dict(entry.options), TO_REDACT),
            "unique_id": "**REDACTED**" if entry.unique_id else None,
        },
        "specification": runtime.spec.id,
        "checksum": runtime.reader.decoder.checksum,
        "state": runtime.state.value,
        "interval": round(runtime.reader.interval, 3),
        "update_intervals": dict(runtime.intervals),
        "last_telegram": runtime.last_telegram.isoformat()
        if runtime.last_telegram
        else None,
        "counters": {
            "received": counters.received,
            "rejected": counters.rejected,
            "rejected_by_reason": dict(counters.rejected_by_reason),
            "lenient_lines": counters.lenient_lines,
            "reconnects": counters.reconnects,
        },
        "connection_history": [
            {"time": time.isoformat(), "state": state, "reason": reason}
            for time, state, reason in counters.history
        ],
        "telegram": redact_telegram(snapshot.raw) if snapshot else None,
        "history": _history(runtime),
        "costs": runtime.costs.summary() if runtime.costs else None,
        "remote": _remote(runtime),
        "mbus": [
            {"channel": device.channel, "type": device.device_type, "unit": device.unit}
            for device in (snapshot.mbus if snapshot else ())
        ],
    }


def _history(runtime: MeterRuntime) -> dict[str, Any] | None:
    """Return the merged history's ranges and counts (ids without the meter)."""
    if runtime.history is None:
        return None
    return {
        series: {**summary, "statistic_id": f"slimme_meter:**REDACTED**_{series}"}
        for series, summary in runtime.history.summary().items()
    }


def _remote(runtime: MeterRuntime) -> dict[str, Any]:
    """Return the remote path's state and sync progress."""
    remote = runtime.remote
    if remote is None:
        return {"state": runtime.remote_state.value}
    return {
        "state": remote.state.value,
        "provider": remote.provider.name,
        "backfilled": remote.backfilled,
        "has_cursor": remote.cursor is not None,
        "last_sync": remote.last_sync.isoformat() if remote.last_sync else None,
        "last_error": remote.last_error,
        "failing_since": (
            remote.failing_since.isoformat() if remote.failing_since else None
        ),
        "readings_imported": remote.readings_imported,
        "imported": remote.imported,
        "rejections": dict(remote.rejections),
        "meter_mismatch": remote.mismatched_meter is not None,
        # Codes only: the metering points are redacted like the options.
        "missing_grants": sorted({code for _, code in remote.missing_grants}),
        "implausible": (
            {
                "hours": remote.implausible.hours,
                "local_kwh": remote.implausible.local / 1000,
                "remote_kwh": remote.implausible.remote / 1000,
                "unit": remote.implausible.unit,
            }
            if remote.implausible
            else None
        ),
    }
