"""The property tests run untimed (tests/conftest.py): no deadline per example and no too-slow
health check, so a loaded machine cannot fail them (CI runs them on two busy cores)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings


def test_property_tests_run_untimed() -> None:
    assert settings.default.deadline is None
    assert HealthCheck.too_slow in settings.default.suppress_health_check
