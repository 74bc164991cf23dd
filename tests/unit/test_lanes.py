"""handlers.lanes: per-lane order, real concurrency, the lowest failure, the caller's context."""

from __future__ import annotations

import contextvars
import threading
from typing import Any

import pytest

from handlers.lanes import run_lanes

RECORDS = [("a", 1), ("b", 1), ("a", 2), ("c", 1), ("b", 2), ("a", 3), ("d", 1), ("c", 2)]


def lane(record: tuple[str, int]) -> str:
    return record[0]


def test_each_lane_keeps_record_order_and_every_record_runs() -> None:
    seen: list[tuple[str, int]] = []
    lock = threading.Lock()

    def step(_: int, record: tuple[str, int]) -> None:
        with lock:
            seen.append(record)

    assert run_lanes(RECORDS, lane, step, 4) == (len(RECORDS), None)
    assert sorted(seen) == sorted(RECORDS)
    for name in "abcd":
        assert [n for k, n in seen if k == name] == sorted(n for k, n in RECORDS if k == name)


def test_lanes_run_at_the_same_time() -> None:
    # four lanes meet at a barrier: only possible when four threads run them at once
    barrier = threading.Barrier(4, timeout=10)
    threads: set[str] = set()

    def step(_: int, record: tuple[str, int]) -> None:
        threads.add(threading.current_thread().name)
        if record[1] == 1:
            barrier.wait()

    assert run_lanes(RECORDS, lane, step, 4) == (len(RECORDS), None)
    assert len(threads) == 4


def test_one_worker_runs_in_the_callers_thread_and_stops_at_the_first_failure() -> None:
    calls: list[int] = []

    def step(position: int, _: Any) -> None:
        assert threading.current_thread() is threading.main_thread()
        calls.append(position)
        if position == 3:
            raise ValueError("bad record 3")

    position, exc = run_lanes(RECORDS, lane, step, 1)
    assert position == 3 and isinstance(exc, ValueError) and calls == [0, 1, 2, 3]


def test_the_lowest_failed_position_is_reported_and_everything_before_it_ran() -> None:
    # lane "d" (position 6) fails first; lane "a" fails later at position 2: 2 is reported,
    # and positions 0 and 1 (before it) ran, whichever lane they are in
    d_failed = threading.Event()
    ran: set[int] = set()

    def step(position: int, record: tuple[str, int]) -> None:
        if record == ("d", 1):
            d_failed.set()
            raise RuntimeError("d")
        if record == ("a", 2):
            assert d_failed.wait(10)
            raise KeyError("a2")
        ran.add(position)

    position, exc = run_lanes(RECORDS, lane, step, 4)
    assert position == 2 and isinstance(exc, KeyError)
    assert {0, 1} <= ran
    assert 5 not in ran  # ("a", 3) comes after its lane's failure: never run


def test_records_after_a_known_failure_are_skipped() -> None:
    ran: list[int] = []
    failed = threading.Event()
    records = [("x", 0), *((f"y{i}", 0) for i in range(20))]

    def step(position: int, _: Any) -> None:
        if position == 0:
            failed.set()
            raise RuntimeError("the first record fails")
        assert failed.wait(10)  # the later lanes reach their step only after the failure
        ran.append(position)

    position, exc = run_lanes(records, lane, step, 2)
    assert position == 0 and isinstance(exc, RuntimeError)
    # at most the one step that was already waiting when the failure was found
    assert len(ran) <= 1


def test_lanes_see_the_callers_context() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    var.set("the batch's budget")
    seen: set[str] = set()

    def step(_: int, __: Any) -> None:
        seen.add(var.get())

    run_lanes(RECORDS, lane, step, 4)
    assert seen == {"the batch's budget"}


@pytest.mark.parametrize("workers", [1, 3, 10])
def test_empty_batch(workers: int) -> None:
    assert run_lanes([], lane, lambda *_: None, workers) == (0, None)
