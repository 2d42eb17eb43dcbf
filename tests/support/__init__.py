"""Test doubles and helpers for tests and benchmarks; never part of the installed package."""
