"""The TCP and pty stream simulators and their fault switches."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import timedelta
import os
import re
from typing import Any

from dsmr_parser import telegram_specifications
from dsmr_parser.clients.telegram_buffer import EncryptedTelegramBuffer, TelegramBuffer
from dsmr_parser.exceptions import InvalidChecksumError
from dsmr_parser.parsers import TelegramParser
import pytest
from serialx import open_serial_connection

from simulators import p1
from simulators.dlms import DEFAULT_ENCRYPTION_KEY
from simulators.p1 import P1PtySimulator, P1TcpServer, TelegramFault
from simulators.source import ManualClock, TelegramSource
from simulators.telegram import crc16

pytestmark = pytest.mark.usefixtures("socket_enabled")

TIMEOUT = 1.0
QUIET = 3600.0  # an interval that never fires during a test
V5 = TelegramParser(telegram_specifications.V5)


def _crc_ok(telegram: bytes) -> bool:
    end = telegram.rindex(b"!") + 1
    return int(telegram[end : end + 4], 16) == crc16(telegram[:end])


def _telegrams(stream: bytes) -> list[str]:
    buffer = TelegramBuffer()
    buffer.append(stream.decode("latin-1"))
    return list(buffer.get_all())


@pytest.fixture
async def server(clock: ManualClock) -> AsyncGenerator[P1TcpServer]:
    tcp = P1TcpServer(
        TelegramSource("nl_dsmr5_gas", seed=3, clock=clock), interval=QUIET
    )
    await tcp.start()
    yield tcp
    await tcp.stop()


class Client:
    """A plain asyncio TCP client."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, server: P1TcpServer) -> Client:
        expected = server.clients + 1
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        await server.wait_for_clients(expected)
        return cls(reader, writer)

    async def read(self, count: int) -> bytes:
        return await asyncio.wait_for(self.reader.readexactly(count), TIMEOUT)

    async def nothing_arrives(self, seconds: float = 0.05) -> bool:
        try:
            await asyncio.wait_for(self.reader.read(1), seconds)
        except TimeoutError:
            return True
        return False

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass


async def test_streams_telegrams_every_interval(clock: ManualClock) -> None:
    tcp = P1TcpServer(
        TelegramSource("nl_dsmr5_gas", seed=3, clock=clock), interval=0.01
    )
    await tcp.start()
    client = await Client.connect(tcp)
    stream = b""
    while len(_telegrams(stream)) < 5:
        stream += await asyncio.wait_for(client.reader.read(65536), TIMEOUT)
        clock.advance(1)
    await client.close()
    await tcp.stop()
    telegrams = _telegrams(stream)
    assert len(telegrams) >= 5
    assert tcp.sent >= 5
    stamps = [V5.parse(t).P1_MESSAGE_TIMESTAMP.value for t in telegrams]
    assert stamps == sorted(stamps)


async def test_send_now_is_what_the_client_reads(
    server: P1TcpServer, clock: ManualClock
) -> None:
    client = await Client.connect(server)
    sent = await server.send_now()
    assert await client.read(len(sent)) == sent
    assert server.last_valid_telegram == sent
    assert (server.sent, server.valid_sent) == (1, 1)
    first = V5.parse(sent.decode("ascii"))
    assert first.P1_MESSAGE_TIMESTAMP.value == clock()
    clock.advance(1)
    later = await server.send_now()
    assert await client.read(len(later)) == later
    second = V5.parse(later.decode("ascii"))
    assert second.P1_MESSAGE_TIMESTAMP.value == clock()
    assert (
        second.ELECTRICITY_USED_TARIFF_2.value >= first.ELECTRICITY_USED_TARIFF_2.value
    )
    await client.close()


async def test_every_client_gets_the_same_bytes(server: P1TcpServer) -> None:
    one = await Client.connect(server)
    two = await Client.connect(server)
    assert server.clients == 2
    sent = await server.send_now()
    assert await one.read(len(sent)) == sent
    assert await two.read(len(sent)) == sent
    await one.close()
    await two.close()


async def test_crc_errors(server: P1TcpServer, clock: ManualClock) -> None:
    client = await Client.connect(server)
    server.crc_errors(2)
    assert server.pending_faults == (TelegramFault.WRONG_CRC,) * 2
    received = []
    for _ in range(3):
        clock.advance(1)
        sent = await server.send_now()
        assert await client.read(len(sent)) == sent
        received.append(sent)
    assert [_crc_ok(t) for t in received] == [False, False, True]
    assert (server.sent, server.valid_sent) == (3, 1)
    assert server.last_valid_telegram == received[2]
    with pytest.raises(InvalidChecksumError):
        V5.parse(received[0].decode("ascii"))
    await client.close()


async def test_garbage_between_telegrams(server: P1TcpServer) -> None:
    client = await Client.connect(server)
    server.garbage(40)
    sent = await server.send_now()
    data = await client.read(len(sent))
    noise, telegram = data[:40], data[40:]
    assert telegram == server.last_valid_telegram
    assert any(b >= 0x80 for b in noise)
    assert b"/" not in noise
    assert b"!" not in noise
    (found,) = _telegrams(data)
    assert found.encode("latin-1") == telegram
    await client.close()


async def test_half_telegram_then_whole(
    server: P1TcpServer, clock: ManualClock
) -> None:
    client = await Client.connect(server)
    server.half_telegram()
    half = await server.send_now()
    clock.advance(1)
    whole = await server.send_now()
    data = await client.read(len(half) + len(whole))
    assert data == half + whole
    assert b"!" not in half
    assert whole.startswith(b"/")
    assert _crc_ok(whole)
    assert len(whole) - 2 <= 2 * len(half) <= len(whole) + 2
    assert [t.encode() for t in _telegrams(data)] == [whole]
    await client.close()


async def test_non_ascii_byte(server: P1TcpServer) -> None:
    client = await Client.connect(server)
    server.non_ascii()
    sent = await server.send_now()
    data = await client.read(len(sent))
    assert [b for b in data if b >= 0x80]
    assert _crc_ok(data)
    assert server.valid_sent == 0
    await client.close()


async def test_stall_keeps_the_connection_quiet(server: P1TcpServer) -> None:
    client = await Client.connect(server)
    server.stall(True)
    assert server.stalled
    assert await server.send_now() == b""
    assert await client.nothing_arrives()
    assert server.clients == 1
    assert server.sent == 0
    server.stall(False)
    sent = await server.send_now()
    assert await client.read(len(sent)) == sent
    await client.close()


async def test_stalled_ticker_sends_nothing(clock: ManualClock) -> None:
    tcp = P1TcpServer(TelegramSource("se", seed=3, clock=clock), interval=0.005)
    tcp.stall(True)
    await tcp.start()
    client = await Client.connect(tcp)
    assert await client.nothing_arrives(0.05)
    tcp.stall(False)
    data = await asyncio.wait_for(client.reader.readuntil(b"!"), TIMEOUT)
    assert data.startswith(b"/KAM5")
    await client.close()
    await tcp.stop()


async def test_meter_swap(server: P1TcpServer, clock: ManualClock) -> None:
    client = await Client.connect(server)
    before = V5.parse((await server.send_now()).decode())
    server.meter_swap()
    clock.advance(1)
    after = V5.parse((await server.send_now()).decode())
    assert after.EQUIPMENT_IDENTIFIER.value != before.EQUIPMENT_IDENTIFIER.value
    assert before.ELECTRICITY_USED_TARIFF_1.value > 100
    assert after.ELECTRICITY_USED_TARIFF_1.value < 1
    assert after.ELECTRICITY_USED_TARIFF_2.value == 0
    await client.close()


async def test_close_connections(server: P1TcpServer) -> None:
    client = await Client.connect(server)
    server.close_connections()
    assert await asyncio.wait_for(client.reader.read(), TIMEOUT) == b""
    await client.close()
    again = await Client.connect(server)
    sent = await server.send_now()
    assert await again.read(len(sent)) == sent
    await again.close()


async def test_close_connections_with_reset(server: P1TcpServer) -> None:
    client = await Client.connect(server)
    server.close_connections(abort=True)
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(client.reader.read(), TIMEOUT)
    await client.close()


async def test_server_gone_and_back_on_the_same_port(server: P1TcpServer) -> None:
    port = server.port
    client = await Client.connect(server)
    back = await server.server_gone(0.1)
    serving_while_gone = server.serving
    assert not serving_while_gone
    assert await asyncio.wait_for(client.reader.read(), TIMEOUT) == b""
    await client.close()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    await back
    assert server.serving
    assert server.port == port
    again = await Client.connect(server)
    sent = await server.send_now()
    assert await again.read(len(sent)) == sent
    await again.close()


async def test_delivery_bookkeeping(server: P1TcpServer, clock: ManualClock) -> None:
    # Nobody listens: telegrams go out but reach no one.
    assert await server.send_now()
    assert (server.sent, server.delivered, server.last_reached) == (1, 0, 0)
    client = await Client.connect(server)
    server.crc_errors(1)
    server.half_telegram()
    server.non_ascii()
    server.garbage(10)
    sent = b""
    for _ in range(5):
        clock.advance(1)
        sent += await server.send_now()
        assert server.last_reached == 1
    assert await client.read(len(sent)) == sent
    assert (server.sent, server.valid_sent) == (6, 3)
    assert (server.delivered, server.valid_delivered) == (5, 2)
    assert server.delivered_faults == {
        TelegramFault.WRONG_CRC: 1,
        TelegramFault.HALF: 1,
        TelegramFault.NON_ASCII: 1,
    }
    assert server.last_fault is None
    # A connection being closed takes no more bytes.
    server.close_connections()
    server.crc_errors(1)
    await server.send_now()
    assert server.last_fault is TelegramFault.WRONG_CRC
    assert (server.sent, server.delivered, server.last_reached) == (7, 5, 0)
    assert sum(server.delivered_faults.values()) == 3
    await client.close()


async def test_stop_and_start_on_the_same_port(server: P1TcpServer) -> None:
    port = server.port
    await server.stop()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    await server.start()
    assert server.port == port
    client = await Client.connect(server)
    sent = await server.send_now()
    assert await client.read(len(sent)) == sent
    await client.close()


async def test_encrypted_stream(clock: ManualClock) -> None:
    tcp = P1TcpServer(
        TelegramSource("lu_encrypted", seed=4, clock=clock), interval=QUIET
    )
    await tcp.start()
    client = await Client.connect(tcp)
    tcp.garbage(25)
    first = await tcp.send_now()
    clock.advance(10)
    second = await tcp.send_now()
    data = await client.read(len(first) + len(second))
    buffer = EncryptedTelegramBuffer()
    buffer.append(data)
    frames = list(buffer.get_all())
    assert len(frames) == 2
    parser = TelegramParser(telegram_specifications.MSN)
    stamps = [
        parser.parse(
            f, encryption_key=DEFAULT_ENCRYPTION_KEY
        ).P1_MESSAGE_TIMESTAMP.value
        for f in frames
    ]
    assert stamps[1] - stamps[0] == timedelta(seconds=10)
    await client.close()
    await tcp.stop()


async def test_profile_name_and_default_interval() -> None:
    tcp = P1TcpServer("nl_dsmr4")
    assert tcp.interval == 10.0
    assert tcp.profile.name == "nl_dsmr4"
    assert P1TcpServer("be_5b_gas_water").interval == 1.0
    await tcp.start()
    assert tcp.port > 0
    client = await Client.connect(tcp)
    data = await tcp.send_now()
    assert await client.read(len(data)) == data
    assert data.startswith(b"/KFM5KAIFA-METER")
    await client.close()
    await tcp.stop()


# ------------------------------------------------------------------------ pty


@pytest.fixture
async def pty_sim(clock: ManualClock) -> AsyncGenerator[P1PtySimulator]:
    sim = P1PtySimulator(
        TelegramSource("nl_dsmr4", seed=3, clock=clock), interval=QUIET
    )
    await sim.start()
    yield sim
    await sim.stop()


def _listdir_exists(directory: str) -> bool:
    return os.path.isdir(directory)


def _target(path: str) -> str | None:
    """Where the symlink at ``path`` points, None if there is none."""
    try:
        return os.readlink(path)
    except FileNotFoundError:
        return None


async def _open(path: str) -> tuple[asyncio.StreamReader, Any]:
    return await open_serial_connection(url=path, baudrate=115200)


async def _close(writer: Any) -> None:
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass


async def test_pty_streams_telegrams(pty_sim: P1PtySimulator) -> None:
    assert _target(pty_sim.path) == pty_sim.device
    reader, writer = await _open(pty_sim.path)
    sent = await pty_sim.send_now()
    assert await asyncio.wait_for(reader.readexactly(len(sent)), TIMEOUT) == sent
    assert sent.startswith(b"/KFM5KAIFA-METER\r\n\r\n")
    assert _crc_ok(sent)
    await _close(writer)


async def test_pty_unplug_and_plug(pty_sim: P1PtySimulator, clock: ManualClock) -> None:
    reader, writer = await _open(pty_sim.path)
    old_device = pty_sim.device
    pty_sim.unplug()
    plugged_after_unplug = pty_sim.plugged
    assert not plugged_after_unplug
    assert _target(pty_sim.path) is None
    with pytest.raises(OSError):
        await asyncio.wait_for(reader.read(100), TIMEOUT)
    await _close(writer)
    assert await pty_sim.send_now()  # goes nowhere
    pty_sim.plug()
    assert pty_sim.plugged
    assert _target(pty_sim.path) == pty_sim.device
    assert pty_sim.device is not None
    assert old_device is not None
    reader, writer = await _open(pty_sim.path)
    clock.advance(10)
    sent = await pty_sim.send_now()
    assert await asyncio.wait_for(reader.readexactly(len(sent)), TIMEOUT) == sent
    await _close(writer)


async def test_pty_gone_for_a_while(pty_sim: P1PtySimulator) -> None:
    back = await pty_sim.server_gone(0.05)
    assert _target(pty_sim.path) is None
    await back
    assert _target(pty_sim.path) == pty_sim.device
    reader, writer = await _open(pty_sim.path)
    pty_sim.close_connections()  # a hang-up: the old handle dies, the path lives on
    assert _target(pty_sim.path) == pty_sim.device
    await _close(writer)
    reader, writer = await _open(pty_sim.path)
    pty_sim.crc_errors(1)
    sent = await pty_sim.send_now()
    assert await asyncio.wait_for(reader.readexactly(len(sent)), TIMEOUT) == sent
    assert not _crc_ok(sent)
    await _close(writer)


async def test_pty_delivery_bookkeeping(pty_sim: P1PtySimulator) -> None:
    assert await pty_sim.send_now()
    assert (pty_sim.delivered, pty_sim.last_reached) == (1, 1)
    pty_sim.unplug()
    assert await pty_sim.send_now()  # into the void
    assert (pty_sim.sent, pty_sim.delivered, pty_sim.last_reached) == (2, 1, 0)
    pty_sim.plug()
    # A full line: the telegram that does not fit is not delivered.
    for _ in range(10_000):
        await pty_sim.send_now()
        if not pty_sim.last_reached:
            break
    assert pty_sim.last_reached == 0
    assert pty_sim.sent > 4
    assert pty_sim.delivered == pty_sim.sent - 2
    assert pty_sim.valid_delivered == pty_sim.delivered


async def test_pty_ticker(clock: ManualClock) -> None:
    sim = P1PtySimulator(
        TelegramSource("nl_dsmr22", seed=3, clock=clock), interval=0.01
    )
    await sim.start()
    reader, writer = await _open(sim.path)
    stream = b""
    while len(_telegrams(stream)) < 3:
        stream += await asyncio.wait_for(reader.read(4096), TIMEOUT)
    await _close(writer)
    await sim.stop()
    assert _target(sim.path) is None
    assert not _listdir_exists(sim.directory)
    parser = TelegramParser(telegram_specifications.V2_2)
    for telegram in _telegrams(stream)[:3]:
        assert parser.parse(telegram).GAS_METER_READING.unit == "m3"


# ------------------------------------------------------------------------ cli


async def test_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    args = p1._parser().parse_args(
        ["--profile", "se", "--tcp", "127.0.0.1:0", "--pty", "--interval", "0.01"]
    )
    task = asyncio.create_task(p1._serve(args))
    output = ""
    async with asyncio.timeout(TIMEOUT):
        while "Ctrl-C" not in output:
            await asyncio.sleep(0.01)
            output += capsys.readouterr().out
    match = re.search(r"tcp://127\.0\.0\.1:(\d+)", output)
    assert match is not None
    assert "pty at " in output
    reader, writer = await asyncio.open_connection("127.0.0.1", int(match.group(1)))
    data = await asyncio.wait_for(reader.readuntil(b"!"), TIMEOUT)
    assert data.endswith(b"!")
    assert b"/KAM5" in data
    writer.close()
    await writer.wait_closed()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_command_line_arguments() -> None:
    with pytest.raises(SystemExit):
        p1.main(["--tcp", "nowhere"])
    args = p1._parser().parse_args(["--profile", "lu_encrypted", "--key", "AA" * 16])
    assert args.tcp is None
    assert args.key == "AA" * 16
