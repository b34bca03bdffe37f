"""Telegram building blocks and waiting helpers shared by the tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import os
from pathlib import Path
import tty

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.slimme_meter.const import DOMAIN
from custom_components.slimme_meter.p1.decode import crc16

FIXTURES = Path(__file__).parent / "fixtures"
# ../shared next to the repository (also from a git worktree inside it).
SHARED_TELEGRAMS = next(
    (
        folder / "shared" / "fixtures" / "telegrams"
        for folder in Path(__file__).parents[1:]
        if (folder / "shared" / "fixtures" / "telegrams").is_dir()
    ),
    Path(__file__).parents[2] / "shared" / "fixtures" / "telegrams",
)

V5 = (SHARED_TELEGRAMS / "v5_plain_iskra_mt382.txt").read_bytes()
V4 = (SHARED_TELEGRAMS / "v4_2_kaifa.txt").read_bytes()
V2_2 = (SHARED_TELEGRAMS / "v2_2_iskra_mt382.txt").read_bytes()
SWEDEN = (SHARED_TELEGRAMS / "sweden_kamstrup_kam5.txt").read_bytes()
Q3D = (SHARED_TELEGRAMS / "q3d_easymeter_esy5q3db1024_com1.txt").read_bytes()
FLUVIUS = (SHARED_TELEGRAMS / "fluvius_v171_gas_water.txt").read_bytes()
LUXEMBOURG = (FIXTURES / "luxembourg_spec_example_crc_fixed.txt").read_bytes()

# The V5 fixture's meter: 0-0:96.1.1 carries it hex-encoded.
V5_EQUIPMENT_ID = "K8EG004046395507"
V5_EQUIPMENT_HEX = "4B384547303034303436333935353037"

LUXEMBOURG_EQUIPMENT_ID = "SAG1030790002574"

ENCRYPTION_KEY = "0F1E2D3C4B5A69788796A5B4C3D2E1F0"
AUTHENTICATION_KEY = "00112233445566778899AABBCCDDEEFF"
SYSTEM_TITLE = b"SAGy\x00\xbc\x61\x4e"


def body(telegram: bytes) -> bytes:
    """Return a telegram up to and including its '!'."""
    return telegram[: telegram.rindex(b"!") + 1]


def with_crc(text: bytes) -> bytes:
    """Return '/' ... '!' followed by its CRC and CRLF."""
    return text + b"%04X\r\n" % crc16(text)


def edit(telegram: bytes, *changes: tuple[bytes, bytes]) -> bytes:
    """Replace values in a telegram and recompute its CRC."""
    text = body(telegram)
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new)
    return with_crc(text)


def power(kw: str, telegram: bytes = V5) -> bytes:
    """Return the V5 fixture with another 1-0:1.7.0 (kW) value."""
    return edit(telegram, (b"1-0:1.7.0(00.244*kW)", b"1-0:1.7.0(%s*kW)" % kw.encode()))


def bad_crc(telegram: bytes) -> bytes:
    """Return a telegram whose CRC does not match."""
    good = crc16(body(telegram))
    return body(telegram) + b"%04X\r\n" % (good ^ 0x5A5A)


def encrypt(
    plain: bytes,
    key: str = ENCRYPTION_KEY,
    auth_key: str = AUTHENTICATION_KEY,
    counter: int = 1,
) -> bytes:
    """Wrap a telegram in a DLMS general-global-cipher frame (AES-128-GCM)."""
    invocation = counter.to_bytes(4, "big")
    encryptor = Cipher(
        algorithms.AES(bytes.fromhex(key)), modes.GCM(SYSTEM_TITLE + invocation)
    ).encryptor()
    encryptor.authenticate_additional_data(b"\x30" + bytes.fromhex(auth_key))
    ciphertext = encryptor.update(plain) + encryptor.finalize()
    content = b"\x30" + invocation + ciphertext + encryptor.tag[:12]
    return (
        b"\xdb\x08" + SYSTEM_TITLE + b"\x82" + len(content).to_bytes(2, "big") + content
    )


def meter_entry(
    port: int | None = None,
    *,
    spec: str = "5",
    equipment_id: str | None = V5_EQUIPMENT_ID,
    serial_port: str | None = None,
    options: dict[str, float] | None = None,
    **extra: str,
) -> MockConfigEntry:
    """Return a config entry for a meter behind a loopback server or a pty."""
    data: dict[str, object] = {"specification": spec, **extra}
    if serial_port:
        data.update(connection="serial", serial_port=serial_port)
    else:
        data.update(connection="network", host="127.0.0.1", port=port)
    if equipment_id:
        data["equipment_id"] = equipment_id
    return MockConfigEntry(
        domain=DOMAIN,
        version=2,
        unique_id=equipment_id,
        data=data,
        options=options or {},
        title="Smart meter",
    )


async def setup_meter(hass: HomeAssistant, entry: MockConfigEntry) -> bool:
    """Add the entry to Home Assistant and set it up."""
    entry.add_to_hass(hass)
    result = await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return result


def state_of(hass: HomeAssistant, entity_id: str) -> str | None:
    """Return an entity's state, or None when it has none."""
    state = hass.states.get(entity_id)
    return None if state is None else state.state


async def until(
    condition: Callable[[], object], timeout: float = 3.0, step: float = 0.005
) -> None:
    """Wait until condition() is true, or fail after timeout seconds."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110  (polls state that others own)
            await asyncio.sleep(step)


class Pty:
    """A pseudo terminal: the code opens `path`, the test writes to the master."""

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no CR/LF translation
        self.path = os.ttyname(self._slave)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def vanish(self) -> None:
        """Close the master side, as when a USB cable is pulled."""
        if self.master >= 0:
            os.close(self.master)
            self.master = -1

    def close(self) -> None:
        self.vanish()
        if self._slave >= 0:
            os.close(self._slave)
            self._slave = -1
