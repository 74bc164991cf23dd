"""Notification: one SNS message per qualifying item change, published with ``PublishBatch``.

Which changes qualify (applied in code, because in pipeline mode the mapping's filter applies
to every processor): the event name is in ``NOTIFY_EVENTS``; for a ``MODIFY`` with both
images, at least one attribute of ``NOTIFY_ATTRIBUTES`` changed (any attribute when empty),
comparing *decoded* values, so set order or number formatting is not a change. A ``MODIFY``
without both images (``KEYS_ONLY``, ``NEW_IMAGE``, ``OLD_IMAGE`` view types) cannot tell
what changed: it is notified (never silently dropped) with ``changedAttributes: null``.

Message body (JSON, keys in this order)::

    {"eventName": "MODIFY", "table": "<table>", "keys": {...}, "eventID": "<id>",
     "sequenceNumber": "<digits>", "approximateCreationDateTime": "2026-01-01T00:00:00Z",
     "ttlExpired": false,
     "changedAttributes": {"<name>": {"old": <value>, "new": <value>}, ...} | null,
     "newImage" | "oldImage": {...} | null, "imagesOmitted": false}

Values keep DynamoDB's exact numbers, bytes as base64, sets as sorted lists. In
``changedAttributes`` (MODIFY with both images only, names sorted) an added attribute has no
``old`` key and a removed one no ``new`` key; a changed attribute named in ``NOTIFY_REDACT``
is ``{"redacted": true}``. Redacted attributes are left out of ``keys`` and of the image.
``newImage`` is sent for INSERT and MODIFY, ``oldImage`` for REMOVE (null when the view type
lacks it). A message above SNS's 256 KiB limit (body plus message attributes) is sent without
its image and changed values (``{"omitted": true}`` per changed attribute) and with
``imagesOmitted: true``: never dropped.

Message attributes for subscription filter policies: ``eventName`` (String) and, when
``changedAttributes`` is known, ``changedAttributes`` (String.Array: JSON array of names).
FIFO topics (ARN ending ``.fifo``): ``MessageGroupId`` = hex SHA-256 of the table name and the
item's key values (changes of one item stay in order), ``MessageDeduplicationId`` = eventID
(its SHA-256 when it is not a valid deduplication id).

Calls overlap: up to ``NOTIFY_PUBLISH_CONCURRENCY`` (default 10, botocore's connection pool;
1 to 50) ``PublishBatch`` calls are in flight while the next messages are built, the SNS
client's connection pool sized to match (``handlers.aws.reserve``). SNS keeps a FIFO topic's
order per message group as the messages arrive (a batch's messages in request order), so
on a FIFO topic two calls that carry a common group are never in flight together and are
made in record order; after a failed call no call of its groups (nor any later call) starts.

Failures are classified by SNS's error code (``handlers.errors``, from botocore's SNS model),
never by the ``SenderFault`` flag alone: SNS marks its throttling (``Throttled``, HTTP 429;
``KMSThrottling``, the topic's key, HTTP 400) as sender faults. An entry in ``Failed`` with a
retryable code (those two, ``InternalError``) is published again, alone, with jittered
backoff inside the invocation's time budget (``changes.send_entries``); one whose message
SNS rejects (``InvalidParameter``, ``ParameterValueInvalid``, ``ValidationException``) is a
poison record; anything else (a disabled or missing key, authorization, an unknown code) is
transient. An error of the whole call is transient (after ``handlers.retry``'s retries).

Delivery guarantee: **at least once**. A record is reported done only after SNS accepted its
message, and after every earlier message was accepted; the first record whose entry failed
for good (and every later one) is reported for redelivery, and no ``PublishBatch`` call
starts after that in the invocation. Duplicates can still arise exactly where SNS accepted a
message that is published again later:

* entries *after* the failed entry within the same ``PublishBatch`` call, and in later calls
  already in flight when it failed, were published, and are published again when Lambda
  redelivers from the failed record;
* a crash or timeout after a call succeeded (the function killed at its timeout or out of
  memory, or an error after publishing such as a failed checkpoint write): the invocation
  reports nothing, Lambda redelivers the batch (whole or bisected) and its messages are
  published again;
* a call whose answer was lost (connection reset or read timeout after SNS accepted it) is
  sent again by ``handlers.retry``: ``PublishBatch`` has no idempotency token.

FIFO topics drop such duplicates by ``MessageDeduplicationId`` (= eventID) only when the
duplicate arrives within SNS's 5-minute deduplication window; standard topics never do.
Subscribers should be idempotent on ``eventID``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Context, Decimal
from json.encoder import encode_basestring as _quote
from typing import Any

from handlers import aws, retry
from handlers.batch import Batch, Outcome, run_batch
from handlers.changes import MISSING, ChangeJson, publish_batched, utf8_len
from handlers.codec import RecordError, to_json
from handlers.coldstart import checkpoint_store, once
from handlers.config import ConfigError, env_concurrency, env_list, env_required
from handlers.stream import EventName, StreamRecord

__all__ = [
    "MAX_BATCH_ENTRIES",
    "MAX_MESSAGE_BYTES",
    "NotificationProcessor",
    "build",
    "handler",
    "processor",
]

MAX_BATCH_ENTRIES = 10  # PublishBatch entries per call
MAX_MESSAGE_BYTES = 262_144  # 256 KiB: per message and per PublishBatch call
_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(?:\.fifo)?\Z")
_DEDUP_ID = re.compile(r"[\x21-\x7e]{1,128}\Z")  # alphanumerics and punctuation, <= 128
_KEY_CONTEXT = Context(prec=38)
_EVENT_ATTRIBUTE = {name: {"DataType": "String", "StringValue": name.value} for name in EventName}
# Size SNS counts for a message attribute: its name, data type and value.
_EVENT_ATTRIBUTE_BYTES = {
    name: len("eventName") + len("String") + len(name.value) for name in EventName
}
_CHANGED_ATTRIBUTE_BYTES = len("changedAttributes") + len("String.Array")

Entry = dict[str, Any]


class NotificationProcessor:
    """Publishes one SNS message per qualifying change, in record order."""

    name = "notification"

    def __init__(
        self,
        topic_arn: str,
        client: Callable[[], Any],
        *,
        events: Iterable[EventName] = tuple(EventName),
        attributes: Iterable[str] = (),
        redact: Iterable[str] = (),
        workers: int = aws.DEFAULT_POOL,
    ) -> None:
        self.topic_arn = topic_arn
        self.fifo = topic_arn.endswith(".fifo")
        self.events = frozenset(events)
        self.attributes = tuple(attributes)
        self.redact = frozenset(redact)
        self.workers = workers
        self._client = client
        self._json = ChangeJson(self.redact)

    # -- building messages ------------------------------------------------------------
    def message(self, record: StreamRecord) -> tuple[Entry, int] | None:
        """The PublishBatch entry for ``record`` and its size in bytes as SNS counts it
        (body plus message attributes), or None when the change does not qualify.

        Raises ``RecordError`` for a record whose message cannot be built.
        """
        name = record.event_name
        if name not in self.events:
            return None
        writer = self._json
        changed: list[str] | None = None
        raw_old: dict[str, Any] | None = None
        if name is EventName.INSERT:
            image_key, raw_image = "newImage", record.raw_new_image
        elif name is EventName.REMOVE:
            image_key, raw_image = "oldImage", record.raw_old_image
        else:
            image_key, raw_image = "newImage", record.raw_new_image
            raw_old = record.raw_old_image
            if raw_image is not None and raw_old is not None:
                if self.attributes and not any(
                    writer.differs(raw_old, raw_image, a) for a in self.attributes
                ):
                    return None
                changed = writer.changed(raw_old, raw_image)
                if not changed:
                    return None
            # Without both images nothing tells which attributes changed. Choice: notify
            # (with changedAttributes null), even when NOTIFY_ATTRIBUTES is set, rather than
            # silently drop a change that may concern a watched attribute.

        head = writer.head(record)
        attributes: dict[str, Any] = {"eventName": _EVENT_ATTRIBUTE[name]}
        attribute_bytes = _EVENT_ATTRIBUTE_BYTES[name]
        if changed is None:
            changes = "null"
        else:
            assert raw_image is not None and raw_old is not None
            changes = writer.changes_json(raw_old, raw_image, changed)
            names = "[" + ",".join(map(_quote, changed)) + "]"
            attributes["changedAttributes"] = {"DataType": "String.Array", "StringValue": names}
            attribute_bytes += _CHANGED_ATTRIBUTE_BYTES + utf8_len(names)
        image = "null" if raw_image is None else writer.image_json(raw_image, image_key)
        body = f'{head}{changes},"{image_key}":{image},"imagesOmitted":false}}'
        size = utf8_len(body) + attribute_bytes
        if size > MAX_MESSAGE_BYTES:
            # Too large for SNS: send the change without values rather than drop it.
            if changed is not None:
                changes = writer.omitted_changes_json(changed)
            body = head + changes + ',"' + image_key + '":null,"imagesOmitted":true}'
            size = utf8_len(body) + attribute_bytes
            if size > MAX_MESSAGE_BYTES and changed is not None:
                # Only conceivable with a huge number of changed attribute names.
                attributes.pop("changedAttributes")
                attribute_bytes = _EVENT_ATTRIBUTE_BYTES[name]
                body = head + 'null,"' + image_key + '":null,"imagesOmitted":true}'
                size = utf8_len(body) + attribute_bytes
            if size > MAX_MESSAGE_BYTES:
                raise RecordError(
                    f"the notification is {size} bytes even without images, above SNS's "
                    f"{MAX_MESSAGE_BYTES}-byte limit"
                )
        entry: Entry = {"Id": str(record.index), "Message": body, "MessageAttributes": attributes}
        if self.fifo:
            entry["MessageGroupId"] = self._group_id(record)
            entry["MessageDeduplicationId"] = _dedup_id(record)
        return entry, size

    @staticmethod
    def _group_id(record: StreamRecord) -> str:
        """Hex SHA-256 of the table name and the item's key values (64 characters)."""
        digest = hashlib.sha256(record.table_name.encode("utf-8", "surrogatepass"))
        keys = record.keys
        for name in sorted(keys):
            value = keys[name]
            if isinstance(value, str):
                token = b"S" + value.encode("utf-8", "surrogatepass")
            elif isinstance(value, Decimal):
                token = b"N" + str(value.normalize(_KEY_CONTEXT)).encode()
            elif isinstance(value, bytes):
                token = b"B" + value
            else:  # not a valid key type; still deterministic
                token = b"J" + to_json(record.raw_keys[name]).encode("utf-8", "surrogatepass")
            digest.update(b"\x00" + name.encode("utf-8", "surrogatepass") + b"\x00" + token)
        return digest.hexdigest()

    # -- publishing -------------------------------------------------------------------
    @retry.budgeted
    def process(self, records: Sequence[StreamRecord], batch: Batch) -> Outcome:
        return publish_batched(
            records,
            self.message,
            self._publish_batch,
            service="sns",
            operation="PublishBatch",
            rejected="SNS rejected the message",
            budget=batch.budget,
            max_entries=MAX_BATCH_ENTRIES,
            max_bytes=MAX_MESSAGE_BYTES,
            workers=self.workers,
            group=_message_group if self.fifo else None,
        )

    def _publish_batch(self, entries: list[Entry]) -> list[object]:
        """One PublishBatch call; its answer per entry, in request order (matched by Id)."""
        response = self._client().publish_batch(
            TopicArn=self.topic_arn, PublishBatchRequestEntries=entries
        )
        failed = {f.get("Id"): f for f in response.get("Failed") or ()}
        accepted = {s.get("Id") for s in response.get("Successful") or ()}
        out: list[object] = []
        for entry in entries:
            problem = failed.get(entry["Id"])
            if problem is not None:
                fault = " (sender fault)" if problem.get("SenderFault") else ""
                out.append((str(problem.get("Code", "?")), f"{problem.get('Message', '')}{fault}"))
            elif entry["Id"] in accepted:
                out.append(None)
            else:
                out.append(MISSING)
        return out


def _message_group(entry: Entry) -> str:
    group: str = entry["MessageGroupId"]
    return group


def _dedup_id(record: StreamRecord) -> str:
    """eventID when it is a valid deduplication id, else its hex SHA-256 (a record without
    eventID uses the stream ARN and sequence number instead)."""
    event_id = record.event_id
    if _DEDUP_ID.match(event_id):
        return event_id
    source = event_id or f"{record.stream_arn}#{record.sequence_number}"
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


def build(env: Mapping[str, str]) -> NotificationProcessor:
    """The processor configured by ``NOTIFY_*`` variables (raises ``ConfigError``)."""
    topic = env_required(
        env,
        "NOTIFY_TOPIC_ARN",
        "the ARN of the SNS topic to publish to (arn:aws:sns:<region>:<account>:<name>)",
    )
    if not _TOPIC_ARN.match(topic):
        raise ConfigError(
            f"environment variable NOTIFY_TOPIC_ARN must be an SNS topic ARN "
            f"(arn:aws:sns:<region>:<12-digit account>:<topic name>[.fifo]), got {topic!r:.200}"
        )
    topic_region = topic.split(":")[3]
    region = env.get("AWS_REGION", "").strip() or env.get("AWS_DEFAULT_REGION", "").strip()
    if region and region != topic_region:
        # The SNS client is the function's regional client; another region's topic would
        # fail every batch at run time, so say it at the cold start.
        raise ConfigError(
            f"environment variable NOTIFY_TOPIC_ARN names a topic in {topic_region}, but the "
            f"function runs in {region}: expected a topic in the function's region"
        )
    events = env_list(
        env, "NOTIFY_EVENTS", allowed=[e.value for e in EventName], default=tuple(EventName)
    )
    workers = env_concurrency(env, "NOTIFY_PUBLISH_CONCURRENCY", aws.DEFAULT_POOL)
    aws.reserve("sns", NotificationProcessor.name, workers)
    return NotificationProcessor(
        topic,
        lambda: aws.client("sns"),
        events=(EventName(e) for e in events),
        attributes=env_list(env, "NOTIFY_ATTRIBUTES"),
        redact=env_list(env, "NOTIFY_REDACT"),
        workers=workers,
    )


def processor() -> NotificationProcessor:
    """The processor configured from the environment (once per cold start)."""
    return once("notification", build)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point: ``handlers.notification.handler``."""
    return run_batch(event, context, [processor()], checkpoint_store())
