"""Fault soak: long runs with injected faults (scripts/test soak)."""
