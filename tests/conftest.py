"""Shared fixtures."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
import os
from unittest.mock import patch

import pytest

import custom_components.slimme_meter  # noqa: F401  (import before phcc's testing config)
from simulators.p4 import P4Simulator

from .server import TelegramServer

# The fault soak runs on request only: scripts/test soak.
collect_ignore = [] if os.environ.get("SLIMME_LANE") == "soak" else ["soak"]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/ in every test."""


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
    simulator = P4Simulator(history_days=2)
    await simulator.start()
    yield simulator
    await simulator.stop()
