"""Fixtures for the simulator tests (they need no Home Assistant instance)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simulators.source import ManualClock


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the package-wide fixture: simulators run without Home Assistant."""


@pytest.fixture
def clock() -> ManualClock:
    """A manual clock on a Monday morning in winter (10:00 local time)."""
    return ManualClock(datetime(2025, 1, 6, 9, 0, tzinfo=UTC))
