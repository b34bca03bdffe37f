"""Memory growth over many telegrams, after a warm-up that fills every cache.

One integration reads a DSMR 5 stream (distinct telegrams, repeated when the
file ends) at full speed. After the warm-up (one pass over the file: the
entities exist, every cache is filled) tracemalloc starts, a further traced
warm-up runs, the garbage collector runs and traced memory and RSS are read;
then `count` telegrams go through, the collector runs again and both are read
once more. tracemalloc's number is the net
growth of live Python allocations over the run; the RSS growth also shows
what the allocator keeps (and tracemalloc's own bookkeeping).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import gc
import tracemalloc

from homeassistant.core import HomeAssistant

from benchmarks.harness import FRESHEST, STREAMS, SkewLoop, StreamFiles, rss_mb, start

CHUNK = 10000


def _short(path: str) -> str:
    """Return a source path from its package on."""
    for marker in ("site-packages/", "/usr/lib/", "/custom_components/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


@dataclass
class MemoryResult:
    """Growth of one integration over `telegrams` telegrams."""

    kind: str
    telegrams: int
    traced_mb: float
    rss_mb: float
    top: list[str]


async def measure_memory(
    hass: HomeAssistant, files: StreamFiles, kind: str, count: int, distinct: int
) -> MemoryResult:
    """Return the growth over `count` telegrams after a warm-up."""
    stream = STREAMS["nl_dsmr5_gas"]
    options = FRESHEST[kind]
    running = await start(hass, kind, stream, files.path(stream, distinct), options)
    await running.feed(distinct)
    # Registries save (and cache their JSON) 10 s after a change: let the
    # simulated clock pass that before measuring.
    loop = asyncio.get_running_loop()
    if isinstance(loop, SkewLoop):
        loop.offset += 60
        await asyncio.sleep(0.1)
        await hass.async_block_till_done()
    # A traced warm-up too: what replaces itself (states, buffers) is then
    # traced on both sides of the comparison.
    tracemalloc.start()
    await running.feed(min(CHUNK, distinct))
    await hass.async_block_till_done()
    gc.collect()
    rss_before = rss_mb()
    traced_before = tracemalloc.get_traced_memory()[0]
    before = tracemalloc.take_snapshot()
    fed = 0
    while fed < count:
        chunk = min(CHUNK, count - fed)
        await running.feed(chunk)
        fed += chunk
    await hass.async_block_till_done()
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0]
    after = tracemalloc.take_snapshot()
    rss_after = rss_mb()
    tracemalloc.stop()
    top = [
        f"{stat.size_diff / 1e3:+.1f} kB {_short(str(stat.traceback))}"
        for stat in after.compare_to(before, "lineno")[:5]
    ]
    await running.stop()
    return MemoryResult(
        kind, count, (traced - traced_before) / 1e6, rss_after - rss_before, top
    )


def memory_table(results: list[MemoryResult]) -> list[str]:
    """Return the table of memory growth."""
    lines = [
        "Memory growth after warm-up (MB)",
        f"  {'integration':<12} {'telegrams':>9} {'tracemalloc':>11} {'RSS':>7}",
    ]
    for result in results:
        lines.append(
            f"  {result.kind:<12} {result.telegrams:>9} "
            f"{result.traced_mb:>11.3f} {result.rss_mb:>7.2f}"
        )
    for result in results:
        lines.append(f"  largest tracemalloc growth, {result.kind}:")
        lines.extend(f"    {line}" for line in result.top[:3])
    return lines
