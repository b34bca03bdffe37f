"""How long the soak runs: full (scripts/test soak) or short (CI)."""

from __future__ import annotations

import os

SHORT = os.environ.get("SOAK_SCALE", "full") == "short"


def pick[T](full: T, short: T) -> T:
    """The full-run value, or the short one in the CI form."""
    return short if SHORT else full
