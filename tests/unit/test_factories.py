"""The test fixtures themselves: anything compared byte for byte must not depend on the clock."""

from __future__ import annotations

import time

import pytest

from tests.factories import zip_bytes


def test_zip_bytes_is_the_same_whenever_it_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a zip built now
    first = zip_bytes({"fake.py": "def handler(event, context):\n    return None\n"})
    # WHEN the clock has moved on by a day (zip entries store local time to 2 seconds)
    later = time.localtime(time.time() + 86_400)
    monkeypatch.setattr(time, "localtime", lambda *_: later)
    second = zip_bytes({"fake.py": "def handler(event, context):\n    return None\n"})
    # THEN the same files give the same bytes
    assert first == second
