"""CPU per telegram: this integration against core dsmr, in one Home Assistant.

Both read the same DSMR 5 stream over loopback TCP from a blaster process (so
sending costs nothing here), with their entities registered and the state
machine live. Core's throttle is set to 0 so it handles every telegram too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any
from unittest.mock import patch

from homeassistant import loader
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from simulators.profiles import get_profile
from simulators.telegram import render_telegram

START = datetime(2026, 1, 5, 12, tzinfo=UTC)


def make_stream(path: str, count: int) -> None:
    """Write `count` one-second DSMR 5 telegrams, NUL-separated."""
    profile = get_profile("nl_dsmr5_gas")
    meter = profile.create_meter(seed=1, start=START)
    with open(path, "wb") as file:
        for second in range(count):
            meter.advance(START + timedelta(seconds=second + 1))
            file.write(render_telegram(profile, meter) + b"\x00")


def _entry(kind: str, port: int) -> MockConfigEntry:
    if kind == "core":
        return MockConfigEntry(
            domain="dsmr",
            data={
                "host": "127.0.0.1",
                "port": port,
                "dsmr_version": "5",
                "protocol": "dsmr_protocol",
                "serial_id": "bench",
                "serial_id_gas": "bench-gas",
            },
            options={"time_between_update": 0},
        )
    return MockConfigEntry(
        domain="slimme_meter",
        unique_id="bench",
        data={
            "connection": "network",
            "host": "127.0.0.1",
            "port": port,
            "specification": "5",
            "equipment_id": None,
        },
    )


async def _wait(condition: Callable[[], bool], timeout: float = 120) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


def _counting(factory: Any, handled: list[int]) -> Any:
    """Wrap core's reader factory so each handled telegram is counted."""

    def create(*args: Any, **kwargs: Any) -> Any:
        arguments = list(args)
        position = 3 if isinstance(arguments[1], int) else 2
        callback = arguments[position]

        def counted(telegram: Any) -> None:
            if telegram:
                handled[0] += 1
            callback(telegram)

        arguments[position] = counted
        return factory(*arguments, **kwargs)

    return create


async def measure(
    hass: Any, kind: str, stream: str, count: int, rounds: int
) -> list[float]:
    """Return CPU seconds per telegram for each round of one integration."""
    blaster = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, "-m", "benchmarks.blaster", stream],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert blaster.stdout is not None
    data_port, control_port = map(int, blaster.stdout.readline().split())
    handled = [0]
    patches = []
    if kind == "core":
        from homeassistant.components.dsmr import sensor as core_sensor

        for name in ("create_dsmr_reader", "create_tcp_dsmr_reader"):
            if hasattr(core_sensor, name):
                patches.append(
                    patch.object(
                        core_sensor,
                        name,
                        _counting(getattr(core_sensor, name), handled),
                    )
                )
    for started in patches:
        started.start()
    entry = _entry(kind, data_port)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id), kind
    await hass.async_block_till_done()
    if kind == "ours":
        counter = lambda: entry.runtime_data.counters.received  # noqa: E731
    else:
        counter = lambda: handled[0]  # noqa: E731
    reader, writer = await asyncio.open_connection("127.0.0.1", control_port)
    await asyncio.sleep(1)
    results = []
    for round_ in range(rounds + 1):
        before = counter()
        cpu = time.process_time()
        writer.write(f"{count}\n".encode())
        await writer.drain()
        target = before + count
        await _wait(lambda target=target: counter() >= target)
        spent = time.process_time() - cpu
        await reader.readline()
        await hass.async_block_till_done()
        if round_:  # the first round warms up and creates the entities
            results.append(spent / count)
    writer.close()
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.config_entries.async_remove(entry.entry_id)
    for started in patches:
        started.stop()
    blaster.stdin.close()  # type: ignore[union-attr]
    blaster.wait()
    return results


async def main() -> None:
    """Print CPU per telegram for both integrations."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with (
        tempfile.NamedTemporaryFile(suffix=".bin") as stream,
        tempfile.TemporaryDirectory() as config_dir,
    ):
        make_stream(stream.name, count)
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
            ours = await measure(hass, "ours", stream.name, count, rounds)
            core = await measure(hass, "core", stream.name, count, rounds)
    ours_ms, core_ms = statistics.median(ours) * 1000, statistics.median(core) * 1000
    print(
        f"ours  {ours_ms:.3f} ms/telegram  rounds {[round(x * 1000, 3) for x in ours]}"
    )
    print(
        f"core  {core_ms:.3f} ms/telegram  rounds {[round(x * 1000, 3) for x in core]}"
    )
    print(f"RESULT cpu_ratio={ours_ms / core_ms:.3f}")


if __name__ == "__main__":
    asyncio.run(main())
