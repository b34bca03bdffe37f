"""Throughput: the highest telegram rate one entry handles without a backlog.

The blaster sends DSMR 5 telegrams at fixed rates, a few seconds each. A rate
is kept up with when the blaster could send at that rate (the socket never
pushed back for long) and, when it finished, the telegrams still on their way
(sent minus handled) were fewer than a tenth of a second's worth: the backlog
stayed bounded instead of growing with time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from homeassistant.core import HomeAssistant

from benchmarks.harness import FRESHEST, STREAMS, StreamFiles, start


@dataclass
class RateResult:
    """One rate of one integration."""

    kind: str
    rate: int
    sent: int
    seconds: float
    backlog: int  # sent but not yet handled when the blaster finished
    catch_up: float  # seconds until the backlog was gone

    @property
    def achieved(self) -> float:
        """Return the rate the blaster managed to send at."""
        return self.sent / self.seconds if self.seconds else 0.0

    @property
    def keeps_up(self) -> bool:
        """Return whether this rate was handled without a growing backlog."""
        return self.achieved >= 0.95 * self.rate and self.backlog <= max(
            self.rate / 10, 5
        )


async def measure_throughput(
    hass: HomeAssistant,
    files: StreamFiles,
    kind: str,
    rates: list[int],
    seconds: float,
) -> list[RateResult]:
    """Send at each rate in turn; stop after the first rate not kept up."""
    stream = STREAMS["nl_dsmr5_gas"]
    options = FRESHEST[kind]
    running = await start(hass, kind, stream, files.path(stream, 2000), options)
    await running.feed(200)  # entities exist, caches filled
    loop = asyncio.get_running_loop()
    results = []
    for rate in rates:
        await running.feed(1)  # connected and current
        before = running.handled()
        sent, taken = await running.blaster.rate(rate, seconds)
        backlog = sent - (running.handled() - before)
        started = loop.time()
        await running.wait_handled(before + sent, 30)
        result = RateResult(kind, rate, sent, taken, backlog, loop.time() - started)
        results.append(result)
        if not result.keeps_up:
            break
    await running.stop()
    return results


def best_rate(results: list[RateResult]) -> int:
    """Return the highest rate kept up with."""
    return max((r.rate for r in results if r.keeps_up), default=0)


def throughput_table(results: list[RateResult]) -> list[str]:
    """Return the table of rates."""
    lines = [
        "Throughput (telegrams/s sent at a fixed rate)",
        f"  {'integration':<12} {'rate':>6} {'achieved':>9} {'backlog':>8} "
        f"{'catch-up s':>10}  keeps up",
    ]
    for result in results:
        lines.append(
            f"  {result.kind:<12} {result.rate:>6} {result.achieved:>9.0f} "
            f"{result.backlog:>8} {result.catch_up:>10.2f}  "
            f"{'yes' if result.keeps_up else 'no'}"
        )
    return lines
