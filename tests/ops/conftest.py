"""The ddbt local endpoint fixtures of tests/local, reused (imported, not copied)."""

from __future__ import annotations

from tests.local.conftest import cloud, local_endpoint

__all__ = ["cloud", "local_endpoint"]
