"""The remote path's life: built from the entry's options, started, stopped.

The options name the provider (looked up in the registry), its key and
address, the connections and the meters the user trusts. Reconfiguring is
serialised, so two quick changes never leave two sync loops running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from ..const import (
    CONF_API_KEY,
    CONF_BASE_URL,
    CONF_EANS,
    CONF_PROVIDER,
    CONF_TRUSTED_METERS,
)
from ..history import MergedHistory
from .registry import create_provider, provider_type
from .sync import RemoteSync


class RemoteLifecycle:
    """Holds the running remote path of one entry, if any."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        *,
        local_meter: Callable[[], str | None],
        on_change: Callable[[], None],
    ) -> None:
        """Remember whom to tell; configure() starts the path."""
        self.hass = hass
        self.entry = entry
        self.sync: RemoteSync | None = None
        self._local_meter = local_meter
        self._on_change = on_change
        self._lock = asyncio.Lock()

    async def configure(
        self, config: Mapping[str, Any] | None, history: MergedHistory | None
    ) -> None:
        """Start, restart or stop the path as ``config`` says, one at a time."""
        async with self._lock:
            await self.stop()
            if config and history is not None:
                self.sync = await self._start(config, history)

    async def stop(self) -> None:
        """Stop the path and keep its progress."""
        if self.sync is not None:
            sync, self.sync = self.sync, None
            await sync.stop()

    async def _start(
        self, config: Mapping[str, Any], history: MergedHistory
    ) -> RemoteSync:
        kind = provider_type(config.get(CONF_PROVIDER))
        provider = create_provider(
            async_get_clientsession(self.hass),
            kind.name,
            config[CONF_API_KEY],
            config.get(CONF_BASE_URL),
            config,
        )
        trusted = frozenset(config.get(CONF_TRUSTED_METERS, ()))

        def matches(remote_meter: str) -> bool:
            local = self._local_meter()
            return (
                remote_meter in trusted
                or not local
                or kind.meter_matches(remote_meter, local)
            )

        sync = RemoteSync(
            self.hass,
            provider,
            history,
            list(config[CONF_EANS]),
            self.entry.entry_id,
            meter_matches=matches,
            on_change=self._on_change,
            name=self.entry.title,
        )
        await sync.async_load()
        sync.start(
            lambda coro, name: self.entry.async_create_background_task(
                self.hass, coro, name
            )
        )
        return sync
