"""Sensors: every value the meter publishes, described as data.

To add a value: one description below (its OBIS code, classes and translation
key) and its name in strings.json and both translations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    EntityCategory,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfFrequency,
    UnitOfPower,
    UnitOfTime,
    UnitOfVolume,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .entity import MeterEntity
from .meter_model import manufacturer, model
from .p1.decode import MBusDevice, Snapshot, decode_text, last_failure, per_line
from .p1.reader import LinkState
from .p1.specs import SPECS
from .remote.api import RemoteState
from .runtime import MeterRuntime, SlimmeMeterConfigEntry

PARALLEL_UPDATES = 0

LIVE = "live"
COUNTER = "counter"
# Power that moves by 25 W and a tenth is written at once (an appliance
# switching), whatever the live interval.
POWER_STEP = Decimal("0.025")

# Units as meters write them -> Home Assistant's spelling.
UNITS: Mapping[str, str] = {
    "kWh": UnitOfEnergy.KILO_WATT_HOUR,
    "Wh": UnitOfEnergy.WATT_HOUR,
    "MWh": UnitOfEnergy.MEGA_WATT_HOUR,
    "GJ": UnitOfEnergy.GIGA_JOULE,
    "kW": UnitOfPower.KILO_WATT,
    "W": UnitOfPower.WATT,
    "V": UnitOfElectricPotential.VOLT,
    "A": UnitOfElectricCurrent.AMPERE,
    "m3": UnitOfVolume.CUBIC_METERS,
    "varh": "varh",
    "var": "var",
    "kvarh": "kvarh",
    "kVArh": "kvarh",
    "kvar": "kvar",
    "kVAr": "kvar",
    "kVA": "kVA",
    "VA": "VA",
    "MW": "MW",
    "Hz": UnitOfFrequency.HERTZ,
    "s": UnitOfTime.SECONDS,
}

_APPARENT = frozenset({"VA", "kVA"})
POWER = SensorDeviceClass.POWER

TARIFFS_NL = {1: "low", 2: "normal", 3: "tariff_3", 4: "tariff_4"}
TARIFFS_BE = {1: "day", 2: "night", 3: "tariff_3", 4: "tariff_4"}


@dataclass(frozen=True, kw_only=True)
class MeterSensorDescription(SensorEntityDescription):
    """A value of the electricity meter, read from a snapshot."""

    value_fn: Callable[[Snapshot], Any]
    exists_fn: Callable[[Snapshot], bool]
    code: str | None = None  # the OBIS code whose unit the meter states
    unit_codes: tuple[str, ...] = ()  # where to find the unit when code is absent
    attrs_fn: Callable[[Snapshot], dict[str, Any]] | None = None
    update_group: str | None = None
    step: Decimal | None = None  # see MeterEntity


@dataclass(frozen=True, kw_only=True)
class MBusSensorDescription(SensorEntityDescription):
    """A value of an M-Bus device (gas, water, heat or cold meter)."""

    value_fn: Callable[[MBusDevice], Any]
    update_group: str | None = None


@dataclass(frozen=True, kw_only=True)
class PathSensorDescription(SensorEntityDescription):
    """A value about the local path itself."""

    value_fn: Callable[[MeterRuntime], Any]


def _code_value(code: str) -> Callable[[Snapshot], Any]:
    return lambda snapshot: snapshot.value(code)


def _has(code: str) -> Callable[[Snapshot], bool]:
    return lambda snapshot: code in snapshot.objects


def _reading(
    key: str,
    code: str,
    device_class: SensorDeviceClass | None,
    *,
    state_class: SensorStateClass | None = SensorStateClass.MEASUREMENT,
    group: str | None = LIVE,
    precision: int | None = None,
    enabled: bool = True,
    diagnostic: bool = False,
    unit: str | None = None,
    step: Decimal | None = None,
) -> MeterSensorDescription:
    """Describe one numeric line of the telegram."""
    return MeterSensorDescription(
        key=key,
        translation_key=key,
        code=code,
        device_class=device_class,
        state_class=state_class,
        native_unit_of_measurement=unit,
        suggested_display_precision=precision,
        entity_registry_enabled_default=enabled,
        entity_category=EntityCategory.DIAGNOSTIC if diagnostic else None,
        value_fn=_code_value(code),
        exists_fn=_has(code),
        update_group=group,
        step=step,
    )


def _energy(key: str, code: str, *, enabled: bool = True) -> MeterSensorDescription:
    return _reading(
        key,
        code,
        SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        group=COUNTER,
        precision=3,
        enabled=enabled,
    )


def _power(key: str, code: str, *, enabled: bool = True) -> MeterSensorDescription:
    return _reading(
        key,
        code,
        SensorDeviceClass.POWER,
        precision=3,
        enabled=enabled,
        step=POWER_STEP,
    )


def _count(key: str, code: str) -> MeterSensorDescription:
    return _reading(
        key,
        code,
        None,
        state_class=SensorStateClass.TOTAL_INCREASING,
        group=None,
        enabled=False,
        diagnostic=True,
    )


def _reactive(key: str, code: str, energy: bool = False) -> MeterSensorDescription:
    return _reading(
        key,
        code,
        None,
        state_class=(
            SensorStateClass.TOTAL_INCREASING
            if energy
            else SensorStateClass.MEASUREMENT
        ),
        group=COUNTER if energy else LIVE,
        precision=3,
        enabled=False,
    )


def _total(direction: int) -> Callable[[Snapshot], Any]:
    return lambda snapshot: snapshot.total(direction)


def _has_any(*codes: str) -> Callable[[Snapshot], bool]:
    return lambda snapshot: any(code in snapshot.objects for code in codes)


def _net_power(snapshot: Snapshot) -> Any:
    imported, exported = snapshot.value("1.7.0"), snapshot.value("2.7.0")
    if imported is None or exported is None:
        return None
    return imported - exported


def _tariff(snapshot: Snapshot) -> str | None:
    value = snapshot.value("96.14.0")
    try:
        tariff = int(value)
    except (TypeError, ValueError):
        return None
    names = TARIFFS_BE if snapshot.spec == "belgium_5b" else TARIFFS_NL
    return names.get(tariff)


def _failure_start(snapshot: Snapshot) -> datetime | None:
    failure = last_failure(snapshot)
    return failure[0] if failure else None


def _failure_duration(snapshot: Snapshot) -> int | None:
    failure = last_failure(snapshot)
    return failure[1] if failure else None


def _peak_time(snapshot: Snapshot) -> datetime | None:
    peak = snapshot.objects.get("1.6.0")
    when: datetime | None = peak.datetime if peak is not None else None
    return when


def _peak_value(snapshot: Snapshot) -> Any:
    peak = snapshot.objects.get("1.6.0")
    return peak.value if peak is not None else None


def _peaks(history: Any) -> list[Any]:
    return history if isinstance(history, list) else []


@per_line("98.1.0")
def _peak_average(history: Any) -> Decimal | None:
    values = [peak.value for peak in _peaks(history) if peak.value is not None]
    if not values:
        return None
    return (sum(values, Decimal(0)) / len(values)).quantize(Decimal("0.001"))


@per_line("98.1.0")
def _peak_history(history: Any) -> dict[str, Any]:
    return {
        "peaks": [
            {
                "month": peak.datetime.isoformat() if peak.datetime else None,
                "time": peak.occurred.isoformat() if peak.occurred else None,
                "value": float(peak.value) if peak.value is not None else None,
            }
            for peak in _peaks(history)
        ]
    }


def _text(code: str) -> Callable[[Snapshot], str | None]:
    return lambda snapshot: decode_text(snapshot.value(code))


def _diagnostic_text(key: str, code: str) -> MeterSensorDescription:
    """Describe a text line (messages, states), diagnostic and disabled."""
    return MeterSensorDescription(
        key=key,
        translation_key=key,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_text(code),
        exists_fn=_has(code),
    )


def _timestamp(snapshot: Snapshot) -> datetime | None:
    value = snapshot.value("1.0.0")
    return value if isinstance(value, datetime) else None


METER_SENSORS: tuple[MeterSensorDescription, ...] = (
    # Energy registers
    MeterSensorDescription(
        key="energy_import_total",
        translation_key="energy_import_total",
        code="1.8.0",
        unit_codes=("1.8.1", "1.8.2"),
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=3,
        value_fn=_total(1),
        exists_fn=_has_any("1.8.0", "1.8.1", "1.8.2"),
        update_group=COUNTER,
    ),
    MeterSensorDescription(
        key="energy_export_total",
        translation_key="energy_export_total",
        code="2.8.0",
        unit_codes=("2.8.1", "2.8.2"),
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=3,
        value_fn=_total(2),
        exists_fn=_has_any("2.8.0", "2.8.1", "2.8.2"),
        update_group=COUNTER,
    ),
    _energy("energy_import_tariff_1", "1.8.1"),
    _energy("energy_import_tariff_2", "1.8.2"),
    _energy("energy_import_tariff_3", "1.8.3"),
    _energy("energy_import_tariff_4", "1.8.4"),
    _energy("energy_export_tariff_1", "2.8.1"),
    _energy("energy_export_tariff_2", "2.8.2"),
    _energy("energy_export_tariff_3", "2.8.3"),
    _energy("energy_export_tariff_4", "2.8.4"),
    _energy("energy_combined_total", "15.8.0", enabled=False),
    MeterSensorDescription(
        key="active_tariff",
        translation_key="active_tariff",
        device_class=SensorDeviceClass.ENUM,
        options=sorted({*TARIFFS_NL.values(), *TARIFFS_BE.values()}),
        value_fn=_tariff,
        exists_fn=_has("96.14.0"),
    ),
    # Power
    _power("power_import", "1.7.0"),
    _power("power_export", "2.7.0"),
    MeterSensorDescription(
        key="power_net",
        translation_key="power_net",
        code="1.7.0",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=3,
        entity_registry_enabled_default=False,
        value_fn=_net_power,
        exists_fn=lambda snapshot: (
            "1.7.0" in snapshot.objects and "2.7.0" in snapshot.objects
        ),
        update_group=LIVE,
        step=POWER_STEP,
    ),
    _power("power_import_l1", "21.7.0", enabled=False),
    _power("power_import_l2", "41.7.0", enabled=False),
    _power("power_import_l3", "61.7.0", enabled=False),
    _power("power_export_l1", "22.7.0", enabled=False),
    _power("power_export_l2", "42.7.0", enabled=False),
    _power("power_export_l3", "62.7.0", enabled=False),
    _reading(
        "voltage_l1", "32.7.0", SensorDeviceClass.VOLTAGE, precision=1, enabled=False
    ),
    _reading(
        "voltage_l2", "52.7.0", SensorDeviceClass.VOLTAGE, precision=1, enabled=False
    ),
    _reading(
        "voltage_l3", "72.7.0", SensorDeviceClass.VOLTAGE, precision=1, enabled=False
    ),
    _reading(
        "current_l1", "31.7.0", SensorDeviceClass.CURRENT, precision=2, enabled=False
    ),
    _reading(
        "current_l2", "51.7.0", SensorDeviceClass.CURRENT, precision=2, enabled=False
    ),
    _reading(
        "current_l3", "71.7.0", SensorDeviceClass.CURRENT, precision=2, enabled=False
    ),
    _reading(
        "frequency", "14.7.0", SensorDeviceClass.FREQUENCY, precision=2, enabled=False
    ),
    _reading(
        "power_factor",
        "13.7.0",
        SensorDeviceClass.POWER_FACTOR,
        precision=3,
        enabled=False,
    ),
    _reading(
        "power_factor_l1", "33.7.0", SensorDeviceClass.POWER_FACTOR, enabled=False
    ),
    _reading(
        "power_factor_l2", "53.7.0", SensorDeviceClass.POWER_FACTOR, enabled=False
    ),
    _reading(
        "power_factor_l3", "73.7.0", SensorDeviceClass.POWER_FACTOR, enabled=False
    ),
    # Reactive and apparent power (kvar, kvarh, kVA)
    _reactive("reactive_energy_import_total", "3.8.0", energy=True),
    _reactive("reactive_energy_export_total", "4.8.0", energy=True),
    _reactive("reactive_energy_import_tariff_1", "3.8.1", energy=True),
    _reactive("reactive_energy_import_tariff_2", "3.8.2", energy=True),
    _reactive("reactive_energy_export_tariff_1", "4.8.1", energy=True),
    _reactive("reactive_energy_export_tariff_2", "4.8.2", energy=True),
    _reactive("reactive_energy_q1", "5.8.0", energy=True),
    _reactive("reactive_energy_q2", "6.8.0", energy=True),
    _reactive("reactive_energy_q3", "7.8.0", energy=True),
    _reactive("reactive_energy_q4", "8.8.0", energy=True),
    _reactive("reactive_power_import", "3.7.0"),
    _reactive("reactive_power_export", "4.7.0"),
    _reactive("reactive_power_q1", "5.7.0"),
    _reactive("reactive_power_q2", "6.7.0"),
    _reactive("reactive_power_q3", "7.7.0"),
    _reactive("reactive_power_q4", "8.7.0"),
    _reactive("reactive_power_import_l1", "23.7.0"),
    _reactive("reactive_power_import_l2", "43.7.0"),
    _reactive("reactive_power_import_l3", "63.7.0"),
    _reactive("reactive_power_export_l1", "24.7.0"),
    _reactive("reactive_power_export_l2", "44.7.0"),
    _reactive("reactive_power_export_l3", "64.7.0"),
    _reactive("apparent_power_import", "9.7.0"),
    _reactive("apparent_power_export", "10.7.0"),
    # Belgian capacity tariff
    _power("current_average_demand", "1.4.0"),
    MeterSensorDescription(
        key="peak_demand_month",
        translation_key="peak_demand_month",
        code="1.6.0",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=3,
        value_fn=_peak_value,
        exists_fn=_has("1.6.0"),
    ),
    MeterSensorDescription(
        key="peak_demand_month_time",
        translation_key="peak_demand_month_time",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=_peak_time,
        exists_fn=_has("1.6.0"),
    ),
    MeterSensorDescription(
        key="peak_demand_average",
        translation_key="peak_demand_average",
        code="1.6.0",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=3,
        value_fn=_peak_average,
        attrs_fn=_peak_history,
        exists_fn=_has("98.1.0"),
    ),
    # Power quality and events
    _count("short_power_failures", "96.7.21"),
    _count("long_power_failures", "96.7.9"),
    MeterSensorDescription(
        key="last_long_power_failure",
        translation_key="last_long_power_failure",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_failure_start,
        exists_fn=_has("99.97.0"),
    ),
    MeterSensorDescription(
        key="last_long_power_failure_duration",
        translation_key="last_long_power_failure_duration",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_failure_duration,
        exists_fn=_has("99.97.0"),
    ),
    _count("voltage_sags_l1", "32.32.0"),
    _count("voltage_sags_l2", "52.32.0"),
    _count("voltage_sags_l3", "72.32.0"),
    _count("voltage_swells_l1", "32.36.0"),
    _count("voltage_swells_l2", "52.36.0"),
    _count("voltage_swells_l3", "72.36.0"),
    _diagnostic_text("text_message", "96.13.0"),
    _diagnostic_text("text_message_code", "96.13.1"),
    _diagnostic_text("text_message_2", "96.13.2"),
    _diagnostic_text("text_message_3", "96.13.3"),
    _diagnostic_text("text_message_4", "96.13.4"),
    _diagnostic_text("text_message_5", "96.13.5"),
    _diagnostic_text("breaker_state", "96.3.10"),
    _diagnostic_text("equipment_state", "96.5.5"),
    _reading(
        "power_threshold",
        "17.0.0",
        SensorDeviceClass.POWER,
        group=None,
        enabled=False,
        diagnostic=True,
    ),
    _reading(
        "fuse_threshold_l1",
        "31.4.0",
        SensorDeviceClass.CURRENT,
        group=None,
        enabled=False,
        diagnostic=True,
    ),
    _reading(
        "fuse_threshold_l2",
        "51.4.0",
        SensorDeviceClass.CURRENT,
        group=None,
        enabled=False,
        diagnostic=True,
    ),
    _reading(
        "fuse_threshold_l3",
        "71.4.0",
        SensorDeviceClass.CURRENT,
        group=None,
        enabled=False,
        diagnostic=True,
    ),
    MeterSensorDescription(
        key="meter_time",
        translation_key="meter_time",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_timestamp,
        exists_fn=_has("1.0.0"),
    ),
)

_MBUS_CLASSES: Mapping[str, SensorDeviceClass] = {
    "gas": SensorDeviceClass.GAS,
    "water": SensorDeviceClass.WATER,
    "heat": SensorDeviceClass.ENERGY,
    "cold": SensorDeviceClass.ENERGY,
}


def _mbus_reading(kind: str) -> MBusSensorDescription:
    return MBusSensorDescription(
        key=f"{kind}_reading",
        translation_key=f"{kind}_reading",
        device_class=_MBUS_CLASSES[kind],
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=3,
        value_fn=lambda device: device.reading,
        update_group=COUNTER,
    )


MBUS_SENSORS: Mapping[str, tuple[MBusSensorDescription, ...]] = {
    kind: (
        _mbus_reading(kind),
        MBusSensorDescription(
            key=f"{kind}_measured_at",
            translation_key="measured_at",
            device_class=SensorDeviceClass.TIMESTAMP,
            entity_category=EntityCategory.DIAGNOSTIC,
            value_fn=lambda device: device.measured_at,
        ),
        MBusSensorDescription(
            key=f"{kind}_valve",
            translation_key="valve_state",
            entity_category=EntityCategory.DIAGNOSTIC,
            entity_registry_enabled_default=False,
            value_fn=lambda device: device.valve,
        ),
    )
    for kind in ("gas", "water", "heat", "cold")
}

PATH_SENSORS: tuple[PathSensorDescription, ...] = (
    PathSensorDescription(
        key="active_data_path",
        translation_key="active_data_path",
        device_class=SensorDeviceClass.ENUM,
        options=["local_and_remote", "local_only", "remote_only", "none"],
        value_fn=lambda runtime: runtime.active_path,
    ),
    PathSensorDescription(
        key="local_path",
        translation_key="local_path",
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in LinkState],
        value_fn=lambda runtime: runtime.state.value,
    ),
    PathSensorDescription(
        key="remote_path",
        translation_key="remote_path",
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in RemoteState],
        value_fn=lambda runtime: runtime.remote_state.value,
    ),
    PathSensorDescription(
        key="last_remote_sync",
        translation_key="last_remote_sync",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda runtime: runtime.remote.last_sync if runtime.remote else None,
    ),
    PathSensorDescription(
        key="history_covered_until",
        translation_key="history_covered_until",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda runtime: (
            runtime.history.covered_until() if runtime.history else None
        ),
    ),
    PathSensorDescription(
        key="history_start",
        translation_key="history_start",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda runtime: runtime.history.oldest() if runtime.history else None,
    ),
    PathSensorDescription(
        key="last_telegram",
        translation_key="last_telegram",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda runtime: runtime.last_telegram,
    ),
    PathSensorDescription(
        key="telegrams_received",
        translation_key="telegrams_received",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda runtime: runtime.counters.received,
    ),
    PathSensorDescription(
        key="telegrams_rejected",
        translation_key="telegrams_rejected",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda runtime: runtime.counters.rejected,
    ),
    PathSensorDescription(
        key="reconnects",
        translation_key="reconnects",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda runtime: runtime.counters.reconnects,
    ),
    PathSensorDescription(
        key="specification",
        translation_key="specification",
        device_class=SensorDeviceClass.ENUM,
        options=list(SPECS),
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda runtime: runtime.spec.id,
    ),
)


def electricity_device(runtime: MeterRuntime) -> DeviceInfo:
    """Describe the electricity meter."""
    snapshot = runtime.snapshot
    header = snapshot.header if snapshot else ""
    return DeviceInfo(
        identifiers={(DOMAIN, runtime.entry.entry_id)},
        translation_key="electricity",
        manufacturer=manufacturer(header),
        model=model(header),
        serial_number=snapshot.equipment_id if snapshot else None,
        sw_version=str(snapshot.version) if snapshot and snapshot.version else None,
        hw_version=runtime.spec.name,
    )


def mbus_device(runtime: MeterRuntime, device: MBusDevice, kind: str) -> DeviceInfo:
    """Describe an M-Bus meter."""
    return DeviceInfo(
        identifiers={(DOMAIN, f"{runtime.entry.entry_id}_mbus_{device.channel}")},
        translation_key=kind,
        serial_number=device.equipment_id,
    )


class MeterSensor(MeterEntity, SensorEntity):
    """A sensor of the electricity meter."""

    entity_description: MeterSensorDescription

    def __init__(
        self,
        runtime: MeterRuntime,
        description: MeterSensorDescription,
        device_info: DeviceInfo,
    ) -> None:
        """Take the unit from the telegram when the meter states one."""
        self.update_group = description.update_group
        self.step = description.step
        super().__init__(
            runtime,
            description,
            device_info,
            f"{runtime.entry.entry_id}_{description.key}",
        )
        snapshot = runtime.snapshot
        if description.code and snapshot is not None:
            for code in (description.code, *description.unit_codes):
                if code in snapshot.objects:
                    unit = snapshot.unit(code)
                    if unit is not None and unit in UNITS:
                        self._attr_native_unit_of_measurement = UNITS[unit]
                        if unit in _APPARENT and self.device_class is POWER:
                            # A limit in kVA is no real power (Luxembourg).
                            self._attr_device_class = None
                    break

    def compute(self) -> Any:
        """Return the value (and attributes) from the latest telegram."""
        snapshot = self.runtime.snapshot
        if snapshot is None:
            return None
        description = self.entity_description
        if description.attrs_fn is None:
            return description.value_fn(snapshot)
        return (description.value_fn(snapshot), description.attrs_fn(snapshot))

    def apply(self, value: Any) -> None:
        """Show a computed value."""
        if self.entity_description.attrs_fn is None:
            self._attr_native_value = value
        elif value is None:
            self._attr_native_value, self._attr_extra_state_attributes = None, {}
        else:
            self._attr_native_value, self._attr_extra_state_attributes = value


class MBusSensor(MeterEntity, SensorEntity):
    """A sensor of an M-Bus meter."""

    entity_description: MBusSensorDescription

    def __init__(
        self,
        runtime: MeterRuntime,
        description: MBusSensorDescription,
        device: MBusDevice,
        kind: str,
    ) -> None:
        """Bind to one M-Bus channel."""
        self.channel = device.channel
        self.update_group = description.update_group
        if description.state_class is SensorStateClass.TOTAL_INCREASING:
            self._attr_native_unit_of_measurement = UNITS.get(device.unit or "")
            if kind in ("heat", "cold") and device.unit == "m3":
                self._attr_device_class = None
        super().__init__(
            runtime,
            description,
            mbus_device(runtime, device, kind),
            f"{runtime.entry.entry_id}_mbus_{device.channel}_{description.key}",
        )

    def compute(self) -> Any:
        """Return the value of this channel's device in the latest telegram."""
        snapshot = self.runtime.snapshot
        device = snapshot.mbus_device(self.channel) if snapshot else None
        return self.entity_description.value_fn(device) if device else None

    def apply(self, value: Any) -> None:
        """Show a computed value."""
        self._attr_native_value = value


class PathSensor(MeterEntity, SensorEntity):
    """A diagnostic sensor of the local path; available while set up."""

    entity_description: PathSensorDescription

    def compute(self) -> Any:
        """Return the runtime's value."""
        return self.entity_description.value_fn(self.runtime)

    def apply(self, value: Any) -> None:
        """Show a computed value."""
        self._attr_native_value = value

    def is_available(self) -> bool:
        """Stay available: these values describe the path, up or down."""
        return True


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SlimmeMeterConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add sensors for every value the meter sends, as they appear."""
    runtime = entry.runtime_data
    known: set[str] = set()

    async_add_entities(
        PathSensor(
            runtime,
            description,
            electricity_device(runtime),
            f"{entry.entry_id}_{description.key}",
        )
        for description in PATH_SENSORS
    )

    @callback
    def add_new(snapshot: Snapshot) -> None:
        new: list[SensorEntity] = []
        device_info = electricity_device(runtime)
        for meter_description in METER_SENSORS:
            if meter_description.key not in known and meter_description.exists_fn(
                snapshot
            ):
                known.add(meter_description.key)
                new.append(MeterSensor(runtime, meter_description, device_info))
        for device in snapshot.mbus:
            kind = device.kind
            for description in MBUS_SENSORS.get(kind or "", ()):
                key = f"mbus_{device.channel}_{description.key}"
                if key not in known:
                    known.add(key)
                    new.append(MBusSensor(runtime, description, device, kind or ""))
        if new:
            async_add_entities(new)

    entry.async_on_unload(runtime.async_add_layout_listener(add_new))
