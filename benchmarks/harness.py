"""What the P1 benchmarks share: streams, the blaster, Home Assistant, entries.

Both integrations run in one Home Assistant (entities registered, state
machine live) and read the same recorded stream over loopback TCP from a
blaster process, so sending costs nothing in the measured process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import os
import socket
import subprocess
import sys
import tempfile
from typing import Any
from unittest.mock import patch

from homeassistant import loader
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from benchmarks.blaster import write_frames
from simulators.dlms import DEFAULT_ENCRYPTION_KEY
from simulators.source import ManualClock, TelegramSource

START = datetime(2026, 1, 5, 12, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Stream:
    """One recorded telegram stream and how each integration is set up for it."""

    name: str
    step: float  # seconds between the meter's telegrams
    ours: dict[str, Any]
    core: dict[str, Any] | None  # None: core dsmr cannot read it


STREAMS: dict[str, Stream] = {
    stream.name: stream
    for stream in (
        Stream("nl_dsmr5_gas", 1, {"specification": "5"}, {"dsmr_version": "5"}),
        Stream(
            "be_5b_gas_water",
            1,
            {"specification": "belgium_5b"},
            {"dsmr_version": "5B"},
        ),
        Stream("nl_dsmr4", 10, {"specification": "4"}, {"dsmr_version": "4"}),
        Stream(
            "lu_encrypted",
            10,
            {
                "specification": "luxembourg_msn",
                "encryption_key": DEFAULT_ENCRYPTION_KEY,
            },
            None,
        ),
        # CRC-16/X.25 and bytes outside ASCII in every telegram: the lenient
        # paths (core dsmr rejects every telegram of it).
        Stream("holley_x25", 1, {"specification": "5"}, None),
    )
}


def render(stream: Stream, count: int, seed: int = 1) -> list[bytes]:
    """Return `count` consecutive frames of the simulated household."""
    clock = ManualClock(START)
    source = TelegramSource(stream.name, seed=seed, clock=clock)
    frames = []
    for _ in range(count):
        clock.advance(stream.step)
        frames.append(source.telegram())
    return frames


class StreamFiles:
    """Stream files in a temporary directory, rendered once per length."""

    def __init__(self, directory: str) -> None:
        """Keep files in directory."""
        self.directory = directory
        self._files: dict[tuple[str, int], str] = {}

    def path(self, stream: Stream, count: int) -> str:
        """Return the file with `count` frames of the stream."""
        key = (stream.name, count)
        if key not in self._files:
            path = os.path.join(self.directory, f"{stream.name}-{count}.bin")
            write_frames(path, render(stream, count))
            self._files[key] = path
        return self._files[key]


class BlasterProcess:
    """The blaster in its own process, driven over its control port."""

    def __init__(self, path: str) -> None:
        """Start the blaster on a stream file."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.blaster", path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        self.data_port, self.control_port = map(
            int, self.process.stdout.readline().split()
        )
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def command(self, line: str) -> list[str]:
        """Send one control line and return the words of the answer."""
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(
                "127.0.0.1", self.control_port
            )
        assert self._reader is not None
        self._writer.write(f"{line}\n".encode())
        await self._writer.drain()
        return (await self._reader.readline()).decode().split()

    async def send(self, count: int) -> None:
        """Send the next `count` frames as fast as possible."""
        await self.command(f"send {count}")

    async def rate(self, rate: float, seconds: float) -> tuple[int, float]:
        """Send at a fixed rate; return frames sent and seconds taken."""
        answer = await self.command(f"rate {rate} {seconds}")
        return int(answer[1]), float(answer[2])

    async def wait_for_client(self) -> None:
        """Wait until the integration is connected."""
        async with asyncio.timeout(30):
            while int((await self.command("clients"))[0]) < 1:
                await asyncio.sleep(0.05)

    async def close(self) -> None:
        """Stop the blaster process."""
        if self._writer is not None:
            self._writer.close()
        assert self.process.stdin is not None
        self.process.stdin.close()
        await asyncio.get_running_loop().run_in_executor(None, self.process.wait)


async def wait_until(condition: Callable[[], bool], timeout: float = 300) -> None:
    """Wait until condition() holds (real time)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("benchmark condition not reached")
        await asyncio.sleep(0.001)


class SkewLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock can be moved forward (simulated time).

    Timers (coalescing windows, watchdogs) follow the moved clock; the
    benchmark moves it one meter interval per telegram.
    """

    offset = 0.0

    def time(self) -> float:
        """Return the loop's clock plus the simulated offset."""
        return super().time() + self.offset


@contextlib.asynccontextmanager
async def home_assistant() -> AsyncIterator[HomeAssistant]:
    """Start a Home Assistant with its state machine and registries live."""
    with tempfile.TemporaryDirectory() as config_dir:
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
            # Both integrations pull in http (through usb); keep it off 8123.
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            http = {"server_host": ["127.0.0.1"], "server_port": port}
            assert await async_setup_component(hass, "http", {"http": http})
            await _confirm_http_settings(hass)
            yield hass


async def _confirm_http_settings(hass: HomeAssistant) -> None:
    """Confirm the HTTP settings Home Assistant 2026.10 and later hold pending.

    Otherwise they are reverted (with a restart) after five minutes, which the
    simulated clock of the writes benchmark reaches.
    """
    try:
        from homeassistant.components.http.config import DATA_STORE
    except ImportError:  # older releases apply the settings at once
        return
    store = hass.data.get(DATA_STORE)
    if store is not None and store.pending is not None:
        await store.async_promote_pending()


def _counting_factory(
    factory: Any, handled: list[int], check: Callable[[], None]
) -> Any:
    """Wrap core's reader factory so each handled telegram is counted."""

    def create(*args: Any, **kwargs: Any) -> Any:
        arguments = list(args)
        position = 3 if isinstance(arguments[1], int) else 2
        callback = arguments[position]

        def counted(telegram: Any) -> None:
            callback(telegram)
            if telegram:
                handled[0] += 1
                check()

        arguments[position] = counted
        return factory(*arguments, **kwargs)

    return create


@dataclass
class Running:
    """One integration set up against a blaster."""

    hass: HomeAssistant
    kind: str
    entry: MockConfigEntry
    blaster: BlasterProcess
    handled: Callable[[], int]
    patches: list[Any] = field(default_factory=list)
    waiter: tuple[int, asyncio.Future[None]] | None = None

    def entity_ids(self) -> list[str]:
        """Return the entry's enabled entities."""
        registry = er.async_get(self.hass)
        return [
            entity.entity_id
            for entity in er.async_entries_for_config_entry(
                registry, self.entry.entry_id
            )
            if entity.disabled_by is None
        ]

    async def wait_handled(self, target: int, timeout: float) -> bool:
        """Wait until `target` telegrams were handled; False on `timeout`."""
        if self.handled() >= target:
            return True
        future = asyncio.get_running_loop().create_future()
        self.waiter = (target, future)
        try:
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError:
            return False
        finally:
            self.waiter = None
        return True

    def check(self) -> None:
        """Wake the waiter once its target is reached (called per telegram)."""
        waiter = self.waiter
        if waiter and self.handled() >= waiter[0] and not waiter[1].done():
            waiter[1].set_result(None)

    async def feed(self, count: int, timeout: float = 600) -> None:
        """Send `count` frames at full speed and wait until all are handled.

        Frames sent while the integration was reconnecting are sent again.
        """
        target = self.handled() + count
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (missing := target - self.handled()) > 0:
            if loop.time() > deadline:
                raise TimeoutError(f"{self.kind}: {missing} telegrams unhandled")
            await self.blaster.wait_for_client()
            await self.blaster.send(missing)
            progress = -1
            while progress != self.handled():
                progress = self.handled()
                if await self.wait_handled(target, 2):
                    break

    async def stop(self) -> None:
        """Unload and remove the entry, stop the blaster."""
        await self.hass.config_entries.async_unload(self.entry.entry_id)
        await self.hass.config_entries.async_remove(self.entry.entry_id)
        await self.hass.async_block_till_done()
        for started in self.patches:
            started.stop()
        await self.blaster.close()


_serial = [0]


# Each integration as fresh as it gets: every telegram handled, every change
# written (core: no throttle; this integration: no coalescing window), so CPU,
# memory and throughput compare the same work.
FRESHEST: dict[str, dict[str, Any]] = {
    "ours": {"live_interval": 0, "counter_interval": 0},
    "core": {"time_between_update": 0},
}


async def start(
    hass: HomeAssistant,
    kind: str,
    stream: Stream,
    path: str,
    options: dict[str, Any] | None = None,
) -> Running:
    """Start a blaster on the stream file and set one integration up on it."""
    blaster = BlasterProcess(path)
    _serial[0] += 1
    serial = f"bench{_serial[0]}"
    handled = [0]
    checks: list[Callable[[], None]] = [lambda: None]

    def check() -> None:
        checks[0]()

    patches = []
    if kind == "core":
        from homeassistant.components.dsmr import sensor as core_sensor

        assert stream.core is not None
        for name in ("create_dsmr_reader", "create_tcp_dsmr_reader"):
            if hasattr(core_sensor, name):
                patches.append(
                    patch.object(
                        core_sensor,
                        name,
                        _counting_factory(getattr(core_sensor, name), handled, check),
                    )
                )
        entry = MockConfigEntry(
            domain="dsmr",
            data={
                "host": "127.0.0.1",
                "port": blaster.data_port,
                "protocol": "dsmr_protocol",
                "serial_id": serial,
                "serial_id_gas": f"{serial}-gas",
                **stream.core,
            },
            options=options or {},
        )
    else:
        entry = MockConfigEntry(
            domain="slimme_meter",
            unique_id=serial,
            data={
                "connection": "network",
                "host": "127.0.0.1",
                "port": blaster.data_port,
                "equipment_id": None,
                **stream.ours,
            },
            options=options or {},
        )
    for started in patches:
        started.start()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id), kind
    await hass.async_block_till_done()
    if kind == "ours":
        counter = lambda: entry.runtime_data.counters.received  # noqa: E731
    else:
        counter = lambda: handled[0]  # noqa: E731
    running = Running(hass, kind, entry, blaster, counter, patches)
    if kind == "ours":
        entry.async_on_unload(entry.runtime_data.async_add_listener(running.check))
    checks[0] = running.check
    await blaster.wait_for_client()
    return running


def rss_mb() -> float:
    """Return the resident set size of this process in MB."""
    with open("/proc/self/statm") as file:
        pages = int(file.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def simulated_utcnow(loop: SkewLoop) -> Callable[[], datetime]:
    """Return a utcnow that runs with the loop's simulated offset."""
    real = datetime.now

    def utcnow() -> datetime:
        return real(UTC) + timedelta(seconds=loop.offset)

    return utcnow
