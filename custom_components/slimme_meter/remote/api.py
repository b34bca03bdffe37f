"""The provider interface of the remote path: data types and typed errors.

A provider reaches the grid operator's readings of a household that gave its
consent. It knows nothing of Home Assistant beyond the aiohttp session it is
given. Every failure is raised as one of the errors below, each carrying the
path state it means, so the rest of the integration never sees HTTP.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol


class RemoteState(StrEnum):
    """State of the remote path, as the UI shows it."""

    NOT_CONFIGURED = "not_configured"
    BACKFILLING = "backfilling"
    ACTIVE = "active"
    AWAITING_DATA = "awaiting_data"
    READOUT_SWITCHED_OFF = "readout_switched_off"
    NOT_REMOTELY_READABLE = "not_remotely_readable"
    CONSENT_ENDED = "consent_ended"
    AUTH_FAILED = "auth_failed"
    TEMPORARILY_UNAVAILABLE = "temporarily_unavailable"
    RATE_LIMITED = "rate_limited"
    UNREACHABLE = "unreachable"
    UNEXPECTED_ANSWER = "unexpected_answer"
    FAILED = "failed"


# States in which fetching stops until the user acts.
STOPPED_STATES = frozenset(
    {
        RemoteState.READOUT_SWITCHED_OFF,
        RemoteState.NOT_REMOTELY_READABLE,
        RemoteState.CONSENT_ENDED,
        RemoteState.AUTH_FAILED,
    }
)


class Register(StrEnum):
    """The registers a provider delivers, as cumulative readings."""

    ELECTRICITY_IMPORT = "electricity_import"  # kWh
    ELECTRICITY_EXPORT = "electricity_export"  # kWh
    GAS = "gas"  # m³


class RemoteError(Exception):
    """A failure of the remote path; `state` says what it means for the user."""

    state = RemoteState.UNREACHABLE

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        """Keep the message and, when the provider said so, when to retry."""
        super().__init__(message)
        self.retry_after = retry_after


class AuthError(RemoteError):
    """The API key was refused (HTTP 401/403)."""

    state = RemoteState.AUTH_FAILED


class RateLimitedError(RemoteError):
    """Too many requests (HTTP 429); honour retry_after."""

    state = RemoteState.RATE_LIMITED


class UnavailableError(RemoteError):
    """The source is temporarily unavailable (HTTP 5xx, P4 009/012/014/041)."""

    state = RemoteState.TEMPORARILY_UNAVAILABLE


class UnreachableError(RemoteError):
    """No answer: connection failure or timeout."""

    state = RemoteState.UNREACHABLE


class InvalidResponseError(RemoteError):
    """An answer that cannot be understood: malformed, oversized, other shape.

    The service answered, so this is never "unreachable"; the message names
    the endpoint and the field.
    """

    state = RemoteState.UNEXPECTED_ANSWER


class UnexpectedStatusError(InvalidResponseError):
    """An HTTP status the protocol does not use (404 for a wrong address)."""


class ConsentEndedError(RemoteError):
    """The mandate ended or never covered this meter (P4 008/040)."""

    state = RemoteState.CONSENT_ENDED


class ReadoutSwitchedOffError(RemoteError):
    """Remote read-out is switched off at the grid operator (P4 038)."""

    state = RemoteState.READOUT_SWITCHED_OFF


class NotRemotelyReadableError(RemoteError):
    """The meter cannot be read remotely (P4 039/007)."""

    state = RemoteState.NOT_REMOTELY_READABLE


@dataclass(frozen=True, slots=True)
class MeteringPoint:
    """A connection (EAN) the key may read, with the meter behind it."""

    ean: str
    meter_id: str | None
    product: str  # "electricity" or "gas"
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """A cumulative register reading at a moment (UTC), in kWh or m³ thousandths.

    `value` is an integer number of Wh (electricity) or litres (gas), so
    readings merge and subtract exactly.
    """

    register: Register
    time: datetime
    value: int


@dataclass(frozen=True, slots=True)
class Usage:
    """Energy (Wh) or gas (litres) used in ``[start, end)``, both UTC.

    For a source without register readings. A usage of one hour is a measured
    hour; a longer one (a day or month total) is coarse: only its total is
    known, and the hours inside it are estimated unless finer usages exist.
    """

    register: Register
    start: datetime
    end: datetime
    value: int


@dataclass(frozen=True, slots=True)
class Rejection:
    """A request the grid operator refused: its code and what that means.

    `state` is None for a rejection that concerns only that day (data not yet
    available, or older than the source keeps) and needs no change of state.
    """

    ean: str
    day: date | None
    code: str
    state: RemoteState | None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """One page of readings, with the cursor to continue after it."""

    readings: Sequence[Reading] = ()
    daily: Sequence[Reading] = ()  # day readings, where nothing finer exists
    rejections: Sequence[Rejection] = ()
    cursor: str | None = None
    more: bool = False
    meter_ids: frozenset[str] = field(default_factory=frozenset)
    usages: Sequence[Usage] = ()  # a source without registers (anchor.py)
    # (metering point, register) pairs the consent does not cover (e.g.
    # export not granted): the others are imported; the user is asked to
    # grant the missing ones. Registers by the provider's own names.
    missing_grants: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    # The metering point each register comes from, where a source reads
    # several (production or gas apart from consumption).
    points: Mapping[Register, str] = field(default_factory=dict)


class Provider(Protocol):
    """A consent service that hands out a household's meter readings."""

    name: str

    async def metering_points(self) -> list[MeteringPoint]:
        """Return the connections the key may read."""

    async def readings(self, eans: Collection[str], cursor: str | None) -> Batch:
        """Return the next page for these connections after a cursor.

        A cursor of None starts at the oldest data the source keeps.
        """
