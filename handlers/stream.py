"""The record model: typed, read-only DynamoDB stream records of a Lambda event.

``parse_event`` turns a Lambda DynamoDB stream event into ``StreamRecord`` objects without
failing on any one record: a malformed record fails alone, when processed (``check`` and
every accessor raise ``RecordError`` naming what is wrong). Keys and images are decoded
lazily by the attribute-value codec (``handlers.codec``), and only once per record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from handlers.codec import MalformedValue, RecordError, deserialize_image, short_repr

__all__ = [
    "EventName",
    "NotAStreamEvent",
    "StreamRecord",
    "ViewType",
    "parse_event",
    "sequence_numbers",
    "sequence_problem",
]


class EventName(StrEnum):
    INSERT = "INSERT"
    MODIFY = "MODIFY"
    REMOVE = "REMOVE"


class ViewType(StrEnum):
    KEYS_ONLY = "KEYS_ONLY"
    NEW_IMAGE = "NEW_IMAGE"
    OLD_IMAGE = "OLD_IMAGE"
    NEW_AND_OLD_IMAGES = "NEW_AND_OLD_IMAGES"


class NotAStreamEvent(ValueError):
    """The event is not a Lambda DynamoDB stream event at all."""


_MISSING: Any = object()


_MAP = (dict, Mapping)  # isinstance: dicts (every Lambda event) skip the ABC check
_EVENT_NAMES: dict[object, EventName] = {e.value: e for e in EventName}
_VIEW_TYPES: dict[object, ViewType] = {v.value: v for v in ViewType}


class StreamRecord:
    """One record of a Lambda DynamoDB stream event: read-only, images decoded lazily.

    Constructing a record never fails: every accessor that meets something malformed raises
    ``RecordError`` naming it, so the failure belongs to this record alone.
    """

    __slots__ = ("_keys", "_new", "_old", "_problem", "dynamodb", "index", "raw", "stream_arn")

    def __init__(self, raw: Mapping[str, Any], index: int, stream_arn: str, problem: str = ""):
        self.raw = raw
        self.index = index
        self.stream_arn = stream_arn
        block = raw.get("dynamodb") if isinstance(raw, _MAP) else None
        self.dynamodb: Mapping[str, Any] = block if isinstance(block, _MAP) else {}
        self._problem = problem
        self._keys: Any = _MISSING
        self._new: Any = _MISSING
        self._old: Any = _MISSING

    def __repr__(self) -> str:
        return f"StreamRecord({self.event_id!r}, seq={self.sequence_number!r})"

    # -- identity ---------------------------------------------------------------------
    @property
    def event_id(self) -> str:
        value = self.raw.get("eventID", "")
        return value if type(value) is str else str(value)

    @property
    def sequence_number(self) -> str:
        """The record's ``SequenceNumber`` ('' only in events that are already rejected)."""
        value = self.dynamodb.get("SequenceNumber")
        return value if isinstance(value, str) else ""

    @property
    def seq(self) -> int:
        """Sequence number as an integer: order within one shard only."""
        value = self.dynamodb.get("SequenceNumber")
        if type(value) is str and value.isdigit() and value.isascii():
            return int(value)  # the common case, without the calls below
        value = self.sequence_number
        if not _is_sequence_number(value):
            raise RecordError(
                f"dynamodb.SequenceNumber must be a decimal string, got {value!r:.60}"
            )
        return int(value)

    def check(self) -> EventName:
        """Raise ``RecordError`` when the record itself (not its values) is unusable; else
        its ``event_name`` (found on the way)."""
        if self._problem:
            raise RecordError(self._problem)
        try:
            name = _EVENT_NAMES[self.raw.get("eventName")]
        except (KeyError, TypeError):
            name = self.event_name  # raises RecordError naming it
        if not isinstance(self.dynamodb.get("Keys"), dict):
            raise RecordError("dynamodb.Keys is missing or not an attribute map")
        return name

    @property
    def event_name(self) -> EventName:
        name = self.raw.get("eventName")
        try:
            return _EVENT_NAMES[name]
        except (KeyError, TypeError):  # TypeError: unhashable garbage
            raise RecordError(
                f"eventName must be INSERT, MODIFY or REMOVE, got {short_repr(name, 40)}"
            ) from None

    @property
    def view_type(self) -> ViewType | None:
        value = self.dynamodb.get("StreamViewType")
        if value is None:
            return None
        try:
            return _VIEW_TYPES[value]
        except (KeyError, TypeError):
            raise RecordError(
                f"dynamodb.StreamViewType {short_repr(value, 40)} is not a view type"
            ) from None

    @property
    def table_name(self) -> str:
        """Table name from the stream ARN (``arn:...:table/NAME/stream/LABEL``)."""
        try:
            return _TABLES[self.stream_arn]
        except KeyError:
            return _table_name(self.stream_arn)

    @property
    def stream_label(self) -> str:
        parts = self.stream_arn.split("/stream/", 1)
        return parts[1] if len(parts) == 2 else ""

    @property
    def creation_time(self) -> datetime:
        value = self.dynamodb.get("ApproximateCreationDateTime")
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            raise RecordError(
                "dynamodb.ApproximateCreationDateTime must be epoch seconds, got "
                + short_repr(value, 40)
            )
        try:
            return datetime.fromtimestamp(int(value), UTC)
        except (ArithmeticError, OSError, ValueError) as exc:  # NaN, inf, out of range
            raise RecordError(
                f"dynamodb.ApproximateCreationDateTime {short_repr(value, 40)} {exc}"
            ) from None

    @property
    def creation_iso(self) -> str:
        """``creation_time`` as ``YYYY-MM-DDTHH:MM:SSZ``."""
        value = self.dynamodb.get("ApproximateCreationDateTime")
        if type(value) is int:  # the common case: the minute's text is cached
            minute, second = divmod(value, 60)
            prefix = _MINUTES.get(minute)
            if prefix is not None:
                return f"{prefix}{second:02d}Z"
        # isoformat is several times faster than strftime; whole seconds, so 19 characters
        text = self.creation_time.isoformat()[:19] + "Z"  # raises RecordError if malformed
        if type(value) is int:
            if len(_MINUTES) >= _CACHE_SIZE:
                _MINUTES.clear()
            _MINUTES[value // 60] = text[:17]
        return text

    @property
    def size_bytes(self) -> int:
        value = self.dynamodb.get("SizeBytes", 0)
        return value if isinstance(value, int) else 0

    @property
    def ttl_expired(self) -> bool:
        """True for deletions made by DynamoDB's TTL process."""
        ident = self.raw.get("userIdentity")
        return (
            ident is not None
            and isinstance(ident, _MAP)
            and ident.get("type") == "Service"
            and ident.get("principalId") == "dynamodb.amazonaws.com"
        )

    # -- images -----------------------------------------------------------------------
    @property
    def raw_keys(self) -> dict[str, Any]:
        keys = self.dynamodb.get("Keys")
        if not isinstance(keys, dict):
            raise RecordError("dynamodb.Keys is missing or not an attribute map")
        return keys

    @property
    def raw_new_image(self) -> dict[str, Any] | None:
        image = self.dynamodb.get("NewImage")
        if image is None or type(image) is dict:
            return image
        return self._raw_image("NewImage")

    @property
    def raw_old_image(self) -> dict[str, Any] | None:
        image = self.dynamodb.get("OldImage")
        if image is None or type(image) is dict:
            return image
        return self._raw_image("OldImage")

    def _raw_image(self, name: str) -> dict[str, Any] | None:
        image = self.dynamodb.get(name)
        if image is None:
            return None
        if not isinstance(image, dict):
            raise MalformedValue(f"dynamodb.{name} must be an attribute map")
        return image

    @property
    def keys(self) -> dict[str, Any]:
        if self._keys is _MISSING:
            self._keys = deserialize_image(self.raw_keys, "Keys")
        return self._keys  # type: ignore[no-any-return]

    @property
    def new_image(self) -> dict[str, Any] | None:
        """Decoded ``NewImage``, or None when the view type or event carries none."""
        if self._new is _MISSING:
            raw = self.raw_new_image
            self._new = None if raw is None else deserialize_image(raw, "NewImage")
        return self._new  # type: ignore[no-any-return]

    @property
    def old_image(self) -> dict[str, Any] | None:
        """Decoded ``OldImage``, or None when the view type or event carries none."""
        if self._old is _MISSING:
            raw = self.raw_old_image
            self._old = None if raw is None else deserialize_image(raw, "OldImage")
        return self._old  # type: ignore[no-any-return]

    @property
    def image(self) -> dict[str, Any] | None:
        """The item as it is after the change (new image), or before a REMOVE (old image)."""
        if self.event_name is EventName.REMOVE:
            return self.old_image
        return self.new_image


def _is_sequence_number(value: str) -> bool:
    # isdigit alone accepts "²" and other digits int() refuses.
    return value.isascii() and value.isdigit()


def _table_from_arn(arn: str) -> str:
    # arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL
    _, _, rest = arn.partition(":table/")
    return rest.split("/", 1)[0]


# Small per-process caches (a Lambda sees few streams; creation times cluster), cleared when full.
_CACHE_SIZE = 1024
_TABLES: dict[str, str] = {}  # stream ARN -> table name
_MINUTES: dict[int, str] = {}  # epoch minute -> "YYYY-MM-DDTHH:MM:"


def _table_name(arn: str) -> str:
    if len(_TABLES) >= _CACHE_SIZE:
        _TABLES.clear()
    name = _TABLES[arn] = _table_from_arn(arn)
    return name


def parse_event(event: object) -> list[StreamRecord]:
    """Records of a Lambda DynamoDB stream event, in delivery order.

    Raises ``NotAStreamEvent`` for anything that is not such an event (no ``Records`` list,
    or records none of which come from DynamoDB). Individual records that are malformed are
    kept and fail when processed (``StreamRecord.check``), so the rest of the batch survives.
    """
    if not isinstance(event, _MAP):
        raise NotAStreamEvent(
            f"expected a DynamoDB stream event (object), got {type(event).__name__}"
        )
    records = event.get("Records")
    if records is not None and not isinstance(records, list):
        raise NotAStreamEvent(
            f"expected a DynamoDB stream event: 'Records' must be a list, got "
            f"{type(records).__name__}"
        )
    if not isinstance(records, list):
        keys = ", ".join(sorted(map(str, event)))[:200]
        raise NotAStreamEvent(
            f"expected a DynamoDB stream event with a 'Records' list; got keys: {keys or 'none'}"
        )
    if not records:
        return []
    fast = _parse_uniform(records)
    if fast is not None:
        return fast
    # The batch's stream: the ARN most records carry (in practice, every record's).
    counts: dict[str, int] = {}
    from_dynamodb = False
    for r in records:
        if isinstance(r, _MAP):
            from_dynamodb = from_dynamodb or r.get("eventSource") == "aws:dynamodb"
            arn = r.get("eventSourceARN")
            if isinstance(arn, str):
                counts[arn] = counts.get(arn, 0) + 1
    if not from_dynamodb:
        sources = {str(r.get("eventSource")) if isinstance(r, _MAP) else "None" for r in records}
        seen = ", ".join(sorted(sources))[:200]
        raise NotAStreamEvent(f"no record has eventSource 'aws:dynamodb' (found: {seen})")
    stream_arn = max(counts, key=counts.__getitem__) if counts else ""  # ties: the first
    out: list[StreamRecord] = []
    for i, raw in enumerate(records):
        problem = ""
        if not isinstance(raw, _MAP):
            raw, problem = {}, f"record {i} is not an object"
        elif raw.get("eventSource") != "aws:dynamodb":
            problem = (
                f"eventSource must be 'aws:dynamodb', got {short_repr(raw.get('eventSource'), 60)}"
            )
        elif not isinstance(raw.get("dynamodb"), _MAP):
            problem = "the 'dynamodb' block is missing"
        elif raw.get("eventSourceARN", stream_arn) != stream_arn:
            problem = (
                f"record comes from another stream ({short_repr(raw.get('eventSourceARN'), 120)}) "
                f"than the batch ({stream_arn})"
            )
        out.append(StreamRecord(raw, i, stream_arn, problem))
    return out


def _parse_uniform(records: list[Any]) -> list[StreamRecord] | None:
    """The common case, checked in one pass: every record an object from DynamoDB with the
    same stream ARN and a ``dynamodb`` object. None when any is not (``parse_event`` then
    takes the general path, which gives the same result for such a batch)."""
    first = records[0]
    if type(first) is not dict:
        return None
    arn = first.get("eventSourceARN")
    if type(arn) is not str:
        return None
    new = StreamRecord.__new__
    out: list[StreamRecord] = []
    append = out.append
    for i, raw in enumerate(records):
        if type(raw) is not dict:
            return None
        block = raw.get("dynamodb")
        if (
            type(block) is not dict
            or raw.get("eventSource") != "aws:dynamodb"
            or raw.get("eventSourceARN") != arn
        ):
            return None
        record = new(StreamRecord)
        record.raw = raw
        record.index = i
        record.stream_arn = arn
        record.dynamodb = block
        record._problem = ""
        record._keys = record._new = record._old = _MISSING
        append(record)
    return out


def sequence_numbers(records: Sequence[StreamRecord]) -> list[int]:
    """``[r.seq for r in records]``: the same values, or the same ``RecordError``."""
    texts = _decimal_texts(records)
    return [r.seq for r in records] if texts is None else list(map(int, texts))


def _decimal_texts(records: Sequence[StreamRecord]) -> list[str] | None:
    """Every record's ``SequenceNumber`` when each is a decimal string (ASCII digits), else
    None: checked in one pass over the joined text (the common case: a few C calls instead
    of a property call per record)."""
    texts: list[Any] = [r.dynamodb.get("SequenceNumber") for r in records]
    try:
        joined = "".join(texts)
    except TypeError:  # one is not a string
        return None
    # bytes.isdigit: ASCII digits only, several times faster than str.isdigit
    if joined.isascii() and joined.encode("ascii").isdigit() and all(texts):
        return texts
    return None


def sequence_problem(records: Sequence[StreamRecord]) -> str:
    """Why the batch cannot be reported per record ('' when every record has a sequence number).

    A partial-failure response names records by sequence number; a record without one
    cannot be reported, so such a batch must fail as a whole (Lambda then bisects it).
    """
    if _decimal_texts(records) is not None:
        return ""
    for record in records:
        seq = record.sequence_number
        if not _is_sequence_number(seq):
            return (
                f"record {record.index} (eventID {record.event_id or '?'}) has no valid "
                f"dynamodb.SequenceNumber ({seq!r:.60}), so it cannot be reported as a "
                "batch item failure"
            )
    return ""
