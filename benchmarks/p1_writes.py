"""State writes per hour: what reaches Home Assistant's state machine.

One hour of one-second DSMR 5 telegrams of the simulated household (3600
telegrams) is fed one telegram per simulated second: the blaster sends one
telegram, the benchmark waits until it was handled, then moves the clock one
second on. The event loop's clock (which this integration's coalescing
windows and timers use) and `homeassistant.util.utcnow` (which core's throttle
uses) both run on simulated time, so an hour takes seconds; so does
`time.time`, which places the full hours.

Every call of `hass.states.async_set_internal` (which `async_set` and
`async_write_ha_state` both end in) for an enabled entity of the entry is
counted, split into state_changed writes (state or attributes differ from
what the state machine holds) and state_reported writes (the same state
written again: only its last_reported time moves). Entities disabled by
default are never added, so they never write. A minute of simulated warm-up
comes first (core creates its entities only with the first telegram its
throttle lets through). At the end the connection is closed right after the
last telegram, to see whether the disconnect reaches the entities; a value
still held in a coalescing window is written before its entity goes
unavailable. Nothing may be lost: the last value each of this integration's
entities showed must equal the one it shows when every change is written at
once ("last values as every change").
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
import time
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant, StateMachine
from homeassistant.helpers import entity_registry as er
import homeassistant.util

from benchmarks.harness import (
    FRESHEST,
    STREAMS,
    SkewLoop,
    StreamFiles,
    simulated_utcnow,
    start,
)

WARMUP = 60
# This integration's entities that core dsmr also enables by default for a
# DSMR 5 meter with gas (power, tariff, the four energy registers, gas).
CORE_EQUIVALENTS = (
    "_power_import",
    "_power_export",
    "_active_tariff",
    "_energy_import_tariff_1",
    "_energy_import_tariff_2",
    "_energy_export_tariff_1",
    "_energy_export_tariff_2",
    "_mbus_1_gas_reading",
)


@dataclass
class WritesResult:
    """Writes of one configuration during the simulated time."""

    label: str
    kind: str
    telegrams: int
    entities: int
    changed: int
    reported: int
    disconnect_shown: str
    same_set: int  # writes of the entities core enables by default too
    final: dict[str, str]  # the last value each entity showed, by unique id
    per_entity: dict[str, tuple[int, int]] | None = None
    same_last_values: str = ""

    @property
    def total(self) -> int:
        """Return every write."""
        return self.changed + self.reported

    def per_hour(self, value: int) -> float:
        """Scale a count to one hour of one-second telegrams."""
        return value * 3600 / self.telegrams


EVERY_CHANGE = "ours every change"
CONFIGS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("ours default", "ours", {}),
    ("core default (30 s throttle)", "core", {}),
    ("core throttle 0", "core", FRESHEST["core"]),
    (EVERY_CHANGE, "ours", FRESHEST["ours"]),
    (
        "ours live 0, counters 30 s",
        "ours",
        {"live_interval": 0, "counter_interval": 30},
    ),
)


def _count_writes(
    hass: HomeAssistant,
) -> tuple[Counter[str], Counter[str], dict[str, str], Any]:
    """Count state machine writes per entity: changed and reported.

    Also keeps each entity's last state written other than unavailable.
    """
    changed: Counter[str] = Counter()
    reported: Counter[str] = Counter()
    last: dict[str, str] = {}
    original = StateMachine.async_set_internal

    def counting(
        states: StateMachine,
        entity_id: str,
        new_state: str,
        attributes: Any,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        old = states.get(entity_id)
        if (
            old is None
            or old.state != new_state
            or dict(old.attributes) != dict(attributes or {})
        ):
            changed[entity_id] += 1
        else:
            reported[entity_id] += 1
        if new_state != "unavailable":
            last[entity_id] = new_state
        original(states, entity_id, new_state, attributes, *args, **kwargs)

    patcher = patch.object(StateMachine, "async_set_internal", counting)
    return changed, reported, last, patcher


async def measure_one(
    hass: HomeAssistant,
    files: StreamFiles,
    label: str,
    *,
    kind: str,
    options: dict[str, Any],
    telegrams: int,
    per_entity: dict[str, tuple[int, int]],
) -> WritesResult:
    """Feed `telegrams` one-second telegrams after a warm-up; count writes."""
    loop = asyncio.get_running_loop()
    assert isinstance(loop, SkewLoop), "run with loop_factory=SkewLoop"
    stream = STREAMS["nl_dsmr5_gas"]
    path = files.path(stream, WARMUP + telegrams + 1)
    changed, reported, last, counting = _count_writes(hass)
    real_time = time.time
    with (
        counting,
        patch.object(homeassistant.util, "utcnow", simulated_utcnow(loop)),
        patch.object(time, "time", lambda: real_time() + loop.offset),
    ):
        running = await start(hass, kind, stream, path, options)

        async def step() -> None:
            loop.offset += stream.step
            await asyncio.sleep(0)
            target = running.handled() + 1
            await running.blaster.send(1)
            if not await running.wait_handled(target, 30):
                raise TimeoutError(f"{label}: telegram not handled")

        for _ in range(WARMUP):
            await step()
        await hass.async_block_till_done()
        changed.clear()
        reported.clear()
        for _ in range(telegrams):
            await step()
        await hass.async_block_till_done()
        entities = running.entity_ids()
        counted_changed = sum(changed[entity] for entity in entities)
        counted_reported = sum(reported[entity] for entity in entities)
        registry = er.async_get(hass)
        same_set = sum(
            changed[entity] + reported[entity]
            for entity in entities
            if kind == "core"
            or (
                (entry := registry.async_get(entity)) is not None
                and entry.unique_id.removeprefix(running.entry.entry_id)
                in CORE_EQUIVALENTS
            )
        )
        per_entity.update(
            {entity: (changed[entity], reported[entity]) for entity in entities}
        )
        # The connection drops right after the last telegram (as a meter's
        # connection drops: between two telegrams): do the entities show it?
        # (Values still inside a coalescing window are written first.)
        await running.blaster.command("close")
        await asyncio.sleep(0.5)
        unavailable = sum(
            1
            for entity in entities
            if (state := hass.states.get(entity)) and state.state == "unavailable"
        )
        final = {
            entry.unique_id.removeprefix(running.entry.entry_id): last[entity]
            for entity in entities
            if (entry := registry.async_get(entity)) is not None and entity in last
        }
        await running.stop()
    return WritesResult(
        label,
        kind,
        telegrams,
        len(entities),
        counted_changed,
        counted_reported,
        f"{unavailable}/{len(entities)}",
        same_set,
        final,
    )


async def measure_writes(
    hass: HomeAssistant, files: StreamFiles, telegrams: int
) -> list[WritesResult]:
    """Return the writes of every configuration."""
    results = []
    for label, kind, options in CONFIGS:
        per_entity: dict[str, tuple[int, int]] = {}
        results.append(
            await measure_one(
                hass,
                files,
                label,
                kind=kind,
                options=options,
                telegrams=telegrams,
                per_entity=per_entity,
            )
        )
        results[-1].per_entity = per_entity
    # Nothing is lost: whatever the windows held was written in the end, so
    # each entity's last value is the one it shows when every change is
    # written at once.
    every_change = next(r for r in results if r.label == EVERY_CHANGE)
    for result in results:
        if result.kind == "ours":
            result.same_last_values = (
                "yes" if result.final == every_change.final else "NO"
            )
    return results


def writes_table(results: list[WritesResult]) -> list[str]:
    """Return the table of writes per hour."""
    lines = [
        f"State writes per hour (DSMR 5, one telegram per second; "
        f"{results[0].telegrams} telegrams measured)",
        f"  {'configuration':<30} {'entities':>8} {'writes/h':>9} "
        f"{'changed':>8} {'reported':>8} {'core set':>8}  unavailable after "
        "disconnect  last values as every change",
    ]
    for result in results:
        lines.append(
            f"  {result.label:<30} {result.entities:>8} "
            f"{result.per_hour(result.total):>9.0f} "
            f"{result.per_hour(result.changed):>8.0f} "
            f"{result.per_hour(result.reported):>8.0f} "
            f"{result.per_hour(result.same_set):>8.0f}  "
            f"{result.disconnect_shown:<28}  {result.same_last_values or 'n/a'}"
        )
    return lines
