"""Point the Energy dashboard's grid, gas and water sources at our statistics."""

from __future__ import annotations

from collections.abc import Mapping
import copy
from dataclasses import dataclass, field
from typing import Any

from homeassistant.components.energy.data import async_get_manager
from homeassistant.core import HomeAssistant

PRICE = ("entity_energy_price", "number_energy_price")
EXPORT_PRICE = ("entity_energy_price_export", "number_energy_price_export")


@dataclass(slots=True)
class Repointed:
    """What pointing the dashboard at our statistics changed, or could not."""

    replaced: list[str] = field(default_factory=list)
    # Sources priced by an entity or a number: the Energy dashboard computes
    # such costs only for entities, so they keep the old statistic.
    priced: list[str] = field(default_factory=list)


async def async_repoint(
    hass: HomeAssistant, replacements: Mapping[str, str], *, apply: bool
) -> Repointed:
    """Replace old statistics by ours in the dashboard's sources.

    With ``apply`` false, only report what would change. A source with its
    own cost statistic keeps it; one priced by an entity or a number is left
    alone (a price cannot be applied to an external statistic).
    """
    result = Repointed()
    if "energy" not in hass.config.components or not replacements:
        return result
    manager = await async_get_manager(hass)
    if manager.data is None:
        return result
    sources: list[Any] = copy.deepcopy(list(manager.data["energy_sources"]))
    for source in sources:
        _replace(source, replacements, result)
    if apply and result.replaced:
        await manager.async_update({"energy_sources": sources})  # type: ignore[typeddict-item]
    return result


def _replace(
    node: dict[str, Any], replacements: Mapping[str, str], result: Repointed
) -> None:
    """Replace in one source and the flows it lists (a legacy grid source)."""
    for key, value in list(node.items()):
        if key in ("stat_energy_from", "stat_energy_to") and value in replacements:
            if _priced(node, key):
                result.priced.append(value)
            else:
                node[key] = replacements[value]
                result.replaced.append(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    _replace(item, replacements, result)


def _priced(source: dict[str, Any], key: str) -> bool:
    """Return whether a source's costs come from a price, not a statistic."""
    if key == "stat_energy_from":
        cost, prices = "stat_cost", PRICE
    else:
        # A grid connection names its export price apart; a legacy return
        # flow has a source of its own.
        cost = "stat_compensation"
        prices = EXPORT_PRICE if EXPORT_PRICE[0] in source else PRICE
    return source.get(cost) is None and any(
        source.get(price) is not None for price in prices
    )
