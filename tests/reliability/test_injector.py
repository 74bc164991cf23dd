"""The soak injector's schedule (tests/reliability/injector.py), read without a network: which
kind of fault the n-th call of a class gets."""

from __future__ import annotations

import itertools

from tests.reliability.injector import KINDS, Injector
from tests.reliability.proxy import Request

PUT = Request("PUT", "/etl-bucket/changes/x.jsonl.gz", {}, b"", b"")


def _crash_calls(injector: Injector, calls: int) -> list[int]:
    """The ordinals of the calls (every one an S3 PutObject) that a crash kind was due on."""
    out = []
    for n in range(1, calls + 1):
        kind = injector._due("s3-put", n, PUT)
        if kind and KINDS[kind].group == "crash":
            out.append(n)
    return out


def test_every_crash_kind_fires_early_when_crashes_are_not_spaced() -> None:
    # GIVEN every kind due within the first 30 calls, no gap between crashes
    injector = Injector(1, "etl-bucket", first_by=30, crash_gap=0)
    # WHEN the first 30 PutObject calls are made
    crashes = _crash_calls(injector, 30)
    # THEN the three crash kinds on s3-put all fire among them: a record retried alone at the
    # start of a run could be crashed on each of its attempts
    assert len(crashes) == 3


def test_crashes_stay_due_until_the_gap_has_passed() -> None:
    # GIVEN the same schedule with at least 100 write calls between two crashes
    injector = Injector(1, "etl-bucket", first_by=30, crash_gap=100)
    # WHEN 1,000 PutObject calls are made
    crashes = _crash_calls(injector, 1_000)
    # THEN every crash kind still fires, none within 100 calls of the one before
    assert len(crashes) >= 3
    assert all(b - a >= 100 for a, b in itertools.pairwise(crashes))
