"""Reading an HTTP answer the way every provider must: bounded, then JSON.

Numbers are read as :class:`~decimal.Decimal`, so energy values stay exact.
"""

from __future__ import annotations

from decimal import Decimal
import json
from typing import Any

import aiohttp

from .api import InvalidResponseError
from .p4 import MAX_BODY_BYTES

_CHUNK = 64 * 1024


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


def decode_json(body: bytes, where: str) -> Any:
    """Return the JSON document, numbers as Decimal."""
    try:
        return json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError) as err:
        raise InvalidResponseError(f"{where}: answer is not valid JSON") from err
