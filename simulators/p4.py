"""A simulated P4 consent API (Smart Data Solutions style) and its command line.

It serves one household's grid-operator readings, computed from the same
:class:`~simulators.meter.SimulatedMeter` the P1 simulator renders as
telegrams (see :mod:`simulators.p4_data`), so remote and local registers
agree. Run it until Ctrl-C::

    python -m simulators.p4 --port 8099 --days 28 --key test-key

Protocol
--------
Every request needs the API key, in header ``X-API-KEY`` (or query
``ApiKey``); a wrong or missing key gets 401.

``GET /api/v5/meteringpoints/``
    The key's metering points, in the shape the provider assumes (see
    ``custom_components/slimme_meter/remote/p4.py``, assumption A2): a JSON
    list of ``{"Ean", "MeterId", "Product", "Address"}``.
    ``GET /api/v5/meteringpoints/{Ean}`` gives one of them (404 if unknown).
``GET /v8/readings-bulk`` and ``GET /v8/readings-bulk/{from}``
    ``P4ReadingsBulk``: the objects received after ``from``
    (``yyyyMMdd-HHmmss-ffffff``, UTC here), oldest first, at most
    ``page_size`` objects, with ``TimeStamp`` = the receipt time of the last
    object in the page (``from`` again when the page is empty). Without
    ``{from}`` the feed continues after the last page served (a cursor kept by
    the server). Query ``IncludeIntervalObjects`` (default true),
    ``IncludeDayObjects`` (default false), ``ObjectFilter`` (None, Hour, Day,
    LastDayOnly, Month; accepted, only None is implemented). A bad ``from`` or
    query value gets 400.

The history: ``history_days`` local days ending yesterday by default, or
starting at ``first_day``. Day D's objects (electricity interval in ``WH``,
electricity day reading in ``KWH``, gas interval in ``MTQ`` hourly, gas day
reading in ``MTQ``) are received on D+1 at 06:00 UTC, one second apart.

Switches
--------
All are plain methods or attributes; each affects what is served from then on.

- ``api_key``: change it and the client's key is refused (401).
- ``refuse(count=1, status=401)``: the next requests get 401 (or 403).
- ``rate_limit(count=1, retry_after=30)``: the next requests get 429 with
  ``Retry-After`` (seconds, an HTTP date given as ``datetime``, or raw text;
  None leaves the header out).
- ``unavailable(count=1, status=503, retry_after=None)``: the next requests
  get a 5xx.
- ``delay``: seconds to wait before answering every request.
- ``malformed(count=1)``: the next answers are cut-off JSON.
- ``oversized(count=1, size=OVERSIZED_BYTES, declare_length=True)``: the
  next answers are a valid JSON document of ``size`` bytes, with or without a
  Content-Length.
- ``mangle(transform, count=1)``: the next answers' JSON documents are
  passed through ``transform`` first (wrong types, missing fields, ...).
- ``reject(code, ean=None, day=None, text=None)``: a rejection object with
  that P4 code for one EAN (all by default) and day (the newest by default)
  is received now. With ``standing=True`` it stays: every bulk read that
  would not otherwise carry it gets a fresh one, until ``lift(code)``.
- ``blank(day, ean=None, count=4)``: ``count`` items in the middle of that
  day's interval object have no value (``R180``/``R280`` absent or null,
  alternately).
- ``correct(day, ean=None)``: the day's interval object is received again
  now, with changed values: a linear profile between the day's two 00:00
  readings (late correction; the ends stay, so the registers stay monotonic).
- ``swap_meter(day)``: the electricity meter is replaced at 00:00 of ``day``
  (new MeterId, registers restarting); the history is recomputed.
- ``add_days(count=1)``: the next days' objects are received (time passes).
- ``variants``: names of shapes to serve instead of the documented one,
  any combination of ``VARIANTS`` (the provider's list of accepted shapes,
  ``custom_components/slimme_meter/remote/p4.py``, A15), e.g.
  ``{"camel_case", "wrapped", "product_type"}``; ``--variant`` on the
  command line.
- DST days: give a history that crosses the last Sunday of March or October
  (``first_day``, or a meter starting before it); :attr:`dst_days` lists them.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence
import contextlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
import email.utils
import json
import re
import sys
from typing import Any, Literal

from aiohttp import web

from .cli import run, until_stopped
from .http_server import HttpSimulator
from .meter import SimulatedMeter
from .p4_data import (
    AMSTERDAM,
    DayRegisters,
    P4History,
    default_meter,
    dst_days,
    local_midnight,
    p4_meter_number,
)

DEFAULT_ELECTRICITY_EAN = "871687120000000018"
DEFAULT_GAS_EAN = "871687120000000025"
DEFAULT_ADDRESS = "Simulatiestraat 1, 1234 AB Teststad"
CURSOR_FORMAT = "%Y%m%d-%H%M%S-%f"
FIRST_STAMP = "19700101-000000-000000"
"""``TimeStamp`` of an empty page when nothing was asked before."""
OVERSIZED_BYTES = 21 * 1024 * 1024
"""Default size of an oversized answer: above the provider's 20 MiB limit."""
RECEIVED_AT_UTC_HOUR = 6

# The metering-point shape the provider assumes (remote/p4.py, A2).
MP_EAN = "Ean"
MP_METER_ID = "MeterId"
MP_PRODUCT = "Product"
MP_ADDRESS = "Address"
PRODUCT_ELECTRICITY = "Electricity"
PRODUCT_GAS = "Gas"

REJECTION_TEXTS = {
    "000": "Verzoekende partij niet geauthenticeerd",
    "006": "EAN aansluiting onbekend op gevraagde datum",
    "007": "Geen slimme meter aanwezig op gevraagde datum",
    "008": "Verzoekende partij niet geautoriseerd",
    "009": "Gegevens niet beschikbaar: meter in uitrolfase",
    "010": "Gevraagde datum ligt in de toekomst",
    "011": "Gevraagde datum te oud, standen niet meer beschikbaar",
    "012": "Gegevens niet beschikbaar: meter tijdelijk defect",
    "013": "Verzoek kan niet door de meter worden uitgevoerd",
    "014": "Gegevens niet beschikbaar: storing bekend en in behandeling",
    "038": "Slimme meter staat administratief uit",
    "039": "Slimme meter technisch niet op afstand uitleesbaar",
    "040": "Verzoekende partij niet meer gemachtigd: contracthouder gewijzigd",
    "041": "Gegevens niet beschikbaar: grootschalige storing",
}
"""Dutch texts of the P4 rejection codes (wording of this simulator)."""

_FROM_RE = re.compile(r"\d{8}-\d{6}-\d{6}")
_OBJECT_FILTERS = {"none", "hour", "day", "lastdayonly", "month"}
_CHUNK = 1024 * 1024

Kind = Literal["interval", "day", "rejection"]


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One object of the bulk feed, as received by the service."""

    stamp: str
    """Receipt time, ``yyyyMMdd-HHmmss-ffffff`` UTC; ascending and unique."""
    kind: Kind
    ean: str
    day: date
    revision: int = 0
    """0 for the first issue of an interval day, 1, 2, ... for corrections."""
    code: str | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class _Fault:
    kind: Literal["status", "malformed", "oversized", "mangle"]
    status: int = 0
    retry_after: float | str | datetime | None = None
    size: int = 0
    declare_length: bool = True
    transform: Callable[[Any], Any] | None = None


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request the simulator answered."""

    path: str
    query: dict[str, str]
    api_key: str | None


class _BadRequestError(Exception):
    """A request the service refuses with 400."""


class _NotFoundError(Exception):
    """A resource the service does not know (404)."""


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(CURSOR_FORMAT)


def _offset_time(moment: datetime) -> str:
    """ISO 8601 with the local offset, .NET style (7 fraction digits)."""
    local = moment.astimezone(AMSTERDAM)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%dT%H:%M:%S}.0000000{offset[:3]}:{offset[3:]}"


def _number(value: Decimal | int) -> float | int:
    """Return a JSON number: integers stay, decimals keep their digits."""
    return value if isinstance(value, int) else float(value)


def _m3(litres: int) -> float:
    return float(Decimal(litres).scaleb(-3))


def _bool(request: web.Request, name: str, default: bool) -> bool:
    raw = request.query.get(name)
    if raw is None:
        return default
    if raw.lower() in {"true", "1"}:
        return True
    if raw.lower() in {"false", "0"}:
        return False
    raise _BadRequestError(f"{name} must be true or false, not {raw!r}")


def _linear(values: Sequence[int]) -> list[int]:
    """Return a linear profile between the first and the last value."""
    first, last, steps = values[0], values[-1], len(values) - 1
    return [first + (last - first) * i // steps for i in range(len(values))]


VARIANTS = (
    "camel_case",
    "wrapped",
    "extra_fields",
    "ean_code",
    "product_type",
    "energy_type",
    "product_code",
    "address_parts",
    "utc_times",
    "plain_times",
    "dotnet_dates",
    "iso_cursor",
)
"""The shapes :func:`vary` serves, by name."""
_MP_RENAMES: dict[str, dict[str, str]] = {
    "ean_code": {MP_EAN: "EanCode", MP_METER_ID: "MeterNumber"},
    "product_type": {MP_PRODUCT: "ProductType"},
    "energy_type": {MP_PRODUCT: "EnergyType"},
    "product_code": {MP_PRODUCT: "ProductCode"},
}
_PRODUCT_VALUES: dict[str, dict[str, str]] = {
    "product_type": {PRODUCT_ELECTRICITY: "ELK", PRODUCT_GAS: "GAS"},
    "energy_type": {PRODUCT_ELECTRICITY: "E", PRODUCT_GAS: "G"},
}


def _metering_point_variant(point: dict[str, Any], variants: set[str]) -> None:
    # One way of naming the product: the first of those asked for.
    product = next(
        (n for n in ("product_type", "energy_type", "product_code") if n in variants),
        None,
    )
    variants = variants - ({"product_type", "energy_type", "product_code"} - {product})
    if product in _PRODUCT_VALUES:
        point[MP_PRODUCT] = _PRODUCT_VALUES[product][point[MP_PRODUCT]]
    if "address_parts" in variants and point.get(MP_ADDRESS):
        street, place = point.pop(MP_ADDRESS).split(", ")
        name, number = street.rsplit(" ", 1)
        postal, city = place.rsplit(" ", 1)
        point |= {
            "Street": name,
            "HouseNumber": int(number),
            "HouseNumberAddition": None,
            "ZipCode": postal,
            "City": city,
        }
    for name, renames in _MP_RENAMES.items():
        if name in variants:
            for old, new in renames.items():
                point[new] = point.pop(old)


def _time_variant(value: str, variants: set[str]) -> str:
    moment = datetime.fromisoformat(value)
    if "utc_times" in variants:
        utc = moment.astimezone(UTC)
        return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"
    if "plain_times" in variants:
        return moment.isoformat(timespec="seconds")
    return value


def _page_variant(page: dict[str, Any], variants: set[str]) -> None:
    if "iso_cursor" in variants:
        stamp = datetime.strptime(page["TimeStamp"], CURSOR_FORMAT)
        page["TimeStamp"] = f"{stamp:%Y-%m-%dT%H:%M:%S.%f}0Z"
    for kind in ("DayObjects", "IntervalObjects", "RejectionObjects"):
        for entry in page[kind]:
            if "dotnet_dates" in variants:
                entry["QueryDate"] += "T00:00:00.0000000"
            for item in entry.get("Items", ()):
                item["DateTimeOffset"] = _time_variant(item["DateTimeOffset"], variants)


def _recase(document: Any, camel: bool, extra: bool) -> Any:
    if isinstance(document, list):
        return [_recase(item, camel, extra) for item in document]
    if not isinstance(document, dict):
        return document
    result = {
        (key[:1].lower() + key[1:] if camel else key): _recase(value, camel, extra)
        for key, value in document.items()
    }
    if extra:
        result["CreatedOn" if not camel else "createdOn"] = "2025-01-01T00:00:00Z"
        result["Extra" if not camel else "extra"] = {"Unknown": [1, "two", None]}
    return result


def vary(document: Any, variants: set[str]) -> Any:
    """Return a document in the shapes named (the module's ``variants``)."""
    if not variants:
        return document
    if isinstance(document, list):
        for point in document:
            _metering_point_variant(point, variants)
    elif MP_EAN in document:
        _metering_point_variant(document, variants)
    elif "TimeStamp" in document:
        _page_variant(document, variants)
    document = _recase(document, "camel_case" in variants, "extra_fields" in variants)
    if "wrapped" in variants:
        count = len(document) if isinstance(document, list) else 1
        document = {"Status": "OK", "Count": count, "Payload": document}
    return document


class P4Simulator(HttpSimulator[_Fault]):
    """A household's P4 readings behind a simulated SDS API (see the module)."""

    handler_cancellation = True
    access_log = True

    def __init__(
        self,
        meter: SimulatedMeter | None = None,
        *,
        api_key: str = "test-key",
        host: str = "127.0.0.1",
        port: int = 0,
        history_days: int = 28,
        first_day: date | None = None,
        page_size: int = 50,
        electricity_ean: str = DEFAULT_ELECTRICITY_EAN,
        gas_ean: str | None = DEFAULT_GAS_EAN,
        seed: int = 0,
    ) -> None:
        """Serve ``history_days`` days of ``meter``'s registers.

        Without a meter, a household with solar panels and gas (seed
        ``seed``) is created at 00:00 of the first day. The first day is
        ``first_day``, else the meter's first local midnight, else
        ``history_days`` days before today. The gas EAN is only served when
        the meter has a gas meter and ``gas_ean`` is not None.
        """
        if first_day is None:
            if meter is None:
                today = datetime.now(AMSTERDAM).date()
                first_day = today - timedelta(days=history_days)
            else:
                local = meter.time.astimezone(AMSTERDAM)
                first_day = local.date()
                if local_midnight(first_day) < meter.time:
                    first_day += timedelta(days=1)
        if meter is None:
            meter = default_meter(first_day, seed=seed)
        super().__init__(host=host, port=port)
        self.history = P4History(meter, first_day, history_days)
        self.meter = meter
        self.api_key = api_key
        self.page_size = page_size
        self.electricity_ean = electricity_ean
        self.gas_ean = gas_ean if meter.gas_equipment_id is not None else None
        self.delay = 0.0
        """Seconds to wait before answering each request."""
        self.requests: list[RecordedRequest] = []
        """Every request answered, oldest first."""
        self.feed: list[FeedEntry] = []
        """Every object of the bulk feed, in order of receipt."""
        self.variants: set[str] = set()
        """Shapes served instead of the documented one (see the module)."""
        self._blanks: dict[tuple[str, date], int] = {}
        self._standing: dict[tuple[str, str | None], str | None] = {}
        self._server_cursor: str | None = None
        self._receive(list(self.history))

    # ----------------------------------------------------------- household

    @property
    def eans(self) -> list[str]:
        """The EANs served: electricity, then gas if any."""
        return [self.electricity_ean] + ([self.gas_ean] if self.gas_ean else [])

    @property
    def days(self) -> list[DayRegisters]:
        """The history, oldest day first."""
        return list(self.history)

    @property
    def dst_days(self) -> dict[date, int]:
        """Days of the history with a clock change and their quarter-hour count."""
        return dst_days(self.days)

    # ---------------------------------------------------------------- feed

    def _next_stamp(self, natural: datetime) -> str:
        """Return a receipt stamp at ``natural``, after everything received."""
        stamp = _stamp(natural)
        if self.feed and stamp <= self.feed[-1].stamp:
            last = datetime.strptime(self.feed[-1].stamp, CURSOR_FORMAT)
            stamp = (last + timedelta(seconds=1)).strftime(CURSOR_FORMAT)
        return stamp

    def _append(
        self, kind: Kind, ean: str, day: date, natural: datetime, **extra: Any
    ) -> FeedEntry:
        entry = FeedEntry(self._next_stamp(natural), kind, ean, day, **extra)
        self.feed.append(entry)
        return entry

    def _receive(self, days: Sequence[DayRegisters]) -> None:
        for registers in days:
            natural = datetime.combine(
                registers.day + timedelta(days=1),
                datetime.min.time(),
                UTC,
            ) + timedelta(hours=RECEIVED_AT_UTC_HOUR)
            for ean in self.eans:
                for kind in ("interval", "day"):
                    self._append(kind, ean, registers.day, natural)

    def _now_stamp(self) -> datetime:
        if not self.feed:
            return datetime.now(UTC)
        return datetime.strptime(self.feed[-1].stamp, CURSOR_FORMAT).replace(
            tzinfo=UTC
        ) + timedelta(seconds=1)

    def _targets(self, ean: str | None) -> list[str]:
        if ean is None:
            return self.eans
        if ean not in self.eans:
            msg = f"unknown EAN {ean}"
            raise ValueError(msg)
        return [ean]

    # ------------------------------------------------------------ switches

    def add_days(self, count: int = 1) -> list[DayRegisters]:
        """Let ``count`` days pass: their objects are received."""
        added = self.history.extend(count)
        self._receive(added)
        return added

    def reject(
        self,
        code: str,
        ean: str | None = None,
        day: date | None = None,
        text: str | None = None,
        *,
        standing: bool = False,
    ) -> list[FeedEntry]:
        """Receive a rejection with P4 ``code`` for ``ean`` (all) and ``day``.

        A standing rejection is received again by every later bulk read that
        has not got one yet (the meter stays refused), until :meth:`lift`.
        """
        if standing:
            self._targets(ean)
            self._standing[code, ean] = text
        when = day if day is not None else self.history.last_day
        natural = self._now_stamp()
        return [
            self._append(
                "rejection",
                target,
                when,
                natural,
                code=code,
                text=text if text is not None else REJECTION_TEXTS.get(code),
            )
            for target in self._targets(ean)
        ]

    def lift(self, code: str | None = None) -> None:
        """End the standing rejections with ``code`` (all by default)."""
        for key in list(self._standing):
            if code is None or key[0] == code:
                del self._standing[key]

    @property
    def standing(self) -> list[str]:
        """The codes of the standing rejections."""
        return sorted({code for code, _ in self._standing})

    def _repeat_standing(self, after: str | None) -> None:
        """Receive the standing rejections not in the feed after ``after``."""
        for (code, ean), text in list(self._standing.items()):
            pending = {
                entry.ean
                for entry in self.feed
                if entry.kind == "rejection"
                and entry.code == code
                and (after is None or entry.stamp > after)
            }
            if not set(self._targets(ean)) <= pending:
                self.reject(code, ean, text=text)

    def blank(self, day: date, ean: str | None = None, count: int = 4) -> None:
        """Serve ``count`` items of the day's interval object without a value."""
        for target in self._targets(ean):
            self._blanks[target, day] = count

    def correct(self, day: date, ean: str | None = None) -> list[FeedEntry]:
        """Receive the day's interval object again, with changed values."""
        if self.history.get(day) is None:
            msg = f"{day} is not in the history"
            raise ValueError(msg)
        natural = self._now_stamp()
        entries = []
        for target in self._targets(ean):
            revision = 1 + max(
                (
                    e.revision
                    for e in self.feed
                    if e.kind == "interval" and e.ean == target and e.day == day
                ),
                default=0,
            )
            entries.append(
                self._append("interval", target, day, natural, revision=revision)
            )
        return entries

    def swap_meter(self, day: date) -> None:
        """Replace the electricity meter at 00:00 of ``day``."""
        self.history.swap(day)

    def refuse(self, count: int = 1, status: int = 401) -> None:
        """Answer the next ``count`` requests with 401 (or 403)."""
        self.queue_fault(_Fault("status", status), count)

    def rate_limit(
        self, count: int = 1, retry_after: float | str | datetime | None = 30
    ) -> None:
        """Answer the next ``count`` requests with 429 and ``Retry-After``."""
        self.queue_fault(_Fault("status", 429, retry_after=retry_after), count)

    def unavailable(
        self,
        count: int = 1,
        status: int = 503,
        retry_after: float | str | datetime | None = None,
    ) -> None:
        """Answer the next ``count`` requests with a 5xx status."""
        self.queue_fault(_Fault("status", status, retry_after=retry_after), count)

    def malformed(self, count: int = 1) -> None:
        """Cut the next ``count`` answers off halfway (invalid JSON)."""
        self.queue_fault(_Fault("malformed"), count)

    def oversized(
        self,
        count: int = 1,
        size: int = OVERSIZED_BYTES,
        *,
        declare_length: bool = True,
    ) -> None:
        """Answer the next ``count`` requests with a ``size``-byte JSON document."""
        self.queue_fault(
            _Fault("oversized", size=size, declare_length=declare_length), count
        )

    def mangle(self, transform: Callable[[Any], Any], count: int = 1) -> None:
        """Pass the next ``count`` answers' JSON documents through ``transform``."""
        self.queue_fault(_Fault("mangle", transform=transform), count)

    # ----------------------------------------------------------- documents

    def metering_point(self, ean: str) -> dict[str, Any]:
        """Return the metering point of ``ean`` (assumption A2's shape)."""
        last = self.history.get(self.history.last_day)
        if last is not None:
            meter_id, gas_meter_id = last.meter_id, last.gas_meter_id
        else:
            meter_id = p4_meter_number(self.meter.equipment_id)
            gas_meter_id = p4_meter_number(self.meter.gas_equipment_id or "")
        electricity = ean == self.electricity_ean
        return {
            MP_EAN: ean,
            MP_METER_ID: meter_id if electricity else gas_meter_id,
            MP_PRODUCT: PRODUCT_ELECTRICITY if electricity else PRODUCT_GAS,
            MP_ADDRESS: DEFAULT_ADDRESS,
        }

    def interval_values(
        self, ean: str, day: date, revision: int = 0
    ) -> list[tuple[datetime, int, int | None]]:
        """(time, R180, R280) of an interval object, in Wh or litres.

        Electricity every quarter hour, gas every hour (R280 None).
        """
        registers = self.history.get(day)
        if registers is None:
            return []
        if ean == self.electricity_ean:
            imports = list(registers.import_wh)
            exports = list(registers.export_wh)
            if revision:
                imports, exports = _linear(imports), _linear(exports)
            return list(zip(registers.times, imports, exports, strict=True))
        hourly = registers.gas_hourly()
        values = [litres for _, litres in hourly]
        if revision:
            values = _linear(values)
        return [
            (moment, litres, None)
            for (moment, _), litres in zip(hourly, values, strict=True)
        ]

    def _render(self, entry: FeedEntry) -> dict[str, Any]:
        if entry.kind == "rejection":
            return {
                "Ean": entry.ean,
                "QueryDate": entry.day.isoformat(),
                "QueryReason": "INT",
                "RejectionCode": entry.code,
                "RejectionText": entry.text,
            }
        registers = self.history.get(entry.day)
        assert registers is not None  # the history only grows
        electricity = entry.ean == self.electricity_ean
        base = {
            "Ean": entry.ean,
            "MeterId": registers.meter_id if electricity else registers.gas_meter_id,
            "QueryDate": entry.day.isoformat(),
        }
        if entry.kind == "day":
            start = registers.start
            if electricity:
                return base | {
                    "MeasureUnit": "KWH",
                    "R180": _number(start.import_total_kwh),
                    "R181": _number(start.import_t1_kwh),
                    "R182": _number(start.import_t2_kwh),
                    "R280": _number(start.export_total_kwh),
                    "R281": _number(start.export_t1_kwh),
                    "R282": _number(start.export_t2_kwh),
                }
            assert start.gas_m3 is not None
            return base | {"MeasureUnit": "MTQ", "R180": _number(start.gas_m3)}
        values = self.interval_values(entry.ean, entry.day, entry.revision)
        items: list[dict[str, Any]] = []
        for moment, r180, r280 in values:
            item: dict[str, Any] = {"DateTimeOffset": _offset_time(moment)}
            if electricity:
                item |= {"R180": r180, "R280": r280}
            else:
                item["R180"] = _m3(r180)
            items.append(item)
        blanks = self._blanks.get((entry.ean, entry.day), 0)
        middle = len(items) // 2
        for offset, item in enumerate(items[middle : middle + blanks]):
            for key in ("R180", "R280"):
                if key in item:
                    if offset % 2:
                        item[key] = None
                    else:
                        del item[key]
        return base | {"MeasureUnit": "WH" if electricity else "MTQ", "Items": items}

    def bulk_page(
        self,
        after: str | None,
        *,
        intervals: bool = True,
        days: bool = False,
    ) -> dict[str, Any]:
        """Return the ``P4ReadingsBulk`` page after the receipt stamp ``after``."""
        start = after if after is not None else self._server_cursor
        self._repeat_standing(start)
        kinds = {"rejection"}
        if intervals:
            kinds.add("interval")
        if days:
            kinds.add("day")
        chosen: list[tuple[FeedEntry, dict[str, Any]]] = []
        for entry in self.feed:
            if len(chosen) >= self.page_size:
                break
            if (start is not None and entry.stamp <= start) or entry.kind not in kinds:
                continue
            chosen.append((entry, self._render(entry)))
        stamp = chosen[-1][0].stamp if chosen else (start or FIRST_STAMP)
        self._server_cursor = stamp
        grouped: dict[str, list[dict[str, Any]]] = {
            "day": [],
            "interval": [],
            "rejection": [],
        }
        for entry, document in chosen:
            grouped[entry.kind].append(document)
        return {
            "Message": None,
            "TimeStamp": stamp,
            "DayObjectCount": len(grouped["day"]),
            "IntervalObjectCount": len(grouped["interval"]),
            "RejectionObjectCount": len(grouped["rejection"]),
            "DayObjects": grouped["day"],
            "IntervalObjects": grouped["interval"],
            "RejectionObjects": grouped["rejection"],
        }

    # ---------------------------------------------------------------- HTTP

    @staticmethod
    def _error(
        status: int, message: str, headers: dict[str, str] | None = None
    ) -> web.Response:
        body = {"ResponseStatus": {"ErrorCode": str(status), "Message": message}}
        return web.json_response(body, status=status, headers=headers)

    @staticmethod
    def _retry_after(value: float | str | datetime | None) -> dict[str, str]:
        if value is None:
            return {}
        if isinstance(value, datetime):
            return {"Retry-After": email.utils.format_datetime(value, usegmt=True)}
        if isinstance(value, float | int):
            return {"Retry-After": f"{value:g}"}
        return {"Retry-After": value}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one request (all routes go through here)."""
        key = request.headers.get("X-API-KEY", request.query.get("ApiKey"))
        self.requests.append(RecordedRequest(request.path, dict(request.query), key))
        if self.delay:
            await asyncio.sleep(self.delay)
        fault = self.take_fault()
        if fault is not None and fault.kind == "status":
            headers = self._retry_after(fault.retry_after)
            return self._error(fault.status, f"simulated HTTP {fault.status}", headers)
        if key != self.api_key:
            return self._error(401, "Invalid API key")
        try:
            document = self._route(request)
        except _BadRequestError as err:
            return self._error(400, str(err))
        except _NotFoundError as err:
            return self._error(404, str(err))
        document = vary(document, self.variants)
        if fault is not None and fault.kind == "mangle":
            assert fault.transform is not None
            document = fault.transform(document)
        body = json.dumps(document).encode()
        if fault is not None and fault.kind == "malformed":
            body = body[: len(body) // 2]
        if fault is not None and fault.kind == "oversized":
            return await self._oversized(request, fault)
        return web.Response(body=body, content_type="application/json")

    def _route(self, request: web.Request) -> Any:
        route = request.match_info.route.name
        if route in {"meteringpoints", "meteringpoints_bare"}:
            return [self.metering_point(ean) for ean in self.eans]
        if route == "meteringpoint":
            ean = request.match_info["ean"]
            if ean not in self.eans:
                raise _NotFoundError(f"metering point {ean} not found")
            return self.metering_point(ean)
        after = request.match_info.get("from")
        if after is not None and not _FROM_RE.fullmatch(after):
            raise _BadRequestError(f"from must be yyyyMMdd-HHmmss-ffffff: {after!r}")
        object_filter = request.query.get("ObjectFilter", "None")
        if object_filter.lower() not in _OBJECT_FILTERS:
            raise _BadRequestError(f"unknown ObjectFilter {object_filter!r}")
        return self.bulk_page(
            after,
            intervals=_bool(request, "IncludeIntervalObjects", True),
            days=_bool(request, "IncludeDayObjects", False),
        )

    @staticmethod
    async def _oversized(request: web.Request, fault: _Fault) -> web.StreamResponse:
        head, tail = b'{"Message": "', b'", "TimeStamp": "' + FIRST_STAMP.encode()
        tail += b'"}'
        padding = fault.size - len(head) - len(tail)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if fault.declare_length:
            response.content_length = fault.size
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            await response.write(head)
            while padding > 0:
                step = min(padding, _CHUNK)
                await response.write(b"x" * step)
                padding -= step
            await response.write(tail)
            await response.write_eof()
        return response

    def create_app(self) -> web.Application:
        """Return the aiohttp application serving this simulator."""
        return create_app(self)


def create_app(simulator: P4Simulator) -> web.Application:
    """Return the aiohttp application serving ``simulator``."""
    app = web.Application()
    handle = simulator.handle
    app.router.add_get("/api/v5/meteringpoints/", handle, name="meteringpoints")
    app.router.add_get("/api/v5/meteringpoints", handle, name="meteringpoints_bare")
    app.router.add_get("/api/v5/meteringpoints/{ean}", handle, name="meteringpoint")
    app.router.add_get("/v8/readings-bulk", handle, name="bulk")
    app.router.add_get("/v8/readings-bulk/{from}", handle, name="bulk_from")
    return app


# ------------------------------------------------------------ command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.p4", description="Simulated P4 consent API."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8099, help="port to listen on")
    parser.add_argument("--days", type=int, default=28, help="days of history")
    parser.add_argument("--key", default="test-key", help="the API key to accept")
    parser.add_argument("--seed", type=int, default=0, help="household seed")
    parser.add_argument(
        "--page-size", type=int, default=50, help="objects per bulk page"
    )
    parser.add_argument(
        "--variant",
        action="append",
        choices=VARIANTS,
        default=[],
        help="serve this shape instead of the documented one (repeatable)",
    )
    return parser


async def _serve(args: argparse.Namespace) -> None:
    simulator = P4Simulator(
        api_key=args.key,
        host=args.host,
        port=args.port,
        history_days=args.days,
        page_size=args.page_size,
        seed=args.seed,
    )
    simulator.variants = set(args.variant)
    async with simulator:
        first, last = simulator.days[0].day, simulator.days[-1].day
        print(
            f"P4 API on {simulator.url} (key {simulator.api_key!r}); "
            f"EANs {', '.join(simulator.eans)}; readings {first} to {last}; "
            f"meter {simulator.days[-1].meter_id}. Ctrl-C stops.",
            flush=True,
        )
        await until_stopped()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator until interrupted (SIGINT or SIGTERM)."""
    return run(_parser(), _serve, argv)


if __name__ == "__main__":
    sys.exit(main())
