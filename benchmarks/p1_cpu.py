"""CPU per telegram: this integration against core dsmr, in one Home Assistant.

For every stream both integrations are set up side by side (core only where
it can read the stream; its throttle is set to 0 so it handles every telegram
too), each against its own blaster. Rounds alternate between the two: the
blaster sends `count` telegrams at full speed and the process CPU time until
the last one was handled is divided by `count`. The first round of each
(which creates the entities) is not counted; the median of the others is.
"""

from __future__ import annotations

import cProfile
from dataclasses import dataclass
import statistics
import time

from homeassistant.core import HomeAssistant

from benchmarks.harness import FRESHEST, STREAMS, Running, Stream, StreamFiles, start


@dataclass
class CpuResult:
    """CPU per telegram of one stream, in ms (core None when it cannot read it)."""

    stream: str
    ours: list[float]
    core: list[float] | None

    @property
    def ours_ms(self) -> float:
        """Return the median of our rounds."""
        return statistics.median(self.ours)

    @property
    def core_ms(self) -> float | None:
        """Return the median of core's rounds."""
        return statistics.median(self.core) if self.core else None

    @property
    def ratio(self) -> float | None:
        """Return ours / core."""
        core = self.core_ms
        return self.ours_ms / core if core else None


async def _round(running: Running, count: int) -> float:
    cpu = time.process_time()
    await running.feed(count)
    spent = time.process_time() - cpu
    await running.hass.async_block_till_done()
    return spent / count * 1000


async def _rounds(
    hass: HomeAssistant,
    kind: str,
    *,
    stream: Stream,
    path: str,
    count: int,
    rounds: int,
    profile: cProfile.Profile | None,
) -> list[float]:
    """Run one integration alone: a warm-up round, then the measured ones."""
    options = FRESHEST[kind]
    running = await start(hass, kind, stream, path, options)
    results = []
    for round_ in range(rounds + 1):
        if profile is not None and round_:
            profile.enable()
        spent = await _round(running, count)
        if profile is not None:
            profile.disable()
        if round_:  # the first round creates the entities
            results.append(spent)
    await running.stop()
    return results


async def measure_cpu(
    hass: HomeAssistant,
    files: StreamFiles,
    count: int,
    rounds: int,
    *,
    streams: list[str] | None = None,
    profile: cProfile.Profile | None = None,
) -> list[CpuResult]:
    """Return CPU per telegram for each stream, ours and core's."""
    results = []
    for name in streams or list(STREAMS):
        stream = STREAMS[name]
        path = files.path(stream, count)
        ours_ms = await _rounds(
            hass,
            "ours",
            stream=stream,
            path=path,
            count=count,
            rounds=rounds,
            profile=profile,
        )
        core_ms = None
        if stream.core is not None:
            core_ms = await _rounds(
                hass,
                "core",
                stream=stream,
                path=path,
                count=count,
                rounds=rounds,
                profile=None,
            )
        results.append(CpuResult(name, ours_ms, core_ms))
    return results


def cpu_table(results: list[CpuResult]) -> list[str]:
    """Return the table of CPU per telegram."""
    lines = [
        "CPU per telegram (ms, median of rounds)",
        f"  {'stream':<17} {'ours':>7} {'core':>7} {'ratio':>6}   rounds ours / core",
    ]
    for result in results:
        core = f"{result.core_ms:7.3f}" if result.core_ms else "    n/a"
        ratio = f"{result.ratio:6.3f}" if result.ratio else "   n/a"
        rounds = " ".join(f"{x:.3f}" for x in result.ours)
        if result.core:
            rounds += " / " + " ".join(f"{x:.3f}" for x in result.core)
        lines.append(
            f"  {result.stream:<17} {result.ours_ms:7.3f} {core} {ratio}   {rounds}"
        )
    return lines
