"""Config flow: pick the port, find the meter, confirm; reconfigure, reauth, options."""

from __future__ import annotations

from collections.abc import Mapping
import ipaddress
import math
import re
from typing import Any
from urllib.parse import urlsplit

from homeassistant.components.usb import get_serial_by_id
from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers import selector as ha_selector
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)
from homeassistant.helpers.service_info.usb import UsbServiceInfo
import serialx

try:
    import probatio as vol
except ImportError:  # Home Assistant before 2026.10 validates with voluptuous
    import voluptuous as vol  # type: ignore[no-redef]

from .const import (
    API_KEY_PATTERN,
    CONF_API_KEY,
    CONF_AUTHENTICATION_KEY,
    CONF_BASE_URL,
    CONF_CONNECTION,
    CONF_COUNTER_INTERVAL,
    CONF_EANS,
    CONF_ENCRYPTION_KEY,
    CONF_ENERGY_ID,
    CONF_EQUIPMENT_ID,
    CONF_GRANTS,
    CONF_HOST,
    CONF_LIVE_INTERVAL,
    CONF_PORT,
    CONF_PROVIDER,
    CONF_REMOTE,
    CONF_SERIAL_PORT,
    CONF_SPEC,
    CONF_TRUSTED_METERS,
    CONNECTION_NETWORK,
    CONNECTION_SERIAL,
    DEFAULT_COUNTER_INTERVAL,
    DEFAULT_LIVE_INTERVAL,
    DOMAIN,
    LOGGER,
    MAX_UPDATE_INTERVAL,
    SPEC_AUTO,
    VALIDATION_TIMEOUT,
)
from .costs_flow import CostSteps
from .import_steps import ImportSteps
from .meter_model import title
from .p1.connection import Endpoint, parse_network_address
from .p1.detect import Detected, DetectError, detect
from .p1.specs import SPECS
from .remote import leneda
from .remote.api import (
    AuthError,
    ConsentEndedError,
    InvalidResponseError,
    MeteringPoint,
    RemoteError,
    UnexpectedStatusError,
)
from .remote.registry import (
    DEFAULT_PROVIDER,
    PROVIDERS,
    create_provider,
    provider_type,
)

CONF_ELECTRICITY_EAN = "electricity_ean"
CONF_GAS_EAN = "gas_ean"
EAN_PATTERN = re.compile(r"\d{18}")
SECTION_ADVANCED = "advanced"
CONF_POD = "pod"
CONF_REGISTERS = "registers"
LENEDA_REGISTERS = {
    "import": leneda.CODE_IMPORT,
    "export": leneda.CODE_EXPORT,
    "gas": leneda.CODE_GAS,
}
# The fields of the metering points: consumption, and where production or
# gas have their own.
LENEDA_PODS = (CONF_POD, leneda.CONF_PRODUCTION_POD, leneda.CONF_GAS_POD)
_DEFAULT_URLS = frozenset(kind.default_base_url for kind in PROVIDERS.values())

KEY_PATTERN = re.compile(r"^[0-9a-fA-F]{32}$")
DEFAULT_NETWORK_PORT = 8088
MAX_PORT = 65535
# An API key travels in an HTTP header: visible ASCII only, and not so long
# that a server refuses the request line instead of answering about the key.
MAX_HOST_NAME = 253


def _spec_selector() -> SelectSelector:
    return SelectSelector(
        SelectSelectorConfig(
            options=[SPEC_AUTO, *SPECS],
            translation_key="specification",
            mode=SelectSelectorMode.DROPDOWN,
        )
    )


def _list_ports() -> list[SelectOptionDict]:
    """List serial ports, by-id paths first (they survive re-plugging)."""
    options = []
    for port in serialx.list_serial_ports():
        path = get_serial_by_id(port.device)
        label = f"{path} - {port.description}" if port.description else path
        options.append(SelectOptionDict(value=path, label=label))
    return sorted(options, key=lambda option: "/by-id/" not in option["value"])


# Home Assistant's serial port selector (2026.5+) lists local ports and the
# serial proxy ports of ESPHome devices (esphome-hass://…); serialx opens both.
_SERIAL_PORT_SELECTOR: Any = getattr(ha_selector, "SerialPortSelector", None)


async def _port_selector(hass: Any) -> Any:
    """Return the selector for a serial port: Home Assistant's where it has one."""
    if _SERIAL_PORT_SELECTOR is not None:
        return _SERIAL_PORT_SELECTOR()
    ports = await hass.async_add_executor_job(_list_ports)
    return SelectSelector(
        SelectSelectorConfig(
            options=ports, custom_value=True, mode=SelectSelectorMode.DROPDOWN
        )
    )


class RemoteSteps:
    """Steps that link the remote path; shared by the config and options flows."""

    hass: Any
    _remote: dict[str, Any]
    _points: list[MeteringPoint]
    _mismatch: str
    _unreadable: str | None = None

    def _local_meter_id(self) -> str | None:
        raise NotImplementedError

    def _linked_base_url(self) -> str:
        """Return the address a new link starts from: the service's own."""
        return provider_type(DEFAULT_PROVIDER).default_base_url

    async def _async_finish_remote(self, remote: dict[str, Any]) -> ConfigFlowResult:
        raise NotImplementedError

    async def _async_points(
        self,
        provider: str,
        api_key: str,
        base_url: str,
        errors: dict[str, str],
        options: Mapping[str, Any] | None = None,
    ) -> list[MeteringPoint] | None:
        """Fetch the key's metering points; fill errors when that fails.

        An empty list means the key was accepted but its list gave nothing
        usable (none, or an answer not understood): the user types the EAN.
        """
        self._unreadable = None
        client = create_provider(
            async_get_clientsession(self.hass), provider, api_key, base_url, options
        )
        try:
            return await client.metering_points()
        except AuthError:
            errors["base"] = "invalid_api_key"
        except UnexpectedStatusError as err:
            # Most likely a wrong address: the user corrects it on the form.
            LOGGER.warning("The consent service's list of connections: %s", err)
            self._unreadable = str(err)
            errors["base"] = "unexpected_answer"
        except InvalidResponseError as err:
            LOGGER.warning("The consent service's list of connections: %s", err)
            self._unreadable = str(err)
            return []
        except RemoteError as err:
            LOGGER.debug("Consent service did not answer: %s", err)
            errors["base"] = "remote_unreachable"
        except Exception:
            LOGGER.exception("Unexpected error while asking for the connections")
            errors["base"] = "unknown"
        return None

    async def async_step_remote(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Enter the consent service's API key."""
        errors: dict[str, str] = {}
        if user_input is not None:
            api_key = _api_key(user_input[CONF_API_KEY], errors)
            base_url = _base_url(
                user_input.get(SECTION_ADVANCED, {}).get(CONF_BASE_URL), errors
            )
            provider = user_input.get(CONF_PROVIDER, DEFAULT_PROVIDER)
            kind = provider_type(provider)
            if base_url in _DEFAULT_URLS:
                # Another service's default address: this one's own instead.
                base_url = kind.default_base_url
            if kind.flow_step and not errors:
                self._remote = {
                    CONF_PROVIDER: provider,
                    CONF_API_KEY: api_key,
                    CONF_BASE_URL: base_url,
                }
                step = getattr(self, f"async_step_{kind.flow_step}")
                return await step()  # type: ignore[no-any-return]
            points = (
                None
                if errors
                else await self._async_points(provider, api_key, base_url, errors)
            )
            if points is not None:
                self._points = points
                self._remote = {
                    CONF_PROVIDER: provider,
                    CONF_API_KEY: api_key,
                    CONF_BASE_URL: base_url,
                }
                if not points:
                    return await self.async_step_remote_manual()
                return await self.async_step_remote_points()
        schema = vol.Schema(
            {
                vol.Required(CONF_PROVIDER, default=DEFAULT_PROVIDER): SelectSelector(
                    SelectSelectorConfig(
                        options=list(PROVIDERS), translation_key="provider"
                    )
                ),
                vol.Required(CONF_API_KEY): TextSelector(),
                # Folded away (only for a service that asks for another
                # address), unless the address entered there was refused.
                vol.Required(SECTION_ADVANCED): section(
                    vol.Schema(
                        {
                            vol.Optional(
                                CONF_BASE_URL, default=self._linked_base_url()
                            ): TextSelector()
                        }
                    ),
                    {"collapsed": SECTION_ADVANCED not in errors},
                ),
            }
        )
        return self.async_show_form(  # type: ignore[attr-defined,no-any-return]
            step_id="remote",
            data_schema=self.add_suggested_values_to_schema(  # type: ignore[attr-defined]
                schema, user_input
            ),
            description_placeholders={"reason": self._unreadable or "-"},
            errors=errors,
        )

    async def async_step_remote_points(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick the metering points (electricity, gas) of this meter."""
        errors: dict[str, str] = {}
        eans = list(dict.fromkeys(user_input[CONF_EANS])) if user_input else []
        if user_input is not None and not eans:
            errors[CONF_EANS] = "eans_required"
        elif user_input is not None:
            self._remote[CONF_EANS] = eans
            local = self._local_meter_id()
            for point in self._points:
                if (
                    point.ean in eans
                    and point.product == "electricity"
                    and point.meter_id
                    and local
                    and not provider_type(self._remote[CONF_PROVIDER]).meter_matches(
                        point.meter_id, local
                    )
                ):
                    self._mismatch = point.meter_id
                    return await self.async_step_remote_mismatch()
            return await self._async_finish_remote(self._remote)
        options = [
            SelectOptionDict(
                value=point.ean,
                label=" ".join(
                    part
                    for part in (
                        point.product,
                        point.ean,
                        point.address and f"({point.address})",
                        point.meter_id and f"- {point.meter_id}",
                    )
                    if part
                ),
            )
            for point in self._points
        ]
        schema = vol.Schema(
            {
                vol.Required(
                    CONF_EANS, default=[point.ean for point in self._points]
                ): SelectSelector(
                    SelectSelectorConfig(
                        options=options, multiple=True, mode=SelectSelectorMode.LIST
                    )
                )
            }
        )
        return self.async_show_form(  # type: ignore[attr-defined,no-any-return]
            step_id="remote_points", data_schema=schema, errors=errors or None
        )

    async def async_step_remote_manual(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Type the EANs when the key's list is empty or cannot be read."""
        errors: dict[str, str] = {}
        if user_input is not None:
            eans = []
            for key in (CONF_ELECTRICITY_EAN, CONF_GAS_EAN):
                ean = "".join((user_input.get(key) or "").split())
                if not ean:
                    continue
                if not valid_ean(ean):
                    errors[key] = "invalid_ean"
                eans.append(ean)
            if not errors:
                self._remote[CONF_EANS] = list(dict.fromkeys(eans))
                return await self._async_finish_remote(self._remote)
        else:
            errors["base"] = (
                "unexpected_answer" if self._unreadable else "no_metering_points"
            )
        return self.async_show_form(  # type: ignore[attr-defined,no-any-return]
            step_id="remote_manual",
            data_schema=self.add_suggested_values_to_schema(  # type: ignore[attr-defined]
                vol.Schema(
                    {
                        vol.Required(CONF_ELECTRICITY_EAN): TextSelector(),
                        vol.Optional(CONF_GAS_EAN): TextSelector(),
                    }
                ),
                user_input,
            ),
            description_placeholders={"reason": self._unreadable or "-"},
            errors=errors,
        )

    def _linked_remote(self) -> Mapping[str, Any]:
        """Return the remote path linked now (empty while setting up)."""
        return {}

    def _leneda_suggested(self) -> dict[str, Any]:
        """Return what the Leneda form shows first: the link in use, if Leneda's."""
        remote = self._linked_remote()
        if remote.get(CONF_PROVIDER) != leneda.LenedaProvider.name:
            return {}
        grants = remote.get(CONF_GRANTS) or []
        return {
            CONF_ENERGY_ID: remote.get(CONF_ENERGY_ID),
            CONF_POD: (remote.get(CONF_EANS) or [None])[0],
            leneda.CONF_PRODUCTION_POD: remote.get(leneda.CONF_PRODUCTION_POD),
            leneda.CONF_GAS_POD: remote.get(leneda.CONF_GAS_POD),
            CONF_REGISTERS: [
                name for name, code in LENEDA_REGISTERS.items() if code in grants
            ],
        }

    async def async_step_remote_leneda(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Leneda: the Energy ID, the typed PODs, the registers, a confirmation.

        Leneda lists no metering points and no POD names the P1 meter, so the
        user types it and confirms it is this meter's; production and gas may
        have metering points of their own. Reading the last days checks the
        key, the Energy ID, every POD and the grant of every code.
        """
        errors: dict[str, str] = {}
        placeholders = {"reason": "-", "codes": "-"}
        if user_input is not None:
            energy_id = user_input[CONF_ENERGY_ID].strip()
            pods: dict[str, str] = {}
            for field in LENEDA_PODS:
                pod = leneda.normalise_pod(user_input.get(field) or "")
                if field != CONF_POD and not pod:
                    continue  # optional: read from the consumption POD
                if not leneda.valid_pod(pod):
                    errors[field] = "invalid_pod"
                pods[field] = pod
            grants = [
                code
                for name, code in LENEDA_REGISTERS.items()
                if name in user_input[CONF_REGISTERS]
            ]
            if not API_KEY_PATTERN.fullmatch(energy_id):
                errors[CONF_ENERGY_ID] = "invalid_energy_id"
            if not grants:
                errors[CONF_REGISTERS] = "registers_required"
            if not user_input.get("confirm"):
                errors["confirm"] = "confirm_required"
            if not errors:
                main = pods.pop(CONF_POD)
                extra = {field: pod for field, pod in pods.items() if pod != main}
                remote = {
                    **self._remote,
                    CONF_ENERGY_ID: energy_id,
                    CONF_GRANTS: grants,
                    CONF_EANS: list(dict.fromkeys([main, *extra.values()])),
                    **extra,
                }
                if await self._async_leneda_probe(
                    remote, {CONF_POD: main, **extra}, errors, placeholders
                ):
                    return await self._async_finish_remote(remote)
        schema = vol.Schema(
            {
                vol.Required(CONF_ENERGY_ID): TextSelector(),
                vol.Required(CONF_POD): TextSelector(),
                vol.Required(CONF_REGISTERS, default=["import"]): SelectSelector(
                    SelectSelectorConfig(
                        options=list(LENEDA_REGISTERS),
                        multiple=True,
                        mode=SelectSelectorMode.LIST,
                        translation_key="leneda_register",
                    )
                ),
                vol.Optional(leneda.CONF_PRODUCTION_POD): TextSelector(),
                vol.Optional(leneda.CONF_GAS_POD): TextSelector(),
                vol.Required("confirm", default=False): BooleanSelector(),
            }
        )
        return self.async_show_form(  # type: ignore[attr-defined,no-any-return]
            step_id="remote_leneda",
            data_schema=self.add_suggested_values_to_schema(  # type: ignore[attr-defined]
                schema, user_input or self._leneda_suggested()
            ),
            description_placeholders={
                "local_meter": self._local_meter_id() or "-",
                **placeholders,
            },
            errors=errors,
        )

    async def _async_leneda_probe(
        self,
        remote: dict[str, Any],
        pods: Mapping[str, str],
        errors: dict[str, str],
        placeholders: dict[str, str],
    ) -> bool:
        """Read each POD's last days; fill errors (and what went wrong) on failure.

        ``pods`` maps the form's field to the POD typed there.
        """
        client = leneda.LenedaProvider.from_options(
            async_get_clientsession(self.hass),
            remote[CONF_API_KEY],
            remote[CONF_BASE_URL],
            remote,
        )
        missing: list[str] = []
        for field, pod in pods.items():
            try:
                codes = await client.probe(pod)
            except AuthError:
                errors["base"] = "invalid_api_key"
            except ConsentEndedError:
                errors[field] = "pod_not_shared"
                continue
            except InvalidResponseError as err:
                LOGGER.warning("Leneda's time series: %s", err)
                placeholders["reason"] = str(err)
                errors["base"] = "unexpected_answer"
            except RemoteError as err:
                LOGGER.debug("Leneda did not answer: %s", err)
                errors["base"] = "remote_unreachable"
            except Exception:
                LOGGER.exception("Unexpected error while reading Leneda")
                errors["base"] = "unknown"
            else:
                missing.extend(f"{code} ({pod})" for code in sorted(codes))
                continue
            return False  # the same for every POD: asked once
        if missing and not errors:
            placeholders["codes"] = ", ".join(missing)
            errors[CONF_REGISTERS] = "grant_missing"
        return not errors

    async def async_step_remote_mismatch(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for explicit consent: the point's meter is not the P1 meter."""
        errors: dict[str, str] = {}
        if user_input is not None:
            if user_input.get("confirm"):
                self._remote[CONF_TRUSTED_METERS] = [self._mismatch]
                return await self._async_finish_remote(self._remote)
            errors["base"] = "confirm_required"
        return self.async_show_form(  # type: ignore[attr-defined,no-any-return]
            step_id="remote_mismatch",
            data_schema=vol.Schema(
                {vol.Required("confirm", default=False): BooleanSelector()}
            ),
            description_placeholders={
                "remote_meter": self._mismatch,
                "local_meter": self._local_meter_id() or "-",
            },
            errors=errors,
        )


class SlimmeMeterConfigFlow(RemoteSteps, ConfigFlow, domain=DOMAIN):
    """Set up a smart meter."""

    VERSION = 2

    def __init__(self) -> None:
        """Start with nothing chosen."""
        self._data: dict[str, Any] = {}
        self._detected: Detected | None = None

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> SlimmeMeterOptionsFlow:
        """Return the options flow."""
        return SlimmeMeterOptionsFlow()

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose how the meter is connected."""
        return self.async_show_menu(
            step_id="user", menu_options=[CONNECTION_SERIAL, CONNECTION_NETWORK]
        )

    async def async_step_serial(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick a serial port and the specification."""
        errors: dict[str, str] = {}
        if user_input is not None and (
            path := _serial_path(user_input[CONF_SERIAL_PORT], errors)
        ):
            self._data = {
                CONF_CONNECTION: CONNECTION_SERIAL,
                CONF_SERIAL_PORT: path,
                CONF_SPEC: user_input[CONF_SPEC],
            }
            if (result := await self._async_find_meter(errors)) is not None:
                return result
        schema = vol.Schema(
            {
                vol.Required(CONF_SERIAL_PORT): await _port_selector(self.hass),
                vol.Required(CONF_SPEC, default=SPEC_AUTO): _spec_selector(),
            }
        )
        return self.async_show_form(
            step_id="serial",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
        )

    async def async_step_network(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Enter a network bridge's address and the specification."""
        errors: dict[str, str] = {}
        if user_input is not None:
            endpoint = _network_endpoint(user_input, errors)
            if endpoint is not None:
                self._data = {
                    CONF_CONNECTION: CONNECTION_NETWORK,
                    CONF_HOST: endpoint.host,
                    CONF_PORT: endpoint.port,
                    CONF_SPEC: user_input[CONF_SPEC],
                }
                if (result := await self._async_find_meter(errors)) is not None:
                    return result
        schema = vol.Schema(
            {
                vol.Required(CONF_HOST): TextSelector(),
                vol.Required(CONF_PORT, default=DEFAULT_NETWORK_PORT): NumberSelector(
                    NumberSelectorConfig(
                        min=1, max=MAX_PORT, mode=NumberSelectorMode.BOX
                    )
                ),
                vol.Required(CONF_SPEC, default=SPEC_AUTO): _spec_selector(),
            }
        )
        return self.async_show_form(
            step_id="network",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
        )

    async def async_step_usb(self, discovery_info: UsbServiceInfo) -> ConfigFlowResult:
        """Offer a P1 cable that was plugged in."""
        path = await self.hass.async_add_executor_job(
            get_serial_by_id, discovery_info.device
        )
        await self.async_set_unique_id(f"usb:{discovery_info.serial_number or path}")
        self._abort_if_unique_id_configured()
        for entry in self._async_current_entries():
            if entry.data.get(CONF_SERIAL_PORT) == path:
                return self.async_abort(reason="already_configured")
        self._data = {
            CONF_CONNECTION: CONNECTION_SERIAL,
            CONF_SERIAL_PORT: path,
            CONF_SPEC: SPEC_AUTO,
        }
        self.context["title_placeholders"] = {"port": path}
        return await self.async_step_usb_confirm()

    async def async_step_usb_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Listen on the discovered cable once the user agrees."""
        errors: dict[str, str] = {}
        if user_input is not None and (result := await self._async_find_meter(errors)):
            return result
        return self.async_show_form(
            step_id="usb_confirm",
            description_placeholders={"port": self._data[CONF_SERIAL_PORT]},
            errors=errors,
        )

    async def async_step_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Enter the keys of an encrypted meter."""
        errors: dict[str, str] = {}
        if user_input is not None and self._valid_keys(
            user_input, errors, required=True
        ):
            self._data.update(_keys(user_input))
            if (result := await self._async_find_meter(errors)) is not None:
                return result
        return self.async_show_form(
            step_id="key",
            data_schema=self.add_suggested_values_to_schema(_key_schema(), user_input),
            errors=errors,
        )

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show what was found; create the entry."""
        detected = self._detected
        assert detected is not None
        if user_input is not None:
            return await self.async_step_remote_offer()
        return self.async_show_form(
            step_id="confirm",
            description_placeholders=_found(detected, self._data),
        )

    async def async_step_remote_offer(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Offer to import history from the grid operator as well."""
        return self.async_show_menu(
            step_id="remote_offer", menu_options=["remote", "finish"]
        )

    async def async_step_finish(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Create the entry with the local path only."""
        assert self._detected is not None
        return self.async_create_entry(title=_title(self._detected), data=self._data)

    def _local_meter_id(self) -> str | None:
        return self._data.get(CONF_EQUIPMENT_ID)

    async def _async_finish_remote(self, remote: dict[str, Any]) -> ConfigFlowResult:
        assert self._detected is not None
        return self.async_create_entry(
            title=_title(self._detected),
            data=self._data,
            options={CONF_REMOTE: remote},
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change port, address, specification or key of an existing meter."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        serial = entry.data.get(CONF_CONNECTION) == CONNECTION_SERIAL
        if user_input is not None:
            data = {**entry.data, CONF_SPEC: user_input[CONF_SPEC]}
            if serial:
                data[CONF_SERIAL_PORT] = _serial_path(
                    user_input[CONF_SERIAL_PORT], errors
                )
            elif (endpoint := _network_endpoint(user_input, errors)) is not None:
                data[CONF_HOST], data[CONF_PORT] = endpoint.host, endpoint.port
            if self._valid_keys(user_input, errors) and not errors:
                data.pop(CONF_ENCRYPTION_KEY, None)
                data.pop(CONF_AUTHENTICATION_KEY, None)
                data.update(_keys(user_input))
                self._data = data
                detected = await self._async_detect(errors)
                if detected is not None:
                    ident = _unique_id(detected, data)
                    other = self.hass.config_entries.async_entry_for_domain_unique_id(
                        DOMAIN, ident
                    )
                    if other is not None and other.entry_id != entry.entry_id:
                        return self.async_abort(reason="already_configured")
                    if ident != entry.unique_id:
                        LOGGER.info(
                            "Meter replaced behind %s", Endpoint.from_data(data)
                        )
                    return self._async_update_and_reload(
                        entry, unique_id=ident, data=self._data
                    )
        fields: dict[Any, Any] = {}
        if serial:
            fields[vol.Required(CONF_SERIAL_PORT)] = await _port_selector(self.hass)
        else:
            fields[vol.Required(CONF_HOST)] = TextSelector()
            fields[vol.Required(CONF_PORT)] = NumberSelector(
                NumberSelectorConfig(min=1, max=MAX_PORT, mode=NumberSelectorMode.BOX)
            )
        fields[vol.Required(CONF_SPEC)] = _spec_selector()
        schema = vol.Schema(fields).extend(_key_schema().schema)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                schema, user_input or dict(entry.data)
            ),
            errors=errors,
        )

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Ask for a new key: the meter's, or the consent service's."""
        if entry_data.get("reauth") == "api_key":
            return await self.async_step_reauth_remote()
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_remote(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for a new API key after the consent service refused the old one."""
        entry = self._get_reauth_entry()
        remote = dict(entry.options.get(CONF_REMOTE, {}))
        if not remote:
            # Switched off since the key was refused: no key left to replace.
            return self.async_abort(reason="remote_not_linked")
        errors: dict[str, str] = {}
        if user_input is not None:
            api_key = _api_key(user_input[CONF_API_KEY], errors)
            kind = provider_type(remote.get(CONF_PROVIDER))
            base_url = remote.get(CONF_BASE_URL) or kind.default_base_url
            if (
                not errors
                and await self._async_points(
                    kind.name, api_key, base_url, errors, remote
                )
                is not None
            ):
                remote[CONF_API_KEY] = api_key
                self.hass.config_entries.async_update_entry(
                    entry, options={**entry.options, CONF_REMOTE: remote}
                )
                return self.async_abort(reason="reauth_successful")
        return self.async_show_form(
            step_id="reauth_remote",
            data_schema=vol.Schema({vol.Required(CONF_API_KEY): TextSelector()}),
            description_placeholders={
                "meter": entry.title,
                "reason": self._unreadable or "-",
            },
            errors=errors,
        )

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Enter the meter's current key."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None and self._valid_keys(
            user_input, errors, required=True
        ):
            self._data = {
                key: value
                for key, value in entry.data.items()
                if key not in (CONF_ENCRYPTION_KEY, CONF_AUTHENTICATION_KEY)
            } | _keys(user_input)
            detected = await self._async_detect(errors)
            if detected is not None:
                if _unique_id(detected, self._data) != entry.unique_id:
                    return self.async_abort(reason="wrong_meter")
                return self._async_update_and_reload(entry, data=self._data)
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=self.add_suggested_values_to_schema(_key_schema(), user_input),
            description_placeholders={"endpoint": str(Endpoint.from_data(entry.data))},
            errors=errors,
        )

    def _async_update_and_reload(
        self, entry: ConfigEntry, **changes: Any
    ) -> ConfigFlowResult:
        """Store new settings; a loaded entry reloads itself when they change."""
        if entry.state is ConfigEntryState.LOADED:
            # Not async_update_and_abort: Home Assistant 2025.4 does not have it.
            self.hass.config_entries.async_update_entry(entry, **changes)
            return self.async_abort(
                reason="reconfigure_successful"
                if self.source == SOURCE_RECONFIGURE
                else "reauth_successful"
            )
        return self.async_update_reload_and_abort(entry, **changes)

    def _valid_keys(
        self,
        user_input: Mapping[str, Any],
        errors: dict[str, str],
        *,
        required: bool = False,
    ) -> bool:
        """Check the key fields; with required, the encryption key must be there."""
        for field in (CONF_ENCRYPTION_KEY, CONF_AUTHENTICATION_KEY):
            value = (user_input.get(field) or "").strip()
            if value and not KEY_PATTERN.match(value):
                errors[field] = "invalid_key"
            elif not value and required and field == CONF_ENCRYPTION_KEY:
                errors[field] = "needs_key"
        return not errors

    async def _async_detect(self, errors: dict[str, str]) -> Detected | None:
        """Listen for a valid telegram with the collected settings."""
        data = self._data
        spec = data[CONF_SPEC]
        holder = self._entry_reading_port(data)
        if holder is not None:
            # Its reader holds the serial port, which opens only once at a time.
            await self.hass.config_entries.async_unload(holder.entry_id)
        try:
            detected = await detect(
                Endpoint.from_data(data),
                VALIDATION_TIMEOUT,
                spec_id=None if spec == SPEC_AUTO else spec,
                key=data.get(CONF_ENCRYPTION_KEY),
                auth_key=data.get(CONF_AUTHENTICATION_KEY),
            )
        except DetectError as err:
            if err.reason == "needs_key" and not data.get(CONF_ENCRYPTION_KEY):
                errors["base"] = "needs_key"
            else:
                errors["base"] = err.reason
            return None
        except Exception:
            LOGGER.exception("Unexpected error while looking for the meter")
            errors["base"] = "unknown"
            return None
        finally:
            # Not a reload: that would abort this flow if it is a reauth.
            if holder is not None and holder.state is ConfigEntryState.NOT_LOADED:
                await self.hass.config_entries.async_setup(holder.entry_id)
        data[CONF_SPEC] = detected.spec.id
        data[CONF_EQUIPMENT_ID] = detected.snapshot.equipment_id
        self._detected = detected
        return detected

    def _entry_reading_port(self, data: Mapping[str, Any]) -> ConfigEntry | None:
        """Return this flow's entry if it is loaded and reads the serial port."""
        if self.source == SOURCE_REAUTH:
            entry = self._get_reauth_entry()
        elif self.source == SOURCE_RECONFIGURE:
            entry = self._get_reconfigure_entry()
        else:
            return None
        port = data.get(CONF_SERIAL_PORT)
        if (
            port
            and entry.state is ConfigEntryState.LOADED
            and entry.data.get(CONF_SERIAL_PORT) == port
        ):
            return entry
        return None

    async def _async_find_meter(
        self, errors: dict[str, str]
    ) -> ConfigFlowResult | None:
        """Detect the meter; continue to the key step or the confirmation."""
        detected = await self._async_detect(errors)
        if errors.get("base") == "needs_key" or (
            detected is None
            and self._data[CONF_SPEC] in SPECS
            and SPECS[self._data[CONF_SPEC]].encrypted
            and not self._data.get(CONF_ENCRYPTION_KEY)
        ):
            errors.clear()
            return await self.async_step_key()
        if detected is None:
            return None
        await self.async_set_unique_id(
            _unique_id(detected, self._data), raise_on_progress=False
        )
        self._abort_if_unique_id_configured()
        return await self.async_step_confirm()


class SlimmeMeterOptionsFlow(ImportSteps, RemoteSteps, CostSteps, OptionsFlow):
    """Update policy, the remote path on or off, history from before, prices."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose what to change."""
        return self.async_show_menu(
            step_id="init",
            menu_options=["update_policy", "remote_manage", "import_history", "costs"],
        )

    async def async_step_update_policy(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Set the minimum interval per group (0 = write every change)."""
        errors: dict[str, str] = {}
        if user_input is not None:
            intervals = {
                key: _whole_number(value, 0, MAX_UPDATE_INTERVAL)
                for key, value in user_input.items()
            }
            errors = {
                key: "invalid_interval"
                for key, value in intervals.items()
                if value is None
            }
            if not errors:
                return self.async_create_entry(
                    data={**self.config_entry.options, **intervals}
                )
        selector = NumberSelector(
            NumberSelectorConfig(
                min=0,
                max=MAX_UPDATE_INTERVAL,
                step=1,
                unit_of_measurement="s",
                mode=NumberSelectorMode.BOX,
            )
        )
        schema = vol.Schema(
            {
                vol.Required(
                    CONF_LIVE_INTERVAL, default=DEFAULT_LIVE_INTERVAL
                ): selector,
                vol.Required(
                    CONF_COUNTER_INTERVAL, default=DEFAULT_COUNTER_INTERVAL
                ): selector,
            }
        )
        return self.async_show_form(
            step_id="update_policy",
            data_schema=self.add_suggested_values_to_schema(
                schema, user_input or dict(self.config_entry.options)
            ),
            errors=errors or None,
        )

    def _linked_base_url(self) -> str:
        """Return the address in use: linking again keeps it unless changed."""
        remote = self.config_entry.options.get(CONF_REMOTE, {})
        kind = provider_type(remote.get(CONF_PROVIDER))
        return str(remote.get(CONF_BASE_URL) or kind.default_base_url)

    async def async_step_remote_manage(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Link the remote path, or change or stop it."""
        if CONF_REMOTE not in self.config_entry.options:
            return await self.async_step_remote()
        return self.async_show_menu(
            step_id="remote_manage", menu_options=["remote", "remote_disable"]
        )

    async def async_step_remote_disable(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Stop importing history; what was imported and live data stay."""
        return self.async_create_entry(
            data={
                key: value
                for key, value in self.config_entry.options.items()
                if key != CONF_REMOTE
            }
        )

    def _local_meter_id(self) -> str | None:
        return self.config_entry.data.get(CONF_EQUIPMENT_ID)

    def _linked_remote(self) -> Mapping[str, Any]:
        return self.config_entry.options.get(CONF_REMOTE) or {}

    async def _async_finish_remote(self, remote: dict[str, Any]) -> ConfigFlowResult:
        return self.async_create_entry(
            data={**self.config_entry.options, CONF_REMOTE: remote}
        )


def valid_ean(ean: str) -> bool:
    """Return whether an EAN is 18 digits with a valid GS1 check digit."""
    if not EAN_PATTERN.fullmatch(ean):
        return False
    digits = [int(digit) for digit in ean]
    weighted = sum(
        digit * (3 if index % 2 == 0 else 1)
        for index, digit in enumerate(reversed(digits[:-1]))
    )
    return (10 - weighted % 10) % 10 == digits[-1]


def _key_schema() -> vol.Schema:
    return vol.Schema(
        {
            vol.Optional(CONF_ENCRYPTION_KEY): TextSelector(),
            vol.Optional(CONF_AUTHENTICATION_KEY): TextSelector(),
        }
    )


def _whole_number(value: float, low: int, high: int) -> int | None:
    """Return a number field's value as an int when whole and from low to high.

    The form's number selector lets NaN through, and fractions.
    """
    number = float(value)
    if not math.isfinite(number) or not number.is_integer():
        return None
    return int(number) if low <= number <= high else None


def _printable(text: str) -> bool:
    """Return whether text is one line without control characters or blanks."""
    return text.isprintable() and not any(char.isspace() for char in text)


def _check_host(host: str) -> None:
    """Raise ValueError unless host is an IP address or a name DNS can hold."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        # UnicodeError, a ValueError, for empty labels and labels over 63 bytes.
        name = host.rstrip(".").encode("idna")
        if not name or len(name) > MAX_HOST_NAME or b":" in name:
            raise ValueError(f"not a host name: {host}") from None


def _parse_host(text: str, port: int) -> Endpoint:
    """Parse the host field: a host, host:port, socket://host:port, or IPv6."""
    text = text.strip()
    if not _printable(text):
        raise ValueError(f"not a network address: {text!r}")
    try:
        if ipaddress.ip_address(text).version == 6:
            # Without brackets an IPv6 address cannot carry a port.
            return Endpoint(host=text, port=port)
    except ValueError:
        pass
    url = urlsplit(text if "://" in text else f"socket://{text}")
    # Port 0 or text after the address would otherwise be left out silently.
    if (
        url.port == 0
        or url.username is not None
        or url.path.strip("/")
        or url.query
        or url.fragment
    ):
        raise ValueError(f"not a network address: {text!r}")
    endpoint = parse_network_address(text, port)
    _check_host(endpoint.host or "")
    return endpoint


def _network_endpoint(
    user_input: Mapping[str, Any], errors: dict[str, str]
) -> Endpoint | None:
    """Return the bridge's address from the host and port fields, or fill errors."""
    port = _whole_number(user_input[CONF_PORT], 1, MAX_PORT)
    if port is None:
        errors[CONF_PORT] = "invalid_port"
    try:
        endpoint = _parse_host(user_input[CONF_HOST], port or DEFAULT_NETWORK_PORT)
    except ValueError:
        errors[CONF_HOST] = "invalid_host"
        return None
    return None if port is None else endpoint


def _serial_path(value: str, errors: dict[str, str]) -> str | None:
    """Return the serial port's path, or fill errors when it cannot be one."""
    path = value.strip()
    if not path or not path.isprintable():
        errors[CONF_SERIAL_PORT] = "invalid_serial_port"
        return None
    return path


def _api_key(value: str, errors: dict[str, str]) -> str:
    """Return the API key without blanks around it; fill errors if malformed."""
    api_key = value.strip()
    if not API_KEY_PATTERN.fullmatch(api_key):
        errors[CONF_API_KEY] = "invalid_api_key_format"
    return api_key


def _is_service_url(text: str) -> bool:
    """Return whether text is an http(s) address with a host, without a query."""
    if not _printable(text):
        return False
    try:
        url = urlsplit(text)
        port = url.port  # ValueError when out of range or not a number
        if url.hostname:
            _check_host(url.hostname)
    except ValueError:
        return False
    return (
        url.scheme.lower() in ("http", "https")
        and bool(url.hostname)
        and port != 0
        and not url.query
        and not url.fragment
    )


def _base_url(value: str | None, errors: dict[str, str]) -> str:
    """Return the service's address without a trailing slash; check its form.

    The error goes to the section holding the field: the frontend shows a
    form's errors by the names of its top-level fields (and base) only.
    """
    text = (value or "").strip() or provider_type(DEFAULT_PROVIDER).default_base_url
    if not _is_service_url(text):
        errors[SECTION_ADVANCED] = "invalid_url"
    return text.rstrip("/")


def _keys(user_input: Mapping[str, Any]) -> dict[str, str]:
    return {
        field: value.strip().upper()
        for field in (CONF_ENCRYPTION_KEY, CONF_AUTHENTICATION_KEY)
        if (value := user_input.get(field) or "").strip()
    }


def _unique_id(detected: Detected, data: Mapping[str, Any]) -> str:
    """Return the meter's equipment id, or its header and port without one."""
    return (
        detected.snapshot.equipment_id
        or f"{detected.snapshot.header}@{Endpoint.from_data(data)}"
    )


def _title(detected: Detected) -> str:
    return title(detected.snapshot.header or "")


def _found(detected: Detected, data: Mapping[str, Any]) -> dict[str, str]:
    snapshot = detected.snapshot
    return {
        "specification": detected.spec.name,
        "settings": str(detected.serial) if data.get(CONF_SERIAL_PORT) else "TCP",
        "meter": snapshot.header or "-",
        "equipment_id": snapshot.equipment_id or "-",
        "mbus": ", ".join(
            f"{device.channel}: {device.equipment_id or '-'}"
            for device in snapshot.mbus
        )
        or "-",
    }
