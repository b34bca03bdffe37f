"""Repairs for the remote path: read-out off, consent ended, another meter.

And a failure of the remote path that has lasted more than a day, energy
that does not agree with the P1 port's, and registers whose consent is
missing while the others are imported (an issue of its own, beside the
path's state).

Each issue says plainly that live P1 data keeps flowing; only the history
import waits for the user.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from homeassistant.components.repairs import RepairsFlow
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.selector import TextSelector

from .const import (
    API_KEY_PATTERN,
    CONF_API_KEY,
    CONF_GRANTS,
    CONF_REMOTE,
    CONF_TRUSTED_METERS,
    DOMAIN,
)
from .remote.api import RemoteState

if TYPE_CHECKING:
    from homeassistant.components.repairs import RepairsFlowResult

try:
    import probatio as vol
except ImportError:  # Home Assistant before 2026.10 validates with voluptuous
    import voluptuous as vol  # type: ignore[no-redef]

ISSUES: dict[RemoteState | str, str] = {
    RemoteState.READOUT_SWITCHED_OFF: "readout_switched_off",
    RemoteState.CONSENT_ENDED: "consent_ended",
    RemoteState.NOT_REMOTELY_READABLE: "not_remotely_readable",
    "mismatch": "meter_mismatch",
    "implausible": "remote_implausible",
    "failing": "remote_failing",
}
GRANT_MISSING = "grant_missing"


def issue_id(kind: str, entry_id: str) -> str:
    """Return the id of an entry's issue of one kind."""
    return f"{kind}_{entry_id}"


def sync_issues(
    hass: HomeAssistant,
    entry_id: str,
    title: str,
    state: RemoteState | None,
    mismatched_meter: str | None,
    *,
    failing: str | None = None,
    implausible: str | None = None,
    missing_grants: Collection[tuple[str, str]] = (),
) -> None:
    """Raise the issue that matches the remote state; clear the others.

    ``failing`` is what the service answers when the same failure has
    lasted more than a day; ``implausible`` the energy both paths counted
    when they disagree; ``missing_grants`` the (metering point, register)
    pairs the consent does not cover (their own issue, while the others are
    imported).
    """
    _sync_grants(hass, entry_id, title, missing_grants)
    active = ISSUES["mismatch"] if mismatched_meter else ISSUES.get(state or "")
    if mismatched_meter and implausible:
        active = ISSUES["implausible"]
    if active is None and failing is not None:
        active = ISSUES["failing"]
    for kind in ISSUES.values():
        if kind != active:
            ir.async_delete_issue(hass, DOMAIN, issue_id(kind, entry_id))
    if active is None:
        return
    data: dict[str, str | int | float | None] = {
        "entry_id": entry_id,
        "meter_id": mismatched_meter or "",
    }
    if failing or implausible:
        data["reason"] = failing or implausible
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(active, entry_id),
        is_fixable=True,
        is_persistent=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=active,
        translation_placeholders={
            "meter": title,
            "remote_meter": mismatched_meter or "",
        },
        data=data,
    )


def _sync_grants(
    hass: HomeAssistant,
    entry_id: str,
    title: str,
    grants: Collection[tuple[str, str]],
) -> None:
    """Raise or clear the issue of registers the consent does not cover.

    The issue names each register with its metering point, as Leneda's web
    app asks for both when access is granted.
    """
    issue = issue_id(GRANT_MISSING, entry_id)
    if not grants:
        ir.async_delete_issue(hass, DOMAIN, issue)
        return
    codes = ", ".join(sorted({code for _, code in grants}))
    listed = ", ".join(f"{code} ({point})" for point, code in sorted(grants))
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue,
        is_fixable=True,
        is_persistent=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=GRANT_MISSING,
        translation_placeholders={"meter": title, "codes": listed},
        data={"entry_id": entry_id, "reason": listed, "codes": codes},
    )


class RemoteRepairFlow(RepairsFlow):
    """Fix an issue of the remote path of one entry."""

    def __init__(self, kind: str, data: dict[str, Any]) -> None:
        """Remember which entry and issue."""
        self.kind = kind
        self.entry_id = str(data["entry_id"])
        self.meter_id = str(data.get("meter_id") or "")
        self.reason = str(data.get("reason") or "")
        self.codes = str(data.get("codes") or "")

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Explain what happened and offer what fits the issue.

        The step's description is the explanation a person reads: Home
        Assistant shows a fixable issue's fix flow, not its description.
        """
        entry = self._entry()
        if entry is None:
            # The entry was removed: nothing is left to fix.
            return self.async_create_entry(data={})
        options = ["check_again", "disable_remote"]
        if self.kind == "consent_ended":
            options = ["new_key", "disable_remote"]
        elif self.kind in ("meter_mismatch", "remote_implausible"):
            options = ["trust_meter", "disable_remote"]
        elif self.kind == GRANT_MISSING:
            options = ["check_again", "skip_registers"]
        return self.async_show_menu(
            step_id="init",
            menu_options=options,
            description_placeholders={
                "meter": entry.title,
                "remote_meter": self.meter_id,
                "reason": self.reason,
            },
        )

    def _entry(self) -> Any:
        return self.hass.config_entries.async_get_entry(self.entry_id)

    def _update_remote(self, **changes: Any) -> None:
        entry = self._entry()
        remote = {**entry.options.get(CONF_REMOTE, {}), **changes}
        self.hass.config_entries.async_update_entry(
            entry, options={**entry.options, CONF_REMOTE: remote}
        )

    async def async_step_check_again(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Try the remote path again (after switching read-out back on)."""
        # No runtime data while the entry is not loaded; it checks at setup.
        runtime = getattr(self._entry(), "runtime_data", None)
        if runtime is not None and runtime.remote is not None:
            runtime.remote.request_sync()
        return self.async_create_entry(data={})

    async def async_step_disable_remote(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Turn the remote path off; imported history and live data stay."""
        entry = self._entry()
        options = {
            key: value for key, value in entry.options.items() if key != CONF_REMOTE
        }
        self.hass.config_entries.async_update_entry(entry, options=options)
        return self.async_create_entry(data={})

    async def async_step_trust_meter(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Import anyway: the user confirms the metering point is theirs."""
        entry = self._entry()
        trusted = [*entry.options.get(CONF_REMOTE, {}).get(CONF_TRUSTED_METERS, [])]
        self._update_remote(**{CONF_TRUSTED_METERS: [*trusted, self.meter_id]})
        return self.async_create_entry(data={})

    async def async_step_skip_registers(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Stop asking for the registers that are not granted."""
        entry = self._entry()
        missing = {code.strip() for code in self.codes.split(",")}
        grants = entry.options.get(CONF_REMOTE, {}).get(CONF_GRANTS) or []
        self._update_remote(
            **{CONF_GRANTS: [code for code in grants if code not in missing]}
        )
        return self.async_create_entry(data={})

    async def async_step_new_key(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Enter the API key of a new consent."""
        errors: dict[str, str] = {}
        if user_input is not None:
            api_key = user_input[CONF_API_KEY].strip()
            if API_KEY_PATTERN.fullmatch(api_key):
                self._update_remote(**{CONF_API_KEY: api_key})
                return self.async_create_entry(data={})
            errors[CONF_API_KEY] = "invalid_api_key_format"
        return self.async_show_form(
            step_id="new_key",
            data_schema=vol.Schema({vol.Required(CONF_API_KEY): TextSelector()}),
            errors=errors,
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    """Create the flow that fixes an issue."""
    kind = next(
        kind for kind in (*ISSUES.values(), GRANT_MISSING) if issue_id.startswith(kind)
    )
    return RemoteRepairFlow(kind, data or {})
