"""One way every provider talks HTTP: typed errors, a bounded body, exact JSON.

Status codes become the typed errors of :mod:`.api` (a refused key, rate
limits and outages with their ``Retry-After``, and, where a provider says what
a 404 means, consent that ended); a body is read up to ``MAX_BODY_BYTES``;
JSON numbers are read as :class:`~decimal.Decimal`, so energy values stay
exact, and ``NaN``/``Infinity`` are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
import email.utils
import json
import math
from typing import Any, Final

import aiohttp
from yarl import URL

from .api import (
    AuthError,
    ConsentEndedError,
    InvalidResponseError,
    RateLimitedError,
    UnavailableError,
    UnexpectedStatusError,
    UnreachableError,
)

MAX_BODY_BYTES: Final = 20 * 1024 * 1024
"""The largest answer read (assumption A14 of the P4 provider, kept for all)."""

_CHUNK = 64 * 1024


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Return the seconds a ``Retry-After`` header asks to wait, or None.

    The header holds either seconds or an HTTP date; a date in the past
    means zero.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def check_status(
    response: aiohttp.ClientResponse,
    *,
    refused: Mapping[int, str] | None = None,
    gone: str | None = None,
) -> None:
    """Raise the typed error of a status other than 200.

    ``refused`` words a 401 or 403 the provider's way; ``gone`` says what a
    404 means where it means that consent ended (otherwise it is unexpected).
    """
    status = response.status
    if status in (401, 403):
        raise AuthError(
            (refused or {}).get(status) or f"API key refused (HTTP {status})"
        )
    if status == 404 and gone:
        raise ConsentEndedError(f"{gone} (HTTP 404)")
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status == 429:
        raise RateLimitedError("too many requests (HTTP 429)", retry_after=retry_after)
    if status >= 500:
        raise UnavailableError(
            f"service unavailable (HTTP {status})", retry_after=retry_after
        )
    if status != 200:
        raise UnexpectedStatusError(f"unexpected HTTP status {status}")


async def read_bounded(response: aiohttp.ClientResponse) -> bytes:
    """Read the whole body, refusing anything over ``MAX_BODY_BYTES``."""
    declared = response.content_length
    if declared is not None and declared > MAX_BODY_BYTES:
        raise InvalidResponseError(f"answer of {declared} bytes is too large")
    body = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise InvalidResponseError(f"answer exceeds {MAX_BODY_BYTES} bytes")
    return bytes(body)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def decode_json(body: bytes, where: str) -> Any:
    """Return the JSON document, numbers as Decimal."""
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_no_constants)
    except (ValueError, RecursionError) as err:
        raise InvalidResponseError(f"{where}: answer is not valid JSON: {err}") from err


async def get_json(
    session: aiohttp.ClientSession,
    url: str | URL,
    *,
    where: str,
    headers: Mapping[str, str],
    timeout: aiohttp.ClientTimeout,
    params: Mapping[str, str] | None = None,
    refused: Mapping[int, str] | None = None,
    gone: str | None = None,
) -> Any:
    """GET a JSON document; every failure becomes a typed error.

    ``where`` names the endpoint in messages (never the key or the query,
    which can hold a metering point).
    """
    address = URL(url).with_query(None)
    try:
        async with session.get(
            url,
            params=dict(params) if params else None,
            headers=dict(headers),
            timeout=timeout,
        ) as response:
            check_status(response, refused=refused, gone=gone)
            body = await read_bounded(response)
    except InvalidResponseError as err:
        raise type(err)(f"{where}: {err}") from None
    except TimeoutError as err:
        raise UnreachableError(f"no answer from {address} in time") from err
    except aiohttp.ClientError as err:
        raise UnreachableError(f"cannot reach {address}: {err}") from err
    return decode_json(body, where)
