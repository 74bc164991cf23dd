"""handlers.lanes: per-lane order, real concurrency, the lowest failure, the caller's context;
and Calls: bounded, ordered, keys never overlapping, nothing after a failure."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Any

import pytest

from handlers.batch import Failure, Outcome
from handlers.lanes import Calls, run_lanes

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


# -- Calls: calls made while the next ones are prepared --------------------------------------


def test_calls_run_at_once_up_to_the_bound_and_all_finish() -> None:
    # three calls meet at a barrier: only possible when three run at once
    barrier = threading.Barrier(3, timeout=10)
    done: list[int] = []
    calls = Calls(3)
    for first in (0, 10, 20):
        assert calls.submit(first, lambda f=first: (barrier.wait() and None) or done.append(f))
    assert calls.finish() is None
    assert sorted(done) == [0, 10, 20]


def test_calls_sharing_a_key_never_overlap_and_start_in_order() -> None:
    """Calls 0 and 20 share key 'a'; 10 and 30 have keys of their own. 0 holds until 10 and
    30 are running (so the others overlap it); 20 must start after 0 returned."""
    events = {n: threading.Event() for n in (0, 10, 20, 30)}
    running: set[str] = set()
    clashes: list[int] = []
    order: list[int] = []
    lock = threading.Lock()

    def call(first: int, keys: set[str]) -> Callable[[], Outcome | None]:
        def run() -> None:
            with lock:
                if running & keys:
                    clashes.append(first)
                running.update(keys)
                order.append(first)
            events[first].set()
            if first == 0:
                assert events[10].wait(10) and events[30].wait(10)
            with lock:
                running.difference_update(keys)

        return run

    calls = Calls(4)
    for first, keys in ((0, {"a", "b"}), (10, {"c"}), (20, {"a"}), (30, {"d"})):
        assert calls.submit(first, call(first, keys), frozenset(keys))
    assert calls.finish() is None
    assert clashes == [] and sorted(order) == [0, 10, 20, 30]
    assert order.index(0) < order.index(20) and order.index(30) < order.index(20)


def test_after_a_failure_no_later_call_starts_and_the_lowest_failure_wins() -> None:
    """Two threads: call 0 runs until the end; call 10 fails at 13 once call 20 is queued
    behind them; call 20 never starts (after the failure), and call 0's later failure at 5,
    the lowest, is the outcome."""
    started: list[int] = []
    queued, failed = threading.Event(), threading.Event()

    def first_call() -> Outcome:
        started.append(0)
        assert failed.wait(10)
        return Outcome(5, Failure.TRANSIENT, "late, but lower")

    def second_call() -> Outcome:
        started.append(10)
        assert queued.wait(10)
        return Outcome(13, Failure.POISON, "bad entry")

    with Calls(2) as calls:
        assert calls.submit(0, first_call)
        assert calls.submit(10, second_call)
        assert calls.submit(20, lambda: started.append(20))  # both threads busy: queued
        queued.set()
        while calls.submit(30, lambda: started.append(30)):  # refused once 10 has failed
            pass
        failed.set()
        outcome = calls.finish()
    assert outcome == Outcome(5, Failure.TRANSIENT, "late, but lower")
    assert sorted(started) == [0, 10]


def test_an_exception_in_a_call_is_raised_by_finish() -> None:
    calls = Calls(2)
    calls.submit(0, lambda: None)
    calls.submit(10, lambda: (_ for _ in ()).throw(KeyError("boom")))
    with pytest.raises(KeyError, match="boom"):
        calls.finish()


def test_one_worker_calls_inline_and_stops_at_the_first_failure() -> None:
    made: list[int] = []

    def call(first: int) -> Callable[[], Outcome | None]:
        def run() -> Outcome | None:
            assert threading.current_thread() is threading.main_thread()
            made.append(first)
            return Outcome(first + 2, Failure.POISON, "x") if first == 10 else None

        return run

    calls = Calls(1)
    assert calls.submit(0, call(0)) and not calls.submit(10, call(10))
    assert not calls.submit(20, call(20))
    assert calls.finish() == Outcome(12, Failure.POISON, "x") and made == [0, 10]


def test_calls_run_in_the_callers_context() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("v", default="unset")
    var.set("caller")
    seen: list[str] = []
    calls = Calls(3)
    for first in (0, 10, 20):
        calls.submit(first, lambda: seen.append(var.get()))
    assert calls.finish() is None and seen == ["caller"] * 3
