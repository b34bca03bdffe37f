"""What Home Assistant's own validator does not check in the files HACS reads.

hassfest (run by `scripts/test` on the newest lane) validates manifest.json,
strings.json, translations/en.json, services and the config flow. These tests
cover the rest: hacs.json, the Dutch translation's parity with the English
one, translations for every entity and state the code uses, brand images and
the licence.
"""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

import pytest

ROOT = Path(__file__).parents[1]
COMPONENT = ROOT / "custom_components" / "slimme_meter"
HACS_KEYS = {
    "name",
    "content_in_root",
    "country",
    "filename",
    "hacs",
    "hide_default_branch",
    "homeassistant",
    "persistent_directory",
    "zip_release",
}
URL = re.compile(r"https?://|www\.", re.IGNORECASE)
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    leaves: dict[str, str] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            leaves |= _leaves(value, f"{prefix}{key}.")
        else:
            leaves[prefix + key] = value
    return leaves


def test_manifest_requirements_are_what_the_lanes_install() -> None:
    manifest = _load(COMPONENT / "manifest.json")
    requirements = (ROOT / "requirements" / "common.txt").read_text()
    for requirement in manifest["requirements"]:
        assert requirement in requirements.splitlines()


def test_hacs_json() -> None:
    hacs = _load(ROOT / "hacs.json")
    assert set(hacs) <= HACS_KEYS
    assert hacs["name"]
    oldest = (ROOT / "requirements" / "oldest.txt").read_text()
    assert "0.13.236" in oldest  # the phcc release that pins Home Assistant 2025.4.4
    assert hacs["homeassistant"] == "2025.4.0"


@pytest.mark.parametrize("language", ["en", "nl"])
def test_translations_match_strings(language: str) -> None:
    strings = _leaves(_load(COMPONENT / "strings.json"))
    translation = _leaves(_load(COMPONENT / "translations" / f"{language}.json"))
    assert set(translation) == set(strings)
    for key, text in translation.items():
        assert "[%key:" not in text, key
        assert not URL.search(text), key
        assert set(PLACEHOLDER.findall(text)) == set(
            PLACEHOLDER.findall(strings[key])
        ), key


@pytest.mark.parametrize(
    "path", ["strings.json", "translations/en.json", "translations/nl.json"]
)
def test_form_sections_are_labelled(path: str) -> None:
    """Each section of a form step has a name and labels for its own fields."""
    texts = _load(COMPONENT / path)
    found = []
    for flow in ("config", "options"):
        for step_id, step in texts[flow]["step"].items():
            assert set(step.get("data_description", {})) <= set(step.get("data", {}))
            for name, section in step.get("sections", {}).items():
                found.append(f"{flow}.{step_id}.{name}")
                assert set(section) <= {
                    "name",
                    "description",
                    "data",
                    "data_description",
                }
                assert section["name"], name
                assert section["data"], name
                assert set(section.get("data_description", {})) <= set(section["data"])
                # A field moved into the section is no longer one of the step's.
                assert not set(section["data"]) & set(step.get("data", {})), name
    assert found == ["config.remote.advanced", "options.remote.advanced"]


def test_english_translation_is_strings() -> None:
    assert _load(COMPONENT / "translations" / "en.json") == _load(
        COMPONENT / "strings.json"
    )


def test_every_entity_and_state_is_translated() -> None:
    from custom_components.slimme_meter.sensor import (
        MBUS_SENSORS,
        METER_SENSORS,
        PATH_SENSORS,
    )

    sensors = _load(COMPONENT / "strings.json")["entity"]["sensor"]
    descriptions = [
        *METER_SENSORS,
        *PATH_SENSORS,
        *(d for group in MBUS_SENSORS.values() for d in group),
    ]
    for description in descriptions:
        assert description.translation_key in sensors, description.key
        if description.options:
            assert set(description.options) <= set(
                sensors[description.translation_key]["state"]
            ), description.key


def test_brand_images() -> None:
    from PIL import Image

    brand = COMPONENT / "brand"
    for prefix in ("", "dark_"):
        for name, size in (("icon", 256), ("logo", 128)):
            with Image.open(brand / f"{prefix}{name}.png") as image:
                assert image.height == size
                assert image.mode == "RGBA"
            with Image.open(brand / f"{prefix}{name}@2x.png") as image:
                assert image.height == size * 2


def test_licence() -> None:
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("                                 Apache License")
    assert "Version 2.0, January 2004" in licence
    assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text()
