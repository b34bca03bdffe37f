"""Benchmarks of the Slimme Meter integration against core dsmr (never shipped)."""
