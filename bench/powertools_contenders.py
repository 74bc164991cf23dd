"""The same work written the way the Powertools documentation recommends.

Each contender is a ``BatchProcessor(event_type=EventType.DynamoDBStreams)`` driven by
``process_partial_response`` with a ``record_handler(record: DynamoDBRecord)`` that reads the
record through Powertools' data class (``record.dynamodb.new_image`` etc., decoded by
Powertools' ``TypeDeserializer``), and makes the same sink calls with the same output as our
processor (the smoke test, ``tests/unit/test_bench_smoke.py``, holds them equal): same
objects, keys, bytes and metadata for ETL; same message bodies, attributes and batching for
notification; same ``TransactWriteItems`` actions for analytics.

Written to be fast where a careful user would: one ``record.dynamodb`` per record (each
access builds a new wrapper), images read once, JSON text built by a small exact encoder
(stdlib ``json`` cannot write a ``Decimal`` as an exact number, and the output format keeps
38-digit numbers exact).
"""

from __future__ import annotations

import gzip
import json
from base64 import b64encode
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from json.encoder import encode_basestring as _quote
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from boto3.dynamodb.types import TypeSerializer

from bench import workload as w
from handlers import registry
from handlers.checkpoint import CheckpointStore, encode_covered
from handlers.etl import GZIP_LEVEL  # the level is part of the output format

__all__ = [
    "NAMES",
    "PowertoolsAnalytics",
    "PowertoolsCache",
    "PowertoolsEtl",
    "PowertoolsEventBus",
    "PowertoolsNotification",
    "PowertoolsReplicate",
    "PowertoolsView",
    "build",
    "dumps",
]

# A contender for each of our processors.
NAMES = registry.NAMES
MAX_MESSAGE_BYTES = 256 * 1024
MAX_EVENT_BYTES = 256 * 1024 - 1  # PutEvents: "less than 256KB"
CHECKPOINT_TTL = 2 * 24 * 3600


def dumps(value: Any) -> str:
    """Compact JSON of a decoded DynamoDB value: exact numbers, sets sorted, bytes base64,
    non-ASCII kept (as ``json.dumps(..., ensure_ascii=False)`` writes strings)."""
    kind = type(value)
    if kind is str:
        return _quote(value)
    if kind is Decimal:
        return str(value)
    if kind is dict:
        return "{" + ",".join([_quote(k) + ":" + dumps(v) for k, v in value.items()]) + "}"
    if kind is list:
        return "[" + ",".join([dumps(v) for v in value]) + "]"
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if kind is set:
        return "[" + ",".join([dumps(v) for v in sorted(value)]) + "]"
    if kind is bytes:
        return '"' + b64encode(value).decode() + '"'
    raise TypeError(f"cannot encode {kind.__name__}")


def _on_the_bus(value: Any) -> Any:
    """A decoded value as EventBridge takes it: whole numbers outside int64 (PutEvents' limit
    for a JSON integer) as ``{"$number": "<digits>"}``, as ``handlers.eventbus`` writes them."""
    kind = type(value)
    if kind is Decimal:
        whole = value == value.to_integral_value()
        return {"$number": str(value)} if whole and not -(2**63) <= value < 2**63 else value
    if kind is dict:
        return {k: _on_the_bus(v) for k, v in value.items()}
    if kind is list:
        return [_on_the_bus(v) for v in value]
    if kind is set and value and type(next(iter(value))) is Decimal:
        return [_on_the_bus(v) for v in sorted(value)]
    return value


def _chunks(
    entries: list[tuple[dict[str, Any], int]], limit: int = MAX_MESSAGE_BYTES
) -> list[list[dict[str, Any]]]:
    """Entries in calls of at most 10 entries and ``limit`` bytes (PublishBatch: 256 KiB;
    PutEvents: less than 256 KB)."""
    chunks: list[list[dict[str, Any]]] = []
    chunk: list[dict[str, Any]] = []
    chunk_bytes = 0
    for entry, size in entries:
        if len(chunk) == 10 or chunk_bytes + size > limit:
            chunks.append(chunk)
            chunk, chunk_bytes = [], 0
        chunk.append(entry)
        chunk_bytes += size
    if chunk:
        chunks.append(chunk)
    return chunks


def _changes(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """A MODIFY's changed attributes, sorted by name, each with its ``old`` and ``new`` value
    (one side absent where the attribute was added or removed); empty when nothing changed."""
    changed = sorted(
        [a for a, v in new.items() if a not in old or old[a] != v]
        + [a for a in old if a not in new]
    )
    changes: dict[str, Any] = {}
    for a in changed:
        if a not in old:
            changes[a] = {"new": new[a]}
        elif a not in new:
            changes[a] = {"old": old[a]}
        else:
            changes[a] = {"old": old[a], "new": new[a]}
    return changes


def _table(record: DynamoDBRecord) -> str:
    return str(record.event_source_arn).split(":table/", 1)[1].split("/", 1)[0]


def _ttl_expired(record: DynamoDBRecord) -> bool:
    identity = record.user_identity
    return (
        identity.get("type") == "Service"
        and identity.get("principalId") == "dynamodb.amazonaws.com"
    )


def _iso(epoch: int | None) -> datetime:
    return datetime.fromtimestamp(epoch or 0, UTC)


class _Contender:
    name: str  # the processor it stands against
    processor: BatchProcessor

    def record_handler(self, record: DynamoDBRecord) -> None:
        raise NotImplementedError

    def _process(self, event: dict[str, Any], context: Any) -> Any:
        """The batch as Powertools runs it: ``process_partial_response`` with this
        contender's ``record_handler``; the partial batch response."""
        return process_partial_response(
            event=event,
            record_handler=self.record_handler,
            processor=self.processor,
            context=context,
        )

    def release(self) -> None:
        """Drop the last batch: ``BatchProcessor`` keeps its records (the whole event) until
        the next call, which would leave a large heap behind for the next measurement."""
        self.processor.records = []
        self.processor.success_messages.clear()
        self.processor.fail_messages.clear()
        self.processor.exceptions.clear()


class PowertoolsEtl(_Contender):
    """gzip JSON Lines to S3, one object per partition per batch."""

    name = "etl"

    def __init__(
        self, s3: Any, bucket: str = w.BUCKET, prefix: str = w.PREFIX, compress: bool = True
    ) -> None:
        self.compress = compress  # False: the body is the raw JSON Lines (encode-only figure)
        self.processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self.partitions: dict[str, list[Any]] = {}

    def record_handler(self, record: DynamoDBRecord) -> None:
        ddb = record.dynamodb
        assert ddb is not None and record.event_name is not None
        created = _iso(ddb.approximate_creation_date_time)
        seq = str(ddb.sequence_number)
        line: dict[str, Any] = {
            "eventID": record.event_id,
            "eventName": record.event_name.name,
            "sequenceNumber": seq,
            "approximateCreationDateTime": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "keys": ddb.keys,
        }
        if "NewImage" in ddb:
            line["newImage"] = ddb.new_image
        if "OldImage" in ddb:
            line["oldImage"] = ddb.old_image
        line["ttlExpired"] = _ttl_expired(record)
        partition = f"{self.prefix}table={_table(record)}/" + created.strftime(
            "dt=%Y-%m-%d/hour=%H/"
        )
        run = self.partitions.get(partition)
        if run is None:
            run = self.partitions[partition] = [seq, seq, []]
        run[1] = seq
        run[2].append((dumps(line) + "\n").encode())

    def handler(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.partitions = {}
        response = self._process(event, context)
        label = event["Records"][0]["eventSourceARN"].split("/stream/", 1)[1]
        label = "".join(c for c in label if c.isdigit() or c == "T")
        for partition, (first, last, lines) in self.partitions.items():
            body = b"".join(lines)
            self.s3.put_object(
                Bucket=self.bucket,
                Key=f"{partition}{first.zfill(40)}-{label}.jsonl.gz",
                Body=gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
                if self.compress
                else body,
                ContentType="application/gzip",
                Metadata={
                    "records": str(len(lines)),
                    "first-sequence-number": first,
                    "last-sequence-number": last,
                },
            )
        return dict(response)


class PowertoolsNotification(_Contender):
    """One SNS message per change, published with PublishBatch (10 per call, 256 KiB)."""

    name = "notification"

    def __init__(self, sns: Any, topic_arn: str = w.TOPIC_ARN) -> None:
        self.processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
        self.sns = sns
        self.topic_arn = topic_arn
        self.entries: list[tuple[dict[str, Any], int]] = []
        self.index = 0

    def record_handler(self, record: DynamoDBRecord) -> None:
        index = self.index  # the entry Id: the record's position in the batch
        self.index += 1
        ddb = record.dynamodb
        assert ddb is not None and record.event_name is not None
        name = record.event_name.name
        changed: list[str] | None = None
        changes: dict[str, Any] | None = None
        if name == "REMOVE":
            image_key = "oldImage"
            image = ddb.old_image if "OldImage" in ddb else None
        else:
            image_key = "newImage"
            image = ddb.new_image if "NewImage" in ddb else None
            if name == "MODIFY" and image is not None and "OldImage" in ddb:
                changes = _changes(image, ddb.old_image)
                if not changes:
                    return
                changed = list(changes)
        message = {
            "eventName": name,
            "table": _table(record),
            "keys": ddb.keys,
            "eventID": record.event_id,
            "sequenceNumber": ddb.sequence_number,
            "approximateCreationDateTime": _iso(ddb.approximate_creation_date_time).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "ttlExpired": _ttl_expired(record),
            "changedAttributes": changes,
            image_key: image,
            "imagesOmitted": False,
        }
        body = dumps(message)
        attributes: dict[str, Any] = {"eventName": {"DataType": "String", "StringValue": name}}
        size = len(body.encode()) + len("eventName") + len("String") + len(name)
        if changed is not None:
            names = json.dumps(changed, ensure_ascii=False, separators=(",", ":"))
            attributes["changedAttributes"] = {"DataType": "String.Array", "StringValue": names}
            size += len("changedAttributes") + len("String.Array") + len(names.encode())
        if size > MAX_MESSAGE_BYTES:
            raise ValueError("message too large")  # not reached by the workload
        self.entries.append(
            ({"Id": str(index), "Message": body, "MessageAttributes": attributes}, size)
        )

    def handler(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.entries = []
        self.index = 0
        response = self._process(event, context)
        for chunk in _chunks(self.entries):
            self._publish(chunk)
        return dict(response)

    def _publish(self, entries: list[dict[str, Any]]) -> None:
        result = self.sns.publish_batch(TopicArn=self.topic_arn, PublishBatchRequestEntries=entries)
        if result.get("Failed"):
            raise RuntimeError(f"PublishBatch failed entries: {result['Failed']}")


class PowertoolsAnalytics(_Contender):
    """Per aggregate key (table plus group-by values) counts of event names and of value
    transitions, in one TransactWriteItems per batch with the same checkpoint marks."""

    name = "analytics"

    def __init__(
        self,
        ddb: Any,
        table: str = w.AGGREGATES_TABLE,
        group_by: tuple[str, ...] = w.GROUP_BY,
        scope: str = "bench",
        clock: Callable[[], float] | None = None,
    ) -> None:
        import time

        self.processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
        self.ddb = ddb
        self.table = table
        self.group_by = group_by
        self.scope = scope
        self.clock = clock or time.time
        self.serializer = TypeSerializer()
        self.deltas: dict[str, dict[str, Any]] = {}

    def record_handler(self, record: DynamoDBRecord) -> None:
        ddb = record.dynamodb
        assert ddb is not None and record.event_name is not None
        name = record.event_name.name
        table = _table(record)
        if name == "REMOVE":
            source = ddb.old_image if "OldImage" in ddb else ddb.keys
        else:
            source = ddb.new_image if "NewImage" in ddb else ddb.keys
        values = [source.get(a) for a in self.group_by]
        pk = "|".join(
            [table] + [f"{a}={dumps(v)}" for a, v in zip(self.group_by, values, strict=True)]
        )
        delta = self.deltas.get(pk)
        if delta is None:
            group = {
                a: self.serializer.serialize(v) for a, v in zip(self.group_by, values, strict=True)
            }
            delta = self.deltas[pk] = {"table": table, "group": group, "counts": {}}
        counts = delta["counts"]
        counts[name] = counts.get(name, 0) + 1
        if name == "MODIFY" and "NewImage" in ddb and "OldImage" in ddb:
            old, new = ddb.old_image, ddb.new_image
            for a in self.group_by:
                before, after = old.get(a), new.get(a)
                if before != after:
                    label = f"{a}: {_label(before)} -> {_label(after)}"
                    counts[label] = counts.get(label, 0) + 1

    def handler(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.deltas = {}
        response = self._process(event, context)
        records = event["Records"]
        arn = records[0]["eventSourceARN"]
        n = len(records)
        through = records[-1]["dynamodb"]["SequenceNumber"]
        updates = [self._update(pk, d) for pk, d in sorted(self.deltas.items())]
        # the same checkpoint marks as ours, built by our store: the first lists the batch's
        # other records it covers (handlers/checkpoint.py)
        store = CheckpointStore(
            self.table, f"#checkpoint#{self.scope}", lambda: self.ddb, self.clock
        )
        seqs = [r["dynamodb"]["SequenceNumber"] for r in records]
        covered = encode_covered(int(seqs[0]), [int(s) for s in seqs[1:]])
        marks = [
            store.update_action(arn, seqs[i], "analytics", int(through), covered if i == 0 else "")
            for i in sorted({0, n // 2, (n + 1) // 2} - {n})
        ]
        if len(updates) + len(marks) > 100:
            raise NotImplementedError("more than 100 actions (not reached by the workload)")
        self.ddb.transact_write_items(TransactItems=updates + marks)
        return dict(response)

    def _update(self, pk: str, delta: dict[str, Any]) -> dict[str, Any]:
        names = {"#t": "table", "#g": "group"}
        values: dict[str, Any] = {":t": {"S": delta["table"]}, ":g": {"M": delta["group"]}}
        adds = []
        for i, (name, count) in enumerate(sorted(delta["counts"].items())):
            names[f"#c{i}"] = name
            values[f":c{i}"] = {"N": str(count)}
            adds.append(f"#c{i} :c{i}")
        return {
            "Update": {
                "TableName": self.table,
                "Key": {"pk": {"S": pk}},
                "UpdateExpression": "SET #t = :t, #g = if_not_exists(#g, :g) ADD "
                + ", ".join(adds),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }


class PowertoolsEventBus(_Contender):
    """One EventBridge event per change, sent with PutEvents (10 per call, 256 KiB), with the
    same entries as ``handlers.eventbus`` (Source, DetailType, Time, Resources, Detail)."""

    name = "eventbus"

    def __init__(self, events: Any, bus: str = w.EVENT_BUS) -> None:
        self.processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
        self.events = events
        self.bus = bus
        self.entries: list[tuple[dict[str, Any], int]] = []

    def record_handler(self, record: DynamoDBRecord) -> None:
        ddb = record.dynamodb
        assert ddb is not None and record.event_name is not None
        name = record.event_name.name
        new = ddb.new_image if name != "REMOVE" and "NewImage" in ddb else None
        old = ddb.old_image if name != "INSERT" and "OldImage" in ddb else None
        changes: dict[str, Any] | None = None
        if name == "MODIFY" and new is not None and old is not None:
            changes = _changes(new, old)
            if not changes:
                return
        table = _table(record)
        created = _iso(ddb.approximate_creation_date_time)
        detail = dumps(
            {
                "eventName": name,
                "table": table,
                "keys": _on_the_bus(ddb.keys),
                "eventID": record.event_id,
                "sequenceNumber": ddb.sequence_number,
                "approximateCreationDateTime": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ttlExpired": _ttl_expired(record),
                "changedAttributes": _on_the_bus(changes),
                "newImage": _on_the_bus(new),
                "oldImage": _on_the_bus(old),
                "imagesOmitted": False,
            }
        )
        source = f"dynamodb-triggers.{table}"
        detail_type = f"DynamoDB {name}"
        table_arn = str(record.event_source_arn).split("/stream/", 1)[0]
        # As EventBridge counts an entry: Time 14 bytes, then the UTF-8 text of the rest.
        size = 14 + len(source) + len(detail_type) + len(detail.encode()) + len(table_arn)
        if size > MAX_EVENT_BYTES:
            raise ValueError("event too large")  # not reached by the workload
        entry = {
            "Time": created,
            "Source": source,
            "Resources": [table_arn],
            "DetailType": detail_type,
            "Detail": detail,
            "EventBusName": self.bus,
        }
        self.entries.append((entry, size))

    def handler(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.entries = []
        response = self._process(event, context)
        for chunk in _chunks(self.entries, MAX_EVENT_BYTES):
            self._put(chunk)
        return dict(response)

    def _put(self, entries: list[dict[str, Any]]) -> None:
        result = self.events.put_events(Entries=entries)
        if result.get("FailedEntryCount"):
            raise RuntimeError(f"PutEvents failed entries: {result['Entries']}")


class _Versioned(_Contender):
    """Conditional PutItem of items and tombstones, last writer wins by change time: the
    same requests as ``handlers.versioned`` (``_ddbt_version``, ``_ddbt_order``,
    ``_ddbt_deleted``, ``_ddbt_expires``), items serialized back with boto3's
    ``TypeSerializer``."""

    def __init__(self, ddb: Any, table: str, clock: Callable[[], float] | None = None) -> None:
        import time

        self.processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
        self.ddb = ddb
        self.table = table
        self.clock = clock or time.time
        self.serializer = TypeSerializer()

    @staticmethod
    def version(ddb: Any) -> tuple[str, str]:
        """Change time (10 digits), length of the sequence number (2), its first 26 digits;
        and the same with the whole sequence number (the tie-breaker)."""
        seq = str(ddb.sequence_number)
        created = int(ddb.approximate_creation_date_time or 0)
        head = f"{created:010d}{len(seq):02d}"
        return head + seq[:26].ljust(26, "0"), head + seq

    def typed(self, image: dict[str, Any]) -> dict[str, Any]:
        serialize = self.serializer.serialize
        return {k: serialize(v) for k, v in image.items()}

    def put(self, item: dict[str, Any], version: tuple[str, str], origin: str = "") -> None:
        item["_ddbt_version"] = {"N": version[0]}
        item["_ddbt_order"] = {"S": version[1]}
        if origin:
            item["_ddbt_origin"] = {"S": origin}
        self.ddb.put_item(
            TableName=self.table,
            Item=item,
            ConditionExpression=(
                "attribute_not_exists(#v) OR #v < :v "
                "OR (#v = :v AND (attribute_not_exists(#o) OR #o < :o))"
            ),
            ExpressionAttributeNames={"#v": "_ddbt_version", "#o": "_ddbt_order"},
            ExpressionAttributeValues={":v": {"N": version[0]}, ":o": {"S": version[1]}},
        )

    def tombstone(self, key: dict[str, Any], version: tuple[str, str], origin: str = "") -> None:
        item = dict(key)
        item["_ddbt_deleted"] = {"BOOL": True}
        item["_ddbt_expires"] = {"N": str(int(self.clock()) + CHECKPOINT_TTL)}
        self.put(item, version, origin)

    def handler(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return dict(self._process(event, context))

    def record_handler(self, record: DynamoDBRecord) -> None:
        raise NotImplementedError


class PowertoolsReplicate(_Versioned):
    """Every change copied to the replica table: the new image, or a tombstone."""

    name = "replicate"

    def __init__(self, ddb: Any, table: str = w.REPLICA_TABLE) -> None:
        super().__init__(ddb, table)

    def record_handler(self, record: DynamoDBRecord) -> None:
        ddb = record.dynamodb
        assert ddb is not None and record.event_name is not None
        version = self.version(ddb)
        origin = str(record.event_source_arn).partition("/stream/")[0]  # the source table
        if record.event_name.name == "REMOVE":
            self.tombstone(self.typed(ddb.keys), version, origin)
            return
        item = self.typed(ddb.new_image)
        for name in ("_ddbt_version", "_ddbt_order", "_ddbt_deleted", "_ddbt_expires"):
            item.pop(name, None)
        self.put(item, version, origin)


class PowertoolsView(_Versioned):
    """Applications by job: the view item keyed by (job_id, application_id) with a few
    attributes; a REMOVE tombstones it, a MODIFY that moves the key tombstones the old one."""

    name = "view"

    def __init__(
        self,
        ddb: Any,
        table: str = w.VIEW_TABLE,
        key: tuple[str, ...] = w.VIEW_KEY,
        attributes: tuple[str, ...] = w.VIEW_ATTRIBUTES,
    ) -> None:
        super().__init__(ddb, table)
        self.key = key
        self.attributes = tuple(dict.fromkeys((*key, *attributes)))

    def view_key(self, image: dict[str, Any]) -> dict[str, Any] | None:
        if any(name not in image for name in self.key):
            return None
        return self.typed({name: image[name] for name in self.key})

    def record_handler(self, record: DynamoDBRecord) -> None:
        ddb = record.dynamodb
        assert ddb is not None and record.event_name is not None
        name = record.event_name.name
        version = self.version(ddb)
        if name == "REMOVE":
            key = self.view_key(ddb.old_image)
            if key is not None:
                self.tombstone(key, version)
            return
        new = ddb.new_image
        new_key = self.view_key(new)
        if name == "MODIFY" and "OldImage" in ddb:
            old_key = self.view_key(ddb.old_image)
            if old_key is not None and old_key != new_key:
                self.tombstone(old_key, version)
        if new_key is None:
            return
        self.put(self.typed({a: new[a] for a in self.attributes if a in new}), version)


class PowertoolsCache(_Contender):
    """SET (the new image as JSON) or DEL per record with redis-py, in a ``record_handler``:
    the key as ours (prefix, table, the key's JSON), no ordering (a redelivery of an older
    change overwrites a newer one, which ours never does)."""

    name = "cache"
    prefix = "ddbt:"

    def __init__(self, client: Any) -> None:
        self.client = client
        self.processor = BatchProcessor(event_type=EventType.DynamoDBStreams)

    def record_handler(self, record: DynamoDBRecord) -> None:
        ddb = record.dynamodb
        assert ddb is not None and record.event_name is not None
        keys = ddb.keys
        key = f"{self.prefix}{_table(record)}:{dumps({k: keys[k] for k in sorted(keys)})}"
        if record.event_name.name == "REMOVE":
            self.client.delete(key)
        else:
            self.client.set(key, dumps(ddb.new_image))

    def handler(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return self._process(event, context)


def _label(value: Any) -> str:
    return value if type(value) is str else dumps(value)


_CONTENDERS: tuple[type[_Contender], ...] = (
    PowertoolsEtl,
    PowertoolsNotification,
    PowertoolsAnalytics,
    PowertoolsEventBus,
    PowertoolsView,
    PowertoolsReplicate,
    PowertoolsCache,
)


def build(name: str, client: Any) -> Any:
    """Contender ``name`` writing through ``client``; call ``.handler(event, context)``."""
    for contender in _CONTENDERS:
        if contender.name == name:
            return contender(client)
    raise ValueError(name)
