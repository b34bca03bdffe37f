"""Where a stream's telegrams come from: a meter, a profile, a clock and a cipher.

``TelegramSource`` binds a :class:`~simulators.meter.SimulatedMeter` to a
profile. Every call to :meth:`TelegramSource.telegram` moves the meter to the
clock's time and returns the bytes a real meter of that kind would send then
(for ``lu_encrypted`` an encrypted frame).

Clocks are plain callables returning an aware ``datetime``: the wall clock by
default, :class:`ManualClock` for tests, :class:`ScaledClock` to let simulated
time run faster than real time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
import time

from .dlms import (
    DEFAULT_AUTHENTICATION_KEY,
    DEFAULT_ENCRYPTION_KEY,
    DEFAULT_SYSTEM_TITLE,
    DlmsEncryptor,
)
from .meter import SimulatedMeter
from .profiles import Profile, get_profile
from .telegram import render_telegram

Clock = Callable[[], datetime]
"""Returns the current (simulated) time, timezone-aware."""


def wall_clock() -> datetime:
    """Return the real time in UTC."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to (for tests)."""

    def __init__(self, start: datetime) -> None:
        """Start at ``start`` (timezone-aware)."""
        if start.tzinfo is None:
            msg = "start must be timezone-aware"
            raise ValueError(msg)
        self.now = start

    def __call__(self) -> datetime:
        """Return the current time."""
        return self.now

    def advance(self, seconds: float | timedelta) -> datetime:
        """Move forward and return the new time."""
        step = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
        self.now += step
        return self.now

    def set(self, moment: datetime) -> None:
        """Jump to ``moment``."""
        self.now = moment


class ScaledClock:
    """Simulated time from ``start``, running ``speed`` times as fast as real time."""

    def __init__(self, start: datetime, speed: float) -> None:
        """Start now at ``start``."""
        self.start = start
        self.speed = speed
        self._origin = time.monotonic()

    def __call__(self) -> datetime:
        """Return the current simulated time."""
        return self.start + timedelta(
            seconds=(time.monotonic() - self._origin) * self.speed
        )


class TelegramSource:
    """Produces the telegrams of one simulated meter as they go out on the wire."""

    def __init__(
        self,
        profile: Profile | str = "nl_dsmr5_gas",
        meter: SimulatedMeter | None = None,
        *,
        seed: int = 0,
        clock: Clock | None = None,
        encryption_key: str | bytes | None = None,
        authentication_key: str | bytes | None = None,
        system_title: bytes | None = None,
    ) -> None:
        """Bind a meter (a new one of the profile's kind by default) to a profile.

        The new meter starts at the clock's current time with the given seed.
        The keys only matter for encrypted profiles; they default to
        :data:`~simulators.dlms.DEFAULT_ENCRYPTION_KEY` and the public
        authentication key.
        """
        self.profile = get_profile(profile)
        self.clock: Clock = clock if clock is not None else wall_clock
        self.meter = (
            meter
            if meter is not None
            else self.profile.create_meter(seed=seed, start=self.clock())
        )
        self.encryptor: DlmsEncryptor | None = None
        if self.profile.encrypted:
            self.encryptor = DlmsEncryptor(
                encryption_key
                if encryption_key is not None
                else DEFAULT_ENCRYPTION_KEY,
                authentication_key
                if authentication_key is not None
                else DEFAULT_AUTHENTICATION_KEY,
                system_title=system_title
                if system_title is not None
                else DEFAULT_SYSTEM_TITLE,
            )

    def plaintext(
        self,
        when: datetime | None = None,
        *,
        wrong_crc: bool = False,
        non_ascii: bool = False,
    ) -> bytes:
        """Return the plaintext telegram at ``when`` (default: the clock's time).

        The meter is advanced to ``when`` first; a time before the meter's own
        time renders the meter as it is (meters do not go back).
        """
        moment = when if when is not None else self.clock()
        if moment > self.meter.time:
            self.meter.advance(moment)
        return render_telegram(
            self.profile, self.meter, wrong_crc=wrong_crc, non_ascii=non_ascii
        )

    def telegram(
        self,
        when: datetime | None = None,
        *,
        wrong_crc: bool = False,
        non_ascii: bool = False,
    ) -> bytes:
        """Return the bytes sent for one telegram at ``when``.

        Encrypted profiles give a DLMS frame, the others the plaintext.
        """
        plaintext = self.plaintext(when, wrong_crc=wrong_crc, non_ascii=non_ascii)
        if self.encryptor is not None:
            return self.encryptor.encrypt(plaintext)
        return plaintext
