"""Options-flow steps: bring in the history of the integration used before.

Pick a source statistic per series, see what the import would do, confirm
(explicitly when the source's register is not ours where they join), and
optionally point the Energy dashboard at our statistics.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntryState, ConfigFlowResult
from homeassistant.helpers.selector import (
    BooleanSelector,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
from homeassistant.util import dt as dt_util

try:
    import probatio as vol
except ImportError:  # Home Assistant before 2026.10 validates with voluptuous
    import voluptuous as vol  # type: ignore[no-redef]

from .energy_dashboard import async_repoint
from .history import UNITS, MergedHistory, Series, statistic_id
from .history_import import (
    SeriesPlan,
    SourceError,
    async_apply,
    async_candidates,
    async_plan,
)

if TYPE_CHECKING:
    from homeassistant.config_entries import OptionsFlow

    _Base = OptionsFlow
else:
    _Base = object

CONF_CONFIRM_MISMATCH = "confirm_mismatch"
CONF_ENERGY_DASHBOARD = "energy_dashboard"


class ImportSteps(_Base):
    """The options flow's steps that import another integration's history."""

    _plans: list[SeriesPlan]
    _dashboard: list[str]

    def _history(self) -> MergedHistory | None:
        entry = self.config_entry
        if entry.state is not ConfigEntryState.LOADED:
            return None
        history: MergedHistory | None = entry.runtime_data.history
        return history

    async def async_step_import_history(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick a statistic to import per series."""
        history = self._history()
        if history is None:
            return self.async_abort(reason="import_unavailable")
        candidates = await async_candidates(self.hass)
        if not any(candidates.values()):
            return self.async_abort(reason="no_import_sources")
        errors: dict[str, str] = {}
        placeholders = {"statistic_id": ""}
        if user_input is not None:
            choices = {
                series: user_input[series.value]
                for series in Series
                if user_input.get(series.value)
            }
            if not choices:
                errors["base"] = "import_nothing_chosen"
            else:
                try:
                    self._plans = await async_plan(self.hass, history, choices)
                except SourceError as err:
                    errors["base"] = err.key
                    placeholders["statistic_id"] = err.statistic_id
                else:
                    return await self.async_step_import_preview()
        schema = vol.Schema(
            {
                vol.Optional(series.value): SelectSelector(
                    SelectSelectorConfig(
                        options=[
                            SelectOptionDict(
                                value=item.statistic_id,
                                label=f"{item.name} ({item.statistic_id}, {item.unit})",
                            )
                            for item in found
                        ],
                        mode=SelectSelectorMode.DROPDOWN,
                    )
                )
                for series, found in candidates.items()
                if found
            }
        )
        return self.async_show_form(
            step_id="import_history",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or {}),
            errors=errors or None,
            description_placeholders=placeholders,
        )

    async def async_step_import_preview(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show what the import adds; import once confirmed."""
        return await self._async_preview("import_preview", user_input)

    async def async_step_import_mismatch(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """As the preview, with a register at the join that is not ours."""
        return await self._async_preview("import_mismatch", user_input)

    async def _async_preview(
        self, step_id: str, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        history = self._history()
        if history is None:
            return self.async_abort(reason="import_unavailable")
        mismatched = [item for item in self._plans if item.mismatch]
        if mismatched and step_id == "import_preview":
            step_id = "import_mismatch"
        replacements = {
            item.statistic_id: statistic_id(history.meter, item.series)
            for item in self._plans
        }
        errors: dict[str, str] = {}
        if user_input is not None:
            if mismatched and not user_input.get(CONF_CONFIRM_MISMATCH):
                errors[CONF_CONFIRM_MISMATCH] = "confirm_required"
            else:
                hours = await async_apply(history, self._plans)
                repointed = 0
                if user_input.get(CONF_ENERGY_DASHBOARD):
                    done = await async_repoint(self.hass, replacements, apply=True)
                    repointed = len(done.replaced)
                return self.async_abort(
                    reason="import_done",
                    description_placeholders={
                        "hours": str(hours),
                        "dashboard": str(repointed),
                    },
                )
        fields: dict[Any, Any] = {}
        dashboard = await async_repoint(self.hass, replacements, apply=False)
        if dashboard.replaced:
            fields[vol.Optional(CONF_ENERGY_DASHBOARD, default=False)] = (
                BooleanSelector()
            )
        if mismatched:
            fields[vol.Required(CONF_CONFIRM_MISMATCH, default=False)] = (
                BooleanSelector()
            )
        return self.async_show_form(
            step_id=step_id,
            data_schema=vol.Schema(fields),
            errors=errors or None,
            description_placeholders={
                "table": "\n".join(_row(item) for item in self._plans),
                "joins": "\n".join(_join_row(item) for item in mismatched),
                "dashboard": ", ".join(dashboard.replaced) or "-",
                "priced": ", ".join(dashboard.priced) or "-",
            },
        )


def _local(epoch: int | None) -> str:
    if epoch is None:
        return "-"
    return dt_util.as_local(datetime.fromtimestamp(epoch, UTC)).strftime(
        "%Y-%m-%d %H:%M"
    )


def _amount(thousandths: int, series: Series) -> str:
    return f"{thousandths / 1000:.3f} {UNITS[series]}"


def _row(item: SeriesPlan) -> str:
    """One series in the preview table (a Markdown row)."""
    start = None if item.first is None else item.first - 3600
    return (
        f"| {item.statistic_id} | {_local(start)} | {_local(item.last)}"
        f" | {item.added} | {item.overlapping} | {item.disagreeing}"
        f" | {_amount(item.largest_difference, item.series)}"
        f" | {_drops(item.drops)} |"
    )


def _drops(hours: list[int], shown: int = 3) -> str:
    """Return the first few drops of the register, and how many more."""
    text = ", ".join(_local(hour) for hour in hours[:shown]) or "-"
    return f"{text} (+{len(hours) - shown})" if len(hours) > shown else text


def _join_row(item: SeriesPlan) -> str:
    """Return a register at the join that is not ours (a Markdown row)."""
    assert item.join is not None
    return (
        f"| {item.statistic_id} | {_local(item.join.hour_end)}"
        f" | {_amount(item.join.source, item.series)}"
        f" | {_amount(item.join.ours, item.series)} |"
    )
