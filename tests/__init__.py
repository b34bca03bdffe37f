"""Tests of the Slimme Meter integration."""
