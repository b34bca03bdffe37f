"""Decoding: the checksum, and what is reused while telegram lines repeat."""

from __future__ import annotations

from decimal import Decimal
import os
from typing import Any

import pytest

from custom_components.slimme_meter.p1.decode import (
    MAX_PARSERS,
    Decoder,
    crc16,
    per_line,
)
from custom_components.slimme_meter.p1.specs import SPECS

from .helpers import V5, V5_EQUIPMENT_HEX, V5_EQUIPMENT_ID, edit, power
from .p1_helpers import V2_2, crc16_arc

GAS = b"0-1:24.2.1(170102161005W)(00000.107*m3)"
GAS_NEXT = b"0-1:24.2.1(170102162005W)(00000.108*m3)"


@pytest.mark.parametrize("size", [0, 1, 2, 3, 64, 255, 1024, 1025])
def test_crc16_matches_its_definition(size: int) -> None:
    data = os.urandom(size)
    assert crc16(data) == crc16_arc(data)


def test_crc16_check_value() -> None:
    # The catalogued check value of CRC-16/ARC.
    assert crc16(b"123456789") == 0xBB3D
    assert crc16(b"") == 0


def test_repeated_mbus_lines_reuse_the_device() -> None:
    decoder = Decoder(SPECS["5"])
    first = decoder.decode(V5)
    # Only the electricity power changed: the gas meter is the same object.
    second = decoder.decode(power("01.000"))
    assert second.mbus[0] is first.mbus[0]
    assert second.value("1.7.0") == Decimal("1.000")
    # A new gas reading makes a new device.
    third = decoder.decode(edit(V5, (GAS, GAS_NEXT)))
    assert third.mbus[0] is not first.mbus[0]
    assert third.mbus[0].reading == Decimal("0.108")
    assert first.mbus[0].reading == Decimal("0.107")


def test_equipment_id_follows_its_line() -> None:
    decoder = Decoder(SPECS["5"])
    assert decoder.decode(V5).equipment_id == V5_EQUIPMENT_ID
    assert decoder.decode(power("01.000")).equipment_id == V5_EQUIPMENT_ID
    swapped = edit(V5, (V5_EQUIPMENT_HEX.encode(), b"4B38454730303430"))
    assert decoder.decode(swapped).equipment_id == "K8EG0040"
    without = edit(V5, (b"0-0:96.1.1(" + V5_EQUIPMENT_HEX.encode() + b")\r\n", b""))
    assert decoder.decode(without).equipment_id is None


def test_per_line_computes_once_while_the_line_repeats() -> None:
    calls: list[Any] = []

    @per_line("1.7.0")
    def kilowatts(obj: Any) -> Decimal | None:
        calls.append(obj)
        return None if obj is None else obj.value

    decoder = Decoder(SPECS["5"])
    first = decoder.decode(V5)
    assert kilowatts(first) == Decimal("0.244")
    assert kilowatts(decoder.decode(edit(V5, (GAS, GAS_NEXT)))) == Decimal("0.244")
    assert len(calls) == 1
    assert kilowatts(decoder.decode(power("01.500"))) == Decimal("1.500")
    assert len(calls) == 2
    # A line that is missing counts as a value too.
    without = edit(V5, (b"1-0:1.7.0(00.244*kW)\r\n", b""))
    assert kilowatts(decoder.decode(without)) is None
    assert kilowatts(decoder.decode(without)) is None
    assert len(calls) == 3


def test_parsers_of_line_noise_stay_bounded() -> None:
    """DSMR 2.2 has no CRC: noise can look like ever new OBIS ids."""
    decoder = Decoder(SPECS["dsmr_2_2"])
    for number in range(3 * MAX_PARSERS):
        noise = b"0-0:%d.%d.0(1)\r\n" % (number // 250, number % 250)
        snapshot = decoder.decode(V2_2.replace(b"\r\n!", b"\r\n" + noise + b"!"))
        assert snapshot.value("1.8.1") == Decimal("1.001")
        assert len(decoder._parsers) <= MAX_PARSERS
