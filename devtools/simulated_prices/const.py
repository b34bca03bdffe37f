"""Names shared by the simulated price component and the development tools."""

from typing import Final

DOMAIN: Final = "simulated_prices"
ENTITY_ID: Final = "sensor.simulated_electricity_price"
CONF_DAYS: Final = "days"
DEFAULT_DAYS: Final = 60
UNIT: Final = "EUR/kWh"
