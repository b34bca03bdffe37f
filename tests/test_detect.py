"""Detection of a meter's specification and line settings on real streams."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any

import pytest

from custom_components.slimme_meter.p1.connection import Endpoint
from custom_components.slimme_meter.p1.detect import (
    Detected,
    DetectError,
    classify,
    detect,
    listen,
)
from custom_components.slimme_meter.p1.framing import PlainFramer
from custom_components.slimme_meter.p1.specs import (
    SERIAL_V2,
    SERIAL_V4,
    SERIAL_V5,
    SPECS,
)

from .p1_helpers import (
    AUTH_KEY,
    FLUVIUS,
    KEY,
    LUX,
    LUX_BAD_CRC,
    LUX_ID,
    Q3D,
    SWEDEN,
    V2_2,
    V4_2,
    V5,
    V5_HEADER,
    V5_ID,
    WRONG_KEY,
    FedLine,
    PtyCable,
    closed_port,
    encrypt,
    encrypted_stream,
    pty_cables,
    reset_clients,
    with_crc,
)
from .server import TelegramServer

SERIAL_BASES = [(115200, 8, "N"), (115200, 7, "E"), (9600, 7, "E")]


@pytest.fixture
def cables() -> Generator[Any]:
    with pty_cables() as make:
        yield make


def _tcp(server: TelegramServer) -> Endpoint:
    return Endpoint(host="127.0.0.1", port=server.port)


async def _listen_tcp(
    server: TelegramServer, payload: bytes, timeout: float = 2.0, **kwargs: Any
) -> Detected:
    """Listen while the meter behind the server sends payload once connected."""
    task = asyncio.create_task(listen(_tcp(server), SERIAL_V5, timeout, **kwargs))
    await server.wait_client()
    await server.send(payload)
    return await task


def test_with_crc_reproduces_the_fixture_checksums() -> None:
    assert with_crc(V5) == V5
    assert with_crc(LUX) == LUX
    assert with_crc(LUX_BAD_CRC) == LUX


@pytest.mark.parametrize(
    ("telegram", "spec_id", "equipment_id", "header"),
    [
        (V5, "5", V5_ID, V5_HEADER),
        (V4_2, "4", "3960221976967177082151037881335713", "KFM5KAIFA-METER"),
        (V2_2, "dsmr_2_2", "00000000000000", "ISk5\\2MT382-1004"),
        (FLUVIUS, "belgium_5b", "1SAG3101021605", "FLU5\\253769484_A"),
        (SWEDEN, "sweden_5s", None, "KAM5"),
        (Q3D, "q3d", "1ESY1313002565", "ESY5Q3DB1024 V3.04"),
        (LUX, "luxembourg_5l", LUX_ID, "Lux5\\253694471_M"),
    ],
    ids=["v5", "v4_2", "v2_2", "fluvius", "sweden", "q3d", "luxembourg"],
)
def test_classify_fixtures(
    telegram: bytes, spec_id: str, equipment_id: str | None, header: str
) -> None:
    (frame,) = PlainFramer().feed(telegram)
    result = classify(frame)
    assert result is not None
    spec, snapshot = result
    assert spec.id == spec_id
    assert snapshot.equipment_id == equipment_id
    assert snapshot.header == header


def test_classify_rejects_unreadable_frames() -> None:
    # Bad checksum: every specification refuses it.
    assert classify(LUX_BAD_CRC) is None
    # Well framed, but no line any specification understands.
    assert classify(b"/XYZ5\r\n\r\nhello world\r\n!") is None
    # Only an M-Bus device type: nothing to read, no id, no reading.
    assert classify(b"/XYZ5\r\n\r\n0-1:24.1.0(003)\r\n!") is None


def test_classify_version_4_beats_version_5_only_for_version_4() -> None:
    spec, snapshot = classify(V4_2) or (None, None)
    assert spec is SPECS["4"]
    assert snapshot is not None
    assert snapshot.version == "42"
    spec, snapshot = classify(V5) or (None, None)
    assert spec is SPECS["5"]


async def test_listen_plain_telegram(server: TelegramServer) -> None:
    detected = await _listen_tcp(server, V5)
    assert detected.spec is SPECS["5"]
    assert detected.serial is SERIAL_V5
    assert detected.snapshot.equipment_id == V5_ID


async def test_listen_with_given_spec_decodes_with_it(server: TelegramServer) -> None:
    # The DSMR 5 telegram read as DSMR 4 when the user says so.
    detected = await _listen_tcp(server, V5, spec=SPECS["4"])
    assert detected.spec is SPECS["4"]
    assert detected.snapshot.spec == "4"
    assert detected.snapshot.equipment_id == V5_ID


async def test_listen_encrypted_with_given_spec(server: TelegramServer) -> None:
    detected = await _listen_tcp(
        server, encrypt(LUX), spec=SPECS["luxembourg_msn"], key=KEY, auth_key=AUTH_KEY
    )
    assert detected.spec is SPECS["luxembourg_msn"]
    assert detected.snapshot.equipment_id == LUX_ID


async def test_listen_encrypted_auto(server: TelegramServer) -> None:
    detected = await _listen_tcp(server, encrypt(LUX), key=KEY)
    assert detected.spec is SPECS["luxembourg_msn"]
    assert detected.snapshot.equipment_id == LUX_ID


async def test_listen_encrypted_auto_without_luxembourg_id(
    server: TelegramServer,
) -> None:
    # MSn reads it but finds no 42.0.0 id: the next encrypted spec is tried.
    detected = await _listen_tcp(server, encrypt(V5), key=KEY, auth_key=AUTH_KEY)
    assert detected.spec is SPECS["sagemcom_t210_d_r"]
    assert detected.snapshot.header == V5_HEADER


async def test_listen_encrypted_needs_key(server: TelegramServer) -> None:
    with pytest.raises(DetectError) as err:
        await _listen_tcp(server, encrypt(LUX))
    assert err.value.reason == "needs_key"


async def test_listen_encrypted_wrong_key(server: TelegramServer) -> None:
    with pytest.raises(DetectError) as err:
        await _listen_tcp(server, encrypted_stream(LUX), key=WRONG_KEY)
    assert err.value.reason == "decryption_failed"


async def test_listen_wrong_authentication_key(server: TelegramServer) -> None:
    with pytest.raises(DetectError) as err:
        await _listen_tcp(
            server, encrypted_stream(LUX), key=KEY, auth_key=WRONG_KEY, timeout=0.3
        )
    assert err.value.reason == "decryption_failed"


async def test_listen_wrong_key_on_a_slow_line() -> None:
    """Garbage cut out of ciphertext must not hide the decryption error."""
    line = FedLine()
    stream = encrypted_stream(LUX, frames=4)
    task = asyncio.create_task(listen(line, SERIAL_V5, 2.0, key=WRONG_KEY))  # type: ignore[arg-type]
    for start in range(0, len(stream), 64):
        if task.done():
            break
        await line.feed(stream[start : start + 64])
    with pytest.raises(DetectError) as err:
        await task
    assert err.value.reason == "decryption_failed"
    assert line.closed


async def test_listen_gives_up_early_on_many_bad_telegrams(
    server: TelegramServer,
) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(DetectError) as err:
        await _listen_tcp(server, LUX_BAD_CRC * 3, timeout=10)
    assert err.value.reason == "invalid_telegrams"
    assert loop.time() - start < 5


async def test_listen_times_out_on_bad_telegram(server: TelegramServer) -> None:
    with pytest.raises(DetectError) as err:
        await _listen_tcp(server, LUX_BAD_CRC, timeout=0.3)
    assert err.value.reason == "invalid_telegrams"


async def test_listen_times_out_in_silence(server: TelegramServer) -> None:
    with pytest.raises(DetectError) as err:
        await _listen_tcp(server, b"", timeout=0.3)
    assert err.value.reason == "no_telegram"


async def test_listen_connection_closed_before_data(server: TelegramServer) -> None:
    task = asyncio.create_task(listen(_tcp(server), SERIAL_V5, 10))
    await server.wait_client()
    server.drop_clients()
    with pytest.raises(DetectError) as err:
        await task
    assert err.value.reason == "no_telegram"


async def test_listen_connection_closed_mid_telegram(server: TelegramServer) -> None:
    task = asyncio.create_task(listen(_tcp(server), SERIAL_V5, 10))
    await server.wait_client()
    await server.send(V5[:300])
    server.drop_clients()
    with pytest.raises(DetectError) as err:
        await task
    assert err.value.reason == "invalid_telegrams"


async def test_listen_connection_reset(server: TelegramServer) -> None:
    task = asyncio.create_task(listen(_tcp(server), SERIAL_V5, 10))
    await server.wait_client()
    reset_clients(server)
    with pytest.raises(DetectError) as err:
        await task
    assert err.value.reason == "cannot_connect"


async def test_listen_cannot_connect(socket_enabled: None) -> None:
    endpoint = Endpoint(host="127.0.0.1", port=closed_port())
    with pytest.raises(DetectError) as err:
        await listen(endpoint, SERIAL_V5, 1)
    assert err.value.reason == "cannot_connect"


async def test_detect_network_reports_spec_serial_settings(
    server: TelegramServer,
) -> None:
    server.on_connect = V2_2
    detected = await detect(_tcp(server), 2, spec_id="dsmr_2_2")
    assert detected.spec is SPECS["dsmr_2_2"]
    assert detected.serial is SERIAL_V2
    server.drop_clients()
    detected = await detect(_tcp(server), 2)
    assert detected.spec is SPECS["dsmr_2_2"]
    assert detected.serial is SERIAL_V5  # auto on a network: no line settings


async def test_detect_serial_tries_each_line_setting(cables: Any) -> None:
    cable: PtyCable = cables()
    cable.replies = [b"", b"", V2_2]
    detected = await detect(Endpoint(serial_port=cable.path), 1.5)
    assert detected.spec is SPECS["dsmr_2_2"]
    assert detected.serial is SERIAL_V2
    assert cable.opens == SERIAL_BASES


async def test_detect_serial_first_setting_wins(cables: Any) -> None:
    cable: PtyCable = cables()
    cable.default = V5
    detected = await detect(Endpoint(serial_port=cable.path), 3)
    assert detected.serial is SERIAL_V5
    assert detected.snapshot.equipment_id == V5_ID
    assert cable.opens == SERIAL_BASES[:1]


async def test_detect_serial_with_spec_uses_its_settings(cables: Any) -> None:
    cable: PtyCable = cables()
    cable.default = V4_2
    detected = await detect(Endpoint(serial_port=cable.path), 3, spec_id="4")
    assert detected.spec is SPECS["4"]
    assert detected.serial is SERIAL_V4
    assert cable.opens == [(115200, 7, "E")]


async def test_detect_serial_invalid_beats_silence(cables: Any) -> None:
    cable: PtyCable = cables()
    cable.replies = [b"", LUX_BAD_CRC, b""]
    with pytest.raises(DetectError) as err:
        await detect(Endpoint(serial_port=cable.path), 0.6)
    assert err.value.reason == "invalid_telegrams"
    assert cable.opens == SERIAL_BASES


async def test_detect_serial_silence(cables: Any) -> None:
    cable: PtyCable = cables()
    with pytest.raises(DetectError) as err:
        await detect(Endpoint(serial_port=cable.path), 0.3)
    assert err.value.reason == "no_telegram"
    assert cable.opens == SERIAL_BASES


async def test_detect_serial_stops_on_decryption_failure(cables: Any) -> None:
    cable: PtyCable = cables()
    cable.default = encrypted_stream(LUX, WRONG_KEY)
    with pytest.raises(DetectError) as err:
        await detect(Endpoint(serial_port=cable.path), 3, key=KEY)
    assert err.value.reason == "decryption_failed"
    assert cable.opens == SERIAL_BASES[:1]


async def test_detect_serial_missing_port(tmp_path: Any) -> None:
    with pytest.raises(DetectError) as err:
        await detect(Endpoint(serial_port=str(tmp_path / "ttyNONE")), 3)
    assert err.value.reason == "cannot_connect"


def test_detect_error_keeps_reason() -> None:
    err = DetectError("no_telegram")
    assert err.reason == "no_telegram"
    assert str(err) == "no_telegram"
