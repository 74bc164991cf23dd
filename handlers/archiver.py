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

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from handlers import aws, retry
from handlers.archive import (
    CONTENT_TYPE,
    DEFAULT_PREFIX,
    UNKNOWN_FILTERS,
    Expired,
    SourceMapping,
    archive_key,
    batch_info,
    encode_archive,
    encode_invalid,
    failed_batch,
    fetch_records,
    invalid_key,
    matcher_of,
    on_failure_message,
    source_mapping,
    source_name,
)
from handlers.batch import Budget
from handlers.coldstart import once
from handlers.config import ConfigError, env_key_prefix, env_optional, env_required
from handlers.filters import FilterError
from handlers.observe import emit_metrics, log

__all__ = ["ArchiveResult", "ArchiverConfig", "archive_message", "build", "handler"]


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
    prefix = env_key_prefix(env, "ARCHIVE_PREFIX", DEFAULT_PREFIX)
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
                if aws.error_code(exc) not in UNKNOWN_FILTERS:
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
            key = invalid_key(config.prefix, queue, mid)
            body = encode_invalid(record, str(exc))
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
