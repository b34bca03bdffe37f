"""Fault soak of the local path: thousands of telegrams with faults in between.

A simulated meter (``simulators/``) streams telegrams to the integration set up
in Home Assistant (a real config entry, real entities, the real reader and
runtime) over loopback TCP, and through a pseudo-terminal as a serial port.
Every few hundred delivered telegrams a seeded random fault is injected: CRC
errors, garbage bytes, half telegrams, non-ASCII bytes, a closed connection,
a reset connection or hung-up port, a stall longer than the stall watchdog,
and the server (or cable) gone for seconds.

What is real: the sockets and the pty, the reader's stall watchdog (its 1 s
floor, as the telegrams come every few ms) and its reconnect backoff (1 s,
doubling): outages wait real seconds, so the number of long outages is
limited. The meter's clock is a manual one that moves one second per telegram,
so every telegram is distinct while they are sent every few milliseconds.

"Sent while connected" is what the assertions count, defined per transport:

- TCP: a telegram handed whole to a connection the server had accepted and was
  not closing (``Transmitter.last_reached``). A clean close (FIN, also when
  the server goes away) comes in the middle of the stream: TCP delivers every
  byte written before it, so each of those telegrams must arrive. A reset
  (RST) discards what is in flight, as TCP says, so it is made when the
  integration has caught up with everything sent (the line is idle).
- Serial: a telegram written whole to the pty while the reader holds the port
  open (from the end of its open, which flushes the line, to its close or the
  cable being pulled). The pty would keep bytes written while nobody has it
  open, a real line drops them, so the simulated meter writes nothing then.
  A pulled cable loses what is in flight, so it is pulled when the line is
  idle.

The soak checks, for every delivered valid telegram, that the integration
took exactly that telegram, in order (its text is compared); the rejected
counts by reason against the delivered faults; one warning per outage and one
note on return; the reconnect backoff; no error records and no unhandled
exceptions; and the memory traced over the second half.

Scale: ``SOAK_SCALE=short`` (``scripts/test soak short``) is the CI form.
``SOAK_SEED`` repeats a run; the seed is printed. ``SOAK_TRACE_DEPTH=12`` keeps
more frames per traced allocation, to see where memory grew (slower).
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable, Generator
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
import gc
import itertools
import logging
import os
import random
import time
import tracemalloc
from typing import Any
from unittest.mock import PropertyMock, patch

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, flush_store
import serialx

from custom_components.slimme_meter.const import BACKOFF_INITIAL, BACKOFF_MAX
from custom_components.slimme_meter.p1.decode import Snapshot, lenient_text
from custom_components.slimme_meter.p1.reader import LinkState
from custom_components.slimme_meter.runtime import MeterRuntime
from custom_components.slimme_meter.sensor import POWER_STEP
from simulators.p1 import P1PtySimulator, P1TcpServer, TelegramFault, Transmitter
from simulators.source import ManualClock, TelegramSource

from ..helpers import meter_entry, setup_meter, state_of, until
from .scale import SHORT, pick

pytestmark = pytest.mark.usefixtures("socket_enabled")

LOGGER_NAME = "custom_components.slimme_meter"
RECEIVED = "sensor.electricity_meter_telegrams_received"
REJECTED = "sensor.electricity_meter_telegrams_rejected"
RECONNECTS = "sensor.electricity_meter_reconnects"
POWER = "sensor.electricity_meter_power_import"

PACE = 0.002  # seconds between two telegrams
BACKLOG = 20  # telegrams in flight before the meter waits for the reader
SETTLE = 10.0  # seconds the integration gets to catch up with what was sent
LATE = 0.75  # slack on a reconnect attempt's time (a loaded machine)
MEMORY_BOUND = 256 * 1024  # bytes the second half may keep (caches filled once)
# Frames kept per allocation; more tell who allocated, but slow the run down.
TRACE_DEPTH = int(os.environ.get("SOAK_TRACE_DEPTH", "1"))

REASONS = {
    TelegramFault.WRONG_CRC: "checksum",
    TelegramFault.HALF: "incomplete",
}
# A byte outside ASCII inside a value (under the meter's own CRC) is no reject:
# the telegram is taken without that line (see lenient_text).
DATA_FAULTS = ("crc", "crc_burst", "garbage", "half", "non_ascii")


def _seed() -> int:
    text = os.environ.get("SOAK_SEED")
    return int(text) if text else random.SystemRandom().randrange(2**32)


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault, after ``at`` delivered telegrams."""

    at: int
    kind: str
    size: int = 0  # telegrams with a wrong CRC, or garbage bytes
    seconds: float = 0.0  # how long the server is gone


def plan_faults(
    rng: random.Random,
    total: int,
    spacing: tuple[int, int],
    outages: list[float],
    cuts: tuple[str, ...],
) -> list[Fault]:
    """Faults every ``spacing`` telegrams; each kind at least once.

    ``outages`` are the durations of the server-gone faults; ``cuts`` the
    other faults that take the line away (their kinds, weighted).
    """
    kinds = [*DATA_FAULTS, *dict.fromkeys(cuts), *(["gone"] * len(outages))]
    rng.shuffle(kinds)
    weighted = [*DATA_FAULTS, *DATA_FAULTS, *cuts]
    durations = list(outages)
    faults: list[Fault] = []
    at = rng.randint(*spacing)
    while at < total - spacing[0] or kinds:
        kind = kinds.pop() if kinds else rng.choice(weighted)
        size = 0
        seconds = 0.0
        if kind == "crc":
            size = rng.randint(1, 2)
        elif kind == "crc_burst":
            size = rng.randint(3, 4)
        elif kind == "garbage":
            size = rng.randint(1, 400)
        elif kind == "gone":
            seconds = durations.pop()
        faults.append(Fault(at, kind, size, seconds))
        at += rng.randint(*spacing)
    return faults


class LogTally(logging.Handler):
    """Counts log records without keeping the chatter."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.infos: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.errors.append(f"{record.name}: {record.getMessage()}")
        elif record.name.startswith(LOGGER_NAME):
            if record.levelno >= logging.WARNING:
                self.warnings.append(record.getMessage())
            elif record.levelno == logging.INFO:
                self.infos.append(record.getMessage())


@dataclass(slots=True)
class Transition:
    """A link state the runtime reported."""

    state: str
    reason: str | None
    delay: float  # the backoff step about to be slept
    at: float  # loop time


@dataclass(slots=True)
class Outage:
    """One injected fault that took the line away."""

    kind: str
    started: float
    back: float | None = None  # when a gone server listened again


class SerialLink:
    """The port as the reader holds it: open from its open to its close.

    Wraps what ``serialx.open_serial_connection`` returned; the reader only
    closes it. Nothing about the stream changes.
    """

    def __init__(self, writer: Any) -> None:
        self._writer = writer
        self.open = True

    def close(self) -> None:
        self.open = False
        self._writer.close()

    async def wait_closed(self) -> None:
        await self._writer.wait_closed()


class SerialPort:
    """Whether the reader holds the serial port open now."""

    def __init__(self) -> None:
        self.link: SerialLink | None = None

    @property
    def open(self) -> bool:
        return self.link is not None and self.link.open

    def pulled(self) -> None:
        """The cable was pulled: the reader's handle is dead."""
        if self.link is not None:
            self.link.open = False

    @contextlib.contextmanager
    def tracked(self) -> Generator[None]:
        """Note each opening of the port (its end: the line was flushed)."""
        real_open = serialx.open_serial_connection

        async def tracked(*args: Any, **kwargs: Any) -> Any:
            reader, writer = await real_open(*args, **kwargs)
            self.link = SerialLink(writer)
            return reader, self.link

        with patch.object(serialx, "open_serial_connection", tracked):
            yield


@dataclass
class Tally:
    """What was sent while connected, and what the integration made of it."""

    expected: deque[str] = field(default_factory=deque)  # texts in flight
    delivered_valid: int = 0
    delivered_lenient: int = 0  # of those valid, with an injected non-ASCII byte
    lenient_lines: int = 0  # lines with bytes outside ASCII in those valid
    delivered_faults: Counter[str] = field(default_factory=Counter)
    seen: int = 0
    wrong: list[str] = field(default_factory=list)
    max_backlog: int = 0
    streak: int = 0
    reject_warnings: int = 0
    pending_half: bool = False
    overflows: int = 0
    sent_into_void: int = 0


class Soak:
    """Drive one meter simulator against one config entry, injecting faults."""

    def __init__(
        self,
        hass: HomeAssistant,
        *,
        sim: Transmitter,
        clock: ManualClock,
        runtime: MeterRuntime,
        label: str,
        port: SerialPort | None = None,
    ) -> None:
        self.hass = hass
        self.sim = sim
        self.clock = clock
        self.runtime = runtime
        self.label = label
        self.loop = asyncio.get_running_loop()
        self.tally = Tally()
        self.transitions: list[Transition] = []
        self.outages: list[Outage] = []
        self.port = port  # the reader's serial port (serial only)
        self._last_snapshot: Snapshot | None = runtime.snapshot
        self._last_entry: Any = (
            runtime.counters.history[-1] if runtime.counters.history else None
        )
        self.memory: list[tracemalloc.Snapshot] = []
        self.stall_detected: list[float] = []
        self.measuring: list[float] = []  # seconds each memory snapshot took
        runtime.async_add_listener(self._observe)

    # --------------------------------------------------------------- observe

    def _observe(self) -> None:
        """Check each telegram the runtime took against what was delivered."""
        runtime = self.runtime
        history = runtime.counters.history
        entry = history[-1] if history else None
        if entry is not None and entry is not self._last_entry:
            self._last_entry = entry
            self.transitions.append(
                Transition(entry[1], entry[2], runtime.reader.delay, self.loop.time())
            )
        snapshot = runtime.snapshot
        if snapshot is None or snapshot is self._last_snapshot:
            return
        self._last_snapshot = snapshot
        tally = self.tally
        tally.seen += 1
        if not tally.expected:
            tally.wrong.append(f"telegram {tally.seen} was not sent while connected")
        elif tally.expected[0] != snapshot.raw:
            if snapshot.raw in tally.expected:
                lost = tally.expected.index(snapshot.raw)
                tally.wrong.append(f"{lost} telegram(s) lost before {tally.seen}")
                for _ in range(lost + 1):
                    tally.expected.popleft()
            else:
                tally.wrong.append(f"telegram {tally.seen} is not one that was sent")
        else:
            tally.expected.popleft()

    def connected(self) -> bool:
        """Whether a reader can take bytes now."""
        if self.port is not None:
            return self.port.open
        return True  # the server knows its connections: last_reached

    def rejects(self) -> int:
        return self.runtime.counters.rejected

    def caught_up(self) -> bool:
        """Whether everything sent while connected was handled."""
        tally = self.tally
        return not tally.expected and self.rejects() == sum(
            tally.delivered_faults.values()
        )

    async def idle(self) -> None:
        """Wait until the integration handled everything delivered."""
        await until(self.caught_up, timeout=SETTLE)

    # ------------------------------------------------------------------ send

    async def send(self) -> None:
        """Send the next telegram (or nothing on a serial line nobody holds)."""
        sim, tally = self.sim, self.tally
        if not self.connected():
            # A real line drops what nobody reads; a pty would keep it.
            self.clock.advance(1)
            tally.sent_into_void += 1
            return
        data = await sim.send_now()
        self.clock.advance(1)
        if not data:
            return
        if not sim.last_reached:
            if self.connected() and isinstance(sim, P1PtySimulator):
                tally.overflows += 1  # the pty was full: the reader fell behind
            return
        fault = sim.last_fault
        if fault is None or fault is TelegramFault.NON_ASCII:
            start = data.index(b"/")
            text = data[start : data.rindex(b"!")]
            if text.isascii():
                tally.expected.append(text.decode())
            else:  # padding (Holley), or the injected byte
                expected, lines, _ = lenient_text(text)
                tally.expected.append(expected)
                tally.lenient_lines += lines
            tally.delivered_lenient += fault is not None
            tally.delivered_valid += 1
            tally.streak = 0
            if tally.pending_half:
                # The cut-off telegram is rejected once the next one starts.
                tally.pending_half = False
                self._count_reject()
            tally.max_backlog = max(tally.max_backlog, len(tally.expected))
            if len(tally.expected) > BACKLOG:
                await until(lambda: len(tally.expected) <= BACKLOG // 4, timeout=SETTLE)
            return
        tally.delivered_faults[REASONS[fault]] += 1
        if fault is TelegramFault.HALF:
            tally.pending_half = True
        else:
            self._count_reject()

    def _count_reject(self) -> None:
        tally = self.tally
        tally.streak += 1
        if tally.streak == 3:
            tally.reject_warnings += 1

    # ---------------------------------------------------------------- faults

    async def inject(self, fault: Fault) -> None:
        sim = self.sim
        kind = fault.kind
        if kind in ("crc", "crc_burst"):
            sim.crc_errors(fault.size)
        elif kind == "garbage":
            sim.garbage(fault.size)
        elif kind == "half":
            sim.half_telegram()
        elif kind == "non_ascii":
            sim.non_ascii()
        elif kind == "close":
            # A clean close in the middle of the stream: all sent bytes arrive.
            self._outage(kind)
            assert isinstance(sim, P1TcpServer)
            sim.close_connections()
        elif kind == "reset":
            # A reset or a pulled cable loses bytes in flight: cut when idle.
            await self.idle()
            self._outage(kind)
            self._unplugged()
            if isinstance(sim, P1TcpServer):
                sim.close_connections(abort=True)
            else:
                sim.close_connections()
        elif kind == "stall":
            await self._stall()
        elif kind == "gone":
            if isinstance(sim, P1PtySimulator):
                await self.idle()
            outage = self._outage(kind)
            self._unplugged()
            back = await sim.server_gone(fault.seconds)

            def returned(_: asyncio.Task[None]) -> None:
                outage.back = self.loop.time()

            back.add_done_callback(returned)
            await self._send_while(lambda: not back.done())
            await back
        else:  # pragma: no cover
            raise AssertionError(kind)

    def _outage(self, kind: str) -> Outage:
        outage = Outage(kind, self.loop.time())
        self.outages.append(outage)
        return outage

    def _unplugged(self) -> None:
        if self.port is not None:
            self.port.pulled()

    async def _stall(self) -> None:
        """Send nothing until the watchdog hangs up, then go on."""
        sim = self.sim
        stalls = self._count(LinkState.STALLED)
        self._outage("stall")
        started = self.loop.time()
        sim.stall(True)
        try:
            await until(
                lambda: self._count(LinkState.STALLED) > stalls,
                timeout=self.runtime.reader.stall_timeout() + SETTLE,
            )
            self.stall_detected.append(self.loop.time() - started)
            if isinstance(sim, P1TcpServer):
                # The server notices the reader hung up; until then it would
                # write into a closed connection.
                await until(lambda: sim.clients == 0, timeout=SETTLE)
            else:
                await until(lambda: not self.connected(), timeout=SETTLE)
        finally:
            sim.stall(False)

    def _count(self, state: LinkState) -> int:
        return sum(1 for t in self.transitions if t.state == state.value)

    async def _send_while(self, condition: Callable[[], bool]) -> None:
        while condition():
            await self.send()
            await asyncio.sleep(PACE)

    # ------------------------------------------------------------------- run

    async def run(self, total: int, faults: list[Fault]) -> None:
        """Send until ``total`` telegrams were delivered, faults on the way."""
        tally = self.tally
        pending = deque(faults)
        half = total // 2
        warm = half + max(total // 10, 100)
        tracing = False

        def delivered() -> int:
            return tally.delivered_valid + sum(tally.delivered_faults.values())

        while delivered() < total or pending:
            count = delivered()
            if pending and count >= pending[0].at:
                await self.inject(pending.popleft())
            if not tracing and count >= half:
                tracing = True
                await self._flush_registries()
                gc.collect()
                tracemalloc.start(TRACE_DEPTH)
            if tracing and not self.memory and count >= warm:
                self.memory.append(self._traced())
            await self.send()
            await asyncio.sleep(PACE)
        # Back after the last fault, then valid telegrams: a telegram cut off
        # last is rejected once the next one starts.
        await self._send_while(lambda: not self.runtime.available)
        for _ in range(3):
            await self.send()
            await asyncio.sleep(PACE)
        await self.idle()
        await self.hass.async_block_till_done()
        if tracing:
            if not self.memory:  # pragma: no cover
                self.memory.append(self._traced())
            self.memory.append(self._traced())
            tracemalloc.stop()

    async def _flush_registries(self) -> None:
        """Write the registries now rather than during the measured half.

        The first values make Home Assistant note entity options, saved after
        a delay; the test harness keeps a copy of each store's last write.
        """
        hass = self.hass
        for store in (
            er.async_get(hass)._store,
            dr.async_get(hass)._store,
            hass.config_entries._store,
        ):
            await flush_store(store)

    def _traced(self) -> tracemalloc.Snapshot:
        """Collect garbage and take a snapshot (it blocks the loop a moment)."""
        started = time.perf_counter()
        gc.collect()
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        self.measuring.append(time.perf_counter() - started)
        return snapshot

    def growth(self) -> tuple[int, list[str]]:
        """Bytes kept more at the end than early in the second half, and where."""
        first, last = self.memory
        stats = last.compare_to(first, "traceback")
        top = [
            "\n    ".join([str(stat), *stat.traceback.format(most_recent_first=True)])
            for stat in stats[:5]
        ]
        return sum(stat.size_diff for stat in stats), top

    # ---------------------------------------------------------------- checks

    def _check_power_shown(self, snapshot: Snapshot) -> None:
        """The power shown is the last telegram's, or within a step of it and
        written less than the live interval ago (the update policy's promise).
        """
        state = self.hass.states.get(POWER)
        assert state is not None
        shown, latest = Decimal(state.state), snapshot.value("1.7.0")
        assert isinstance(latest, Decimal)
        if shown != latest:
            gap = abs(latest - shown)
            assert gap < POWER_STEP or gap * 10 < shown, (shown, latest)
            age = (datetime.now(UTC) - state.last_updated).total_seconds()
            assert age < self.runtime.interval("live") + 1, (shown, latest, age)

    def check(self, tally_log: LogTally) -> None:
        """Assert what the soak promises (see the module docstring)."""
        tally = self.tally
        runtime = self.runtime
        counters = runtime.counters
        label = self.label

        assert tally.wrong == [], f"{label}: {tally.wrong[:5]}"
        assert tally.overflows == 0, f"{label}: the pty overflowed"
        assert not tally.expected
        assert tally.seen == tally.delivered_valid
        assert counters.received == tally.delivered_valid
        assert counters.lenient_lines == tally.lenient_lines
        assert tally.lenient_lines >= tally.delivered_lenient
        assert dict(counters.rejected_by_reason) == dict(tally.delivered_faults)
        assert counters.rejected == sum(tally.delivered_faults.values())
        if isinstance(self.sim, P1TcpServer):
            # What the server counted agrees with the soak's tally.
            faults = dict(self.sim.delivered_faults)
            lenient = faults.pop(TelegramFault.NON_ASCII, 0)
            assert lenient == tally.delivered_lenient
            assert self.sim.valid_delivered + lenient == tally.delivered_valid
            assert {REASONS[fault]: n for fault, n in faults.items()} == dict(
                tally.delivered_faults
            )
        assert state_of(self.hass, RECEIVED) == str(tally.delivered_valid)
        assert state_of(self.hass, REJECTED) == str(counters.rejected)
        snapshot = runtime.snapshot
        assert snapshot is not None
        self._check_power_shown(snapshot)
        assert runtime.available

        self._check_outages()

        assert tally_log.errors == [], f"{label}: {tally_log.errors[:5]}"
        unavailable = [w for w in tally_log.warnings if "is unavailable" in w]
        unreadable = [w for w in tally_log.warnings if "cannot be read" in w]
        assert len(unavailable) == len(self.outages)
        assert len(unreadable) == tally.reject_warnings
        assert len(tally_log.warnings) == len(unavailable) + len(unreadable)
        assert len([i for i in tally_log.infos if "is back" in i]) == len(self.outages)

        growth, top = self.growth()
        assert growth <= MEMORY_BOUND, (
            f"{label}: {growth} bytes more over the second half:\n" + "\n".join(top)
        )

    def _check_outages(self) -> None:
        """Each outage: one reported cut, backoff from 1 s, a first-try return."""
        label = self.label
        trans = self.transitions
        connected = [i for i, t in enumerate(trans) if t.state == "connected"]
        # The first telegram connects; every outage ends with a reconnect.
        assert len(connected) == len(self.outages) + 1, (
            f"{label}: {len(connected) - 1} outages seen, {len(self.outages)} made:"
            f" {[(t.state, t.reason) for t in trans if t.state != 'connected']}"
        )
        attempts = sum(1 for t in trans if t.state == "connecting")
        assert self.runtime.counters.reconnects == attempts
        assert state_of(self.hass, RECONNECTS) == str(attempts)
        for outage, start, end in zip(
            self.outages, connected[:-1], connected[1:], strict=True
        ):
            steps = trans[start + 1 : end]
            what = f"{label} {outage.kind}: {[(t.state, t.delay) for t in steps]}"
            assert steps[0].at >= outage.started
            expected_first = {
                "stall": "stalled",
                "close": "disconnected",
                "reset": "disconnected",
                "gone": "disconnected",
            }[outage.kind]
            assert steps[0].state == expected_first, what
            failures = steps[0::2]
            assert all(t.state != "connecting" for t in failures), what
            assert all(t.state == "connecting" for t in steps[1::2]), what
            assert steps[-1].state == "connecting", what
            # The backoff starts at 1 s (a valid telegram reset it) and doubles.
            delays = [t.delay for t in failures]
            assert delays == [
                min(BACKOFF_INITIAL * 2**n, BACKOFF_MAX) for n in range(len(delays))
            ], what
            # Each attempt waited its backoff step, and no longer.
            for failure, attempt in zip(failures, steps[1::2], strict=True):
                waited = attempt.at - failure.at
                assert failure.delay - 0.01 <= waited <= failure.delay + LATE, what
            if outage.kind != "gone":
                assert len(steps) == 2, what  # the first attempt succeeds
                continue
            assert outage.back is not None
            # The first attempt after the server returned succeeds, within the
            # backoff step that was running when it returned.
            after = [t for t in steps[1::2] if t.at >= outage.back]
            assert after == [steps[-1]], what
            in_force = failures[-1].delay
            assert steps[-1].at - outage.back <= in_force + LATE, what

    def summary(self) -> str:
        tally = self.tally
        kinds = Counter(o.kind for o in self.outages)
        gone = [
            round(o.back - o.started, 1)
            for o in self.outages
            if o.kind == "gone" and o.back
        ]
        growth, top = self.growth()
        where = "\n  ".join(top[:3]) if os.environ.get("SOAK_TRACE_DEPTH") else ""
        return (
            f"{self.label}: {tally.delivered_valid} valid telegrams delivered and"
            f" taken ({tally.delivered_lenient} with a damaged byte outside ASCII,"
            f" {tally.lenient_lines} lines read leniently),"
            f" rejected {dict(tally.delivered_faults)}, {self.sim.sent} sent"
            f" ({tally.sent_into_void} while no reader held the port),"
            f" outages {dict(kinds)} (gone for {gone} s),"
            f" stall noticed after {[round(s, 2) for s in self.stall_detected]} s,"
            f" max backlog {tally.max_backlog},"
            f" second-half memory {growth:+d} bytes"
            f" (snapshots took {[round(m, 2) for m in self.measuring]} s)"
            + (f", most from:\n  {where}" if where else "")
        )


# ---------------------------------------------------------------- fixtures


@dataclass(slots=True)
class Watch:
    """What a soak run watches besides the integration, and its seed."""

    seed: int
    log: LogTally
    loop_errors: list[str]
    capsys: pytest.CaptureFixture[str]

    def say(self, text: str) -> None:
        """Print past pytest's capture: the seed and the numbers always show."""
        with self.capsys.disabled():
            print(text)


@pytest.fixture
def watch(capsys: pytest.CaptureFixture[str]) -> Generator[Watch]:
    """Count log records and unhandled exceptions; enable every entity."""
    log = LogTally()
    logger = logging.getLogger(LOGGER_NAME)
    level = logger.level
    logger.setLevel(logging.INFO)
    root = logging.getLogger()
    root.addHandler(log)
    loop = asyncio.get_event_loop()
    errors: list[str] = []
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        errors.append(str(context.get("exception") or context.get("message")))
        if previous is not None:
            previous(loop, context)
        else:  # pragma: no cover
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    # Home Assistant runs its loop without asyncio's debug mode; the test
    # harness turns it on, and it keeps a traceback with every callback.
    debug = loop.get_debug()
    loop.set_debug(False)
    seed = _seed()
    result = Watch(seed, log, errors, capsys)
    result.say(f"\nsoak seed {seed} (SOAK_SEED={seed} repeats this run)")
    with patch(
        # The counters' entities are disabled by default.
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield result
    loop.set_debug(debug)
    loop.set_exception_handler(previous)
    root.removeHandler(log)
    logger.setLevel(level)


def _clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


async def _soak(
    hass: HomeAssistant,
    watch: Watch,
    *,
    sim: Transmitter,
    clock: ManualClock,
    entry: MockConfigEntry,
    total: int,
    faults: list[Fault],
    port: SerialPort | None = None,
) -> None:
    label = f"{'serial' if port is not None else 'tcp'} {sim.source.profile.name}"
    started = time.monotonic()
    assert await setup_meter(hass, entry)
    runtime: MeterRuntime = entry.runtime_data
    soak = Soak(hass, sim=sim, clock=clock, runtime=runtime, label=label, port=port)
    await soak.run(total, faults)
    soak.check(watch.log)
    assert watch.loop_errors == []
    assert await hass.config_entries.async_unload(entry.entry_id)
    watch.say(f"{soak.summary()}; {time.monotonic() - started:.1f} s")


# ------------------------------------------------------------------- tests


@pytest.mark.parametrize("profile", ["nl_dsmr5_gas", "holley_x25"])
async def test_tcp_soak(hass: HomeAssistant, watch: Watch, profile: str) -> None:
    """Telegrams over loopback TCP with faults, the server gone up to 10 s.

    Also from a meter whose checksum is CRC-16/X.25 and whose every telegram
    holds bytes outside ASCII (padding).
    """
    rng = random.Random(watch.seed)
    total = pick(20_000, 1_500)
    outages = [
        round(rng.uniform(1, 10), 1) if not SHORT else round(rng.uniform(1, 2.5), 1)
        for _ in range(pick(4, 1))
    ]
    faults = plan_faults(
        rng,
        total,
        pick((200, 500), (60, 150)),
        outages,
        ("close", "close", "reset", "stall"),
    )
    clock = _clock()
    sim = P1TcpServer(
        TelegramSource(profile, seed=watch.seed % 1000, clock=clock),
        interval=3600,  # the soak sends; the ticker never fires
        fault_seed=watch.seed,
    )
    await sim.listen()
    entry = meter_entry(sim.port, equipment_id=sim.meter.equipment_id)
    try:
        await _soak(
            hass, watch, sim=sim, clock=clock, entry=entry, total=total, faults=faults
        )
    finally:
        await sim.stop()


async def test_serial_soak(hass: HomeAssistant, watch: Watch) -> None:
    """Telegrams through a pty as a serial port; the cable pulled and put back."""
    rng = random.Random(watch.seed ^ 0x5E5)
    total = pick(6_000, 600)
    outages = [
        round(rng.uniform(1, 6), 1) if not SHORT else round(rng.uniform(1, 2.5), 1)
        for _ in range(pick(2, 1))
    ]
    faults = plan_faults(
        rng, total, pick((200, 500), (60, 150)), outages, ("reset", "stall")
    )
    clock = _clock()
    sim = P1PtySimulator(
        TelegramSource("nl_dsmr5_gas", seed=watch.seed % 1000, clock=clock),
        interval=3600,
        fault_seed=watch.seed,
    )
    sim.plug()
    port = SerialPort()
    entry = meter_entry(serial_port=sim.path, equipment_id=sim.meter.equipment_id)
    try:
        with port.tracked():
            await _soak(
                hass,
                watch,
                sim=sim,
                clock=clock,
                entry=entry,
                total=total,
                faults=faults,
                port=port,
            )
    finally:
        await sim.stop()


def test_plan_covers_every_fault() -> None:
    rng = random.Random(7)
    faults = plan_faults(rng, 1_500, (60, 150), [1.5], ("close", "reset", "stall"))
    kinds = Counter(f.kind for f in faults)
    assert set(kinds) == {*DATA_FAULTS, "close", "reset", "stall", "gone"}
    assert kinds["gone"] == 1
    assert all(b.at - a.at >= 60 for a, b in itertools.pairwise(faults))
