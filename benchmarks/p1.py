"""Every P1 benchmark against core dsmr, in one Home Assistant process.

    python -m benchmarks.p1 [--quick] [--only cpu,throughput,memory,writes]

Prints one table per benchmark and ends with one line:

    P1 cpu_ratio=<worst ours/core> writes_ratio=<ours/core, defaults>
       mem_growth_mb=<ours> throughput=<telegrams/s>

(on one line). The event loop's clock can be moved forward (`SkewLoop`); only
the writes benchmark moves it, and it runs last.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import platform
import sys
import tempfile
import time

from homeassistant.const import __version__ as ha_version

from benchmarks.harness import SkewLoop, StreamFiles, home_assistant
from benchmarks.p1_cpu import cpu_table, measure_cpu
from benchmarks.p1_memory import measure_memory, memory_table
from benchmarks.p1_throughput import best_rate, measure_throughput, throughput_table
from benchmarks.p1_writes import measure_writes, writes_table

FULL = {
    "cpu": (1000, 5),
    "writes": 3600,
    "memory": (200_000, 20_000, 20_000),
    "rates": ([100, 200, 500, 1000, 2000, 5000, 10000], 3.0),
}
QUICK = {
    "cpu": (300, 3),
    "writes": 600,
    "memory": (20_000, 5_000, 2_000),
    "rates": ([100, 200, 500, 1000, 2000], 1.0),
}


def _print(lines: list[str]) -> None:
    print("\n".join(lines), "", sep="\n", flush=True)


async def main(quick: bool, only: set[str]) -> None:
    """Run the benchmarks and print their tables and the summary line."""
    sizes = QUICK if quick else FULL
    print(
        f"Home Assistant {ha_version}, Python {platform.python_version()}, "
        f"{'quick' if quick else 'full'} run",
        flush=True,
    )
    cpu_ratio = writes_ratio = mem_growth = math.nan
    rate = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as directory:
        files = StreamFiles(directory)
        async with home_assistant() as hass:
            if "cpu" in only:
                count, rounds = sizes["cpu"]  # type: ignore[misc]
                cpu = await measure_cpu(hass, files, count, rounds)
                _print(cpu_table(cpu))
                cpu_ratio = max(r.ratio for r in cpu if r.ratio is not None)
            if "throughput" in only:
                rates, seconds = sizes["rates"]  # type: ignore[misc]
                results = await measure_throughput(hass, files, "ours", rates, seconds)
                results += await measure_throughput(hass, files, "core", rates, seconds)
                _print(throughput_table(results))
                rate = best_rate([r for r in results if r.kind == "ours"])
            if "memory" in only:
                ours_count, core_count, distinct = sizes["memory"]  # type: ignore[misc]
                memory = [
                    await measure_memory(hass, files, "ours", ours_count, distinct),
                    await measure_memory(hass, files, "core", core_count, distinct),
                ]
                _print(memory_table(memory))
                mem_growth = max(memory[0].traced_mb, memory[0].rss_mb)
            if "writes" in only:
                writes = await measure_writes(hass, files, sizes["writes"])  # type: ignore[arg-type]
                _print(writes_table(writes))
                writes_ratio = writes[0].total / writes[1].total
    print(f"({time.monotonic() - started:.0f} s)")
    print(
        f"P1 cpu_ratio={cpu_ratio:.3f} writes_ratio={writes_ratio:.3f} "
        f"mem_growth_mb={mem_growth:.3f} throughput={rate}",
        flush=True,
    )


def run() -> None:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts (CI)")
    parser.add_argument(
        "--only",
        default="cpu,throughput,memory,writes",
        help="comma-separated subset of cpu, throughput, memory, writes",
    )
    args = parser.parse_args()
    asyncio.run(main(args.quick, set(args.only.split(","))), loop_factory=SkewLoop)
    sys.exit(0)


if __name__ == "__main__":
    run()
