"""Stored progress of the remote path: kept, restarted for new connections, removed."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.slimme_meter.const import DOMAIN
from custom_components.slimme_meter.history import MergedHistory
from custom_components.slimme_meter.remote.api import RemoteState
from custom_components.slimme_meter.remote.sync import RemoteSync

STORED = {"eans": ["871687120000000001"], "cursor": "20260301-060000-000000"}


def _sync(hass: HomeAssistant, eans: list[str]) -> RemoteSync:
    return RemoteSync(
        hass,
        provider=None,  # type: ignore[arg-type]  # not asked while loading
        history=MergedHistory(hass, "meter", "entry"),
        eans=eans,
        storage_key="entry",
        meter_matches=lambda _meter: True,
        on_change=lambda: None,
    )


async def test_progress_is_kept_for_the_same_connections(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    hass_storage[f"{DOMAIN}.remote.entry"] = {
        "version": 1,
        "data": {
            **STORED,
            "backfilled": True,
            "last_sync": "2026-03-02T07:30:00+00:00",
        },
    }
    sync = _sync(hass, ["871687120000000001"])
    await sync.async_load()
    assert sync.cursor == STORED["cursor"]
    assert sync.backfilled
    assert sync.state is RemoteState.ACTIVE
    assert sync.last_sync is not None


async def test_other_connections_fetch_their_whole_history(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    hass_storage[f"{DOMAIN}.remote.entry"] = {
        "version": 1,
        "data": {**STORED, "backfilled": True},
    }
    sync = _sync(hass, ["871687120000000001", "871687140000000002"])
    await sync.async_load()
    assert sync.cursor is None
    assert not sync.backfilled
    assert sync.state is RemoteState.BACKFILLING


async def test_removing_the_entry_removes_its_files(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    entry = MockConfigEntry(domain=DOMAIN, data={})
    entry.add_to_hass(hass)
    for kind in ("history", "remote"):
        hass_storage[f"{DOMAIN}.{kind}.{entry.entry_id}"] = {"version": 1, "data": {}}
    hass_storage[f"{DOMAIN}.remote.other"] = {"version": 1, "data": {}}
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert f"{DOMAIN}.history.{entry.entry_id}" not in hass_storage
    assert f"{DOMAIN}.remote.{entry.entry_id}" not in hass_storage
    assert f"{DOMAIN}.remote.other" in hass_storage
