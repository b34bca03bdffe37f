"""Set up a fresh Home Assistant the way a person would, over its APIs.

Onboarding (owner ``dev``), a long-lived token, the home's location and time
zone, the simulated dynamic price (:mod:`devtools.simulated_prices`) with its
history, the Slimme Meter entry (P1 over the network plus the P4 consent API),
its prices, and the Energy dashboard on the merged history and its costs.
Every step checks first whether it is already done, so a second run on the
same configuration only logs in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
import time
from typing import Any

from simulators.leneda import DEFAULT_ENERGY_ID, DEFAULT_GAS_POD, DEFAULT_POD

from .hass import HassClient, HassError, Websocket
from .simulated_prices import const as simulated_prices

DOMAIN = "slimme_meter"
PRICE_DOMAIN = simulated_prices.DOMAIN
PRICE_ENTITY = simulated_prices.ENTITY_ID
USER = "dev"
PASSWORD = "slimme-meter"  # noqa: S105 - a local development instance
USER_NAME = "Developer"
TOKEN_FILE = ".dev_token"  # noqa: S105 - a file name
TOKEN_CLIENT_NAME = "scripts/develop"  # noqa: S105 - shown in the profile
TOKEN_LIFESPAN_DAYS = 3650
HTTP_NOT_FOUND = 404
HTTP_UNAUTHORIZED = 401
STATISTICS_TIMEOUT = 300.0
FLOW_DONE = "create_entry"
LENEDA_ENERGY_ID = DEFAULT_ENERGY_ID
LENEDA_POD = DEFAULT_POD
LENEDA_GAS_POD = DEFAULT_GAS_POD

CORE_CONFIG = {
    "location_name": "Slimme Meter (development)",
    "latitude": 52.3731,
    "longitude": 4.8922,
    "elevation": 0,
    "unit_system": "metric",
    "time_zone": "Europe/Amsterdam",
    "currency": "EUR",
    "country": "NL",
}
"""The home: Amsterdam, like the simulated meter and its grid operator."""


@dataclass(frozen=True, slots=True)
class Stack:
    """Where the simulators of the development stack listen."""

    p1_host: str
    p1_port: int
    p4_url: str
    api_key: str
    provider: str = "nl_p4"
    """The consent service behind ``p4_url`` (``nl_p4`` or ``lu_leneda``)."""
    p1_key: str | None = None
    """The decryption key of an encrypted P1 meter (a Luxembourg Smarty)."""


def log(message: str) -> None:
    """Print one line of progress."""
    print(f"develop: {message}", flush=True)


# ------------------------------------------------------------------ tokens


async def _exchange(client: HassClient, code: str) -> str:
    """Trade an authorization code for an access token."""
    answer = await client.request(
        "POST",
        "/auth/token",
        form={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": _client_id(client),
        },
    )
    return str(answer["access_token"])


def _client_id(client: HassClient) -> str:
    return f"{client.base_url}/"


async def onboarding_done(client: HassClient) -> bool:
    """Return whether the owner exists (the onboarding's first step is done)."""
    try:
        steps = await client.get("/api/onboarding")
    except HassError as err:
        if err.status == HTTP_NOT_FOUND:  # onboarding finished long ago
            return True
        raise
    return any(step["step"] == "user" and step["done"] for step in steps)


async def onboard(client: HassClient) -> str:
    """Create the owner and finish the onboarding; return an access token."""
    client_id = _client_id(client)
    answer = await client.post(
        "/api/onboarding/users",
        {
            "client_id": client_id,
            "name": USER_NAME,
            "username": USER,
            "password": PASSWORD,
            "language": "en",
        },
    )
    client.token = await _exchange(client, answer["auth_code"])
    async with client.websocket() as ws:
        await ws.command("config/core/update", **CORE_CONFIG)
    for step, body in (
        ("core_config", {}),
        ("analytics", {}),
        ("integration", {"client_id": client_id, "redirect_uri": client_id}),
    ):
        try:
            await client.post(f"/api/onboarding/{step}", body)
        except HassError as err:
            if err.status != HTTP_NOT_FOUND:  # not a step of this version
                raise
    return client.token


async def login(client: HassClient) -> str:
    """Log in as the owner with the password; return an access token."""
    client_id = _client_id(client)
    flow = await client.post(
        "/auth/login_flow",
        {
            "client_id": client_id,
            "handler": ["homeassistant", None],
            "redirect_uri": client_id,
        },
    )
    answer = await client.post(
        f"/auth/login_flow/{flow['flow_id']}",
        {"client_id": client_id, "username": USER, "password": PASSWORD},
    )
    if answer.get("type") != FLOW_DONE:
        msg = f"cannot log in as {USER!r}: {answer.get('errors')}"
        raise HassError(msg)
    return await _exchange(client, answer["result"])


async def token_works(client: HassClient, token: str) -> bool:
    """Return whether Home Assistant accepts ``token``."""
    probe = HassClient(client.base_url, token)
    async with probe:
        try:
            await probe.get("/api/")
        except HassError as err:
            if err.status == HTTP_UNAUTHORIZED:
                return False
            raise
    return True


async def ensure_token(client: HassClient, config: Path) -> bool:
    """Log in with ``<config>/.dev_token``, or onboard and write it.

    Returns whether the instance was onboarded now (a fresh configuration).
    """
    path = config / TOKEN_FILE
    if path.exists():
        token = path.read_text().strip()
        if token and await token_works(client, token):
            client.token = token
            return False
    fresh = not await onboarding_done(client)
    if fresh:
        log(f"onboarding: owner {USER!r}")
        client.token = await onboard(client)
    else:
        client.token = await login(client)
    async with client.websocket() as ws:
        token = await ws.command(
            "auth/long_lived_access_token",
            client_name=TOKEN_CLIENT_NAME,
            lifespan=TOKEN_LIFESPAN_DAYS,
        )
    path.write_text(f"{token}\n")
    path.chmod(0o600)
    client.token = str(token)
    return fresh


async def wait_until_running(client: HassClient, timeout: float) -> None:
    """Wait until Home Assistant has set up everything and runs.

    Its HTTP server answers before every integration is set up.
    """
    deadline = time.monotonic() + timeout
    while (await client.get("/api/config")).get("state", "RUNNING") != "RUNNING":
        if time.monotonic() > deadline:
            msg = f"Home Assistant did not finish starting in {timeout:.0f} s"
            raise HassError(msg)
        await asyncio.sleep(0.5)


IGNORED_ISSUES = (
    ("http", "deprecated_yaml"),
    ("http", "yaml_still_present_after_migration"),
    ("homeassistant", "deprecated_method"),
)
"""Home Assistant's repair issues about how the stack runs it, not about the meter.

The http: block of configuration.yaml (moved into storage in 2026.10; the
stack keeps it for older releases) and the Core installation method (a
virtual environment).
"""


async def settle_http(ws: Websocket) -> list[str]:
    """Keep the stack's HTTP settings (127.0.0.1, the port) for good.

    Home Assistant 2026.10 moved the HTTP settings from configuration.yaml
    into its storage: it tries the YAML ones as a "pending" configuration and,
    unless a person confirms them within five minutes, restarts with its
    defaults (all interfaces, port 8123). Confirm them (``http/config/promote``)
    and ignore the repair issues about how the stack runs Home Assistant
    (:data:`IGNORED_ISSUES`), so that Repairs shows the meter's own. Returns
    what was done, for the log.
    """
    done: list[str] = []
    try:
        http = await ws.command("http/config")
    except HassError as err:
        if err.code == "unknown_command":  # before 2026.10: YAML is the config
            return await ignore_issues(ws)
        raise
    if http.get("pending") and http.get("active_config_type") == "pending":
        await ws.command("http/config/promote")
        done.append("confirmed the HTTP settings (127.0.0.1 only)")
    return done + await ignore_issues(ws)


async def ignore_issues(ws: Websocket) -> list[str]:
    """Ignore the repair issues of :data:`IGNORED_ISSUES` that are raised."""
    done = []
    issues = await ws.command("repairs/list_issues")
    for issue in issues.get("issues", []):
        key = (issue.get("domain"), issue.get("issue_id"))
        if key in IGNORED_ISSUES and not issue.get("ignored"):
            await ws.command(
                "repairs/ignore_issue", domain=key[0], issue_id=key[1], ignore=True
            )
            done.append(f"ignored Home Assistant's repair issue {key[0]}/{key[1]}")
    return done


# ------------------------------------------------------------------- entry


async def find_entry(client: HassClient, domain: str = DOMAIN) -> dict[str, Any] | None:
    """Return the Slimme Meter config entry (or another domain's), if there is one."""
    entries = await client.get(f"/api/config/config_entries/entry?domain={domain}")
    mine = [entry for entry in entries if entry.get("domain") == domain]
    return mine[0] if mine else None


ONBOARDING_EXTRAS = frozenset(
    {"google_translate", "met", "radio_browser", "shopping_list"}
)
"""What Home Assistant's onboarding adds by itself; they need the internet."""


async def remove_onboarding_extras(client: HassClient) -> list[str]:
    """Remove the entries the onboarding added by itself; return their domains."""
    removed = []
    for entry in await client.get("/api/config/config_entries/entry"):
        if entry.get("source") == "onboarding" and entry["domain"] in ONBOARDING_EXTRAS:
            await client.request(
                "DELETE", f"/api/config/config_entries/entry/{entry['entry_id']}"
            )
            removed.append(str(entry["domain"]))
    return removed


def _select_values(step: dict[str, Any], name: str) -> list[str]:
    """Return the option values of a select field of a form step."""
    for field in step.get("data_schema") or []:
        if field.get("name") == name:
            options = field.get("selector", {}).get("select", {}).get("options", [])
            return [o["value"] if isinstance(o, dict) else o for o in options]
    return []


type Answers = dict[str, Callable[[dict[str, Any]], dict[str, Any]]]


def answers(stack: Stack) -> Answers:
    """Return what to enter at each step of the Slimme Meter config flow.

    An encrypted meter gets its decryption key in the key step, as a Luxembourg
    user enters the one the grid operator sent (the authentication key left
    empty: the Smarty's is the public one).
    """
    key: Answers = (
        {"key": lambda _: {"encryption_key": stack.p1_key}} if stack.p1_key else {}
    )
    return key | {
        "user": lambda _: {"next_step_id": "network"},
        "network": lambda _: {
            "host": stack.p1_host,
            "port": stack.p1_port,
            "specification": "auto",
        },
        "confirm": lambda _: {},
        "remote_offer": lambda _: {"next_step_id": "remote"},
        "remote": lambda _: {
            "provider": stack.provider,
            "api_key": stack.api_key,
            # The address field is in the step's (collapsed) Advanced section.
            "advanced": {"base_url": stack.p4_url},
        },
        "remote_points": lambda step: {"eans": _select_values(step, "eans")},
        "remote_leneda": lambda _: {
            "energy_id": LENEDA_ENERGY_ID,
            "pod": LENEDA_POD,
            "registers": ["import", "export", "gas"],
            "gas_pod": LENEDA_GAS_POD,
            "confirm": True,
        },
        "remote_mismatch": lambda _: {"confirm": True},
    }


async def create_entry(client: HassClient, stack: Stack) -> dict[str, Any]:
    """Add the meter through the config flow, as the UI would."""
    return await run_flow(client, answers(stack))


async def run_flow(
    client: HassClient, replies: Answers, handler: str = DOMAIN
) -> dict[str, Any]:
    """Run the Slimme Meter config flow (or another's) with ``replies``.

    Returns the entry.
    """
    step = await client.post("/api/config/config_entries/flow", {"handler": handler})
    url = f"/api/config/config_entries/flow/{step['flow_id']}"
    for _ in range(len(replies) + 1):
        if step["type"] == FLOW_DONE:
            return dict(step["result"])
        if step.get("errors"):
            msg = f"config flow step {step['step_id']!r}: {step['errors']}"
            raise HassError(msg)
        step_id = step.get("step_id")
        if step["type"] not in ("form", "menu") or step_id not in replies:
            msg = f"unexpected config flow step: {step}"
            raise HassError(msg)
        log(f"config flow: {step_id}")
        step = await client.post(url, replies[step_id](step))
    msg = f"the config flow did not finish: {step}"
    raise HassError(msg)


async def add_price_sensor(client: HassClient, days: int) -> dict[str, Any]:
    """Add the simulated dynamic price with ``days`` days of price history."""
    return await run_flow(
        client,
        {"user": lambda _: {simulated_prices.CONF_DAYS: days}},
        handler=PRICE_DOMAIN,
    )


async def price_history_hours(ws: Websocket, days: int) -> int:
    """Return how many of the last ``days`` days' hours have a price statistic."""
    now = time.time()
    start = now - now % 3600 - days * 86400
    answer = await ws.command(
        "recorder/statistics_during_period",
        start_time=datetime.fromtimestamp(start, UTC).isoformat(),
        statistic_ids=[PRICE_ENTITY],
        period="hour",
        types=["mean"],
    )
    return len(answer.get(PRICE_ENTITY, []))


async def wait_for_price_history(
    ws: Websocket, days: int, timeout: float = STATISTICS_TIMEOUT
) -> int:
    """Wait until the price sensor's past hours are in the recorder.

    Slimme Meter reads them when it computes the costs of the history it
    imports, so they must be there first. Returns the hours found.
    """
    deadline = time.monotonic() + timeout
    # The hour running now is compiled by the recorder at its end.
    while (hours := await price_history_hours(ws, days)) < days * 24 - 1:
        if time.monotonic() > deadline:
            msg = (
                f"{PRICE_ENTITY} has {hours} hours of price history "
                f"after {timeout:.0f} s"
            )
            raise HassError(msg)
        await asyncio.sleep(0.5)
    return hours


async def set_prices(client: HassClient, entry_id: str) -> dict[str, Any]:
    """Set the development prices in the options flow, as the UI would."""
    url = "/api/config/config_entries/options/flow"
    step = await client.post(url, {"handler": entry_id})
    for reply in ({"next_step_id": "costs"}, PRICES):
        if step.get("errors"):
            msg = f"options flow step {step.get('step_id')!r}: {step['errors']}"
            raise HassError(msg)
        step = await client.post(f"{url}/{step['flow_id']}", reply)
    if step["type"] != FLOW_DONE:
        msg = f"the options flow did not finish: {step}"
        raise HassError(msg)
    return dict(step)


# ------------------------------------------------------------------ energy

SERIES = ("electricity_import", "electricity_export", "gas")
COSTS = ("electricity_import_cost", "electricity_export_compensation", "gas_cost")
# A Dutch household's prices (2026, taxes included): a dynamic contract for
# electricity (the simulated quarter-hour price), a low/normal pair for the
# compensation of export, a fixed gas price, and the supply and grid charges
# per day.
PRICES = {
    "electricity_import_price_entity": PRICE_ENTITY,
    "electricity_export_price": 0.09,
    "electricity_export_price_low": 0.07,
    "gas_price": 1.38,
    "daily_charge": 1.25,
    "tariff_schedule": "netherlands",
}


def grid_source(
    import_id: str,
    export_id: str | None,
    cost_id: str | None = None,
    compensation_id: str | None = None,
) -> dict[str, Any]:
    """Return an Energy grid source in the current shape (one import/export pair)."""
    return {
        "type": "grid",
        "stat_energy_from": import_id,
        "stat_energy_to": export_id,
        "stat_cost": cost_id,
        "entity_energy_price": None,
        "number_energy_price": None,
        "stat_compensation": compensation_id if export_id else None,
        "entity_energy_price_export": None,
        "number_energy_price_export": None,
        "cost_adjustment_day": 0,
    }


def legacy_grid_source(
    import_id: str,
    export_id: str | None,
    cost_id: str | None = None,
    compensation_id: str | None = None,
) -> dict[str, Any]:
    """Return the grid source in the older shape (flow_from / flow_to lists)."""
    return {
        "type": "grid",
        "flow_from": [
            {
                "stat_energy_from": import_id,
                "stat_cost": cost_id,
                "entity_energy_price": None,
                "number_energy_price": None,
            }
        ],
        "flow_to": [
            {
                "stat_energy_to": export_id,
                "stat_compensation": compensation_id,
                "entity_energy_price": None,
                "number_energy_price": None,
            }
        ]
        if export_id
        else [],
        "cost_adjustment_day": 0,
    }


def gas_source(gas_id: str, cost_id: str | None = None) -> dict[str, Any]:
    """Return an Energy gas source."""
    return {
        "type": "gas",
        "stat_energy_from": gas_id,
        "stat_cost": cost_id,
        "entity_energy_price": None,
        "number_energy_price": None,
    }


def pick_statistics(ids: list[str]) -> dict[str, str]:
    """Return the meter's import, export and gas statistic ids among ``ids``."""
    found: dict[str, str] = {}
    for ident in sorted(ids):
        if not ident.startswith(f"{DOMAIN}:"):
            continue
        for series in (*SERIES, *COSTS):
            if ident.endswith(f"_{series}"):
                found.setdefault(series, ident)
    return found


async def wait_for_statistics(
    ws: Websocket,
    timeout: float = STATISTICS_TIMEOUT,
    needed: frozenset[str] = frozenset({*SERIES, *COSTS}),
) -> dict[str, str]:
    """Wait until the backfill wrote the ``needed`` statistics; return their ids."""
    deadline = time.monotonic() + timeout
    while True:
        listed = await ws.command("recorder/list_statistic_ids", statistic_type="sum")
        found = pick_statistics([item["statistic_id"] for item in listed])
        if needed <= found.keys():
            return found
        if time.monotonic() > deadline:
            if "electricity_import" in found:
                return found
            msg = f"no statistics of {DOMAIN} after {timeout:.0f} s"
            raise HassError(msg)
        await asyncio.sleep(1.0)


async def energy_configured(ws: Websocket) -> bool:
    """Return whether the Energy dashboard has sources already."""
    try:
        prefs = await ws.command("energy/get_prefs")
    except HassError as err:
        if err.code == "not_found":  # no preferences saved yet
            return False
        raise
    return bool(prefs and prefs.get("energy_sources"))


async def configure_energy(ws: Websocket, found: dict[str, str]) -> None:
    """Point the Energy dashboard at the meter's merged history."""
    grid = (
        found["electricity_import"],
        found.get("electricity_export"),
        found.get("electricity_import_cost"),
        found.get("electricity_export_compensation"),
    )
    extra = [gas_source(found["gas"], found.get("gas_cost"))] if "gas" in found else []
    try:
        await ws.command(
            "energy/save_prefs",
            energy_sources=[grid_source(*grid), *extra],
        )
    except HassError:
        # Older releases (2025.4 among them) know only flow_from/flow_to lists.
        await ws.command(
            "energy/save_prefs",
            energy_sources=[legacy_grid_source(*grid), *extra],
        )
