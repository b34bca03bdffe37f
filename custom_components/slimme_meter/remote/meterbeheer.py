"""Dutch P4 usage through Meterbeheer HUB, an intermediary households can use.

Meterbeheer is a certified P4 party ("ODA"): once the contract holder signed
its digital mandate (checked with the meter number), it fetches the
connection's P4 data and serves it as one JSON feed per channel. Two parts:

- the management API, ``Authorization: Bearer <API key>``::

      GET /api/v1/feed  ->  [{"uuid", "provider", "name", "status":
      "pending"|"verified", "ean", "postalCode", "houseNumber",
      "channels": [{"code": "1.8.0", "url": "https://…/feed/<uuid>/1.8.0.json"}]}]

- each channel's feed, an unguessable URL: ``GET <url>?from=YYYY-MM-DD&to=…``
  (at most 365 days) answering the **usage per period** (not registers):
  electricity per quarter hour in kWh, gas per hour in m3.

History older than the 10 days of quarter hours EDSN hands out comes from
day values (40 days) and month values (13 months), which Meterbeheer spreads
evenly over the quarters ("a day of 150 kWh as 96 points of 1.5625 kWh").
Such a day is not a measured profile: a local day whose quarters are all the
same non-zero value is taken as a day total (:class:`~.api.Usage` over the
day), which the merged history spreads over its hours as estimated rows,
until finer readings replace it. Energy is anchored to the P1 registers
(:mod:`.anchor`).

Assumptions (the documentation was read only in part)
-----------------------------------------------------
M1. Feed documents are ``{"ean", "channel", "unit", "data": [{"from", "to",
    "value"}]}``; synonyms accepted: ``values``/``readings``/``items`` for
    ``data``, ``start``/``end`` for ``from``/``to``, ``usage``/``quantity``
    for ``value``; ``unit`` ``kWh`` or ``m3``/``m³``.
M2. Channels: ``1.8.0`` usage, ``2.8.0`` feed-in; a feed in m³ is gas.
    Other channels (tariff registers) are left out.
M3. ``from``/``to`` are query parameters, ``to`` inclusive; times carry an
    offset; a period is a quarter, an hour or a whole local day.
M4. A linked EAN whose feed is no longer listed, or whose feed URL answers
    404, means the mandate ended. A ``pending`` feed has no data yet.
M5. With the paid "API+" a feed carries ``faultCode`` (a P4 code, e.g. 038)
    and is treated like the P4 rejection of that code.
M6. Days spread flat (M-intro) are recognised by shape only: every quarter of
    a complete local day equal and above zero. A day of truly constant
    non-zero use is rare enough; it would only be shown as estimated.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import pairwise
from typing import Any, Final
from zoneinfo import ZoneInfo

import aiohttp

from .api import (
    Batch,
    ConsentEndedError,
    InvalidResponseError,
    MeteringPoint,
    Register,
    Rejection,
    Usage,
)
from .http import get_json
from .p4 import parse_moment, rejection_state

DEFAULT_BASE_URL: Final = "https://hub.meterbeheer.nl"
FEEDS_PATH: Final = "/api/v1/feed"
SOURCE_TIMEZONE: Final = ZoneInfo("Europe/Amsterdam")
HISTORY_DAYS: Final = 400  # 13 months of month values, and a margin
WINDOW_DAYS: Final = 365
REREAD_DAYS: Final = 3
CHANNELS: Final[Mapping[str, Register]] = {
    "1.8.0": Register.ELECTRICITY_IMPORT,
    "2.8.0": Register.ELECTRICITY_EXPORT,
}
"""M2: electricity channels and their registers (gas: any channel in m³)."""
UNITS: Final[Mapping[str, str]] = {"kwh": "electricity", "m3": "gas", "m³": "gas"}
STATUS_VERIFIED: Final = "verified"
NOT_YET: Final = "010"
"""The P4 code of "not yet available": what a pending feed means (M4)."""

_DATA = ("data", "values", "readings", "items")
_FROM = ("from", "start")
_TO = ("to", "end")
_VALUE = ("value", "usage", "quantity")
_HOUR = timedelta(hours=1)


def meter_matches(remote_meter: str, local_meter: str) -> bool:
    """Return False: the feeds name no meter; the energy is compared instead."""
    return False


class MeterbeheerProvider:
    """Meterbeheer HUB's feeds as a :class:`~.api.Provider`."""

    name = "nl_meterbeheer"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 30,
    ) -> None:
        """Use ``session`` to reach the hub at ``base_url`` with ``api_key``."""
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    @classmethod
    def from_options(
        cls,
        session: aiohttp.ClientSession,
        api_key: str,
        base_url: str,
        options: Mapping[str, Any],
    ) -> MeterbeheerProvider:
        """Build from the remote path's options (only key and address)."""
        return cls(session, api_key, base_url)

    async def metering_points(self) -> list[MeteringPoint]:
        """Return one connection per feed (its product from its channels)."""
        points = []
        for feed in await self._feeds():
            address = " ".join(
                str(part) for part in (feed["postal"], feed["number"]) if part
            )
            points.append(
                MeteringPoint(
                    ean=feed["ean"],
                    meter_id=None,
                    product=feed["product"],
                    address=address or None,
                )
            )
        return points

    async def readings(self, eans: Collection[str], cursor: str | None) -> Batch:
        """Return up to a year of usage after ``cursor`` (a local date)."""
        today = datetime.now(SOURCE_TIMEZONE).date()
        start = today - timedelta(days=HISTORY_DAYS)
        previous = date.fromisoformat(cursor) if cursor else None
        if previous is not None:
            start = max(previous - timedelta(days=REREAD_DAYS), start)
        end = min(start + timedelta(days=WINDOW_DAYS - 1), today)
        feeds = {feed["ean"]: feed for feed in await self._feeds()}
        usages: list[Usage] = []
        rejections: list[Rejection] = []
        for ean in eans:
            feed = feeds.get(ean)
            if feed is None:
                raise ConsentEndedError(
                    f"Meterbeheer no longer has a feed for connection {ean}"
                )
            if feed["status"] != STATUS_VERIFIED:
                rejections.append(
                    Rejection(ean, None, NOT_YET, None, f"feed {feed['status']}")
                )
                continue
            for code, url in feed["channels"].items():
                document = await self._get(url, {"from": str(start), "to": str(end)})
                fault, found = parse_feed(document, code, f"feed {ean} {code}")
                usages.extend(found)
                if fault is not None:
                    rejections.append(
                        Rejection(ean, None, fault, rejection_state(fault))
                    )
        more = end < today
        return Batch(
            usages=tuple(usages),
            rejections=tuple(rejections),
            cursor=str(end + timedelta(days=1) if more else end),
            more=more,
        )

    # ---------------------------------------------------------------- HTTP

    async def _feeds(self) -> list[dict[str, Any]]:
        """Return the key's feeds: ean, status, channels {code: url}, address."""
        document = await self._get(f"{self._base_url}{FEEDS_PATH}", {})
        where = f"feeds ({FEEDS_PATH})"
        if isinstance(document, dict):
            document = next(
                (document[k] for k in ("feeds", "data") if k in document), document
            )
        if not isinstance(document, list):
            raise InvalidResponseError(f"{where}: expected a list")
        feeds = []
        for index, raw in enumerate(document):
            spot = f"{where} {index}"
            if not isinstance(raw, dict):
                raise InvalidResponseError(f"{spot}: expected an object")
            ean, status = raw.get("ean"), raw.get("status")
            if not isinstance(ean, str) or not isinstance(status, str):
                raise InvalidResponseError(f"{spot}: ean or status missing")
            channels = {}
            for channel in raw.get("channels") or []:
                code = channel.get("code") if isinstance(channel, dict) else None
                url = channel.get("url") if isinstance(channel, dict) else None
                if not isinstance(code, str) or not isinstance(url, str):
                    raise InvalidResponseError(f"{spot}: a channel without code/url")
                channels[code] = url
            feeds.append(
                {
                    "ean": ean.strip(),
                    "status": status.strip().lower(),
                    "channels": channels,
                    "product": _product(raw),
                    "postal": raw.get("postalCode"),
                    "number": raw.get("houseNumber"),
                }
            )
        return feeds

    async def _get(self, url: str, params: Mapping[str, str]) -> Any:
        return await get_json(
            self._session,
            url,
            where=url.rsplit("/", 2)[-1],
            headers=self._headers,
            timeout=self._timeout,
            params=params,
            gone="the feed no longer exists",
        )


def _product(feed: dict[str, Any]) -> str:
    """Return a feed's product: its ``type``/``product`` (E or G) if given."""
    kind = _pick(feed, ("type", "product", "productType"))
    if isinstance(kind, str) and kind.strip().lower() in ("g", "gas"):
        return "gas"
    return "electricity"


def _pick(item: dict[str, Any], names: tuple[str, ...]) -> Any:
    return next((item[name] for name in names if name in item), None)


def parse_feed(document: Any, code: str, where: str) -> tuple[str | None, list[Usage]]:
    """Return a feed's fault code (API+) and its usages: hours and flat days."""
    if not isinstance(document, dict):
        raise InvalidResponseError(f"{where}: expected an object")
    unit = document.get("unit")
    product = UNITS.get(unit.strip().lower()) if isinstance(unit, str) else None
    if product is None:
        raise InvalidResponseError(f"{where}: unknown unit {unit!r}")
    register = Register.GAS if product == "gas" else CHANNELS.get(code)
    fault = document.get("faultCode")
    if fault is not None:
        fault = str(fault).strip().zfill(3)
    if register is None:
        return fault, []
    points = _pick(document, _DATA)
    if points is None:
        points = []
    if not isinstance(points, list):
        raise InvalidResponseError(f"{where}: data is not a list")
    periods: dict[datetime, tuple[datetime, Decimal]] = {}
    for index, raw in enumerate(points):
        spot = f"{where} item {index}"
        if not isinstance(raw, dict):
            raise InvalidResponseError(f"{spot}: expected an object")
        start = parse_moment(_pick(raw, _FROM), spot, "from")
        end = parse_moment(_pick(raw, _TO), spot, "to")
        value = _pick(raw, _VALUE)
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise InvalidResponseError(f"{spot}: value is not a number")
        if value < 0 or end <= start:
            raise InvalidResponseError(f"{spot}: negative value or empty period")
        periods[start] = (end, Decimal(value))
    return fault, _usages(register, periods)


def _usages(
    register: Register, periods: dict[datetime, tuple[datetime, Decimal]]
) -> list[Usage]:
    """Turn periods into measured hours and flat-spread days (M6)."""
    days: dict[date, list[tuple[datetime, datetime, Decimal]]] = defaultdict(list)
    for start, (end, value) in periods.items():
        days[start.astimezone(SOURCE_TIMEZONE).date()].append((start, end, value))
    usages: list[Usage] = []
    for day, parts in days.items():
        first = datetime.combine(day, time(), SOURCE_TIMEZONE).astimezone(UTC)
        last = datetime.combine(
            day + timedelta(days=1), time(), SOURCE_TIMEZONE
        ).astimezone(UTC)
        parts.sort()
        whole = (
            parts[0][0] == first
            and parts[-1][1] == last
            and all(a[1] == b[0] for a, b in pairwise(parts))
        )
        values = {value for _, _, value in parts}
        # A day total: one period over the whole day, or its quarters (hours
        # for gas) all the same above zero, as spread from a day or month.
        spread = len(parts) > 1 and len(values) == 1 and parts[0][2] > 0
        if whole and (spread or (len(parts) == 1 and last - first > _HOUR)):
            total = sum((value for _, _, value in parts), Decimal(0))
            usages.append(Usage(register, first, last, _thousandths(total)))
            continue
        hours: dict[datetime, list[Decimal]] = defaultdict(list)
        lengths: dict[datetime, timedelta] = defaultdict(timedelta)
        for start, end, value in parts:
            hour = start.replace(minute=0, second=0, microsecond=0)
            hours[hour].append(value)
            lengths[hour] += end - start
        usages.extend(
            Usage(register, hour, hour + _HOUR, _thousandths(sum(values, Decimal(0))))
            for hour, values in hours.items()
            if lengths[hour] == _HOUR
        )
    return usages


def _thousandths(value: Decimal) -> int:
    """Return kWh or m³ in Wh or litres."""
    return int((value * 1000).to_integral_value(rounding=ROUND_HALF_EVEN))
