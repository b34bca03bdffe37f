"""A simulated smart meter: registers that integrate one household's load.

``SimulatedMeter`` keeps the registers of one electricity meter (and the gas
and water meters attached to it) for one household. Time only moves forward,
through :meth:`SimulatedMeter.advance`. The load is piecewise constant over
short slots (10 s by default), and the registers are the exact integral of that
load, so the power a telegram shows and the way the registers move always
agree, and the same seed and start give the same registers however the time is
advanced (in one step or in many).

The meter has a one-second clock, like a real one: times are truncated to whole
seconds. Energy registers are kept in watt-seconds and shown (like on a real
display) truncated to whole watt-hours.

Tariffs follow the Dutch convention by default: tariff 1 is the low tariff
(23:00-07:00 local time and all weekend), tariff 2 the normal tariff.
"""

from __future__ import annotations

from collections.abc import Iterable
import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
import math
from zoneinfo import ZoneInfo

from .household import BLOCK_SECONDS, Household, HouseholdOptions, SlotLoad, unit_random

_QUARTER = 900
_HOUR = 3600
_WS_PER_KWH = 3_600_000
_PEAK_HISTORY_MONTHS = 13
_THOUSANDTH = Decimal("0.001")


@dataclass(frozen=True, slots=True)
class TariffRules:
    """When the low tariff applies (local time)."""

    low_tariff: int = 1
    """Which tariff register (1 or 2) counts during low hours."""
    low_from_hour: int = 23
    low_until_hour: int = 7
    weekends_low: bool = True
    """Saturday and Sunday are low all day."""

    def tariff_at(self, local: datetime) -> int:
        """Return the tariff (1 or 2) that is active at a local time."""
        low = (
            local.hour >= self.low_from_hour
            or local.hour < self.low_until_hour
            or (self.weekends_low and local.weekday() >= 5)
        )
        if low:
            return self.low_tariff
        return 3 - self.low_tariff


NL_TARIFFS = TariffRules()
"""Netherlands: tariff 1 = low (23:00-07:00 and weekends), tariff 2 = normal."""
BE_TARIFFS = TariffRules(low_tariff=2, low_from_hour=22)
"""Belgium: tariff 1 = day, tariff 2 = night (22:00-07:00 and weekends)."""


@dataclass(frozen=True, slots=True)
class MeterOptions:
    """The fixed properties of a simulated meter installation."""

    household: HouseholdOptions = field(default_factory=HouseholdOptions)
    tariffs: TariffRules = NL_TARIFFS
    timezone: str = "Europe/Amsterdam"
    gas_capture_seconds: int = 300
    """How often the gas meter's reading (and its timestamp) is captured."""
    water_capture_seconds: int = 300
    """How often the water meter's reading (and its timestamp) is captured."""
    equipment_prefix: str = "E00"
    """Start of the electricity meter's serial number."""
    slot_seconds: int = 10
    """Length of the slots over which the load is constant; must divide 300."""


@dataclass(frozen=True, slots=True)
class PhaseValues:
    """Instantaneous values of one phase."""

    voltage_v: Decimal
    current_a: Decimal
    power_import_kw: Decimal
    power_export_kw: Decimal
    reactive_import_kvar: Decimal
    reactive_export_kvar: Decimal


@dataclass(frozen=True, slots=True)
class MBusReading:
    """A gas or water reading as captured by the meter at ``timestamp``."""

    timestamp: datetime
    value_m3: Decimal


@dataclass(frozen=True, slots=True)
class PowerFailure:
    """One entry of the long power failure log."""

    end: datetime
    duration_s: int


@dataclass(frozen=True, slots=True)
class DemandPeak:
    """The highest quarter-hour average import of a month so far."""

    occurred: datetime
    value_kw: Decimal


@dataclass(frozen=True, slots=True)
class MonthPeak:
    """A closed month's demand peak; ``month_start`` is the boundary that closed it."""

    month_start: datetime
    occurred: datetime
    value_kw: Decimal


@dataclass(frozen=True, slots=True)
class RegisterReading:
    """The energy, gas and water registers at one moment."""

    time: datetime
    import_t1_kwh: Decimal
    import_t2_kwh: Decimal
    export_t1_kwh: Decimal
    export_t2_kwh: Decimal
    gas_m3: Decimal | None
    water_m3: Decimal | None

    @property
    def import_total_kwh(self) -> Decimal:
        """Imported energy over both tariffs."""
        return self.import_t1_kwh + self.import_t2_kwh

    @property
    def export_total_kwh(self) -> Decimal:
        """Exported energy over both tariffs."""
        return self.export_t1_kwh + self.export_t2_kwh


@dataclass(frozen=True, slots=True)
class MeterSnapshot:
    """Everything a telegram shows, frozen at one moment."""

    time: datetime
    tz: ZoneInfo
    equipment_id: str
    gas_equipment_id: str | None
    water_equipment_id: str | None
    import_t1_kwh: Decimal
    import_t2_kwh: Decimal
    export_t1_kwh: Decimal
    export_t2_kwh: Decimal
    reactive_import_kvarh: Decimal
    reactive_export_kvarh: Decimal
    active_tariff: int
    power_import_kw: Decimal
    power_export_kw: Decimal
    reactive_import_kvar: Decimal
    reactive_export_kvar: Decimal
    phases: tuple[PhaseValues, ...]
    gas_m3: Decimal | None
    gas: MBusReading | None
    water_m3: Decimal | None
    water: MBusReading | None
    average_demand_kw: Decimal
    month_peak: DemandPeak
    peak_history: tuple[MonthPeak, ...]
    short_power_failures: int
    long_power_failures: int
    power_failure_log: tuple[PowerFailure, ...]
    voltage_sags: tuple[int, ...]
    voltage_swells: tuple[int, ...]
    text_message: str

    @property
    def import_total_kwh(self) -> Decimal:
        """Imported energy over both tariffs."""
        return self.import_t1_kwh + self.import_t2_kwh

    @property
    def export_total_kwh(self) -> Decimal:
        """Exported energy over both tariffs."""
        return self.export_t1_kwh + self.export_t2_kwh


@dataclass(frozen=True, slots=True)
class _SlotState:
    load: SlotLoad
    phase_net_w: tuple[int, ...]
    phase_net_var: tuple[int, ...]
    import_w: int
    export_w: int
    q_import_var: int
    q_export_var: int
    gas_ml_per_s: int
    water_ml_per_s: int


def _kwh(watt_seconds: int) -> Decimal:
    """Watt-seconds as kWh, truncated to whole Wh like a meter display."""
    return Decimal(watt_seconds // 3600).scaleb(-3)


def _milli(value: int) -> Decimal:
    """Thousandths (W as kW, mL as L, ...) as a Decimal with three decimals."""
    return Decimal(value).scaleb(-3)


def _m3(millilitres: int) -> Decimal:
    """Millilitres as m3, truncated to whole litres."""
    return Decimal(millilitres // 1000).scaleb(-3)


def _utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        msg = "times must be timezone-aware"
        raise ValueError(msg)
    return math.floor(moment.timestamp())


def _month_start(local: datetime, months_back: int = 0) -> datetime:
    """Local midnight of the first day of the month, ``months_back`` months earlier."""
    index = local.year * 12 + local.month - 1 - months_back
    year, month = divmod(index, 12)
    return datetime(year, month + 1, 1, tzinfo=local.tzinfo)


def _serial(prefix: str, seed: int, stream: int, digits: int) -> str:
    number = int(unit_random(seed, stream, 0) * 10**digits)
    return f"{prefix}{number:0{digits}d}"


class SimulatedMeter:
    """One household's electricity meter, with optional gas and water meters."""

    def __init__(
        self,
        options: MeterOptions | None = None,
        *,
        seed: int = 0,
        start: datetime,
    ) -> None:
        """Create a meter whose registers are valid at ``start``.

        The seed decides the household's habits, the starting registers and
        the equipment identifiers; the same seed and start always give the same
        meter.
        """
        self.options = options if options is not None else MeterOptions()
        if BLOCK_SECONDS % self.options.slot_seconds:
            msg = f"slot_seconds must divide {BLOCK_SECONDS}"
            raise ValueError(msg)
        self.seed = seed
        self.tz = ZoneInfo(self.options.timezone)
        self.text_message = ""
        """Text message (0-0:96.13.0) shown in telegrams; plain text."""
        self._household = Household(self.options.household, seed, self.tz)
        self._now = _epoch(start)
        self._swaps = 0
        self._slot_cache: tuple[int, _SlotState] | None = None
        self._hour_cache: tuple[int, tuple[int, bool]] | None = None

        house = self.options.household
        self.equipment_id = _serial(self.options.equipment_prefix, seed, 300, 14)
        self.gas_equipment_id = _serial("G00", seed, 301, 14) if house.gas else None
        self.water_equipment_id = _serial("W00", seed, 302, 14) if house.water else None

        def draw(stream: int) -> float:
            return unit_random(seed, 200 + stream, 0)

        self._import_ws = [
            int((1500 + 5000 * draw(0)) * _WS_PER_KWH),
            int((1500 + 5000 * draw(1)) * _WS_PER_KWH),
        ]
        solar = house.solar_kwp > 0
        self._export_ws = [
            int((300 + 1500 * draw(2)) * _WS_PER_KWH) if solar else 0,
            int((500 + 2500 * draw(3)) * _WS_PER_KWH) if solar else 0,
        ]
        self._q_import_ws = sum(self._import_ws) // 5
        self._q_export_ws = sum(self._export_ws) // 20
        self._gas_ml = int((800 + 4000 * draw(4)) * 1_000_000) if house.gas else 0
        self._water_ml = int((50 + 800 * draw(5)) * 1_000_000) if house.water else 0

        now = self._now
        self._gas_capture = (now - now % self.options.gas_capture_seconds, self._gas_ml)
        self._water_capture = (
            now - now % self.options.water_capture_seconds,
            self._water_ml,
        )
        self._init_events()
        self._init_demand()

    # ------------------------------------------------------------------ setup

    def _init_events(self) -> None:
        seed, now = self.seed, self._now
        self._short_failures = int(25 * unit_random(seed, 210, self._swaps))
        self._long_failures = int(6 * unit_random(seed, 211, self._swaps))
        log = []
        end = now
        for i in range(min(self._long_failures, 10)):
            end -= int(86400 * (3 + 60 * unit_random(seed, 212, i)))
            duration = 181 + int(20000 * unit_random(seed, 213, i))
            log.append(PowerFailure(end=_utc(end), duration_s=duration))
        self._failure_log = tuple(log)
        self._sags = tuple(int(4 * unit_random(seed, 214, p)) for p in range(3))
        self._swells = tuple(int(2 * unit_random(seed, 215, p)) for p in range(3))

    def _init_demand(self) -> None:
        """Seed the capacity-tariff state: current quarter, month peak, history."""
        seed, now = self.seed, self._now
        self._quarter_start = now - now % _QUARTER
        self._quarter_ws = self._slot_state(now).import_w * (now - self._quarter_start)
        self._last_quarter_w = self._slot_state(now).import_w
        local = _utc(now).astimezone(self.tz)
        history: list[tuple[int, int, int]] = []
        for months_back in range(_PEAK_HISTORY_MONTHS):
            boundary = _epoch(_month_start(local, months_back))
            previous = _epoch(_month_start(local, months_back + 1))
            span = (boundary - previous) // _QUARTER
            occurred = previous + _QUARTER * (
                1 + int((span - 1) * unit_random(seed, 220, months_back))
            )
            value_w = 2000 + int(4500 * unit_random(seed, 221, months_back))
            history.append((boundary, occurred, value_w))
        self._peak_history = history
        month_start = _epoch(_month_start(local))
        quarters = (self._quarter_start - month_start) // _QUARTER
        if quarters > 0:
            occurred = month_start + _QUARTER * (
                1 + int((quarters - 1) * unit_random(seed, 222, 0))
            )
            self._month_peak = (occurred, 1500 + int(2500 * unit_random(seed, 223, 0)))
        else:
            self._month_peak = (month_start, 0)

    # ------------------------------------------------------------- simulation

    def _slot_state(self, epoch: int) -> _SlotState:
        """Return the load of the slot that contains ``epoch``."""
        size = self.options.slot_seconds
        start = epoch - epoch % size
        cached = self._slot_cache
        if cached is not None and cached[0] == start:
            return cached[1]
        state = self._combine(self._household.slot(start, size))
        self._slot_cache = (start, state)
        return state

    @staticmethod
    def _combine(load: SlotLoad) -> _SlotState:
        nets = tuple(
            c - p for c, p in zip(load.consumption_w, load.production_w, strict=True)
        )
        qs = tuple(
            c // 5 - p // 20
            for c, p in zip(load.consumption_w, load.production_w, strict=True)
        )
        net, q = sum(nets), sum(qs)
        return _SlotState(
            load=load,
            phase_net_w=nets,
            phase_net_var=qs,
            import_w=max(net, 0),
            export_w=max(-net, 0),
            q_import_var=max(q, 0),
            q_export_var=max(-q, 0),
            gas_ml_per_s=load.gas_ml_per_s,
            water_ml_per_s=load.water_ml_per_s,
        )

    def _hour_info(self, epoch: int) -> tuple[int, bool]:
        """Return (tariff index, whether a local month starts) for ``epoch``'s hour."""
        hour = epoch // _HOUR
        cached = self._hour_cache
        if cached is not None and cached[0] == hour:
            return cached[1]
        local = _utc(hour * _HOUR).astimezone(self.tz)
        info = (
            self.options.tariffs.tariff_at(local) - 1,
            local.day == 1 and local.hour == 0,
        )
        self._hour_cache = (hour, info)
        return info

    def advance(self, to: datetime) -> None:
        """Move the meter's clock forward to ``to``, integrating the load.

        Raises ValueError if ``to`` lies before the meter's current time.
        """
        target = _epoch(to)
        if target < self._now:
            msg = f"cannot go back from {self.time.isoformat()} to {to.isoformat()}"
            raise ValueError(msg)
        size = self.options.slot_seconds
        while self._now < target:
            now = self._now
            slot_end = now - now % size + size
            end = min(slot_end, target)
            state = self._slot_state(now)
            seconds = end - now
            tariff = self._hour_info(now)[0]
            self._import_ws[tariff] += state.import_w * seconds
            self._export_ws[tariff] += state.export_w * seconds
            self._q_import_ws += state.q_import_var * seconds
            self._q_export_ws += state.q_export_var * seconds
            self._gas_ml += state.gas_ml_per_s * seconds
            self._water_ml += state.water_ml_per_s * seconds
            self._quarter_ws += state.import_w * seconds
            self._now = end
            if end == slot_end:
                self._on_boundary(end)

    def _on_boundary(self, epoch: int) -> None:
        """Capture readings and close demand periods that end at ``epoch``."""
        if epoch % self.options.gas_capture_seconds == 0:
            self._gas_capture = (epoch, self._gas_ml)
        if epoch % self.options.water_capture_seconds == 0:
            self._water_capture = (epoch, self._water_ml)
        if epoch % _QUARTER == 0:
            average = self._quarter_ws // _QUARTER
            self._last_quarter_w = average
            self._quarter_start = epoch
            self._quarter_ws = 0
            if average > self._month_peak[1]:
                self._month_peak = (epoch, average)
        if epoch % _HOUR == 0 and self._hour_info(epoch)[1]:
            occurred, value = self._month_peak
            self._peak_history.insert(0, (epoch, occurred, value))
            del self._peak_history[_PEAK_HISTORY_MONTHS:]
            self._month_peak = (epoch, 0)

    def swap(self) -> None:
        """Replace the electricity meter by a new one.

        The new meter has a new equipment identifier, its registers start near
        zero and its event counters, failure log and demand history are empty.
        Gas and water meters stay as they are (they are paired again).
        """
        self._swaps += 1
        seed, swaps = self.seed, self._swaps
        self.equipment_id = _serial(
            self.options.equipment_prefix, seed, 300 + 16 * swaps, 14
        )
        self._import_ws = [int(3600 * 40 * unit_random(seed, 230, swaps)), 0]
        self._export_ws = [0, 0]
        self._q_import_ws = 0
        self._q_export_ws = 0
        self._short_failures = 0
        self._long_failures = 0
        self._failure_log = ()
        self._sags = (0, 0, 0)
        self._swells = (0, 0, 0)
        self._peak_history = []
        self._quarter_ws = 0
        self._quarter_start = self._now
        self._last_quarter_w = 0
        self._month_peak = (self._now, 0)

    def copy(self) -> SimulatedMeter:
        """Return an independent meter in exactly this state."""
        return copy.deepcopy(self)

    def readings_at(self, times: Iterable[datetime]) -> list[RegisterReading]:
        """Return the registers at each of ``times``.

        The times must ascend and not lie before :attr:`time`.

        Computed on a copy; this meter does not move.
        """
        probe = self.copy()
        readings = []
        for moment in times:
            probe.advance(moment)
            readings.append(probe.registers())
        return readings

    def hourly_registers(self, start: datetime, end: datetime) -> list[RegisterReading]:
        """Return the registers at every whole hour from ``start`` to ``end``.

        Both ends are inclusive.

        ``start`` must not lie before the meter's current time. Computed on a
        copy; this meter does not move.
        """
        return self.readings_at(hours_between(start, end))

    # ---------------------------------------------------------------- reading

    @property
    def time(self) -> datetime:
        """The meter's current time (UTC, whole seconds)."""
        return _utc(self._now)

    @property
    def phase_count(self) -> int:
        """Number of phases of the connection."""
        return self.options.household.phases

    @property
    def active_tariff(self) -> int:
        """The tariff (1 or 2) that is counting now."""
        return self._hour_info(self._now)[0] + 1

    @property
    def import_t1_kwh(self) -> Decimal:
        """Imported energy, tariff 1 (1-0:1.8.1)."""
        return _kwh(self._import_ws[0])

    @property
    def import_t2_kwh(self) -> Decimal:
        """Imported energy, tariff 2 (1-0:1.8.2)."""
        return _kwh(self._import_ws[1])

    @property
    def export_t1_kwh(self) -> Decimal:
        """Exported energy, tariff 1 (1-0:2.8.1)."""
        return _kwh(self._export_ws[0])

    @property
    def export_t2_kwh(self) -> Decimal:
        """Exported energy, tariff 2 (1-0:2.8.2)."""
        return _kwh(self._export_ws[1])

    @property
    def import_total_kwh(self) -> Decimal:
        """Imported energy over both tariffs (1-0:1.8.0)."""
        return self.import_t1_kwh + self.import_t2_kwh

    @property
    def export_total_kwh(self) -> Decimal:
        """Exported energy over both tariffs (1-0:2.8.0)."""
        return self.export_t1_kwh + self.export_t2_kwh

    @property
    def reactive_import_kvarh(self) -> Decimal:
        """Reactive energy imported (1-0:3.8.0)."""
        return _kwh(self._q_import_ws)

    @property
    def reactive_export_kvarh(self) -> Decimal:
        """Reactive energy exported (1-0:4.8.0)."""
        return _kwh(self._q_export_ws)

    @property
    def power_import_kw(self) -> Decimal:
        """Power drawn from the grid now (1-0:1.7.0)."""
        return _milli(self._slot_state(self._now).import_w)

    @property
    def power_export_kw(self) -> Decimal:
        """Power fed into the grid now (1-0:2.7.0)."""
        return _milli(self._slot_state(self._now).export_w)

    @property
    def reactive_import_kvar(self) -> Decimal:
        """Reactive power imported now (1-0:3.7.0)."""
        return _milli(self._slot_state(self._now).q_import_var)

    @property
    def reactive_export_kvar(self) -> Decimal:
        """Reactive power exported now (1-0:4.7.0)."""
        return _milli(self._slot_state(self._now).q_export_var)

    @property
    def phases(self) -> tuple[PhaseValues, ...]:
        """Per-phase voltage, current and power now."""
        state = self._slot_state(self._now)
        size = self.options.slot_seconds
        voltages = self._household.voltage_dv(
            self._now - self._now % size, size, state.load
        )
        values = []
        for net, q, dv in zip(
            state.phase_net_w, state.phase_net_var, voltages, strict=True
        ):
            centiamps = (abs(net) * 1000 + dv // 2) // dv
            values.append(
                PhaseValues(
                    voltage_v=Decimal(dv).scaleb(-1),
                    current_a=Decimal(centiamps).scaleb(-2),
                    power_import_kw=_milli(max(net, 0)),
                    power_export_kw=_milli(max(-net, 0)),
                    reactive_import_kvar=_milli(max(q, 0)),
                    reactive_export_kvar=_milli(max(-q, 0)),
                )
            )
        return tuple(values)

    @property
    def gas_m3(self) -> Decimal | None:
        """The gas register now (None without a gas meter)."""
        return _m3(self._gas_ml) if self.gas_equipment_id is not None else None

    @property
    def gas_reading(self) -> MBusReading | None:
        """The last captured gas reading, as telegrams show it."""
        if self.gas_equipment_id is None:
            return None
        epoch, millilitres = self._gas_capture
        return MBusReading(timestamp=_utc(epoch), value_m3=_m3(millilitres))

    @property
    def water_m3(self) -> Decimal | None:
        """The water register now (None without a water meter)."""
        return _m3(self._water_ml) if self.water_equipment_id is not None else None

    @property
    def water_reading(self) -> MBusReading | None:
        """The last captured water reading, as telegrams show it."""
        if self.water_equipment_id is None:
            return None
        epoch, millilitres = self._water_capture
        return MBusReading(timestamp=_utc(epoch), value_m3=_m3(millilitres))

    @property
    def average_demand_kw(self) -> Decimal:
        """Average import of the running quarter hour (1-0:1.4.0)."""
        elapsed = self._now - self._quarter_start
        if elapsed == 0:
            return _milli(self._last_quarter_w)
        return _milli(self._quarter_ws // elapsed)

    @property
    def month_peak(self) -> DemandPeak:
        """Highest quarter-hour average import of this month (1-0:1.6.0)."""
        occurred, value = self._month_peak
        return DemandPeak(occurred=_utc(occurred), value_kw=_milli(value))

    @property
    def peak_history(self) -> tuple[MonthPeak, ...]:
        """Peaks of the last 13 closed months, newest first (0-0:98.1.0)."""
        return tuple(
            MonthPeak(
                month_start=_utc(boundary),
                occurred=_utc(occurred),
                value_kw=_milli(value),
            )
            for boundary, occurred, value in self._peak_history
        )

    @property
    def short_power_failures(self) -> int:
        """Number of short power failures (0-0:96.7.21)."""
        return self._short_failures

    @property
    def long_power_failures(self) -> int:
        """Number of long power failures (0-0:96.7.9)."""
        return self._long_failures

    @property
    def power_failure_log(self) -> tuple[PowerFailure, ...]:
        """Long power failures, newest first (1-0:99.97.0)."""
        return self._failure_log

    def registers(self) -> RegisterReading:
        """Return the energy, gas and water registers now."""
        return RegisterReading(
            time=self.time,
            import_t1_kwh=self.import_t1_kwh,
            import_t2_kwh=self.import_t2_kwh,
            export_t1_kwh=self.export_t1_kwh,
            export_t2_kwh=self.export_t2_kwh,
            gas_m3=self.gas_m3,
            water_m3=self.water_m3,
        )

    def snapshot(self) -> MeterSnapshot:
        """Everything a telegram shows, frozen now."""
        return MeterSnapshot(
            time=self.time,
            tz=self.tz,
            equipment_id=self.equipment_id,
            gas_equipment_id=self.gas_equipment_id,
            water_equipment_id=self.water_equipment_id,
            import_t1_kwh=self.import_t1_kwh,
            import_t2_kwh=self.import_t2_kwh,
            export_t1_kwh=self.export_t1_kwh,
            export_t2_kwh=self.export_t2_kwh,
            reactive_import_kvarh=self.reactive_import_kvarh,
            reactive_export_kvarh=self.reactive_export_kvarh,
            active_tariff=self.active_tariff,
            power_import_kw=self.power_import_kw,
            power_export_kw=self.power_export_kw,
            reactive_import_kvar=self.reactive_import_kvar,
            reactive_export_kvar=self.reactive_export_kvar,
            phases=self.phases,
            gas_m3=self.gas_m3,
            gas=self.gas_reading,
            water_m3=self.water_m3,
            water=self.water_reading,
            average_demand_kw=self.average_demand_kw,
            month_peak=self.month_peak,
            peak_history=self.peak_history,
            short_power_failures=self._short_failures,
            long_power_failures=self._long_failures,
            power_failure_log=self._failure_log,
            voltage_sags=self._sags,
            voltage_swells=self._swells,
            text_message=self.text_message,
        )


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    """Whole UTC hours from ``start`` to ``end`` (both inclusive)."""
    first = _epoch(start)
    first += -first % _HOUR
    return [_utc(epoch) for epoch in range(first, _epoch(end) + 1, _HOUR)]


__all__ = [
    "BE_TARIFFS",
    "NL_TARIFFS",
    "DemandPeak",
    "MBusReading",
    "MeterOptions",
    "MeterSnapshot",
    "MonthPeak",
    "PhaseValues",
    "PowerFailure",
    "RegisterReading",
    "SimulatedMeter",
    "TariffRules",
    "hours_between",
]
