"""Constants of the Slimme Meter integration."""

from __future__ import annotations

import logging
import re
from typing import Final

DOMAIN: Final = "slimme_meter"
LOGGER: Final = logging.getLogger(__package__)

# Config entry data
CONF_CONNECTION: Final = "connection"
CONNECTION_SERIAL: Final = "serial"
CONNECTION_NETWORK: Final = "network"
CONF_SERIAL_PORT: Final = "serial_port"
CONF_HOST: Final = "host"
CONF_PORT: Final = "port"
CONF_SPEC: Final = "specification"
CONF_ENCRYPTION_KEY: Final = "encryption_key"
CONF_AUTHENTICATION_KEY: Final = "authentication_key"
CONF_EQUIPMENT_ID: Final = "equipment_id"

SPEC_AUTO: Final = "auto"

# Options: minimum seconds between two state writes per group (0 = every change)
CONF_LIVE_INTERVAL: Final = "live_interval"
CONF_COUNTER_INTERVAL: Final = "counter_interval"
DEFAULT_LIVE_INTERVAL: Final = 30
DEFAULT_COUNTER_INTERVAL: Final = 300
MAX_UPDATE_INTERVAL: Final = 3600

# Reader behaviour
BACKOFF_INITIAL: Final = 1.0
BACKOFF_MAX: Final = 60.0
STALL_FACTOR: Final = 3.0
VALIDATION_TIMEOUT: Final = 30.0

# Remote path (entry options, under CONF_REMOTE)
CONF_REMOTE: Final = "remote"
CONF_PROVIDER: Final = "provider"
CONF_API_KEY: Final = "api_key"
CONF_BASE_URL: Final = "base_url"
CONF_EANS: Final = "eans"
CONF_TRUSTED_METERS: Final = "trusted_meters"
# What a provider needs beyond key and address (Leneda: the Energy ID, and
# the registers asked for, by the provider's own names).
CONF_ENERGY_ID: Final = "energy_id"
CONF_GRANTS: Final = "grants"
# Stable name of the meter's statistics; survives a replaced meter.
CONF_METER_KEY: Final = "meter_key"

# An API key: printable ASCII without blanks, as HTTP headers carry it.
API_KEY_PATTERN: Final = re.compile(r"[\x21-\x7e]{1,1024}")
