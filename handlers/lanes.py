"""Overlapping round trips: a batch's sink calls on several threads, with the batch engine's
failure contract kept (``Outcome``: every record before the reported position was applied).

Two shapes:

* ``run_lanes``: all the work is known up front and goes into lanes by a key; each lane runs
  its steps in order, up to ``workers`` lanes at once. The view and replicate processors write
  one lane per target item (``handlers.versioned``), so an item's writes keep their order,
  which is what ``remove_at_current`` (the only write that is not commutative) needs; the
  other writes are conditional on the ordering value, so their final result does not depend
  on the order in which different items' lanes run.
* ``run_calls``: the work is produced while earlier calls are in flight (the publishers build
  the next ``PublishBatch``/``PutEvents`` entries while the previous calls wait; the ETL
  processor writes its partition objects): the calls come from an iterator that whichever
  thread is free to make the next call advances, so preparing a call and making it happen
  in the same thread (no hand-over per call); calls start in their order, at most
  ``workers`` at once, and calls that share a key (an SNS FIFO message group) never overlap
  and keep their order.

Failures: the lowest failed position is reported. Work before it always runs to the end (it
is in a lane or call that either finished it or failed later), so it was applied; work after
a failure already found is skipped: Lambda redelivers it, and redelivery is idempotent (the
view's and replicator's conditional writes, the ETL's object keys) or at least once (the
publishers, documented), so work done on records after the reported position is only wasted,
never wrong.

Threads: the work runs on threads kept for the life of the runtime (like the clients: made
on demand, never more than were ever needed at once, parked between invocations), because
making a thread costs about as much CPU as a hundred calls handed to one; and a thread is
woken only when the threads already at work are all waiting on a sink, because waking one
costs more CPU than a call that returns at once. Each piece of work runs in a copy of the
caller's ``contextvars`` context, so AWS calls in it retry within the
batch's time budget (``handlers.retry.budgeted``) as they would in the caller's thread.
``workers <= 1`` runs everything in the caller's thread, exactly as a plain loop that stops
at the first failure.
"""

from __future__ import annotations

import contextvars
import itertools
import math
import queue
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from functools import partial
from typing import Generic, TypeVar

from handlers.batch import Outcome

__all__ = ["NO_KEYS", "Call", "run_calls", "run_lanes"]

T = TypeVar("T")
P = TypeVar("P")
NO_KEYS: frozenset[Hashable] = frozenset()  # a call that waits for no other


class _Threads:
    """Threads that run jobs for the life of the runtime. ``start(job)`` hands ``job`` to an
    idle thread, or to a new one when none is idle: a job never waits for a thread, so jobs
    may wait for one another (a lane for a call) without a deadlock. Jobs catch their own
    errors (``run_calls``, ``run_lanes``)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._idle = 0
        self._lock = threading.Lock()
        self._made = itertools.count(1)  # names: one number per thread ever made

    def start(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._idle:
                self._idle -= 1  # that thread takes this job
            else:
                name = f"ddbt-worker-{next(self._made)}"
                threading.Thread(target=self._work, name=name, daemon=True).start()
        self._jobs.put(job)

    def _work(self) -> None:
        while True:
            self._jobs.get()()
            with self._lock:
                self._idle += 1


_THREADS = _Threads()


def run_lanes(
    records: Sequence[T],
    lane_of: Callable[[T], Hashable],
    step: Callable[[int, T], object],
    workers: int,
) -> tuple[int, BaseException | None]:
    """Run ``step(position, record)`` for every record, records with the same ``lane_of``
    in order, lanes concurrently on up to ``workers`` threads. Returns ``(len(records),
    None)`` when every step returned, else the lowest position whose step raised and the
    exception it raised (records before it were all stepped, see the module docstring).
    ``lane_of`` must not raise: give records it cannot place one shared lane."""
    stop = [len(records)]
    error: list[BaseException | None] = [None]
    lock = threading.Lock()

    def run(positions: Sequence[int]) -> None:
        for position in positions:
            if position > stop[0]:
                return  # after a failure already found: Lambda redelivers it
            try:
                step(position, records[position])
            except BaseException as exc:  # reported to the caller, never swallowed
                with lock:
                    if position < stop[0]:
                        stop[0] = position
                        error[0] = exc
                return

    lanes: dict[Hashable, list[int]] = {}
    if workers > 1:
        for position, record in enumerate(records):
            lanes.setdefault(lane_of(record), []).append(position)
    threads = min(workers, len(lanes))
    if threads <= 1:
        run(range(len(records)))
        return stop[0], error[0]
    # Each runner takes the next lane until none is left (lanes in the order of their first
    # record, so the work goes roughly in batch order and an early failure is found early).
    # A runner is started only while lanes are left to take: when steps return at once, the
    # first runners take every lane and no more are started.
    pending = list(lanes.values())
    taken = [0]
    running = [0]
    done = threading.Condition(lock)

    def work() -> None:
        while True:
            with lock:
                if taken[0] == len(pending):
                    running[0] -= 1
                    done.notify_all()
                    return
                positions = pending[taken[0]]
                taken[0] += 1
            run(positions)

    started = 0
    while started < threads:
        with lock:
            if taken[0] == len(pending):
                break
            running[0] += 1
        _THREADS.start(partial(contextvars.copy_context().run, work))
        started += 1
    with lock:
        done.wait_for(lambda: running[0] == 0)
    return stop[0], error[0]


Call = tuple[int, frozenset[Hashable], P]


def run_calls(
    calls: Iterable[Call[P]], send: Callable[[P], Outcome | None], workers: int
) -> Outcome | None:
    """Make ``send(payload)`` for each ``(first, keys, payload)`` of ``calls``, up to
    ``workers`` at once; the failure at the lowest position, or None when every call
    succeeded.

    ``calls`` is consumed lazily, in order, by whichever thread is free to make the next
    call (under a lock, so it is never resumed by two threads at once): the caller's thread
    prepares and makes calls itself, and another thread joins only when every thread making
    calls is inside one (waiting on its sink) while calls may be left, and a thread that
    finds the lock taken waits for the GIL, not on the lock (``_acquire``): calls that
    return at once cost no hand-over or wake-up per call.

    ``first`` is the position of the call's first record; ``send`` returns None when the
    call succeeded, else the ``Outcome`` of its failure (``done`` = the failed position).
    Calls start in their order; a call whose ``keys`` meet those of a call in flight, or of
    an earlier call still waiting, waits for it (calls that share a key never overlap and
    keep their order). Once a call failed, no call after the failed position starts and
    ``calls`` is not consumed further. Every call started ends before this returns; an
    exception raised by ``calls`` (first) or by a call (the lowest) is raised again then.
    ``workers <= 1`` makes every call in the caller's thread, exactly a plain loop that
    stops at the first failure.
    """
    if workers <= 1:
        failure: Outcome | None = None
        try:
            for _, _, payload in calls:
                failure = send(payload)  # an exception propagates: a plain loop
                if failure is not None:
                    break
        finally:
            _close(calls)
        return failure
    state = _CallState(iter(calls), send, workers, contextvars.copy_context())
    try:
        state.work()
    finally:
        with state.cond:
            state.cond.wait_for(state.idle)
        _close(state.calls)
    return state.result()


def _acquire(cond: threading.Condition) -> None:
    """Take ``cond``'s lock without sleeping on it: while another thread holds it (preparing
    a call, which takes CPU and no I/O), give that thread the GIL and try again. A thread
    asleep on a lock is woken by every release (a system call and a thread switch per call
    when calls return at once); one waiting for the GIL runs only when the holder waits on a
    sink or at the interpreter's switch interval."""
    while not cond.acquire(False):
        time.sleep(0)


def _close(calls: object) -> None:
    close = getattr(calls, "close", None)
    if close is not None:
        close()  # a generator left before its end runs its cleanup here, in the caller


class _CallState(Generic[P]):
    """``run_calls``' shared state, under ``cond``."""

    __slots__ = (
        "active",
        "busy",
        "calls",
        "cond",
        "context",
        "error",
        "exhausted",
        "failure",
        "raised",
        "running",
        "send",
        "stop",
        "waiting",
        "workers",
    )

    def __init__(
        self,
        calls: Iterator[Call[P]],
        send: Callable[[P], Outcome | None],
        workers: int,
        context: contextvars.Context,
    ) -> None:
        self.calls = calls
        self.send = send
        self.workers = workers
        self.context = context  # the caller's, copied for each thread that joins
        self.cond = threading.Condition(threading.Lock())
        self.active = 1  # threads making calls (the caller's included)
        self.running = 0  # of them, those inside a call
        self.exhausted = False  # ``calls`` ended (or raised): nothing more to take from it
        self.stop: float = math.inf  # the lowest failed position so far
        self.failure: Outcome | None = None
        self.error: tuple[int, BaseException] | None = None  # a call's, the lowest
        self.raised: BaseException | None = None  # ``calls``' own
        self.waiting: list[Call[P]] = []  # taken from ``calls``, waiting for their keys
        self.busy: set[Hashable] = set()  # keys of the calls in flight

    def idle(self) -> bool:
        return self.active == 0

    def join(self) -> None:
        """The body of a thread that joins: work in a copy of the caller's context."""
        self.context.copy().run(self.work)

    def result(self) -> Outcome | None:
        if self.raised is not None:
            raise self.raised
        if self.error is not None:
            raise self.error[1]
        return self.failure

    def work(self) -> None:
        """Take the next call free to start and make it, until none is left."""
        cond = self.cond
        send = self.send
        _acquire(cond)
        try:
            while True:
                call = self._take()
                if call is None:
                    return
                first, keys, payload = call
                if keys:
                    self.busy |= keys
                self.running += 1
                more = (
                    self.running == self.active < self.workers
                    and not self.exhausted
                    and self.stop == math.inf
                )
                if more:
                    self.active += 1  # every thread here is inside a call: one more
                cond.release()
                if more:
                    _THREADS.start(self.join)  # outside the lock: it may make a thread
                result: Outcome | None = None
                error: BaseException | None = None
                try:
                    result = send(payload)
                except BaseException as exc:  # raised again by run_calls, never swallowed
                    error = exc
                finally:
                    _acquire(cond)
                self.running -= 1
                if keys:
                    self.busy -= keys
                    if self.waiting:
                        cond.notify_all()
                if error is not None:
                    if self.error is None or first < self.error[0]:
                        self.error = (first, error)
                    self.stop = min(self.stop, first)
                elif result is not None:
                    if self.failure is None or result.done < self.failure.done:
                        self.failure = result
                    self.stop = min(self.stop, result.done)
        except BaseException:
            self.stop = -1  # this thread itself failed (never a call's error): stop all
            raise
        finally:
            self.active -= 1
            cond.notify_all()
            cond.release()

    def _take(self) -> Call[P] | None:
        """The next call free to start (under the lock): a waiting one whose keys are free,
        else the next of ``calls``; waits while only calls blocked by keys in flight are
        left. None when nothing is left to start (calls after a failure are dropped)."""
        while True:
            if self.waiting:
                blocked: set[Hashable] = set()
                for i, call in enumerate(self.waiting):
                    if call[0] > self.stop:
                        del self.waiting[i:]  # in order: every later one is after it too
                        break
                    if self.busy.isdisjoint(call[1]) and blocked.isdisjoint(call[1]):
                        del self.waiting[i]
                        return call
                    blocked |= call[1]
            while not self.exhausted and self.stop == math.inf:
                try:
                    call = next(self.calls)
                except StopIteration:
                    self.exhausted = True
                    break
                except BaseException as exc:  # raised again by run_calls
                    self.exhausted = True
                    self.raised = exc
                    self.stop = -1
                    break
                keys = call[1]
                if keys and not (
                    self.busy.isdisjoint(keys) and all(w[1].isdisjoint(keys) for w in self.waiting)
                ):
                    self.waiting.append(call)  # after the call(s) holding its keys
                    continue
                return call
            if not self.waiting:
                return None
            # Each waiting call meets the keys of a call in flight (the first waiting one
            # would be free otherwise): wait for one to end.
            assert self.running
            self.cond.wait()
