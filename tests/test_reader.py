"""The reconnecting reader over a real loopback TCP server and a real pty."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
import contextlib
from decimal import Decimal
from typing import Any

import pytest

from custom_components.slimme_meter.p1.connection import Endpoint, parse_network_address
from custom_components.slimme_meter.p1.decode import Decoder, Snapshot, TelegramError
from custom_components.slimme_meter.p1.reader import LinkState, P1Reader
from custom_components.slimme_meter.p1.specs import SPECS, SerialSettings

from .helpers import (
    V4,
    V5,
    V5_EQUIPMENT_ID,
    Pty,
    bad_crc,
    body,
    power,
    until,
    with_crc,
)
from .server import TelegramServer

CONNECTING = LinkState.CONNECTING
CONNECTED = LinkState.CONNECTED
DISCONNECTED = LinkState.DISCONNECTED
STALLED = LinkState.STALLED


class Recorder:
    """A reader and everything its callbacks reported."""

    def __init__(self, endpoint: Any, spec: str = "5", **options: float) -> None:
        self.snapshots: list[Snapshot] = []
        self.rejects: list[TelegramError] = []
        # (state, reason, backoff delay about to be slept, loop time)
        self.states: list[tuple[LinkState, str | None, float, float]] = []
        settings: dict[str, float] = {
            "backoff_initial": 0.02,
            "backoff_max": 0.08,
            "stall_factor": 3.0,
            "min_stall_timeout": 1.0,
        }
        settings.update(options)
        self.reader = P1Reader(
            endpoint,
            Decoder(SPECS[spec]),
            on_snapshot=self.snapshots.append,
            on_state=self._on_state,
            on_reject=self.rejects.append,
            **settings,
        )

    def _on_state(self, state: LinkState, reason: str | None) -> None:
        loop = asyncio.get_running_loop()
        self.states.append((state, reason, self.reader.delay, loop.time()))

    def names(self) -> list[LinkState]:
        return [state for state, *_ in self.states]

    def count(self, state: LinkState) -> int:
        return self.names().count(state)

    def reasons(self) -> list[str]:
        return [err.reason for err in self.rejects]

    @contextlib.asynccontextmanager
    async def running(self, stream: Any = None) -> AsyncGenerator[asyncio.Task[None]]:
        task = asyncio.create_task(self.reader.run(stream))
        try:
            yield task
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def tcp(server: TelegramServer) -> Endpoint:
    return Endpoint(host="127.0.0.1", port=server.port)


async def test_telegrams_reach_on_snapshot(server: TelegramServer) -> None:
    rec = Recorder(tcp(server))
    server.on_connect = V5
    async with rec.running():
        await until(lambda: rec.snapshots)
        first = rec.snapshots[0]
        assert first.value("1.7.0") == Decimal("0.244")
        assert first.value("1.8.1") == Decimal("4.426")
        assert first.equipment_id == V5_EQUIPMENT_ID
        gas = first.mbus_device(1)
        assert gas is not None
        assert gas.reading == Decimal("0.107")

        await server.send(power("01.234"))
        await until(lambda: len(rec.snapshots) == 2)
        assert rec.snapshots[1].value("1.7.0") == Decimal("1.234")
    assert rec.names() == [CONNECTING, CONNECTED]
    assert rec.rejects == []
    assert server.connections == 1


async def test_server_close_reconnects(server: TelegramServer) -> None:
    rec = Recorder(tcp(server))
    server.on_connect = V5
    async with rec.running():
        await until(lambda: rec.count(CONNECTED) == 1)
        server.drop_clients()
        await until(lambda: rec.count(CONNECTED) == 2)
        assert rec.names() == [
            CONNECTING,
            CONNECTED,
            DISCONNECTED,
            CONNECTING,
            CONNECTED,
        ]
        assert rec.states[2][1] == "connection closed"
        assert server.connections == 2
        assert len(rec.snapshots) == 2


async def test_backoff_doubles_while_server_is_gone_and_resets(
    server: TelegramServer,
) -> None:
    rec = Recorder(tcp(server), backoff_initial=0.02, backoff_max=0.08)
    server.on_connect = V5
    port = server.port
    async with rec.running():
        await until(lambda: rec.count(CONNECTED) == 1)
        await server.stop()
        await until(lambda: rec.count(DISCONNECTED) >= 5)
        await server.start(port)
        await until(lambda: rec.count(CONNECTED) == 2)
        assert rec.reader.delay == 0.02  # a valid telegram resets the backoff
        server.drop_clients()
        await until(lambda: rec.count(DISCONNECTED) >= 6)

    failures = [entry for entry in rec.states if entry[0] is DISCONNECTED]
    assert [delay for _, _, delay, _ in failures[:5]] == [0.02, 0.04, 0.08, 0.08, 0.08]
    assert failures[0][1] == "connection closed"
    # While the server is gone, every attempt is refused.
    assert all(
        reason and reason != "connection closed" for _, reason, *_ in failures[1:5]
    )
    # After reconnecting and one valid telegram, the next outage starts over.
    after = [
        e for e in failures if e[3] > rec.states[rec.names().index(CONNECTED, 2)][3]
    ]
    assert after[0][2] == 0.02
    assert after[0][1] == "connection closed"

    # Each reconnect attempt waited at least its backoff delay.
    for index, (state, _, delay, time) in enumerate(rec.states[:-1]):
        if state is DISCONNECTED:
            following = rec.states[index + 1]
            assert following[0] is CONNECTING
            assert following[3] - time >= delay - 0.005


async def test_stall_without_data_reconnects(server: TelegramServer) -> None:
    # V5 meters send every second; 0.1 x 1 s (no less than 0.1 s) is the watchdog.
    rec = Recorder(tcp(server), stall_factor=0.1, min_stall_timeout=0.1)
    assert rec.reader.stall_timeout() == pytest.approx(0.1)
    server.on_connect = V5
    async with rec.running():
        await until(lambda: rec.count(CONNECTED) == 2)
        assert server.connections == 2
        await until(lambda: server.disconnects >= 1)  # the reader hung up
    names = rec.names()
    assert names[:5] == [CONNECTING, CONNECTED, STALLED, CONNECTING, CONNECTED]
    _, reason, _, stalled_at = rec.states[2]
    assert reason == "no valid telegram received"
    assert stalled_at - rec.states[1][3] >= 0.1 - 0.005


@pytest.mark.parametrize(
    ("payload", "reasons"),
    [
        (bad_crc(V5), {"checksum"}),
        (b"\x00\xff garbage without any frame\r\n" * 20, set()),
    ],
    ids=["invalid-telegrams", "garbage"],
)
async def test_stall_while_only_invalid_data_arrives(
    server: TelegramServer, payload: bytes, reasons: set[str]
) -> None:
    rec = Recorder(tcp(server), stall_factor=0.1, min_stall_timeout=0.15)

    async def babble() -> None:
        while True:
            await server.send(payload)
            await asyncio.sleep(0.02)

    async with rec.running():
        await server.wait_client()
        sender = asyncio.create_task(babble())
        try:
            await until(lambda: rec.count(STALLED) >= 1)
            await until(lambda: server.connections >= 2)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
    assert CONNECTED not in rec.names()
    assert rec.names()[:3] == [CONNECTING, STALLED, CONNECTING]
    assert rec.snapshots == []
    assert set(rec.reasons()) == reasons
    if reasons:
        assert len(rec.rejects) >= 3  # data kept coming, the watchdog fired anyway


async def test_rejected_telegrams_keep_the_connection(server: TelegramServer) -> None:
    rec = Recorder(tcp(server))
    noise = with_crc(b"/XYZ5\r\n\r\nthis is no telegram\r\n!")
    half = V5[: len(V5) // 2]
    async with rec.running():
        await server.wait_client()
        steps: list[tuple[bytes, list[str]]] = [
            (bad_crc(V5), ["checksum"]),
            (half, []),
            (V5, ["incomplete"]),
            (noise, ["malformed"]),
            (body(V5) + b"\r\n", ["checksum"]),  # CRC missing where V5 needs one
            (half + half + power("02.000"), ["incomplete", "incomplete"]),
        ]
        expected: list[str] = []

        def rejected(count: int) -> Callable[[], bool]:
            return lambda: len(rec.rejects) == count

        for data, reasons in steps:
            expected += reasons
            await server.send(data)
            await until(rejected(len(expected)))
        await until(lambda: len(rec.snapshots) == 2)
        await asyncio.sleep(0.02)

    assert rec.reasons() == expected
    assert all(isinstance(err, TelegramError) for err in rec.rejects)
    assert str(rec.rejects[0]).startswith("checksum ")
    assert [s.value("1.7.0") for s in rec.snapshots] == [
        Decimal("0.244"),
        Decimal("2.000"),
    ]
    assert rec.names() == [CONNECTING, CONNECTED]
    assert server.connections == 1


async def test_interval_follows_the_meter(server: TelegramServer) -> None:
    # A DSMR 4 meter nominally sends every 10 s: the watchdog starts at 30 s.
    rec = Recorder(tcp(server), spec="4", stall_factor=3.0, min_stall_timeout=0.05)
    assert rec.reader.interval == 10
    assert rec.reader.stall_timeout() == 30
    async with rec.running():
        await server.wait_client()
        for _ in range(30):
            await server.send(V4)
            await asyncio.sleep(0.02)
        await until(lambda: len(rec.snapshots) == 30)
        interval = rec.reader.interval
        assert 0.01 < interval < 0.5
        assert rec.reader.stall_timeout() == pytest.approx(max(3 * interval, 0.05))
        last = asyncio.get_running_loop().time()
        # The shorter interval makes the watchdog notice the silence quickly.
        await until(lambda: rec.count(STALLED) == 1, timeout=2)
        assert rec.states[-1][3] - last < 1.6
    # After the reconnect the interval is measured afresh, from the stall onwards.
    assert rec.names()[:3] == [CONNECTING, CONNECTED, STALLED]


def test_stall_timeout_has_a_floor() -> None:
    endpoint = Endpoint(host="127.0.0.1", port=1)
    slow = P1Reader(
        endpoint,
        Decoder(SPECS["4"]),
        on_snapshot=print,
        on_state=print,
        on_reject=print,
    )
    assert slow.delay == 1.0
    assert slow.stall_timeout() == 30.0  # 3 x 10 s
    fast = P1Reader(
        endpoint,
        Decoder(SPECS["5"]),
        on_snapshot=print,
        on_state=print,
        on_reject=print,
        stall_factor=0.5,
        min_stall_timeout=2.0,
    )
    assert fast.stall_timeout() == 2.0


class _Closable:
    def __init__(self) -> None:
        self.closed = 0
        self.waited = 0

    def close(self) -> None:
        self.closed += 1

    async def wait_closed(self) -> None:
        assert self.closed, "waited before closing"
        self.waited += 1
        raise BrokenPipeError  # as a transport that failed may; not an error here


class _SlowEndpoint:
    """An endpoint whose open() times out, as a silent network would."""

    def __init__(self) -> None:
        self.attempts = 0

    async def open(self, settings: SerialSettings) -> Any:
        self.attempts += 1
        raise TimeoutError


async def test_open_timeout_is_a_failed_attempt() -> None:
    endpoint = _SlowEndpoint()
    rec = Recorder(endpoint)
    async with rec.running():
        await until(lambda: endpoint.attempts >= 3)
    assert rec.states[1][:2] == (DISCONNECTED, "timeout")
    assert rec.names()[:4] == [CONNECTING, DISCONNECTED, CONNECTING, DISCONNECTED]


async def test_read_error_without_message() -> None:
    rec = Recorder(_SlowEndpoint())
    stream = asyncio.StreamReader()
    stream.feed_data(V5)
    closable = _Closable()
    async with rec.running((stream, closable)):
        await until(lambda: rec.snapshots)
        stream.set_exception(ConnectionResetError())
        await until(lambda: rec.count(CONNECTING) >= 1)
    # An already opened stream: no CONNECTING before the first telegram.
    assert rec.names()[:3] == [CONNECTED, DISCONNECTED, CONNECTING]
    assert rec.states[1][1] == "ConnectionResetError"
    assert closable.closed == 1
    # The reader waits until the stream is closed (a serial port unlocked).
    assert closable.waited == 1


class _FaultyDecoder(Decoder):
    """A decoder with a fault no telegram should trigger (a bug, say)."""

    def decode(self, frame: bytes) -> Snapshot:
        if b"(02.000*kW)" in frame:
            raise ZeroDivisionError("decimal division by zero")
        return super().decode(frame)


async def test_a_fault_in_decoding_is_counted_and_reading_goes_on(
    server: TelegramServer, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder(tcp(server))
    rec.reader.decoder = _FaultyDecoder(SPECS["5"])
    server.on_connect = V5
    async with rec.running():
        await until(lambda: rec.snapshots)
        for _ in range(2):
            await server.send(power("02.000"))
        await until(lambda: len(rec.rejects) == 2)
        await server.send(power("03.000"))
        await until(lambda: len(rec.snapshots) == 2)
    assert rec.reasons() == ["decoder_fault", "decoder_fault"]
    assert str(rec.rejects[0]) == "ZeroDivisionError: decimal division by zero"
    assert rec.snapshots[1].value("1.7.0") == Decimal("3.000")
    assert rec.names() == [CONNECTING, CONNECTED]  # no reconnect either
    assert caplog.text.count("Error while decoding a telegram") == 1


async def test_cancel_closes_the_connection(server: TelegramServer) -> None:
    rec = Recorder(tcp(server))
    server.on_connect = V5
    async with rec.running() as task:
        await until(lambda: rec.snapshots)
        assert server.clients == 1
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await until(lambda: server.disconnects == 1)
        assert server.clients == 0
    assert task.cancelled()
    assert rec.names() == [CONNECTING, CONNECTED]


class Counted:
    """An endpoint that counts the streams it opened (serialx flushes on open)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.opened = 0

    async def open(self, settings: SerialSettings) -> Any:
        stream = await self.endpoint.open(settings)
        self.opened += 1
        return stream


@pytest.fixture
def pty() -> Pty:
    port = Pty()
    yield port
    port.close()


async def test_serial_port_through_a_pty(pty: Pty) -> None:
    port = Counted(Endpoint(serial_port=pty.path))
    rec = Recorder(port)
    async with rec.running():
        await until(lambda: port.opened == 1)
        pty.write(V5)
        await until(lambda: rec.snapshots)
        assert rec.snapshots[0].value("1.7.0") == Decimal("0.244")
        pty.write(power("03.000")[:300])
        await asyncio.sleep(0.02)
        pty.write(power("03.000")[300:])
        await until(lambda: len(rec.snapshots) == 2)
        assert rec.snapshots[1].value("1.7.0") == Decimal("3.000")

        pty.vanish()  # the cable is pulled
        await until(lambda: rec.count(DISCONNECTED) >= 3)
    assert rec.names()[:4] == [CONNECTING, CONNECTED, DISCONNECTED, CONNECTING]
    assert rec.states[2][1]  # the read error's message
    failures = [delay for state, _, delay, _ in rec.states if state is DISCONNECTED]
    assert failures[:3] == [0.02, 0.04, 0.08]
    assert len(rec.snapshots) == 2


async def test_cancel_closes_the_serial_port(pty: Pty) -> None:
    port = Counted(Endpoint(serial_port=pty.path))
    rec = Recorder(port)
    async with rec.running() as task:
        await until(lambda: port.opened == 1)
        pty.write(V5)
        await until(lambda: rec.snapshots)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    # Whatever the reader held is closed: another reader gets the port and data.
    port = Counted(Endpoint(serial_port=pty.path))
    again = Recorder(port)
    async with again.running():
        await until(lambda: port.opened == 1)
        pty.write(power("04.000"))
        await until(lambda: again.snapshots)
    assert again.snapshots[0].value("1.7.0") == Decimal("4.000")


def test_endpoints() -> None:
    serial = Endpoint.from_data({"serial_port": "/dev/ttyUSB0", "host": "ignored"})
    assert serial == Endpoint(serial_port="/dev/ttyUSB0")
    assert str(serial) == "/dev/ttyUSB0"
    network = Endpoint.from_data({"host": "p1.local", "port": "8088"})
    assert network == Endpoint(host="p1.local", port=8088)
    assert str(network) == "p1.local:8088"
    assert parse_network_address(" socket://10.0.0.5:23 ") == Endpoint(
        host="10.0.0.5", port=23
    )
    assert parse_network_address("tcp://bridge:2000") == Endpoint(
        host="bridge", port=2000
    )
    assert parse_network_address("bridge", 8088) == Endpoint(host="bridge", port=8088)
    with pytest.raises(ValueError, match="no port"):
        parse_network_address("bridge")
    with pytest.raises(ValueError, match="not a network address"):
        parse_network_address("http://bridge:80")
    with pytest.raises(ValueError, match="not a network address"):
        parse_network_address("socket://:80")
