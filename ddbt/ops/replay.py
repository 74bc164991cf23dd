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
* ``overwrite``: every record in range is run again (ETL writes them again: objects whose
  key, the run's first sequence number, matches one the function wrote are overwritten,
  others overlap it, so records can appear twice in the archive; a notification is
  published again, so subscribers see it twice). For analytics, adding the records again
  would count them twice: the aggregates they contribute to are recomputed from the table's
  whole history and overwritten instead (``ddbt.ops.recompute``; needs ``recompute`` options).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ddbt.ops.progress import Progress
from ddbt.ops.recompute import RecomputeOptions, RecomputeReport, recompute_aggregates
from ddbt.ops.target import run_in_process

__all__ = ["ReplayReport", "applied_ranges", "replay"]


@dataclass
class ReplayReport:
    read: int = 0
    processed: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False
    recompute: RecomputeReport | None = None  # analytics, overwrite

    @property
    def ok(self) -> bool:
        return not self.failed and not (self.recompute is not None and self.recompute.failed)

    def lines(self) -> list[str]:
        out = [f"replay: {self.read} records in range"]
        if self.recompute is not None:
            out += self.recompute.lines()
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
    recompute: RecomputeOptions | None = None,
    invoke: Any = None,
) -> ReplayReport:
    """Run each processor over ``records`` per ``mode`` (see the module docstring).
    ``recompute``: ``ddbt.ops.recompute.RecomputeOptions``, needed for analytics in
    overwrite mode. ``invoke``: a ``LambdaTarget``; the records go to the deployed function
    instead (``processors``, built from its configuration, only say what to skip)."""
    if mode not in ("skip", "overwrite"):
        raise ValueError("mode must be skip or overwrite")
    recomputed = [p for p in processors if p.name == "analytics"] if mode == "overwrite" else []
    if invoke is not None:
        if recomputed:
            raise ValueError(
                "overwrite for analytics recomputes the aggregates from the history; that runs "
                "in-process only: drop --invoke"
            )
        return _replay_invoke(
            list(records), processors, invoke, mode, dynamodb, store, batch_size, dry_run, progress
        )
    if recomputed and recompute is None:
        raise ValueError(
            "overwrite for analytics recomputes the affected aggregates and needs the history "
            "sources (the stream, optionally an ETL archive)"
        )
    rows = list(records)
    report = ReplayReport(read=len(rows), dry_run=dry_run)
    by_stream: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        by_stream.setdefault(str(r.get("eventSourceARN", "")), []).append(r)
    for p in processors:
        if p in recomputed:
            assert recompute is not None  # refused above when missing
            report.recompute = recompute_aggregates(
                rows,
                p,
                store or getattr(p, "own_store", None),
                dynamodb=dynamodb,
                options=recompute,
                dry_run=dry_run,
            )
            continue
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
                result = run_in_process(chunk, [p], own if mode == "skip" else None)
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


def _replay_invoke(
    rows: list[Mapping[str, Any]],
    processors: Sequence[Any],
    invoke: Any,
    mode: str,
    dynamodb: Any,
    store: Any,
    batch_size: int,
    dry_run: bool,
    progress: Progress | None,
) -> ReplayReport:
    """Replay through the deployed function. It runs all its processors on every record it
    gets, so in skip mode a record is sent only when none of them applied it; a record some
    applied and others did not is refused (replay in-process runs each on its own)."""
    label = f"function {invoke.function}"
    report = ReplayReport(read=len(rows), dry_run=dry_run)
    report.processed[label] = report.skipped[label] = 0
    by_stream: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        by_stream.setdefault(str(r.get("eventSourceARN", "")), []).append(r)
    for arn, group in by_stream.items():
        todo = list(group)
        if mode == "skip":
            ranges: dict[str, list[tuple[int, int]]] = {}
            for p in processors:
                own = store or getattr(p, "own_store", None)
                found = applied_ranges(dynamodb, own.table, own.scope, arn) if own else {}
                ranges[p.name] = found.get(p.name, [])
            todo = []
            for r in group:
                seq = int(r["dynamodb"]["SequenceNumber"])
                done = sorted(n for n, rs in ranges.items() if _covered(seq, rs))
                if done and len(done) < len(ranges):
                    raise ValueError(
                        f"record {seq} was applied by {', '.join(done)} but not by the "
                        "function's other processors; the deployed function would run them "
                        "all again: replay in-process (without --invoke)"
                    )
                if not done:
                    todo.append(r)
            report.skipped[label] += len(group) - len(todo)
        for i in range(0, len(todo), batch_size):
            chunk = todo[i : i + batch_size]
            if dry_run:
                report.processed[label] += len(chunk)
                continue
            result = invoke.run(chunk)
            report.processed[label] += result.done
            if progress:
                progress.add(invoked=result.done)
            if result.done < len(chunk):
                seq = chunk[result.done]["dynamodb"]["SequenceNumber"]
                report.failed[label] = f"record {seq} failed ({result.error or 'see logs'})"
                break
        if label in report.failed:
            break
    if progress:
        progress.done()
    return report
