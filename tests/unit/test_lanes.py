"""handlers.lanes: per-lane order, real concurrency, the lowest failure, the caller's context;
and run_calls: bounded, ordered, keys never overlapping, nothing after a failure."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from handlers.batch import Failure, Outcome
from handlers.lanes import NO_KEYS, Call, run_calls, run_lanes

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
    threads: set[int] = set()  # idents: names may repeat

    def step(_: int, record: tuple[str, int]) -> None:
        threads.add(threading.get_ident())
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


# -- run_calls: calls made while the next ones are prepared ----------------------------------

Send = Callable[[], Outcome | None]


def make(call: Send) -> Outcome | None:
    """``run_calls``' send when each payload is the call itself."""
    return call()


def test_calls_run_at_once_up_to_the_bound_and_all_finish() -> None:
    # three calls meet at a barrier: only possible when three run at once
    barrier = threading.Barrier(3, timeout=10)
    done: list[int] = []

    def call(first: int) -> Send:
        return lambda: (barrier.wait() and None) or done.append(first)

    assert run_calls(((f, NO_KEYS, call(f)) for f in (0, 10, 20)), make, 3) is None
    assert sorted(done) == [0, 10, 20]


def test_calls_sharing_a_key_never_overlap_and_start_in_order() -> None:
    """Calls 0 and 20 share key 'a'; 10 and 30 have keys of their own. 0 holds until 10 and
    30 are running (so the others overlap it); 20 must start after 0 returned."""
    events = {n: threading.Event() for n in (0, 10, 20, 30)}
    running: set[str] = set()
    clashes: list[int] = []
    order: list[int] = []
    lock = threading.Lock()

    def call(first: int, keys: set[str]) -> Send:
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

    todo = ((0, {"a", "b"}), (10, {"c"}), (20, {"a"}), (30, {"d"}))
    assert run_calls(((f, frozenset(k), call(f, k)) for f, k in todo), make, 4) is None
    assert clashes == [] and sorted(order) == [0, 10, 20, 30]
    assert order.index(0) < order.index(20) and order.index(30) < order.index(20)


def test_calls_waiting_for_a_key_keep_their_order_behind_it() -> None:
    """Calls 0, 10 and 20 share key 'g'; 30 does not. 0 holds until 30 ran: 10 and 20 wait
    behind it, in order, while 30 overtakes them."""
    order: list[int] = []
    lock = threading.Lock()
    ran_30 = threading.Event()

    def call(first: int) -> Send:
        def run() -> None:
            if first == 0:
                assert ran_30.wait(10)
            with lock:
                order.append(first)
            if first == 30:
                ran_30.set()

        return run

    todo = ((0, "g"), (10, "g"), (20, "g"), (30, "h"))
    assert run_calls(((f, frozenset(k), call(f)) for f, k in todo), make, 4) is None
    assert order == [30, 0, 10, 20]


def test_after_a_failure_no_later_call_is_prepared_and_the_lowest_failure_wins() -> None:
    """Two threads: call 10 fails at 13 while call 0 runs; call 0 then fails at 5, lower
    though later. Calls after them are never even prepared, and 5 is the outcome."""
    prepared: list[int] = []
    failed = threading.Event()

    def first_call() -> Outcome:
        assert failed.wait(10)
        return Outcome(5, Failure.TRANSIENT, "late, but lower")

    def second_call() -> Outcome:
        failed.set()
        return Outcome(13, Failure.POISON, "bad entry")

    def calls() -> Iterator[Call[Send]]:
        for first, run in ((0, first_call), (10, second_call)):
            prepared.append(first)
            yield first, NO_KEYS, run
        for first in range(20, 1000, 10):  # far more than two threads could ever take
            prepared.append(first)
            yield first, NO_KEYS, lambda: None

    outcome = run_calls(calls(), make, 2)
    assert outcome == Outcome(5, Failure.TRANSIENT, "late, but lower")
    assert prepared == [0, 10]


def test_every_call_is_made_once() -> None:
    made: list[int] = []
    lock = threading.Lock()

    def calls() -> Iterator[Call[int]]:
        yield from ((f, NO_KEYS, f) for f in range(0, 50, 10))

    def send(first: int) -> None:
        with lock:
            made.append(first)

    assert run_calls(calls(), send, 3) is None
    assert sorted(made) == [0, 10, 20, 30, 40]


def test_an_exception_in_a_call_is_raised_after_the_others_end() -> None:
    def boom() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        run_calls(((f, NO_KEYS, c) for f, c in ((0, lambda: None), (10, boom))), make, 2)


def test_an_exception_while_preparing_calls_is_raised_and_no_call_follows() -> None:
    made: list[int] = []

    def calls() -> Iterator[Call[int]]:
        yield 0, NO_KEYS, 0
        raise ValueError("cannot prepare")

    with pytest.raises(ValueError, match="cannot prepare"):
        run_calls(calls(), made.append, 3)
    assert made == [0]


def test_one_worker_calls_inline_and_stops_at_the_first_failure() -> None:
    made: list[int] = []

    def call(first: int) -> Send:
        def run() -> Outcome | None:
            assert threading.current_thread() is threading.main_thread()
            made.append(first)
            return Outcome(first + 2, Failure.POISON, "x") if first == 10 else None

        return run

    todo = ((f, NO_KEYS, call(f)) for f in (0, 10, 20))
    assert run_calls(todo, make, 1) == Outcome(12, Failure.POISON, "x") and made == [0, 10]


def test_calls_that_return_at_once_are_made_in_the_callers_thread() -> None:
    """No hand-over when nothing waits: a thread joins only while every thread making calls
    is inside one, and calls that return at once leave the caller's thread free."""
    threads: set[str] = set()

    def send(_: int) -> None:
        threads.add(threading.current_thread().name)

    # One call: the caller makes it (a thread may be asked to join while it is inside,
    # and finds nothing left).
    assert run_calls([(0, NO_KEYS, 0)], send, 10) is None
    assert threads == {threading.current_thread().name}


def test_calls_run_in_the_callers_context() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("v", default="unset")
    var.set("caller")
    seen: list[str] = []
    barrier = threading.Barrier(3, timeout=10)

    def call() -> None:
        seen.append(var.get())
        barrier.wait()

    todo = ((f, NO_KEYS, call) for f in (0, 10, 20))
    assert run_calls(todo, make, 3) is None and seen == ["caller"] * 3
