"""Shared fixtures."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
import os
from unittest.mock import patch

from homeassistant.core import HomeAssistant
import pytest

import custom_components.slimme_meter  # noqa: F401  (import before phcc's testing config)
from simulators.p4 import P4Simulator

from .remote_helpers import SyncRuns, count_sync_runs, running, steady_p1
from .server import TelegramServer

# The fault soak runs on request only: scripts/test soak.
collect_ignore = [] if os.environ.get("SLIMME_LANE") == "soak" else ["soak"]


@pytest.fixture
def with_recorder(request: pytest.FixtureRequest) -> bool:
    """Whether the real recorder runs: in the tests marked ``recorder``.

    A marked test parametrizes this with False to run without it.
    """
    return request.node.get_closest_marker("recorder") is not None


@pytest.fixture
def recorder_first(request: pytest.FixtureRequest, with_recorder: bool) -> None:
    """Start the real recorder, where it runs, before Home Assistant, as it must be.

    Its database is made before the ``hass`` fixture starts (the test plugin's
    ``recorder_db_url`` asserts so), hence before ``enable_custom_integrations``.
    """
    if with_recorder:
        request.getfixturevalue("recorder_mock")


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_first: None, enable_custom_integrations: None
) -> None:
    """Load custom_components/ in every test (after the recorder, where it runs)."""


@pytest.fixture
def time_zone() -> str:
    """The household's time zone; a module about a home elsewhere overrides it."""
    return "Europe/Amsterdam"


@pytest.fixture
async def home_zone(hass: HomeAssistant, time_zone: str) -> None:
    """Home Assistant in the household's time zone, paying in euros."""
    await hass.config.async_set_time_zone(time_zone)
    hass.config.currency = "EUR"


@pytest.fixture
def steady_link() -> Generator[None]:
    """The P1 link never stalls between telegrams and reconnects fast."""
    with steady_p1():
        yield


@pytest.fixture
def runs() -> Generator[SyncRuns]:
    """Every run of the remote sync, counted (the real one runs)."""
    with count_sync_runs() as recorded:
        yield recorded


@pytest.fixture
def fast_validation() -> Generator[None]:
    """Make the config flow's listening time short."""
    with patch("custom_components.slimme_meter.config_flow.VALIDATION_TIMEOUT", 2.0):
        yield


@pytest.fixture
async def server(socket_enabled: None) -> AsyncGenerator[TelegramServer]:
    """A loopback TCP server playing telegrams to the integration."""
    srv = TelegramServer()
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def sim(socket_enabled: None) -> AsyncGenerator[P4Simulator]:
    """The consent API with two days of one household's readings."""
    async with running(P4Simulator(history_days=2)) as simulator:
        yield simulator
