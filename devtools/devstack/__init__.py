"""Home Assistant helper of the development stack (``devstack:`` in its config).

It adds one websocket command, ``devstack/start_flow``: start a config flow
the way the UI does for a user in advanced mode (``show_advanced_options``
in the flow's context). The UI of Home Assistant 2026 no longer passes that
flag, so without this the Slimme Meter flow never shows the consent service's
address field, which the stack needs to point it at the P4 simulator.
``scripts/develop`` starts the flow with this command and answers its steps
over the REST API, like the UI.
"""

from __future__ import annotations

from typing import Any, cast

from homeassistant.components.websocket_api import async_register_command
from homeassistant.components.websocket_api.connection import ActiveConnection
from homeassistant.components.websocket_api.decorators import (
    async_response,
    require_admin,
    websocket_command,
)
from homeassistant.config_entries import SOURCE_USER, ConfigFlowContext
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

try:
    import probatio as vol
except ImportError:  # Home Assistant before 2026.10 validates with voluptuous
    import voluptuous as vol  # type: ignore[no-redef]

DOMAIN = "devstack"
CONFIG_SCHEMA = cv.empty_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the websocket command."""
    async_register_command(hass, ws_start_flow)
    return True


@websocket_command(
    {vol.Required("type"): "devstack/start_flow", vol.Required("handler"): str}
)
@require_admin
@async_response
async def ws_start_flow(
    hass: HomeAssistant,
    connection: ActiveConnection,
    msg: dict[str, Any],
) -> None:
    """Start a config flow in advanced mode; answer its id and first step."""
    result = await hass.config_entries.flow.async_init(
        msg["handler"],
        # The key is no longer part of the typed context of newer releases.
        context=cast(
            ConfigFlowContext,
            {"source": SOURCE_USER, "show_advanced_options": True},
        ),
    )
    connection.send_result(
        msg["id"],
        {
            "flow_id": result.get("flow_id"),
            "type": str(result.get("type")),
            "step_id": result.get("step_id"),
        },
    )
