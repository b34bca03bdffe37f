"""Dutch P4 readings through the Smart Data Solutions (SDS) consent API.

The grid operators hand out a household's smart-meter readings ("P4") to a
party the household gave a mandate. SDS is such a party: it fetches the
readings from the grid operators' central access servers and serves them
behind an API key, in header ``X-API-KEY``. Two operations are used:

- ``GET /api/v5/meteringpoints/``: the connections (EANs) the key may read.
- ``GET /v8/readings-bulk/{from}``: a feed of everything SDS received from the
  grid operators after ``from`` (a ``yyyyMMdd-HHmmss-ffffff`` timestamp of
  *receipt*, not of the data), answering ``P4ReadingsBulk`` with a
  ``TimeStamp`` to continue from, day objects (daily register readings),
  interval objects (electricity every 15 minutes in Wh, gas every hour in m³)
  and rejection objects (the grid operators' P4 rejection codes).

Readings are cumulative registers. They are returned as integers in
thousandths of the user-facing unit: Wh for electricity, litres for gas.

Assumptions
-----------
The published documentation leaves gaps. Everything this module assumes
beyond it is listed here, each with the constants that hold it:

A1. Hosts (``DEFAULT_BASE_URL``, ``METERING_POINTS_DOCUMENTED_BASE_URL``):
    the documentation shows the bulk feed on ``p4.smartdatasolutions.eu``
    and the metering points on ``p4v8.smartdatasolutions.nl``. One
    configurable base URL is assumed to serve both paths.
A2. Metering points (``METERING_POINTS_QUERY``, ``MP_*`` synonyms,
    ``PRODUCTS``): the response DTO is not published. Asked with
    ``OnlyPayload=true``, the answer is a list of objects, bare or wrapped
    (A15). Each names its connection in ``Ean`` (or ``EanCode``, ``EanId``,
    ``EANID``; 18 digits), its meter in ``MeterId`` (or ``MeterNumber``,
    ``MeterSerial``; optional), its product in ``Product`` (or
    ``ProductType``, ``EnergyType``, ``ProductCode``) and its address in
    ``Address`` as one string, as an object of parts, or in parts on the
    object itself (``Street``, ``HouseNumber``, ``HouseNumberAddition``,
    ``ZipCode``/``PostalCode``, ``City``; optional). The product's value is
    matched case-insensitively against ``PRODUCTS`` (``ELK``, ``E``,
    ``Electricity``, ``GAS``, ``G``, ``Gas``, ...); metering points of other
    products (heat, water) are left out.
A3. Start of the feed (``OLDEST_CURSOR``): without ``{from}`` the feed
    "continues after the last request", a cursor kept by the server. A sync
    that lost its place (a crash between fetching and storing, a re-added
    integration) would then lose data, so a cursor of None asks for
    ``/v8/readings-bulk/{OLDEST_CURSOR}``: everything SDS still keeps.
A4. Cursor (``CURSOR_FORMAT``): ``TimeStamp`` is assumed to be in the form
    the ``{from}`` path takes. An ISO 8601 ``TimeStamp`` is accepted too and
    rewritten to that form with its wall-clock fields unchanged.
A5. End of the feed: there is no documented page size or "more" flag, and
    the ``*ObjectCount`` fields are not documented as totals. A page that
    carried at least one object (for any EAN) and moved the cursor means
    "there may be more"; an empty page, or one that did not move the cursor,
    ends a backfill. A backfill thus ends with one empty page.
A6. Units (``UNITS``): ``MeasureUnit`` says what the values are in and with
    it which product an object belongs to: ``WH``/``KWH`` electricity,
    ``MTQ`` (m³)/``DM3`` (litres) gas. Any other unit on an asked-for EAN
    makes the page invalid.
A7. Registers: electricity interval items give import in ``R180`` and export
    in ``R280``; gas gives ``R180`` only (an ``R280`` on gas is ignored). A
    day object gives ``R180``/``R280``, or when a total is missing the sum of
    both tariff registers (``R181`` + ``R182``, ``R281`` + ``R282``); the
    two sources disagree on which of those is the low tariff, which does not
    matter for a total.
A8. Day readings (``SOURCE_TIMEZONE``): a day object is the register at the
    start of its ``QueryDate``, 00:00 Europe/Amsterdam (the "dagstand" of
    that date). They are returned in ``Batch.daily``; which readings to use
    where nothing finer exists is left to the caller.
A9. Times and dates (``parse_moment``, ``parse_day``): ISO 8601 with 0
    to 7 fraction digits (.NET round-trip times carry 7; the 7th is
    dropped) and ``Z`` or an offset; ``DateTimeOffset`` (or ``DateTime``,
    ``ReadingDateTime``) without an offset makes the page invalid.
    ``QueryDate`` is ``yyyy-mm-dd`` (or ``yyyymmdd``), optionally followed
    by a time part, which is ignored. ``TimeStamp`` is A4.
A10. Values: JSON numbers, never negative; ``null`` or an absent register
    means "no value" (the reading is skipped, never read as zero). Values
    finer than a Wh or a litre are truncated, like a meter display.
A11. Rejection codes (``REJECTION_STATES``): a code sent as a number, or as
    fewer than three digits, is zero-padded to the three-digit EDSN form.
A12. Objects of EANs not asked for are skipped; they are only checked to be
    objects with a string ``Ean``, so a meter the integration does not read
    cannot make a page invalid.
A13. Duplicates: an interval day ends with the 00:00 reading the next day
    starts with. Within a page one reading per register and time is kept;
    the one that comes later in the page wins (a re-issued correction).
A14. Size (``MAX_BODY_BYTES``): no answer is larger than 20 MiB; anything
    larger is refused without being read further.
A15. Shapes (``VARIANTS``): property names are matched case-insensitively
    (PascalCase as documented, camelCase as many JSON serialisers write
    them); a list or a page may come bare or wrapped in a ServiceStack
    result object (``{"Status", "Count", "Payload"}``, or ``Result``,
    ``Results``, ``Data``); fields nobody asked for are ignored. Units,
    register names and value sanity stay strict (A6, A7, A10): an unknown
    unit or a negative register still makes the page invalid. Every shape
    accepted is one named entry of ``VARIANTS``, served by the development
    simulator under that name.
A16. What cannot be understood (``InvalidResponseError``): its message
    names the endpoint and the field; the API key is never part of it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime, time
from decimal import ROUND_FLOOR, Decimal
import re
from typing import Any, Final
from urllib.parse import quote
from zoneinfo import ZoneInfo

import aiohttp

from .api import (
    Batch,
    InvalidResponseError,
    MeteringPoint,
    Reading,
    Register,
    Rejection,
    RemoteState,
)
from .http import MAX_BODY_BYTES, get_json, parse_retry_after

__all__ = ["MAX_BODY_BYTES", "parse_retry_after"]  # read by tests and providers

# --------------------------------------------------------------- protocol

DEFAULT_BASE_URL: Final = "https://p4.smartdatasolutions.eu"
"""Where the bulk feed is documented (A1)."""
METERING_POINTS_DOCUMENTED_BASE_URL: Final = "https://p4v8.smartdatasolutions.nl"
"""Where the metering points are documented (A1); not used by default."""
METERING_POINTS_PATH: Final = "/api/v5/meteringpoints/"
READINGS_BULK_PATH: Final = "/v8/readings-bulk"
API_KEY_HEADER: Final = "X-API-KEY"
BULK_QUERY: Final[Mapping[str, str]] = {
    "IncludeIntervalObjects": "true",
    "IncludeDayObjects": "true",
}

# ------------------------------------------------------------- assumptions

METERING_POINTS_QUERY: Final[Mapping[str, str]] = {"OnlyPayload": "true"}
"""A2: ask for the bare list of metering points."""
MP_EAN: Final = ("Ean", "EanCode", "EanId")
MP_METER_ID: Final = ("MeterId", "MeterNumber", "MeterSerial")
MP_PRODUCT: Final = ("Product", "ProductType", "EnergyType", "ProductCode")
MP_ADDRESS: Final = ("Address",)
MP_ADDRESS_PARTS: Final = (
    ("Street", "StreetName"),
    ("HouseNumber", "Number", "StreetNumber"),
    ("HouseNumberAddition", "HouseNumberExtension", "Addition", "Suffix"),
    ("ZipCode", "PostalCode", "PostCode", "Zip"),
    ("City", "Place", "Town", "Residence"),
)
"""A2: where a metering point's address may come in parts, in order."""
PRODUCT_ELECTRICITY: Final = "electricity"
PRODUCT_GAS: Final = "gas"
PRODUCTS: Final[Mapping[str, str]] = {
    "electricity": PRODUCT_ELECTRICITY,
    "elektriciteit": PRODUCT_ELECTRICITY,
    "elk": PRODUCT_ELECTRICITY,
    "elec": PRODUCT_ELECTRICITY,
    "e": PRODUCT_ELECTRICITY,
    "gas": PRODUCT_GAS,
    "g": PRODUCT_GAS,
}
"""A2: ``Product`` values (lower-cased) and what they mean."""

WRAPPERS: Final = ("Payload", "Result", "Results", "Data")
"""A15: where a wrapped answer keeps its payload."""
VARIANTS: Final[Mapping[str, str]] = {
    "camel_case": "property names in camelCase instead of PascalCase",
    "wrapped": "lists and pages wrapped in {Status, Count, Payload}",
    "extra_fields": "fields this module does not know, everywhere",
    "ean_code": "metering points name the EAN EanCode and the meter MeterNumber",
    "product_type": "the product in ProductType as ELK or GAS",
    "energy_type": "the product in EnergyType as E or G",
    "product_code": "the product in ProductCode as Electricity or Gas",
    "address_parts": "the address as Street, HouseNumber, ZipCode and City",
    "utc_times": "times in UTC with Z and 3 fraction digits",
    "plain_times": "times with an offset and no fraction",
    "dotnet_dates": "dates as .NET date-times with 7 fraction digits",
    "iso_cursor": "TimeStamp as an ISO 8601 time instead of the cursor form",
}
"""A15: every shape accepted beyond the documented one, by name."""

OLDEST_CURSOR: Final = "20000101-000000-000000"
"""A3: the ``{from}`` that asks for everything the source keeps."""
CURSOR_FORMAT: Final = "%Y%m%d-%H%M%S-%f"
"""A4: the form of ``{from}`` and of ``TimeStamp``."""

UNITS: Final[Mapping[str, tuple[str, int]]] = {
    "WH": (PRODUCT_ELECTRICITY, 1),
    "KWH": (PRODUCT_ELECTRICITY, 1000),
    "MTQ": (PRODUCT_GAS, 1000),
    "DM3": (PRODUCT_GAS, 1),
}
"""A6: MeasureUnit -> (product, factor to Wh or litres)."""

SOURCE_TIMEZONE: Final = ZoneInfo("Europe/Amsterdam")
"""A8: the time zone of ``QueryDate``."""

REJECTION_STATES: Final[Mapping[str, RemoteState | None]] = {
    "007": RemoteState.NOT_REMOTELY_READABLE,  # no smart meter on that date
    "008": RemoteState.CONSENT_ENDED,  # not authorised (no or expired mandate)
    "009": RemoteState.TEMPORARILY_UNAVAILABLE,  # meter being deployed
    "010": None,  # date in the future: not yet available, the sync waits
    "011": None,  # date too old: no longer kept by the source
    "012": RemoteState.TEMPORARILY_UNAVAILABLE,  # meter temporarily faulty
    "014": RemoteState.TEMPORARILY_UNAVAILABLE,  # fault known, being handled
    "038": RemoteState.READOUT_SWITCHED_OFF,  # "administratief uit"
    "039": RemoteState.NOT_REMOTELY_READABLE,  # technically not readable
    "040": RemoteState.CONSENT_ENDED,  # contract holder changed
    "041": RemoteState.TEMPORARILY_UNAVAILABLE,  # large-scale outage
}
"""What each P4 rejection code means for the remote path (A11)."""
DEFAULT_REJECTION_STATE: Final = RemoteState.TEMPORARILY_UNAVAILABLE
"""The state of any code not in ``REJECTION_STATES``."""

MIN_METER_ID_MATCH: Final = 6
"""The shortest meter number :func:`meter_matches` compares."""

_CURSOR_RE = re.compile(r"\d{8}-\d{6}-\d{6}")
_EAN_RE = re.compile(r"\d{18}")
_CODE_RE = re.compile(r"\d{1,3}")
_MOMENT_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})(?:[.,](\d{1,7}))?"
    r"(Z|z|[+-]\d{2}:?\d{2})?"
)
_DAY_RE = re.compile(r"\d{4}-?\d{2}-?\d{2}")
_BULK = f"readings ({READINGS_BULK_PATH})"
_TIME_FIELD = ("DateTimeOffset", "DateTime", "ReadingDateTime")
_NOT_ALNUM = re.compile(r"[^0-9A-Z]")
_REGISTERS = {
    (PRODUCT_ELECTRICITY, "R180"): Register.ELECTRICITY_IMPORT,
    (PRODUCT_ELECTRICITY, "R280"): Register.ELECTRICITY_EXPORT,
    (PRODUCT_GAS, "R180"): Register.GAS,
}
_DAY_TARIFFS = {"R180": ("R181", "R182"), "R280": ("R281", "R282")}


def rejection_state(code: str) -> RemoteState | None:
    """Return what a P4 rejection code means for the remote path."""
    return REJECTION_STATES.get(code, DEFAULT_REJECTION_STATE)


def meter_matches(p4_meter_id: str, p1_equipment_id: str) -> bool:
    """Return whether a P4 meter number and a P1 equipment identifier agree.

    Both are normalised: upper case, everything but letters and digits left
    out. They agree when one ends with the other or the P1 identifier
    contains the P4 number (the P1 identifier wraps the meter's serial in a
    manufacturer and model prefix, e.g. ``E0026000030030026`` or
    ``K8EG004046395507``). A number shorter than ``MIN_METER_ID_MATCH``
    characters never matches, so a stray digit cannot pass as a meter.
    """
    p4 = _NOT_ALNUM.sub("", p4_meter_id.upper())
    p1 = _NOT_ALNUM.sub("", p1_equipment_id.upper())
    if min(len(p4), len(p1)) < MIN_METER_ID_MATCH:
        return False
    return p1.endswith(p4) or p4.endswith(p1) or p4 in p1


class P4Provider:
    """The SDS P4 API as a :class:`~.api.Provider`."""

    name = "nl_p4"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 30,
    ) -> None:
        """Use ``session`` to reach the API at ``base_url`` with ``api_key``."""
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._headers = {API_KEY_HEADER: api_key, "Accept": "application/json"}
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def metering_points(self) -> list[MeteringPoint]:
        """Return the connections the key may read."""
        document = await self._get(METERING_POINTS_PATH, METERING_POINTS_QUERY)
        return _parse_metering_points(document)

    async def readings(self, eans: Collection[str], cursor: str | None) -> Batch:
        """Return the next page of the bulk feed for these EANs after ``cursor``.

        ``Batch.meter_ids`` holds the MeterIds of the electricity objects only:
        they are what the P1 port's equipment identifier is checked against
        (a gas meter number would never match it).
        """
        sent = cursor if cursor is not None else OLDEST_CURSOR
        path = f"{READINGS_BULK_PATH}/{quote(sent, safe='')}"
        document = await self._get(path, BULK_QUERY)
        return _parse_bulk(document, frozenset(eans), sent)

    async def _get(self, path: str, params: Mapping[str, str]) -> Any:
        """GET a JSON document; every failure becomes a typed error."""
        return await get_json(
            self._session,
            self._base_url + path,
            where=path,
            headers=self._headers,
            timeout=self._timeout,
            params=params,
        )


# ---------------------------------------------------------------- parsing


def _invalid(where: str, what: str) -> InvalidResponseError:
    return InvalidResponseError(f"{where}: {what}")


def _object(value: Any, where: str) -> dict[str, Any]:
    """Return an object with its property names in lower case (A15)."""
    if not isinstance(value, dict):
        raise _invalid(where, "expected an object")
    return {str(key).lower(): item for key, item in value.items()}


def _field(document: dict[str, Any], names: tuple[str, ...]) -> Any:
    """Return the first of a field's names that has a value."""
    for name in names:
        value = document.get(name.lower())
        if value is not None:
            return value
    return None


def _list(document: dict[str, Any], key: str, where: str) -> list[Any]:
    """Return a list field; absent or null is an empty list."""
    value = document.get(key.lower())
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid(where, f"{key} is not a list")
    return value


def _text(document: dict[str, Any], names: str | tuple[str, ...], where: str) -> str:
    names = (names,) if isinstance(names, str) else names
    value = _field(document, names)
    if not isinstance(value, str):
        raise _invalid(where, f"{names[0]} missing or not a string")
    return value


def _optional_text(
    document: dict[str, Any], names: str | tuple[str, ...], where: str
) -> str | None:
    names = (names,) if isinstance(names, str) else names
    value = _field(document, names)
    if value is not None and not isinstance(value, str):
        raise _invalid(where, f"{names[0]} is not a string")
    return value


def _unwrap(document: Any, where: str) -> Any:
    """Return the payload of a wrapped answer, or the answer itself (A15)."""
    if isinstance(document, dict):
        folded = _object(document, where)
        payload = _field(folded, WRAPPERS)
        if payload is not None:
            return payload
    return document


def _address(item: dict[str, Any], where: str) -> str | None:
    """Return the address: one string, or its parts joined (A2)."""
    value = _field(item, MP_ADDRESS)
    if isinstance(value, str):
        return value.strip() or None
    parts_of = item if value is None else _object(value, where)
    parts = []
    for names in MP_ADDRESS_PARTS:
        part = _field(parts_of, names)
        if part is not None and (
            isinstance(part, bool) or not isinstance(part, str | int)
        ):
            raise _invalid(where, f"{names[0]} is not a string")
        parts.append("" if part is None else str(part).strip())
    text = " ".join(part for part in parts[:3] if part)
    place = " ".join(part for part in parts[3:] if part)
    return ", ".join(part for part in (text, place) if part) or None


def _parse_metering_points(document: Any) -> list[MeteringPoint]:
    where = f"metering points ({METERING_POINTS_PATH})"
    document = _unwrap(document, where)
    if isinstance(document, dict):
        document = [document]  # a single metering point
    if not isinstance(document, list):
        raise _invalid(where, "expected a list")
    points = []
    for index, entry in enumerate(document):
        spot = f"{where} {index}"
        item = _object(entry, spot)
        ean = _text(item, MP_EAN, spot).strip()
        if not _EAN_RE.fullmatch(ean):
            raise _invalid(spot, f"{MP_EAN[0]} {ean!r} is not 18 digits")
        meter_id = _optional_text(item, MP_METER_ID, spot)
        product = PRODUCTS.get(_text(item, MP_PRODUCT, spot).strip().lower())
        address = _address(item, spot)
        if product is None:
            continue
        points.append(
            MeteringPoint(
                ean=ean,
                meter_id=meter_id.strip() or None if meter_id else None,
                product=product,
                address=address,
            )
        )
    return points


def parse_moment(value: Any, where: str, name: str = "DateTimeOffset") -> datetime:
    """Return an ISO 8601 time with an offset or Z, in UTC (A9)."""
    if not isinstance(value, str):
        raise _invalid(where, f"{name} missing or not a string")
    match = _MOMENT_RE.fullmatch(value.strip())
    if match is None:
        raise _invalid(where, f"{name} {value!r} is not a time")
    head, fraction, zone = match.groups()
    if zone is None:
        raise _invalid(where, f"{name} {value!r} has no offset")
    try:
        moment = datetime.fromisoformat(
            f"{head}.{(fraction or '').ljust(6, '0')[:6]}"
            f"{'+00:00' if zone in ('Z', 'z') else zone}"
        )
    except ValueError:
        raise _invalid(where, f"{name} {value!r} is not a time") from None
    return moment.astimezone(UTC)


def parse_day(value: Any, where: str) -> date:
    """Return a date, with any time part ignored (A9)."""
    if not isinstance(value, str):
        raise _invalid(where, "QueryDate missing or not a string")
    head, _, _ = value.strip().partition("T")
    if not _DAY_RE.fullmatch(head):
        raise _invalid(where, f"QueryDate {value!r} is not a date")
    try:
        return date.fromisoformat(head)
    except ValueError:
        raise _invalid(where, f"QueryDate {value!r} is not a date") from None


def _cursor(document: dict[str, Any]) -> str:
    """Return the ``TimeStamp`` in the form the ``{from}`` path takes (A4)."""
    stamp = _text(document, "TimeStamp", _BULK).strip()
    if _CURSOR_RE.fullmatch(stamp):
        return stamp
    match = _MOMENT_RE.fullmatch(stamp)
    if match is None:
        raise _invalid(_BULK, f"TimeStamp {stamp!r} is not a cursor")
    head, fraction, _ = match.groups()
    try:
        moment = datetime.fromisoformat(f"{head}.{(fraction or '').ljust(6, '0')[:6]}")
    except ValueError:
        raise _invalid(_BULK, f"TimeStamp {stamp!r} is not a cursor") from None
    return moment.strftime(CURSOR_FORMAT)


def _count(document: dict[str, Any], key: str) -> None:
    value = document.get(key.lower())
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise _invalid(_BULK, f"{key} is not an integer")


def _day(document: dict[str, Any], where: str, *, required: bool) -> date | None:
    value = document.get("querydate")
    if value is None and not required:
        return None
    return parse_day(value, where)


def _value(document: dict[str, Any], key: str, factor: int, where: str) -> int | None:
    """Return a register in Wh or litres; None when absent or null (A10)."""
    value = document.get(key.lower())
    if value is None:
        return None
    if type(value) is int:  # the usual Wh: no decimal arithmetic needed
        if value < 0:
            raise _invalid(where, f"{key} is negative")
        return value * factor
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _invalid(where, f"{key} is not a number")
    if value < 0:
        raise _invalid(where, f"{key} is negative")
    return int((Decimal(value) * factor).to_integral_value(rounding=ROUND_FLOOR))


def _day_value(
    document: dict[str, Any], key: str, factor: int, where: str
) -> int | None:
    """Return a day register: the total, or both tariffs' sum (A7)."""
    total = _value(document, key, factor, where)
    low, high = (_value(document, part, factor, where) for part in _DAY_TARIFFS[key])
    if total is not None:
        return total
    if low is None or high is None:
        return None
    return low + high


class _Page:
    """Collects one page's readings of the asked-for EANs."""

    def __init__(self, eans: frozenset[str]) -> None:
        self.eans = eans
        self.readings: dict[tuple[Register, datetime], int] = {}
        self.daily: dict[tuple[Register, datetime], int] = {}
        self.rejections: list[Rejection] = []
        self.meter_ids: set[str] = set()

    def wanted(self, entry: Any, where: str) -> dict[str, Any] | None:
        """Return the object when its EAN was asked for (A12)."""
        item = _object(entry, where)
        return item if _text(item, "Ean", where) in self.eans else None

    def meter(self, item: dict[str, Any], where: str) -> tuple[str, int]:
        """Return the product and the unit's factor (A6); note electricity meters."""
        meter_id = _optional_text(item, "MeterId", where)
        unit = _text(item, "MeasureUnit", where)
        known = UNITS.get(unit.strip().upper())
        if known is None:
            raise _invalid(where, f"unknown MeasureUnit {unit!r}")
        if meter_id and known[0] == PRODUCT_ELECTRICITY:
            self.meter_ids.add(meter_id)
        return known

    def interval(self, entry: Any, where: str) -> None:
        item = self.wanted(entry, where)
        if item is None:
            return
        product, factor = self.meter(item, where)
        _day(item, where, required=True)
        for index, raw in enumerate(_list(item, "Items", where)):
            spot = f"{where} item {index}"
            reading = _object(raw, spot)
            moment = parse_moment(_field(reading, _TIME_FIELD), spot)
            for key in ("R180", "R280"):
                register = _REGISTERS.get((product, key))
                if register is None:
                    continue
                value = _value(reading, key, factor, spot)
                if value is not None:
                    self.readings[register, moment] = value

    def day(self, entry: Any, where: str) -> None:
        item = self.wanted(entry, where)
        if item is None:
            return
        product, factor = self.meter(item, where)
        day = _day(item, where, required=True)
        assert day is not None
        moment = datetime.combine(day, time(), SOURCE_TIMEZONE).astimezone(UTC)
        for key in ("R180", "R280"):
            register = _REGISTERS.get((product, key))
            if register is None:
                continue
            value = _day_value(item, key, factor, where)
            if value is not None:
                self.daily[register, moment] = value

    def rejection(self, entry: Any, where: str) -> None:
        item = self.wanted(entry, where)
        if item is None:
            return
        raw = item.get("rejectioncode")
        if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < 1000:
            code = f"{raw:03d}"
        elif isinstance(raw, str) and _CODE_RE.fullmatch(raw.strip()):
            code = raw.strip().zfill(3)
        else:
            raise _invalid(where, f"RejectionCode {raw!r} is not a P4 code")
        _optional_text(item, "QueryReason", where)
        self.rejections.append(
            Rejection(
                ean=item["ean"],
                day=_day(item, where, required=False),
                code=code,
                state=rejection_state(code),
                text=_optional_text(item, "RejectionText", where),
            )
        )


def _readings(values: dict[tuple[Register, datetime], int]) -> tuple[Reading, ...]:
    return tuple(
        Reading(register=register, time=moment, value=value)
        for (register, moment), value in sorted(
            values.items(), key=lambda kv: (kv[0][1], kv[0][0])
        )
    )


def _parse_bulk(document: Any, eans: frozenset[str], sent: str) -> Batch:
    """Validate a whole ``P4ReadingsBulk`` page, then build its batch."""
    root = _object(document, _BULK)
    if _field(root, ("TimeStamp",)) is None and _field(root, WRAPPERS) is not None:
        root = _object(_unwrap(root, _BULK), _BULK)
    cursor = _cursor(root)
    _optional_text(root, "Message", _BULK)
    for key in ("DayObjectCount", "IntervalObjectCount", "RejectionObjectCount"):
        _count(root, key)
    page = _Page(eans)
    days = _list(root, "DayObjects", _BULK)
    intervals = _list(root, "IntervalObjects", _BULK)
    rejections = _list(root, "RejectionObjects", _BULK)
    for index, entry in enumerate(days):
        page.day(entry, f"{_BULK} day object {index}")
    for index, entry in enumerate(intervals):
        page.interval(entry, f"{_BULK} interval object {index}")
    for index, entry in enumerate(rejections):
        page.rejection(entry, f"{_BULK} rejection object {index}")
    carried = len(days) + len(intervals) + len(rejections)
    return Batch(
        readings=_readings(page.readings),
        daily=_readings(page.daily),
        rejections=tuple(page.rejections),
        cursor=cursor,
        more=carried > 0 and cursor != sent,
        meter_ids=frozenset(page.meter_ids),
    )
