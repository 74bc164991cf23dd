"""The ``cloud`` fixture of tests/local, reused (imported, not copied); the endpoint behind it
is the session's ``local_endpoint`` (tests/conftest.py)."""

from __future__ import annotations

from tests.local.conftest import cloud

__all__ = ["cloud"]
