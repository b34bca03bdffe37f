"""Backfill and daily sync of the grid operator's readings into the history.

Runs as a background task: first a backfill of everything the source keeps,
page by page and resumable (the cursor is stored after every page), then one
sync a day when the previous day's readings become available, and a catch-up
at start-up. A failed page is tried again within minutes (at most
``RETRY_SHORT_MAX`` apart) from the stored cursor; only failures of the same
kind in a row lengthen the wait, up to ``RETRY_MAX``; a ``Retry-After`` is
waited exactly and lengthens nothing. A failure that lasts longer than
``FAILING_FOR`` is reported (a repair) until a page comes through again.
Consent ended, read-out switched off, a meter that cannot be read remotely, a
refused key or a metering point whose meter is not the P1 meter stop fetching
until the user acts; what was imported stays.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
import logging
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from ..const import DOMAIN
from ..history import MergedHistory, Series
from ..tasks import cancel
from .anchor import Overlap, UsageLedger
from .api import (
    STOPPED_STATES,
    Batch,
    Provider,
    Reading,
    Register,
    Rejection,
    RemoteError,
    RemoteState,
    UnavailableError,
)

_LOGGER = logging.getLogger(__name__)

SERIES: dict[Register, Series] = {
    Register.ELECTRICITY_IMPORT: Series.ELECTRICITY_IMPORT,
    Register.ELECTRICITY_EXPORT: Series.ELECTRICITY_EXPORT,
    Register.GAS: Series.GAS,
}
DAILY_SYNC_TIME = time(7, 30)  # the previous day's readings are there by then
RETRY_INITIAL = 60.0
RETRY_SHORT_MAX = 15 * 60.0  # while retries stay short
SHORT_RETRIES = 5  # failures of one kind in a row before the wait grows further
RETRY_MAX = 6 * 3600.0
FAILING_FOR = timedelta(days=1)  # a failure this long is reported
MAX_PAGES_PER_RUN = 10_000
# Energy both paths measured must agree this well (or within the floor, in
# Wh) once they overlap for a day, or the metering point is not this meter's.
PLAUSIBLE_SHARE = 0.05
PLAUSIBLE_FLOOR = 500
PLAUSIBLE_HOURS = 24
PLAUSIBLE_REGISTERS = (Register.ELECTRICITY_IMPORT, Register.GAS)
STORAGE_VERSION = 1


def retry_delay(failures: int) -> float:
    """Return the wait after ``failures`` failures of one kind in a row."""
    if failures <= SHORT_RETRIES:
        return min(RETRY_INITIAL * 2.0 ** (failures - 1), RETRY_SHORT_MAX)
    return min(RETRY_SHORT_MAX * 2.0 ** (failures - SHORT_RETRIES), RETRY_MAX)


def hourly(readings: Iterable[Reading]) -> dict[Series, list[tuple[datetime, int]]]:
    """Keep the readings that fall on a whole hour, per series."""
    result: dict[Series, list[tuple[datetime, int]]] = {}
    for reading in readings:
        moment = reading.time
        if moment.minute or moment.second or moment.microsecond:
            continue
        result.setdefault(SERIES[reading.register], []).append((moment, reading.value))
    return result


def within_hours(
    readings: Iterable[Reading],
) -> dict[Series, list[tuple[datetime, int]]]:
    """Keep the readings between whole hours (15-minute ones), per series."""
    result: dict[Series, list[tuple[datetime, int]]] = {}
    for reading in readings:
        moment = reading.time
        if moment.minute and not moment.second and not moment.microsecond:
            result.setdefault(SERIES[reading.register], []).append(
                (moment, reading.value)
            )
    return result


class RemoteSync:
    """The remote path of one meter."""

    def __init__(
        self,
        hass: HomeAssistant,
        provider: Provider,
        history: MergedHistory,
        eans: list[str],
        storage_key: str,
        *,
        meter_matches: Callable[[str], bool],
        on_change: Callable[[], None],
        name: str = "",
    ) -> None:
        """Set up; start() runs it. ``name`` is the meter's, for messages."""
        self.hass = hass
        self.provider = provider
        self.history = history
        self.eans = eans
        self.state = RemoteState.BACKFILLING
        self.last_sync: datetime | None = None
        self.last_error: str | None = None
        self.backfilled = False
        self.cursor: str | None = None
        self.readings_imported = 0
        self.rejections: Counter[str] = Counter()
        self.mismatched_meter: str | None = None
        self.name = name
        self.failing_since: datetime | None = None
        self.imported: dict[str, Any] = {}
        # A source without registers: its usages, anchored to the P1 port.
        self.ledger = UsageLedger()
        # (metering point, register) pairs the consent does not cover.
        self.missing_grants: frozenset[tuple[str, str]] = frozenset()
        # The metering point of each register, where the source says so.
        self.points: dict[Register, str] = {}
        self.implausible: Overlap | None = None
        # Series anchored with no P1 register after their newest usage: the
        # hour end of that usage. Their registers were assumed (from zero).
        self._floating: dict[Series, int] = {}
        self._failure_kind: str | None = None
        self._failing_reported = False
        self._failures = 0
        self._meter_matches = meter_matches
        self._on_change = on_change
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.remote.{storage_key}"
        )
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def delivering(self) -> bool:
        """Return whether the remote path delivers (or is about to)."""
        # Paused for another meter it delivers nothing until the user acts.
        return not self.mismatched_meter and self.state in (
            RemoteState.ACTIVE,
            RemoteState.BACKFILLING,
            RemoteState.AWAITING_DATA,
        )

    async def async_load(self) -> None:
        """Restore progress: the cursor and whether the backfill finished."""
        data = await self._store.async_load() or {}
        if sorted(data.get("eans") or self.eans) != sorted(self.eans):
            # Other connections were linked: fetch their whole history too.
            # What is already there merges again without changing anything.
            data = {}
        self.cursor = data.get("cursor")
        self.backfilled = bool(data.get("backfilled"))
        self.ledger = UsageLedger.from_json(data.get("usages"))
        self.missing_grants = frozenset(
            (str(grant[0]), str(grant[1]))
            for grant in data.get("missing_grants") or ()
            if isinstance(grant, list) and len(grant) == 2  # not the codes alone
        )
        if last := data.get("last_sync"):
            self.last_sync = dt_util.parse_datetime(last)
        if since := data.get("failing_since"):
            self.failing_since = dt_util.parse_datetime(since)
        if self.backfilled:
            self.state = RemoteState.ACTIVE
        # Not known until anchored again: checked at the next P1 register.
        self._floating = {
            SERIES[register]: 0 for register in {*self.ledger.fine, *self.ledger.coarse}
        }

    def start(self, create_task: Callable[..., asyncio.Task[None]]) -> None:
        """Run the sync loop in the background."""
        self._task = create_task(self._run(), f"{DOMAIN} remote sync")

    async def stop(self) -> None:
        """Stop the loop and keep the progress."""
        await cancel(self._task)
        self._task = None
        await self._save()

    def request_sync(self) -> None:
        """Sync now (an action, or the user fixed what stopped the path)."""
        if self.state in STOPPED_STATES or self.mismatched_meter:
            self.mismatched_meter = None
            self.implausible = None
            self._set_state(
                RemoteState.ACTIVE if self.backfilled else RemoteState.BACKFILLING
            )
        self._wake.set()

    @property
    def failing(self) -> bool:
        """Return whether the same failure has lasted longer than a day."""
        return (
            self.failing_since is not None
            and dt_util.utcnow() - self.failing_since > FAILING_FOR
        )

    async def _run(self) -> None:
        while True:
            # Cleared before the run: a request made during it runs it again.
            self._wake.clear()
            try:
                delay = await self.async_sync()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # never let the loop die
                delay = self._crashed(err)
            try:
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def _crashed(self, err: Exception) -> float:
        """Report a run that ended on an error nobody foresaw; try again."""
        reason = f"unexpected error: {err!r}"
        if reason != self.last_error:
            _LOGGER.error(
                "History import of %s failed", self.name or "a meter", exc_info=err
            )
        delay = self._failed(RemoteError(reason), kind="crash")
        self._set_state(RemoteState.FAILED)
        return delay if delay is not None else RETRY_MAX

    async def async_sync(self) -> float | None:
        """Fetch every page there is; return seconds until the next attempt."""
        if self.history.pending:
            # Rows a stopped write left out (Home Assistant stopped halfway
            # through a page): the page may bring nothing new when it is
            # read again, so they are written now, whatever comes next.
            await self.history.async_write()
        if self.state in STOPPED_STATES or self.mismatched_meter:
            return None  # until the user acts
        if not self.backfilled:
            self._set_state(RemoteState.BACKFILLING)
        run = _Run()
        try:
            for _ in range(MAX_PAGES_PER_RUN):
                batch = await self.provider.readings(self.eans, self.cursor)
                run.pages += 1
                if not await self._apply(batch, run):
                    return None
                if not batch.more:
                    break
        except RemoteError as err:
            return self._failed(err)
        self.backfilled = True
        self.last_sync = dt_util.utcnow()
        if run.temporary and not run.changed:
            # The grid operator could not deliver (faulty meter, outage): retry.
            await self._save()
            return self._failed(UnavailableError("the grid operator has no data yet"))
        self._recovered()
        await self._save()
        self._set_state(
            RemoteState.AWAITING_DATA
            if run.awaiting and not run.changed
            else RemoteState.ACTIVE
        )
        return self._until_daily_sync()

    def _recovered(self) -> None:
        """Count failures from zero again: a page came through."""
        if self.failing_since is not None or self.last_error is not None:
            self.failing_since = None
            self.last_error = None
            if self._failing_reported:
                self._failing_reported = False
                self._on_change()
        self._failure_kind = None
        self._failures = 0

    async def _apply(self, batch: Batch, run: _Run) -> bool:
        """Merge one page; return False when the path must stop."""
        for meter_id in batch.meter_ids:
            if not self._meter_matches(meter_id):
                self.mismatched_meter = meter_id
                _LOGGER.warning(
                    "The grid operator reports meter %s for this connection, which"
                    " is not the meter on the P1 port; history import is paused",
                    meter_id,
                )
                self._on_change()
                return False
        stop: Rejection | None = None
        for rejection in batch.rejections:
            self.rejections[rejection.code] += 1
            if rejection.state in STOPPED_STATES:
                stop = stop or rejection
                continue
            run.temporary = run.temporary or rejection.state is not None
            run.awaiting = run.awaiting or rejection.code == "010"
        for series, readings in within_hours(batch.readings).items():
            self.history.merge_quarters(series, readings)
        changed = 0
        for series, readings in hourly([*batch.daily, *batch.readings]).items():
            changed += self.history.merge_remote(series, readings)
        if not batch.more and batch.missing_grants != self.missing_grants:
            self.missing_grants = batch.missing_grants
            self._on_change()
        self.points.update(batch.points)
        if batch.usages:
            run.usages += self.ledger.add(batch.usages)
        if run.usages and not batch.more:
            # Anchored once a run, on its last page: anchoring walks the whole
            # ledger, which a backfill of many pages would do again and again.
            run.usages = 0
            changed += self._anchor()
            if not self._plausible():
                await self._save()
                return False
        self.readings_imported += changed
        run.changed += changed
        if changed:
            await self.history.async_write()
            self._on_change()
        self._count_imported(batch)
        # Also past a stopping rejection: the feed sends it once, and reading
        # it again would stop the path for good once the user fixed the cause.
        self.cursor = batch.cursor or self.cursor
        if stop is None and not (run.temporary and not changed):
            self._recovered()
        if stop is not None and stop.state is not None:
            # The fetch completed: all the source had before the refusal is in.
            self.last_sync = dt_util.utcnow()
            self.backfilled = True
            await self._save()
            self.last_error = f"{stop.code}: {stop.text or ''}".strip()
            _LOGGER.warning(
                "The grid operator refused the readings of %s (P4 %s); history"
                " import stops, live P1 data is not affected",
                self.name or "this meter",
                self.last_error,
            )
            self._set_state(stop.state)
            return False
        await self._save()
        return True

    def local_recorded(self) -> int:
        """Join assumed registers to the P1 port's as soon as it has one.

        Usages anchored before the P1 port had a register after them count
        from an assumed start; left so until the next sync, the first P1 hour
        would carry the whole difference as one hour's use. Returns how many
        readings changed (the caller writes the history).
        """
        if not self._floating or not self.delivering:
            return 0
        if not any(
            (self.history.last_local(series) or 0) > newest
            for series, newest in self._floating.items()
        ):
            return 0
        changed = self._anchor()
        self.readings_imported += changed
        return changed

    def _anchor(self) -> int:
        """Turn the usages kept into registers joined to the P1 port's."""
        changed = 0
        self._floating = {}
        for register in {*self.ledger.fine, *self.ledger.coarse}:
            series = SERIES[register]
            local = self.history.local_readings(series)
            readings = self.ledger.readings(register, local)
            if readings:
                newest = int(readings[-1][0].timestamp())
                if max(local, default=0) <= newest:
                    self._floating[series] = newest
            changed += self.history.replace_remote(series, readings)
            if readings:  # what the diagnostics show as imported
                self.imported[series.value] = {
                    "first": readings[0][0].isoformat(),
                    "last": readings[-1][0].isoformat(),
                    "readings": len(readings),
                }
        return changed

    def _plausible(self) -> bool:
        """Check a source without meter numbers against the P1 port's energy.

        Once both measured a day's hours of electricity import or of gas,
        they must agree; if not, the metering point is most likely not this
        meter's (import pauses until the user confirms it or unlinks it).
        """
        for register in PLAUSIBLE_REGISTERS:
            overlap = self.ledger.overlap(
                register, self.history.local_readings(SERIES[register])
            )
            if overlap.hours < PLAUSIBLE_HOURS or overlap.plausible(
                PLAUSIBLE_SHARE, PLAUSIBLE_FLOOR
            ):
                continue
            point = self.points.get(register) or self.eans[0]
            if self._meter_matches(point):
                continue  # the user confirmed it despite the difference
            self.implausible = overlap
            self.mismatched_meter = point
            _LOGGER.warning(
                "Over %d hours measured by both paths, the P1 port counted %.3f %s"
                " and metering point %s %.3f %s; history import is paused",
                overlap.hours,
                overlap.local / 1000,
                overlap.unit,
                point,
                overlap.remote / 1000,
                overlap.unit,
            )
            self._on_change()
            return False
        return True

    def _count_imported(self, batch: Batch) -> None:
        """Keep what was imported, for diagnostics: range and hours per series."""
        for series, readings in hourly([*batch.daily, *batch.readings]).items():
            seen = self.imported.setdefault(
                series.value, {"first": None, "last": None, "readings": 0}
            )
            times = [moment.isoformat() for moment, _ in readings]
            seen["readings"] += len(times)
            seen["first"] = min(filter(None, (seen["first"], *times)))
            seen["last"] = max(filter(None, (seen["last"], *times)))

    def _failed(self, err: RemoteError, kind: str | None = None) -> float | None:
        """Keep the failure; return when to try again (None: the user acts)."""
        self.last_error = str(err)
        self._set_state(err.state)
        if err.state in STOPPED_STATES:
            _LOGGER.warning("History import of %s stopped: %s", self.name, err)
            return None
        if err.retry_after is None:
            # A Retry-After is waited as asked and counts for nothing else.
            kind = kind or err.state.value
            if kind != self._failure_kind:
                self._failure_kind = kind
                self._failures = 0
            self._failures += 1
        if self.failing_since is None:
            self.failing_since = dt_util.utcnow()
        if self.failing and not self._failing_reported:
            self._failing_reported = True
            _LOGGER.warning(
                "History import of %s has failed for more than a day: %s; live"
                " P1 data is not affected",
                self.name or "a meter",
                err,
            )
            self._on_change()
        delay = (
            err.retry_after
            if err.retry_after is not None
            else retry_delay(self._failures)
        )
        log = (
            _LOGGER.warning
            if err.state is RemoteState.UNEXPECTED_ANSWER
            else _LOGGER.debug
        )
        if self._failures <= 1 or log is _LOGGER.debug:
            log(
                "History import of %s failed (%s); retrying in %.0f s",
                self.name or "a meter",
                err,
                delay,
            )
        return delay

    def _until_daily_sync(self) -> float:
        now = dt_util.now()
        next_run = datetime.combine(now.date(), DAILY_SYNC_TIME, now.tzinfo)
        if next_run <= now:
            next_run += timedelta(days=1)
        # Not next_run - now: with one tzinfo that is wall-clock time, an hour
        # off on the nights the clocks change.
        return next_run.timestamp() - now.timestamp()

    def _set_state(self, state: RemoteState) -> None:
        if state != self.state:
            self.state = state
            self._on_change()

    async def _save(self) -> None:
        await self._store.async_save(
            {
                "eans": self.eans,
                "cursor": self.cursor,
                "backfilled": self.backfilled,
                "last_sync": self.last_sync.isoformat() if self.last_sync else None,
                "failing_since": (
                    self.failing_since.isoformat() if self.failing_since else None
                ),
            }
            # Only a source without registers keeps its usages.
            | ({"usages": self.ledger.to_json()} if self.ledger else {})
            | (
                {"missing_grants": [list(pair) for pair in sorted(self.missing_grants)]}
                if self.missing_grants
                else {}
            )
        )

    async def async_forget(self) -> None:
        """Start over: the next sync backfills everything again."""
        self.cursor = None
        self.backfilled = False
        self.ledger = UsageLedger()
        await self._save()


@dataclass(slots=True)
class _Run:
    """What one sync run met."""

    changed: int = 0
    pages: int = 0
    usages: int = 0  # usages added and not yet anchored
    temporary: bool = False
    awaiting: bool = False
