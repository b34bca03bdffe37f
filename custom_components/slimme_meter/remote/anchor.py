"""Registers from a source that only knows usage: anchored to the P1 port.

Some consent services hand out energy used per interval (Leneda's quarter-hour
average power, a day or month total), never the meter's register. The merged
history keeps registers: ``state`` is the meter's register and ``sum`` grows by
its increases. This module keeps the usages seen and turns them into register
readings that join the registers the P1 port reported:

- Usages are kept per register: measured hours, and coarse spans (a day or a
  month) whose hours are not all measured. A coarse span gives a reading at
  its two ends only (and at measured hours inside it), so the merged history
  spreads it over its hours as estimated rows; once every hour of it is
  measured, the span is dropped.
- Contiguous usages form a segment with a running total from zero. A segment
  that overlaps a local reading takes that reading's offset (the newest one),
  so remote and local registers agree exactly there. A segment without one
  ends where the next known register begins (the energy of a hole in the
  data is unknown and is not invented), newest first, back from the P1
  readings. Segments with nothing known after them start where the one
  before ended, the first at zero: with no P1 reading at all the sums are
  right and ``state`` follows as soon as the first local register comes.
  The reading at such an assumed end is left out, so the merged history
  shows the hour there as estimated, never as measured.

Every run of the sync anchors everything again, so readings written before
the first P1 reading move to the meter's registers once there is one; the
merged history writes again only what changed.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .api import Register, Usage

HOUR = 3600


@dataclass(frozen=True, slots=True)
class Overlap:
    """Energy (or gas) of the hours both paths measured (thousandths)."""

    hours: int
    local: int
    remote: int
    unit: str = "kWh"

    def plausible(self, tolerance: float, floor: int) -> bool:
        """Return whether both agree within ``tolerance`` (or ``floor``)."""
        return abs(self.local - self.remote) <= max(tolerance * self.local, floor)


class UsageLedger:
    """The usages of one source, per register; their anchored readings."""

    def __init__(self) -> None:
        """Start empty; :meth:`from_json` restores a stored ledger."""
        self.fine: dict[Register, dict[int, int]] = {}
        self.coarse: dict[Register, dict[tuple[int, int], int]] = {}

    def __bool__(self) -> bool:
        """Return whether any usage is kept."""
        return any(self.fine.values()) or any(self.coarse.values())

    def add(self, usages: Iterable[Usage]) -> int:
        """Keep usages (a newer value of the same span replaces); count changes."""
        changed = 0
        for usage in usages:
            start = int(usage.start.timestamp())
            end = int(usage.end.timestamp())
            if end <= start or start % HOUR or end % HOUR:
                continue  # only whole hours can be rows
            if end - start == HOUR:
                hours = self.fine.setdefault(usage.register, {})
                if hours.get(start) != usage.value:
                    hours[start] = usage.value
                    changed += 1
            else:
                spans = self.coarse.setdefault(usage.register, {})
                if spans.get((start, end)) != usage.value:
                    spans[start, end] = usage.value
                    changed += 1
        return changed

    def _spans(self, register: Register) -> list[tuple[int, int, int]]:
        """Return the coarse spans still needed, shortest first where they overlap."""
        hours = self.fine.get(register, {})
        kept: list[tuple[int, int, int]] = []
        for (start, end), value in sorted(
            self.coarse.get(register, {}).items(), key=lambda kv: kv[0][1] - kv[0][0]
        ):
            if all(hour in hours for hour in range(start, end, HOUR)):
                continue  # measured throughout: the hours replace it
            if any(start < e and s < end for s, e, _ in kept):
                continue  # a finer span already covers part of it
            kept.append((start, end, value))
        return sorted(kept)

    def segments(self, register: Register) -> list[list[tuple[int, int]]]:
        """Return the contiguous runs as (time, running total from zero)."""
        hours = self.fine.get(register, {})
        spans = self._spans(register)
        inside: set[int] = set()
        pieces: list[tuple[int, int, int, list[tuple[int, int]]]] = []
        for start, end, value in spans:
            inner: list[tuple[int, int]] = []
            total = 0
            for hour in range(start, end - HOUR, HOUR):
                if hour not in hours:
                    break  # only the measured hours from the start are exact
                total += hours[hour]
                if total > value:
                    break
                inner.append((hour + HOUR, total))
            inside.update(range(start, end, HOUR))
            pieces.append((start, end, value, inner))
        pieces.extend(
            (hour, hour + HOUR, value, [])
            for hour, value in hours.items()
            if hour not in inside
        )
        pieces.sort()
        segments: list[list[tuple[int, int]]] = []
        previous_end: int | None = None
        for start, end, value, inner in pieces:
            if start != previous_end:
                segments.append([(start, 0)])
            points = segments[-1]
            base = points[-1][1]
            points.extend((moment, base + total) for moment, total in inner)
            points.append((end, base + value))
            previous_end = end
        return segments

    def readings(
        self, register: Register, local: Mapping[int, int]
    ) -> list[tuple[datetime, int]]:
        """Return the register at every known hour end, anchored to ``local``.

        ``local`` maps an hour end (epoch seconds) to the register the P1 port
        reported there, in thousandths.
        """
        segments = self.segments(register)
        if not segments:
            return []
        times = sorted(local)
        count = len(segments)
        offsets: list[int | None] = [None] * count
        # Where an offset is assumed (no energy in a hole), the reading at
        # that end is left out: the hour there is estimated, never measured.
        skip: set[tuple[int, int]] = set()
        for index in range(count - 1, -1, -1):
            points = segments[index]
            overlap = [(t, v) for t, v in points if t in local]
            if overlap:
                moment, value = overlap[-1]
                offsets[index] = local[moment] - value
                continue
            # The next register known after this segment: local or remote.
            known: list[tuple[int, int]] = []
            following = bisect_right(times, points[-1][0])
            if following < len(times):
                known.append((times[following], local[times[following]]))
            if index + 1 < count and (offset := offsets[index + 1]) is not None:
                first = segments[index + 1][0]
                known.append((first[0], first[1] + offset))
            if known:
                offsets[index] = min(known)[1] - points[-1][1]
                skip.add((index, len(points) - 1))
        result: list[tuple[datetime, int]] = []
        before: tuple[int, int] | None = None  # (time, register) last known
        for index, points in enumerate(segments):
            offset = offsets[index]
            if offset is None:
                start = points[0][0]
                preceding = bisect_left(times, start) - 1
                candidates = [before] if before is not None else []
                if preceding >= 0:
                    candidates.append((times[preceding], local[times[preceding]]))
                offset = 0
                if candidates:
                    offset = max(candidates)[1]
                    skip.add((index, 0))
            result.extend(
                (datetime.fromtimestamp(moment, UTC), value + offset)
                for position, (moment, value) in enumerate(points)
                if (index, position) not in skip
            )
            before = (points[-1][0], points[-1][1] + offset)
        return result

    def overlap(self, register: Register, local: Mapping[int, int]) -> Overlap:
        """Return the energy of the hours measured by both paths."""
        count = local_total = remote_total = 0
        for hour, value in self.fine.get(register, {}).items():
            start, end = local.get(hour), local.get(hour + HOUR)
            if start is None or end is None or end < start:
                continue
            count += 1
            local_total += end - start
            remote_total += value
        return Overlap(
            hours=count,
            local=local_total,
            remote=remote_total,
            unit="m³" if register is Register.GAS else "kWh",
        )

    def to_json(self) -> dict[str, Any]:
        """Return the ledger in a compact form: hours as runs of values."""
        fine: dict[str, list[list[Any]]] = {}
        for register, hours in self.fine.items():
            runs: list[list[Any]] = []
            for hour in sorted(hours):
                if runs and runs[-1][0] + len(runs[-1][1]) * HOUR == hour:
                    runs[-1][1].append(hours[hour])
                else:
                    runs.append([hour, [hours[hour]]])
            fine[register.value] = runs
        coarse = {
            register.value: [[s, e, value] for (s, e), value in spans.items()]
            for register, spans in self.coarse.items()
        }
        return {"fine": fine, "coarse": coarse}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> UsageLedger:
        """Restore a stored ledger (empty for None)."""
        ledger = cls()
        for name, runs in (data or {}).get("fine", {}).items():
            hours = ledger.fine.setdefault(Register(name), {})
            for start, values in runs:
                for step, value in enumerate(values):
                    hours[int(start) + step * HOUR] = int(value)
        for name, spans in (data or {}).get("coarse", {}).items():
            kept = ledger.coarse.setdefault(Register(name), {})
            for start, end, value in spans:
                kept[int(start), int(end)] = int(value)
        return ledger
