"""``CheckpointStore.save`` writes many entries at once (a redelivery that finds a covered
list writes one per listed record, up to a whole 10,000-record batch): its UpdateItems
overlap, ``SAVE_CALLS_AT_ONCE`` at a time, each retrying within the caller's budget, and a
failure is raised only once every call has ended."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from handlers import retry
from handlers.checkpoint import SAVE_CALLS_AT_ONCE, CheckpointStore

STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2024-01-01T00:00:00.000"


class Client:
    """update_item waits until ``at_once`` calls are in flight together (a plain loop, one
    call at a time, breaks the barrier), and records the key and the retry budget it saw."""

    def __init__(self, at_once: int, fail: str = "") -> None:
        self.barrier = threading.Barrier(at_once, timeout=20)
        self.fail = fail
        self.lock = threading.Lock()
        self.seen: list[tuple[str, Any]] = []

    def update_item(self, **request: Any) -> dict[str, Any]:
        key = request["Key"]["pk"]["S"]
        if not self.fail:
            self.barrier.wait()
        with self.lock:
            self.seen.append((key, retry._budget.get()))
        if self.fail and key.endswith(self.fail):
            raise RuntimeError("throttled for good")
        return {}


def entries(n: int) -> dict[str, dict[str, int]]:
    return {str(10**20 + i): {"etl": 10**20 + n} for i in range(n)}


def test_many_entries_are_written_at_once_within_the_callers_budget() -> None:
    client = Client(SAVE_CALLS_AT_ONCE)
    store = CheckpointStore("checkpoints", "fn", lambda: client)
    budget = object()
    token = retry._budget.set(budget)
    try:
        store.save(STREAM, entries(3 * SAVE_CALLS_AT_ONCE))
    finally:
        retry._budget.reset(token)
    assert len(client.seen) == 3 * SAVE_CALLS_AT_ONCE
    assert len({key for key, _ in client.seen}) == 3 * SAVE_CALLS_AT_ONCE
    assert {seen for _, seen in client.seen} == {budget}


def test_a_failed_entry_is_raised_after_the_others_are_written() -> None:
    client = Client(1, fail=str(10**20 + 3))
    store = CheckpointStore("checkpoints", "fn", lambda: client)
    with pytest.raises(RuntimeError, match="throttled for good"):
        store.save(STREAM, entries(25))
    assert len(client.seen) == 25


def test_no_entries_is_no_call() -> None:
    client = Client(1)
    CheckpointStore("checkpoints", "fn", lambda: client).save(STREAM, {})
    assert client.seen == []
