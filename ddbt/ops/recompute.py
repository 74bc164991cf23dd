"""Analytics ``replay --mode overwrite``: recompute the aggregates a range contributes to.

Adding the range's records again would count them twice; instead every aggregate item the
range's records contribute to (computed with the processor's current code and
``ANALYTICS_GROUP_BY``) is recomputed from the table's *whole history* and written with
overwrite semantics (PutItem, not ADD). Tumbling-window aggregates (``--window-seconds``, or
the function's mapping) are recomputed per window.

History sources, merged and de-duplicated by (stream label, sequence number):

Changes the function's mapping filters drop (``RecomputeOptions.matcher``) were never counted
by the function and are left out of the history too. (Archive lines are plain JSON: a filter on
a binary value cannot tell it from a string there.)

* the table's streams (ListStreams), every shard from TRIM_HORIZON. A stream keeps records 24
  hours, so it holds its whole history only while it is younger than that (its label is its
  creation time);
* the ETL archive (``--archive s3://BUCKET/PREFIX/``, default: the ETL processor's bucket and
  prefix when the target has one), which holds every change exactly once since ETL was
  enabled. **Assumption** (not checkable): ETL ran at least as long as analytics; the report
  prints the archive's earliest change per stream. What is checked: where the stream is
  trimmed, the archive must reach its oldest retained record (no gap between the two).

Refused, with the reason, never written partially:

* plain aggregates of a table when some stream of it is older than 24 hours and no archive
  holds it, when analytics' checkpoint entries name a stream that is no longer listed and no
  archive holds, or when analytics counted backfill records (checkpoint entries with 41-digit
  sequence numbers) that no source holds;
* a window that is still open, that the function has not committed for every shard with
  records in it (no commit marker), or that starts before what the sources hold.

Concurrency with the live function: plain aggregates count only records the function has
already committed (per shard, the highest ``applied_analytics`` of its checkpoint entries;
changes only in the archive are older than the stream's retention and count as committed);
later records are left to the function, which adds them. Each write is conditional on the
item's counters being unchanged since they were read (a commit in between: reported as a
conflict, run again). Afterwards every range record counted gets a checkpoint entry
(``applied_analytics`` = the last counted range record of its shard, never lowered), so a
redelivery, ``redrive`` or ``replay --mode skip`` starting at one of them does not add it again.
Window aggregates need no entries: their commit markers already make late commits no-ops.
"""

from __future__ import annotations

import gzip
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ddbt.ops.records import lambda_record
from ddbt.ops.stream_reading import read_shards
from handlers import aws
from handlers.codec import RecordError
from handlers.etl import table_segment
from handlers.stream import StreamRecord

__all__ = [
    "RETENTION_SECONDS",
    "RecomputeOptions",
    "RecomputeReport",
    "archive_changes",
    "recompute_aggregates",
    "stream_changes",
    "typed",
]

RETENTION_SECONDS = 24 * 3600  # DynamoDB Streams keeps records 24 hours
_PROGRESS = "applied_analytics"


@dataclass
class RecomputeOptions:
    """Where the history comes from and how aggregates are keyed."""

    streams: Any  # dynamodbstreams client
    s3: Any = None
    archive: tuple[str, str] | None = None  # (bucket, prefix of the ETL objects)
    window_seconds: int = 0
    now: Callable[[], float] = time.time
    # The function's mapping filters: a change they drop was never delivered to analytics,
    # so the history counts it neither (None: no filters).
    matcher: Callable[[dict[str, Any]], bool] | None = None


@dataclass
class Change:
    """One change of the history: a Lambda-shaped record, its time and its shard."""

    raw: dict[str, Any]
    time: int
    shard: str | None  # None: known only from the archive

    @property
    def seq(self) -> int:
        return int(self.raw["dynamodb"]["SequenceNumber"])


@dataclass
class KeyResult:
    pk: str
    old: dict[str, int]
    new: dict[str, int]
    status: str  # changed | unchanged | refused | conflict | would change
    reason: str = ""


@dataclass
class RecomputeReport:
    keys: list[KeyResult] = field(default_factory=list)
    counted: int = 0  # range records counted by the recompute
    left: int = 0  # range records not yet committed by the live function
    poison: list[str] = field(default_factory=list)
    marked: int = 0
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def failed(self) -> bool:
        return any(k.status in ("refused", "conflict") for k in self.keys)

    def lines(self) -> list[str]:
        n = {s: sum(1 for k in self.keys if k.status == s) for s in _STATUSES}
        out = [
            f"  analytics (recompute): {len(self.keys)} aggregates: "
            + ", ".join(f"{n[s]} {s}" for s in _STATUSES if n[s] or s in ("changed", "unchanged"))
            + f"; {self.counted} range records counted, {self.left} left to the live function, "
            f"{self.marked} checkpoint entries written"
        ]
        for k in self.keys:
            if k.status in ("changed", "would change"):
                out.append(f"    {k.pk}: {_diff(k.old, k.new)}")
            elif k.status in ("refused", "conflict"):
                out.append(f"    {k.pk}: {k.status.upper()}: {k.reason}")
        out += [f"    poison (not counted): {p}" for p in self.poison]
        return out + [f"  note: {n}" for n in self.notes]


_STATUSES = ("changed", "would change", "unchanged", "refused", "conflict")


def _diff(old: Mapping[str, int], new: Mapping[str, int]) -> str:
    parts = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if a != b:
            parts.append(f"{name} {'-' if a is None else a} -> {'-' if b is None else b}")
    return "; ".join(parts)


# -- history sources ----------------------------------------------------------------------
def _label_of(arn: str) -> str:
    return arn.partition("/stream/")[2]


def _digits(label: str) -> str:
    """The stream label as ETL object names carry it (digits and 'T')."""
    return "".join(c for c in label if c.isascii() and (c.isdigit() or c == "T"))


def label_time(label: str) -> float | None:
    """A stream label (its creation time, ISO 8601 UTC) as epoch seconds."""
    try:
        t = datetime.fromisoformat(label.rstrip("Z"))
    except ValueError:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


def _time(raw: Mapping[str, Any]) -> int:
    value = raw.get("dynamodb", {}).get("ApproximateCreationDateTime", 0)
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return 0


def stream_changes(streams: Any, stream_arn: str) -> Iterator[Change]:
    """Every retained record of every shard, with its shard id (parents first)."""
    for shard, raw in read_shards(streams, stream_arn):
        yield Change(raw, _time(raw), shard)


class _Number(str):
    """A JSON number kept as its text (exact)."""


def typed(value: Any) -> dict[str, Any]:
    """A plain JSON value of an ETL line as a typed attribute value (numbers exact).

    ETL images are plain JSON: B reads back as S and sets as L. Both give the same JSON
    text, so aggregate keys are identical; only the ``group`` map of a new aggregate item and
    transition labels of binary attributes could differ (binary group-by attributes are
    refused when the archive contributes to them, see ``_binary_group``)."""
    if isinstance(value, _Number):
        return {"N": str(value)}
    if isinstance(value, bool):
        return {"BOOL": value}
    if value is None:
        return {"NULL": True}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list):
        return {"L": [typed(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {k: typed(v) for k, v in value.items()}}
    raise ValueError(f"unexpected JSON value {value!r:.60}")


def _loads(line: bytes) -> Any:
    return json.loads(line, parse_int=_Number, parse_float=_Number)


def _line_record(line: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    created = int(
        datetime.strptime(str(line["approximateCreationDateTime"]), "%Y-%m-%dT%H:%M:%SZ")
        .replace(tzinfo=UTC)
        .timestamp()
    )
    block: dict[str, Any] = {
        "ApproximateCreationDateTime": created,
        "Keys": typed(line["keys"])["M"],
        "SequenceNumber": str(line["sequenceNumber"]),
        "SizeBytes": 0,
    }
    for name, field_name in (("NewImage", "newImage"), ("OldImage", "oldImage")):
        if field_name in line:
            block[name] = typed(line[field_name])["M"]
    return lambda_record(
        event_id=str(line.get("eventID", "")),
        event_name=str(line["eventName"]),
        block=block,
        stream_arn=stream_arn,
        region=stream_arn.split(":")[3] if stream_arn.count(":") >= 5 else "",
    )


def archive_changes(
    s3: Any, bucket: str, prefix: str, table: str, stream_arns: Mapping[str, str], table_arn: str
) -> Iterator[tuple[str, Change]]:
    """(label digits, change) of every line of the table's ETL objects.

    ``stream_arns``: label digits -> stream ARN, for streams still listed; other labels get
    ``<table ARN>/stream/<digits>`` (only the table name is read from it)."""
    root = f"{prefix}table={table_segment(table)}/"
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": root}
    while True:
        page = s3.list_objects_v2(**params)
        for obj in page.get("Contents", []):
            key = obj["Key"]
            name = key.rsplit("/", 1)[-1]
            if not name.endswith(".jsonl.gz") or "-" not in name:
                continue
            digits = name[: -len(".jsonl.gz")].split("-", 1)[1]
            arn = stream_arns.get(digits) or f"{table_arn}/stream/{digits}"
            body = gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            for line in body.splitlines():
                if line.strip():
                    raw = _line_record(_loads(line), arn)
                    yield digits, Change(raw, _time(raw), None)
        token = page.get("NextContinuationToken")
        if not token:
            return
        params["ContinuationToken"] = token


# -- the recompute --------------------------------------------------------------------------
@dataclass
class _Label:
    """What the sources hold of one stream of the table."""

    arn: str
    created: float | None = None
    listed: bool = False  # the stream is still listed (readable)
    stream_oldest: float | None = None
    archive_first: float | None = None
    archive_last: float | None = None


@dataclass
class _Table:
    name: str
    labels: dict[str, _Label] = field(default_factory=dict)
    changes: dict[tuple[str, int], Change] = field(default_factory=dict)
    position: dict[str, int] = field(default_factory=dict)  # shard -> committed through
    backfill_entries: int = 0
    archive_backfill: int = 0


def _aggregate(processor: Any, raw: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, int]]:
    """(aggregate key, group, counts) of one record, per the processor's own ``deltas``;
    RecordError for a record analytics would not count."""
    record = StreamRecord(raw, 0, str(raw.get("eventSourceARN", "")))
    deltas, good, reason = processor.deltas([record])
    if not good:
        raise RecordError(reason)
    ((pk, delta),) = deltas.items()
    return pk, delta["group"], dict(delta["counts"])


def _window_texts(start: float) -> list[str]:
    """Spellings of a window start in aggregate keys: AWS's (``...:00Z``, whole seconds,
    what analytics writes), then the one the local runtime used to send (``...:00.000Z``),
    which aggregates written before still carry. The one the function's commit markers
    use wins."""
    t = datetime.fromtimestamp(start, UTC)
    base = t.strftime("%Y-%m-%dT%H:%M:%S")
    return [f"{base}Z", f"{base}.{int(start * 1000) % 1000:03d}Z"]


def _scan_prefix(dynamodb: Any, table: str, prefix: str) -> Iterator[dict[str, Any]]:
    params: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": "begins_with(pk, :p)",
        "ExpressionAttributeValues": {":p": {"S": prefix}},
        "ConsistentRead": True,
    }
    while True:
        page = dynamodb.scan(**params)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _load_table(
    name: str, dynamodb: Any, store: Any, opts: RecomputeOptions
) -> tuple[_Table, list[str]]:
    notes: list[str] = []
    t = _Table(name)
    desc = dynamodb.describe_table(TableName=name)["Table"]
    table_arn = desc["TableArn"]
    arns: list[str] = []
    params: dict[str, Any] = {"TableName": name}
    while True:
        page = opts.streams.list_streams(**params)
        arns += [s["StreamArn"] for s in page.get("Streams", [])]
        if not page.get("LastEvaluatedStreamArn"):
            break
        params["ExclusiveStartStreamArn"] = page["LastEvaluatedStreamArn"]
    seq_shard: dict[tuple[str, int], str] = {}
    for arn in arns:
        label = _label_of(arn)
        digits = _digits(label)
        info = t.labels.setdefault(digits, _Label(arn))
        info.created, info.listed = label_time(label), True
        for c in stream_changes(opts.streams, arn):
            if opts.matcher is None or opts.matcher(c.raw):
                t.changes[(digits, c.seq)] = c
            seq_shard[(digits, c.seq)] = c.shard or ""
            if info.stream_oldest is None or c.time < info.stream_oldest:
                info.stream_oldest = c.time
    if opts.archive is not None:
        bucket, prefix = opts.archive
        arn_of = {d: i.arn for d, i in t.labels.items()}
        seen = 0
        for digits, c in archive_changes(opts.s3, bucket, prefix, name, arn_of, table_arn):
            seen += 1
            info = t.labels.setdefault(digits, _Label(c.raw["eventSourceARN"]))
            info.archive_first = (
                c.time if info.archive_first is None else min(info.archive_first, c.time)
            )
            info.archive_last = (
                c.time if info.archive_last is None else max(info.archive_last, c.time)
            )
            if len(c.raw["dynamodb"]["SequenceNumber"]) > 40:
                t.archive_backfill += 1
            if opts.matcher is None or opts.matcher(c.raw):
                t.changes.setdefault((digits, c.seq), c)
        for digits, info in sorted(t.labels.items()):
            if info.archive_first is not None:
                notes.append(
                    f"{name}: archive s3://{bucket}/{prefix} holds stream {digits} from "
                    f"{_iso(info.archive_first)} (assumed complete from the stream's start)"
                )
        if not seen:
            notes.append(f"{name}: the archive s3://{bucket}/{prefix} holds no changes")
    # The live function's committed position per shard, from its checkpoint entries.
    if store is not None:
        prefix = f"{store.scope}#"
        for item in _scan_prefix(dynamodb, store.table, prefix):
            arn, _, start = item["pk"]["S"][len(prefix) :].rpartition("#")
            through = item.get(_PROGRESS, {}).get("S", "")
            if f":table/{name}/stream/" not in arn or not start.isdigit() or not through.isdigit():
                continue
            if len(start) > 40:
                t.backfill_entries += 1
                continue
            digits = _digits(_label_of(arn))
            if digits not in t.labels:
                # Analytics counted changes of a stream that is no longer listed: its
                # history must come from the archive (checked like any other stream).
                t.labels[digits] = _Label(arn, created=label_time(_label_of(arn)))
            shard = seq_shard.get((digits, int(start)))
            if shard is not None:
                t.position[shard] = max(t.position.get(shard, 0), int(through))
    return t, notes


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _label_ok(info: _Label, now: float, since: float | None = None) -> str:
    """'' when the sources hold the stream's changes (from ``since``, default its start)."""
    if info.listed and info.created is not None:
        kept_from = max(info.created, now - RETENTION_SECONDS)
        if info.created > now - RETENTION_SECONDS or (since is not None and since >= kept_from):
            return ""
    if info.archive_last is not None:
        if not info.listed or info.stream_oldest is None:
            return ""
        if info.archive_last >= info.stream_oldest:
            return ""
        return (
            f"the archive of stream {info.arn} ends at {_iso(info.archive_last)}, before the "
            f"stream's oldest retained record ({_iso(info.stream_oldest)}): changes in between "
            "may be missing"
        )
    if not info.listed:
        return f"stream {info.arn} is no longer listed and no archive holds its changes"
    return (
        f"stream {info.arn} is older than 24 hours (records before "
        f"{_iso(now - RETENTION_SECONDS)} are trimmed) and no ETL archive holds them "
        "(give --archive s3://BUCKET/PREFIX/)"
    )


def _committed(t: _Table, c: Change) -> bool:
    if c.shard is None:
        return True  # only in the archive: older than the stream's retention
    through = t.position.get(c.shard)
    return through is not None and c.seq <= through


def _counters(item: Mapping[str, Any]) -> dict[str, int]:
    return {k: int(v["N"]) for k, v in item.items() if k != "pk" and "N" in v}


def recompute_aggregates(
    records: Sequence[Mapping[str, Any]],
    processor: Any,
    store: Any,
    *,
    dynamodb: Any,
    options: RecomputeOptions,
    dry_run: bool = False,
) -> RecomputeReport:
    """Recompute (and, unless ``dry_run``, overwrite) the aggregates ``records`` touch."""
    report = RecomputeReport(dry_run=dry_run)
    now = options.now()
    size = int(options.window_seconds or 0)
    # 1. The range: which aggregate each record counts towards.
    wanted: dict[str, list[tuple[dict[str, Any], str]]] = {}  # table -> [(raw, key)]
    for raw in records:
        try:
            pk, _, _ = _aggregate(processor, dict(raw))
        except (RecordError, KeyError, TypeError, ValueError) as exc:
            seq = raw.get("dynamodb", {}).get("SequenceNumber", "?")
            report.poison.append(f"record {seq}: {exc}")
            continue
        key = pk
        if size:
            key = f"{pk}|window@{math.floor(_time(raw) / size) * size}"
        table = pk.split("|", 1)[0]
        wanted.setdefault(table, []).append((dict(raw), key))
    for table, range_records in sorted(wanted.items()):
        t, notes = _load_table(table, dynamodb, store, options)
        report.notes += notes
        _recompute_table(t, range_records, processor, store, dynamodb, size, now, dry_run, report)
    return report


def _recompute_table(
    t: _Table,
    range_records: list[tuple[dict[str, Any], str]],
    processor: Any,
    store: Any,
    dynamodb: Any,
    size: int,
    now: float,
    dry_run: bool,
    report: RecomputeReport,
) -> None:
    keys = sorted({k for _, k in range_records})
    refused: dict[str, str] = {}
    texts: dict[str, str] = {}  # internal window key -> the aggregate item's pk
    if not size:
        problems = [p for info in t.labels.values() if (p := _label_ok(info, now))]
        if not t.labels:
            problems.append(f"table {t.name} has no stream and no archived changes")
        if t.backfill_entries and not t.archive_backfill:
            problems.append(
                f"analytics counted backfill records ({t.backfill_entries} checkpoint entries "
                "with synthesized sequence numbers) that neither the stream nor an archive holds"
            )
        for k in keys:
            if problems:
                refused[k] = "; ".join(problems)
            texts[k] = k
    else:
        for k in keys:
            pk, _, start_text = k.rpartition("|window@")
            start = int(start_text)
            texts[k] = f"{pk}|window={_window_texts(start)[0]}"
            reason = _window_problem(t, store, dynamodb, start, size, now, texts, k)
            if reason:
                refused[k] = reason
    # 2. The new counts from the whole history (each change once).
    new: dict[str, dict[str, int]] = {k: {} for k in keys}
    groups: dict[str, dict[str, Any]] = {}
    in_range = {_ident(r) for r, _ in range_records}
    counted: set[tuple[str, int]] = set()
    from_archive: set[str] = set()
    for ident, c in t.changes.items():
        try:
            pk, group, counts = _aggregate(processor, c.raw)
        except Exception:  # analytics would not count it either (poison): neither do we
            continue
        key = f"{pk}|window@{math.floor(c.time / size) * size}" if size else pk
        if key not in new or key in refused:
            continue
        if not size and not _committed(t, c):
            continue  # the live function has not committed it yet: it will add it
        groups.setdefault(key, group)
        if c.shard is None:
            from_archive.add(key)
        into = new[key]
        for name, n in counts.items():
            into[name] = into.get(name, 0) + n
        if ident in in_range:
            counted.add(ident)
    report.counted += len(counted)
    report.left += sum(
        1 for r, k in range_records if k not in refused and (_ident(r) not in counted)
    )
    # 3. Overwrite.
    written: set[str] = set()
    for k in keys:
        pk = texts[k]
        current = (
            dynamodb.get_item(
                TableName=processor.settings.table, Key={"pk": {"S": pk}}, ConsistentRead=True
            ).get("Item")
            or {}
        )
        old = _counters(current)
        if k not in refused and k in from_archive and _binary_group(current):
            refused[k] = (
                "a group-by value is binary (B/BS) and the ETL archive cannot tell binary from "
                "string values apart"
            )
        if k in refused:
            report.keys.append(KeyResult(pk, old, {}, "refused", refused[k]))
            continue
        if old == new[k]:
            report.keys.append(KeyResult(pk, old, new[k], "unchanged"))
            written.add(k)
            continue
        if dry_run:
            report.keys.append(KeyResult(pk, old, new[k], "would change"))
            continue
        try:
            _overwrite(
                dynamodb, processor.settings.table, pk, t.name, current, groups.get(k), old, new[k]
            )
        except _Conflict as exc:
            report.keys.append(KeyResult(pk, old, new[k], "conflict", str(exc)))
            continue
        report.keys.append(KeyResult(pk, old, new[k], "changed"))
        written.add(k)
    # 4. Checkpoint entries at the counted range records (plain aggregates only).
    if not size and not dry_run and store is not None:
        report.marked += _mark(t, range_records, counted, written, store, dynamodb)


def _binary_group(item: Mapping[str, Any]) -> bool:
    group = (item.get("group") or {}).get("M") or {}
    return any(isinstance(v, dict) and ("B" in v or "BS" in v) for v in group.values())


def _ident(raw: Mapping[str, Any]) -> tuple[str, int]:
    return (_digits(_label_of(str(raw["eventSourceARN"]))), int(raw["dynamodb"]["SequenceNumber"]))


def _window_problem(
    t: _Table,
    store: Any,
    dynamodb: Any,
    start: int,
    size: int,
    now: float,
    texts: dict[str, str],
    k: str,
) -> str:
    end = start + size
    if end > now:
        return f"window {_iso(start)} is still open (ends {_iso(end)}): run after it closes"
    for info in t.labels.values():
        if info.created is not None and info.created >= end:
            continue
        problem = _label_ok(info, now, since=start)
        if problem:
            return problem
    shards = {c.shard for c in t.changes.values() if c.shard is not None and start <= c.time < end}
    if not shards or store is None:
        return ""
    pk = k.rpartition("|window@")[0]
    for text in _window_texts(start):
        missing = [s for s in sorted(shards) if not _marker(dynamodb, store, t, s, text)]
        if not missing:
            texts[k] = f"{pk}|window={text}"
            return ""
    return (
        f"window {_iso(start)} is not committed by the function yet for shard(s) "
        f"{', '.join(sorted(shards))} (no commit marker): run after its final invocation"
    )


def _marker(dynamodb: Any, store: Any, t: _Table, shard: str, text: str) -> bool:
    """Whether the function closed the window (spelled ``text``) for ``shard``: analytics
    records its final invocation with a ``#closed`` item; earlier versions left one commit
    marker per window (``#0``)."""
    for info in t.labels.values():
        if not info.listed:
            continue
        prefix = f"{store.scope}#window#{info.arn}#{shard}#{text}"
        for key in (f"{prefix}#closed", f"{prefix}#0"):
            item = dynamodb.get_item(
                TableName=store.table, Key={"pk": {"S": key}}, ConsistentRead=True
            ).get("Item")
            if item:
                return True
    return False


class _Conflict(Exception):
    pass


def _overwrite(
    dynamodb: Any,
    table: str,
    pk: str,
    source_table: str,
    current: Mapping[str, Any],
    group: Mapping[str, Any] | None,
    old: Mapping[str, int],
    new: Mapping[str, int],
) -> None:
    """PutItem of the recomputed counters, only if the counters read are still there."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    conditions: list[str] = []
    if not current:
        conditions.append("attribute_not_exists(pk)")
    else:
        for i, (name, n) in enumerate(sorted(old.items())):
            names[f"#o{i}"] = name
            values[f":o{i}"] = {"N": str(n)}
            conditions.append(f"#o{i} = :o{i}")
        absent = sorted((set(new) | {"INSERT", "MODIFY", "REMOVE"}) - set(old))
        for i, name in enumerate(absent):
            names[f"#a{i}"] = name
            conditions.append(f"attribute_not_exists(#a{i})")
    params: dict[str, Any] = {"TableName": table, "ConditionExpression": " AND ".join(conditions)}
    if names:
        params["ExpressionAttributeNames"] = names
    if values:
        params["ExpressionAttributeValues"] = values
    try:
        if not new:
            dynamodb.delete_item(Key={"pk": {"S": pk}}, **params)
            return
        item: dict[str, Any] = {
            "pk": {"S": pk},
            "table": current.get("table") or {"S": source_table},
            "group": current.get("group") or {"M": dict(group or {})},
        }
        item.update({name: {"N": str(n)} for name, n in new.items()})
        dynamodb.put_item(Item=item, **params)
    except Exception as exc:
        if aws.error_code(exc) == "ConditionalCheckFailedException":
            raise _Conflict(
                "the item changed while it was recomputed (a live commit): run the replay again"
            ) from exc
        raise


def _mark(
    t: _Table,
    range_records: Iterable[tuple[dict[str, Any], str]],
    counted: set[tuple[str, int]],
    written: set[str],
    store: Any,
    dynamodb: Any,
) -> int:
    """Entries at each counted range record: applied through the last record of its run of
    counted range records in the same shard (never lowering an existing entry)."""
    by_shard: dict[tuple[str, str], list[tuple[int, bool]]] = {}
    arn_of: dict[tuple[str, str], str] = {}
    for raw, key in range_records:
        ident = _ident(raw)
        c = t.changes.get(ident)
        if c is None or c.shard is None:
            continue  # not in the stream any more: no delivery can start there
        group = (ident[0], c.shard)
        arn_of[group] = str(raw["eventSourceARN"])
        by_shard.setdefault(group, []).append((ident[1], ident in counted and key in written))
    marked = 0
    for group, rows in by_shard.items():
        rows.sort()
        run: list[int] = []
        for seq, ok in [*rows, (0, False)]:
            if ok:
                run.append(seq)
                continue
            for s in run:
                _raise_entry(dynamodb, store, arn_of[group], str(s), run[-1])
                marked += 1
            run = []
    return marked


def _raise_entry(dynamodb: Any, store: Any, arn: str, start: str, through: int) -> None:
    key = store.key(arn, start)
    for _ in range(5):
        item = dynamodb.get_item(TableName=store.table, Key=key, ConsistentRead=True).get("Item")
        have = (item or {}).get(_PROGRESS, {}).get("S", "")
        if have.isdigit() and int(have) >= through:
            return
        condition = "attribute_not_exists(#p)" if not have else "#p = :have"
        values: dict[str, Any] = {":t": {"S": str(through)}, ":e": {"N": store.expires_at()}}
        if have:
            values[":have"] = {"S": have}
        try:
            dynamodb.update_item(
                TableName=store.table,
                Key=key,
                UpdateExpression="SET #p = :t, #e = :e",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#p": _PROGRESS, "#e": "expires_at"},
                ExpressionAttributeValues=values,
            )
            return
        except Exception as exc:
            if aws.error_code(exc) != "ConditionalCheckFailedException":
                raise
    raise RuntimeError(f"checkpoint entry {key['pk']['S']} keeps changing")
