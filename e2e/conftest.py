"""Fixtures of the browser tests: the development stack and a logged-in browser.

The ``stack`` fixture starts ``scripts/develop`` on a fresh configuration
directory and free ports, waits for its ``READY`` line and stops it (and
every process it started) at the end, also when a test fails. The ``page``
fixture is Debian's Chromium, driven by Playwright, logged in through Home
Assistant's own login page.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
import contextlib
from dataclasses import dataclass
import json
import os
from pathlib import Path
import re
import signal
import socket
import subprocess
import threading
import time
from typing import Any
import urllib.request

from playwright.sync_api import Browser, Page, Playwright, sync_playwright
import pytest

ROOT = Path(__file__).resolve().parents[1]
DEVELOP = ROOT / "scripts" / "develop"
TRANSLATIONS = ROOT / "custom_components" / "slimme_meter" / "translations"
SCREENSHOTS = ROOT / "docs" / "images"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1280, "height": 900}
READY_TIMEOUT = 240.0
"""Seconds for a fresh configuration to come up on a busy 2-core machine."""
STOP_TIMEOUT = 60.0
READY_RE = re.compile(
    r"^READY (?P<url>http://\S+) user=(?P<user>\S+) "
    r"password=(?P<password>\S+) token=(?P<token>.+)$"
)


@dataclass(frozen=True)
class Stack:
    """A running development stack."""

    url: str
    user: str
    password: str
    token: str
    control: str
    config: Path
    log: Path

    def rest(self, method: str, path: str, body: Any = None) -> Any:
        """Call Home Assistant's REST API; return the decoded JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback URL
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
            raw = answer.read()
        return json.loads(raw) if raw else None

    def template(self, template: str) -> str:
        """Render a template in Home Assistant."""
        request = urllib.request.Request(  # noqa: S310 - loopback URL
            f"{self.url}/api/template",
            data=json.dumps({"template": template}).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
            return str(answer.read().decode()).strip()

    def switch(self, name: str) -> dict[str, Any]:
        """Flip a simulator switch through the control API; return the state."""
        request = urllib.request.Request(  # noqa: S310 - loopback URL
            f"{self.control}/sim/{name}", data=b"", method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            result: dict[str, Any] = json.loads(answer.read() or b"{}")
        return result

    def entry_id(self) -> str:
        """Return the id of the Slimme Meter config entry."""
        entries = self.rest("GET", "/api/config/config_entries/entry")
        ids = [e["entry_id"] for e in entries if e["domain"] == "slimme_meter"]
        assert len(ids) == 1, entries
        return str(ids[0])

    def sync(self) -> None:
        """Ask the integration to fetch the remote history now."""
        self.rest(
            "POST",
            "/api/services/slimme_meter/sync_remote_history",
            {"config_entry_id": self.entry_id()},
        )


def _free_ports(count: int) -> list[int]:
    """Return ``count`` distinct free TCP ports on the loopback interface."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _children() -> dict[int, int]:
    """Return {pid: parent pid} of every process visible in /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            # Fields after the command name, which is in parentheses.
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def _descendants(pid: int) -> set[int]:
    """Return the pids of every process below ``pid``."""
    parents = _children()
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        for child, parent in parents.items():
            if parent == current and child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - not ours
        return False
    return True


def _stop(process: subprocess.Popen[str], tracked: set[int]) -> None:
    """Stop the stack: SIGINT to its group, then SIGKILL what is left."""
    tracked |= _descendants(process.pid)
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    # Processes that left the group (their own sessions) but were started by
    # the stack: end them by pid.
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in tracked) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in tracked:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Start ``scripts/develop`` on a fresh configuration; stop it at the end."""
    base = tmp_path_factory.mktemp("develop")
    config = base / "config"
    log = base / "develop.log"
    port, p1, p4, control = _free_ports(4)
    command = [
        str(DEVELOP),
        "--config",
        str(config),
        "--port",
        str(port),
        "--p1",
        str(p1),
        "--p4",
        str(p4),
        "--control",
        str(control),
    ]
    ready = threading.Event()
    found: dict[str, str] = {}
    process = subprocess.Popen(  # noqa: S603 - our own script
        command,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    tracked: set[int] = set()

    def read() -> None:
        assert process.stdout is not None
        with log.open("w") as out:
            for line in process.stdout:
                out.write(line)
                out.flush()
                if not ready.is_set() and (match := READY_RE.match(line.strip())):
                    found.update(match.groupdict())
                    ready.set()
        ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        started = time.monotonic()
        while not ready.wait(1.0):
            tracked |= _descendants(process.pid)
            if time.monotonic() - started > READY_TIMEOUT:
                pytest.fail(
                    f"scripts/develop was not READY after {READY_TIMEOUT:.0f} s:\n"
                    + _tail(log)
                )
        if not found:
            pytest.fail(
                f"scripts/develop stopped (exit {process.poll()}):\n" + _tail(log)
            )
        print(f"\nstack READY after {time.monotonic() - started:.1f} s")
        tracked |= _descendants(process.pid)
        yield Stack(
            url=found["url"],
            user=found["user"],
            password=found["password"],
            token=Path(found["token"]).read_text().strip(),
            control=f"http://127.0.0.1:{control}",
            config=config,
            log=log,
        )
    finally:
        _stop(process, tracked)
        reader.join(10)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text().splitlines()[-lines:])
    except OSError:
        return "(no output)"


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's headless Chromium."""
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture(scope="session")
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    """Return a browser tab logged in through Home Assistant's login page."""
    # The browser lives where Home Assistant does: days begin at the same time.
    time_zone = stack.rest("GET", "/api/config")["time_zone"]
    context = browser.new_context(
        viewport=VIEWPORT, locale="en-US", timezone_id=time_zone
    )
    context.set_default_timeout(30_000)
    tab = context.new_page()
    tab.goto(stack.url + "/")
    tab.get_by_role("textbox", name="Username").fill(stack.user)
    tab.get_by_role("textbox", name="Password").fill(stack.password)
    tab.get_by_role("button", name="Log in").click()
    # The frontend stores its tokens once the login went through.
    tab.wait_for_function("() => !!localStorage.getItem('hassTokens')", timeout=60_000)
    try:
        yield tab
    finally:
        context.close()


def load_translations(language: str) -> dict[str, Any]:
    """Return the integration's texts in ``language``, as the UI shows them."""
    result: dict[str, Any] = json.loads((TRANSLATIONS / f"{language}.json").read_text())
    return result


@pytest.fixture(scope="session")
def translations() -> dict[str, Any]:
    """Return the integration's English texts."""
    return load_translations("en")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep what a failed test saw: a screenshot and the end of the stack's log."""
    report: pytest.TestReport = yield
    funcargs = getattr(item, "funcargs", {})
    stack, tab = funcargs.get("stack"), funcargs.get("page")
    if report.when == "call" and report.failed and isinstance(stack, Stack):
        lines = [f"log of scripts/develop: {stack.log}", _tail(stack.log, 20)]
        if isinstance(tab, Page):
            path = stack.log.parent / f"failed-{item.name}.png"
            with contextlib.suppress(Exception):
                tab.screenshot(path=str(path))
                lines.insert(0, f"screenshot: {path}")
        report.sections.append(("e2e", "\n".join(lines)))
    return report
