"""Luxembourg's energy data hub, Leneda: quarter-hour energy and gas of a household.

Every request carries the user's API key (``X-API-KEY``) and Energy ID
(``X-ENERGY-ID``), both from the user's profile in Leneda's web app. One
operation is used::

    GET /api/metering-points/{POD}/time-series
        ?startDateTime=…Z&endDateTime=…Z&obisCode=1-1%3A1.29.0

answering ``{"meteringPointCode", "obisCode", "intervalLength": "PT15M",
"unit": "kW", "items": [{"value", "startedAt", "type", "version",
"calculated"}]}``: the **average power** of each quarter hour from
``startedAt`` (UTC). Energy is power times interval length. Leneda has no
register readings; :mod:`.anchor` joins the energy to the P1 registers.

Gas (``7-1:99.23.15``) comes the same way, but its values are **quantities**
(m³ per interval), not rates: they are summed as they are.

Consent is granted per metering point (POD) and per OBIS code in Leneda's web
app. There is no list of metering points: the user types the POD. Production
and gas are often metering points of their own: each code is read from the
POD it belongs to (the consumption POD unless another is given).

Assumptions (the documentation leaves these open)
-------------------------------------------------
L1. A code that is not granted answers 200 with ``unit`` or
    ``meteringPointCode`` null (``missing_grants``); with *no* code granted
    the consent is gone. 404 means the POD is unknown or not (any longer)
    shared with this Energy ID: the consent ended.
L2. ``endDateTime`` is exclusive; items outside the asked window are ignored.
L3. Several items for one quarter: the highest ``version`` wins (a
    correction); of equal versions the later in the answer.
L4. Only whole hours are imported: an hour lacking a quarter is a hole
    (the merged history estimates it) until the quarter comes.
L5. History: ``HISTORY_DAYS`` back at most; ``WINDOW_DAYS`` per request;
    every sync reads the last ``REREAD_DAYS`` again, for late data and
    corrections (new ``version``).
L6. ``intervalLength`` is an ISO 8601 duration of whole minutes that divides
    an hour; the unit of the electricity codes is ``kW`` (case-insensitive).
L7. 401 refuses the key or Energy ID; 403 is an access restriction (Leneda
    mentions geoblocking) and is treated the same way: the user acts.
L8. Gas: only the volume ``7-1:99.23.15`` is read, since the P1 gas register
    counts m³ at the meter. Its unit is ``m³``, written ``m3``, ``M3`` or
    left blank (Leneda's own table leaves it blank). Standard volume
    ``7-1:99.23.17`` (Nm³, at 0 °C and 1013.25 mbar) is some 3 to 5 % less
    than the metered volume, depending on temperature and pressure: more
    than the plausibility check allows, so it is not taken for m³. Gas
    energy ``7-20:99.33.17`` (kWh) needs the calorific value of every day to
    become m³, which Leneda does not give: it is not read either.
L9. The gas ``intervalLength`` is not documented: an interval dividing an
    hour is summed per hour like electricity; whole hours (``PT1H``,
    ``PT2H``…) are usage over that span, and ``P1D`` is a local day
    (Europe/Luxembourg, 23 or 25 hours on the days the clocks change),
    spread over its hours as estimated rows until finer values come.
L10. 404 for the consumption POD ends the consent. 404 for a separate
    production or gas POD counts as those codes not being granted: the
    other metering point keeps importing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
import re
from typing import Any, Final
from urllib.parse import quote
from zoneinfo import ZoneInfo

import aiohttp
from yarl import URL

from .api import (
    Batch,
    ConsentEndedError,
    InvalidResponseError,
    MeteringPoint,
    Register,
    Usage,
)
from .http import get_json
from .p4 import parse_moment

DEFAULT_BASE_URL: Final = "https://api.leneda.eu"
TIME_SERIES_PATH: Final = "/api/metering-points/{pod}/time-series"
API_KEY_HEADER: Final = "X-API-KEY"
ENERGY_ID_HEADER: Final = "X-ENERGY-ID"

CODE_IMPORT: Final = "1-1:1.29.0"
CODE_EXPORT: Final = "1-1:2.29.0"
CODE_GAS: Final = "7-1:99.23.15"
CODE_GAS_STANDARD: Final = "7-1:99.23.17"  # Nm³: not read (L8)
CODE_GAS_ENERGY: Final = "7-20:99.33.17"  # kWh: not read (L8)
CODES: Final[Mapping[str, Register]] = {
    CODE_IMPORT: Register.ELECTRICITY_IMPORT,
    CODE_EXPORT: Register.ELECTRICITY_EXPORT,
    CODE_GAS: Register.GAS,
}
"""The OBIS codes read, and the register each one adds to."""
UNITS: Final[Mapping[str, tuple[str, ...]]] = {
    CODE_IMPORT: ("kw",),
    CODE_EXPORT: ("kw",),
    CODE_GAS: ("m3", ""),
}
"""The units accepted per code, folded (lower case, ``³`` as ``3``)."""
CONF_PRODUCTION_POD: Final = "production_pod"
CONF_GAS_POD: Final = "gas_pod"
POD_OPTIONS: Final[Mapping[str, str]] = {
    CODE_EXPORT: CONF_PRODUCTION_POD,
    CODE_GAS: CONF_GAS_POD,
}
"""The option naming a code's own metering point, when it has one."""
LOCAL_TIME: Final = ZoneInfo("Europe/Luxembourg")

POD_PATTERN: Final = re.compile(r"LU\d{31}")
HISTORY_DAYS: Final = 730
WINDOW_DAYS: Final = 30
REREAD_DAYS: Final = 5
PROBE_DAYS: Final = 7
CURSOR_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"

_DURATION_RE = re.compile(r"PT(?:(\d+)H)?(?:(\d+)M)?")
_DAY = "P1D"
_HOUR = 3600
Span = tuple[datetime, datetime]


def normalise_pod(text: str) -> str:
    """Return a typed POD without blanks or dashes, in upper case."""
    return re.sub(r"[\s-]", "", text).upper()


def valid_pod(text: str) -> bool:
    """Return whether a (normalised) POD has Leneda's form: LU and 31 digits."""
    return POD_PATTERN.fullmatch(text) is not None


def meter_matches(remote_meter: str, local_meter: str) -> bool:
    """Return False: a POD never names the P1 meter, only the user can tell."""
    return False


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(CURSOR_FORMAT)


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


class LenedaProvider:
    """Leneda's time series as a :class:`~.api.Provider`."""

    name = "lu_leneda"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        energy_id: str,
        codes: Collection[str] = (CODE_IMPORT, CODE_EXPORT),
        pods: Collection[str] = (),
        routes: Mapping[str, str] | None = None,
        timeout: float = 30,
    ) -> None:
        """Use ``session`` to read ``codes`` at ``base_url`` for ``energy_id``.

        ``pods`` are the metering points linked, the consumption POD first;
        ``routes`` names the POD of a code read from another one.
        """
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._headers = {
            API_KEY_HEADER: api_key,
            ENERGY_ID_HEADER: energy_id,
            "Accept": "application/json",
        }
        self.codes = [code for code in CODES if code in codes]
        self.pods = list(pods)
        self._routes = dict(routes or {})
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    @classmethod
    def from_options(
        cls,
        session: aiohttp.ClientSession,
        api_key: str,
        base_url: str,
        options: Mapping[str, Any],
    ) -> LenedaProvider:
        """Build from the remote path's options (Energy ID, codes, PODs)."""
        return cls(
            session,
            api_key,
            base_url,
            energy_id=str(options.get("energy_id", "")),
            codes=options.get("grants") or (CODE_IMPORT, CODE_EXPORT),
            pods=options.get("eans") or (),
            routes={
                code: str(options[key])
                for code, key in POD_OPTIONS.items()
                if options.get(key)
            },
        )

    def pod_of(self, code: str, eans: Collection[str] = ()) -> str:
        """Return the metering point ``code`` is read from."""
        main = [*self.pods, *eans][:1]
        return self._routes.get(code) or (main[0] if main else "")

    async def metering_points(self) -> list[MeteringPoint]:
        """Return the PODs already linked, once they could be read.

        Leneda lists no metering points (the user types the POD); reading
        the linked ones checks a new key.
        """
        for pod in self.pods:
            await self.probe(pod)
        gas = {self._routes.get(CODE_GAS)} - {self.pod_of(CODE_IMPORT)}
        return [
            MeteringPoint(pod, None, "gas" if pod in gas else "electricity")
            for pod in self.pods
        ]

    async def probe(self, pod: str) -> frozenset[str]:
        """Read the last days of the codes read from ``pod``; return those not granted.

        Raises the typed errors of :mod:`.api` (a refused key, an unknown
        POD) like a sync would.
        """
        end = _hour(datetime.now(UTC))
        missing = set()
        start = end - timedelta(days=PROBE_DAYS)
        for code in self.codes:
            if self.pod_of(code, (pod,)) != pod:
                continue
            if await self._series(pod, code, start, end) is None:
                missing.add(code)
        return frozenset(missing)

    async def readings(self, eans: Collection[str], cursor: str | None) -> Batch:
        """Return one window of intervals after ``cursor``, as usage.

        ``cursor`` is the end of the data read so far (UTC); each call reads
        from ``REREAD_DAYS`` before it, at most ``WINDOW_DAYS``.
        """
        now = _hour(datetime.now(UTC))
        oldest = now - timedelta(days=HISTORY_DAYS)
        start = oldest
        previous: datetime | None = None
        if cursor:
            previous = parse_moment(cursor, "cursor", "cursor")
            start = max(previous - timedelta(days=REREAD_DAYS), oldest)
        end = min(start + timedelta(days=WINDOW_DAYS), now)
        usages: list[Usage] = []
        missing: set[tuple[str, str]] = set()
        granted = 0
        data_ends: list[datetime] = []
        main = self.pod_of(CODE_IMPORT, eans)
        for code in self.codes:
            pod = self.pod_of(code, eans)
            try:
                spans = await self._series(pod, code, start, end)
            except ConsentEndedError:
                if pod == main:
                    raise
                spans = None  # a separate POD no longer shared (L10)
            if spans is None:
                missing.add((pod, code))
                continue
            granted += 1
            usages.extend(
                Usage(CODES[code], first, last, value)
                for (first, last), value in sorted(spans.items())
            )
            if spans:
                data_ends.append(max(last for _, last in spans))
        if not granted:
            raise ConsentEndedError(
                "Leneda shares none of the asked-for OBIS codes of these metering"
                " points with this Energy ID any longer"
            )
        more = end < now
        if more:
            new_cursor: datetime | None = end
        else:
            new_cursor = min(data_ends) if data_ends else previous
            if previous is not None and new_cursor is not None:
                new_cursor = max(new_cursor, previous)
        return Batch(
            usages=tuple(usages),
            cursor=_stamp(new_cursor) if new_cursor else None,
            more=more,
            missing_grants=frozenset(missing),
            points={CODES[code]: self.pod_of(code, eans) for code in self.codes},
        )

    # ---------------------------------------------------------------- HTTP

    async def _series(
        self, pod: str, code: str, start: datetime, end: datetime
    ) -> dict[Span, int] | None:
        """Return usage per complete span in [start, end); None: not granted."""
        path = TIME_SERIES_PATH.format(pod=quote(pod, safe=""))
        query = "&".join(
            f"{name}={quote(value, safe='')}"
            for name, value in (
                ("startDateTime", _stamp(start)),
                ("endDateTime", _stamp(end)),
                ("obisCode", code),
            )
        )
        url = URL(f"{self._base_url}{path}?{query}", encoded=True)
        where = f"time series {code}"
        document = await get_json(
            self._session,
            url,
            where=where,
            headers=self._headers,
            timeout=self._timeout,
            refused={
                401: "API key or Energy ID refused (HTTP 401)",
                403: "access refused (HTTP 403): a restriction of Leneda's",
            },
            gone=f"metering point {pod} is unknown or no longer shared with this"
            " Energy ID",
        )
        return parse_series(document, code, start, end)


def _invalid(where: str, what: str) -> InvalidResponseError:
    return InvalidResponseError(f"{where}: {what}")


def _interval(value: Any, where: str, *, day: bool) -> int:
    """Return an ``intervalLength`` in seconds (L6, L9); a local day is 0."""
    if value == _DAY and day:
        return 0
    match = _DURATION_RE.fullmatch(value) if isinstance(value, str) else None
    seconds = (
        int(match.group(1) or 0) * 3600 + int(match.group(2) or 0) * 60 if match else 0
    )
    if not seconds or (_HOUR % seconds and seconds % _HOUR):
        raise _invalid(
            where, f"intervalLength {value!r} does not divide an hour nor is hours"
        )
    return seconds


def _unit(document: dict[str, Any], code: str, where: str) -> None:
    """Check the unit of a code (L6, L8)."""
    unit = document["unit"]
    folded = unit.strip().lower().replace("³", "3") if isinstance(unit, str) else None
    if folded not in UNITS.get(code, ()):
        expected = "m³" if CODES.get(code) is Register.GAS else "kW"
        raise _invalid(where, f"unit {unit!r} is not {expected}")


def _span_end(moment: datetime, seconds: int) -> datetime:
    """Return the end of an interval from ``moment``; 0 seconds: a local day."""
    if seconds:
        return moment + timedelta(seconds=seconds)
    # Wall-clock arithmetic: the next local midnight, 23 or 25 hours on.
    return (moment.astimezone(LOCAL_TIME) + timedelta(days=1)).astimezone(UTC)


def parse_series(
    document: Any, code: str, start: datetime, end: datetime
) -> dict[Span, int] | None:
    """Return usage per complete span in [start, end); None when not granted (L1).

    Wh for electricity, litres for gas. Intervals shorter than an hour are
    summed per hour, and only complete hours are kept (L4); longer intervals
    are their own spans.
    """
    where = f"time series {code}"
    if not isinstance(document, dict):
        raise _invalid(where, "expected an object")
    if document.get("unit") is None or document.get("meteringPointCode") is None:
        return None
    _unit(document, code, where)
    gas = CODES.get(code) is Register.GAS
    seconds = _interval(document.get("intervalLength"), where, day=gas)
    items = document.get("items")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise _invalid(where, "items is not a list")
    intervals: dict[datetime, tuple[int, Decimal]] = {}
    for index, raw in enumerate(items):
        spot = f"{where} item {index}"
        if not isinstance(raw, dict):
            raise _invalid(spot, "expected an object")
        moment = parse_moment(raw.get("startedAt"), spot, "startedAt")
        value = raw.get("value")
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise _invalid(spot, "value is not a number")
        if value < 0:
            raise _invalid(spot, "value is negative")
        version = raw.get("version", 1)
        if isinstance(version, bool) or not isinstance(version, int):
            raise _invalid(spot, "version is not an integer")
        if int(moment.timestamp()) % min(seconds or _HOUR, _HOUR):
            raise _invalid(spot, f"startedAt {moment.isoformat()} is off the interval")
        if not start <= moment < end:
            continue
        kept = intervals.get(moment)
        if kept is None or version >= kept[0]:
            intervals[moment] = (version, Decimal(value))
    # Gas is a quantity (m³ -> litres); electricity a power (kW -> Wh).
    factor = Decimal(1000) if gas else Decimal(seconds) / Decimal("3.6")
    if seconds and seconds < _HOUR:
        return _whole_hours(intervals, seconds, factor)
    return {
        (moment, _span_end(moment, seconds)): _rounded(value * factor)
        for moment, (_, value) in intervals.items()
    }


def _whole_hours(
    intervals: Mapping[datetime, tuple[int, Decimal]], seconds: int, factor: Decimal
) -> dict[Span, int]:
    """Return the sum of every hour whose intervals all came."""
    per_hour = _HOUR // seconds
    sums: dict[datetime, tuple[int, Decimal]] = {}
    for moment, (_, value) in intervals.items():
        hour = _hour(moment)
        count, total = sums.get(hour, (0, Decimal(0)))
        sums[hour] = (count + 1, total + value)
    return {
        (hour, hour + timedelta(hours=1)): _rounded(total * factor)
        for hour, (count, total) in sums.items()
        if count == per_hour
    }


def _rounded(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_EVEN))
