"""The packages Home Assistant would install when the development stack starts.

``scripts/setup dev`` installs them beforehand, and ``scripts/develop`` runs
Home Assistant with ``--skip-pip``, so nothing is installed at start-up and
nothing fails for want of a package: the frontend (not a dependency of the
``homeassistant`` package), and the packages of the integrations Home
Assistant sets up by default (2026.10 sets up every base entity platform,
camera, conversation and tts among them) or that the stack's configuration
names, with their dependencies.

Only packages that are not installed at all are listed, in the version Home
Assistant pins: a lane's own versions (the test requirements) stay as they are.

    python -m devtools.requirements     # one requirement a line

With ``--for-install MANIFEST`` it lists instead what Home Assistant itself
would install when it starts with a user's minimal configuration (``http:``,
``config:``) and sets up that manifest's dependencies: the requirements of
the integrations it always sets up and of the manifest's dependencies, with
theirs (``scripts/test install``).
"""

from __future__ import annotations

from collections.abc import Iterable
import importlib.metadata
import json
from pathlib import Path
import re
import sys

from packaging.requirements import Requirement

CONFIGURATION_DOMAINS = (
    "frontend",
    "config",
    "http",
    "recorder",
    "history",
    "logbook",
    "energy",
    "repairs",
    "search",
    "system_health",
    "logger",
    "onboarding",
    "usb",
)
"""What the stack's configuration.yaml sets up (see devtools.develop)."""

_NAME = re.compile(r"[-_.]+")


def _components() -> Path:
    import homeassistant  # noqa: PLC0415 - only where Home Assistant is installed

    return Path(homeassistant.__file__).parent / "components"


def default_domains() -> set[str]:
    """Return the integrations Home Assistant sets up on every start."""
    from homeassistant import bootstrap  # noqa: PLC0415
    from homeassistant.const import BASE_PLATFORMS  # noqa: PLC0415

    return (
        set(bootstrap.CORE_INTEGRATIONS)
        | set(bootstrap.DEFAULT_INTEGRATIONS)
        | set(BASE_PLATFORMS)
    )


def requirements(
    domains: Iterable[str], components: Path, *, after: bool = False
) -> dict[str, str]:
    """Return the requirements of ``domains`` and their dependencies.

    With ``after``, after-dependencies count too (their modules are imported
    by the integrations that name them). Maps each requirement to the
    integration that needs it.
    """
    found: dict[str, str] = {}
    todo = list(domains)
    seen: set[str] = set()
    while todo:
        domain = todo.pop()
        if domain in seen:
            continue
        seen.add(domain)
        manifest = components / domain / "manifest.json"
        if not manifest.exists():
            continue
        data = json.loads(manifest.read_text())
        for requirement in data.get("requirements", []):
            found.setdefault(requirement, domain)
        todo.extend(data.get("dependencies", []))
        if after:
            todo.extend(data.get("after_dependencies", []))
    return found


def installed(name: str) -> bool:
    """Return whether a distribution of that name is installed (any version)."""
    try:
        importlib.metadata.distribution(_NAME.sub("-", name).lower())
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def missing(domains: Iterable[str], components: Path) -> list[str]:
    """Return the requirements of ``domains`` that are not installed at all."""
    return sorted(
        requirement
        for requirement in requirements(domains, components)
        if not installed(Requirement(requirement).name)
    )


def main(argv: list[str]) -> int:
    """Print the missing requirements, one a line."""
    if argv[:1] == ["--for-install"]:
        manifest = json.loads(Path(argv[1]).read_text())
        domains = {*default_domains(), "http", "config", *manifest["dependencies"]}
        for requirement in sorted(requirements(domains, _components(), after=True)):
            print(requirement)
        return 0
    domains = default_domains() | set(CONFIGURATION_DOMAINS)
    for requirement in missing(domains, _components()):
        print(requirement)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
