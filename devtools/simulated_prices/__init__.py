"""A simulated dynamic electricity price for the development stack.

``scripts/develop`` links this folder into the configuration's
custom_components and adds it as an entry: one sensor whose price changes
every quarter-hour, with the hourly statistics (mean, min, max) of the past
``days`` days imported into the recorder, as if it had run all that time.
It is what a dynamic contract's price sensor (Nord Pool, EnergyZero, a
supplier's integration) looks like to Slimme Meter's price settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.core import HomeAssistant

PLATFORMS = ["sensor"]


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Set up the price sensor."""
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Remove the price sensor."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
