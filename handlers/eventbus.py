"""Event bus: one EventBridge event per qualifying item change, published with ``PutEvents``.

Which changes qualify: the event name is in ``EVENTBUS_EVENTS`` (default all three); a
``MODIFY`` with both images where no attribute changed (comparing decoded values, as the
notification processor does) is skipped. Each change becomes one ``PutEvents`` entry:

* ``EventBusName``: ``EVENTBUS_NAME`` (a bus name or ARN);
* ``Source``: ``EVENTBUS_SOURCE``, or ``dynamodb-triggers.<table>`` by default;
* ``DetailType``: ``DynamoDB INSERT``, ``DynamoDB MODIFY`` or ``DynamoDB REMOVE``;
* ``Time``: the change's ``ApproximateCreationDateTime`` (whole seconds);
* ``Resources``: the table's ARN (the stream ARN without ``/stream/<label>``);
* ``Detail`` (JSON, keys in this order)::

    {"eventName": "MODIFY", "table": "<table>", "keys": {...}, "eventID": "<id>",
     "sequenceNumber": "<digits>", "approximateCreationDateTime": "2026-01-01T00:00:00Z",
     "ttlExpired": false,
     "changedAttributes": {"<name>": {"old": <value>, "new": <value>}, ...} | null,
     "newImage": {...} | null, "oldImage": {...} | null, "imagesOmitted": false}

  written by ``handlers.changes`` as the notification body is (same values, same
  redaction: attributes in ``EVENTBUS_REDACT`` are left out of ``keys`` and images, and a
  changed one is ``{"redacted": true}``), except numbers (below). ``newImage`` is the item
  after an INSERT or MODIFY, ``oldImage`` before a MODIFY or REMOVE; null when the change or
  the view type has none.

Numbers (``EVENTBUS_NUMBERS``): PutEvents limits a JSON integer in ``Detail`` to the int64
range (-9223372036854775808 to 9223372036854775807; API reference), and DynamoDB numbers
have up to 38 digits. ``number`` (default): every number is its exact JSON number, except a
whole number outside int64, written ``{"$number": "<exact decimal text>"}`` wherever it
appears (keys, either image, changed values, members of a number set). ``string``: every
number is a JSON string of its exact decimal text, so an attribute has one JSON type in
every event. Notifications (SNS) have no such limit and keep exact JSON numbers.

Sizes are counted as EventBridge counts an entry (``Time`` 14 bytes, plus the UTF-8 bytes
of ``Source``, ``DetailType``, ``Detail`` and each of ``Resources``; ``EventBusName`` is not
counted). An entry of 256 KB (262,144 bytes) or more, which the API reference rejects ("less
than 256KB"), is sent without images and changed values (``{"omitted": true}`` per changed
attribute) and with ``imagesOmitted: true``: never dropped. A call holds at most 10 entries
and less than 256 KB in all.

Failures: ``PutEvents`` answers per entry, and each code is classified by
``handlers.errors`` (the documented retryable and non-retryable codes). Entries that failed
with a retryable code (``ThrottlingException``, ``InternalFailure``) are sent again, alone,
with jittered backoff inside the invocation's time budget (``changes.send_entries``), so
entries that were accepted are not sent twice. When an entry still fails, the records before
it are done and it is reported (with every later record) for redelivery: ``MalformedDetail``
as a poison record, anything else (throttling after the retries, access denied, an unknown
code) as transient, the record itself being fine. An error of the whole call (throttling and
5xx after retries, access denied, validation, a missing bus) is transient too.

Calls overlap: up to ``EVENTBUS_PUBLISH_CONCURRENCY`` (default 10, botocore's connection
pool; 1 to 50) ``PutEvents`` calls are in flight while the next entries are built, the
client's connection pool sized to match (``handlers.aws.reserve``); an event bus does not
order the events it receives (the entries carry no event group), so calls are not held back
for one another. A record is reported done
only after its entry and every earlier one were accepted; after a failure no call starts.

Delivery guarantee: **at least once**. Duplicates arise where EventBridge accepted an entry
that is sent again later: entries *after* a failed entry in the same call, and in later calls
already in flight when it failed, were accepted and are sent again when Lambda redelivers
from the failed record; a crash or timeout after a call succeeded makes Lambda redeliver the
batch; and a call whose answer was lost (connection reset or read timeout after EventBridge
accepted it) is sent again by ``handlers.retry`` (``PutEvents`` has no idempotency token).
Subscribers dedupe on ``detail.eventID``
(the stream record's ID; the EventBridge event ``id`` differs on every send).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from handlers import aws, retry
from handlers.batch import Batch, Outcome, run_batch
from handlers.changes import MISSING, ChangeJson, publish_batched, utf8_len
from handlers.codec import RecordError, json_number
from handlers.coldstart import checkpoint_store, once
from handlers.config import (
    ConfigError,
    env_concurrency,
    env_list,
    env_optional,
    env_required,
)
from handlers.stream import EventName, StreamRecord

__all__ = [
    "DEFAULT_SOURCE_PREFIX",
    "DETAIL_TYPES",
    "INT64_MAX",
    "INT64_MIN",
    "MAX_BATCH_ENTRIES",
    "MAX_REQUEST_BYTES",
    "NUMBER_MARKER",
    "NUMBER_MODES",
    "EventBusProcessor",
    "build",
    "bus_number",
    "entry_size",
    "handler",
    "processor",
    "string_number",
]

MAX_BATCH_ENTRIES = 10  # PutEvents entries per call
# Per entry and per PutEvents call (sum of the entries' sizes): the API reference says "the
# total entry size must be less than 256KB", so 262,144 bytes is already too much.
MAX_REQUEST_BYTES = 262_143
# PutEvents limits a JSON integer in Detail to int64 (API reference); DynamoDB numbers have
# up to 38 digits.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
NUMBER_MARKER = "$number"
NUMBER_MODES = ("number", "string")
TIME_BYTES = 14  # what EventBridge counts for an entry's Time
DEFAULT_SOURCE_PREFIX = "dynamodb-triggers."
DETAIL_TYPES = {name: f"DynamoDB {name.value}" for name in EventName}
# EventBusName of a PutEvents entry: a name, or the ARN of a bus (API reference pattern).
_BUS = re.compile(
    r"(?:arn:aws[\w-]*:events:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+):\d{12}:event-bus/)?"
    r"(?P<name>[/.\-_A-Za-z0-9]{1,256})\Z"
)
_TABLE_ARN = re.compile(r"arn:aws[\w-]*:dynamodb:[a-z0-9-]+:\d{12}:table/[A-Za-z0-9_.-]{1,255}\Z")

Entry = dict[str, Any]


class EventBusProcessor:
    """Publishes one EventBridge event per qualifying change, in record order."""

    name = "eventbus"

    def __init__(
        self,
        bus: str,
        client: Callable[[], Any],
        *,
        source: str = "",
        events: Iterable[EventName] = tuple(EventName),
        redact: Iterable[str] = (),
        numbers: str = "number",
        workers: int = aws.DEFAULT_POOL,
    ) -> None:
        self.bus = bus
        self.source = source
        self.events = frozenset(events)
        self.redact = frozenset(redact)
        self.numbers = numbers
        self.workers = workers
        self._client = client
        self._json = ChangeJson(self.redact, string_number if numbers == "string" else bus_number)
        # stream ARN -> (Source, table ARN, their bytes as EventBridge counts them)
        self._streams: dict[str, tuple[str, str, int]] = {}

    # -- building entries -------------------------------------------------------------
    def entry(self, record: StreamRecord) -> tuple[Entry, int] | None:
        """The PutEvents entry for ``record`` and its size as EventBridge counts it, or
        None when the change does not qualify.

        Raises ``RecordError`` for a record whose event cannot be built.
        """
        name = record.event_name
        if name not in self.events:
            return None
        writer = self._json
        raw_new = raw_old = None
        changed: list[str] | None = None
        if name is EventName.INSERT:
            raw_new = record.raw_new_image
        elif name is EventName.REMOVE:
            raw_old = record.raw_old_image
        else:
            raw_new = record.raw_new_image
            raw_old = record.raw_old_image
            if raw_new is not None and raw_old is not None:
                changed = writer.changed(raw_old, raw_new)
                if not changed:
                    return None  # nothing changed once decoded (set order, number spelling)
        source, table_arn, fixed = self._stream(record)
        detail_type = DETAIL_TYPES[name]
        time_value = record.creation_time  # raises RecordError when malformed
        head = writer.head(record)
        if changed is None:
            changes = "null"
        else:
            assert raw_new is not None and raw_old is not None
            changes = writer.changes_json(raw_old, raw_new, changed)
        new_json = "null" if raw_new is None else writer.image_json(raw_new, "NewImage")
        old_json = "null" if raw_old is None else writer.image_json(raw_old, "OldImage")
        detail = (
            f'{head}{changes},"newImage":{new_json},"oldImage":{old_json},"imagesOmitted":false}}'
        )
        fixed += len(detail_type)
        size = fixed + utf8_len(detail)
        if size > MAX_REQUEST_BYTES:
            # Too large for EventBridge: send the change without values rather than drop it.
            if changed is not None:
                changes = writer.omitted_changes_json(changed)
            omitted = ',"newImage":null,"oldImage":null,"imagesOmitted":true}'
            detail = head + changes + omitted
            size = fixed + utf8_len(detail)
            if size > MAX_REQUEST_BYTES and changed is not None:
                # Only conceivable with a huge number of changed attribute names.
                detail = head + "null" + omitted
                size = fixed + utf8_len(detail)
            if size > MAX_REQUEST_BYTES:
                raise RecordError(
                    f"the event is {size} bytes even without images, above EventBridge's "
                    f"{MAX_REQUEST_BYTES}-byte limit"
                )
        entry: Entry = {
            "Time": time_value,
            "Source": source,
            "Resources": [table_arn],
            "DetailType": detail_type,
            "Detail": detail,
            "EventBusName": self.bus,
        }
        return entry, size

    def _stream(self, record: StreamRecord) -> tuple[str, str, int]:
        """Source, table ARN and the bytes they and Time count, per stream (cached)."""
        found = self._streams.get(record.stream_arn)
        if found is None:
            table_arn = record.stream_arn.partition("/stream/")[0]
            if not _TABLE_ARN.match(table_arn):
                raise RecordError(
                    f"eventSourceARN {record.stream_arn!r:.200} is not the ARN of a DynamoDB "
                    "table's stream (arn:aws:dynamodb:<region>:<account>:table/<name>/stream/"
                    "<label>), so the event's table and Resources are unknown"
                )
            source = self.source or DEFAULT_SOURCE_PREFIX + record.table_name
            fixed = TIME_BYTES + utf8_len(source) + len(table_arn)
            if len(self._streams) >= 64:
                self._streams.clear()
            found = self._streams[record.stream_arn] = (source, table_arn, fixed)
        return found

    # -- publishing -------------------------------------------------------------------
    @retry.budgeted
    def process(self, records: Sequence[StreamRecord], batch: Batch) -> Outcome:
        return publish_batched(
            records,
            self.entry,
            self._put_events,
            service="events",
            operation="PutEvents",
            rejected="EventBridge rejected the event",
            budget=batch.budget,
            max_entries=MAX_BATCH_ENTRIES,
            max_bytes=MAX_REQUEST_BYTES,
            workers=self.workers,
        )

    def _put_events(self, entries: list[Entry]) -> list[object]:
        """One PutEvents call; its answer per entry, in request order (entries are answered
        in request order; a missing answer is unknown)."""
        results = self._client().put_events(Entries=entries).get("Entries") or []
        out: list[object] = []
        for i in range(len(entries)):
            result = results[i] if i < len(results) else None
            if not isinstance(result, dict):
                out.append(MISSING)
            elif result.get("ErrorCode"):
                out.append((str(result["ErrorCode"]), str(result.get("ErrorMessage", ""))))
            else:
                out.append(None)  # accepted (it has an EventId)
        return out


def bus_number(value: object) -> str:
    """An ``N`` value as EventBridge can hold it (``EVENTBUS_NUMBERS=number``): the exact JSON
    number, except a whole number outside the int64 range, which PutEvents rejects as a JSON
    integer: ``{"$number": "<its exact decimal text>"}``. Fractions and exponent forms of
    non-whole numbers stay JSON numbers (the reference constrains integers only)."""
    text = json_number(value)
    if len(text) <= 18 and text.lstrip("-").isdigit():
        return text  # below 10**18 in magnitude: always within int64 (the common case)
    number = Decimal(text)
    if number != number.to_integral_value() or INT64_MIN <= number <= INT64_MAX:
        return text
    return '{"' + NUMBER_MARKER + '":"' + text + '"}'


def string_number(value: object) -> str:
    """An ``N`` value as a JSON string of its exact decimal text (``EVENTBUS_NUMBERS=string``):
    every number, in keys, images and changed attributes alike."""
    return '"' + json_number(value) + '"'


def entry_size(entry: Mapping[str, Any]) -> int:
    """The size of a PutEvents entry as EventBridge counts it."""
    size = TIME_BYTES if entry.get("Time") is not None else 0
    for name in ("Source", "DetailType", "Detail"):
        value = entry.get(name)
        if value is not None:
            size += len(str(value).encode("utf-8"))
    for resource in entry.get("Resources") or ():
        size += len(str(resource).encode("utf-8"))
    return size


def build(env: Mapping[str, str]) -> EventBusProcessor:
    """The processor configured by ``EVENTBUS_*`` variables (raises ``ConfigError``)."""
    bus = env_required(
        env,
        "EVENTBUS_NAME",
        "the name or ARN of the EventBridge event bus to publish to "
        "(e.g. 'orders-events' or arn:aws:events:<region>:<account>:event-bus/<name>)",
    )
    found = _BUS.match(bus)
    if not found or len(bus) > 1600:
        raise ConfigError(
            "environment variable EVENTBUS_NAME must be an event bus name (letters, digits, "
            "'.', '-', '_', '/'; at most 256 characters) or an event bus ARN "
            f"(arn:aws:events:<region>:<12-digit account>:event-bus/<name>), got {bus!r:.200}"
        )
    bus_region = found.group("region")
    region = env.get("AWS_REGION", "").strip() or env.get("AWS_DEFAULT_REGION", "").strip()
    if bus_region and region and bus_region != region:
        # PutEvents goes to the function's regional endpoint; another region's bus would
        # fail every batch at run time, so say it at the cold start.
        raise ConfigError(
            f"environment variable EVENTBUS_NAME names a bus in {bus_region}, but the function "
            f"runs in {region}: expected a bus in the function's region (route events to "
            "another region with a rule whose target is that region's bus)"
        )
    source = env_optional(env, "EVENTBUS_SOURCE")
    if source.startswith("aws."):
        raise ConfigError(
            f"environment variable EVENTBUS_SOURCE must not start with 'aws.' (reserved for "
            f"AWS services' events), got {source!r:.200}"
        )
    events = env_list(
        env, "EVENTBUS_EVENTS", allowed=[e.value for e in EventName], default=tuple(EventName)
    )
    numbers = env_optional(env, "EVENTBUS_NUMBERS", "number")
    if numbers not in NUMBER_MODES:
        raise ConfigError(
            f"environment variable EVENTBUS_NUMBERS is {numbers!r:.40}: expected 'number' "
            '(JSON numbers; whole numbers outside int64 as {"$number": "<digits>"}) or '
            "'string' (every number as a JSON string of its exact digits)"
        )
    workers = env_concurrency(env, "EVENTBUS_PUBLISH_CONCURRENCY", aws.DEFAULT_POOL)
    aws.reserve("events", EventBusProcessor.name, workers)
    return EventBusProcessor(
        bus,
        lambda: aws.client("events"),
        source=source,
        events=(EventName(e) for e in events),
        redact=env_list(env, "EVENTBUS_REDACT"),
        numbers=numbers,
        workers=workers,
    )


def processor() -> EventBusProcessor:
    """The processor configured from the environment (once per cold start)."""
    return once("eventbus", build)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point: ``handlers.eventbus.handler``."""
    return run_batch(event, context, [processor()], checkpoint_store())
