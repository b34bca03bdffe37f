"""The meter's maker, model and name from its telegram header."""

from __future__ import annotations

import pytest

from custom_components.slimme_meter.meter_model import manufacturer, model, title


@pytest.mark.parametrize(
    ("header", "maker", "ident", "name"),
    [
        ("ISk5\\2MT382-1000", "Iskraemeco", "MT382-1000", "Iskraemeco MT382-1000"),
        ("KFM5KAIFA-METER", "Kaifa", "KAIFA-METER", "Kaifa KAIFA-METER"),
        ("Lux5\\253694471_M", "Sagemcom", "53694471_M", "Sagemcom 53694471_M"),
        ("XYZ5ABC", "XYZ", "ABC", "XYZ ABC"),
        ("FLU5", "Fluvius", None, "Fluvius"),
        ("", None, None, "Smart meter"),
    ],
)
def test_header(header: str, maker: str | None, ident: str | None, name: str) -> None:
    assert manufacturer(header) == maker
    assert model(header) == ident
    assert title(header) == name
