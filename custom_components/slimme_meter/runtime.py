"""The one object per config entry: both paths of one meter and their state.

It runs the P1 reader and holds what it saw (the latest snapshot, the link
state, counters, the reconnect history), records the registers at each hour
boundary into the merged history, and runs the remote path when one is
configured. Entities subscribe to it and read from it; nothing else keeps
connection state.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
import time
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from .const import (
    BACKOFF_INITIAL,
    BACKOFF_MAX,
    CONF_COUNTER_INTERVAL,
    CONF_EQUIPMENT_ID,
    CONF_LIVE_INTERVAL,
    CONF_REMOTE,
    DEFAULT_COUNTER_INTERVAL,
    DEFAULT_LIVE_INTERVAL,
    DOMAIN,
    LOGGER,
    STALL_FACTOR,
)
from .costs import CostHistory
from .history import MergedHistory, Series, milli
from .p1.decode import DecryptionError, Snapshot, TelegramError
from .p1.reader import LinkState, P1Reader, Stream
from .remote.anchor import Overlap
from .remote.api import RemoteState
from .remote.lifecycle import RemoteLifecycle
from .remote.sync import RemoteSync
from .repairs import sync_issues
from .tasks import cancel

if TYPE_CHECKING:
    from .p1.connection import Endpoint
    from .p1.decode import Decoder

type SlimmeMeterConfigEntry = ConfigEntry[MeterRuntime]

# Consecutive undecryptable frames after which the key is taken to be wrong.
DECRYPTION_FAILURES_FOR_REAUTH = 3
# Consecutive rejected telegrams after which one warning is logged.
REJECTS_BEFORE_WARNING = 3
# A register read this long after an hour began still counts as the boundary's.
BOUNDARY_TOLERANCE = 60
MBUS_SERIES = {"gas": Series.GAS, "water": Series.WATER}


@dataclass(slots=True)
class Counters:
    """What the local path has seen since setup."""

    received: int = 0
    rejected: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    lenient_lines: int = 0  # lines read without their bytes outside ASCII
    reconnects: int = 0
    history: deque[tuple[datetime, str, str | None]] = field(
        default_factory=lambda: deque(maxlen=20)
    )


def update_intervals(options: Mapping[str, Any]) -> dict[str, float]:
    """Return each update group's minimum seconds between writes."""
    return {
        "live": float(options.get(CONF_LIVE_INTERVAL, DEFAULT_LIVE_INTERVAL)),
        "counter": float(options.get(CONF_COUNTER_INTERVAL, DEFAULT_COUNTER_INTERVAL)),
    }


class MeterRuntime:
    """Runtime data of one entry: the local and remote path of one meter."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: SlimmeMeterConfigEntry,
        endpoint: Endpoint,
        decoder: Decoder,
        history: MergedHistory | None = None,
        *,
        costs: CostHistory | None = None,
    ) -> None:
        """Create the reader; start() runs it."""
        self.hass = hass
        self.entry = entry
        self.history = history
        self.costs = costs
        self._remote = RemoteLifecycle(
            hass,
            entry,
            local_meter=lambda: self.entry.data.get(CONF_EQUIPMENT_ID),
            on_change=self._remote_changed,
        )
        self.data = dict(entry.data)  # what this runtime was set up with
        self.remote_options: dict[str, Any] | None = None
        self._hour: int | None = None
        self._quarter: int | None = None
        self._mbus_stamps: dict[int, datetime | None] = {}
        self.spec = decoder.spec
        self.snapshot: Snapshot | None = None
        self.state = LinkState.CONNECTING
        self.last_telegram: datetime | None = None
        self.counters = Counters()
        self.intervals = update_intervals(entry.options)
        self.reader = P1Reader(
            endpoint,
            decoder,
            on_snapshot=self._on_snapshot,
            on_state=self._on_state,
            on_reject=self._on_reject,
            backoff_initial=BACKOFF_INITIAL,
            backoff_max=BACKOFF_MAX,
            stall_factor=STALL_FACTOR,
        )
        self._listeners: list[Callable[[], None]] = []
        self._layout_listeners: list[Callable[[Snapshot], None]] = []
        self._consecutive_rejects = 0
        self._outage_logged = False
        self._task: asyncio.Task[None] | None = None

    @property
    def available(self) -> bool:
        """Return whether live data flows."""
        return self.state is LinkState.CONNECTED

    def start(self, stream: Stream) -> None:
        """Run the reader in the background on an opened stream."""
        self._task = self.entry.async_create_background_task(
            self.hass,
            self.reader.run(stream),
            f"{DOMAIN} reader {self.reader.endpoint}",
        )

    async def stop(self) -> None:
        """Stop both paths, close the port and keep the history."""
        await cancel(self._task)
        self._task = None
        await self._remote.stop()
        if self.history is not None:
            await self.history.async_save()
        if self.costs is not None:
            await self.costs.async_save()

    @property
    def remote(self) -> RemoteSync | None:
        """Return the running remote path, if any."""
        return self._remote.sync

    async def async_configure_remote(self) -> None:
        """Start, restart or stop the remote path as the entry's options say."""
        config: dict[str, Any] | None = self.entry.options.get(CONF_REMOTE)
        self.remote_options = config
        await self._remote.configure(config, self.history)
        self._remote_changed()

    @callback
    def _remote_changed(self) -> None:
        remote = self.remote
        sync_issues(
            self.hass,
            self.entry.entry_id,
            self.entry.title,
            remote.state if remote else None,
            remote.mismatched_meter if remote else None,
            failing=remote.last_error if remote and remote.failing else None,
            implausible=_energy(remote.implausible) if remote else None,
            missing_grants=remote.missing_grants if remote else (),
        )
        if remote is not None and remote.state is RemoteState.AUTH_FAILED:
            self.entry.async_start_reauth(
                self.hass, data={**self.entry.data, "reauth": "api_key"}
            )
        self._notify()

    @property
    def remote_state(self) -> RemoteState:
        """Return the state of the remote path."""
        return self.remote.state if self.remote else RemoteState.NOT_CONFIGURED

    @property
    def active_path(self) -> str:
        """Return which paths deliver data now."""
        local = self.available
        remote = self.remote is not None and self.remote.delivering
        if local:
            return "local_and_remote" if remote else "local_only"
        return "remote_only" if remote else "none"

    async def async_remove_remote_history(self) -> int:
        """Delete what the remote path imported; local readings stay."""
        assert self.history is not None
        removed = await self.history.async_remove_remote()
        self._notify()
        return removed

    def _record_history(self, snapshot: Snapshot, history: MergedHistory) -> None:
        """Record registers at hour boundaries: once an hour, cheap otherwise."""
        now = time.time()
        hour = int(now) // 3600
        changed = False
        quarter = int(now) // 900
        if quarter != self._quarter and not snapshot.dropped:
            self._quarter = quarter
            if quarter % 4 and self.costs is not None:
                self._record_quarter(snapshot, self.costs, now, quarter * 900)
        # A telegram that lost a line to a damaged byte leaves the hour's
        # boundary to the next whole one (a second later).
        if hour != self._hour and not snapshot.dropped:
            self._hour = hour
            if self.costs is not None:
                # The tariff in force in the hour that began (once an hour).
                self.costs.record_tariff(hour * 3600, snapshot.value("96.14.0"))
            if now - hour * 3600 <= BOUNDARY_TOLERANCE:
                boundary = datetime.fromtimestamp(hour * 3600, UTC)
                for direction, series in (
                    (1, Series.ELECTRICITY_IMPORT),
                    (2, Series.ELECTRICITY_EXPORT),
                ):
                    if (value := snapshot.total(direction)) is not None:
                        changed |= history.record_local(series, boundary, value)
        for device in snapshot.mbus:
            stamp = device.measured_at
            if stamp == self._mbus_stamps.get(device.channel):
                continue
            self._mbus_stamps[device.channel] = stamp
            mbus_series = MBUS_SERIES.get(device.kind or "")
            if (
                mbus_series is not None
                and stamp is not None
                and device.reading is not None
                and not stamp.minute
                and not stamp.second
            ):
                changed |= history.record_local(mbus_series, stamp, device.reading)
        if changed:
            if (remote := self.remote) is not None:
                remote.local_recorded()
            self.entry.async_create_background_task(
                self.hass, history.async_write(), f"{DOMAIN} history write"
            )

    @staticmethod
    def _record_quarter(
        snapshot: Snapshot, costs: CostHistory, now: float, boundary: int
    ) -> None:
        """Keep the registers at a quarter-hour within the hour (for costs)."""
        if now - boundary > BOUNDARY_TOLERANCE:
            return
        moment = datetime.fromtimestamp(boundary, UTC)
        for direction, series in (
            (1, Series.ELECTRICITY_IMPORT),
            (2, Series.ELECTRICITY_EXPORT),
        ):
            if (value := snapshot.total(direction)) is not None:
                costs.record_quarters(series, [(moment, milli(value))])

    @callback
    def async_add_listener(self, listener: Callable[[], None]) -> CALLBACK_TYPE:
        """Call listener after every telegram and every state change."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @callback
    def async_add_layout_listener(
        self, listener: Callable[[Snapshot], None]
    ) -> CALLBACK_TYPE:
        """Call listener when the set of values or M-Bus devices changes."""
        self._layout_listeners.append(listener)
        if self.snapshot is not None:
            listener(self.snapshot)
        return lambda: self._layout_listeners.remove(listener)

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()

    @callback
    def _on_snapshot(self, snapshot: Snapshot) -> None:
        previous, self.snapshot = self.snapshot, snapshot
        self.last_telegram = dt_util.utcnow()
        self.counters.received += 1
        self.counters.lenient_lines += snapshot.lenient
        self._consecutive_rejects = 0
        if self.history is not None:
            self._record_history(snapshot, self.history)
        if snapshot.equipment_id != self.entry.data.get(CONF_EQUIPMENT_ID):
            self._check_meter(snapshot)
        if (
            previous is None
            or snapshot.objects.keys() != previous.objects.keys()
            or len(snapshot.mbus) != len(previous.mbus)
        ):
            for listener in self._layout_listeners:
                listener(snapshot)
        self._notify()

    def _check_meter(self, snapshot: Snapshot) -> None:
        """Follow a meter swap behind the same port, keeping entities."""
        ident = snapshot.equipment_id
        known = self.entry.data.get(CONF_EQUIPMENT_ID)
        if not ident or not known or ident == known:
            return
        LOGGER.warning(
            "The meter at %s was replaced (%s became %s); its values continue in"
            " the same entities",
            self.reader.endpoint,
            known,
            ident,
        )
        self.data = {**self.entry.data, CONF_EQUIPMENT_ID: ident}
        self.hass.config_entries.async_update_entry(
            self.entry, unique_id=ident, data=self.data
        )
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            f"meter_replaced_{self.entry.entry_id}",
            is_fixable=False,
            is_persistent=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="meter_replaced",
            translation_placeholders={"old": known, "new": ident},
        )

    @callback
    def _on_state(self, state: LinkState, reason: str | None) -> None:
        previous, self.state = self.state, state
        now = dt_util.utcnow()
        if state is LinkState.CONNECTED:
            if self._outage_logged:
                LOGGER.info("The meter at %s is back", self.reader.endpoint)
            self._outage_logged = False
        elif state is LinkState.CONNECTING:
            if previous is not LinkState.CONNECTING and self.counters.history:
                self.counters.reconnects += 1
        elif not self._outage_logged:
            self._outage_logged = True
            LOGGER.warning(
                "The meter at %s is unavailable (%s); reconnecting in the background",
                self.reader.endpoint,
                reason,
            )
        else:
            LOGGER.debug(
                "Meter at %s still unavailable: %s", self.reader.endpoint, reason
            )
        self.counters.history.append((now, state.value, reason))
        if state is not LinkState.CONNECTED:
            # CONNECTED comes with a telegram: its snapshot notifies, so that
            # entities never show the values from before the outage as live.
            self._notify()

    @callback
    def _on_reject(self, err: TelegramError) -> None:
        counters = self.counters
        counters.rejected += 1
        counters.rejected_by_reason[err.reason] += 1
        self._consecutive_rejects += 1
        LOGGER.debug("Rejected telegram from %s: %s", self.reader.endpoint, err)
        if self._consecutive_rejects == REJECTS_BEFORE_WARNING:
            LOGGER.warning(
                "Telegrams from %s cannot be read (%s); check the specification,"
                " the port's speed or the key",
                self.reader.endpoint,
                err,
            )
        if (
            isinstance(err, DecryptionError)
            and self._consecutive_rejects == DECRYPTION_FAILURES_FOR_REAUTH
        ):
            self.entry.async_start_reauth(self.hass)
        self._notify()

    def interval(self, group: str | None) -> float:
        """Return the minimum seconds between state writes of a group."""
        return self.intervals.get(group, 0.0) if group else 0.0


def _energy(overlap: Overlap | None) -> str | None:
    """Return what both paths counted, for the repair; None when they agree."""
    if overlap is None:
        return None
    return (
        f"{overlap.hours} h: P1 {overlap.local / 1000:.3f} {overlap.unit},"
        f" {overlap.remote / 1000:.3f} {overlap.unit}"
    )
