"""The remote path recovers without a person: faults, crashes, long failures.

A simulated P4 consent API serves the household's readings over loopback
HTTP; the real recorder keeps the statistics. Time starts at a fixed moment
and runs (freezegun with tick); jumps forward fire the sync's timers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
import json
import logging
from pathlib import Path
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest

from custom_components.slimme_meter.const import DOMAIN
from custom_components.slimme_meter.diagnostics import (
    async_get_config_entry_diagnostics,
)
from custom_components.slimme_meter.history import statistic_id
from custom_components.slimme_meter.remote.api import RemoteState
from custom_components.slimme_meter.remote.sync import RemoteSync
from simulators.p4 import VARIANTS

from .helpers import state_of
from .remote_helpers import (
    REMOTE_PATH,
    SERIES,
    START,
    SyncRuns,
    all_rows,
    expected_rows,
    household,
    jump,
    start,
)

HISTORY = "custom_components.slimme_meter.history"
STRINGS = Path(__file__).parents[1] / "custom_components/slimme_meter/strings.json"
pytestmark = [
    pytest.mark.freeze_time(START, tick=True),
    pytest.mark.recorder,
    pytest.mark.usefixtures("socket_enabled", "home_zone", "steady_link"),
]


def after(delay: float | None) -> datetime:
    assert delay is not None
    return datetime.now(UTC) + timedelta(seconds=delay + 1)


async def test_two_years_under_a_fault_mix_finish_unattended(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    runs: SyncRuns,
    record_property: Callable[[str, object], None],
) -> None:
    """Bursts of 429 and 503, slow answers and a cut-off page: done in minutes.

    The service answers in every accepted shape at once (camelCase, wrapped,
    UTC times, ...); the two years arrive exact hour by hour.

        The rows are taken where they are handed to the recorder; what the
        recorder stores of them is checked by the history and statistics
        writer tests.
    """
    handed: dict[str, dict[datetime, tuple[float, float]]] = {}

    def hand(hass: HomeAssistant, metadata: Any, rows: list[Any]) -> None:
        into = handed.setdefault(metadata["statistic_id"], {})
        for row in rows:
            into[row["start"]] = (row["state"], row["sum"])

    with patch(f"{HISTORY}.async_write_statistics", hand):
        waited = await _fault_mix(hass, freezer, runs, handed)
    record_property("simulated_seconds", waited)


async def _fault_mix(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    runs: SyncRuns,
    handed: dict[str, dict[datetime, tuple[float, float]]],
) -> float:
    async with household(first_day=date(2023, 1, 9), days=730, page_size=100) as home:
        p4 = home.p4
        p4.variants = set(VARIANTS)  # in every shape accepted at once
        faults: dict[int, Callable[[], None]] = {
            **dict.fromkeys((3, 4, 5), lambda: p4.rate_limit(retry_after=20)),
            **dict.fromkeys((8, 9, 10), p4.unavailable),
            12: lambda: p4.unavailable(retry_after=45),
            19: p4.malformed,
            **dict.fromkeys((22, 23, 24), lambda: p4.rate_limit(retry_after=30)),
            27: lambda: p4.unavailable(status=502),
        }
        slow = {15, 16, 30}

        def before_request(number: int) -> None:
            p4.delay = 0.2 if number in slow else 0.0
            if (fault := faults.get(number)) is not None:
                fault()

        p4.before_request = before_request
        entry = home.entry()
        runtime = await start(hass, entry)
        remote = runtime.remote
        assert remote is not None
        waited = 0.0
        count = 1
        await runs.wait(count, timeout=60)
        while not remote.backfilled:
            delay = runs.delays[-1]
            assert delay is not None
            assert delay <= 15 * 60  # never parked for hours
            waited += delay + 1
            jump(freezer, after(delay))
            count += 1
            await runs.wait(count, timeout=60)
        assert runtime.remote_state is RemoteState.ACTIVE
        assert waited <= 15 * 60
        # Every fault cost one retry; no page was fetched twice after success.
        assert len(p4.bulk_requests) == len(set(p4.bulk_requests)) + len(faults)
        assert runs.delays[:-1] == [20.0] * 3 + [60.0, 120.0, 240.0, 45.0, 60.0] + [
            30.0
        ] * 3 + [60.0]
        # Hour by hour exact: every row handed to the recorder, the last
        # one of each hour winning.
        served = home.served()
        for series in SERIES:
            expected = expected_rows(served[series])
            assert len(expected) == 730 * 24 + 1  # and the first midnight
            sid = statistic_id(home.equipment_id, series)
            assert sorted(handed[sid].items()) == [
                (start_, (state, total)) for start_, state, total in expected
            ]
        diagnostics = await async_get_config_entry_diagnostics(hass, entry)
        assert diagnostics["remote"]["last_error"] is None
        assert diagnostics["remote"]["failing_since"] is None
    return waited


async def test_an_unforeseen_error_is_shown_logged_once_and_retried(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    runs: SyncRuns,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with household() as home:
        original = RemoteSync._apply
        crashes = 2

        async def crashing(self: RemoteSync, *args: Any) -> bool:
            nonlocal crashes
            if crashes:
                crashes -= 1
                raise RuntimeError("disk full")
            return await original(self, *args)

        with patch.object(RemoteSync, "_apply", crashing):
            entry = home.entry()
            runtime = await start(hass, entry)
            remote = runtime.remote
            assert remote is not None
            await until_state(runtime, RemoteState.FAILED)
            assert state_of(hass, REMOTE_PATH) == "failed"
            assert remote.last_error is not None
            assert "disk full" in remote.last_error
            jump(freezer, after(60))
            await asyncio.sleep(0.2)
            jump(freezer, after(120))
            await until_state(runtime, RemoteState.ACTIVE)
        logged = [
            r
            for r in caplog.records
            if r.levelno == logging.ERROR and "History import" in r.getMessage()
        ]
        assert len(logged) == 1  # the same error is logged once
        assert logged[0].exc_info is not None
        assert remote.last_error is None
        rows = await all_rows(hass, home.equipment_id)
        served = home.served()
        for series in SERIES:
            assert rows[series] == expected_rows(served[series])


async def until_state(runtime: Any, state: RemoteState) -> None:
    for _ in range(500):
        if runtime.remote_state is state:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{runtime.remote_state} is not {state}")


async def test_a_failure_lasting_a_day_raises_a_repair(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    runs: SyncRuns,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with household() as home:
        # The service answers in a shape nobody can read, for days.
        home.p4.mangle(lambda page: {"Unexpected": True}, count=10_000)
        entry = home.entry()
        runtime = await start(hass, entry)
        await runs.wait(1)
        registry = ir.async_get(hass)
        issue_id = f"remote_failing_{entry.entry_id}"
        count = 1
        elapsed = timedelta()
        while elapsed <= timedelta(days=1):
            assert registry.async_get_issue(DOMAIN, issue_id) is None
            assert runtime.remote_state is RemoteState.UNEXPECTED_ANSWER
            delay = runs.delays[-1]
            assert delay is not None
            elapsed += timedelta(seconds=delay + 1)
            jump(freezer, after(delay))
            count += 1
            await runs.wait(count)
        issue = registry.async_get_issue(DOMAIN, issue_id)
        assert issue is not None
        assert issue.translation_key == "remote_failing"
        told = [r for r in caplog.records if "more than a day" in r.getMessage()]
        assert len(told) == 1
        assert "live P1 data is not affected" in told[0].getMessage()
        assert issue.translation_placeholders == {
            "meter": "Smart meter",
            "remote_meter": "",
        }
        assert issue.data is not None
        reason = str(issue.data["reason"])
        assert "/v8/readings-bulk" in reason
        assert "TimeStamp missing" in reason
        assert "test-key" not in reason

        # The fix flow explains it: what the service answers, P1 unaffected.
        assert await async_setup_component(hass, "repairs", {})
        result = await repairs_flow_manager(hass).async_init(
            DOMAIN, data={"issue_id": issue_id}
        )
        assert result["step_id"] == "init"
        assert result["menu_options"] == ["check_again", "disable_remote"]
        assert result["description_placeholders"] == {
            "meter": "Smart meter",
            "remote_meter": "",
            "reason": reason,
        }
        strings = json.loads(STRINGS.read_text(encoding="utf-8"))
        texts = strings["issues"]["remote_failing"]
        assert "description" not in texts  # it is the fix flow's
        assert "{reason}" in texts["fix_flow"]["step"]["init"]["description"]
        assert "P1" in texts["fix_flow"]["step"]["init"]["description"]
        repairs_flow_manager(hass).async_abort(result["flow_id"])

        # The service is fixed: the next retry imports and the issue goes.
        home.p4.recover()
        jump(freezer, after(runs.delays[-1]))
        await runs.wait(count + 1)
        assert runtime.remote_state is RemoteState.ACTIVE
        assert registry.async_get_issue(DOMAIN, issue_id) is None


async def test_reconfiguring_twice_at_once_leaves_one_sync(
    hass: HomeAssistant, runs: SyncRuns
) -> None:
    async with household() as home:
        started: list[RemoteSync] = []
        original = RemoteSync.start

        def record(self: RemoteSync, create_task: Any) -> None:
            started.append(self)
            original(self, create_task)

        with patch.object(RemoteSync, "start", record):
            entry = home.entry()
            runtime = await start(hass, entry)
            await runs.wait(1)
            await asyncio.gather(
                runtime.async_configure_remote(), runtime.async_configure_remote()
            )
        assert len(started) == 3
        assert runtime.remote is started[-1]
        running = [sync for sync in started if sync._task is not None]
        assert running == [started[-1]]


async def test_retry_after_never_lengthens_later_waits(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, runs: SyncRuns
) -> None:
    async with household() as home:
        p4 = home.p4
        p4.unavailable()
        p4.rate_limit(count=8, retry_after=10)
        p4.unavailable()
        p4.unavailable(retry_after=5)
        p4.rate_limit(retry_after=None)
        entry = home.entry()
        runtime = await start(hass, entry)
        count = 1
        await runs.wait(count)
        while runtime.remote_state is not RemoteState.ACTIVE:
            jump(freezer, after(runs.delays[-1]))
            count += 1
            await runs.wait(count)
        # Eight waits as asked in between: the second 503 is only the second.
        assert runs.delays[:-1] == [60.0] + [10.0] * 8 + [120.0, 5.0, 60.0]
