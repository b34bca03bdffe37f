"""Writing hourly statistics rows in bulk: one recorder job, three statements.

Home Assistant's own way to write statistics (``async_add_external_statistics``)
looks every row up on its own and adds it through the ORM session, whose
autoflush then inserts it before the next look-up: a SELECT and an INSERT per
row, 0.7 to 2 ms a row on a small machine. A two-year history with costs is
over 100 000 rows, so that alone took one to four minutes.

This module writes a batch of rows of one statistic with one SELECT of the
rows that exist in the batch's hours, one bulk UPDATE of those and one bulk
INSERT of the rest (executemany, no ORM objects: on SQLite, ORM objects are
still inserted one statement per row, since each needs its new id back), in
a job on the recorder's queue. The job runs in order with the recorder's
other work (a clear of the statistic queued before it is done before it), on
the recorder's thread, never on the event loop. What it writes is what
``async_add_external_statistics`` writes: the same metadata, the columns
``Statistics.from_stats`` fills (the legacy datetime columns stay NULL, as
there), and on an hour that has a row the columns the recorder's import
updates.

Recorder internals used, the same from Home Assistant 2025.4 through 2026.10:

- ``tasks.RecorderTask`` and ``Recorder.queue_task``: a job in the recorder's
  queue, as ``async_add_external_statistics`` queues its own;
- ``Recorder.statistics_meta_manager.get_many`` and ``update_or_add``: the
  statistic's metadata, added, updated and cached exactly as the recorder's
  import does it;
- ``db_schema.Statistics``: the table and its columns;
- ``util.retryable_database_job`` and
  ``util.filter_unique_constraint_integrity_error``: the retry of a job that
  met a locked database and the duplicate-row filter of the recorder's
  import (with the public ``helpers.recorder.session_scope``).

The same validation as ``async_add_external_statistics`` runs before the job
is queued: the statistic id, its source, rows on whole hours and no naive
times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
import time
from typing import TYPE_CHECKING, Any, override

from homeassistant.components.recorder.db_schema import Statistics
from homeassistant.components.recorder.models import StatisticData, StatisticMetaData
from homeassistant.components.recorder.statistics import (
    split_statistic_id,
    valid_statistic_id,
)
from homeassistant.components.recorder.tasks import RecorderTask
from homeassistant.components.recorder.util import (
    filter_unique_constraint_integrity_error,
    retryable_database_job,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.recorder import get_instance, session_scope
from homeassistant.util import dt as dt_util
from sqlalchemy import insert, select, update

if TYPE_CHECKING:
    from homeassistant.components.recorder.core import Recorder


@callback
def async_write_statistics(
    hass: HomeAssistant,
    metadata: StatisticMetaData,
    statistics: Sequence[StatisticData],
) -> None:
    """Queue a write of hourly rows of one external statistic.

    Takes what ``async_add_external_statistics`` takes and writes the same
    rows: an hour that has a row is updated, any other inserted.
    """
    statistic_id = metadata["statistic_id"]
    if not valid_statistic_id(statistic_id):
        raise HomeAssistantError("Invalid statistic_id")
    domain, _ = split_statistic_id(statistic_id)
    if not metadata["source"] or metadata["source"] != domain:
        raise HomeAssistantError("Invalid source")
    for statistic in statistics:
        start = statistic["start"]
        if start.tzinfo is None or start.tzinfo.utcoffset(start) is None:
            raise HomeAssistantError("Naive timestamp: no or invalid timezone info")
        if start.minute or start.second or start.microsecond:
            raise HomeAssistantError("Invalid timestamp: not the top of the hour")
        if start.tzinfo is not UTC:
            statistic["start"] = dt_util.as_utc(start)
        last_reset = statistic.get("last_reset")
        if last_reset is not None and (
            last_reset.tzinfo is None or last_reset.tzinfo.utcoffset(last_reset) is None
        ):
            raise HomeAssistantError("Naive timestamp: last_reset")
    if statistics:
        get_instance(hass).queue_task(WriteStatisticsTask(metadata, statistics))


@dataclass(slots=True)
class WriteStatisticsTask(RecorderTask):
    """A recorder job: write a batch of hourly rows of one statistic."""

    metadata: StatisticMetaData
    statistics: Sequence[StatisticData]

    @override
    def run(self, instance: Recorder) -> None:
        """Write the rows; queue the job again if the database was busy."""
        if not write_statistics(instance, self.metadata, self.statistics):
            instance.queue_task(WriteStatisticsTask(self.metadata, self.statistics))


@retryable_database_job("statistics")
def write_statistics(
    instance: Recorder,
    metadata: StatisticMetaData,
    statistics: Sequence[StatisticData],
) -> bool:
    """Write the rows in one session; return False to be run again."""
    # The last row of an hour wins, as it would written one by one.
    by_start = {row["start"].timestamp(): row for row in statistics}
    with session_scope(
        session=instance.get_session(),
        exception_filter=filter_unique_constraint_integrity_error(
            instance, "statistic"
        ),
    ) as session:
        manager = instance.statistics_meta_manager
        known = manager.get_many(session, statistic_ids={metadata["statistic_id"]})
        _, metadata_id = manager.update_or_add(session, metadata, known)
        existing: dict[float | None, int] = {
            row.start_ts: row.id
            for row in session.execute(
                select(Statistics.start_ts, Statistics.id).where(
                    Statistics.metadata_id == metadata_id,
                    Statistics.start_ts >= min(by_start),
                    Statistics.start_ts <= max(by_start),
                )
            ).all()
        }
        updates: list[dict[str, Any]] = []
        inserts: list[dict[str, Any]] = []
        now = time.time()
        for start, row in by_start.items():
            last_reset = row.get("last_reset")
            columns = {
                "mean": row.get("mean"),
                "min": row.get("min"),
                "max": row.get("max"),
                "last_reset_ts": last_reset.timestamp() if last_reset else None,
                "state": row.get("state"),
                "sum": row.get("sum"),
            }
            if (row_id := existing.get(start)) is not None:
                # What the recorder's import sets on an existing row.
                updates.append({"id": row_id, **columns})
            else:
                # What Statistics.from_stats fills; the legacy columns stay NULL.
                inserts.append(
                    {
                        "metadata_id": metadata_id,
                        "created_ts": now,
                        "start_ts": start,
                        "mean_weight": row.get("mean_weight"),
                        **columns,
                    }
                )
        if updates:
            session.execute(update(Statistics), updates)
        if inserts:
            session.execute(insert(Statistics), inserts)
    return True
