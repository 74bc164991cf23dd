"""DLQ archiver: keep the records an on-failure message describes before the stream drops them.

An SQS on-failure destination gets metadata only (``DDBStreamBatchInfo``: shard, first and
last sequence number, stream ARN); the records stay in the stream for 24 hours. This module
reads them back and writes them to S3, so a failed batch can be re-run any time later
(``ddbt redrive --from-s3``, ``ddbt replay --from-archive``). It is both the Lambda entry point
``handlers.archiver.handler`` (an SQS event source mapping on each processor's DLQ, with
``ReportBatchItemFailures``) and the implementation ``ddbt redrive --to-s3`` uses.

Archive object, one per on-failure message, at a deterministic key (archiving the same
message again overwrites it with identical bytes)::

    <prefix><function name>/<shardId>/<startSequenceNumber>-<endSequenceNumber>.jsonl.gz

gzip (mtime 0) of JSON Lines: the first line is a header
``{"ddbtArchive": 1, "message": <the on-failure message>, "records": N,
"recordsExpired": false, "detail": "", "filters": [<patterns>], "mismatch": "",
"parallelizationFactor": 1, "otherRecords": 0}``, then one
record per line, exactly as Lambda delivers it in the event's ``Records`` (typed images,
``B`` base64, creation time in epoch seconds, ``eventSourceARN``; the one conversion of
``handlers.getrecords``). ``<function name>`` comes from the message's
``requestContext.functionArn`` (alias or version qualifier dropped); a message without one
uses the queue name.

Filters: the range ``startSequenceNumber``..``endSequenceNumber`` also spans the records the
mapping's ``FilterCriteria`` dropped (Lambda skipped them without an invocation), so only the
records the filters deliver are archived (``handlers.filters``, the matcher the local runtime
uses). The filters are read from the failed function's mapping (``GetEventSourceMapping``;
``SOURCE_MAPPINGS`` names each function's mapping UUID) and recorded in the header. When they
cannot be read, every record of the range is kept, ``"filters": null`` says so, and an ERROR
line is logged. Then the count is checked against the message's ``batchSize``: a difference
(filters changed or unknown, ``ParallelizationFactor`` above 1 splitting the range) is written
to ``"mismatch"``, logged as an ERROR and counted in the ``ArchiveMismatches`` metric; ``ddbt
redrive``/``replay`` refuse such an archive unless told ``--accept-mismatch``.

``ParallelizationFactor`` above 1 (read from the mapping with its filters, recorded in the
header as ``"parallelizationFactor"``): Lambda runs several batches of a shard at once, split
by partition key, so a failed batch held only some keys of its range; the others' records in
the range were processed by other batches. The stream cannot say which keys were the failed
batch's (AWS's hash is not documented), but every record of an item goes to one batch, and a
batch holds every record of its keys from its first to its last. So the records of the items
of the range's first and last record (certainly the failed batch's) are the whole batch when
they number ``batchSize``: then only they are archived (``"otherRecords"`` counts the range's
records left out). Otherwise the batch held other items too and which ones cannot be told: the
whole range is archived and flagged as a mismatch (``failed_batch``).

When the stream no longer holds the records (``TrimmedDataAccessException``, stream or
shard gone, the first record not found on a closed shard or, on an open one, only empty
pages while the first record is more than 24 hours old), the message is archived alone with
``"recordsExpired": true`` and the reason: the evidence is kept, the SQS message is deleted,
and an ERROR log line plus the ``MessagesNotArchived`` metric say so. A body that is not an
on-failure message is kept as ``<prefix><queue name>/invalid/<messageId>.json.gz`` (same
metric). Transient trouble (throttling, S3 errors, a read that stopped short of
``endSequenceNumber`` on an open shard) reports the message in ``batchItemFailures`` so SQS
delivers it again after the queue's visibility timeout.

Environment: ``ARCHIVE_BUCKET`` (required), ``ARCHIVE_PREFIX`` (default ``dlq-archive/``),
``SOURCE_MAPPINGS`` (JSON ``{"<function name>": "<mapping UUID>"}``), ``METRICS_NAMESPACE``,
``LOG_LEVEL``.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from handlers import aws, retry
from handlers.batch import Budget
from handlers.config import ConfigError, env_optional, env_required
from handlers.etl import validate_prefix
from handlers.filters import FilterError, Matcher, compile_filters, mapping_patterns
from handlers.getrecords import lambda_records
from handlers.observe import emit_metrics, log
from handlers.runtime import once

__all__ = [
    "ARCHIVE_VERSION",
    "DEFAULT_PREFIX",
    "Archive",
    "ArchiveResult",
    "ArchiverConfig",
    "Expired",
    "Incomplete",
    "NoMapping",
    "SourceMapping",
    "archive_key",
    "archive_message",
    "batch_info",
    "batch_mismatch",
    "build",
    "encode_archive",
    "failed_batch",
    "fetch_records",
    "find_source_mapping",
    "handler",
    "matcher_of",
    "on_failure_message",
    "read_archive",
    "source_mapping",
    "source_name",
]

ARCHIVE_VERSION = 1
HEADER = "ddbtArchive"
DEFAULT_PREFIX = "dlq-archive/"
CONTENT_TYPE = "application/gzip"
RETENTION_SECONDS = 24 * 3600  # DynamoDB Streams keeps records 24 hours
# Errors meaning the stream no longer holds the records: trimmed (24 h retention), or the
# stream/shard is gone (stream disabled, table deleted).
_GONE = frozenset({"TrimmedDataAccessException", "ResourceNotFoundException"})
# Errors of GetEventSourceMapping meaning the filters cannot be known (not transient).
_UNKNOWN_FILTERS = frozenset({"ResourceNotFoundException", "AccessDeniedException"})
_INFO_FIELDS = ("shardId", "startSequenceNumber", "endSequenceNumber", "streamArn")


class Expired(Exception):
    """The stream no longer holds (all of) the described records; ``records`` holds those
    that were still readable (usually none)."""

    def __init__(self, reason: str, records: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(reason)
        self.records = list(records)


class NoMapping(FilterError):
    """The function has no event source mapping from the stream (any more)."""


class Incomplete(Exception):
    """The read stopped before ``endSequenceNumber`` on a shard that is still open (empty
    pages, time budget): transient, try again."""


# --------------------------------------------------------------------------------------
# The on-failure message
# --------------------------------------------------------------------------------------


def on_failure_message(body: str | Mapping[str, Any]) -> dict[str, Any]:
    """The on-failure message of an SQS body (raw, or an SNS notification whose ``Message``
    holds it); ValueError naming what is missing."""
    data: Any = json.loads(body) if isinstance(body, str) else dict(body)
    if isinstance(data, dict) and "DDBStreamBatchInfo" not in data and "Message" in data:
        data = json.loads(data["Message"])
    if not isinstance(data, dict):
        raise ValueError("the message body is not a JSON object")
    batch_info(data)
    return data


def batch_info(message: str | Mapping[str, Any]) -> dict[str, Any]:
    """``DDBStreamBatchInfo`` of an on-failure message (or of an SQS/SNS body)."""
    data = on_failure_message(message) if isinstance(message, str) else message
    info = data.get("DDBStreamBatchInfo")
    if not isinstance(info, dict):
        raise ValueError("not a DynamoDB stream on-failure message: no DDBStreamBatchInfo")
    missing = [k for k in _INFO_FIELDS if not isinstance(info.get(k), str) or not info.get(k)]
    if missing:
        raise ValueError(f"DDBStreamBatchInfo lacks {', '.join(missing)}")
    for k in ("startSequenceNumber", "endSequenceNumber"):
        if not str(info[k]).isdigit():
            raise ValueError(f"DDBStreamBatchInfo.{k} is not a decimal sequence number")
    if int(info["startSequenceNumber"]) > int(info["endSequenceNumber"]):
        raise ValueError("DDBStreamBatchInfo.startSequenceNumber is after endSequenceNumber")
    return info


def source_name(message: Mapping[str, Any], fallback: str) -> str:
    """The failed function's name (``requestContext.functionArn`` without a qualifier),
    else ``fallback`` (the queue name)."""
    arn = (message.get("requestContext") or {}).get("functionArn")
    if isinstance(arn, str) and ":function:" in arn:
        name = _function_name_of(arn)
        if name:
            return name
    return fallback


def archive_key(prefix: str, source: str, info: Mapping[str, Any]) -> str:
    return (
        f"{prefix}{source}/{info['shardId']}/"
        f"{info['startSequenceNumber']}-{info['endSequenceNumber']}.jsonl.gz"
    )


# --------------------------------------------------------------------------------------
# Reading the records back from the stream
# --------------------------------------------------------------------------------------


def _iterator(streams: Any, info: Mapping[str, Any], kind: str, seq: str) -> str:
    try:
        return str(
            streams.get_shard_iterator(
                StreamArn=info["streamArn"],
                ShardId=info["shardId"],
                ShardIteratorType=kind,
                SequenceNumber=seq,
            )["ShardIterator"]
        )
    except Exception as exc:
        code = aws.error_code(exc)
        # ValidationException: the sequence number is not (any more) in this shard.
        if code in _GONE or code == "ValidationException":
            raise Expired(
                f"the stream no longer holds shard {info['shardId']} at sequence number {seq} "
                f"({code}: records are kept 24 hours)"
            ) from None
        raise


def _older_than_retention(info: Mapping[str, Any], now: float | None = None) -> bool:
    """Whether the batch's first record arrived more than 24 hours ago (so the stream has
    trimmed it for certain). An arrival time that cannot be read counts as old."""
    text = str(info.get("approximateArrivalOfFirstRecord") or "")
    try:
        arrived = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return True
    return (time.time() if now is None else now) - arrived > RETENTION_SECONDS


def fetch_records(
    streams: Any,
    info: Mapping[str, Any],
    *,
    matcher: Matcher | None = None,
    max_empty: int = 5,
    expired: Callable[[], bool] = lambda: False,
    empty_means_expired: bool = True,
) -> list[dict[str, Any]]:
    """The records ``info`` describes, in the Lambda event form; with ``matcher`` (the
    mapping's filters) only those it matches: Lambda skipped the others without invoking
    the function, yet the range from ``startSequenceNumber`` to ``endSequenceNumber`` spans
    them (``batchSize`` counts only the delivered ones, see ``batch_mismatch``).

    GetShardIterator ``AT_SEQUENCE_NUMBER startSequenceNumber``, then GetRecords until a
    record past ``endSequenceNumber``, the shard's end (no next iterator) or ``max_empty``
    empty pages in a row. An expired iterator (15 minutes) is renewed after the last record
    read. Raises ``Expired`` when the stream no longer holds the range and ``Incomplete``
    when the read stopped short on an open shard (or ``expired()`` said time is up).

    GetRecords may answer empty pages before it reaches records (DynamoDB Streams API), so
    "only empty pages on an open shard" is ambiguous. With ``empty_means_expired`` (the
    CLI, which leaves expired messages in the queue) it counts as expired; without (the
    archiver, which deletes them) it counts as expired only once the first record is more
    than 24 hours old, and as ``Incomplete`` (try again) before.

    With ``ParallelizationFactor`` above 1 a batch held only some partition keys of its
    range; every record of the range is returned (``failed_batch`` picks the batch's, when
    that can be told).
    """
    start, end = info["startSequenceNumber"], info["endSequenceNumber"]
    last = int(end)
    iterator: str | None = _iterator(streams, info, "AT_SEQUENCE_NUMBER", start)
    raw: list[dict[str, Any]] = []
    empty = 0
    renewed = False
    passed = False
    while iterator:
        if expired():
            raise Incomplete(f"time ran out reading shard {info['shardId']} from {start}")
        try:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
        except Exception as exc:
            code = aws.error_code(exc)
            if code == "ExpiredIteratorException" and not renewed:
                renewed = True
                iterator = (
                    _iterator(
                        streams,
                        info,
                        "AFTER_SEQUENCE_NUMBER",
                        raw[-1]["dynamodb"]["SequenceNumber"],
                    )
                    if raw
                    else _iterator(streams, info, "AT_SEQUENCE_NUMBER", start)
                )
                continue
            if code in _GONE:
                raise Expired(
                    f"records of shard {info['shardId']} from {start} are gone ({code})",
                    _delivered(raw, info["streamArn"], matcher),
                ) from None
            raise
        records = page.get("Records") or []
        for r in records:
            seq = int(r["dynamodb"]["SequenceNumber"])
            if seq > last:
                passed = True
                break
            raw.append(r)
            if seq == last:  # the range's last record: an open shard has nothing after it yet
                passed = True
                break
        if passed:
            break
        empty = 0 if records else empty + 1
        iterator = page.get("NextShardIterator")
        if iterator and empty >= max_empty:
            if not raw and (empty_means_expired or _older_than_retention(info)):
                break  # nothing at or after the start: judged below
            raise Incomplete(
                f"shard {info['shardId']}: {len(raw)} record(s) read from {start}, then "
                f"{empty} empty pages before {end}; try again"
            )
    arn = info["streamArn"]
    if not raw or raw[0]["dynamodb"]["SequenceNumber"] != start:
        raise Expired(
            f"sequence number {start} is not in shard {info['shardId']} any more "
            "(trimmed: records are kept 24 hours)",
            _delivered(raw, arn, matcher),
        )
    if raw[-1]["dynamodb"]["SequenceNumber"] != end:
        # Past the range (or the shard ended) without meeting its last record.
        raise Expired(
            f"shard {info['shardId']} holds {len(raw)} record(s) from {start} but not {end}",
            _delivered(raw, arn, matcher),
        )
    return _delivered(raw, arn, matcher)


def _delivered(
    raw: Sequence[Mapping[str, Any]], stream_arn: str, matcher: Matcher | None
) -> list[dict[str, Any]]:
    """The raw records in the Lambda form, those the filters drop left out."""
    records = lambda_records(raw, stream_arn)
    return records if matcher is None else [r for r in records if matcher(r)]


def batch_mismatch(info: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> str:
    """'' when ``records`` are as many as the failed batch held (``batchSize``), else what
    differs. A difference means the records read back are not the batch Lambda gave up on:
    the mapping's filters changed since, were not known, or ``ParallelizationFactor`` above 1
    split the range between concurrent batches (records of other partition keys, already
    processed, lie in it). Re-running such records could repeat side effects."""
    size = info.get("batchSize")
    if isinstance(size, bool) or not isinstance(size, int):
        return "the message names no batchSize: the records cannot be checked against the batch"
    if size == len(records):
        return ""
    return (
        f"the failed batch held {size} record(s) but the range holds {len(records)} that the "
        "mapping's filters deliver (filters changed or unknown, or ParallelizationFactor "
        "above 1 split the range): not the batch Lambda gave up on"
    )


def failed_batch(
    info: Mapping[str, Any],
    records: Sequence[dict[str, Any]],
    parallelization_factor: int | None = None,
) -> tuple[list[dict[str, Any]], str]:
    """The records of the range that the failed batch held, and '' ; or all of ``records``
    and why they are not known to be the batch (``batch_mismatch``).

    With ``parallelization_factor`` above 1 (the mapping's, None when unknown) a range holding
    more records than ``batchSize`` also holds records of other batches. A batch holds every
    record of its keys between its first and last record, and every record of an item goes
    to one batch (AWS keeps order per partition key; per item is all this relies on); so the
    records of the items of the range's first and last record belong to the failed batch,
    and when they are ``batchSize`` many they are all of it. Any other case (more items in
    the batch, filters changed, factor 1 or unknown) is not decided: the whole range is
    returned with the reason."""
    problem = batch_mismatch(info, records)
    size = info.get("batchSize")
    if not problem or not isinstance(size, int) or len(records) <= size:
        return list(records), problem
    if parallelization_factor is None or parallelization_factor <= 1:
        return list(records), problem
    ends = (records[0]["dynamodb"]["SequenceNumber"], records[-1]["dynamodb"]["SequenceNumber"])
    if ends != (info.get("startSequenceNumber"), info.get("endSequenceNumber")):
        return list(records), problem  # the range's ends are not delivered records (filters)
    items = {_item(records[0]), _item(records[-1])}
    batch = [r for r in records if _item(r) in items]
    if len(batch) == size:
        return batch, ""
    return list(records), (
        f"ParallelizationFactor {parallelization_factor}: the failed batch held {size} of the "
        f"range's {len(records)} records (the others were other batches'), and only "
        f"{len(batch)} of them are certain (the items of its first and last record); which "
        "other items it held cannot be told from the stream"
    )


def _item(record: Mapping[str, Any]) -> str:
    """A record's item (its whole key), as a comparable text."""
    return json.dumps(record["dynamodb"].get("Keys") or {}, sort_keys=True)


# --------------------------------------------------------------------------------------
# The mapping's filters
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceMapping:
    """What an archive needs of the failed function's event source mapping: its filter
    patterns (parsed) and its ``ParallelizationFactor``."""

    filters: list[dict[str, Any]]
    parallelization_factor: int = 1

    @classmethod
    def of(cls, mapping: Mapping[str, Any]) -> SourceMapping:
        """From a GetEventSourceMapping or ListEventSourceMappings item; FilterError when
        its criteria cannot be read."""
        factor = mapping.get("ParallelizationFactor")
        return cls(_parsed_patterns(mapping), factor if isinstance(factor, int) else 1)


def source_mapping(lambda_client: Any, uuid: str) -> SourceMapping:
    """The filters and parallelization of the event source mapping ``uuid``
    (GetEventSourceMapping); FilterError when they cannot be read or are invalid."""
    return SourceMapping.of(lambda_client.get_event_source_mapping(UUID=uuid))


def find_source_mapping(lambda_client: Any, function: str, stream_arn: str) -> SourceMapping:
    """The filters and parallelization of the mapping from ``stream_arn`` to ``function`` (a
    name or an ARN, qualified or not), found with ListEventSourceMappings of the stream;
    FilterError when there is no such mapping (it was deleted, so its filters are unknown)
    or its criteria cannot be read. A mapping whose FunctionArn equals ``function`` wins
    over one of the same function with another qualifier."""
    pages = lambda_client.get_paginator("list_event_source_mappings").paginate(
        EventSourceArn=stream_arn
    )
    mappings = [m for page in pages for m in page.get("EventSourceMappings") or []]
    found = [m for m in mappings if m.get("FunctionArn") == function]
    if not found:
        name = _function_name_of(function)
        found = [m for m in mappings if _function_name_of(str(m.get("FunctionArn"))) == name]
    if not found:
        raise NoMapping(
            f"no event source mapping from {stream_arn} to {function}: its filters are unknown"
        )
    if len(found) > 1:
        raise FilterError(
            f"{len(found)} event source mappings from {stream_arn} to {function}: "
            "which one's filters apply is unknown"
        )
    return SourceMapping.of(found[0])


def _function_name_of(function: str) -> str:
    """A function's name from its name or ARN (qualifier dropped)."""
    if ":function:" in function:
        return function.split(":function:", 1)[1].split(":", 1)[0]
    return function.split(":", 1)[0]


def _parsed_patterns(mapping: Mapping[str, Any]) -> list[dict[str, Any]]:
    texts = mapping_patterns(mapping)
    compile_filters({"Filters": [{"Pattern": t} for t in texts]})  # FilterError if invalid
    return [json.loads(t) for t in texts]


def matcher_of(patterns: Sequence[Mapping[str, Any]]) -> Matcher:
    """The matcher of parsed patterns (an archive header's ``filters``)."""
    return compile_filters({"Filters": [{"Pattern": json.dumps(p)} for p in patterns]})


# --------------------------------------------------------------------------------------
# The archive object
# --------------------------------------------------------------------------------------


def _line(value: Any) -> bytes:
    return (json.dumps(value, sort_keys=True, separators=(",", ":"), default=str) + "\n").encode()


def encode_archive(
    message: Mapping[str, Any],
    records: Sequence[Mapping[str, Any]],
    *,
    expired: bool = False,
    detail: str = "",
    filters: Sequence[Mapping[str, Any]] | None = None,
    mismatch: str = "",
    parallelization_factor: int | None = None,
    other_records: int = 0,
) -> bytes:
    """The archive body: gzip (mtime 0, so identical input gives identical bytes) of a
    header line and one line per record. ``filters``: the mapping's patterns the records
    were filtered with ([] for none; None when they were unknown, so the records were not
    filtered); ``mismatch``: ``failed_batch``'s finding; ``parallelization_factor``: the
    mapping's (None: unknown); ``other_records``: records of the range left out as other
    batches' (``failed_batch``)."""
    header = {
        HEADER: ARCHIVE_VERSION,
        "message": message,
        "records": len(records),
        "recordsExpired": expired,
        "detail": detail,
        "filters": None if filters is None else list(filters),
        "mismatch": mismatch,
        "parallelizationFactor": parallelization_factor,
        "otherRecords": other_records,
    }
    body = _line(header) + b"".join(_line(r) for r in records)
    return gzip.compress(body, compresslevel=6, mtime=0)


@dataclass
class Archive:
    """A parsed archive: the header (None for a plain JSON Lines file of records, the
    format ``redrive --to-s3`` wrote before) and the records."""

    header: dict[str, Any] | None
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def expired(self) -> bool:
        return bool(self.header and self.header.get("recordsExpired"))

    @property
    def filters(self) -> list[dict[str, Any]] | None:
        """The mapping's patterns the records were filtered with; None when unknown (an
        archive written before archives were filtered, or while the filters could not be
        read): then the records may include ones the filters dropped."""
        value = (self.header or {}).get("filters")
        return list(value) if isinstance(value, list) else None

    @property
    def mismatch(self) -> str:
        """Why the records are not the failed batch ('' when they are, or unchecked)."""
        return str((self.header or {}).get("mismatch") or "")


def read_archive(body: bytes) -> Archive:
    """Parse an archive body (gzip or plain); ValueError naming the bad line."""
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    archive = Archive(None)
    for n, line in enumerate(body.decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"line {n} is not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise ValueError(f"line {n} is not a JSON object")
        if HEADER in value:
            if n != 1:
                raise ValueError(f"line {n}: an archive header after line 1")
            archive.header = value
            continue
        if not isinstance(value.get("dynamodb"), dict) or "SequenceNumber" not in value["dynamodb"]:
            raise ValueError(f"line {n} is not a stream record (no dynamodb.SequenceNumber)")
        archive.records.append(value)
    return archive


@dataclass(frozen=True)
class ArchiveResult:
    key: str
    records: int
    expired: bool
    detail: str = ""
    mismatch: str = ""
    others: int = 0  # records of the range left out as other batches' (failed_batch)


def archive_message(
    *,
    streams: Any,
    s3: Any,
    bucket: str,
    prefix: str,
    message: Mapping[str, Any],
    fallback_source: str,
    expired: Callable[[], bool] = lambda: False,
    mapping: SourceMapping | None = None,
) -> ArchiveResult:
    """Fetch the records ``message`` describes, keep those the ``mapping``'s filters
    deliver (None: unknown, keep all), keep the failed batch's (``failed_batch``), check
    them against ``batchSize`` and write the archive object.

    Expired records: the message is archived alone (plus any records still readable) with
    ``recordsExpired: true``. ``Incomplete`` and AWS errors propagate (transient)."""
    info = batch_info(message)
    key = archive_key(prefix, source_name(message, fallback_source), info)
    filters = None if mapping is None else mapping.filters
    factor = None if mapping is None else mapping.parallelization_factor
    matcher = None if filters is None else matcher_of(filters)
    mismatch = ""
    others = 0
    try:
        in_range = fetch_records(
            streams, info, matcher=matcher, expired=expired, empty_means_expired=False
        )
        is_expired, detail = False, ""
        records, mismatch = failed_batch(info, in_range, factor)
        others = len(in_range) - len(records)
    except Expired as exc:
        records, is_expired, detail = exc.records, True, str(exc)
    body = encode_archive(
        message,
        records,
        expired=is_expired,
        detail=detail,
        filters=filters,
        mismatch=mismatch,
        parallelization_factor=factor,
        other_records=others,
    )
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=CONTENT_TYPE)
    return ArchiveResult(key, len(records), is_expired, detail, mismatch, others)


# --------------------------------------------------------------------------------------
# Lambda entry point
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiverConfig:
    bucket: str
    prefix: str
    # function name -> UUID of its stream mapping, whose filters the archive applies
    mappings: dict[str, str] = field(default_factory=dict)


def build(env: Mapping[str, str]) -> ArchiverConfig:
    bucket = env_required(env, "ARCHIVE_BUCKET", "the S3 bucket that receives DLQ archives")
    try:
        prefix = validate_prefix(env_optional(env, "ARCHIVE_PREFIX", DEFAULT_PREFIX))
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("ETL_PREFIX", "ARCHIVE_PREFIX")) from None
    text = env_optional(env, "SOURCE_MAPPINGS", "{}") or "{}"
    try:
        mappings = json.loads(text)
    except ValueError:
        mappings = None
    if not isinstance(mappings, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k and v for k, v in mappings.items()
    ):
        raise ConfigError(
            "environment variable SOURCE_MAPPINGS must be a JSON object "
            '{"<function name>": "<event source mapping UUID>"}'
        )
    return ArchiverConfig(bucket, prefix, mappings)


def _queue_name(arn: str) -> str:
    return arn.rsplit(":", 1)[-1] or "unknown-queue"


class _Run:
    """One invocation: ``budget`` bounds the AWS retries (``retry.budgeted``)."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.counts = {
            "archived": 0,
            "records": 0,
            "not_archived": 0,
            "failed": 0,
            "mismatched": 0,
        }
        self.mappings: dict[str, SourceMapping | None] = {}  # per mapping UUID

    def source_mapping(self, config: ArchiverConfig, source: str) -> SourceMapping | None:
        """The filters and parallelization of ``source``'s mapping (read once per
        invocation); None, with an ERROR line, when they cannot be known (the records are
        then kept unfiltered and the count check reports the difference). Throttling and
        other AWS trouble raise."""
        uuid = config.mappings.get(source)
        if uuid is None:
            log(
                "ERROR",
                "no event source mapping is known for the failed function; its filters are "
                "unknown and the records are archived unfiltered",
                function=source,
            )
            return None
        if uuid not in self.mappings:
            try:
                self.mappings[uuid] = source_mapping(aws.client("lambda"), uuid)
            except FilterError as exc:
                self.mappings[uuid] = None
                log("ERROR", "the mapping's filters cannot be read", uuid=uuid, reason=str(exc))
            except Exception as exc:
                if aws.error_code(exc) not in (
                    "ResourceNotFoundException",
                    "AccessDeniedException",
                ):
                    raise
                self.mappings[uuid] = None
                log(
                    "ERROR",
                    "the mapping's filters cannot be read; records archived unfiltered",
                    uuid=uuid,
                    reason=f"{aws.error_code(exc)}: {exc}",
                )
        return self.mappings[uuid]

    @retry.budgeted
    def one(self, record: Mapping[str, Any], batch: _Run) -> bool:
        """Archive one SQS message; True when it may be deleted. (``batch`` is ``self``:
        ``retry.budgeted`` takes the budget from a method's second argument.)"""
        config = once("archiver", build)
        mid = str(record.get("messageId", ""))
        queue = _queue_name(str(record.get("eventSourceARN", "")))
        s3 = aws.client("s3")
        try:
            message = on_failure_message(str(record.get("body", "")))
        except (ValueError, TypeError, AttributeError) as exc:
            key = f"{config.prefix}{queue}/invalid/{mid}.json.gz"
            body = gzip.compress(
                _line({HEADER: ARCHIVE_VERSION, "invalid": str(exc), "sqs": record}), mtime=0
            )
            s3.put_object(Bucket=config.bucket, Key=key, Body=body, ContentType=CONTENT_TYPE)
            log(
                "ERROR",
                "not an on-failure message; kept as evidence",
                messageId=mid,
                key=key,
                reason=str(exc),
            )
            self.counts["not_archived"] += 1
            return True
        result = archive_message(
            streams=aws.client("dynamodbstreams"),
            s3=s3,
            bucket=config.bucket,
            prefix=config.prefix,
            message=message,
            fallback_source=queue,
            expired=self.budget.expired,
            mapping=self.source_mapping(config, source_name(message, queue)),
        )
        if result.mismatch:
            log(
                "ERROR",
                "the archived records are not the failed batch; re-running them needs a "
                "decision (ddbt redrive --accept-mismatch)",
                messageId=mid,
                key=result.key,
                reason=result.mismatch,
            )
            self.counts["mismatched"] += 1
        if result.expired:
            log(
                "ERROR",
                "records expired from the stream before they were archived; message kept",
                messageId=mid,
                key=result.key,
                reason=result.detail,
                recordsStillReadable=result.records,
            )
            self.counts["not_archived"] += 1
        else:
            log(
                "INFO",
                "archived",
                messageId=mid,
                key=result.key,
                records=result.records,
                otherRecords=result.others,
            )
            self.counts["archived"] += 1
            self.counts["records"] += result.records
        return True


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point ``handlers.archiver.handler`` (SQS event source mapping with
    ``ReportBatchItemFailures``): archive each message; report the ones to deliver again."""
    once("archiver", build)  # a configuration error fails the invocation (and names it)
    run = _Run(Budget(context))
    failures: list[dict[str, str]] = []
    for record in event.get("Records") or []:
        mid = str(record.get("messageId", ""))
        if run.budget.expired():
            failures.append({"itemIdentifier": mid})
            continue
        try:
            run.one(record, run)
        except Exception as exc:  # any failure: SQS delivers the message again
            log(
                "WARNING",
                "could not archive the message; SQS delivers it again",
                messageId=mid,
                error=f"{type(exc).__name__}: {exc}",
            )
            failures.append({"itemIdentifier": mid})
    run.counts["failed"] = len(failures)
    emit_metrics(
        {
            "MessagesArchived": (run.counts["archived"], "Count"),
            "RecordsArchived": (run.counts["records"], "Count"),
            "MessagesNotArchived": (run.counts["not_archived"], "Count"),
            "ArchiveFailures": (run.counts["failed"], "Count"),
            "ArchiveMismatches": (run.counts["mismatched"], "Count"),
        },
        {"FunctionName": _function_name(context)},
    )
    return {"batchItemFailures": failures}


def _function_name(context: Any) -> str:
    return str(
        getattr(context, "function_name", "")
        or os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "archiver")
    )
