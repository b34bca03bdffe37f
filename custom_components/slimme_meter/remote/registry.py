"""The one place that maps a stored provider name to its implementation.

A second consent service is a new module with a :class:`~.api.Provider`
plus one entry here (and a simulator to test it against); nothing else in
the integration names a provider.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from . import leneda, meterbeheer, p4
from .api import Provider


@dataclass(frozen=True, slots=True)
class ProviderType:
    """How to build one provider, and what it needs to know."""

    name: str
    default_base_url: str
    # (session, API key, address, the remote path's options) -> provider
    create: Callable[[aiohttp.ClientSession, str, str, Mapping[str, Any]], Provider]
    meter_matches: Callable[[str, str], bool]
    # The config-flow step that asks what this provider needs beyond the
    # key; None: its list of metering points is offered.
    flow_step: str | None = None


PROVIDERS: Final[dict[str, ProviderType]] = {
    p4.P4Provider.name: ProviderType(
        name=p4.P4Provider.name,
        default_base_url=p4.DEFAULT_BASE_URL,
        create=lambda session, key, url, _: p4.P4Provider(session, key, url),
        meter_matches=p4.meter_matches,
    ),
    meterbeheer.MeterbeheerProvider.name: ProviderType(
        name=meterbeheer.MeterbeheerProvider.name,
        default_base_url=meterbeheer.DEFAULT_BASE_URL,
        create=meterbeheer.MeterbeheerProvider.from_options,
        meter_matches=meterbeheer.meter_matches,
    ),
    leneda.LenedaProvider.name: ProviderType(
        name=leneda.LenedaProvider.name,
        default_base_url=leneda.DEFAULT_BASE_URL,
        create=leneda.LenedaProvider.from_options,
        meter_matches=leneda.meter_matches,
        flow_step="remote_leneda",
    ),
}
DEFAULT_PROVIDER: Final = p4.P4Provider.name


def provider_type(name: str | None) -> ProviderType:
    """Return the provider stored under ``name`` (the default when absent)."""
    return PROVIDERS[name or DEFAULT_PROVIDER]


def create_provider(
    session: aiohttp.ClientSession,
    name: str | None,
    api_key: str,
    base_url: str | None,
    options: Mapping[str, Any] | None = None,
) -> Provider:
    """Build the stored provider with its key, address and other options."""
    kind = provider_type(name)
    return kind.create(
        session, api_key, base_url or kind.default_base_url, options or {}
    )
