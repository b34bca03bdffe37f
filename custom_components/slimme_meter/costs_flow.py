"""The options step that sets the prices the cost statistics are computed with."""

from __future__ import annotations

from collections.abc import Mapping
import math
from typing import Any

from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)

from .costs import (
    CONF_COSTS,
    CONF_DAILY_CHARGE,
    CONF_EXPORT_PRICE,
    CONF_EXPORT_PRICE_ENTITY,
    CONF_EXPORT_PRICE_LOW,
    CONF_GAS_PRICE,
    CONF_GAS_PRICE_ENTITY,
    CONF_IMPORT_PRICE,
    CONF_IMPORT_PRICE_ENTITY,
    CONF_IMPORT_PRICE_LOW,
    CONF_LOW_END,
    CONF_LOW_HOLIDAYS,
    CONF_LOW_START,
    CONF_LOW_WEEKENDS,
    CONF_SCHEDULE,
)
from .tariffs import SCHEDULE_BE, SCHEDULE_CUSTOM, SCHEDULE_NL

try:
    import probatio as vol
except ImportError:  # Home Assistant before 2026.10 validates with voluptuous
    import voluptuous as vol  # type: ignore[no-redef]

PRICES = (
    CONF_IMPORT_PRICE,
    CONF_IMPORT_PRICE_LOW,
    CONF_EXPORT_PRICE,
    CONF_EXPORT_PRICE_LOW,
    CONF_GAS_PRICE,
    CONF_DAILY_CHARGE,
)
ENTITIES = (CONF_IMPORT_PRICE_ENTITY, CONF_EXPORT_PRICE_ENTITY, CONF_GAS_PRICE_ENTITY)
LOW_PAIRS = {
    CONF_IMPORT_PRICE_LOW: CONF_IMPORT_PRICE,
    CONF_EXPORT_PRICE_LOW: CONF_EXPORT_PRICE,
}


def _price(value: Any) -> float | None:
    """Return a price field's value, or None when it is not a finite number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _hour(value: Any) -> int | None:
    """Return an hour field's value when it is a whole hour of the day."""
    number = _price(value)
    if number is None or not number.is_integer() or not 0 <= number <= 23:
        return None
    return int(number)


def _per_unit(unit: Any) -> bool:
    """Return whether a unit is a price per something (EUR/kWh, €/m³)."""
    return isinstance(unit, str) and "/" in unit


def validate(
    user_input: dict[str, Any],
    errors: dict[str, str],
    units: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the cost settings from the form; fill errors where it cannot.

    ``units``: the unit of each chosen entity that has a state now; a sensor
    without a price unit (a power sensor picked by mistake) is refused.
    """
    settings: dict[str, Any] = {}
    for key in PRICES:
        if user_input.get(key) is None:
            continue
        if (price := _price(user_input[key])) is None:
            errors[key] = "invalid_price"
        else:
            settings[key] = price
    for key in ENTITIES:
        if entity_id := user_input.get(key):
            if (
                units is not None
                and entity_id in units
                and not _per_unit(units[entity_id])
            ):
                errors[key] = "not_a_price"
            settings[key] = entity_id
    for low, normal in LOW_PAIRS.items():
        if low in settings and normal not in settings:
            errors[low] = "low_without_normal"
    schedule = user_input.get(CONF_SCHEDULE, SCHEDULE_NL)
    settings[CONF_SCHEDULE] = schedule
    if schedule == SCHEDULE_CUSTOM:
        for key in (CONF_LOW_START, CONF_LOW_END):
            if (hour := _hour(user_input.get(key))) is None:
                errors[key] = "invalid_hour"
            else:
                settings[key] = hour
        settings[CONF_LOW_WEEKENDS] = bool(user_input.get(CONF_LOW_WEEKENDS))
        settings[CONF_LOW_HOLIDAYS] = bool(user_input.get(CONF_LOW_HOLIDAYS))
    return settings


def schema() -> vol.Schema:
    """Return the form: prices, a daily charge, the tariff schedule."""
    price = NumberSelector(
        NumberSelectorConfig(step="any", mode=NumberSelectorMode.BOX)
    )
    hour = NumberSelector(
        NumberSelectorConfig(min=0, max=23, step=1, mode=NumberSelectorMode.BOX)
    )
    entity = EntitySelector(EntitySelectorConfig(domain="sensor"))
    return vol.Schema(
        {
            **{vol.Optional(key): price for key in PRICES},
            **{vol.Optional(key): entity for key in ENTITIES},
            vol.Required(CONF_SCHEDULE, default=SCHEDULE_NL): SelectSelector(
                SelectSelectorConfig(
                    options=[SCHEDULE_NL, SCHEDULE_BE, SCHEDULE_CUSTOM],
                    translation_key=CONF_SCHEDULE,
                    mode=SelectSelectorMode.DROPDOWN,
                )
            ),
            vol.Optional(CONF_LOW_START, default=23): hour,
            vol.Optional(CONF_LOW_END, default=7): hour,
            vol.Optional(CONF_LOW_WEEKENDS, default=True): BooleanSelector(),
            vol.Optional(CONF_LOW_HOLIDAYS, default=False): BooleanSelector(),
        }
    )


class CostSteps(OptionsFlow):
    """The prices step of the options flow."""

    async def async_step_costs(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Set prices; every cost row is computed again with them."""
        errors: dict[str, str] = {}
        options = dict(self.config_entry.options)
        if user_input is not None:
            units = {
                state.entity_id: state.attributes.get("unit_of_measurement")
                for key in ENTITIES
                if (entity_id := user_input.get(key))
                and (state := self.hass.states.get(entity_id)) is not None
            }
            settings = validate(user_input, errors, units)
            if not errors:
                if any(key in settings for key in (*PRICES, *ENTITIES)):
                    options[CONF_COSTS] = settings
                else:
                    options.pop(CONF_COSTS, None)
                return self.async_create_entry(data=options)
        return self.async_show_form(
            step_id="costs",
            data_schema=self.add_suggested_values_to_schema(
                schema(), user_input or options.get(CONF_COSTS, {})
            ),
            errors=errors or None,
        )
