"""Base entity: device info, availability and the state-write policy.

A state is written only when what an entity shows changed. With a minimum
interval set for its group, changes inside the window are coalesced: the
latest value is written when the window ends. A step (a value with a `step`
that moved by at least that much and by at least a tenth since it was last
written, such as power when an appliance switches) is written at once,
whatever the window. A window never spans a full hour: a value held is
written shortly before the hour, and a change in its last seconds at once, so
the hourly statistics of a sensor end with the last telegram of their hour. A
change of availability is always written at once, after any coalesced value.
"""

from __future__ import annotations

import time
from typing import Any

from homeassistant.core import CALLBACK_TYPE, HassJob, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.event import async_call_later

from .runtime import MeterRuntime

_UNSET: Any = object()
# Seconds before a full hour within which a change is written at once.
HOUR_MARGIN = 2.0


def _seconds_to_hour() -> float:
    """Return the seconds until the next full hour (statistics are per hour)."""
    return 3600.0 - time.time() % 3600.0


class MeterEntity(Entity):
    """An entity fed by the local path of one meter."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _attr_available = False
    update_group: str | None = None
    step: Any = None  # a numeric change this large (and >= 10 %) is a step

    def __init__(
        self,
        runtime: MeterRuntime,
        description: EntityDescription,
        device_info: DeviceInfo,
        unique_id: str,
    ) -> None:
        """Initialise from the runtime's latest values."""
        self.runtime = runtime
        self.entity_description = description
        self._attr_device_info = device_info
        self._attr_unique_id = unique_id
        self._written: Any = _UNSET
        self._last_write = 0.0
        self._flush: CALLBACK_TYPE | None = None
        # At shutdown Home Assistant cancels a pending flush: the first
        # telegram after the start writes the values again.
        self._flush_job = HassJob(
            self._flush_pending, f"{unique_id} flush", cancel_on_shutdown=True
        )
        self._attr_available = self.is_available()
        self._value = self.compute() if self._attr_available else None

    def is_available(self) -> bool:
        """Return whether the entity has live data to show."""
        return self.runtime.available

    def compute(self) -> Any:
        """Return what the entity shows now (state and attributes as one)."""
        raise NotImplementedError

    def apply(self, value: Any) -> None:
        """Put a computed value into the entity's attributes."""
        raise NotImplementedError

    async def async_added_to_hass(self) -> None:
        """Follow the runtime."""
        self.apply(self._value)
        self._written = (self._attr_available, self._value)
        self._last_write = self.hass.loop.time()
        self.async_on_remove(self.runtime.async_add_listener(self._handle_update))
        self.async_on_remove(self._cancel_flush)

    @callback
    def _cancel_flush(self) -> None:
        if self._flush is not None:
            self._flush()
            self._flush = None

    @callback
    def _handle_update(self) -> None:
        available = self.is_available()
        value = self.compute() if available else None
        if available != self._written[0]:
            self._cancel_flush()
            if self._written[0] and self._value != self._written[1]:
                self._write(True, self._value)  # the coalesced last value first
            self._value = value
            self._write(available, value)
            return
        self._value = value
        if value == self._written[1]:
            return
        interval = self.runtime.interval(self.update_group)
        now = self.hass.loop.time()
        if (
            now - self._last_write >= interval
            or self._is_step(value)
            or _seconds_to_hour() <= HOUR_MARGIN
        ):
            self._cancel_flush()
            self._write(available, value)
        elif self._flush is None:
            window_end = self._last_write + interval - now
            hour_end = _seconds_to_hour() - HOUR_MARGIN
            self._flush = async_call_later(
                self.hass, min(window_end, hour_end), self._flush_job
            )

    def _is_step(self, value: Any) -> bool:
        """Return whether a value moved far from the one shown."""
        if self.step is None:
            return False
        shown = self._written[1]
        if value is None or shown is None:
            return True
        change = abs(value - shown)
        return bool(change >= self.step and change * 10 >= abs(shown))

    @callback
    def _flush_pending(self, _now: Any) -> None:
        self._flush = None
        if self._value != self._written[1]:
            self._write(self._written[0], self._value)

    def _write(self, available: bool, value: Any) -> None:
        self._attr_available = available
        self.apply(value)
        self._written = (available, value)
        self._last_write = self.hass.loop.time()
        self.async_write_ha_state()
