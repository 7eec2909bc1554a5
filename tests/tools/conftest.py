"""Fixtures for the tools tests (implemented in tools_helpers.py, importable from the test modules)."""

from tools_helpers import cli, http_server  # noqa: F401
