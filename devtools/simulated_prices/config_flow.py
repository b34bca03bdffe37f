"""Add the simulated price: how many days of price history to import."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigFlow, ConfigFlowResult
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
)

from .const import CONF_DAYS, DEFAULT_DAYS, DOMAIN

try:
    import probatio as vol
except ImportError:  # Home Assistant before 2026.10 validates with voluptuous
    import voluptuous as vol  # type: ignore[no-redef]


class SimulatedPricesFlow(ConfigFlow, domain=DOMAIN):
    """One step: the days of history."""

    VERSION = 1

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the days of history; add the entry."""
        if user_input is not None:
            return self.async_create_entry(
                title="Simulated dynamic prices",
                data={CONF_DAYS: int(user_input[CONF_DAYS])},
            )
        days = NumberSelector(
            NumberSelectorConfig(min=1, max=3660, mode=NumberSelectorMode.BOX)
        )
        return self.async_show_form(
            step_id="user",
            data_schema=vol.Schema(
                {vol.Required(CONF_DAYS, default=DEFAULT_DAYS): days}
            ),
        )
