"""Apply a batch's records on several threads: one lane per item, in record order per lane.

The view and replicate processors write one conditional ``PutItem`` per change. In a Lambda
function each is a network round trip (a few milliseconds in-region, tens across regions), so
a batch of 1,000 changes written one after the other spends seconds waiting, and a busy
shard falls behind. ``run_lanes`` overlaps those waits: records go into lanes by a key (the
source item's key), each lane applies its records in record order, and up to ``workers``
lanes run at once. Records of one item therefore keep their order, which is what the
conditional writes need for ``remove_at_current`` (the only write that is not commutative);
the other writes are conditional on the ordering value, so their final result does not
depend on the order in which different items' lanes run.

Failures keep the batch engine's contract (``Outcome``: the records before the reported
position were all applied). A lane stops at its first failure; the lowest failed position
is reported, with its exception; every record before it is in a lane that either finished
it or failed later, so it was applied. Lanes skip records after a failure already found:
Lambda redelivers them, and redelivery is idempotent (the conditional writes), so work done
on records after the reported position is only wasted, never wrong.

Context: each lane runs in a copy of the caller's ``contextvars`` context, so AWS calls in
lanes retry within the batch's time budget (``handlers.retry.budgeted``) as they would in the
caller's thread. ``workers <= 1`` (or a single lane) runs everything in the caller's thread,
exactly as a plain loop that stops at the first exception.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

__all__ = ["MAX_WORKERS", "run_lanes"]

T = TypeVar("T")

# boto3's connection pool holds 10 connections per client by default (max_pool_connections);
# more threads than that would wait for a connection, not for DynamoDB.
MAX_WORKERS = 10


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
    # Each thread takes the next lane until none is left (lanes in the order of their first
    # record, so the work goes roughly in batch order and an early failure is found early).
    pending = iter(list(lanes.values()))
    take = threading.Lock()

    def work() -> None:
        while True:
            with take:
                positions = next(pending, None)
            if positions is None:
                return
            run(positions)

    workers_ = [
        threading.Thread(target=contextvars.copy_context().run, args=(work,), name=f"lane-{n}")
        for n in range(threads)
    ]
    for thread in workers_:
        thread.start()
    for thread in workers_:
        thread.join()
    return stop[0], error[0]
