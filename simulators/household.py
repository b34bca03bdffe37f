"""Deterministic load model of one household.

The model answers one question: what does the household draw (and produce)
during one short time slot? Everything is a pure function of the seed and the
slot's start time, so any slot can be recomputed in any order and a meter that
integrates these slots always arrives at the same registers.

The shape is deliberately plain but recognisable: a base load with a cycling
fridge, morning and evening peaks, short appliance bursts (kettle, oven),
long-running appliances (washing machine, dishwasher), lighting after dark,
solar production following the sun and the season with passing clouds, gas for
heating (more in winter and while the thermostat is up) and hot water, and tap
water for showers, toilets and washing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
import math
from zoneinfo import ZoneInfo

BLOCK_SECONDS = 300
"""Length of the block within which appliance states are constant."""

_LONG_WINDOW_SECONDS = 1800
_MASK64 = (1 << 64) - 1

# Independent random streams, one per decision.
_S_FRIDGE = 1
_S_SHORT = 2
_S_SHORT_KIND = 3
_S_LONG = 4
_S_LONG_KIND = 5
_S_CLOUD = 6
_S_BURNER = 7
_S_SHOWER = 8
_S_COOKING = 9
_S_TOILET = 10
_S_TAP = 11
_S_NOISE = 12
_S_VOLT = 13
_S_PHASE = 14

_NO_PRODUCTION: dict[int, tuple[int, ...]] = {1: (0,), 3: (0, 0, 0)}

# (power W, phase index) of appliances that run for a few minutes.
_SHORT_APPLIANCES: tuple[tuple[int, int], ...] = (
    (2000, 0),  # kettle
    (1100, 0),  # microwave
    (2200, 1),  # oven
    (1800, 2),  # induction hob zone
    (900, 1),  # toaster / coffee machine
)
# (power W, phase index) of appliances that run for half an hour.
_LONG_APPLIANCES: tuple[tuple[int, int], ...] = (
    (1900, 2),  # washing machine (heating)
    (1700, 1),  # dishwasher
    (2300, 2),  # tumble dryer
    (350, 0),  # desktop computer and screens
)


def random_bits(seed: int, stream: int, index: int) -> int:
    """Return 64 reproducible random bits for (seed, stream, index).

    A SplitMix64 finaliser over the combined inputs: fast, stateless and good
    enough to drive a household simulation.
    """
    x = (
        seed * 0x9E3779B97F4A7C15
        + stream * 0xD1B54A32D192ED03
        + index * 0x94D049BB133111EB
        + 0x632BE59BD9B4E019
    ) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def unit_random(seed: int, stream: int, index: int) -> float:
    """Return a reproducible number in [0, 1) for (seed, stream, index)."""
    return random_bits(seed, stream, index) / 18446744073709551616.0


@dataclass(frozen=True, slots=True)
class HouseholdOptions:
    """What the household owns."""

    phases: int = 3
    """1 or 3 phase connection."""
    solar_kwp: float = 0.0
    """Peak power of the solar panels; 0 means no panels."""
    gas: bool = True
    """Whether the house has a gas boiler."""
    water: bool = False
    """Whether tap water is metered."""


@dataclass(frozen=True, slots=True)
class SlotLoad:
    """What the household does during one slot (constant within the slot)."""

    consumption_w: tuple[int, ...]
    """Consumption per phase in W."""
    production_w: tuple[int, ...]
    """Solar production per phase in W."""
    gas_ml_per_s: int
    """Gas flow in millilitres per second."""
    water_ml_per_s: int
    """Water flow in millilitres per second."""


@dataclass(frozen=True, slots=True)
class _Block:
    consumption_w: tuple[float, ...]
    production_w: float
    gas_ml_per_s: int
    water_ml_per_s: int


def _activity(hour: float, weekend: bool) -> float:
    """How busy the household is at a local hour (0 = asleep, 1 = peak)."""
    wake = 8.0 if weekend else 6.5
    if hour < wake - 0.5 or hour >= 23.5:
        return 0.02
    if hour < wake + 2.0:
        return 1.0
    if hour < 17.0:
        return 0.6 if weekend else 0.3
    if hour < 22.0:
        return 1.0
    return 0.4


def _season(day_of_year: int) -> float:
    """-1 at the winter solstice, +1 at the summer solstice."""
    return math.sin(2.0 * math.pi * (day_of_year - 80) / 365.25)


class Household:
    """Pure, seeded model of one household's energy use."""

    def __init__(self, options: HouseholdOptions, seed: int, tz: ZoneInfo) -> None:
        """Create the model; the seed fixes every random decision."""
        self.options = options
        self.seed = seed
        self.tz = tz
        self.base_load_w = 110 + int(140 * unit_random(seed, 100, 0))
        self.heat_loss = 0.8 + 0.4 * unit_random(seed, 101, 0)
        self._block_cache: tuple[int, _Block] | None = None

    def slot(self, epoch: int, slot_seconds: int) -> SlotLoad:
        """Return the load of the slot that starts at ``epoch`` (UTC seconds)."""
        block = self._block(epoch // BLOCK_SECONDS)
        bits = random_bits(self.seed, _S_NOISE, epoch // slot_seconds)
        # Up to +-5 % noise per phase, each phase from its own 16 bits.
        consumption = tuple(
            int(c * (0.95 + 0.1 * ((bits >> (16 * p)) & 0xFFFF) / 65536.0))
            for p, c in enumerate(block.consumption_w)
        )
        phases = self.options.phases
        if block.production_w > 0:
            total = block.production_w * (0.98 + 0.04 * (bits >> 48) / 65536.0)
            if phases == 3 and self.options.solar_kwp > 4.0:
                third = int(total / 3)
                production: tuple[int, ...] = (third, third, third)
            else:
                production = (int(total),) + (0,) * (phases - 1)
        else:
            production = _NO_PRODUCTION[phases]
        return SlotLoad(
            consumption, production, block.gas_ml_per_s, block.water_ml_per_s
        )

    def voltage_dv(
        self, epoch: int, slot_seconds: int, load: SlotLoad
    ) -> tuple[int, ...]:
        """Return the voltage per phase (0.1 V) in the slot starting at ``epoch``."""
        slot_index = epoch // slot_seconds
        hour_utc = (epoch % 86400) / 3600.0
        grid = 2300 + int(30 * math.sin(2.0 * math.pi * (hour_utc - 3.0) / 24.0))
        return tuple(
            grid
            + 20 * p
            - load.consumption_w[p] // 250
            + load.production_w[p] // 100
            + int(10 * unit_random(self.seed, _S_VOLT + 16 * p, slot_index))
            for p in range(len(load.consumption_w))
        )

    def _block(self, block_index: int) -> _Block:
        cached = self._block_cache
        if cached is not None and cached[0] == block_index:
            return cached[1]
        block = self._compute_block(block_index)
        self._block_cache = (block_index, block)
        return block

    def _compute_block(self, block_index: int) -> _Block:
        seed = self.seed
        epoch = block_index * BLOCK_SECONDS
        utc = datetime.fromtimestamp(epoch, UTC)
        local = utc.astimezone(self.tz)
        hour = local.hour + local.minute / 60.0
        weekend = local.weekday() >= 5
        activity = _activity(hour, weekend)
        day_of_year = utc.timetuple().tm_yday
        daylight = self._daylight(utc, day_of_year)

        phases = [0.0, 0.0, 0.0]
        phases[0] += self.base_load_w * 0.5
        phases[1] += self.base_load_w * 0.3
        phases[2] += self.base_load_w * 0.2
        if unit_random(seed, _S_FRIDGE, block_index) < 0.35:
            phases[int(3 * unit_random(seed, _S_PHASE, block_index // 12))] += 90.0
        if unit_random(seed, _S_SHORT, block_index) < 0.03 + 0.2 * activity:
            kind = _SHORT_APPLIANCES[
                int(
                    len(_SHORT_APPLIANCES)
                    * unit_random(seed, _S_SHORT_KIND, block_index)
                )
            ]
            phases[kind[1]] += kind[0]
        window = epoch // _LONG_WINDOW_SECONDS
        if unit_random(seed, _S_LONG, window) < 0.03 + 0.12 * activity:
            kind = _LONG_APPLIANCES[
                int(len(_LONG_APPLIANCES) * unit_random(seed, _S_LONG_KIND, window))
            ]
            phases[kind[1]] += kind[0]
        if daylight < 0.15 and activity > 0.1:
            phases[0] += 250.0 * activity
        phases[1] += 400.0 * activity * unit_random(seed, _S_NOISE, block_index)

        consumption: tuple[float, ...]
        if self.options.phases == 1:
            consumption = (sum(phases),)
        else:
            consumption = (phases[0], phases[1], phases[2])

        production = 0.0
        if self.options.solar_kwp > 0 and daylight > 0:
            production = (
                1000.0 * self.options.solar_kwp * 0.82 * daylight * self._clouds(epoch)
            )

        gas = self._gas(block_index, hour, hour_utc=utc.hour, day_of_year=day_of_year)
        water = self._water(block_index, hour, activity, window)
        return _Block(consumption, production, gas, water)

    @staticmethod
    def _daylight(utc: datetime, day_of_year: int) -> float:
        """Relative sun strength (0 at night, up to 1 at a summer noon)."""
        season = _season(day_of_year)
        day_length = 12.0 + 4.3 * season
        hour = utc.hour + utc.minute / 60.0
        x = (hour - 11.67) / (day_length / 2.0)
        if abs(x) >= 1.0:
            return 0.0
        shape = math.cos(x * math.pi / 2.0) ** 1.5
        return float(shape * (0.45 + 0.275 * (season + 1.0)))

    def _clouds(self, epoch: int) -> float:
        """Cloud factor, interpolated between hourly draws so it drifts smoothly."""
        hour_index, within = divmod(epoch, 3600)
        a = 0.25 + 0.75 * unit_random(self.seed, _S_CLOUD, hour_index)
        b = 0.25 + 0.75 * unit_random(self.seed, _S_CLOUD, hour_index + 1)
        return a + (b - a) * within / 3600.0

    def _gas(
        self, block_index: int, local_hour: float, *, hour_utc: int, day_of_year: int
    ) -> int:
        """Gas flow (mL/s) for heating, showers and cooking."""
        if not self.options.gas:
            return 0
        seed = self.seed
        outdoor = 10.0 - 8.0 * math.cos(2.0 * math.pi * (day_of_year - 20) / 365.25)
        outdoor += 3.0 * math.sin(2.0 * math.pi * (hour_utc - 9) / 24.0)
        setpoint = 20.0 if 6.5 <= local_hour < 22.5 else 15.5
        demand = max(0.0, min(1.0, (setpoint - outdoor) * self.heat_loss / 25.0))
        flow = 0.0
        if unit_random(seed, _S_BURNER, block_index) < demand:
            flow += 278.0 * (0.4 + 0.6 * demand)  # about 1 m3/h at full fire
        if self._showering(block_index, local_hour):
            flow += 150.0
        if (
            17.0 <= local_hour < 19.0
            and unit_random(seed, _S_COOKING, block_index) < 0.3
        ):
            flow += 28.0
        return int(flow)

    def _showering(self, block_index: int, local_hour: float) -> bool:
        busy = 6.0 <= local_hour < 9.0 or 18.0 <= local_hour < 22.0
        return busy and unit_random(self.seed, _S_SHOWER, block_index) < 0.12

    def _water(
        self, block_index: int, local_hour: float, activity: float, window: int
    ) -> int:
        """Tap water flow (mL/s)."""
        if not self.options.water:
            return 0
        seed = self.seed
        flow = 0.0
        if self._showering(block_index, local_hour):
            flow += 133.0  # 8 L/min
        if unit_random(seed, _S_TOILET, block_index) < 0.12 * activity:
            flow += 20.0  # 6 L per flush over the block
        if unit_random(seed, _S_TAP, block_index) < 0.15 * activity:
            flow += 10.0
        if unit_random(seed, _S_LONG, window) < 0.03 + 0.12 * activity:
            flow += 8.0  # washing machine / dishwasher intake
        return int(flow)
