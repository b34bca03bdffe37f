"""Tests of the development simulators."""
