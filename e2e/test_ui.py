"""The integration as a person sees it in Home Assistant's UI.

The tests run in order on one development stack: both data paths working,
remote read-out switched off at the grid operator (with the repair dialog's
explanation), a pulled P1 cable, the imported history in the Energy
dashboard, a year of another integration's history brought in, and last the
same pages with Home Assistant set to Dutch.
Screenshots go to docs/images.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
import re
import time
from typing import Any

from playwright.sync_api import Locator, Page, expect
import pytest

from .conftest import SCREENSHOTS, VIEWPORT, Stack, load_translations

LONG = 60_000
"""Milliseconds to wait for a state to show (a sync, a reconnect)."""
DEVICE_VIEWPORT = {"width": 1280, "height": 1700}
"""Tall enough for the device page's Sensors card; the screenshot is clipped."""
POWER_RE = re.compile(r"^\s*\d+([.,]\d+)?\s*k?W\s*$")  # 0.244 kW, 0,244 kW (Dutch)


def _sensor(translations: dict[str, Any], key: str) -> dict[str, Any]:
    sensor: dict[str, Any] = translations["entity"]["sensor"][key]
    return sensor


def _texts(translations: dict[str, Any]) -> dict[str, str]:
    """Names and states as the device page shows them, and the repair's texts."""
    local = _sensor(translations, "local_path")
    remote = _sensor(translations, "remote_path")
    active = _sensor(translations, "active_data_path")
    issue = translations["issues"]["readout_switched_off"]
    init = issue["fix_flow"]["step"]["init"]
    live = re.search(r"\*\*(.+?)\*\*", init["description"])
    assert live is not None
    return {
        "local": local["name"],
        "connected": local["state"]["connected"],
        "disconnected": local["state"]["disconnected"],
        "remote": remote["name"],
        "remote_active": remote["state"]["active"],
        "readout_off": remote["state"]["readout_switched_off"],
        "active": active["name"],
        "local_and_remote": active["state"]["local_and_remote"],
        "local_only": active["state"]["local_only"],
        "power": _sensor(translations, "power_import")["name"],
        "device": translations["device"]["electricity"]["name"],
        "repair": issue["title"].split("{meter}")[0].strip(),
        "repair_title": init["title"],
        "repair_live": live.group(1),
        "repair_opening": init["description"].split("{meter}")[0].strip(),
        "check_again": init["menu_options"]["check_again"],
        "disable_remote": init["menu_options"]["disable_remote"],
    }


@pytest.fixture(scope="module")
def texts(translations: dict[str, Any]) -> dict[str, str]:
    """Return the English texts."""
    return _texts(translations)


@pytest.fixture(scope="module")
def device_id(stack: Stack, texts: dict[str, str]) -> str:
    """Return the id of the electricity meter's device."""
    ids = stack.template(
        "{{ integration_entities('slimme_meter') | map('device_id') "
        "| reject('none') | unique | list | tojson }}"
    )
    for candidate in re.findall(r'"([0-9a-f]+)"', ids):
        name = stack.template(f"{{{{ device_attr('{candidate}', 'name') }}}}")
        if name == texts["device"]:
            return candidate
    pytest.fail(f"no {texts['device']!r} among the devices {ids}")


def _dismiss_dialogs(page: Page) -> None:
    """Close whatever dialog the frontend opened on its own."""
    for _ in range(3):
        dialog = page.locator("[role=dialog]:visible, [role=alertdialog]:visible")
        if dialog.count() == 0:
            return
        page.keyboard.press("Escape")
        page.wait_for_timeout(300)


def _value(page: Page, name: str) -> Locator:
    """Return the value shown for the entity ``name`` on the device page."""
    row = page.locator("hui-sensor-entity-row").filter(
        has=page.get_by_text(name, exact=True)
    )
    return row.locator("hui-generic-entity-row").first


def _expect_value(page: Page, name: str, text: str, timeout: float = LONG) -> None:
    """Wait until the device page shows ``text`` for ``name``."""
    expect(_value(page, name)).to_have_js_property("innerText", text, timeout=timeout)


def _wait_for(
    what: str, check: Callable[[], str | None], timeout: float = LONG / 1000
) -> str:
    """Poll ``check`` until it returns a text; fail with ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.5)


def _expect_live_power(page: Page, name: str) -> None:
    """Read the power twice, a few seconds apart: it changes."""
    value = _value(page, name)

    def power() -> str | None:
        text = value.inner_text()
        return text if POWER_RE.match(text) else None

    first = _wait_for(f"a power value for {name}", power)
    looked = time.monotonic()
    page.wait_for_timeout(3000)

    def changed() -> str | None:
        text = value.inner_text()
        return text if text != first and POWER_RE.match(text) else None

    second = _wait_for(f"{name} to change from {first}", changed)
    assert time.monotonic() - looked >= 3
    assert second != first


def _open_device(
    page: Page, stack: Stack, device_id: str, texts: dict[str, str]
) -> None:
    page.set_viewport_size(DEVICE_VIEWPORT)
    page.goto(f"{stack.url}/config/devices/device/{device_id}")
    expect(page.get_by_text(texts["local"], exact=True).first).to_be_visible(
        timeout=LONG
    )
    _dismiss_dialogs(page)


def _screenshot_device(page: Page, texts: dict[str, str], name: str) -> None:
    """Save the device page down to the end of its Sensors card."""
    card = page.locator("ha-card").filter(has=_value(page, texts["local"])).first
    box = card.bounding_box()
    assert box is not None
    height = min(DEVICE_VIEWPORT["height"], round(box["y"] + box["height"] + 16))
    _save(page, name, clip={"x": 0, "y": 0, "width": 1280, "height": height})


def _save(page: Page, name: str, **options: Any) -> None:
    """Take a screenshot into docs/images, optimised when Pillow is there."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.wait_for_timeout(500)  # let animations settle
    page.screenshot(path=str(path), animations="disabled", **options)
    _optimise(path)


def _settle(page: Page, timeout: float = 10.0) -> None:
    """Wait until two looks at the page are the same (charts animate)."""
    deadline = time.monotonic() + timeout
    previous = b""
    while time.monotonic() < deadline:
        shot = page.screenshot(animations="disabled")
        if shot == previous:
            return
        previous = shot
        page.wait_for_timeout(500)


def _optimise(path: Path) -> None:
    try:
        from PIL import Image  # noqa: PLC0415 - optional
    except ImportError:  # pragma: no cover - without Pillow the PNG stays as is
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def test_device_page_shows_both_paths(
    page: Page, stack: Stack, device_id: str, texts: dict[str, str]
) -> None:
    """Live values from the P1 port, history from the grid operator."""
    _open_device(page, stack, device_id, texts)
    _expect_value(page, texts["local"], texts["connected"])
    _expect_value(page, texts["remote"], texts["remote_active"])
    _expect_value(page, texts["active"], texts["local_and_remote"])
    _expect_live_power(page, texts["power"])
    _screenshot_device(page, texts, "device-local-and-remote.png")


def test_readout_switched_off(
    page: Page, stack: Stack, device_id: str, texts: dict[str, str]
) -> None:
    """The grid operator stops remote read-out: live values keep flowing."""
    assert stack.switch("readout-off")
    stack.sync()
    _open_device(page, stack, device_id, texts)
    _expect_value(page, texts["remote"], texts["readout_off"])
    _expect_value(page, texts["active"], texts["local_only"])
    _expect_value(page, texts["local"], texts["connected"])
    _expect_live_power(page, texts["power"])
    _screenshot_device(page, texts, "device-readout-off.png")

    _open_repair(page, stack, texts, "repairs.png", "repair-dialog.png")


def _open_repair(
    page: Page, stack: Stack, texts: dict[str, str], listed: str | None, dialog: str
) -> None:
    """Open the read-out repair: its dialog explains what happened.

    Home Assistant shows a fixable issue's fix flow, so the explanation must
    be the flow's first step: what happened, that live P1 values are not
    affected, and the two choices.
    """
    page.set_viewport_size(VIEWPORT)
    page.goto(f"{stack.url}/config/repairs")
    repair = page.get_by_text(texts["repair"]).first
    expect(repair).to_be_visible(timeout=LONG)
    _dismiss_dialogs(page)
    if listed:
        _save(page, listed)
    repair.click()
    for text in (
        texts["repair_title"],
        texts["repair_opening"],
        texts["repair_live"],
        texts["check_again"],
        texts["disable_remote"],
    ):
        expect(page.get_by_text(text).first).to_be_visible(timeout=LONG)
    _save(page, dialog)
    page.keyboard.press("Escape")
    expect(page.get_by_text(texts["repair_live"])).to_have_count(0)


def test_cable_pulled_and_plugged(
    page: Page, stack: Stack, device_id: str, texts: dict[str, str]
) -> None:
    """A pulled cable shows as disconnected; plugged back, values return."""
    _open_device(page, stack, device_id, texts)
    _expect_value(page, texts["local"], texts["connected"])
    assert stack.switch("cable-pull")
    try:
        _expect_value(page, texts["local"], texts["disconnected"])
        _expect_value(page, texts["power"], "Unavailable")
    finally:
        assert stack.switch("cable-plug")
    # The reader backs off exponentially while the cable is out (up to 60 s).
    _expect_value(page, texts["local"], texts["connected"], timeout=2 * LONG)
    _expect_live_power(page, texts["power"])


def test_energy_dashboard_shows_imported_history(page: Page, stack: Stack) -> None:
    """The merged history fills the Energy dashboard for the past month."""
    page.set_viewport_size(VIEWPORT)
    cells = _grid_totals(page, stack, "Last 30 days")
    # The cost statistics: a cost total that is not zero (€ 0.00 would be).
    expect(cells.nth(1)).to_have_text(re.compile(r"[1-9]"), timeout=LONG)
    expect(page.get_by_text("There is no data to show")).to_have_count(0)
    _settle(page)
    _save(page, "energy.png")


YEAR_HOURS = 365 * 24
PREVIOUS = "sensor.previous_meter_energy_import"


def _previous_integration_year(end: datetime) -> list[dict[str, Any]]:
    """Return a year of hourly statistics of the integration used before ours.

    Like core dsmr's: the meter register as ``state``, a growing ``sum``; a
    little at night, more in the evening, more in winter.
    """
    rows = []
    register, total = 4000.0, 0.0
    start = end - timedelta(hours=YEAR_HOURS)
    for hour in range(YEAR_HOURS):
        moment = start + timedelta(hours=hour)
        winter = 1.4 if moment.month in (11, 12, 1, 2) else 1.0
        use = 0.12 if moment.hour < 7 else 0.45 if 17 <= moment.hour < 22 else 0.25
        register += round(use * winter, 3)
        total += round(use * winter, 3)
        rows.append(
            {
                "start": moment.isoformat(),
                "state": round(register, 3),
                "sum": round(total, 3),
            }
        )
    return rows


def _grid_totals(page: Page, stack: Stack, period: str) -> Locator:
    """Open the Energy dashboard on ``period``; return the grid total's cells.

    The first is the energy (waited for until it is not zero), the second the
    cost.
    """
    page.goto(f"{stack.url}/energy")
    picker = page.get_by_role("button", name="Select time period")
    expect(picker).to_be_visible(timeout=LONG)
    _dismiss_dialogs(page)
    picker.click()
    page.get_by_text(period, exact=True).click()
    select = page.get_by_role("button", name="Select", exact=True)
    if select.is_visible():
        select.click()
    _dismiss_dialogs(page)
    cells = (
        page.locator("tr")
        .filter(has=page.get_by_text("Grid total", exact=True))
        .locator("td.mdc-data-table__cell--numeric")
    )
    expect(cells.first).to_have_text(
        re.compile(r"[1-9][\d,]*(\.\d+)? kWh"), timeout=LONG
    )
    return cells


def _year_total(page: Page, stack: Stack) -> float:
    """Open the Energy dashboard on this year; return its grid total in kWh."""
    grid = _grid_totals(page, stack, "This year").first
    return float(grid.inner_text().split()[0].replace(",", ""))


def test_switch_from_another_integration(page: Page, stack: Stack) -> None:
    """A year of the previous integration's history joins the merged one."""
    page.set_viewport_size(VIEWPORT)
    page.goto(f"{stack.url}/energy")
    expect(page.get_by_role("button", name="Select time period")).to_be_visible(
        timeout=LONG
    )
    # It reaches into the weeks the grid operator delivered: those hours stay
    # the grid operator's, the year before them comes from the import.
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    page.evaluate(
        "async ([id, stats]) => {"
        " const hass = document.querySelector('home-assistant').hass;"
        " await hass.callWS({type: 'recorder/import_statistics',"
        "  metadata: {has_sum: true, mean_type: 0, name: 'Previous meter import',"
        "   source: 'recorder', statistic_id: id, unit_class: 'energy',"
        "   unit_of_measurement: 'kWh'},"
        "  stats: stats});"
        "}",
        [PREVIOUS, _previous_integration_year(end)],
    )

    def imported() -> str | None:
        found = page.evaluate(
            "async (id) => {"
            " const hass = document.querySelector('home-assistant').hass;"
            " const ids = await hass.callWS({type: 'recorder/list_statistic_ids',"
            "  statistic_type: 'sum'});"
            " return ids.some((s) => s.statistic_id === id);"
            "}",
            PREVIOUS,
        )
        return "yes" if found else None

    _wait_for(f"the recorder to hold {PREVIOUS}", imported)
    result = stack.rest(
        "POST",
        "/api/services/slimme_meter/import_history?return_response",
        {
            "config_entry_id": stack.entry_id(),
            "electricity_import": PREVIOUS,
            "confirm_mismatch": True,
        },
    )
    assert result["service_response"]["hours_imported"] > 7000, result

    # The rows reach the recorder in the background: look until the year's
    # total holds them (the import adds about 2400 kWh to a few weeks' 400).
    def year_loaded() -> str | None:
        total = _year_total(page, stack)
        return f"{total} kWh" if total > 1500 else None

    _wait_for("the imported year in the Energy dashboard", year_loaded)
    _settle(page)
    _save(page, "energy-year.png")


def test_in_dutch(page: Page, stack: Stack, device_id: str) -> None:
    """Home Assistant in Dutch: the repair and the device page speak Dutch.

    The frontend's language is the user's choice; entity names and states come
    from the backend's language, so both are set, and the entry is reloaded
    to name its entities anew.
    """
    dutch = _texts(load_translations("nl"))
    page.evaluate(
        "async () => {"
        " const hass = document.querySelector('home-assistant').hass;"
        " await hass.callWS({type: 'config/core/update', language: 'nl'});"
        " localStorage.setItem('selectedLanguage', JSON.stringify('nl'));"
        "}"
    )
    stack.rest("POST", f"/api/config/config_entries/entry/{stack.entry_id()}/reload")
    _open_repair(page, stack, dutch, None, "repair-dialog-nl.png")
    _open_device(page, stack, device_id, dutch)
    _expect_value(page, dutch["local"], dutch["connected"])
    _expect_value(page, dutch["remote"], dutch["readout_off"])
    _expect_value(page, dutch["active"], dutch["local_only"])
    _expect_live_power(page, dutch["power"])
    _screenshot_device(page, dutch, "device-nl.png")
