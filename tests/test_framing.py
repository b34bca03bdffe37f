"""Cutting the P1 byte stream into frames."""

from __future__ import annotations

from decimal import Decimal

import pytest

from custom_components.slimme_meter.p1.decode import Decoder
from custom_components.slimme_meter.p1.framing import (
    MAX_FRAME,
    EncryptedFramer,
    PlainFramer,
)
from custom_components.slimme_meter.p1.specs import SPECS

from .helpers import (
    AUTHENTICATION_KEY,
    ENCRYPTION_KEY,
    LUXEMBOURG,
    Q3D,
    SWEDEN,
    V2_2,
    V4,
    V5,
    body,
    edit,
    encrypt,
    power,
    with_crc,
)

V5_FRAME = V5.removesuffix(b"\r\n")  # '/' ... '!6EEE'


def feed_bytewise(framer: PlainFramer | EncryptedFramer, data: bytes) -> list[bytes]:
    frames: list[bytes] = []
    for index in range(len(data)):
        frames += framer.feed(data[index : index + 1])
    return frames


def test_whole_telegram_in_one_chunk() -> None:
    framer = PlainFramer()
    assert framer.feed(V5) == [V5_FRAME]
    assert framer.incomplete == 0
    snapshot = Decoder(SPECS["5"]).decode(V5_FRAME)
    assert snapshot.value("1.7.0") == Decimal("0.244")


def test_byte_by_byte_frame_completes_on_last_crc_digit() -> None:
    framer = PlainFramer()
    head = V5_FRAME[:-1]
    assert feed_bytewise(framer, head) == []
    # The last CRC digit completes the frame; the CRLF after it is dropped.
    assert framer.feed(V5_FRAME[-1:]) == [V5_FRAME]
    assert framer.feed(b"\r\n") == []
    assert framer.incomplete == 0
    # The framer is clean for the next telegram.
    assert feed_bytewise(framer, V5 * 2) == [V5_FRAME, V5_FRAME]


def test_many_small_chunks() -> None:
    framer = PlainFramer()
    data = V5 + V4 + V5
    frames: list[bytes] = []
    for start in range(0, len(data), 7):
        frames += framer.feed(data[start : start + 7])
    assert frames == [V5_FRAME, V4.removesuffix(b"\r\n"), V5_FRAME]


def test_several_telegrams_in_one_chunk() -> None:
    second = power("01.500")
    framer = PlainFramer()
    frames = framer.feed(V5 + second + V4)
    assert frames == [V5_FRAME, second.removesuffix(b"\r\n"), V4.removesuffix(b"\r\n")]
    assert framer.incomplete == 0
    decoder = Decoder(SPECS["5"])
    assert [decoder.decode(f).value("1.7.0") for f in frames[:2]] == [
        Decimal("0.244"),
        Decimal("1.500"),
    ]


def test_garbage_before_and_between_telegrams() -> None:
    framer = PlainFramer()
    frames = framer.feed(b"\x00\xffnoise!1234\r\n" + V5 + b"more!noise\r\n\x7f" + V5)
    assert frames == [V5_FRAME, V5_FRAME]
    assert framer.incomplete == 0
    # Garbage without any start is dropped entirely.
    assert framer.feed(b"no start here!ABCD\r\n" * 10) == []
    assert framer.feed(V5) == [V5_FRAME]


def test_cut_off_telegram_followed_by_a_whole_one() -> None:
    framer = PlainFramer()
    half = V5[: len(V5) // 2]
    assert framer.feed(half) == []
    assert framer.incomplete == 0  # not known to be cut off yet
    assert framer.feed(V5) == [V5_FRAME]
    assert framer.incomplete == 1


def test_two_cut_off_telegrams_in_one_chunk() -> None:
    framer = PlainFramer()
    half = V5[: len(V5) // 2]
    assert framer.feed(half + half + V5) == [V5_FRAME]
    assert framer.incomplete == 2


def test_oversized_buffer_is_dropped() -> None:
    framer = PlainFramer()
    assert framer.feed(b"/" + b"x" * (MAX_FRAME - 1)) == []
    assert framer.incomplete == 0  # exactly MAX_FRAME bytes are still kept
    assert framer.feed(b"x") == []
    assert framer.incomplete == 1
    # The runaway frame is gone: a telegram after it is intact.
    assert framer.feed(V5) == [V5_FRAME]
    assert framer.incomplete == 1


def test_lf_only_line_endings() -> None:
    framer = PlainFramer()
    sweden = framer.feed(SWEDEN)
    assert sweden == [SWEDEN.removesuffix(b"\n")]
    assert sweden[0].endswith(b"!5FCE")
    assert Decoder(SPECS["sweden_5s"]).decode(sweden[0]).value("1.8.0") == Decimal(
        "3.997"
    )

    lf_only = with_crc(body(V5).replace(b"\r\n", b"\n"))[:-2] + b"\n"
    frames = feed_bytewise(framer, lf_only)
    assert len(frames) == 1
    assert b"\r" not in frames[0]
    snapshot = Decoder(SPECS["5"]).decode(frames[0])
    assert snapshot.value("1.7.0") == Decimal("0.244")
    assert snapshot.equipment_id == "K8EG004046395507"


def test_telegram_without_crc() -> None:
    framer = PlainFramer()
    frames = framer.feed(V2_2)
    assert frames == [body(V2_2)]
    assert Decoder(SPECS["dsmr_2_2"]).decode(frames[0]).value("1.7.0") == Decimal(
        "1.01"
    )
    # Byte by byte: the '!' alone does not end it, the line end does.
    assert feed_bytewise(framer, body(V2_2)) == []
    assert framer.feed(b"\r") == [body(V2_2)]
    assert framer.feed(b"\n") == []


def test_telegram_without_crc_followed_by_the_next_start() -> None:
    framer = PlainFramer()
    assert framer.feed(body(V2_2) + body(V2_2) + b"\r\n") == [body(V2_2)] * 2
    assert framer.incomplete == 0


def test_trailing_gateway_bytes_after_the_end() -> None:
    framer = PlainFramer()
    frames = framer.feed(Q3D + Q3D)
    assert frames == [body(Q3D), body(Q3D)]
    assert framer.incomplete == 0


@pytest.mark.parametrize("cut", [1, 2, 3, 4])
def test_crc_line_not_arrived_yet(cut: int) -> None:
    framer = PlainFramer()
    bang = V5_FRAME.rindex(b"!")
    assert framer.feed(V5_FRAME[: bang + cut]) == []
    assert framer.feed(V5_FRAME[bang + cut :] + b"\r\n") == [V5_FRAME]


def test_lowercase_crc_digits_are_kept_with_the_frame() -> None:
    framer = PlainFramer()
    lower = body(V5) + b"6eee\r\n"
    assert framer.feed(lower) == [lower.removesuffix(b"\r\n")]


def test_encrypted_framer() -> None:
    first = encrypt(LUXEMBOURG, counter=1)
    second = encrypt(
        edit(LUXEMBOURG, (b"1-0:1.7.0(00.005*kW)", b"1-0:1.7.0(01.234*kW)")), counter=2
    )
    framer = EncryptedFramer()
    assert framer.incomplete == 0
    # Split across chunks, with noise before the first frame.
    assert framer.feed(b"\x00\x01" + first[:10]) == []
    assert framer.feed(first[10:-1]) == []
    assert framer.feed(first[-1:]) == [first]
    # Two frames in one chunk.
    assert framer.feed(first + second) == [first, second]
    assert feed_bytewise(framer, second) == [second]
    assert framer.incomplete == 0

    decoder = Decoder(SPECS["luxembourg_msn"], ENCRYPTION_KEY, AUTHENTICATION_KEY)
    assert decoder.decode(second).value("1.7.0") == Decimal("1.234")
    assert decoder.decode(first).value("1.7.0") == Decimal("0.005")
