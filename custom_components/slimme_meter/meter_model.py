r"""The meter's maker and model, read from the identification line of its telegram.

The line is the telegram's header without its slash, e.g. ``ISk5\2MT382-1000``:
a three-letter FLAG id of the maker, one character for the baud rate, and the
meter's own identification (after a ``\`` and one more character, if present).
"""

from __future__ import annotations

from collections.abc import Mapping

# Manufacturer by the three-letter FLAG id that starts the header.
MANUFACTURERS: Mapping[str, str] = {
    "ISK": "Iskraemeco",
    "KFM": "Kaifa",
    "KMP": "Kamstrup",
    "KAM": "Kamstrup",
    "XMX": "Xemex",
    "LGF": "Landis+Gyr",
    "LGB": "Landis+Gyr",
    "SAG": "Sagemcom",
    "ESY": "EasyMeter",
    "FLU": "Fluvius",
    "LUX": "Sagemcom",
    "EIT": "Elster",
    "ELS": "Elster",
    "ZIV": "ZIV",
    "SMR": "Sagemcom",
}


def manufacturer(header: str) -> str | None:
    """Return the maker's name, or its FLAG id when the name is not known."""
    return MANUFACTURERS.get(header[:3].upper(), header[:3] or None)


def model(header: str) -> str | None:
    """Return the meter identification that follows the maker and speed codes."""
    ident = header[4:]
    if ident.startswith("\\"):
        ident = ident[2:]
    return ident or None


def title(header: str) -> str:
    """Return a name for the meter: maker and model, or a generic one."""
    return " ".join(part for part in (manufacturer(header), model(header)) if part) or (
        "Smart meter"
    )
