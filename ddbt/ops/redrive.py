"""Redrive: re-run the records an on-failure destination describes.

SQS (or SNS-wrapped) messages carry only ``DDBStreamBatchInfo`` (shard, first and last
sequence number, stream ARN): the records are read back from the stream with GetShardIterator
``AT_SEQUENCE_NUMBER`` on that shard, up to ``endSequenceNumber``, while the stream still
holds them (24 hours). A message is deleted only when every record it describes succeeded
(``--to-s3``: once they are archived). Records that are gone (TrimmedDataAccessException,
the shard or stream no longer exists, or the first record is not found) are reported per
message and the message is left in the queue.

An S3 on-failure destination (``--from-s3``) holds the records themselves
(``payload.Records``): each object is re-run and deleted when all its records succeeded.

Archive (``--to-s3``): one object per message,
``<prefix><table>/<shardId>/<startSequenceNumber>-<endSequenceNumber>.jsonl``, one Lambda
event record per line (the form ``ddbt replay --from-archive`` reads).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ddbt.ops.progress import Progress
from ddbt.ops.records import from_get_records
from ddbt.ops.target import Target

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

_GONE = ("TrimmedDataAccessException", "ResourceNotFoundException", "ExpiredIteratorException")


class Expired(Exception):
    """The stream no longer holds (all of) the described records."""


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


def batch_info(body: str) -> dict[str, Any]:
    """DDBStreamBatchInfo of an SQS message body (raw, or an SNS notification)."""
    data = json.loads(body)
    if isinstance(data, dict) and "DDBStreamBatchInfo" not in data and "Message" in data:
        data = json.loads(data["Message"])
    info = data.get("DDBStreamBatchInfo") if isinstance(data, dict) else None
    if not isinstance(info, dict) or not all(
        info.get(k) for k in ("shardId", "startSequenceNumber", "endSequenceNumber", "streamArn")
    ):
        raise ValueError("no DDBStreamBatchInfo with shardId, start/endSequenceNumber, streamArn")
    return info


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def fetch_records(
    streams: Any, info: Mapping[str, Any], max_empty: int = 3
) -> list[dict[str, Any]]:
    """The records ``info`` describes, in the Lambda event form; raises ``Expired``."""
    arn = info["streamArn"]
    start, end = info["startSequenceNumber"], info["endSequenceNumber"]
    try:
        iterator = streams.get_shard_iterator(
            StreamArn=arn,
            ShardId=info["shardId"],
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=start,
        )["ShardIterator"]
    except Exception as exc:
        code = _code(exc)
        if code in _GONE or code == "ValidationException":
            raise Expired(
                f"the stream no longer holds shard {info['shardId']} from sequence number "
                f"{start} ({code}: records are kept 24 hours)"
            ) from None
        raise
    out: list[dict[str, Any]] = []
    empty = 0
    last = int(end)
    while iterator:
        try:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
        except Exception as exc:
            if _code(exc) in _GONE:
                raise Expired(f"records from {start} are gone ({_code(exc)})") from None
            raise
        records = page.get("Records", [])
        for r in records:
            if int(r["dynamodb"]["SequenceNumber"]) > last:
                iterator = None
                break
            out.append(r)
        if iterator is None:
            break
        empty = 0 if records else empty + 1
        if empty >= max_empty:
            break
        iterator = page.get("NextShardIterator")
    if not out or out[0]["dynamodb"]["SequenceNumber"] != start:
        raise Expired(
            f"sequence number {start} is not in shard {info['shardId']} any more "
            "(trimmed: records are kept 24 hours)"
        )
    if out[-1]["dynamodb"]["SequenceNumber"] != end:
        raise Expired(
            f"the shard holds {len(out)} record(s) from {start} but not {end} (partly trimmed?)"
        )
    return from_get_records(out, arn)


def archive_key(prefix: str, info: Mapping[str, Any]) -> str:
    table = info["streamArn"].split(":table/", 1)[-1].split("/", 1)[0]
    return (
        f"{prefix}{table}/{info['shardId']}/"
        f"{info['startSequenceNumber']}-{info['endSequenceNumber']}.jsonl"
    )


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
            info = batch_info(message["Body"])
        except (ValueError, TypeError, AttributeError) as exc:
            report.outcomes.append(MessageOutcome(mid, "invalid", 0, str(exc)))
            continue
        try:
            records = fetch_records(streams, info)
        except Expired as exc:
            report.outcomes.append(MessageOutcome(mid, "expired", 0, str(exc)))
            continue
        if dry_run:
            what = (
                f"would archive to s3://{to_s3[0]}/{archive_key(to_s3[1], info)}"
                if to_s3
                else ("would re-run them")
            )
            report.outcomes.append(MessageOutcome(mid, "dry-run", len(records), what))
            continue
        if to_s3 is not None:
            bucket, prefix = to_s3
            key = archive_key(prefix, info)
            body = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
            s3.put_object(
                Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/x-ndjson"
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
    """Re-run the records an S3 on-failure destination holds (``payload.Records`` of each
    object under ``prefix``, in key order); delete an object only when all its records
    succeeded. The records are inside the object, so nothing expires."""
    report = RedriveReport()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            try:
                data = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                records = data["payload"]["Records"]
                if not isinstance(records, list) or not records:
                    raise ValueError("payload.Records is empty")
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
