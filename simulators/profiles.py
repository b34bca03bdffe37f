"""Meter profiles: which telegram format, serial settings and household go together.

A profile names one kind of meter as it is found in the field. The names are
the public vocabulary of the simulators (``--profile`` on the command line):

``nl_dsmr5_gas``
    Dutch DSMR 5.0 meter (Iskra-like) with solar panels and a gas meter on
    M-Bus channel 1 (reading captured every 5 minutes). 115200 8N1, 1 s.
``nl_dsmr4``
    Dutch DSMR 4.2 meter (Kaifa-like), integer amps, gas captured hourly.
    115200 7E1, 10 s.
``nl_dsmr22``
    Dutch DSMR 2.2 meter (Iskra-like), single phase, no CRC, gas via
    ``0-1:24.3.0`` with the value on the next line. 9600 7E1, 10 s.
``be_5b_gas_water``
    Belgian Fluvius e-MUCS meter with capacity-tariff registers, gas on
    channel 1 and water on channel 2. 115200 8N1, 1 s.
``lu_encrypted``
    Luxembourg Smarty meter; the telegram is sent as an encrypted DLMS
    general-global-cipher frame. 115200 8N1, 10 s.
``se``
    Swedish meter (Kamstrup-like): total registers, reactive power, no
    equipment identifier. 115200 8N1, 10 s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .household import HouseholdOptions
from .meter import BE_TARIFFS, MeterOptions, SimulatedMeter


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """How the meter's P1 port is configured."""

    baudrate: int
    bytesize: int
    parity: str
    """"N" (none) or "E" (even)."""
    stopbits: int = 1


SERIAL_8N1 = SerialSettings(baudrate=115200, bytesize=8, parity="N")
SERIAL_7E1 = SerialSettings(baudrate=115200, bytesize=7, parity="E")
SERIAL_7E1_9600 = SerialSettings(baudrate=9600, bytesize=7, parity="E")


@dataclass(frozen=True, slots=True)
class Profile:
    """One kind of meter: telegram format, port settings and household."""

    name: str
    description: str
    dsmr_version: str
    """The ``dsmr_version`` dsmr_parser's readers use for this meter."""
    spec_name: str
    """Name of the matching spec in ``dsmr_parser.telegram_specifications``."""
    serial: SerialSettings
    interval: float
    """Seconds between telegrams."""
    checksum: bool
    """Whether telegrams end with a CRC16."""
    encrypted: bool
    """Whether telegrams are sent as DLMS general-global-cipher frames."""
    meter_options: MeterOptions
    crc_x25: bool = False
    """Whether the CRC is CRC-16/X.25 instead of the standard CRC-16/ARC."""

    def create_meter(self, *, seed: int = 0, start: datetime) -> SimulatedMeter:
        """Create a new simulated meter of this kind."""
        return SimulatedMeter(self.meter_options, seed=seed, start=start)


_PROFILES = (
    Profile(
        name="nl_dsmr5_gas",
        description="DSMR 5.0 (NL) with solar panels and a gas meter",
        dsmr_version="5",
        spec_name="V5",
        serial=SERIAL_8N1,
        interval=1.0,
        checksum=True,
        encrypted=False,
        meter_options=MeterOptions(
            household=HouseholdOptions(phases=3, solar_kwp=3.6, gas=True)
        ),
    ),
    Profile(
        name="nl_dsmr4",
        description="DSMR 4.2 (NL) with a gas meter (hourly readings)",
        dsmr_version="4",
        spec_name="V4",
        serial=SERIAL_7E1,
        interval=10.0,
        checksum=True,
        encrypted=False,
        meter_options=MeterOptions(
            household=HouseholdOptions(phases=3, gas=True),
            gas_capture_seconds=3600,
            equipment_prefix="K00",
        ),
    ),
    Profile(
        name="nl_dsmr22",
        description="DSMR 2.2 (NL), single phase, gas via 24.3.0, no CRC",
        dsmr_version="2.2",
        spec_name="V2_2",
        serial=SERIAL_7E1_9600,
        interval=10.0,
        checksum=False,
        encrypted=False,
        meter_options=MeterOptions(
            household=HouseholdOptions(phases=1, gas=True),
            gas_capture_seconds=3600,
        ),
    ),
    Profile(
        name="be_5b_gas_water",
        description="Fluvius e-MUCS (BE) with solar panels, gas and water meters",
        dsmr_version="5B",
        spec_name="BELGIUM_FLUVIUS",
        serial=SERIAL_8N1,
        interval=1.0,
        checksum=True,
        encrypted=False,
        meter_options=MeterOptions(
            household=HouseholdOptions(phases=3, solar_kwp=5.0, gas=True, water=True),
            tariffs=BE_TARIFFS,
            timezone="Europe/Brussels",
            equipment_prefix="1SAG",
        ),
    ),
    Profile(
        name="lu_encrypted",
        description="Luxembourg Smarty, encrypted (DLMS general-global-cipher)",
        dsmr_version="MSn",
        spec_name="MSN",
        serial=SERIAL_8N1,
        interval=10.0,
        checksum=True,
        encrypted=True,
        meter_options=MeterOptions(
            household=HouseholdOptions(phases=3, gas=True),
            timezone="Europe/Luxembourg",
            equipment_prefix="SAG",
        ),
    ),
    Profile(
        name="holley_x25",
        description=(
            "Holley-like meter: DSMR 5 layout, CRC-16/X.25, the text message "
            "padded with 0xFF bytes"
        ),
        dsmr_version="5",
        spec_name="V5",
        serial=SERIAL_8N1,
        interval=1.0,
        checksum=True,
        encrypted=False,
        meter_options=MeterOptions(
            household=HouseholdOptions(phases=3, solar_kwp=2.0, gas=True),
            timezone="Europe/Budapest",
            equipment_prefix="HLY",
        ),
        crc_x25=True,
    ),
    Profile(
        name="se",
        description="Swedish meter (Kamstrup-like) with solar panels",
        dsmr_version="5S",
        spec_name="SWEDEN",
        serial=SERIAL_8N1,
        interval=10.0,
        checksum=True,
        encrypted=False,
        meter_options=MeterOptions(
            household=HouseholdOptions(phases=3, solar_kwp=6.0, gas=False),
            timezone="Europe/Stockholm",
        ),
    ),
)

PROFILES: dict[str, Profile] = {profile.name: profile for profile in _PROFILES}
"""All profiles by name."""


def get_profile(profile: Profile | str) -> Profile:
    """Look a profile up by name (a Profile is returned as it is)."""
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        msg = f"unknown profile {profile!r}; known: {', '.join(PROFILES)}"
        raise ValueError(msg) from None
