"""The development stack's tools: configuration, Energy preferences, switches."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncGenerator
import contextlib
from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
import socket
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant import loader
from homeassistant.components.recorder import Recorder, get_instance
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.slimme_meter.costs import (
    CostHistory,
    PriceSettings,
    cost_statistic_id,
)
from custom_components.slimme_meter.history import MergedHistory, Series
from custom_components.slimme_meter.p1.connection import Endpoint
from custom_components.slimme_meter.p1.detect import DetectError, detect
import devtools
from devtools import bootstrap, develop
from devtools.hass import HassError
from devtools.simulated_prices import const as price_const
from devtools.simulated_prices.prices import hour_prices, price_at
from simulators.stack import DEFAULT_P1_KEY, SWITCHES, SimulatorStack

REPO = Path(__file__).parents[1]
METER = "slimme_meter:e0012345678901234"
IMPORT = f"{METER}_electricity_import"
EXPORT = f"{METER}_electricity_export"
GAS = f"{METER}_gas"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the package-wide fixture: these tools run without Home Assistant."""


def test_committed_configuration_is_the_template() -> None:
    """config/configuration.yaml is what scripts/develop writes for port 8123."""
    committed = (REPO / "config" / "configuration.yaml").read_text()
    assert committed == develop.render_configuration(develop.DEFAULT_PORT)
    assert develop.configured_port(REPO / "config") == develop.DEFAULT_PORT


def test_prepare_config_writes_once(tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    assert develop.prepare_config(config, 18123) == 18123
    text = (config / "configuration.yaml").read_text()
    assert "  server_host: 127.0.0.1\n  server_port: 18123\n" in text
    assert sorted(path.name for path in (config / "custom_components").iterdir()) == [
        "simulated_prices",
        "slimme_meter",
    ]
    link = config / "custom_components" / "slimme_meter"
    assert link.is_symlink()
    assert link.resolve() == (REPO / "custom_components" / "slimme_meter").resolve()
    assert (link / "manifest.json").exists()

    # A second run keeps the file and the links, and takes the port from it.
    (config / "configuration.yaml").write_text(text + "# mine\n")
    assert develop.prepare_config(config, None) == 18123
    assert develop.prepare_config(config, 18123) == 18123
    assert (config / "configuration.yaml").read_text().endswith("# mine\n")
    with pytest.raises(develop.StackError, match="serves port 18123, not 18124"):
        develop.prepare_config(config, 18124)


def test_prepare_config_default_port(tmp_path: Path) -> None:
    assert develop.prepare_config(tmp_path, None) == develop.DEFAULT_PORT


def test_prepare_config_refuses_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "custom_components" / "slimme_meter").mkdir(parents=True)
    with pytest.raises(develop.StackError, match="is not a link"):
        develop.prepare_config(tmp_path, None)


def test_prepare_config_repoints_a_stale_link(tmp_path: Path) -> None:
    folder = tmp_path / "custom_components"
    folder.mkdir()
    (folder / "slimme_meter").symlink_to(tmp_path)
    develop.prepare_config(tmp_path, None)
    assert (folder / "slimme_meter").resolve() == (
        REPO / "custom_components" / "slimme_meter"
    ).resolve()


def test_check_ports(socket_enabled: None) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(develop.StackError, match=f"port {port} \\(P1\\) is in use"):
            develop.check_ports({"P1": port})
    develop.check_ports({"P1": port})


def test_pick_statistics() -> None:
    ids = [
        "sensor.electricity_meter_energy_import_total",
        GAS,
        EXPORT,
        IMPORT,
        "other:x_gas",
        f"{IMPORT}_cost",
        f"{EXPORT}_compensation",
        f"{GAS}_cost",
    ]
    assert bootstrap.pick_statistics(ids) == {
        "electricity_import": IMPORT,
        "electricity_export": EXPORT,
        "gas": GAS,
        "electricity_import_cost": f"{IMPORT}_cost",
        "electricity_export_compensation": f"{EXPORT}_compensation",
        "gas_cost": f"{GAS}_cost",
    }
    assert bootstrap.pick_statistics([]) == {}


def test_energy_sources_fit_this_home_assistant() -> None:
    """The Energy preferences are valid in one of the two grid shapes."""
    from homeassistant.components.energy.data import (
        ENERGY_SOURCE_SCHEMA,
    )

    def valid(sources: list[dict[str, Any]]) -> bool:
        try:
            ENERGY_SOURCE_SCHEMA(sources)
        except Exception:
            return False
        return True

    gas = bootstrap.gas_source(GAS, f"{GAS}_cost")
    costs = (f"{IMPORT}_cost", f"{EXPORT}_compensation")
    shapes = [
        valid([bootstrap.grid_source(IMPORT, EXPORT, *costs), gas]),
        valid([bootstrap.legacy_grid_source(IMPORT, EXPORT, *costs), gas]),
    ]
    assert shapes.count(True) == 1
    assert valid([bootstrap.legacy_grid_source(IMPORT, None)]) == shapes[1]


class FakeWebsocket:
    """Answers websocket commands from a table; records them."""

    def __init__(self, answers: dict[str, list[Any]]) -> None:
        self.answers = answers
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def command(self, kind: str, **fields: Any) -> Any:
        self.sent.append((kind, fields))
        answer = self.answers[kind].pop(0)
        if isinstance(answer, HassError):
            raise answer
        return answer


async def test_configure_energy_falls_back_to_the_older_shape() -> None:
    ws = FakeWebsocket({"energy/save_prefs": [HassError("invalid_format"), None]})
    found = {"electricity_import": IMPORT, "electricity_export": EXPORT, "gas": GAS}
    await bootstrap.configure_energy(ws, found)  # type: ignore[arg-type]
    first, second = (fields["energy_sources"] for _, fields in ws.sent)
    assert first[0]["stat_energy_from"] == IMPORT
    assert second[0]["flow_from"][0]["stat_energy_from"] == IMPORT
    assert second[0]["flow_to"][0]["stat_energy_to"] == EXPORT
    assert first[1] == second[1] == bootstrap.gas_source(GAS)


async def test_energy_configured() -> None:
    missing = HassError("energy/get_prefs", code="not_found")
    ws = FakeWebsocket(
        {
            "energy/get_prefs": [
                missing,
                {"energy_sources": []},
                {"energy_sources": [{}]},
                HassError("x", code="unknown_command"),
            ]
        }
    )
    assert await bootstrap.energy_configured(ws) is False  # type: ignore[arg-type]
    assert await bootstrap.energy_configured(ws) is False  # type: ignore[arg-type]
    assert await bootstrap.energy_configured(ws) is True  # type: ignore[arg-type]
    with pytest.raises(HassError):
        await bootstrap.energy_configured(ws)  # type: ignore[arg-type]


async def test_settle_http_confirms_and_ignores() -> None:
    issues = {
        "issues": [
            {"domain": "http", "issue_id": "deprecated_yaml", "ignored": False},
            {"domain": "http", "issue_id": "other", "ignored": False},
            {
                "domain": "homeassistant",
                "issue_id": "deprecated_method",
                "ignored": True,
            },
            {"domain": "slimme_meter", "issue_id": "consent_ended_x"},
        ]
    }
    ws = FakeWebsocket(
        {
            "http/config": [
                {"pending": {"server_port": 1}, "active_config_type": "pending"}
            ],
            "http/config/promote": [None],
            "repairs/list_issues": [issues],
            "repairs/ignore_issue": [None],
        }
    )
    done = await bootstrap.settle_http(ws)  # type: ignore[arg-type]
    assert len(done) == 2
    assert ("http/config/promote", {}) in ws.sent
    assert (
        "repairs/ignore_issue",
        {"domain": "http", "issue_id": "deprecated_yaml", "ignore": True},
    ) in ws.sent
    assert len([kind for kind, _ in ws.sent if kind == "repairs/ignore_issue"]) == 1

    older = FakeWebsocket(
        {
            "http/config": [HassError("x", code="unknown_command")],
            "repairs/list_issues": [{"issues": []}],
        }
    )
    assert await bootstrap.settle_http(older) == []  # type: ignore[arg-type]


@pytest.fixture
async def stack(socket_enabled: None) -> AsyncGenerator[SimulatorStack]:
    simulators = SimulatorStack(p1_port=0, p4_port=0, control_port=0, days=1)
    await simulators.start()
    yield simulators
    await simulators.stop()


async def test_switch_command(
    stack: SimulatorStack, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(name: str | None) -> int:
        args = argparse.Namespace(name=name, control=stack.control_port)
        return develop.switch(args)

    def last_line() -> str:
        # The stack, in this process, prints each switch too.
        return capsys.readouterr().out.splitlines()[-1]

    assert await asyncio.to_thread(run, None) == 0
    assert last_line() == "readout=on consent=ok cable=plugged"
    assert await asyncio.to_thread(run, "cable-pull") == 0
    assert last_line() == "readout=on consent=ok cable=pulled"
    assert stack.p1.serving is False
    assert await asyncio.to_thread(run, "readout-off") == 0
    assert last_line() == "readout=off consent=ok cable=pulled"
    assert await asyncio.to_thread(run, "nonsense") == 2
    assert "unknown switch 'nonsense'" in capsys.readouterr().out


def test_switch_without_a_stack(
    socket_enabled: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = argparse.Namespace(name=None, control=port)
    assert develop.switch(args) == 1
    assert "is scripts/develop running?" in capsys.readouterr().out


def test_help_lists_options_and_switches(capsys: pytest.CaptureFixture[str]) -> None:
    with contextlib.suppress(SystemExit):
        develop.main(["--help"])
    text = capsys.readouterr().out
    for option in ("--config", "--port", "--p1", "--p4", "--control", "--days"):
        assert option in text
    for name in SWITCHES:
        assert name in text
    assert "scripts/develop switch" in text
    assert "scripts/develop sync" in text
    with contextlib.suppress(SystemExit):
        develop.main(["switch", "--help"])
    assert "--control" in capsys.readouterr().out


async def test_sync_without_a_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argparse.Namespace(config=str(tmp_path), port=None)
    assert await develop.sync(args) == 1
    assert "start scripts/develop" in capsys.readouterr().out


class FakeClient:
    """Answers REST calls from a table; records the others."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.entries = entries
        self.calls: list[tuple[str, str]] = []

    async def get(self, path: str) -> Any:
        assert path == "/api/config/config_entries/entry"
        return self.entries

    async def request(self, method: str, path: str) -> None:
        self.calls.append((method, path))


async def test_remove_onboarding_extras() -> None:
    client = FakeClient(
        [
            {"entry_id": "a", "domain": "shopping_list", "source": "onboarding"},
            {"entry_id": "b", "domain": "slimme_meter", "source": "user"},
            {"entry_id": "c", "domain": "backup", "source": "onboarding"},
            {"entry_id": "d", "domain": "google_translate", "source": "onboarding"},
            {"entry_id": "e", "domain": "met", "source": "user"},
        ]
    )
    removed = await bootstrap.remove_onboarding_extras(client)  # type: ignore[arg-type]
    assert removed == ["shopping_list", "google_translate"]
    assert client.calls == [
        ("DELETE", "/api/config/config_entries/entry/a"),
        ("DELETE", "/api/config/config_entries/entry/d"),
    ]


class FlowClient:
    """Answers the config flow's REST calls like Home Assistant; records them."""

    def __init__(self, steps: list[dict[str, Any]]) -> None:
        self.steps = steps
        self.posts: list[tuple[str, Any]] = []

    async def post(self, path: str, json: Any = None) -> Any:
        self.posts.append((path, json))
        return self.steps.pop(0)


async def test_set_prices_through_the_options_flow() -> None:
    flow = {"flow_id": "o1", "errors": None}
    client = FlowClient(
        [
            {**flow, "type": "menu", "step_id": "init"},
            {**flow, "type": "form", "step_id": "costs"},
            {**flow, "type": "create_entry"},
        ]
    )
    await bootstrap.set_prices(client, "e1")  # type: ignore[arg-type]
    url = "/api/config/config_entries/options/flow"
    assert client.posts == [
        (url, {"handler": "e1"}),
        (f"{url}/o1", {"next_step_id": "costs"}),
        (f"{url}/o1", bootstrap.PRICES),
    ]
    failing = FlowClient(
        [
            {**flow, "type": "menu", "step_id": "init"},
            {**flow, "type": "form", "step_id": "costs", "errors": {"x": "y"}},
        ]
    )
    with pytest.raises(HassError, match="costs"):
        await bootstrap.set_prices(failing, "e1")  # type: ignore[arg-type]
    unfinished = FlowClient(
        [
            {**flow, "type": "menu", "step_id": "init"},
            {**flow, "type": "form", "step_id": "costs"},
            {**flow, "type": "form", "step_id": "costs"},
        ]
    )
    with pytest.raises(HassError, match="did not finish"):
        await bootstrap.set_prices(unfinished, "e1")  # type: ignore[arg-type]


async def test_create_entry_answers_every_step() -> None:
    """The service's address goes in the remote step's Advanced section."""
    stack = bootstrap.Stack("127.0.0.1", 2000, "http://127.0.0.1:8099", "dev-key")
    flow = {"flow_id": "f1", "type": "form", "errors": None}
    points = [{"value": "871687120000000001"}, {"value": "871687120000000002"}]
    client = FlowClient(
        [
            {**flow, "type": "menu", "step_id": "user"},
            {**flow, "step_id": "network"},
            {**flow, "step_id": "confirm"},
            {**flow, "type": "menu", "step_id": "remote_offer"},
            {**flow, "step_id": "remote", "errors": {}},
            {
                **flow,
                "step_id": "remote_points",
                "data_schema": [
                    {"name": "eans", "selector": {"select": {"options": points}}}
                ],
            },
            {"flow_id": "f1", "type": "create_entry", "result": {"title": "Meter"}},
        ]
    )
    entry = await bootstrap.create_entry(client, stack)  # type: ignore[arg-type]
    assert entry == {"title": "Meter"}
    url = "/api/config/config_entries/flow"
    assert client.posts == [
        (url, {"handler": "slimme_meter"}),
        (f"{url}/f1", {"next_step_id": "network"}),
        (f"{url}/f1", {"host": "127.0.0.1", "port": 2000, "specification": "auto"}),
        (f"{url}/f1", {}),
        (f"{url}/f1", {"next_step_id": "remote"}),
        (
            f"{url}/f1",
            {
                "provider": "nl_p4",
                "api_key": "dev-key",
                "advanced": {"base_url": "http://127.0.0.1:8099"},
            },
        ),
        (f"{url}/f1", {"eans": ["871687120000000001", "871687120000000002"]}),
    ]


async def test_create_entry_stops_at_an_error() -> None:
    stack = bootstrap.Stack("127.0.0.1", 2000, "http://127.0.0.1:8099", "dev-key")
    client = FlowClient(
        [
            {
                "flow_id": "f1",
                "type": "form",
                "step_id": "remote",
                "errors": {"advanced": "invalid_url"},
            }
        ]
    )
    with pytest.raises(HassError, match="config flow step 'remote'"):
        await bootstrap.create_entry(client, stack)  # type: ignore[arg-type]


async def test_create_entry_links_leneda() -> None:
    """--provider lu_leneda: the Leneda step gets the simulator's POD."""
    stack = bootstrap.Stack(
        "127.0.0.1", 2000, "http://127.0.0.1:8099", "dev-key", "lu_leneda"
    )
    replies = bootstrap.answers(stack)
    assert replies["remote"]({})["provider"] == "lu_leneda"
    assert replies["remote_leneda"]({}) == {
        "energy_id": "LUXE-TE-ST-1234",
        "pod": "LU0000010133700000000000081434123",
        "registers": ["import", "export", "gas"],
        "gas_pod": "LU0000010133700000000000081434124",
        "confirm": True,
    }


# ------------------------------------------------- the simulated dynamic price

PRICE_ENTITY = bootstrap.PRICE_ENTITY
NOW = datetime(2026, 3, 29, 10, 7, tzinfo=UTC)  # the day the clocks go forward
HOUR = timedelta(hours=1)


def test_price_component_is_what_the_tools_link_and_add(tmp_path: Path) -> None:
    manifest = json.loads(
        (REPO / "devtools" / "simulated_prices" / "manifest.json").read_text()
    )
    assert manifest["domain"] == bootstrap.PRICE_DOMAIN == price_const.DOMAIN
    assert PRICE_ENTITY == price_const.ENTITY_ID
    develop.prepare_config(tmp_path, 8123)
    link = tmp_path / "custom_components" / bootstrap.PRICE_DOMAIN
    assert link.resolve() == REPO / "devtools" / "simulated_prices"
    # The development prices: import at the dynamic price, a pair for export.
    assert bootstrap.PRICES["electricity_import_price_entity"] == PRICE_ENTITY
    assert "electricity_import_price" not in bootstrap.PRICES
    assert (
        bootstrap.PRICES["electricity_export_price_low"]
        < (bootstrap.PRICES["electricity_export_price"])
    )


def test_simulated_prices_change_every_quarter_hour() -> None:
    start = int(datetime(2026, 7, 1, 10, tzinfo=UTC).timestamp())
    day = [price_at(start + quarter * 900) for quarter in range(96)]
    assert len(set(day)) > 90  # a new price nearly every quarter-hour
    assert all(0.05 < price < 0.6 for price in day)
    # Dear in the evening (19:00 local), cheaper in a sunny afternoon.
    assert price_at(start + 7 * 3600) > price_at(start + 3 * 3600)
    assert hour_prices(start) == day[:4]
    assert price_at(start) == price_at(start)


async def test_price_history_waits_for_every_hour() -> None:
    rows = [{"mean": 0.2}] * 47
    ws = FakeWebsocket(
        {"recorder/statistics_during_period": [{}, {PRICE_ENTITY: rows}]}
    )
    assert await bootstrap.wait_for_price_history(ws, 2) == 47  # type: ignore[arg-type]
    _, fields = ws.sent[0]
    assert fields["statistic_ids"] == [PRICE_ENTITY]
    assert fields["period"] == "hour"
    ws = FakeWebsocket({"recorder/statistics_during_period": [{}, {}]})
    with pytest.raises(HassError, match="hours of price history"):
        await bootstrap.wait_for_price_history(ws, 2, timeout=0.1)  # type: ignore[arg-type]


async def test_add_price_sensor_through_its_config_flow() -> None:
    client = FlowClient(
        [
            {"flow_id": "p1", "type": "form", "step_id": "user", "errors": None},
            {"flow_id": "p1", "type": "create_entry", "result": {"title": "P"}},
        ]
    )
    assert await bootstrap.add_price_sensor(client, 43) == {"title": "P"}  # type: ignore[arg-type]
    url = "/api/config/config_entries/flow"
    assert client.posts == [
        (url, {"handler": "simulated_prices"}),
        (f"{url}/p1", {"days": 43}),
    ]


async def _price_means(hass: HomeAssistant, since: datetime) -> dict[datetime, float]:
    await async_wait_recording_done(hass)
    result: dict[str, list[Any]] = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        since,
        None,
        {PRICE_ENTITY},
        "hour",
        None,
        {"mean"},
    )
    return {
        datetime.fromtimestamp(row["start"], UTC): row["mean"]
        for row in result.get(PRICE_ENTITY, [])
    }


@pytest.mark.freeze_time(NOW, tick=True)
@pytest.mark.usefixtures("socket_enabled")
async def test_price_sensor_history_prices_the_merged_history(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """The sensor's past hours are in the recorder, and the costs use them."""
    await hass.config.async_set_time_zone("Europe/Amsterdam")
    hass.config.currency = "EUR"
    integration = loader.Integration.resolve_from_root(
        hass, devtools, bootstrap.PRICE_DOMAIN
    )
    assert integration is not None
    (await loader.async_get_custom_components(hass))[bootstrap.PRICE_DOMAIN] = (
        integration
    )
    result = await hass.config_entries.flow.async_init(
        bootstrap.PRICE_DOMAIN, context={"source": "user"}
    )
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"days": 2}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()

    now = int(NOW.timestamp())
    state = hass.states.get(PRICE_ENTITY)
    assert state is not None
    assert float(state.state) == price_at(now - now % 900)
    assert state.attributes["unit_of_measurement"] == "EUR/kWh"

    # Two days of hours (across the clock change), up to the one running
    # now, each the mean of its four quarter-hour prices.
    this_hour = NOW.replace(minute=0)
    means = await _price_means(hass, this_hour - 49 * HOUR)
    assert list(means) == [this_hour - (48 - i) * HOUR for i in range(48)]
    for start, mean in means.items():
        prices = hour_prices(int(start.timestamp()))
        assert mean == pytest.approx(sum(prices) / 4, abs=1e-6)

    # A new price every quarter-hour.
    freezer.move_to(NOW.replace(minute=15))
    async_fire_time_changed(hass, NOW.replace(minute=15))
    await hass.async_block_till_done()
    state = hass.states.get(PRICE_ENTITY)
    assert state is not None
    assert float(state.state) == price_at(now - now % 900 + 900)

    # A restart imports nothing twice.
    entry = hass.config_entries.async_entries(bootstrap.PRICE_DOMAIN)[0]
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert await _price_means(hass, this_hour - 49 * HOUR) == means

    # Slimme Meter prices the imported history at the sensor's past prices.
    history = MergedHistory(hass, "E0012345678901234", "entry")
    await history.async_load()
    costs = CostHistory(
        hass,
        history,
        "entry",
        PriceSettings.from_options(
            {"electricity_import_price_entity": PRICE_ENTITY, "gas_price": 1.38}
        ),
        "dsmr_5",
    )
    await costs.async_load()
    first = this_hour - 30 * HOUR
    readings = [(first + i * HOUR, 1_000_000 + 1_500 * i) for i in range(31)]
    history.merge_remote(Series.ELECTRICITY_IMPORT, readings)
    await history.async_write()
    await async_wait_recording_done(hass)
    sid = cost_statistic_id("E0012345678901234", Series.ELECTRICITY_IMPORT)
    rows: dict[str, list[Any]] = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        first - HOUR,
        None,
        {sid},
        "hour",
        None,
        {"sum"},
    )
    sums = [row["sum"] for row in rows[sid]]
    expected, total = [0.0], 0.0
    for i in range(1, 31):
        total += 1.5 * means[first + (i - 1) * HOUR]
        expected.append(total)
    assert sums == pytest.approx(expected, abs=1e-5)
    assert costs.summary()["electricity_import"]["unknown_price_hours"] == []
    assert sums[-1] > 5  # 45 kWh at about 0.25 a kWh


def _run_args(provider: str) -> argparse.Namespace:
    return develop._run_parser().parse_args(
        ["--provider", provider, "--p1", "2731", "--p4", "8732", "--control", "8733"]
    )


@pytest.mark.parametrize(
    ("provider", "profile"),
    [
        ("nl_p4", "nl_dsmr5_gas"),
        ("nl_meterbeheer", "nl_dsmr5_gas"),
        ("lu_leneda", "lu_encrypted"),
    ],
)
def test_each_service_has_its_country_s_meter(provider: str, profile: str) -> None:
    """Leneda's household has an encrypting Smarty; only it gets a P1 key."""
    args = _run_args(provider)
    arguments = develop.stack_arguments(args)
    assert arguments[:2] == ["-m", "simulators.stack"]
    assert arguments[arguments.index("--provider") + 1] == provider
    stack = develop.linked_stack(args)
    assert (stack.p1_host, stack.p1_port) == ("127.0.0.1", 2731)
    assert stack.p4_url == "http://127.0.0.1:8732"
    assert stack.provider == provider
    simulators = SimulatorStack(
        p1_port=0, p4_port=0, control_port=0, days=1, provider=provider
    )
    assert simulators.profile.name == profile
    if profile == "lu_encrypted":
        assert stack.p1_key == simulators.p1_key == DEFAULT_P1_KEY
        assert arguments[arguments.index("--p1-key") + 1] == DEFAULT_P1_KEY
        assert bootstrap.answers(stack)["key"]({}) == {"encryption_key": DEFAULT_P1_KEY}
        assert simulators.meter.equipment_id.startswith("SAG")
        assert simulators.p1.interval == 10.0
    else:
        assert stack.p1_key is simulators.p1_key is None
        assert "--p1-key" not in arguments
        assert "key" not in bootstrap.answers(stack)
        assert simulators.meter.equipment_id.startswith("E00")
        assert simulators.p1.interval == 1.0


async def test_the_smarty_is_read_with_the_key_the_flow_enters(
    socket_enabled: None,
) -> None:
    """--provider lu_leneda: the key step's key decrypts the P1 simulator's frames.

    Found the way the config flow finds a meter (the specification "auto"):
    the Luxembourg Smarty specification, the meter the Leneda simulator's
    household has.
    """
    args = _run_args("lu_leneda")
    key = bootstrap.answers(develop.linked_stack(args))["key"]({})["encryption_key"]
    simulators = SimulatorStack(
        p1_port=0,
        p4_port=0,
        control_port=0,
        days=1,
        interval=0.05,
        provider="lu_leneda",
    )
    await simulators.start()
    try:
        endpoint = Endpoint.from_data(
            {"connection": "network", "host": "127.0.0.1", "port": simulators.p1.port}
        )
        with pytest.raises(DetectError, match="needs_key"):
            await detect(endpoint, 5.0)
        found = await detect(endpoint, 5.0, key=key)
    finally:
        await simulators.stop()
    assert found.spec.id == "luxembourg_msn"
    assert found.snapshot.equipment_id == simulators.meter.equipment_id
    assert simulators.leneda is not None
    assert simulators.leneda.history.meter is simulators.p4.meter
    assert simulators.state()["p1"]["encryption_key"] == key
