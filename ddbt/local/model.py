"""What the runtime knows about a mapping and a function, parsed from the Lambda API."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from handlers.filters import Matcher, compile_filters
from handlers.getrecords import lambda_records

__all__ = [
    "DEFAULT_RETENTION_SECONDS",
    "FunctionSpec",
    "MappingSettings",
    "Rec",
    "epoch",
    "payload_size",
    "sqs_rec",
    "sqs_record",
]

# Stream records live 24 hours; with MaximumRecordAgeInSeconds = -1 that is the limit.
DEFAULT_RETENTION_SECONDS = 86_400
PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024


def epoch(value: Any) -> float:
    """A boto3 timestamp (datetime), ISO string or number -> epoch seconds."""
    if isinstance(value, dt.datetime):
        moment: dt.datetime = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moment.timestamp()
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    raise TypeError(f"not a timestamp: {value!r}")


@dataclass(frozen=True)
class MappingSettings:
    """An event source mapping (ListEventSourceMappings / GetEventSourceMapping item)."""

    uuid: str
    function_arn: str
    stream_arn: str
    enabled: bool = True
    batch_size: int = 100
    batching_window: float = 0.0
    starting_position: str = "LATEST"
    parallelization_factor: int = 1
    bisect: bool = False
    max_retries: int = -1
    max_record_age: int = -1
    report_item_failures: bool = False
    tumbling_window: int = 0
    destination_arn: str | None = None
    filter_criteria: dict[str, Any] | None = None
    last_modified: float = 0.0
    max_concurrency: int = 0  # ScalingConfig.MaximumConcurrency (SQS sources; 0: not set)
    matcher: Matcher = field(default_factory=lambda: Matcher([]), compare=False, repr=False)

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> MappingSettings:
        criteria = item.get("FilterCriteria") or None
        last_modified = item.get("LastModified")
        return cls(
            uuid=item["UUID"],
            function_arn=item["FunctionArn"],
            stream_arn=item["EventSourceArn"],
            enabled=str(item.get("State", "Enabled")) in ("Enabled", "Enabling", "Updating"),
            batch_size=int(item.get("BatchSize") or 100),
            batching_window=float(item.get("MaximumBatchingWindowInSeconds") or 0),
            starting_position=str(item.get("StartingPosition") or "LATEST"),
            parallelization_factor=max(1, int(item.get("ParallelizationFactor") or 1)),
            bisect=bool(item.get("BisectBatchOnFunctionError")),
            max_retries=_int(item.get("MaximumRetryAttempts"), -1),
            max_record_age=_int(item.get("MaximumRecordAgeInSeconds"), -1),
            report_item_failures="ReportBatchItemFailures"
            in (item.get("FunctionResponseTypes") or []),
            tumbling_window=int(item.get("TumblingWindowInSeconds") or 0),
            destination_arn=((item.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
                "Destination"
            )
            or None,
            filter_criteria=criteria,
            last_modified=epoch(last_modified) if last_modified is not None else 0.0,
            max_concurrency=int((item.get("ScalingConfig") or {}).get("MaximumConcurrency") or 0),
            matcher=compile_filters(criteria),
        )

    @property
    def source_service(self) -> str:
        """``dynamodb`` (a table's stream) or ``sqs`` (a queue): the ARN's service.
        (``stream_arn`` holds the event source ARN of either.)"""
        parts = self.stream_arn.split(":")
        return parts[2] if len(parts) > 2 else ""

    @property
    def record_age_limit(self) -> float:
        """Seconds after which a record goes to the destination instead of the function."""
        if self.max_record_age is None or self.max_record_age < 0:
            return float(DEFAULT_RETENTION_SECONDS)
        return float(self.max_record_age)

    @property
    def retry_limit(self) -> float:
        """Retries after the first attempt (``math.inf`` for -1)."""
        return math.inf if self.max_retries is None or self.max_retries < 0 else self.max_retries

    def delivery_key(self) -> tuple[Any, ...]:
        """Settings whose change restarts the mapping's pollers (the checkpoint is kept)."""
        return (
            self.function_arn,
            self.stream_arn,
            self.batch_size,
            self.batching_window,
            self.parallelization_factor,
            self.bisect,
            self.max_retries,
            self.max_record_age,
            self.report_item_failures,
            self.tumbling_window,
            self.destination_arn,
            json.dumps(self.filter_criteria, sort_keys=True),
            self.max_concurrency,
        )


def _int(value: Any, default: int) -> int:
    return default if value is None else int(value)


@dataclass(frozen=True)
class FunctionSpec:
    """A function as GetFunction describes it, plus where its zip can be downloaded."""

    arn: str  # the ARN the mapping invokes (may carry a qualifier)
    name: str
    handler: str
    runtime: str
    timeout: float
    memory: int
    environment: dict[str, str]
    code_sha256: str
    code_location: str | None
    version: str = "$LATEST"
    log_group: str = ""

    @classmethod
    def from_api(cls, arn: str, response: dict[str, Any]) -> FunctionSpec:
        config = response["Configuration"]
        return cls(
            arn=arn,
            name=config["FunctionName"],
            handler=config.get("Handler") or "",
            runtime=config.get("Runtime") or "",
            timeout=float(config.get("Timeout") or 3),
            memory=int(config.get("MemorySize") or 128),
            environment=dict((config.get("Environment") or {}).get("Variables") or {}),
            code_sha256=config.get("CodeSha256") or "",
            code_location=(response.get("Code") or {}).get("Location"),
            version=str(config.get("Version") or "$LATEST"),
            log_group=((config.get("LoggingConfig") or {}).get("LogGroup"))
            or f"/aws/lambda/{config['FunctionName']}",
        )

    def fingerprint(self) -> str:
        """Changes when a warm worker can no longer be reused (code or configuration)."""
        blob = json.dumps(
            [
                self.handler,
                self.runtime,
                self.timeout,
                self.memory,
                self.environment,
                self.code_sha256,
                self.version,
            ],
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Rec:
    """One stream record on its way to a function."""

    seq: str
    key: str  # partition key identity: records with the same key keep their order
    arrival: float  # ApproximateCreationDateTime, epoch seconds (sub-second when known)
    size: int  # its share of the invocation payload, in bytes
    event: dict[str, Any]  # exactly what the function receives

    @property
    def seq_int(self) -> int:
        return int(self.seq)


def make_rec(raw: dict[str, Any], stream_arn: str, hash_key: str | None) -> Rec:
    """A GetRecords record as the runtime tracks it; the event record is
    ``handlers.getrecords.lambda_records``, the one conversion the archiver and the ops
    tools use too."""
    (event,) = lambda_records([raw], stream_arn)
    ddb = raw.get("dynamodb") or {}
    keys = event["dynamodb"].get("Keys") or {}
    if hash_key and hash_key in keys:
        key = json.dumps({hash_key: keys[hash_key]}, sort_keys=True)
    else:  # unknown key schema: the whole key (finer than the partition key, still ordered)
        key = json.dumps(keys, sort_keys=True)
    created = ddb.get("ApproximateCreationDateTime")
    arrival = epoch(created) if created is not None else 0.0
    return Rec(
        seq=str(ddb["SequenceNumber"]),
        key=key,
        arrival=arrival,
        size=payload_size(event) + 1,  # and the comma that separates it from the next
        event=event,
    )


def payload_size(value: Any) -> int:
    """Bytes of ``value`` in an invocation payload (compact JSON, UTF-8). Lambda's 6 MB limit
    counts the payload, so a record's share is its event form (type tags, the stream ARN,
    base64 binaries), not its ``SizeBytes``."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


# -- SQS event sources ------------------------------------------------------------------------
# The system attributes Lambda's SQS event source passes on (AWS's sample events; FIFO queues
# add SequenceNumber, MessageGroupId and MessageDeduplicationId; AWSTraceHeader when traced).
SQS_EVENT_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
)


def _sqs_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """A ReceiveMessage message attribute -> Lambda's form (camelCase, binary as base64)."""
    out: dict[str, Any] = {}
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = _b64(value["BinaryValue"])
    out["stringListValues"] = list(value.get("StringListValues") or [])
    out["binaryListValues"] = [_b64(v) for v in value.get("BinaryListValues") or []]
    out["dataType"] = value.get("DataType", "String")
    return out


def _b64(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """A ReceiveMessage message (boto3) -> the record Lambda's SQS event source delivers:
    messageId, receiptHandle, body, attributes, messageAttributes, md5OfBody, eventSource
    ``aws:sqs``, eventSourceARN, awsRegion (the queue's).

    Guess: ``md5OfMessageAttributes`` is added only when the message has attributes (AWS's
    sample events show it absent; SDK event models allow it)."""
    attributes = message.get("Attributes") or {}
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {k: str(attributes[k]) for k in SQS_EVENT_ATTRIBUTES if k in attributes},
        "messageAttributes": {
            name: _sqs_attribute(value)
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody")
        or hashlib.md5(message.get("Body", "").encode()).hexdigest(),
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record.update(
        {
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": queue_arn.split(":")[3],
        }
    )
    return record


def sqs_rec(message: dict[str, Any], queue_arn: str) -> Rec:
    """A received message as the runtime tracks it: ``seq`` is the message id, ``key`` the
    message group (FIFO) or the id, ``arrival`` the SentTimestamp, ``size`` the body's."""
    event = sqs_record(message, queue_arn)
    attributes = event["attributes"]
    sent = attributes.get("SentTimestamp")
    return Rec(
        seq=event["messageId"],
        key=attributes.get("MessageGroupId") or event["messageId"],
        arrival=int(sent) / 1000 if sent and sent.isdigit() else 0.0,
        size=len(event["body"].encode()) + len(json.dumps(event["messageAttributes"])),
        event=event,
    )
