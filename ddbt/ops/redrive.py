"""Redrive: re-run the records an on-failure destination describes.

SQS (or SNS-wrapped) messages carry only ``DDBStreamBatchInfo`` (shard, first and last
sequence number, stream ARN): the records are read back from the stream with GetShardIterator
``AT_SEQUENCE_NUMBER`` on that shard, up to ``endSequenceNumber``, while the stream still
holds them (24 hours). A message is deleted only when every record it describes succeeded
(``--to-s3``: once they are archived). Records that are gone (TrimmedDataAccessException,
the shard or stream no longer exists, or the first record is not found) are reported per
message and the message is left in the queue.

``--from-s3`` re-runs objects under an S3 prefix: those of an S3 on-failure destination
hold the records themselves (``payload.Records``), and DLQ archives (``*.jsonl.gz`` written by
``--to-s3`` or the module's archiver function) hold them as JSON Lines. Each object is re-run
and deleted when all its records succeeded; an archive of a message whose records had
expired is reported and left.

Archive (``--to-s3``): the format and key of the archiver function (``handlers.archiver``,
the one implementation of fetching and writing), one object per message:
``<prefix><function name>/<shardId>/<startSequenceNumber>-<endSequenceNumber>.jsonl.gz``,
gzip JSON Lines: a header line with the message, then one Lambda event record per line
(the form ``ddbt replay --from-archive`` reads). Unlike the archiver, the command leaves a
message whose records expired in the queue and writes nothing for it.

Filters: a failed batch's range also spans the records the mapping's ``FilterCriteria``
dropped, which Lambda never delivered. Records read back from the stream are filtered with
the failed function's mapping (ListEventSourceMappings of the message's function and stream,
``handlers.filters``), and so are the records of an archive that does not say which filters
it applied (written before archives were filtered, or while the filters could not be read).
Then their count must equal the message's ``batchSize``; otherwise they are not the batch
Lambda gave up on (the filters changed or are unknown, or ``ParallelizationFactor`` above 1
split the range) and the message or object is left, reported as ``mismatch``, unless
``--accept-mismatch`` says to run them anyway. With the mapping's ``ParallelizationFactor``
above 1, the failed batch's records are picked out of the range when that can be told (the
records of the items of its first and last record number ``batchSize``:
``handlers.archiver.failed_batch``); only they are run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ddbt.ops.progress import Progress
from ddbt.ops.target import Target
from handlers import aws
from handlers.archiver import (
    CONTENT_TYPE,
    Archive,
    Expired,
    Incomplete,
    SourceMapping,
    archive_key,
    batch_info,
    batch_mismatch,
    encode_archive,
    failed_batch,
    fetch_records,
    find_source_mapping,
    matcher_of,
    on_failure_message,
    read_archive,
    source_name,
)
from handlers.filters import FilterError

__all__ = [
    "ArchiveRefused",
    "Expired",
    "MessageOutcome",
    "RedriveReport",
    "archive_key",
    "archive_records",
    "batch_info",
    "fetch_records",
    "mapping_of",
    "redrive",
    "redrive_s3",
]

# Errors of ListEventSourceMappings meaning the filters cannot be known (not transient).
_UNKNOWN_FILTERS = frozenset({"ResourceNotFoundException", "AccessDeniedException"})


@dataclass
class MessageOutcome:
    message_id: str
    # "redriven", "archived", "expired", "failed", "dry-run", "invalid", "mismatch"
    status: str
    records: int = 0
    detail: str = ""


class ArchiveRefused(ValueError):
    """An archive whose records are not known to be the failed batch; says why."""


def mapping_of(lambda_client: Any, message: Mapping[str, Any]) -> tuple[SourceMapping | None, str]:
    """(the filters and parallelization of the mapping that failed the batch, '') or (None,
    why they are unknown). The mapping is the one from the message's stream to its
    ``requestContext.functionArn``."""
    function = (message.get("requestContext") or {}).get("functionArn")
    stream = (message.get("DDBStreamBatchInfo") or {}).get("streamArn")
    if lambda_client is None or not function or not stream:
        return None, "the message does not name the failed function and its stream"
    try:
        return find_source_mapping(lambda_client, str(function), str(stream)), ""
    except FilterError as exc:
        return None, str(exc)
    except Exception as exc:
        if aws.error_code(exc) not in _UNKNOWN_FILTERS:
            raise
        return None, f"the mapping's filters cannot be read ({aws.error_code(exc)})"


def archive_records(
    archive: Archive, lambda_client: Any = None, accept_mismatch: bool = False
) -> list[dict[str, Any]]:
    """The records of an archive to re-run: filtered with the mapping's filters when the
    archive did not apply them, and checked against the failed batch's ``batchSize``.
    ``ArchiveRefused`` when they are not known to be that batch (unless
    ``accept_mismatch``)."""
    if archive.header is None:
        if accept_mismatch:
            return list(archive.records)
        raise ArchiveRefused(
            "a plain JSON Lines archive (no header): nothing says which batch it holds; "
            "--accept-mismatch runs it anyway"
        )
    message = archive.header.get("message") or {}
    records = list(archive.records)
    problem = archive.mismatch
    if archive.filters is None:
        mapping, unknown = mapping_of(lambda_client, message)
        if mapping is not None:
            matcher = matcher_of(mapping.filters)
            info = message.get("DDBStreamBatchInfo") or {}
            records, problem = failed_batch(
                info, [r for r in records if matcher(r)], mapping.parallelization_factor
            )
        elif not problem:
            problem = f"the archive's records were not filtered and {unknown}"
    if not problem:
        problem = batch_mismatch(message.get("DDBStreamBatchInfo") or {}, records)
    if problem and not accept_mismatch:
        raise ArchiveRefused(f"{problem}; --accept-mismatch runs it anyway")
    return records


@dataclass
class RedriveReport:
    outcomes: list[MessageOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def lines(self) -> list[str]:
        out = [
            f"{o.message_id}: {o.status} ({o.records} records){': ' + o.detail if o.detail else ''}"
            for o in self.outcomes
        ]
        done = self.count("redriven") + self.count("archived")
        out.append(
            f"redrive: {len(self.outcomes)} messages, {done} done and deleted, "
            f"{self.count('expired')} expired (left in the queue), {self.count('failed')} "
            f"failed again (left), {self.count('invalid')} not understood (left), "
            f"{self.count('mismatch')} not the failed batch (left), "
            f"{self.count('dry-run')} dry-run"
        )
        return out


def _messages(sqs: Any, queue_url: str, max_messages: int | None, visibility: int) -> Iterator[Any]:
    """Each message once per run: a message left in the queue becomes visible again after
    ``visibility`` seconds and is then recognised by its id; the run ends when a receive
    brings nothing new."""
    seen: set[str] = set()
    while max_messages is None or len(seen) < max_messages:
        got = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=visibility,
            WaitTimeSeconds=0,
        ).get("Messages", [])
        fresh = [m for m in got if m["MessageId"] not in seen]
        if not fresh:
            return
        for m in fresh:
            if max_messages is not None and len(seen) >= max_messages:
                return
            seen.add(m["MessageId"])
            yield m


def redrive(
    *,
    sqs: Any,
    streams: Any,
    queue_url: str,
    target: Target | None = None,
    s3: Any = None,
    to_s3: tuple[str, str] | None = None,
    dry_run: bool = False,
    max_messages: int | None = None,
    visibility_timeout: int = 300,
    progress: Progress | None = None,
    lambda_client: Any = None,
    accept_mismatch: bool = False,
) -> RedriveReport:
    """Redrive (``target``) or archive (``to_s3`` = (bucket, prefix)) every message once.

    Messages are received with ``visibility_timeout`` so each is seen once per run; those
    left become visible again after it. ``lambda_client`` reads the failed mapping's
    filters (see the module docstring).
    """
    report = RedriveReport()
    for message in _messages(sqs, queue_url, max_messages, visibility_timeout):
        mid = message["MessageId"]
        try:
            body = on_failure_message(message["Body"])
            info = batch_info(body)
        except (ValueError, TypeError, AttributeError) as exc:
            report.outcomes.append(MessageOutcome(mid, "invalid", 0, str(exc)))
            continue
        mapping, unknown = mapping_of(lambda_client, body)
        matcher = None if mapping is None else matcher_of(mapping.filters)
        try:
            in_range = fetch_records(streams, info, matcher=matcher)
        except Expired as exc:
            report.outcomes.append(MessageOutcome(mid, "expired", 0, str(exc)))
            continue
        except Incomplete as exc:
            report.outcomes.append(MessageOutcome(mid, "failed", 0, f"{exc} (message left)"))
            continue
        factor = None if mapping is None else mapping.parallelization_factor
        records, mismatch = failed_batch(info, in_range, factor)
        if mismatch and mapping is None:
            mismatch = f"{mismatch} ({unknown})"
        if mismatch and not accept_mismatch and to_s3 is None:
            detail = f"{mismatch}; message left (--accept-mismatch runs the records anyway)"
            report.outcomes.append(MessageOutcome(mid, "mismatch", len(records), detail))
            continue
        key = ""
        if to_s3 is not None:
            key = archive_key(to_s3[1], source_name(body, queue_url.rsplit("/", 1)[-1]), info)
        if dry_run:
            what = f"would archive to s3://{to_s3[0]}/{key}" if to_s3 else "would re-run them"
            report.outcomes.append(MessageOutcome(mid, "dry-run", len(records), what))
            continue
        if to_s3 is not None:
            bucket = to_s3[0]
            s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=encode_archive(
                    body,
                    records,
                    filters=None if mapping is None else mapping.filters,
                    mismatch=mismatch,
                    parallelization_factor=factor,
                    other_records=len(in_range) - len(records),
                ),
                ContentType=CONTENT_TYPE,
            )
            status, detail = "archived", f"s3://{bucket}/{key}"
            if mismatch:
                detail += f" (flagged: {mismatch})"
        else:
            assert target is not None
            result = target.run(records)
            if result.done < len(records):
                failed = records[result.done]["dynamodb"]["SequenceNumber"]
                report.outcomes.append(
                    MessageOutcome(
                        mid,
                        "failed",
                        len(records),
                        f"record {failed} failed again ({result.error or 'see the logs'}); "
                        f"{result.done} applied, message left",
                    )
                )
                if progress:
                    progress.add(messages=1, failed=1)
                continue
            status, detail = "redriven", ""
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        report.outcomes.append(MessageOutcome(mid, status, len(records), detail))
        if progress:
            progress.add(messages=1, records=len(records))
    if progress:
        progress.done()
    return report


def redrive_s3(
    *,
    s3: Any,
    bucket: str,
    prefix: str,
    target: Target,
    dry_run: bool = False,
    progress: Progress | None = None,
    lambda_client: Any = None,
    accept_mismatch: bool = False,
) -> RedriveReport:
    """Re-run the records of each object under ``prefix`` (in key order): an S3 on-failure
    destination's ``payload.Records``, or a DLQ archive's lines (``*.jsonl.gz`` /
    ``*.jsonl``); delete an object only when all its records succeeded. The records are
    inside the object, so nothing expires, except in an archive written after they had
    expired (``recordsExpired``): reported and left. An object whose records are not the
    failed batch (``archive_records``, or a payload whose count differs from its
    ``batchSize``) is reported as ``mismatch`` and left unless ``accept_mismatch``."""
    report = RedriveReport()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            try:
                raw = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                if key.endswith((".jsonl.gz", ".jsonl")):
                    archive = read_archive(raw)
                    if archive.expired:
                        detail = str((archive.header or {}).get("detail", ""))
                        report.outcomes.append(
                            MessageOutcome(key, "expired", len(archive.records), detail)
                        )
                        continue
                    records = archive_records(archive, lambda_client, accept_mismatch)
                else:
                    body = json.loads(raw)
                    records = body["payload"]["Records"]
                    mismatch = batch_mismatch(body.get("DDBStreamBatchInfo") or {}, records)
                    if mismatch and not accept_mismatch:
                        raise ArchiveRefused(f"{mismatch}; --accept-mismatch runs it anyway")
                if not isinstance(records, list) or not records:
                    raise ValueError("no records in the object")
            except ArchiveRefused as exc:
                report.outcomes.append(MessageOutcome(key, "mismatch", 0, f"{exc} (left)"))
                continue
            except (ValueError, KeyError, TypeError) as exc:
                report.outcomes.append(MessageOutcome(key, "invalid", 0, f"not understood: {exc}"))
                continue
            if dry_run:
                report.outcomes.append(MessageOutcome(key, "dry-run", len(records)))
                continue
            result = target.run(records)
            if result.done < len(records):
                failed = records[result.done]["dynamodb"]["SequenceNumber"]
                detail = f"record {failed} failed again ({result.error or 'see the logs'})"
                report.outcomes.append(MessageOutcome(key, "failed", len(records), detail))
                continue
            s3.delete_object(Bucket=bucket, Key=key)
            report.outcomes.append(MessageOutcome(key, "redriven", len(records)))
            if progress:
                progress.add(objects=1, records=len(records))
    if progress:
        progress.done()
    return report
