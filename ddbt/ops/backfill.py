"""Backfill: scan a table and feed synthesized ``INSERT`` records through a processor.

* Scan: ``segments`` parallel scan segments (one thread each), ``page_size`` items per page,
  optional consistent read, rate-limited to ``read_units`` per second (token bucket fed by
  the ConsumedCapacity each Scan page reports). Batches go to the processor one at a time:
  segments running the processor concurrently would make its writes to shared items (an
  analytics aggregate every segment touches) conflict (TransactionConflict), and Lambda
  itself never runs two batches of one shard at once.
* Records: ``INSERT`` in the table's stream view type shape (``records.make_record``), with
  41-digit synthesized sequence numbers (see ``records``), the table's stream ARN (or a
  ``backfill-`` labelled one when the table has no stream), and the backfill's start time as
  ``ApproximateCreationDateTime`` (so a resumed run re-forms identical records).
* Resumable: after every batch the checkpoint file records, per segment, the key of the last
  applied item (the next Scan's ExclusiveStartKey) and the next position; a rerun with the
  same file continues there with the same run id. A batch interrupted between its side
  effects and the file write is formed again identically (same first sequence number): the
  engine's checkpoint entry at that record (analytics always writes one; any processor with
  CHECKPOINT_TABLE after a failure) makes it skip what was applied, and ETL overwrites the
  same object key.
* A failed batch stops its segment at the failed record (the file points at it); fix the
  cause and rerun to continue.
* Items changed during the scan: a Scan is not a snapshot. Each item is read as it is when
  its page is read; changes after that reach the processor through the stream (enable the
  stream and trigger first), so an item may be seen as a backfill INSERT and as a later
  stream MODIFY/REMOVE, in either order of processing; items inserted into an already scanned
  part of the key space are seen only through the stream. Processors must treat a backfill
  INSERT as "the item existed with this state at scan time".
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ddbt.ops.progress import Progress
from ddbt.ops.records import make_record, synth_sequence, wire_form
from ddbt.ops.target import Target
from handlers.getrecords import attribute_value

__all__ = ["BackfillOptions", "BackfillReport", "RateLimiter", "backfill"]


class RateLimiter:
    """Token bucket in read capacity units per second (None/0 = unlimited)."""

    def __init__(self, per_second: float | None, clock: Callable[[], float] = time.monotonic):
        self.rate = per_second or 0.0
        self._clock = clock
        self._tokens = self.rate
        self._at = clock()
        self._lock = threading.Lock()

    def spend(self, units: float) -> None:
        if self.rate <= 0:
            return
        with self._lock:
            now = self._clock()
            self._tokens = min(self.rate, self._tokens + (now - self._at) * self.rate)
            self._at = now
            self._tokens -= units
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            time.sleep(wait)


@dataclass
class BackfillOptions:
    table: str
    checkpoint: Path
    segments: int = 4
    page_size: int = 1000
    batch_size: int = 100
    consistent_read: bool = False
    read_units: float | None = None
    view_type: str | None = None
    dry_run: bool = False


@dataclass
class BackfillReport:
    items_read: int = 0
    processed: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    complete: bool = False
    stream_arn: str = ""
    run_id: int = 0

    def summary(self) -> str:
        state = "complete" if self.complete else "INCOMPLETE (rerun to resume)"
        return (
            f"backfill {state}: {self.items_read} items read, {self.processed} records "
            f"processed, {self.failed} failed"
        )


def _key_json(key: Mapping[str, Any]) -> dict[str, Any]:
    return {k: attribute_value(v) for k, v in key.items()}


class _State:
    """The checkpoint file (written atomically after every batch)."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data
        self.lock = threading.Lock()

    def segment(self, n: int) -> dict[str, Any]:
        seg: dict[str, Any] = self.data["segments"].setdefault(
            str(n), {"last_key": None, "position": 0, "done": False, "processed": 0}
        )
        return seg

    def save(self) -> None:
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


def _load_state(opts: BackfillOptions, describe: Mapping[str, Any]) -> _State:
    table = describe["Table"]
    if opts.checkpoint.exists():
        data = json.loads(opts.checkpoint.read_text())
        if data.get("table") != opts.table or data.get("segments_total") != opts.segments:
            raise ValueError(
                f"checkpoint file {opts.checkpoint} belongs to table {data.get('table')!r} with "
                f"{data.get('segments_total')} segments; use the same --segments or a new file"
            )
        return _State(opts.checkpoint, data)
    spec = table.get("StreamSpecification") or {}
    view = opts.view_type or spec.get("StreamViewType") or "NEW_AND_OLD_IMAGES"
    now = time.time()
    label = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    arn = table.get("LatestStreamArn") or f"{table['TableArn']}/stream/backfill-{label}.000"
    data = {
        "table": opts.table,
        "run_id": int(now * 1000),
        "created": int(now),
        "view_type": view,
        "stream_arn": arn,
        "key_names": [k["AttributeName"] for k in table["KeySchema"]],
        "segments_total": opts.segments,
        "segments": {},
    }
    return _State(opts.checkpoint, data)


def backfill(
    opts: BackfillOptions,
    dynamodb: Any,
    target: Target,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> BackfillReport:
    """Run (or resume) a backfill; see the module docstring."""
    state = _load_state(opts, dynamodb.describe_table(TableName=opts.table))
    report = BackfillReport(stream_arn=state.data["stream_arn"], run_id=state.data["run_id"])
    limiter = RateLimiter(opts.read_units)
    stop = stop or threading.Event()
    lock = threading.Lock()
    run_lock = threading.Lock()
    if not opts.dry_run:
        opts.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        state.save()
    crashed: list[BaseException] = []

    def segment_worker(n: int) -> None:
        try:
            _segment(
                n, opts, dynamodb, target, state, report, limiter, stop, lock, run_lock, progress
            )
        except BaseException as exc:
            crashed.append(exc)
            stop.set()

    threads = [
        threading.Thread(target=segment_worker, args=(n,), daemon=True)
        for n in range(opts.segments)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if progress:
        progress.done()
    if crashed:
        raise crashed[0]
    report.complete = all(state.segment(n)["done"] for n in range(opts.segments))
    return report


def _segment(
    n: int,
    opts: BackfillOptions,
    dynamodb: Any,
    target: Target,
    state: _State,
    report: BackfillReport,
    limiter: RateLimiter,
    stop: threading.Event,
    lock: threading.Lock,
    run_lock: threading.Lock,
    progress: Progress | None,
) -> None:
    data = state.data
    seg = state.segment(n)
    key_names = data["key_names"]
    while not seg["done"] and not stop.is_set():
        params: dict[str, Any] = {
            "TableName": opts.table,
            "Limit": opts.page_size,
            "ConsistentRead": opts.consistent_read,
            "ReturnConsumedCapacity": "TOTAL",
        }
        if opts.segments > 1:
            params.update(Segment=n, TotalSegments=opts.segments)
        if seg["last_key"]:
            params["ExclusiveStartKey"] = {k: wire_form(v) for k, v in seg["last_key"].items()}
        page = dynamodb.scan(**params)
        items = page.get("Items", [])
        units = (page.get("ConsumedCapacity") or {}).get("CapacityUnits")
        if units is None:  # estimate: 4 KB per unit, eventual reads cost half
            size = sum(len(json.dumps(_key_json(i))) for i in items) or 1
            units = max(1.0, size / 4096) * (1 if opts.consistent_read else 0.5)
        limiter.spend(float(units))
        with lock:
            report.items_read += len(items)
        if progress:
            progress.add(read=len(items))
        for start in range(0, len(items), opts.batch_size):
            if stop.is_set():
                return
            chunk = items[start : start + opts.batch_size]
            position = seg["position"]
            records = [
                make_record(
                    event_name="INSERT",
                    keys={k: item[k] for k in key_names},
                    new=item,
                    old=None,
                    view_type=data["view_type"],
                    sequence_number=synth_sequence(data["run_id"], n, position + i),
                    stream_arn=data["stream_arn"],
                    created=data["created"],
                )
                for i, item in enumerate(chunk)
            ]
            if opts.dry_run:
                done, error = len(records), ""
            else:
                with run_lock:
                    result = target.run(records)
                done, error = result.done, result.error
            with state.lock:
                if done:
                    last = chunk[done - 1]
                    seg["last_key"] = _key_json({k: last[k] for k in key_names})
                    seg["position"] = position + done
                    seg["processed"] += done
                if not opts.dry_run:
                    state.save()
            with lock:
                report.processed += done
                if done < len(records):
                    report.failed += 1
                    first = records[done]["dynamodb"]
                    report.errors.append(
                        f"segment {n}: record {first['SequenceNumber']} (keys "
                        f"{json.dumps(first['Keys'])}) failed: {error or 'see the logs'}; "
                        "the segment stopped there"
                    )
            if progress:
                progress.add(processed=done, failed=len(records) - done)
            if done < len(records):
                return
        with state.lock:
            if "LastEvaluatedKey" in page:
                seg["last_key"] = _key_json(page["LastEvaluatedKey"])
            else:
                seg["done"] = True
                if not opts.dry_run:
                    state.save()
