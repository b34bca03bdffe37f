"""The simulated quarter-hour price of electricity: a function of time.

A Dutch dynamic contract's price per kWh, taxes included: the day-ahead
price (cheap at night and in a sunny afternoon, dear in the morning and the
evening, a little cheaper at weekends, with some noise) plus energy tax and
VAT. The same moment always has the same price, so a restarted development
stack shows the same history.
"""

from __future__ import annotations

from datetime import UTC, datetime
import math

from homeassistant.util import dt as dt_util

QUARTER = 900
HOUR = 3600
TAX = 0.1316  # energy tax and the supplier's margin per kWh, VAT included
VAT = 1.21


def quarter_price(start: int, local: datetime) -> float:
    """Return the price per kWh (EUR) of the quarter-hour beginning at ``start``.

    ``local`` is that moment in the home's time zone.
    """
    hour = local.hour + local.minute / 60
    summer = 0.5 + 0.5 * math.cos(2 * math.pi * (local.timetuple().tm_yday - 172) / 365)
    evening = math.exp(-(((hour - 19) / 1.6) ** 2))
    morning = math.exp(-(((hour - 8) / 1.2) ** 2))
    sun = math.exp(-(((hour - 13.5) / 2.2) ** 2)) * (0.3 + 0.7 * summer)
    weekend = 0.015 if local.weekday() >= 5 else 0.0
    # Noise from the quarter's number: the same every run.
    noise = ((start // QUARTER) * 2654435761 % 2**32) / 2**32 - 0.5
    day_ahead = (
        0.085 + 0.09 * evening + 0.045 * morning - 0.11 * sun - weekend + 0.02 * noise
    )
    return round(TAX + VAT * day_ahead, 5)


def price_at(start: int) -> float:
    """Return the price of the quarter-hour beginning at ``start`` (a timestamp)."""
    return quarter_price(start, dt_util.as_local(datetime.fromtimestamp(start, UTC)))


def hour_prices(start: int) -> list[float]:
    """Return the four quarter-hour prices of the hour beginning at ``start``."""
    return [price_at(moment) for moment in range(start, start + HOUR, QUARTER)]
