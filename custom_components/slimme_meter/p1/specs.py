"""The telegram specifications this integration reads, and how each travels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dsmr_parser import telegram_specifications as ts


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """Line settings of a P1 port."""

    baudrate: int
    byte_size: int
    parity: str  # "N" or "E"

    def __str__(self) -> str:
        """Return the usual short notation, like 115200 8N1."""
        return f"{self.baudrate} {self.byte_size}{self.parity}1"


SERIAL_V2 = SerialSettings(9600, 7, "E")
SERIAL_V4 = SerialSettings(115200, 7, "E")
SERIAL_V5 = SerialSettings(115200, 8, "N")

# Order matters for auto-detection: the first settings that yield a valid
# telegram win, so the most common meters come first.
DETECT_SERIAL_SETTINGS: tuple[SerialSettings, ...] = (SERIAL_V5, SERIAL_V4, SERIAL_V2)


@dataclass(frozen=True, slots=True)
class Spec:
    """One dsmr_parser telegram specification and its transport."""

    id: str
    name: str
    definition: dict[str, Any]
    serial: SerialSettings
    interval: float  # seconds between telegrams the meter normally sends
    encrypted: bool = False

    @property
    def checksum(self) -> bool:
        """Return whether telegrams of this specification carry a CRC."""
        return bool(self.definition["checksum_support"])


SPECS: dict[str, Spec] = {
    spec.id: spec
    for spec in (
        Spec("5", "DSMR 5 (Netherlands)", ts.V5, SERIAL_V5, 1),
        Spec("4", "DSMR 4 (Netherlands)", ts.V4, SERIAL_V4, 10),
        Spec("3", "DSMR 3 (Netherlands)", ts.V3, SERIAL_V2, 10),
        Spec("dsmr_2_2", "DSMR 2.2 (Netherlands)", ts.V2_2, SERIAL_V2, 10),
        Spec(
            "belgium_5b",
            "e-MUCS 5B (Belgium, Fluvius)",
            ts.BELGIUM_FLUVIUS,
            SERIAL_V5,
            1,
        ),
        Spec(
            "luxembourg_5l", "Smarty (Luxembourg)", ts.LUXEMBOURG_SMARTY, SERIAL_V5, 10
        ),
        Spec("sweden_5s", "P1 (Sweden)", ts.SWEDEN, SERIAL_V5, 10),
        Spec("q3d", "EasyMeter Q3D", ts.Q3D, SERIAL_V5, 1),
        Spec("iskra_ie", "Iskra (Ireland)", ts.ISKRA_IE, SERIAL_V5, 10),
        Spec("eon_hungary", "E.ON (Hungary)", ts.EON_HUNGARY, SERIAL_V5, 10),
        Spec(
            "luxembourg_msn",
            "Smarty encrypted (Luxembourg, MSn)",
            ts.MSN,
            SERIAL_V5,
            10,
            encrypted=True,
        ),
        Spec(
            "sagemcom_t210_d_r",
            "Sagemcom T210-D encrypted",
            ts.SAGEMCOM_T210_D_R,
            SERIAL_V5,
            5,
            encrypted=True,
        ),
    )
}

# Ids of config entries before version 2, which Home Assistant's translation
# keys (lower case, no dots) do not allow.
FORMER_SPEC_IDS: dict[str, str] = {
    "2.2": "dsmr_2_2",
    "5B": "belgium_5b",
    "5L": "luxembourg_5l",
    "5S": "sweden_5s",
    "Q3D": "q3d",
    "ISKRA_IE": "iskra_ie",
    "5EONHU": "eon_hungary",
    "MSn": "luxembourg_msn",
    "SAGEMCOM_T210_D_R": "sagemcom_t210_d_r",
}

PLAIN_SPECS: tuple[Spec, ...] = tuple(s for s in SPECS.values() if not s.encrypted)
ENCRYPTED_SPECS: tuple[Spec, ...] = tuple(s for s in SPECS.values() if s.encrypted)
