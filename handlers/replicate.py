"""Replicator: every change copied into another table (another region allowed), last writer
wins by item version or change time, deletes included.

``INSERT``/``MODIFY``: the whole ``NewImage`` is written to ``REPLICA_TABLE`` with the
change's stamp (``_ddbt_version``, ``_ddbt_order``; conditional ``PutItem``, see
``handlers.versioned``); ``REMOVE``: a
tombstone at the record's ``Keys`` (``_ddbt_deleted``, ``_ddbt_expires``), so a late or
repeated older change can never bring the item back or overwrite newer data. The replica
table needs the source table's key schema and TTL on ``_ddbt_expires``; readers of the
replica skip items with ``_ddbt_deleted`` (``ddbt verify-replica`` does).

Ordering value: ``REPLICATE_VERSION_ATTRIBUTE`` (a numeric attribute the items carry) or, by
default, the change time; ties are broken by the change's place in the stream (see
``handlers.versioned`` for the encoding and its limits). With a version attribute, a
``REMOVE`` takes the version of its ``OldImage``; without one (``NEW_IMAGE`` streams, or an
old item without the attribute), the replica item is tombstoned at the version it holds
(``GetItem`` first).

View types: ``NEW_IMAGE`` or ``NEW_AND_OLD_IMAGES``. With ``KEYS_ONLY`` or ``OLD_IMAGE`` an
``INSERT``/``MODIFY`` carries no new image and cannot be replicated: POISON, with a reason
naming the view type (the Terraform module rejects those view types at plan time).

Region: the client is in the region of ``REPLICA_TABLE`` when it is an ARN, or in
``REPLICA_REGION`` (which wins), else in the function's region. Failures: a
``ValidationException`` for an item (e.g. a key of another type than the replica's key
schema) is POISON; throttling and 5xx after ``handlers.retry``'s retries are TRANSIENT; the
time budget is TIME. Calls on the replica: ``dynamodb:PutItem``, and ``dynamodb:GetItem``
only with ``REPLICATE_VERSION_ATTRIBUTE``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from handlers import aws
from handlers.batch import run_batch
from handlers.codec import RecordError, deserialize
from handlers.coldstart import checkpoint_store, once
from handlers.config import ConfigError, env_concurrency, env_optional, env_required
from handlers.stream import EventName, StreamRecord
from handlers.versioned import (
    DELETED,
    METADATA,
    ORDER,
    ORIGIN,
    VERSION,
    WRITE_CONCURRENCY,
    Ordering,
    Stamp,
    Versioned,
    VersionedProcessor,
    Write,
    change_order,
    region_of,
    source_arn,
    target_arn,
    to_wire,
)

__all__ = ["ReplicateProcessor", "build", "handler", "processor"]

_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+\Z")
_METADATA = frozenset(METADATA)
_TRUE = {"BOOL": True}


class ReplicateProcessor(VersionedProcessor):
    """Copies each batch's changes to the replica table, last writer wins: the writes of a
    batch coalesced per item and made in lanes (``versioned.apply_batch``)."""

    name = "replicate"
    setting = "REPLICA_TABLE"
    item = "replica"
    skip_reason = "replicators' writes coming back and expiring tombstones skipped"

    def __init__(
        self,
        writer: Versioned,
        ordering: Ordering | None = None,
        workers: int = WRITE_CONCURRENCY,
    ) -> None:
        self.writer = writer
        self.ordering = ordering or Ordering()
        self.workers = workers
        self._targets: dict[str, str] = {}  # stream ARN -> the replica table's ARN

    def writes(self, record: StreamRecord) -> list[Write]:
        """The write one change makes (``versioned.Write``); none when it is skipped: a
        replicator's write coming back (an echo, see ``origin``) or a tombstone expiring.
        RecordError for a change that cannot be replicated."""
        if record.event_name is EventName.REMOVE:
            record.keys  # noqa: B018 - decodes: MalformedValue names a bad value's path
            key = to_wire(record.raw_keys, "Keys")
            old = record.raw_old_image
            if old is not None and old.get(DELETED) == _TRUE:
                return []  # TTL removing a tombstone (a replicator's), not an item
            origin = source_arn(record.stream_arn)
            if not self.ordering.attribute:
                return [Write(key, self.ordering.of_image(record, key, "Keys"), origin=origin)]
            version = None if old is None else self.ordering.version_in(old, "OldImage")
            if version is None:
                return [Write(key, None, order=change_order(record))]
            return [Write(key, Stamp(version, change_order(record)), origin=origin)]
        new = record.raw_new_image
        if new is None:
            raise RecordError(
                f"{record.event_name.value} without NewImage (stream view type "
                f"{record.view_type or 'unknown'}): replication needs NEW_IMAGE or "
                "NEW_AND_OLD_IMAGES"
            )
        record.new_image  # noqa: B018 - decodes: MalformedValue names a bad value's path
        origin = self.origin(record, new)
        if not origin:
            return []
        key = to_wire(record.raw_keys, "Keys")
        if new.get(DELETED) == _TRUE:  # a tombstone, replicated along a chain
            return [Write(key, self._tombstone_stamp(record, new), origin=origin)]
        stamp = self.ordering.of_image(record, new, "NewImage")
        item = dict(to_wire(new, "NewImage"))  # shallow: the event's image stays as it was
        if not _METADATA.isdisjoint(item):
            for name in METADATA:
                item.pop(name, None)  # a source item's own metadata is never copied
        return [Write(key, stamp, item, origin)]

    def origin(self, record: StreamRecord, new: Mapping[str, Any]) -> str:
        """The table where the change of an ``INSERT``/``MODIFY`` was made (its
        ``_ddbt_origin``), or '' when it must not be written: an echo.

        A change the application made carries no stamp of its own: the stamp in its image is
        absent or the one the item already had (an update keeps it), so its origin is the
        stream's table. A change a replicator wrote set a new stamp (``OldImage``'s differs,
        or an ``INSERT``); its origin is the one it carries. When that origin is the target
        table (the change came from there: two replicators A to B and B to A) or the
        stream's own table (a write of this replicator came back, through a global table or
        a ring of replicators), writing it would loop: it is skipped. A ``MODIFY`` without
        ``OldImage`` (``NEW_IMAGE`` streams) whose image carries a stamp cannot be told
        apart; when its origin is one of those two tables it is a POISON record naming the
        remedy (``NEW_AND_OLD_IMAGES``) rather than a guess."""
        source = source_arn(record.stream_arn)
        stamp = (new.get(VERSION), new.get(ORDER))
        if stamp == (None, None):
            return source  # the application's change
        written: bool | None = True  # an INSERT with a stamp: a replicator's write
        if record.event_name is not EventName.INSERT:
            old = record.raw_old_image
            written = None if old is None else (old.get(VERSION), old.get(ORDER)) != stamp
        if written is False:
            return source
        carried = new.get(ORIGIN)
        origin = carried["S"] if type(carried) is dict and type(carried.get("S")) is str else ""
        origin = origin or source
        if origin not in (source, self.target(record)):
            return origin  # a chain (A to B to C): keep where the change was made
        if written is None:
            raise RecordError(
                f"MODIFY of an item stamped by a replicator (_ddbt_origin {origin}) on a "
                f"{record.view_type or 'NEW_IMAGE'} stream: without OldImage it cannot be "
                "told whether the application changed the item or a replicator's write came "
                "back (which would loop); use NEW_AND_OLD_IMAGES on tables replicators write"
            )
        return ""

    def target(self, record: StreamRecord) -> str:
        """The replica table's ARN (in the stream's account when ``REPLICA_TABLE`` is a
        name)."""
        found = self._targets.get(record.stream_arn)
        if found is None:
            found = target_arn(record.stream_arn, self.writer.table, self.writer.region)
            self._targets[record.stream_arn] = found
        return found

    def _tombstone_stamp(self, record: StreamRecord, new: Mapping[str, Any]) -> Stamp:
        if not self.ordering.attribute:
            return self.ordering.of_image(record, new, "NewImage")
        version = new.get(VERSION)
        if type(version) is not dict or type(version.get("N")) is not str:
            raise RecordError("NewImage is a tombstone without a numeric _ddbt_version")
        deserialize(version, "NewImage._ddbt_version")  # MalformedValue unless a valid N
        return Stamp(version["N"], change_order(record))


def build(env: Mapping[str, str]) -> ReplicateProcessor:
    """The processor configured by ``REPLICA_*``/``REPLICATE_*`` variables."""
    table = env_required(
        env,
        "REPLICA_TABLE",
        "the name or ARN (arn:aws:dynamodb:<region>:<account>:table/<name>) of the replica table",
    )
    region = env_optional(env, "REPLICA_REGION") or region_of(table)
    if region and not _REGION.match(region):
        raise ConfigError(
            f"environment variable REPLICA_REGION (or the REPLICA_TABLE ARN) names region "
            f"{region!r:.60}: expected a region such as us-west-2"
        )
    workers = env_concurrency(env, "REPLICATE_WRITE_CONCURRENCY", WRITE_CONCURRENCY)
    aws.reserve("dynamodb", ReplicateProcessor.name, workers, region)
    return ReplicateProcessor(
        Versioned(table, lambda: aws.client("dynamodb", region), region=region),
        Ordering(env_optional(env, "REPLICATE_VERSION_ATTRIBUTE"), "REPLICATE_VERSION_ATTRIBUTE"),
        workers=workers,
    )


def processor() -> ReplicateProcessor:
    """The processor configured from the environment (once per cold start)."""
    return once("replicate", build)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point: ``handlers.replicate.handler``."""
    return run_batch(event, context, [processor()], checkpoint_store())
