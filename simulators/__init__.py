"""Simulators for developing and testing the Slimme Meter integration (never shipped).

- :mod:`simulators.household`: deterministic load model of one household.
- :mod:`simulators.meter`: the household's meter (registers, power, gas, water).
- :mod:`simulators.profiles`: the meter kinds (``nl_dsmr5_gas``, ``nl_dsmr4``, ...).
- :mod:`simulators.telegram`: P1 telegrams rendered from a meter.
- :mod:`simulators.dlms`: encryption of telegrams as DLMS frames (Luxembourg).
- :mod:`simulators.source`: a meter, a profile and a clock producing telegrams.
- :mod:`simulators.transmitter`: timing and fault switches shared by the streams.
- :mod:`simulators.tcp` and :mod:`simulators.serial_pty`: the TCP and pty streams.
- :mod:`simulators.p1`: both streams and the command line
  (``python -m simulators.p1 --help``).
- :mod:`simulators.p4_data` and :mod:`simulators.p4`: the consent API (Dutch P4
  through Smart Data Solutions) serving the same household's readings, with
  switches for every rejection and failure (``python -m simulators.p4 --help``).
- :mod:`simulators.leneda` and :mod:`simulators.meterbeheer`: Leneda and
  Meterbeheer HUB serving the same household.
- :mod:`simulators.http_server`: what the consent-API simulators share (their
  server's start and stop, the faults queued for the next requests).
- :mod:`simulators.stack`: one household behind both paths, with switches
  (``scripts/develop``).
"""
