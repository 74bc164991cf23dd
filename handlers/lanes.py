"""Overlapping round trips: a batch's sink calls on several threads, with the batch engine's
failure contract kept (``Outcome``: every record before the reported position was applied).

Two shapes:

* ``run_lanes``: all the work is known up front and goes into lanes by a key; each lane runs
  its steps in order, up to ``workers`` lanes at once. The view and replicate processors write
  one lane per target item (``handlers.versioned``), so an item's writes keep their order,
  which is what ``remove_at_current`` (the only write that is not commutative) needs; the
  other writes are conditional on the ordering value, so their final result does not depend
  on the order in which different items' lanes run.
* ``Calls``: the work is produced while earlier calls are in flight (the publishers build
  the next ``PublishBatch``/``PutEvents`` entries while the previous calls wait; the ETL
  processor writes its partition objects): calls start in the order submitted, at most
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
making a thread costs about as much CPU as a hundred calls handed to one. Each piece of work
runs in a copy of the caller's ``contextvars`` context, so AWS calls in it retry within the
batch's time budget (``handlers.retry.budgeted``) as they would in the caller's thread.
``workers <= 1`` runs everything in the caller's thread, exactly as a plain loop that stops
at the first failure.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from handlers.batch import Outcome

__all__ = ["Calls", "run_lanes"]

T = TypeVar("T")


class _Threads:
    """Threads that run jobs for the life of the runtime. ``start(job)`` hands ``job`` to an
    idle thread, or to a new one when none is idle: a job never waits for a thread, so jobs
    may wait for one another (a lane for a call) without a deadlock. Jobs catch their own
    errors (``Calls._execute``, ``run_lanes``)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._idle = 0
        self._lock = threading.Lock()

    def start(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._idle:
                self._idle -= 1  # that thread takes this job
            else:
                name = f"ddbt-worker-{threading.active_count()}"
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


@dataclass(slots=True)
class _Call:
    first: int  # the position of the call's first record
    keys: frozenset[Hashable]
    run: Callable[[], Outcome | None]
    context: contextvars.Context  # a copy of the submitting thread's


class Calls:
    """Calls made on up to ``workers`` threads while the caller prepares the next ones.

    ``submit(first, run, keys)`` queues ``run`` (calls are submitted in record order; ``first``
    is the position of the call's first record). ``run`` returns None when it succeeded, or
    the ``Outcome`` of its failure (``done`` = the failed position). Calls start in the order
    submitted; a call whose ``keys`` meet those of a call running, or of an earlier call still
    waiting, waits for it (its keys are then in order and never in flight twice). Once a call
    failed, calls after the failed position never start, and ``submit`` returns False (the
    caller stops preparing); earlier calls still run. ``finish()`` waits for the calls and
    returns the failure at the lowest position (None when every call succeeded); an exception
    raised by a call is raised again there. Use it as a context manager (``with Calls(n) as
    calls:``), so that no call outlives the block whatever the caller raises.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._cond = threading.Condition()
        self._pending: list[_Call] = []
        self._busy: set[Hashable] = set()  # keys of the calls running
        self._drainers = 0  # threads taking calls (at most ``workers``)
        self._running = 0  # of them, those inside a call
        self._failure: Outcome | None = None
        self._error: tuple[int, BaseException] | None = None

    def _stop(self) -> int | None:
        """The lowest failed position so far (None: no failure)."""
        positions = [] if self._failure is None else [self._failure.done]
        if self._error is not None:
            positions.append(self._error[0])
        return min(positions, default=None)

    def submit(
        self, first: int, run: Callable[[], Outcome | None], keys: frozenset[Hashable] = frozenset()
    ) -> bool:
        """Queue ``run``; False (and nothing queued) once a failure is known."""
        if self.workers <= 1:
            if self._stop() is not None:
                return False
            self._note(run())  # an exception propagates: a plain loop
            return self._stop() is None
        with self._cond:
            if self._stop() is not None:
                return False
            self._pending.append(_Call(first, keys, run, contextvars.copy_context()))
            self._more()
        return True

    def _more(self) -> None:
        """Another thread taking calls, when calls wait and every thread taking them is inside
        one (waiting on its sink); calls that return at once are taken by the threads already
        there (under the lock)."""
        if self._pending and self._drainers == self._running and self._drainers < self.workers:
            self._drainers += 1
            _THREADS.start(self._drain)

    def finish(self) -> Outcome | None:
        """Wait for every call started; the failure at the lowest position, or None."""
        with self._cond:
            self._cond.wait_for(lambda: not self._drainers)
        if self._error is not None:
            raise self._error[1]
        return self._failure

    def __enter__(self) -> Calls:
        return self

    def __exit__(self, *exc: object) -> None:
        """Leaving the block (even by an exception of the caller's): no call starts any more,
        and the calls in flight end before the block does."""
        with self._cond:
            self._pending.clear()
            self._cond.wait_for(lambda: not self._drainers)

    def _note(self, result: Outcome | None) -> None:
        if result is not None and (self._failure is None or result.done < self._failure.done):
            self._failure = result

    def _take(self) -> _Call | None:
        """The first waiting call free to start (under the lock); calls after a failure are
        dropped."""
        stop = self._stop()
        blocked: set[Hashable] = set()
        for i, call in enumerate(self._pending):
            if stop is not None and call.first > stop:
                del self._pending[i:]  # submitted in order: every later one is after it too
                return None
            if call.keys and not (
                self._busy.isdisjoint(call.keys) and blocked.isdisjoint(call.keys)
            ):
                blocked |= call.keys  # a later call sharing a key waits behind this one
                continue
            del self._pending[i]
            return call
        return None

    def _drain(self) -> None:
        """Take calls free to start and make them, each in its submitter's context, until
        none is left (a call waiting for a key is taken by the thread that frees it)."""
        with self._cond:
            while True:
                call = self._take()
                if call is None:
                    self._drainers -= 1
                    self._cond.notify_all()
                    return
                self._busy |= call.keys
                self._running += 1
                self._more()
                self._cond.release()
                result: Outcome | None = None
                error: BaseException | None = None
                try:
                    result = call.context.run(call.run)
                except BaseException as exc:  # raised again by finish(), never swallowed
                    error = exc
                finally:
                    self._cond.acquire()
                self._running -= 1
                self._busy -= call.keys
                if error is not None:
                    if self._error is None or call.first < self._error[0]:
                        self._error = (call.first, error)
                else:
                    self._note(result)
