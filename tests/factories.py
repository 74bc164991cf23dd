"""Builders of realistic Lambda DynamoDB stream events (the shape live AWS sends)."""

from __future__ import annotations

import io
import itertools
import zipfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeSerializer

from ddbt.ops.records import lambda_record
from handlers.getrecords import attribute_value

REGION = "us-east-1"
ACCOUNT = "123456789012"
TABLE = "applications"
STREAM_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}/stream/2026-01-01T00:00:00.000"
BASE_SEQ = 4_421_584_500_000_000_017_450_439_091
VIEW_TYPES = ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES")
EVENT_NAMES = ("INSERT", "MODIFY", "REMOVE")

# A change of every awkward kind (a 38-digit number, a set, bytes) and its images as the
# notification and eventbus messages write them (numbers exact, sets sorted, bytes base64).
BIG = Decimal("12345678901234567890123456789012345678")
KEYS = {"job_id": "job-1"}
NEW = {"status": "INTERVIEW", "score": BIG, "tags": {"b", "a"}, "blob": b"\x00\xff"}
OLD = {"status": "APPLIED", "score": BIG, "tags": {"a", "b"}}
NEW_JSON = {
    "job_id": "job-1",
    "status": "INTERVIEW",
    "score": BIG,
    "tags": ["a", "b"],
    "blob": "AP8=",
}
OLD_JSON = {"job_id": "job-1", "status": "APPLIED", "score": BIG, "tags": ["a", "b"]}
HAS_NEW = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")
HAS_OLD = ("OLD_IMAGE", "NEW_AND_OLD_IMAGES")

# Zip entries carry a fixed timestamp (the one scripts/package.py uses): a zip built from the
# same files is then the same bytes whenever it is built (ZipFile.writestr with a bare name
# stamps the current local time, so two builds a second apart would differ).
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def zip_bytes(files: Mapping[str, str | bytes]) -> bytes:
    """A deterministic zip of ``files`` (archive name to content), in the given order."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, content)
    return buf.getvalue()


_serializer = TypeSerializer()
_counter = itertools.count()


def typed(value: Any) -> dict[str, Any]:
    """Lambda-event form of a Python value: boto3's wire form with B/BS base64-encoded."""
    return _event_form(_serializer.serialize(value))


def _event_form(av: dict[str, Any]) -> dict[str, Any]:
    """boto3's wire form in the Lambda event form: the project's one conversion."""
    return attribute_value(av)


def typed_image(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: typed(v) for k, v in item.items()}


def record(
    event_name: str = "INSERT",
    keys: Mapping[str, Any] | None = None,
    new: Mapping[str, Any] | None = None,
    old: Mapping[str, Any] | None = None,
    *,
    view_type: str = "NEW_AND_OLD_IMAGES",
    seq: int | None = None,
    created: int = 1_767_225_600,  # 2026-01-01T00:00:00Z
    stream_arn: str = STREAM_ARN,
    ttl: bool = False,
) -> dict[str, Any]:
    """One stream record; images are dropped as the view type and event name dictate."""
    keys = dict(keys or {"application_id": f"app-{next(_counter)}"})
    n = next(_counter)
    block: dict[str, Any] = {
        "ApproximateCreationDateTime": created,
        "Keys": typed_image(keys),
        "SequenceNumber": str(seq if seq is not None else BASE_SEQ + n * 100),
        "SizeBytes": 100,
        "StreamViewType": view_type,
    }
    if event_name in ("INSERT", "MODIFY") and view_type in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
        block["NewImage"] = typed_image({**keys, **(new or {})})
    if event_name in ("MODIFY", "REMOVE") and view_type in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
        block["OldImage"] = typed_image({**keys, **(old or {})})
    return lambda_record(
        event_id=f"{n:032x}",
        event_name=event_name,
        block=block,
        stream_arn=stream_arn,
        region=REGION,
        ttl=ttl,
    )


def getrecords_record(
    i: int, *, key: str | None = None, blob: bytes = b"", created: datetime | None = None
) -> dict[str, Any]:
    """Record ``i`` of a shard as boto3 parses GetRecords: an INSERT of item ``key``
    (default ``k<i>``) with sequence number ``10**21 + i``, bytes for ``B``, a datetime
    (default 2026-01-01); ``SizeBytes`` is the item's size, far below its size in a Lambda
    event."""
    key = key if key is not None else f"k{i}"
    image: dict[str, Any] = {"pk": {"S": key}}
    if blob:
        image["blob"] = {"B": blob}
    return {
        "eventID": f"{i:032x}",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-1",
        "dynamodb": {
            "ApproximateCreationDateTime": created or datetime(2026, 1, 1, tzinfo=UTC),
            "Keys": {"pk": {"S": key}},
            "NewImage": image,
            "SequenceNumber": str(10**21 + i),
            "SizeBytes": 4 + len(blob),
            "StreamViewType": "NEW_IMAGE",
        },
    }


def event(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return {"Records": [dict(r) for r in records]}


def sequential(records: Iterable[dict[str, Any]], start: int = BASE_SEQ) -> list[dict[str, Any]]:
    """Renumber records with increasing sequence numbers (one shard, in order)."""
    out = []
    for i, rec in enumerate(records):
        rec = dict(rec)
        rec["dynamodb"] = dict(rec["dynamodb"], SequenceNumber=str(start + i * 100))
        out.append(rec)
    return out


# The fields every change document (a notification message, an event bus event's detail)
# begins with, in order; the images and imagesOmitted follow.
CHANGE_FIELDS = [
    "eventName",
    "table",
    "keys",
    "eventID",
    "sequenceNumber",
    "approximateCreationDateTime",
    "ttlExpired",
    "changedAttributes",
]


def change_fields(rec: Mapping[str, Any]) -> dict[str, Any]:
    """The CHANGE_FIELDS a change document carries for ``rec``: a record of the KEYS, NEW and
    OLD change made with ``created=1_767_229_261`` (2026-01-01T01:01:01Z)."""
    event_name = rec["eventName"]
    both = rec["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    changed = {"blob": {"new": "AP8="}, "status": {"old": "APPLIED", "new": "INTERVIEW"}}
    return {
        "eventName": event_name,
        "table": TABLE,
        "keys": KEYS,
        "eventID": rec["eventID"],
        "sequenceNumber": rec["dynamodb"]["SequenceNumber"],
        "approximateCreationDateTime": "2026-01-01T01:01:01Z",
        "ttlExpired": False,
        "changedAttributes": changed if event_name == "MODIFY" and both else None,
    }


def secret_changes() -> list[dict[str, Any]]:
    """An INSERT, a MODIFY and a REMOVE of an item whose ``ssn`` and ``email`` (a key
    attribute too) hold values with SECRET in them, for the redaction tests."""
    new = {"ssn": "SECRET-NEW-111", "status": "B", "email": "new@SECRET.example"}
    old = {"ssn": "SECRET-OLD-222", "status": "A", "email": "new@SECRET.example"}
    keys = {"job_id": "job-9", "email": "key@SECRET.example"}
    return sequential(
        [
            record("INSERT", keys, new),
            record("MODIFY", keys, new, old),
            record("REMOVE", keys, old=old),
        ]
    )


def reported(response: Mapping[str, Any]) -> list[str]:
    """The item identifiers a handler's response reports failed."""
    return [x["itemIdentifier"] for x in response["batchItemFailures"]]


def seqs(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """The records' sequence numbers, in order."""
    return [r["dynamodb"]["SequenceNumber"] for r in records]


def failure_message(
    records: list[dict[str, Any]],
    *,
    function: str,
    shard: str = "shardId-00000001767225600000-0123abcd",
    stream: str = "",
    invoke_count: int = 1,
    payload: bool = False,
) -> dict[str, Any]:
    """What the on-failure destination receives for a failed batch of stream ``records``
    (docs/aws-semantics.md#the-on-failure-destination) from ``function`` (its ARN): an SQS or
    SNS destination's message; with ``payload``, an S3 destination's object, which carries
    the records too. ``stream``: their stream ARN (default: the first record's)."""
    message: dict[str, Any] = {
        "requestContext": {
            "requestId": "6f3c2b9e-0000-4000-8000-000000000000",
            "functionArn": function,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": invoke_count,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "version": "1.0",
        "timestamp": "2026-01-01T00:00:00.000Z",
        "DDBStreamBatchInfo": {
            "shardId": shard,
            "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": "2026-01-01T00:00:00Z",
            "approximateArrivalOfLastRecord": "2026-01-01T00:00:00Z",
            "batchSize": len(records),
            "streamArn": stream or records[0]["eventSourceARN"],
        },
    }
    if payload:
        message["payload"] = {"Records": records}
    return message


class Context:
    """The parts of a Lambda context object the handlers use."""

    def __init__(self, remaining_ms: int = 60_000, name: str = "test-fn") -> None:
        self._remaining = remaining_ms
        self.function_name = name
        self.aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining


__all__ = ["Decimal"]
