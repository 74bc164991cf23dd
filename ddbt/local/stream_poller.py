"""Stream pollers: one reader per (mapping, shard), ``ParallelizationFactor`` lanes per shard.

The reader polls GetRecords (about 4 times a second when idle), converts records to Lambda's
shape, drops records that match no filter (they count as processed), and hands the rest to a
lane chosen by a hash of the partition key (``lane_of``), so records of one key stay in order.
Each lane forms batches (``BatchSize``, 6 MB of invocation payload: records in their event
form, not their ``SizeBytes``; ``MaximumBatchingWindowInSeconds`` counted from the end of
the previous invocation, or from the first record read by an idle lane) and delivers them
with ``engine.BatchRunner``, one at a time.

``ParallelizationFactor`` (the conformance corpus, ``cases/delivery``): up to that many
batches of the shard run at once (``ShardPoller.max_in_flight`` counts them), split by
partition key; a batch completes, retried or bisected within its own records, before the
next one of its keys (AWS: records with the same partition key are processed in order). AWS
does not say whether a failing batch holds back the shard's other concurrent batches; here
it holds only its lane (the others go on), and its failure record's range can therefore hold
other lanes' records.

The shard checkpoint is the highest sequence number below which every record is done; it is
persisted after every advance, so a restart resumes after it. With several lanes, records
other lanes did past it are delivered again, in new batches (AWS does not document what its
checkpoint is at a factor above 1; the handlers' bound under this reading is measured in
tests/reliability/test_parallel.py).

Tumbling windows (``TumblingWindowInSeconds``) group records by ApproximateCreationDateTime
into aligned windows per lane (guess: with ParallelizationFactor > 1 each lane has its own
window state); a window's final invocation (``isFinalInvokeForWindow``, no records) happens
when a record of a later window arrives or the window has been over for ``window_grace``
seconds. A state above 1 MB (``PollerOptions.window_state_limit``) ends the window early:
one invocation without records says ``isWindowTerminatedEarly``, then the window goes on
with a fresh state (``_Lane._end_window_early_if_large``).

Records the stream trimmed (24 hours) before they were read cannot be read any more
(``TrimmedDataAccessException``): the reader moves to the shard's oldest record, as Lambda
does, and logs the gap; records read but not delivered before they expire go to the
on-failure destination as ``RecordAgeExceeded`` (``engine.BatchRunner``).
"""

from __future__ import annotations

import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from ddbt.local.engine import (
    Attempt,
    BatchRunner,
    DiscardedBatch,
    InvokeResult,
    Stopped,
    Window,
)
from ddbt.local.model import (
    PAYLOAD_LIMIT_BYTES,
    MappingSettings,
    Rec,
    make_rec,
    payload_size,
)
from ddbt.local.polling import PollerOptions
from ddbt.local.shard_checkpoints import ShardCheckpoints

__all__ = ["MappingPoller", "ShardPoller", "lane_of", "next_batch"]


class _Tracker:
    """Records of one shard in read order; the checkpoint is the end of the done prefix."""

    def __init__(self, on_advance: Callable[[str], None]) -> None:
        self._order: deque[list[Any]] = deque()  # [seq, done]
        self._index: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        self._on_advance = on_advance

    def add(self, seq: str, done: bool = False) -> None:
        entry = [seq, done]
        with self._lock:
            self._order.append(entry)
            self._index[seq] = entry
        if done:
            self._advance()

    def done(self, seqs: Sequence[str]) -> None:
        with self._lock:
            for seq in seqs:
                entry = self._index.get(seq)
                if entry is not None:
                    entry[1] = True
        self._advance()

    def pending(self) -> int:
        with self._lock:
            return len(self._order)

    def _advance(self) -> None:
        last = None
        with self._lock:
            while self._order and self._order[0][1]:
                last = self._order.popleft()[0]
                self._index.pop(last, None)
        if last is not None:
            self._on_advance(last)


class _Lane(threading.Thread):
    def __init__(self, shard: ShardPoller, index: int) -> None:
        super().__init__(
            name=f"lane-{shard.settings.uuid[:8]}-{shard.shard_id[-8:]}-{index}", daemon=True
        )
        self.shard = shard
        self.index = index
        self.buffer: deque[Rec] = deque()
        self.cond = threading.Condition()
        self.busy = False
        s = shard.settings
        self.runner = BatchRunner(
            s,
            shard.shard_id,
            self._invoke,
            on_failure=shard.on_failure,
            on_done=shard.on_done,
            on_attempt=self._on_attempt,
            clock=shard.clock,
            retry_delay=shard.options.retry_delay,
            max_retry_delay=shard.options.max_retry_delay,
            should_stop=shard.stop_event.is_set,
            keep_state_on_partial=shard.options.keep_state_on_partial,
        )
        self.window: Window | None = None
        self.first_put = 0.0
        stored = shard.store.get(s.uuid, shard.shard_id)
        saved = stored.get(f"window-{index}")
        if saved and s.tumbling_window:
            self.window = Window(saved["start"], saved["end"], dict(saved.get("state") or {}))
        # The records of the invocation in flight when a previous runtime died (killed, so
        # it could not finish the batch): redelivered first, exactly (see _replay).
        self.replay: dict[str, str] | None = None
        inflight = stored.get(f"inflight-{index}")
        if isinstance(inflight, dict) and not s.tumbling_window:
            self.replay = {"first": str(inflight["first"]), "last": str(inflight["last"])}
        self.replay_until = 0.0

    # -- the invocation in flight, persisted so that a restart redelivers it as it was ---
    def _inflight(self, first: str | None, last: str | None = None) -> None:
        value = None if first is None else {"first": first, "last": last}
        self.shard.store.update(
            self.shard.settings.uuid, self.shard.shard_id, **{f"inflight-{self.index}": value}
        )

    def _invoke(self, event: dict[str, Any]) -> Any:
        records = event.get("Records") or []
        if records and not self.shard.settings.tumbling_window:
            self._inflight(
                records[0]["dynamodb"]["SequenceNumber"],
                records[-1]["dynamodb"]["SequenceNumber"],
            )
        return self.shard.call(event)

    def _on_attempt(self, attempt: Attempt) -> None:
        # After a partial failure Lambda retries from the lowest reported record: that is
        # where a restart must resume too (not at the first record of the batch).
        if attempt.verdict == "partial" and attempt.failed_from is not None:
            rest = attempt.records[attempt.failed_from :]
            if rest and not self.shard.settings.tumbling_window:
                self._inflight(rest[0].seq, rest[-1].seq)
        self.shard.on_attempt(attempt)

    def _replay(self) -> list[Rec] | None:
        """The batch that was in flight when a previous runtime was killed, re-formed exactly
        (records ``first`` to ``last``), once its last record is read again; None while
        waiting, or when it no longer applies (then ``self.replay`` is cleared).

        Why: Lambda retries a batch whose invocation ended without a result as the same
        batch (whole or bisected), and handlers rely on it: analytics records its progress
        at the first record and the bisect points of the batch it committed. A restart that
        cut the same records into a shorter first batch would start the next delivery at a
        record no progress entry names, and that record would be counted again.
        """
        assert self.replay is not None
        first, last = self.replay["first"], self.replay["last"]
        if self.buffer[0].seq != first:
            self.replay = None  # the checkpoint moved past it (or another lane's record)
            return None
        for i, rec in enumerate(self.buffer):
            if rec.seq == last:
                self.replay = None
                return [self.buffer.popleft() for _ in range(i + 1)]
        now = self.shard.clock()
        if not self.replay_until:
            self.replay_until = now + 10.0  # guess: the reader refills within seconds
        if len(self.buffer) >= self.shard.settings.batch_size or now > self.replay_until:
            self.replay = None  # not found as expected: batch as usual
        return None

    def put(self, rec: Rec) -> None:
        self.put_many([rec])

    def put_many(self, recs: Sequence[Rec]) -> None:
        """Buffer records read together, waking the lane once: a batch never cuts a read in
        two because the lane woke up between its records."""
        with self.cond:
            if not self.buffer:
                self.first_put = self.shard.clock()
            self.buffer.extend(recs)
            self.cond.notify()

    def idle(self) -> bool:
        with self.cond:
            return not self.buffer and not self.busy

    def _save_window(self) -> None:
        w = self.window
        value = None if w is None else {"start": w.start, "end": w.end, "state": w.state}
        self.shard.store.update(
            self.shard.settings.uuid, self.shard.shard_id, **{f"window-{self.index}": value}
        )

    def _take(self) -> tuple[list[Rec], bool]:
        """Wait for the next batch; (records, close_window_first)."""
        s = self.shard.settings
        opened = self.shard.clock()
        with self.cond:
            while not self.shard.stop_event.is_set():
                now = self.shard.clock()
                if s.tumbling_window and self.window is not None:
                    first = self.buffer[0] if self.buffer else None
                    later = first is not None and first.arrival >= self.window.end
                    grace = self.shard.options.window_grace
                    over = first is None and now >= self.window.end + grace
                    if later or over:
                        return [], True
                if self.buffer and self.replay is not None:
                    replayed = self._replay()
                    if replayed:
                        self.busy = True
                        return replayed, False
                    if self.replay is not None:
                        self.cond.wait(self.shard.options.poll_interval)
                        continue
                if self.buffer:
                    # The batching window opens when the previous invocation ends, or, when
                    # nothing was buffered, with the first record read after that (guess: an
                    # idle lane does not invoke a late record immediately).
                    deadline = max(opened, self.first_put) + s.batching_window
                    room = PAYLOAD_LIMIT_BYTES - self._envelope_size()
                    full = len(self.buffer) >= s.batch_size
                    size = sum(r.size for r in self.buffer)
                    if full or size >= room or now >= deadline:
                        count = next_batch(self.buffer, s.batch_size, room, s.tumbling_window)
                        self.busy = True
                        return [self.buffer.popleft() for _ in range(count)], False
                wait = self.shard.options.poll_interval
                if self.buffer:
                    deadline = max(opened, self.first_put) + s.batching_window
                    wait = min(wait, max(0.01, deadline - now))
                self.cond.wait(wait)
        return [], False

    def _envelope_size(self) -> int:
        """Payload bytes of an invocation besides its records: ``{"Records":[]}`` and, in a
        tumbling window, the window fields with the state (up to 1 MB of it)."""
        event: dict[str, Any] = {"Records": []}
        if self.shard.settings.tumbling_window:
            window = self.window or Window(0.0, 0.0)
            event.update(window.fields(self.shard.shard_id, self.shard.settings.stream_arn))
        return payload_size(event)

    def _end_window_early_if_large(self) -> None:
        """AWS ends a tumbling window early when its state passes 1 MB per shard
        (``PollerOptions.window_state_limit``, lower in tests): one invocation without
        records says ``isWindowTerminatedEarly`` (and ``isFinalInvokeForWindow`` only with
        ``early_end_marks_final``: AWS does not say) with that state; the same window then
        continues with a fresh, empty state."""
        window = self.window
        options = self.shard.options
        if window is None or payload_size(window.state) <= options.window_state_limit:
            return
        window.terminated_early = True
        window.final = options.early_end_marks_final
        try:
            self.runner.deliver([], window)
        finally:
            window.state = {}
            window.terminated_early = window.final = False

    def run(self) -> None:
        s = self.shard.settings
        try:
            while not self.shard.stop_event.is_set():
                batch, close = self._take()
                if self.shard.stop_event.is_set():
                    break
                try:
                    if close:
                        assert self.window is not None
                        with self.cond:
                            self.busy = True
                        self.window.final = True
                        self.runner.deliver([], self.window)
                        self.window = None
                        self._save_window()
                        continue
                    if not batch:
                        continue
                    if s.tumbling_window:
                        start = _window_start(batch[0].arrival, s.tumbling_window)
                        if self.window is None or start > self.window.start:
                            self.window = Window(start, start + s.tumbling_window)
                        self.runner.deliver(batch, self.window)
                        self._end_window_early_if_large()
                        self._save_window()
                    else:
                        self.runner.deliver(batch)
                        self._inflight(None)  # every record done or sent to the destination
                finally:
                    with self.cond:
                        self.busy = False
        except Stopped:
            pass
        except Exception as exc:  # a bug must not kill the poller silently
            self.shard.log(f"lane {self.name} crashed: {exc!r}")
            raise


def lane_of(key: str, lanes: int) -> int:
    """The lane (0 to ``lanes - 1``) of a record whose partition key identity is ``key``
    (``Rec.key``): a hash of the key, so every record of a key goes to one lane and keeps its
    order there. AWS assigns records to a shard's concurrent batches by partition key too,
    with a hash it does not document (so nothing outside the runtime may rely on this one)."""
    return zlib.crc32(key.encode()) % lanes


def _window_start(arrival: float, size: int) -> float:
    return float(int(arrival) // size * size)


def next_batch(buffer: Sequence[Rec], batch_size: int, room: int, tumbling_window: int) -> int:
    """How many leading records of ``buffer`` form the next invocation: at most
    ``batch_size``, within ``room`` payload bytes (at least one record: a record too large
    for any batch is invoked alone, and fails as it would on AWS), all in one tumbling
    window."""
    count = total = 0
    for rec in buffer:
        if count >= batch_size or (count and total + rec.size > room):
            break
        if (
            tumbling_window
            and count
            and _window_start(rec.arrival, tumbling_window)
            != _window_start(buffer[0].arrival, tumbling_window)
        ):
            break
        count += 1
        total += rec.size
    return count


class ShardPoller:
    """Reads one shard for one mapping and feeds its lanes."""

    def __init__(
        self,
        settings: MappingSettings,
        shard_id: str,
        *,
        streams: Any,
        invoke: Callable[[dict[str, Any]], InvokeResult],
        on_failure: Callable[[DiscardedBatch], None],
        store: ShardCheckpoints,
        hash_key: str | None,
        options: PollerOptions,
        initial: bool,
        observer: Any = None,
        clock: Callable[[], float] = time.time,
        log: Callable[[str], None] = print,
    ) -> None:
        self.settings = settings
        self.shard_id = shard_id
        self.streams = streams
        self.invoke = invoke
        self._on_failure = on_failure
        self.store = store
        self.hash_key = hash_key
        self.options = options
        self.initial = initial  # existed when the mapping started (LATEST applies)
        self.observer = observer
        self.clock = clock
        self.log = log
        self.stop_event = threading.Event()
        self.closed = False  # the shard has ended and everything was read
        self.caught_up_at = 0.0  # start time of the last GetRecords that returned nothing
        self.tracker = _Tracker(self._checkpoint)
        # Invocations of this shard in flight now, and the most seen at once.
        self.in_flight = 0
        self.max_in_flight = 0
        self._flight = threading.Lock()
        self.lanes = [_Lane(self, i) for i in range(settings.parallelization_factor)]
        self.reader = threading.Thread(
            target=self._read, daemon=True, name=f"reader-{settings.uuid[:8]}-{shard_id[-8:]}"
        )

    # -- callbacks from lanes ------------------------------------------------------------
    def call(self, event: dict[str, Any]) -> InvokeResult:
        """Invoke the function for one of this shard's lanes, counting the invocations in
        flight at once (``max_in_flight``; the observer hears each new count)."""
        with self._flight:
            self.in_flight += 1
            now = self.in_flight
            self.max_in_flight = max(self.max_in_flight, now)
        if self.observer is not None:
            self.observer.in_flight(self.settings.uuid, self.shard_id, now)
        try:
            return self.invoke(event)
        finally:
            with self._flight:
                self.in_flight -= 1

    def on_done(self, records: Sequence[Rec]) -> None:
        self.tracker.done([r.seq for r in records])
        if self.observer is not None:
            self.observer.done(self.settings.uuid, records)

    def on_failure(self, failure: DiscardedBatch) -> None:
        if self.observer is not None:
            self.observer.failure(self.settings.uuid, self.settings.function_arn, failure)
        self._on_failure(failure)

    def on_attempt(self, attempt: Attempt) -> None:
        if self.observer is not None:
            self.observer.attempt(
                self.settings.uuid, self.settings.function_arn, self.shard_id, attempt
            )

    def _checkpoint(self, seq: str) -> None:
        self.store.update(self.settings.uuid, self.shard_id, seq=seq)

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        for lane in self.lanes:
            lane.start()
        self.reader.start()

    def stop(self, timeout: float | None = None) -> None:
        self.stop_event.set()
        for lane in self.lanes:
            with lane.cond:
                lane.cond.notify_all()
        self.reader.join(timeout)
        for lane in self.lanes:
            lane.join(timeout)

    @property
    def finished(self) -> bool:
        return (
            self.closed
            and self.tracker.pending() == 0
            and all(lane.idle() for lane in self.lanes)
            and all(lane.window is None for lane in self.lanes)
        )

    def idle(self) -> bool:
        """Nothing buffered or in flight (read position may still be behind the stream)."""
        return self.tracker.pending() == 0 and all(lane.idle() for lane in self.lanes)

    # -- reading -------------------------------------------------------------------------
    def _iterator(self, not_before: list[float]) -> str | None:
        saved = self.store.get(self.settings.uuid, self.shard_id)
        arn = self.settings.stream_arn
        kwargs: dict[str, Any] = {"StreamArn": arn, "ShardId": self.shard_id}
        if saved.get("seq"):
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=saved["seq"])
            not_before[0] = float(saved.get("not_before") or 0)
        elif "start" in saved:
            kwargs["ShardIteratorType"] = saved["start"]
            not_before[0] = float(saved.get("not_before") or 0)
        else:
            start = self.settings.starting_position if self.initial else "TRIM_HORIZON"
            if start == "LATEST" and self.options.latest_from_mapping_time:
                start, not_before[0] = "TRIM_HORIZON", self.settings.last_modified
            # Decided once: a restart must not move a LATEST start forward.
            self.store.update(
                self.settings.uuid, self.shard_id, start=start, not_before=not_before[0]
            )
            kwargs["ShardIteratorType"] = start
        try:
            return str(self.streams.get_shard_iterator(**kwargs)["ShardIterator"])
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code == "TrimmedDataAccessException":
                self.log(f"{self.shard_id}: checkpoint is past retention; TRIM_HORIZON")
                kwargs = {
                    "StreamArn": arn,
                    "ShardId": self.shard_id,
                    "ShardIteratorType": "TRIM_HORIZON",
                }
                return str(self.streams.get_shard_iterator(**kwargs)["ShardIterator"])
            raise

    def _past_trimmed(self, last_read: str | None) -> str | None:
        """An iterator at the shard's oldest retained record, after records the stream
        trimmed before they were read (Lambda moves past them; they cannot be named, so
        they are logged as a gap)."""
        self.log(
            f"{self.shard_id}: records after {last_read or 'the start'} expired from the stream "
            "before they were read (TrimmedDataAccessException); reading on from the oldest "
            "retained record"
        )
        try:
            return str(
                self.streams.get_shard_iterator(
                    StreamArn=self.settings.stream_arn,
                    ShardId=self.shard_id,
                    ShardIteratorType="TRIM_HORIZON",
                )["ShardIterator"]
            )
        except Exception as exc:  # retried by the read loop
            self.log(f"{self.shard_id}: GetShardIterator TRIM_HORIZON failed ({exc})")
            return None

    def _read(self) -> None:
        not_before = [0.0]
        iterator: str | None = None
        last_read: str | None = None
        matcher = self.settings.matcher
        errors = 0
        while not self.stop_event.is_set():
            try:
                if iterator is None:
                    if last_read is not None:
                        iterator = self.streams.get_shard_iterator(
                            StreamArn=self.settings.stream_arn,
                            ShardId=self.shard_id,
                            ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                            SequenceNumber=last_read,
                        )["ShardIterator"]
                    else:
                        iterator = self._iterator(not_before)
                if self.tracker.pending() >= self.options.max_buffered:
                    self.stop_event.wait(self.options.poll_interval)
                    continue
                asked_at = time.time()
                response = self.streams.get_records(ShardIterator=iterator, Limit=1000)
                errors = 0
            except Exception as exc:
                code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
                if code == "ExpiredIteratorException":
                    iterator = None
                    continue
                if code == "TrimmedDataAccessException":
                    # Past retention: asking again after the last record read fails forever.
                    iterator = self._past_trimmed(last_read)
                    continue
                errors += 1
                if self.observer is not None:  # says plainly that the mapping is stalled
                    self.observer.read_failed(self.settings.uuid, self.shard_id, str(exc))
                elif errors in (1, 10) or errors % 100 == 0:
                    self.log(f"{self.shard_id}: GetRecords failed ({exc}); retrying")
                iterator = None
                self.stop_event.wait(min(5.0, self.options.poll_interval * 2 ** min(errors, 5)))
                continue
            records = response.get("Records") or []
            if self.observer is not None:
                self.observer.read_ok(self.settings.uuid, self.shard_id, len(records))
            filtered = 0
            by_lane: dict[int, list[Rec]] = {}
            for raw in records:
                rec = make_rec(raw, self.settings.stream_arn, self.hash_key)
                last_read = rec.seq
                if rec.arrival < not_before[0]:
                    self.tracker.add(rec.seq, done=True)  # before a LATEST start
                elif not matcher(rec.event):
                    filtered += 1
                    self.tracker.add(rec.seq, done=True)
                else:
                    self.tracker.add(rec.seq)
                    by_lane.setdefault(lane_of(rec.key, len(self.lanes)), []).append(rec)
            # Each lane gets the records of this read at once (Lambda batches what a read
            # returned, up to BatchSize; a lane woken per record cut batches of one).
            for lane, recs in by_lane.items():
                self.lanes[lane].put_many(recs)
            if filtered and self.observer is not None:
                self.observer.filtered(self.settings.uuid, filtered)
            iterator = response.get("NextShardIterator")
            if iterator is None:
                self.closed = True
                return
            if not records:
                self.caught_up_at = asked_at
                self.stop_event.wait(self.options.poll_interval)


class MappingPoller:
    """All shards of one mapping's stream, parents before children."""

    def __init__(
        self,
        settings: MappingSettings,
        *,
        streams: Any,
        invoke: Callable[[dict[str, Any]], InvokeResult],
        on_failure: Callable[[DiscardedBatch], None],
        store: ShardCheckpoints,
        options: PollerOptions,
        observer: Any = None,
        clock: Callable[[], float] = time.time,
        log: Callable[[str], None] = print,
    ) -> None:
        self.settings = settings
        self.streams = streams
        self.invoke = invoke
        self.on_failure = on_failure
        self.store = store
        self.options = options
        self.observer = observer
        self.clock = clock
        self.log = log
        self.shards: dict[str, ShardPoller] = {}
        self.stop_event = threading.Event()
        self.thread = threading.Thread(
            target=self._run, daemon=True, name=f"mapping-{settings.uuid[:8]}"
        )
        self._known_initial: set[str] | None = None

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self.stop_event.set()
        self.thread.join(timeout)
        for shard in list(self.shards.values()):
            shard.stop(timeout)

    def idle(self) -> bool:
        return all(s.idle() for s in self.shards.values())

    def _describe(self) -> tuple[list[dict[str, Any]], str | None]:
        shards: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"StreamArn": self.settings.stream_arn}
        hash_key = None
        while True:
            desc = self.streams.describe_stream(**kwargs)["StreamDescription"]
            shards.extend(desc.get("Shards") or [])
            for k in desc.get("KeySchema") or []:
                if k.get("KeyType") == "HASH":
                    hash_key = k["AttributeName"]
            last = desc.get("LastEvaluatedShardId")
            if not last:
                return shards, hash_key
            kwargs["ExclusiveStartShardId"] = last

    def _run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self._refresh()
            except Exception as exc:
                if self.observer is not None:
                    self.observer.read_failed(self.settings.uuid, "stream", str(exc))
                else:
                    self.log(f"mapping {self.settings.uuid[:8]}: DescribeStream failed: {exc}")
            else:
                if self.observer is not None:
                    self.observer.read_ok(self.settings.uuid, "stream")
            self.stop_event.wait(self.options.shard_refresh)

    def _refresh(self) -> None:
        shards, hash_key = self._describe()
        saved = self.store.shards(self.settings.uuid)
        ids = {s["ShardId"] for s in shards}
        if self._known_initial is None:
            # Shards open when the mapping starts get StartingPosition; later ones (children
            # after a split or rollover) start at TRIM_HORIZON.
            self._known_initial = (
                {
                    s["ShardId"]
                    for s in shards
                    if "EndingSequenceNumber" not in s.get("SequenceNumberRange", {})
                }
                if self.settings.starting_position == "LATEST"
                else ids
            )
        for shard_id, poller in list(self.shards.items()):
            if poller.finished and not saved.get(shard_id, {}).get("finished"):
                poller.stop()
                self.store.update(self.settings.uuid, shard_id, finished=True)
                saved = self.store.shards(self.settings.uuid)
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id in self.shards or saved.get(shard_id, {}).get("finished"):
                continue
            closed = "EndingSequenceNumber" in shard.get("SequenceNumberRange", {})
            parent = shard.get("ParentShardId")
            if parent and parent in ids and not saved.get(parent, {}).get("finished"):
                continue  # parent first
            if self.settings.starting_position == "LATEST" and closed and not saved.get(shard_id):
                # A LATEST mapping does not read shards that were already closed.
                self.store.update(self.settings.uuid, shard_id, finished=True)
                continue
            poller = ShardPoller(
                self.settings,
                shard_id,
                streams=self.streams,
                invoke=self.invoke,
                on_failure=self.on_failure,
                store=self.store,
                hash_key=hash_key,
                options=self.options,
                initial=shard_id in (self._known_initial or set()),
                observer=self.observer,
                clock=self.clock,
                log=self.log,
            )
            self.shards[shard_id] = poller
            if self.stop_event.is_set():
                return
            poller.start()
