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
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ddbt.ops.progress import Progress
from ddbt.ops.target import Target
from handlers.archiver import (
    CONTENT_TYPE,
    Expired,
    Incomplete,
    archive_key,
    batch_info,
    encode_archive,
    fetch_records,
    on_failure_message,
    read_archive,
    source_name,
)

__all__ = [
    "Expired",
    "MessageOutcome",
    "RedriveReport",
    "archive_key",
    "batch_info",
    "fetch_records",
    "redrive",
    "redrive_s3",
]


@dataclass
class MessageOutcome:
    message_id: str
    status: str  # "redriven", "archived", "expired", "failed", "dry-run", "invalid"
    records: int = 0
    detail: str = ""


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
) -> RedriveReport:
    """Redrive (``target``) or archive (``to_s3`` = (bucket, prefix)) every message once.

    Messages are received with ``visibility_timeout`` so each is seen once per run; those
    left become visible again after it.
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
        try:
            records = fetch_records(streams, info)
        except Expired as exc:
            report.outcomes.append(MessageOutcome(mid, "expired", 0, str(exc)))
            continue
        except Incomplete as exc:
            report.outcomes.append(MessageOutcome(mid, "failed", 0, f"{exc} (message left)"))
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
                Body=encode_archive(body, records),
                ContentType=CONTENT_TYPE,
            )
            status, detail = "archived", f"s3://{bucket}/{key}"
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
) -> RedriveReport:
    """Re-run the records of each object under ``prefix`` (in key order): an S3 on-failure
    destination's ``payload.Records``, or a DLQ archive's lines (``*.jsonl.gz`` /
    ``*.jsonl``); delete an object only when all its records succeeded. The records are
    inside the object, so nothing expires, except in an archive written after they had
    expired (``recordsExpired``): reported and left."""
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
                    records = archive.records
                else:
                    records = json.loads(raw)["payload"]["Records"]
                if not isinstance(records, list) or not records:
                    raise ValueError("no records in the object")
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
