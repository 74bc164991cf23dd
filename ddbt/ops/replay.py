"""Replay: re-run processors (in-process) over a stream range or a time range.

Source: every shard of the stream (or one ``shard``), read from TRIM_HORIZON, or from
``from_seq`` with AT_SEQUENCE_NUMBER; kept when ``from_seq <= seq <= to_seq`` and
``since <= ApproximateCreationDateTime <= until`` (bounds optional). Or records from a JSON
Lines archive (``redrive --to-s3`` output). Each processor runs on its own over the records,
in shard order, in batches through ``run_batch``.

Modes (explicit, no default):
* ``skip``: records a processor already applied are left out. "Applied" is what the
  checkpoint items say: every item ``<scope>#<stream ARN>#<S>`` with ``applied_<name> = T``
  covers ``S..T``. Analytics writes such an item for every batch it commits, so for analytics
  this is exact; ETL and notification write one only after a failure, so for them skip
  leaves out only those ranges (the report says so).
* ``overwrite``: every record in range is run again (ETL rewrites objects; a notification is
  published again). For analytics "overwrite" means recomputing the affected aggregates
  rather than adding twice: NOT IMPLEMENTED; replay refuses analytics in overwrite mode.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ddbt.ops.progress import Progress
from ddbt.ops.records import from_get_records

__all__ = ["ReplayReport", "applied_ranges", "read_archive", "read_stream", "replay"]


@dataclass
class ReplayReport:
    read: int = 0
    processed: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False

    def lines(self) -> list[str]:
        out = [f"replay: {self.read} records in range"]
        for name in sorted(set(self.processed) | set(self.skipped) | set(self.failed)):
            line = (
                f"  {name}: {self.processed.get(name, 0)} "
                f"{'would be processed (dry run)' if self.dry_run else 'processed'}, "
                f"{self.skipped.get(name, 0)} skipped as already applied"
            )
            if name in self.failed:
                line += f"; STOPPED: {self.failed[name]}"
            out.append(line)
        return out + [f"  note: {n}" for n in self.notes]


def read_stream(
    streams: Any,
    stream_arn: str,
    *,
    shard: str | None = None,
    from_seq: str | None = None,
    to_seq: str | None = None,
    since: int | None = None,
    until: int | None = None,
    max_empty: int = 2,
) -> Iterator[dict[str, Any]]:
    """Records (Lambda event form) of the range, shard by shard (parents first)."""
    from ddbt.ops.tail import shards as all_shards

    shards = all_shards(streams, stream_arn)
    low = int(from_seq) if from_seq else None
    high = int(to_seq) if to_seq else None
    for s in shards:
        if shard and s["ShardId"] != shard:
            continue
        params: dict[str, Any] = {"StreamArn": stream_arn, "ShardId": s["ShardId"]}
        if from_seq and shard:
            params.update(ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=from_seq)
        else:
            params["ShardIteratorType"] = "TRIM_HORIZON"
        iterator = streams.get_shard_iterator(**params)["ShardIterator"]
        empty = 0
        while iterator and empty < max_empty:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            records = page.get("Records", [])
            empty = 0 if records else empty + 1
            iterator = page.get("NextShardIterator")
            done = False
            for r in from_get_records(records, stream_arn):
                seq = int(r["dynamodb"]["SequenceNumber"])
                t = int(r["dynamodb"].get("ApproximateCreationDateTime", 0))
                if (high is not None and seq > high) or (until is not None and t > until):
                    done = True
                    break
                if (low is None or seq >= low) and (since is None or t >= since):
                    yield r
            if done:
                break


def read_archive(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if line.strip():
            yield json.loads(line)


def applied_ranges(
    dynamodb: Any, table: str, scope: str, stream_arn: str
) -> dict[str, list[tuple[int, int]]]:
    """{processor: [(first, through)]} from the checkpoint items of ``scope`` and stream."""
    prefix = f"{scope}#{stream_arn}#"
    out: dict[str, list[tuple[int, int]]] = {}
    params: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": "begins_with(pk, :p)",
        "ExpressionAttributeValues": {":p": {"S": prefix}},
    }
    while True:
        page = dynamodb.scan(**params)
        for item in page.get("Items", []):
            start = item["pk"]["S"][len(prefix) :]
            if not start.isdigit():
                continue
            for name, value in item.items():
                if name.startswith("applied_") and value.get("S", "").isdigit():
                    out.setdefault(name[len("applied_") :], []).append(
                        (int(start), int(value["S"]))
                    )
        if "LastEvaluatedKey" not in page:
            return out
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _covered(seq: int, ranges: Sequence[tuple[int, int]]) -> bool:
    return any(a <= seq <= b for a, b in ranges)


def replay(
    records: Iterable[Mapping[str, Any]],
    processors: Sequence[Any],
    *,
    mode: str,
    dynamodb: Any = None,
    store: Any = None,
    batch_size: int = 100,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ReplayReport:
    """Run each processor over ``records`` per ``mode`` (see the module docstring)."""
    from ddbt.ops.target import Result, _Context, _done_from_response
    from handlers.batch import BatchFailed, run_batch

    if mode not in ("skip", "overwrite"):
        raise ValueError("mode must be skip or overwrite")
    if mode == "overwrite" and any(p.name == "analytics" for p in processors):
        raise ValueError(
            "overwrite for analytics (recomputing the affected aggregates) is not implemented; "
            "use --mode skip, which leaves out what analytics' checkpoints say it counted"
        )
    rows = list(records)
    report = ReplayReport(read=len(rows), dry_run=dry_run)
    by_stream: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        by_stream.setdefault(str(r.get("eventSourceARN", "")), []).append(r)
    for p in processors:
        report.processed[p.name] = report.skipped[p.name] = 0
        own = store or getattr(p, "own_store", None)
        for arn, group in by_stream.items():
            todo = list(group)
            if mode == "skip":
                ranges: list[tuple[int, int]] = []
                if own is not None:
                    ranges = applied_ranges(dynamodb, own.table, own.scope, arn).get(p.name, [])
                if not ranges and p.name != "analytics":
                    report.notes.append(
                        f"{p.name}: no checkpoint entries for {arn}; it records progress only "
                        "after failures, so every record in range is run again"
                    )
                todo = [
                    r for r in group if not _covered(int(r["dynamodb"]["SequenceNumber"]), ranges)
                ]
                report.skipped[p.name] += len(group) - len(todo)
            for i in range(0, len(todo), batch_size):
                chunk = todo[i : i + batch_size]
                if dry_run:
                    report.processed[p.name] += len(chunk)
                    continue
                try:
                    response = run_batch(
                        {"Records": chunk},
                        _Context(900_000),
                        [p],
                        own if mode == "skip" else None,
                    )
                    result = _done_from_response(response, chunk)
                except BatchFailed as exc:
                    result = Result(0, str(exc))
                report.processed[p.name] += result.done
                if progress:
                    progress.add(**{p.name: result.done})
                if result.done < len(chunk):
                    seq = chunk[result.done]["dynamodb"]["SequenceNumber"]
                    report.failed[p.name] = f"record {seq} failed ({result.error or 'see logs'})"
                    break
            if p.name in report.failed:
                break
    if progress:
        progress.done()
    return report
