"""Last-writer-wins conditional writes with tombstones: what ``view`` and ``replicate`` share.

Every item these processors write carries the *stamp* of the change that wrote it (``Stamp``):

* ``_ddbt_version`` (N): the ordering value (below);
* ``_ddbt_order`` (S): the change's exact place in the stream, which breaks ties of the
  ordering value: 10 digits of epoch seconds (``ApproximateCreationDateTime``), 2 digits
  giving the sequence number's length, and the whole sequence number. DynamoDB compares S
  values by their UTF-8 bytes, so this fixed-width text sorts as (change time, sequence
  number) whatever the length of the sequence number (21 to 40 digits in the Streams API,
  41 for ``ddbt backfill``'s synthesized ones).

A write applies only when the stored stamp is older, compared as the pair (version, order)::

    attribute_not_exists(_ddbt_version) OR _ddbt_version < :v
      OR (_ddbt_version = :v AND (attribute_not_exists(_ddbt_order) OR _ddbt_order < :o))

A ``ConditionalCheckFailedException`` therefore means "newer (or the same) change is already
there": the record counts as applied. A ``REMOVE`` writes a *tombstone* (the key, the stamp,
``_ddbt_deleted`` true and ``_ddbt_expires`` for TTL) instead of deleting, so an older change
delivered late (a redrive, a replay, a retry after a partial failure) finds a newer stamp and
cannot resurrect the item.

The ordering value (``Ordering``):

* **Version attribute** (``*_VERSION_ATTRIBUTE``): the N value the item carries, as the
  application wrote it. Changes with equal versions are ordered as the stream orders them
  (``_ddbt_order``): the later one wins, a repeated delivery of the same change does not
  apply again. A ``REMOVE`` takes the version of its ``OldImage`` and is later in the stream
  than the write of that version, so it applies.
* **Change time** (default): ``ApproximateCreationDateTime`` has one-second resolution;
  the version is the 38-digit number (DynamoDB's precision)::

      <10 digits: epoch seconds><2 digits: length of the sequence number><26 digits: its
      first 26 digits, right-padded with zeros>

  which orders by (change time, sequence number) up to the 26th digit; ``_ddbt_order``
  orders changes that agree there (such as the documented sample event's INSERT, MODIFY
  and REMOVE of one item in one second, whose 28-digit sequence numbers differ only in the
  last digit). Across a shard rollover the parent's last change and the child's first
  change of an item are ordered by change time, which is right whenever they are in
  different seconds (the common case: Lambda finishes the parent shard before the child,
  and rollovers are hours apart); in the same second the sequence numbers decide: they
  generally grow over a stream's life, but AWS does not promise it across shards.

Items written before ``_ddbt_order`` existed hold only ``_ddbt_version`` (same encoding): an
incoming change with a greater version applies, one with a smaller version does not, and one
with the *same* version applies (``attribute_not_exists(_ddbt_order)``). That tie is either a
repeated delivery of the stored change (applying it again writes the same item) or a later
change the old code dropped (the fault this stamp repairs); the old code kept the first
change of a tie, so an earlier one is stored only if the tie's changes were delivered out of
order before the upgrade (a redrive). Old code still running during a deploy compares the
version alone and writes items without ``_ddbt_order``, as before.

Tombstones live ``TOMBSTONE_SECONDS`` (2 days: the stream's 24-hour retention plus a day of
retries, matching the checkpoint TTL); a change redriven from a failure destination after
that can resurrect a deleted item.

Calls made: ``PutItem`` (conditional) for items and tombstones, and ``GetItem`` only for a
``REMOVE`` in version-attribute mode whose record carries no old version (see
``Versioned.remove_at_current``).

A batch (``apply_batch``) is applied in two steps. First every record is checked and turned
into the writes it makes (``Write``: an item or a tombstone at a target key, with the
change's stamp), in record order, up to the first record that cannot be (a POISON record:
nothing at or after it is written). Then the writes are *coalesced* by target item: a put or
a tombstone applies exactly when its stamp is newer than the stored one, so the item ends
holding the write with the greatest stamp whatever the order, and that write alone is made,
at the place of the earliest record it covers (the others would have been overwritten, or
refused by the condition). An item with a ``remove_at_current`` among its writes (which
depends on what is stored) keeps every write, in record order. The writes then go in lanes,
one per target item, up to the processor's concurrency at once (``handlers.lanes``). A
failed write is reported at the earliest record it covers, so every record before the
reported one was applied; when DynamoDB rejects a coalesced item for good (POISON), the
records from there are applied again one change at a time per item, so that the record
reported is the one whose write DynamoDB refuses.
"""

from __future__ import annotations

import json
import time
from binascii import a2b_base64
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar, NamedTuple, Protocol, TypeVar

from handlers import aws, errors, retry
from handlers.batch import Batch, Failure, Outcome
from handlers.codec import (
    MalformedValue,
    RecordError,
    describe_value,
    deserialize,
    deserialize_image,
)
from handlers.lanes import run_lanes
from handlers.observe import log
from handlers.stream import StreamRecord

__all__ = [
    "DELETED",
    "EXPIRES",
    "METADATA",
    "ORDER",
    "ORIGIN",
    "TOMBSTONE_SECONDS",
    "VERSION",
    "WRITE_CONCURRENCY",
    "Ordering",
    "Planned",
    "Stamp",
    "Versioned",
    "VersionedProcessor",
    "Write",
    "apply_batch",
    "change_order",
    "change_version",
    "classify",
    "coalesce",
    "loops_back",
    "maybe_global_replica",
    "poison_reason",
    "region_of",
    "same_key",
    "source_arn",
    "target_arn",
    "to_wire",
]

VERSION = "_ddbt_version"
ORDER = "_ddbt_order"
DELETED = "_ddbt_deleted"
EXPIRES = "_ddbt_expires"
ORIGIN = "_ddbt_origin"  # the replicator's: the table where a replicated change was made
METADATA = (VERSION, ORDER, DELETED, EXPIRES, ORIGIN)
TOMBSTONE_SECONDS = 2 * 86_400
_SEQ_DIGITS = 26  # 10 (seconds) + 2 (length) + 26 = 38 digits, DynamoDB's precision
_ZEROS = ["0" * (_SEQ_DIGITS - n) for n in range(_SEQ_DIGITS)]
_NAMES = {"#v": VERSION, "#o": ORDER}
# The stored stamp is older than (:v, :o), compared as a pair (see the module docstring).
_NEWER = (
    "attribute_not_exists(#v) OR #v < :v OR (#v = :v AND (attribute_not_exists(#o) OR #o < :o))"
)
_TRUE = {"BOOL": True}
_PLAIN_TAGS = frozenset({"S", "N", "BOOL", "NULL", "SS", "NS"})
# Conditional writes in flight at once (lanes of ``handlers.lanes``, one per target item);
# VIEW_WRITE_CONCURRENCY and REPLICATE_WRITE_CONCURRENCY set it from 1 (one write at a time)
# to ``handlers.config.MAX_CONCURRENCY``, the client's connection pool sized to match. 20:
# about 600 items a 1,000-record batch touches, at 6 ms a write, take 180 ms.
WRITE_CONCURRENCY = 20


# --------------------------------------------------------------------------------------
# Ordering values
# --------------------------------------------------------------------------------------


class Stamp(NamedTuple):
    """What a write carries: ``version`` (N text of ``_ddbt_version``) and ``order`` (S text
    of ``_ddbt_order``); stamps compare as the pair."""

    version: str
    order: str

    def rank(self) -> tuple[Decimal, bytes]:
        """The stamp as the write's condition compares it: the version as a number, then the
        order by its UTF-8 bytes (how DynamoDB compares N and S values)."""
        return Decimal(self.version), self.order.encode()


def _created(record: StreamRecord) -> int:
    created = record.dynamodb.get("ApproximateCreationDateTime")
    if type(created) is not int:
        created = int(record.creation_time.timestamp())  # validates: RecordError if bad
    if not 0 <= created < 10**10:
        raise RecordError(
            f"dynamodb.ApproximateCreationDateTime {created} is outside 0 to 9999999999 "
            "epoch seconds"
        )
    return created


def change_version(record: StreamRecord) -> str:
    """The change-time ordering value of ``record`` (see the module docstring)."""
    created = _created(record)
    text = _version_text(created, _sequence_text(record))
    return text if created >= 10**9 else text.lstrip("0") or "0"


def change_order(record: StreamRecord) -> str:
    """``record``'s place in the stream as fixed-width text that sorts as (change time,
    sequence number) at any sequence-number length: the ``_ddbt_order`` value."""
    seq = _sequence_text(record)
    n = len(seq)
    if n > 99:
        raise RecordError(f"dynamodb.SequenceNumber has {n} digits (at most 41 expected)")
    return f"{_created(record):010d}{n:02d}{seq}"


def _sequence_text(record: StreamRecord) -> str:
    seq = record.dynamodb.get("SequenceNumber")
    if type(seq) is str and seq.isdigit() and seq.isascii() and seq[0] != "0":
        return seq  # the common case
    return str(record.seq)  # RecordError unless a decimal string; no leading zeros


def _version_text(created: int, seq: str) -> str:
    n = len(seq)
    if n > 99:
        raise RecordError(f"dynamodb.SequenceNumber has {n} digits (at most 41 expected)")
    if n >= _SEQ_DIGITS:
        return f"{created:010d}{n:02d}{seq[:_SEQ_DIGITS]}"
    return f"{created:010d}{n:02d}{seq}{_ZEROS[n]}"


class Ordering:
    """How a record's ordering value is found: a version attribute or the change time."""

    def __init__(self, attribute: str = "", variable: str = "") -> None:
        self.attribute = attribute
        self.variable = variable  # the environment variable that named it, for messages

    def of_image(self, record: StreamRecord, image: Mapping[str, Any], where: str) -> Stamp:
        """The stamp of a change whose resulting item is ``image``."""
        if not self.attribute:
            return Stamp(change_version(record), change_order(record))
        found = self.version_in(image, where)
        if found is None:
            raise RecordError(
                f"{where} has no numeric attribute {self.attribute!r} (named by "
                f"{self.variable}): the change cannot be ordered"
            )
        return Stamp(found, change_order(record))

    def of_remove(self, record: StreamRecord, old: Mapping[str, Any]) -> Stamp | None:
        """The stamp of a ``REMOVE`` whose ``OldImage`` is ``old``; None in version-attribute
        mode when ``old`` carries no version (the REMOVE applies at the version stored:
        ``Versioned.remove_at_current``)."""
        if not self.attribute:
            return self.of_image(record, old, "OldImage")
        version = self.version_in(old, "OldImage")
        return None if version is None else Stamp(version, change_order(record))

    def version_in(self, image: Mapping[str, Any], where: str) -> str | None:
        """The version attribute's N text in ``image`` (None when absent)."""
        av = image.get(self.attribute)
        if av is None:
            return None
        if type(av) is not dict or len(av) != 1 or "N" not in av:
            raise RecordError(
                f"{where}.{self.attribute} (named by {self.variable}) must be a number (N), "
                f"got {describe_value(av)}"
            )
        deserialize(av, f"{where}.{self.attribute}")  # MalformedValue unless a valid N
        text: str = av["N"]
        return text


# --------------------------------------------------------------------------------------
# Typed images: event form (base64 B) to the wire form boto3 sends (bytes)
# --------------------------------------------------------------------------------------


def _has_binary(values: Iterable[Any]) -> bool:
    for av in values:
        for tag in av:  # one tag (anything else: _wire or the careful walk says what)
            if tag in _PLAIN_TAGS:
                continue
            if tag == "M":
                if _has_binary(av["M"].values()):
                    return True
            elif tag != "L" or _has_binary(av["L"]):
                return True  # B, BS, an unknown tag, or an L holding binary
    return False


def _wire(av: Any) -> Any:
    ((tag, value),) = av.items()
    if tag == "B":
        return {"B": a2b_base64(value, strict_mode=True)}
    if tag == "BS":
        return {"BS": [a2b_base64(v, strict_mode=True) for v in value]}
    if tag == "M":
        return {"M": {k: _wire(v) for k, v in value.items()}}
    if tag == "L":
        return {"L": [_wire(v) for v in value]}
    if tag in _PLAIN_TAGS:
        return av
    raise ValueError(tag)  # an unknown tag: to_wire's careful walk names it


def to_wire(image: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``image`` as PutItem's ``Item``: the same dict when it holds no binary value (the
    common case: no copy), else a copy with B/BS decoded from base64. Raises
    ``MalformedValue`` naming the attribute when the image is not a valid typed map."""
    try:
        if _has_binary(image.values()):
            return {k: _wire(v) for k, v in image.items()}
    except Exception:
        deserialize_image(image, where)  # raises MalformedValue with the path
        raise MalformedValue(f"{where}: not a valid attribute map") from None
    return image  # type: ignore[return-value]


def same_key(a: Mapping[str, Any], b: Mapping[str, Any], where: str) -> bool:
    """Whether two typed key maps name the same item (numbers compared as numbers)."""
    if a == b:
        return True
    if a.keys() != b.keys():
        return False
    return all(deserialize(a[k], f"{where}.{k}") == deserialize(b[k], f"{where}.{k}") for k in a)


# --------------------------------------------------------------------------------------
# Writes
# --------------------------------------------------------------------------------------


class Versioned:
    """Conditional PutItem of items and tombstones on one table."""

    def __init__(
        self,
        table: str,
        client: Callable[[], Any],
        *,
        region: str = "",
        ttl_seconds: int = TOMBSTONE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table = table
        self.region = region  # '' = the function's region
        self._client = client
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._feeds: dict[str, str] = {}  # stream ARN -> why writing here feeds it ('' = no)

    def write(self, change: Write) -> bool:
        """Make one planned write (``Write``); True when it was written."""
        if change.stamp is None:
            return self.remove_at_current(change.key, change.order)
        if change.item is None:
            return self.tombstone(change.key, change.stamp, change.origin)
        return self.put(change.item, change.stamp, change.origin)

    def put(self, item: dict[str, Any], stamp: Stamp, origin: str = "") -> bool:
        """Write ``item`` with ``stamp`` (``_ddbt_version``, ``_ddbt_order``; set here) and,
        when given, ``origin`` (``_ddbt_origin``), unless a newer or the same change is
        there. True when written, False when the condition found it."""
        from botocore.exceptions import ClientError

        item[VERSION] = {"N": stamp.version}
        item[ORDER] = {"S": stamp.order}
        if origin:
            item[ORIGIN] = {"S": origin}
        try:
            self._client().put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression=_NEWER,
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues={":v": {"N": stamp.version}, ":o": {"S": stamp.order}},
            )
        except ClientError as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def tombstone(self, key: Mapping[str, Any], stamp: Stamp, origin: str = "") -> bool:
        """Replace the item at ``key`` by a tombstone of ``stamp`` unless newer data is there."""
        item = dict(key)
        item[DELETED] = _TRUE
        item[EXPIRES] = {"N": str(int(self._clock()) + self.ttl_seconds)}
        return self.put(item, stamp, origin)

    def feeds(self, stream_arn: str) -> str:
        """Why writing here would feed the stream ``stream_arn`` ('' when it would not):
        this table is the stream's own table, or another region's replica of it in a global
        table (``DescribeTable``, asked once per stream and only when the names match).
        Raises botocore's errors when ``DescribeTable`` fails (nothing is cached then)."""
        found = self._feeds.get(stream_arn)
        if found is not None:
            return found
        found = loops_back(stream_arn, self.table, self.region)
        source_region = "" if found else maybe_global_replica(stream_arn, self.table, self.region)
        if source_region:
            described = self._client().describe_table(TableName=self.table)["Table"]
            source = source_arn(stream_arn)
            if any(
                r.get("ReplicaArn") == source
                or (not r.get("ReplicaArn") and r.get("RegionName") == source_region)
                for r in described.get("Replicas") or ()
            ):
                name = source_arn(stream_arn).rsplit("/", 1)[-1]
                found = (
                    f"the target table {self.table!r} is a replica of the stream's own global "
                    f"table ({name} in {source_region} replicates to it): the global table "
                    "already copies every write to it, and each write made there would be "
                    "replicated back into the source and come back on its stream; do not "
                    "replicate or project into a replica of the source's global table"
                )
        self._feeds[stream_arn] = found
        return found

    def remove_at_current(self, key: Mapping[str, Any], order: str) -> bool:
        """A REMOVE whose version is unknown (version-attribute mode without an old image),
        at stream place ``order``: tombstone the item at the version it holds now (GetItem,
        then a write conditional on nothing newer having arrived meanwhile). Nothing there,
        or already a tombstone: nothing to do. A REMOVE delivered late, after the item was
        written again with the same version, finds a later ``_ddbt_order`` and does not
        apply; after it was written again with a *greater* version it deletes that
        incarnation (documented limit: the REMOVE carries no version of its own)."""
        found = (
            self._client()
            .get_item(
                TableName=self.table,
                Key=dict(key),
                ConsistentRead=True,
                ProjectionExpression="#v, #d",
                ExpressionAttributeNames={"#v": VERSION, "#d": DELETED},
            )
            .get("Item")
        )
        if not found or DELETED in found or VERSION not in found:
            return False
        return self.tombstone(key, Stamp(found[VERSION]["N"], order))


# --------------------------------------------------------------------------------------
# The batch: writes planned, coalesced per target item, written in lanes (handlers.lanes)
# --------------------------------------------------------------------------------------


class Write(NamedTuple):
    """One conditional write a change makes: ``item`` (wire form, key attributes included)
    with ``stamp`` and ``origin``, or, when ``item`` is None, a tombstone at ``key``. A
    ``stamp`` of None is a REMOVE at the version the item holds (``remove_at_current``, at
    stream place ``order``), the one write whose effect depends on what is stored."""

    key: dict[str, Any]  # the target item's key (wire form)
    stamp: Stamp | None
    item: dict[str, Any] | None = None
    origin: str = ""
    order: str = ""


class _OutOfTime(Exception):
    """The batch's time budget ran out before a write."""


class _Step(NamedTuple):
    position: int  # the earliest record the write covers
    target: Hashable  # the target item
    write: Write


def _target(key: Mapping[str, Any]) -> Hashable:
    """A target item's identity: its key values as DynamoDB compares them (a number by its
    value, so ``1`` and ``1.0`` are one item; a binary by its bytes). A key DynamoDB cannot
    hold (a map, a malformed number: the write will be refused) is its own JSON text."""
    try:
        out = []
        for name, av in key.items():
            ((tag, value),) = av.items()
            out.append((name, tag, Decimal(value) if tag == "N" else value))
        found = tuple(sorted(out))
        hash(found)
    except (ArithmeticError, AttributeError, TypeError, ValueError):
        return json.dumps(key, sort_keys=True, default=repr)
    return found


class Planned(Protocol):
    """A planned write as ``coalesce`` sees it: the target item's key and the stamp (None:
    a write whose effect depends on what is stored)."""

    @property
    def key(self) -> Mapping[str, Any]: ...

    @property
    def stamp(self) -> Stamp | None: ...


P = TypeVar("P", bound=Planned)


def coalesce(planned: Sequence[tuple[int, P]]) -> list[tuple[int, Hashable, P]]:
    """The writes to make for ``(position, write)`` pairs in record order, as
    ``(position, target, write)``: per target item, the write with the greatest stamp alone,
    at the position of the item's first write (conditional writes keep the greatest stamp
    whatever their order); every write, in order, for an item with a stamp of None among
    them. Sorted by position. Shared by the view, the replicator and the cache."""
    by_target: dict[Hashable, list[tuple[int, P]]] = {}
    for position, change in planned:
        by_target.setdefault(_target(change.key), []).append((position, change))
    steps: list[tuple[int, Hashable, P]] = []
    for target, changes in by_target.items():
        if len(changes) > 1 and all(c.stamp is not None for _, c in changes):
            winner = max(changes, key=_rank)[1]
            steps.append((changes[0][0], target, winner))
        else:
            steps.extend((position, target, change) for position, change in changes)
    steps.sort(key=lambda step: step[0])
    return steps


def _rank(planned: tuple[int, Planned]) -> tuple[Decimal, bytes]:
    stamp = planned[1].stamp
    assert stamp is not None
    return stamp.rank()


class VersionedProcessor:
    """The batch of the view and the replicator (``apply_batch``) and its log line of the
    changes that made no write. A subclass names its processor (``name``), the variable
    that names its target table (``setting``), what it writes (``item``, for the reason of a
    write error), why a change makes no write (``skip_reason``), and plans each change's
    writes (``writes``); ``writer`` and ``workers`` are set by its constructor."""

    name: str
    setting: ClassVar[str]
    item: ClassVar[str]
    skip_reason: ClassVar[str]
    writer: Versioned
    workers: int

    def writes(self, record: StreamRecord) -> list[Write]:
        raise NotImplementedError

    def skip_fields(self) -> dict[str, Any]:
        """More fields of the log line of skipped changes."""
        return {}

    @retry.budgeted
    def process(self, records: Sequence[StreamRecord], batch: Batch) -> Outcome:
        skipped: dict[str, None] = {}  # event IDs (a record planned twice is counted once)
        outcome = apply_batch(
            records,
            batch,
            self.writer,
            self.writes,
            skipped=skipped,
            workers=self.workers,
            setting=self.setting,
            item=self.item,
        )
        if skipped:
            log(
                "INFO",
                f"{self.name}: {self.skip_reason}",
                count=len(skipped),
                **self.skip_fields(),
                event_ids=list(skipped)[:5],
            )
        return outcome


def apply_batch(
    records: Sequence[StreamRecord],
    batch: Batch,
    writer: Versioned,
    plan: Callable[[StreamRecord], list[Write]],
    *,
    workers: int,
    setting: str,
    item: str,
    skipped: dict[str, None] | None = None,
    together: bool = True,
) -> Outcome:
    """The view's and the replicator's batch: ``plan`` the writes of each checked record,
    coalesce them per target item (``together``; else every write is made), and write them
    in lanes, one per target item, up to ``workers`` at once (``handlers.lanes``), each
    write within the time budget (see the module docstring). The outcome names the first
    record that failed; every record before it was applied. The event IDs of records that
    make no write are added to ``skipped``. A ``writer`` table that is the stream's own
    table (named by the variable ``setting``) fails the whole batch; ``item`` names what is
    written ("view", "replica") in the reason of a write error."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        loop = writer.feeds(batch.stream_arn)
    except (ClientError, BotoCoreError) as error:
        code = aws.error_code(error) or type(error).__name__
        return Outcome(
            0,
            Failure.TRANSIENT,
            f"{setting}: DescribeTable {writer.table} failed ({code}): cannot tell whether "
            f"it is a replica of the stream's own global table (the function needs "
            f"dynamodb:DescribeTable on it): {error}",
        )
    if loop:
        return Outcome(0, Failure.POISON, f"{setting}: {loop}")
    planned: list[tuple[int, Write]] = []
    stop: Outcome = Outcome(len(records))
    for position, record in enumerate(records):
        try:
            record.check()
            changes = plan(record)
        except RecordError as bad:
            stop = Outcome(position, Failure.POISON, str(bad))
            break
        if not changes and skipped is not None:
            skipped[record.event_id] = None
        planned.extend((position, change) for change in changes)
    if together:
        steps = [_Step(*step) for step in coalesce(planned)]
    else:
        steps = [_Step(position, _target(c.key), c) for position, c in planned]
    budget = batch.budget

    def step(_index: int, todo: _Step) -> None:
        if budget.expired():
            raise _OutOfTime
        writer.write(todo.write)

    index, exc = run_lanes(steps, lambda todo: todo.target, step, workers)
    if exc is None:
        return stop
    position = steps[index].position
    if isinstance(exc, _OutOfTime):
        return Outcome(position, Failure.TIME, "time budget ran out before the write")
    if not isinstance(exc, (ClientError, BotoCoreError)):
        raise exc
    kind, reason = classify(exc, f"writing the {item} item to {writer.table}")
    if kind is Failure.POISON and together:
        # Which of the records from here DynamoDB refuses: one change at a time per item.
        rest = apply_batch(
            records[position:],
            batch,
            writer,
            plan,
            workers=workers,
            setting=setting,
            item=item,
            skipped=skipped,
            together=False,
        )
        return Outcome(position + rest.done, rest.failure, rest.reason)
    if kind is Failure.POISON:
        reason = poison_reason(records[position], reason)
    return Outcome(position, kind, reason)


def classify(exc: BaseException, action: str) -> tuple[Failure, str]:
    """A write error as a failure kind and reason, by DynamoDB's error code
    (``handlers.errors``): the item's own fault (``ValidationException``, botocore's parameter
    validation) is POISON, anything else (throttling and 5xx after ``handlers.retry``'s
    retries, connection errors, missing table or permission) TRANSIENT."""
    from botocore.exceptions import ParamValidationError

    if isinstance(exc, ParamValidationError):
        return Failure.POISON, f"{action}: the item is not valid for DynamoDB ({exc})"
    code = aws.error_code(exc)
    if code and errors.verdict("dynamodb", code) is errors.Verdict.POISON:
        return Failure.POISON, f"{action} rejected the item ({code}): {exc}"
    return Failure.TRANSIENT, f"{action} failed ({code or type(exc).__name__}): {exc}"


def poison_reason(record: StreamRecord, reason: str) -> str:
    """The reason for an item DynamoDB rejected: the first malformed value of the record,
    named by its path, when there is one (DynamoDB's message does not name it)."""
    try:
        record.keys  # noqa: B018 - decodes and checks
        record.new_image  # noqa: B018
        record.old_image  # noqa: B018
    except RecordError as exc:
        return f"{exc} ({reason})"
    return reason


# --------------------------------------------------------------------------------------
# Tables in another region
# --------------------------------------------------------------------------------------


def region_of(table: str) -> str:
    """The region of a table ARN (``arn:aws:dynamodb:REGION:ACCOUNT:table/NAME``), else ''."""
    parts = table.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[2] == "dynamodb":
        return parts[3]
    return ""


def source_arn(stream_arn: str) -> str:
    """The ARN of the table whose stream ``stream_arn`` is ('' when it is not an ARN)."""
    if not stream_arn.startswith("arn:") or "/stream/" not in stream_arn:
        return ""
    return stream_arn.partition("/stream/")[0]


def target_arn(stream_arn: str, table: str, region: str) -> str:
    """The ARN of the table a processor writes: ``table`` (a name or ARN) in ``region`` ('' =
    the ARN's, else the function's), in the stream's account and partition when ``table`` is
    a name. '' when the stream ARN is not an ARN."""
    parts = stream_arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return ""
    if table.startswith("arn:"):
        arn = table.split(":", 5)
        if len(arn) != 6:
            return table
        return f"arn:{arn[1]}:dynamodb:{region or arn[3]}:{arn[4]}:{arn[5]}"
    where = region or aws.home_region() or parts[3]
    return f"arn:{parts[1]}:dynamodb:{where}:{parts[4]}:table/{table}"


def _name_and_region(arn: str) -> tuple[str, str, str]:
    parts = arn.split(":", 5)
    return parts[5].removeprefix("table/"), parts[3], parts[4]


def loops_back(stream_arn: str, table: str, region: str) -> str:
    """Why writing to ``table`` (in ``region``, '' = the function's) would feed the stream
    the records come from ('' when it would not): every write there is a new change of the
    source, which would be applied again with a newer change time, forever."""
    source = source_arn(stream_arn)
    if not source or source != target_arn(stream_arn, table, region):
        return ""
    name, source_region, _ = _name_and_region(source)
    return (
        f"the target table {table!r} is the stream's own table ({name} in "
        f"{source_region}): every write would come back as a change, forever"
    )


def maybe_global_replica(stream_arn: str, table: str, region: str) -> str:
    """The source table's region when ``table`` could be another region's replica of it in a
    global table (same name, another region: all replicas of a global table share its name;
    any account, as multi-account global tables exist), else ''. Whether it is one only
    ``DescribeTable`` can tell."""
    source = source_arn(stream_arn)
    target = target_arn(stream_arn, table, region)
    if not source or not target.startswith("arn:"):
        return ""
    name, source_region, _ = _name_and_region(source)
    other, target_region, _ = _name_and_region(target)
    return source_region if name == other and source_region != target_region else ""
