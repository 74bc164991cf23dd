"""Materialized view: a projection of the table in a second DynamoDB table, last writer wins.

One view item per source item, keyed by ``VIEW_PARTITION_KEY`` (and ``VIEW_SORT_KEY``) taken
from the source item's image: the view table's key attributes have the same names as the
source attributes. The view item holds the projected attributes (``VIEW_ATTRIBUTES``, default
all; the view key attributes always) plus the change's stamp (``_ddbt_version``,
``_ddbt_order``). Changes are applied in order and idempotently by conditional writes on the
stamp (``handlers.versioned``: a version attribute the item carries,
``VIEW_VERSION_ATTRIBUTE``, or the change time, with the change's place in the stream as
tie-breaker), never on sequence numbers alone; a late or repeated change never overwrites
newer data, and a ``REMOVE`` leaves a tombstone so that no older change can bring the view
item back.

What each change does:

* ``INSERT``/``MODIFY``: write the view item from ``NewImage``. When a ``MODIFY`` moves the
  item to another view key (its ``OldImage`` had another value, e.g. an application moved
  to another candidate), the old view item gets a tombstone first. When several source
  items map to one view item (no ``VIEW_SORT_KEY``, e.g. "latest status per job"), the
  newest change wins by ordering value.
* ``REMOVE``: tombstone the view item named by ``OldImage`` (or by ``Keys`` when the view
  key attributes are all part of the table's key).
* Sparse views: a source image without a view key attribute has no view item; the change is
  skipped (counted in a log line, not a failure). A ``MODIFY`` that removes the attribute
  still tombstones the view item its ``OldImage`` names.

View types: ``NEW_AND_OLD_IMAGES`` supports everything. ``NEW_IMAGE``: no ``OldImage``, so a
``MODIFY`` that moves an item to another view key cannot clean the old view item (it stays
until a later change tombstones it), and a ``REMOVE`` can be applied only when the view key
is part of the table's key; otherwise it is a POISON record (reported, never dropped).
``KEYS_ONLY`` and ``OLD_IMAGE`` carry no ``NewImage``: ``INSERT``/``MODIFY`` are POISON
records naming the view type.

Failures: a ``ValidationException`` for an item (a view key of the wrong type for the view
table's key schema, an item above 400 KB with the metadata) is POISON; throttling and 5xx
after ``handlers.retry``'s retries are TRANSIENT; the time budget is TIME. Calls on the view
table: ``dynamodb:PutItem`` always, ``dynamodb:GetItem`` only with ``VIEW_VERSION_ATTRIBUTE``
(a ``REMOVE`` without an old version, see ``versioned.Versioned.remove_at_current``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from handlers import aws
from handlers.batch import run_batch
from handlers.codec import RecordError, describe_value, deserialize
from handlers.coldstart import checkpoint_store, once
from handlers.config import ConfigError, env_concurrency, env_list, env_optional, env_required
from handlers.stream import EventName, StreamRecord
from handlers.versioned import (
    METADATA,
    WRITE_CONCURRENCY,
    Ordering,
    Versioned,
    VersionedProcessor,
    Write,
    change_order,
    region_of,
    same_key,
    to_wire,
)

__all__ = ["ViewProcessor", "build", "handler", "processor"]

_KEY_TAGS = frozenset({"S", "N", "B"})


class ViewProcessor(VersionedProcessor):
    """Applies each batch's changes to the view table, last writer wins: the writes of a
    batch coalesced per view item and made in lanes (``versioned.apply_batch``)."""

    name = "view"
    setting = "VIEW_TABLE"
    item = "view"
    skip_reason = "changes without a view key skipped (sparse view)"

    def __init__(
        self,
        writer: Versioned,
        partition_key: str,
        sort_key: str = "",
        *,
        attributes: Iterable[str] = (),
        ordering: Ordering | None = None,
        workers: int = WRITE_CONCURRENCY,
    ) -> None:
        self.writer = writer
        self.key_names = (partition_key, sort_key) if sort_key else (partition_key,)
        self._key_set = frozenset(self.key_names)
        self.workers = workers
        projected = tuple(attributes)
        self.attributes = tuple(dict.fromkeys((*self.key_names, *projected))) if projected else ()
        self.ordering = ordering or Ordering()

    # -- what a change means for the view -------------------------------------------------
    def view_key(self, image: Mapping[str, Any], where: str) -> dict[str, Any] | None:
        """The view item's key from a source image (wire form), or None when the image lacks
        a view key attribute (a sparse view). RecordError for a value no key can hold."""
        key: dict[str, Any] = {}
        for name in self.key_names:
            av = image.get(name)
            if av is None:
                return None
            if type(av) is not dict or len(av) != 1 or next(iter(av)) not in _KEY_TAGS:
                raise RecordError(
                    f"{where}.{name} is the view key but holds {describe_value(av)}: a key "
                    "attribute must be a string (S), number (N) or binary (B)"
                )
            deserialize(av, f"{where}.{name}")  # MalformedValue names a bad value
            key[name] = av
        return to_wire(key, where)

    def project(self, record: StreamRecord, image: Mapping[str, Any]) -> dict[str, Any]:
        """The view item's attributes (wire form) without metadata. Every value written is
        checked first (MalformedValue names a bad one's path); others are not looked at."""
        if self.attributes:
            picked = {a: image[a] for a in self.attributes if a in image}
            for name, av in picked.items():
                deserialize(av, f"NewImage.{name}")
            return to_wire(picked, "NewImage")
        record.new_image  # noqa: B018 - decodes the whole image
        item = dict(to_wire(image, "NewImage"))
        for name in METADATA:
            item.pop(name, None)
        return item

    def writes(self, record: StreamRecord) -> list[Write]:
        """The writes one change makes (``versioned.Write``); none when it is skipped (no
        view key before or after: a sparse view). RecordError for a change that cannot be
        applied; nothing is written for it."""
        name = record.event_name
        if name is EventName.REMOVE:
            old = record.raw_old_image
            if old is not None:
                key = self.view_key(old, "OldImage")
                if key is None:
                    return []
                stamp = self.ordering.of_remove(record, old)
                if stamp is None:
                    return [Write(key, None, order=change_order(record))]
                return [Write(key, stamp)]
            keys = record.raw_keys
            if not all(k in keys for k in self.key_names):
                raise RecordError(
                    f"REMOVE without OldImage (stream view type {record.view_type or '?'}): "
                    f"the view key ({', '.join(self.key_names)}) is not part of the table "
                    "key, so the view item cannot be found; use NEW_AND_OLD_IMAGES"
                )
            key = self.view_key(keys, "Keys")
            assert key is not None
            if self.ordering.attribute:
                return [Write(key, None, order=change_order(record))]
            return [Write(key, self.ordering.of_image(record, keys, "Keys"))]

        new = record.raw_new_image
        if new is None:
            raise RecordError(
                f"{name.value} without NewImage (stream view type "
                f"{record.view_type or 'unknown'}): the view needs NEW_IMAGE or "
                "NEW_AND_OLD_IMAGES"
            )
        new_key = self.view_key(new, "NewImage")
        old = record.raw_old_image if name is EventName.MODIFY else None
        left = None  # the view item this source item left (moved away, or lost the key)
        if old is not None:
            old_key = self.view_key(old, "OldImage")
            if old_key is not None and (
                new_key is None or not same_key(old_key, new_key, "OldImage")
            ):
                left = old_key
        if new_key is None and left is None:
            return []  # sparse: no view item before or after (no version needed)
        stamp = self.ordering.of_image(record, new, "NewImage")
        out = [] if left is None else [Write(left, stamp)]
        if new_key is not None:
            out.append(Write(new_key, stamp, self.project(record, new)))
        return out

    # -- the batch (``VersionedProcessor.process``) ----------------------------------------
    def skip_fields(self) -> dict[str, Any]:
        return {"view_key": list(self.key_names)}


def build(env: Mapping[str, str]) -> ViewProcessor:
    """The processor configured by ``VIEW_*`` variables (raises ``ConfigError``)."""
    table = env_required(
        env, "VIEW_TABLE", "the name or ARN of the DynamoDB table that holds the view"
    )
    partition_key = env_required(
        env,
        "VIEW_PARTITION_KEY",
        "the source attribute that becomes the view item's partition key (the view table's "
        "hash key has the same name)",
    )
    sort_key = env_optional(env, "VIEW_SORT_KEY")
    if sort_key == partition_key:
        raise ConfigError(
            f"environment variable VIEW_SORT_KEY names the partition key {partition_key!r} "
            "again: expected another source attribute, or nothing"
        )
    attributes = env_list(env, "VIEW_ATTRIBUTES")
    reserved = [a for a in (partition_key, sort_key, *attributes) if a in METADATA]
    if reserved:
        raise ConfigError(
            f"{', '.join(reserved)} is reserved for the view's metadata "
            f"({', '.join(METADATA)}): not a view key or projected attribute"
        )
    region = region_of(table)
    workers = env_concurrency(env, "VIEW_WRITE_CONCURRENCY", WRITE_CONCURRENCY)
    aws.reserve("dynamodb", ViewProcessor.name, workers, region)
    return ViewProcessor(
        Versioned(table, lambda: aws.client("dynamodb", region), region=region),
        partition_key,
        sort_key,
        attributes=attributes,
        ordering=Ordering(env_optional(env, "VIEW_VERSION_ATTRIBUTE"), "VIEW_VERSION_ATTRIBUTE"),
        workers=workers,
    )


def processor() -> ViewProcessor:
    """The processor configured from the environment (once per cold start)."""
    return once("view", build)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point: ``handlers.view.handler``."""
    return run_batch(event, context, [processor()], checkpoint_store())
