"""Stream toolkit: typed, read-only DynamoDB stream records and fast attribute decoding.

Two decoders share one validation: ``deserialize`` turns a typed attribute value into plain
Python exactly as boto3's ``TypeDeserializer`` does (``N`` as an exact ``Decimal``, ``B`` as
``bytes``, sets as ``set``), and ``to_json`` writes the same value as JSON text without going
through Python objects (numbers kept digit for digit, bytes as base64, sets as sorted lists).
Both raise ``MalformedValue`` naming what is wrong; a record that carries one fails alone.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import (
    Clamped,
    Context,
    Decimal,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
    Underflow,
)
from enum import StrEnum
from json import dumps as _json_dumps
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "EventName",
    "MalformedValue",
    "NotAStreamEvent",
    "RecordError",
    "StreamRecord",
    "ViewType",
    "deserialize",
    "deserialize_image",
    "image_to_json",
    "parse_event",
    "to_json",
]

# boto3.dynamodb.types.DYNAMODB_CONTEXT, copied so that decoding does not import boto3.
DYNAMODB_CONTEXT = Context(
    Emin=-128,
    Emax=126,
    prec=38,
    traps=[Clamped, Overflow, Inexact, Rounded, Underflow],
)
# DynamoDB documents 32 levels of nesting for maps and lists.
MAX_DEPTH = 32
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?\Z")
_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}\Z")
_ISO = "%Y-%m-%dT%H:%M:%SZ"


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


class RecordError(ValueError):
    """One record cannot be processed; it fails alone (a poison record)."""


class MalformedValue(RecordError):
    """A typed attribute value that DynamoDB would never produce."""


# --------------------------------------------------------------------------------------
# Decoding to Python (boto3 TypeDeserializer semantics)
# --------------------------------------------------------------------------------------


def _number(value: object, path: str) -> Decimal:
    if type(value) is not str or not _NUMBER.match(value):
        raise MalformedValue(f"{path}: N must be a decimal number string, got {value!r:.60}")
    try:
        return DYNAMODB_CONTEXT.create_decimal(value)
    except (InvalidOperation, ArithmeticError) as exc:
        raise MalformedValue(
            f"{path}: N {value!r:.60} is outside DynamoDB's number range "
            "(38 significant digits, magnitude 1E-130 to 9.99E+125)"
        ) from exc


def _binary(value: object, path: str) -> bytes:
    if type(value) is not str or len(value) % 4 or not _B64.match(value):
        raise MalformedValue(f"{path}: B must be base64 text, got {value!r:.60}")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise MalformedValue(f"{path}: B is not valid base64 ({exc})") from exc


def _members(value: object, tag: str, path: str) -> list[Any]:
    if type(value) is not list:
        raise MalformedValue(f"{path}: {tag} must be a list, got {type(value).__name__}")
    if not value:
        raise MalformedValue(f"{path}: {tag} is empty (DynamoDB sets hold at least one member)")
    return value


def _pair(av: object, path: str) -> tuple[str, Any]:
    if type(av) is not dict or len(av) != 1:
        raise MalformedValue(
            f"{path}: expected an attribute value with exactly one type tag, got {av!r:.80}"
        )
    return next(iter(av.items()))


def _deserialize(av: object, path: str, depth: int) -> Any:
    tag, value = _pair(av, path)
    if tag == "S":
        if type(value) is not str:
            raise MalformedValue(f"{path}: S must be a string, got {type(value).__name__}")
        return value
    if tag == "N":
        return _number(value, path)
    if tag == "M":
        if type(value) is not dict:
            raise MalformedValue(f"{path}: M must be an object, got {type(value).__name__}")
        if depth >= MAX_DEPTH:
            raise MalformedValue(f"{path}: nested deeper than {MAX_DEPTH} levels")
        return {k: _deserialize(v, f"{path}.{k}", depth + 1) for k, v in value.items()}
    if tag == "L":
        if type(value) is not list:
            raise MalformedValue(f"{path}: L must be a list, got {type(value).__name__}")
        if depth >= MAX_DEPTH:
            raise MalformedValue(f"{path}: nested deeper than {MAX_DEPTH} levels")
        return [_deserialize(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
    if tag == "BOOL":
        if type(value) is not bool:
            raise MalformedValue(f"{path}: BOOL must be true or false, got {value!r:.40}")
        return value
    if tag == "NULL":
        if value is not True:
            raise MalformedValue(f"{path}: NULL must be true, got {value!r:.40}")
        return None
    if tag == "B":
        return _binary(value, path)
    if tag == "SS":
        members = _members(value, tag, path)
        if any(type(m) is not str for m in members):
            raise MalformedValue(f"{path}: SS members must be strings")
        return set(members)
    if tag == "NS":
        return {_number(m, path) for m in _members(value, tag, path)}
    if tag == "BS":
        return {_binary(m, path) for m in _members(value, tag, path)}
    raise MalformedValue(f"{path}: unknown type tag {tag!r:.40}")


def deserialize(av: object, path: str = "value") -> Any:
    """Decode one typed attribute value (Lambda event form) to plain Python."""
    return _deserialize(av, path, 0)


def deserialize_image(image: object, path: str = "image") -> dict[str, Any]:
    """Decode a typed attribute map (``Keys``, ``NewImage``, ``OldImage``)."""
    if type(image) is not dict:
        raise MalformedValue(f"{path}: expected an attribute map, got {type(image).__name__}")
    return {k: _deserialize(v, f"{path}.{k}", 1) for k, v in image.items()}


# --------------------------------------------------------------------------------------
# Transcoding to JSON text (exact numbers, base64 bytes, sorted sets)
# --------------------------------------------------------------------------------------


def _json_number(value: object, path: str) -> str:
    number = _number(value, path)
    # Keep the digits as DynamoDB sent them when they already form a JSON number; otherwise
    # (".5", "1.", "007") write Decimal's canonical text, which is always valid JSON.
    text = str(value)
    return text if _JSON_NUMBER.match(text) else str(number)


def _to_json(av: object, path: str, depth: int, out: list[str]) -> None:
    tag, value = _pair(av, path)
    if tag == "S":
        if type(value) is not str:
            raise MalformedValue(f"{path}: S must be a string, got {type(value).__name__}")
        out.append(_json_dumps(value, ensure_ascii=False))
    elif tag == "N":
        out.append(_json_number(value, path))
    elif tag == "M":
        if type(value) is not dict:
            raise MalformedValue(f"{path}: M must be an object, got {type(value).__name__}")
        if depth >= MAX_DEPTH:
            raise MalformedValue(f"{path}: nested deeper than {MAX_DEPTH} levels")
        _map_to_json(value, path, depth + 1, out)
    elif tag == "L":
        if type(value) is not list:
            raise MalformedValue(f"{path}: L must be a list, got {type(value).__name__}")
        if depth >= MAX_DEPTH:
            raise MalformedValue(f"{path}: nested deeper than {MAX_DEPTH} levels")
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _to_json(item, f"{path}[{i}]", depth + 1, out)
        out.append("]")
    elif tag == "BOOL":
        if type(value) is not bool:
            raise MalformedValue(f"{path}: BOOL must be true or false, got {value!r:.40}")
        out.append("true" if value else "false")
    elif tag == "NULL":
        if value is not True:
            raise MalformedValue(f"{path}: NULL must be true, got {value!r:.40}")
        out.append("null")
    elif tag == "B":
        _binary(value, path)
        out.append(f'"{value}"')
    elif tag == "SS":
        members = _members(value, tag, path)
        if any(type(m) is not str for m in members):
            raise MalformedValue(f"{path}: SS members must be strings")
        out.append(_json_dumps(sorted(set(members)), ensure_ascii=False, separators=(",", ":")))
    elif tag == "NS":
        numbers = {_number(m, path): m for m in _members(value, tag, path)}
        out.append("[" + ",".join(_json_number(numbers[n], path) for n in sorted(numbers)) + "]")
    elif tag == "BS":
        decoded = {_binary(m, path): m for m in _members(value, tag, path)}
        out.append("[" + ",".join(f'"{decoded[b]}"' for b in sorted(decoded)) + "]")
    else:
        raise MalformedValue(f"{path}: unknown type tag {tag!r:.40}")


def _map_to_json(image: Mapping[str, Any], path: str, depth: int, out: list[str]) -> None:
    out.append("{")
    first = True
    for key, av in image.items():
        if not first:
            out.append(",")
        first = False
        out.append(_json_dumps(key, ensure_ascii=False))
        out.append(":")
        _to_json(av, f"{path}.{key}", depth, out)
    out.append("}")


def to_json(av: object, path: str = "value") -> str:
    """JSON text of one typed attribute value (exact numbers, base64 bytes, sorted sets)."""
    out: list[str] = []
    _to_json(av, path, 0, out)
    return "".join(out)


def image_to_json(image: object, path: str = "image") -> str:
    """JSON text of a typed attribute map, keys in stream order."""
    if type(image) is not dict:
        raise MalformedValue(f"{path}: expected an attribute map, got {type(image).__name__}")
    out: list[str] = []
    _map_to_json(image, path, 1, out)
    return "".join(out)


# --------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------

_MISSING: Any = object()


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
        block = raw.get("dynamodb") if isinstance(raw, Mapping) else None
        self.dynamodb: Mapping[str, Any] = block if isinstance(block, Mapping) else {}
        self._problem = problem
        self._keys: Any = _MISSING
        self._new: Any = _MISSING
        self._old: Any = _MISSING

    def __repr__(self) -> str:
        return f"StreamRecord({self.event_id!r}, seq={self.sequence_number!r})"

    # -- identity ---------------------------------------------------------------------
    @property
    def event_id(self) -> str:
        return str(self.raw.get("eventID", ""))

    @property
    def sequence_number(self) -> str:
        """The record's ``SequenceNumber`` ('' only in events that are already rejected)."""
        value = self.dynamodb.get("SequenceNumber")
        return value if isinstance(value, str) else ""

    @property
    def seq(self) -> int:
        """Sequence number as an integer: order within one shard only."""
        return int(self.sequence_number)

    def check(self) -> None:
        """Raise ``RecordError`` when the record itself (not its values) is unusable."""
        if self._problem:
            raise RecordError(self._problem)
        self.event_name  # noqa: B018 - validates the event name
        if not isinstance(self.dynamodb.get("Keys"), dict):
            raise RecordError("dynamodb.Keys is missing or not an attribute map")

    @property
    def event_name(self) -> EventName:
        name = self.raw.get("eventName")
        try:
            return EventName(str(name))
        except ValueError:
            raise RecordError(
                f"eventName must be INSERT, MODIFY or REMOVE, got {name!r:.40}"
            ) from None

    @property
    def view_type(self) -> ViewType | None:
        value = self.dynamodb.get("StreamViewType")
        try:
            return ViewType(value) if value is not None else None
        except ValueError:
            raise RecordError(f"dynamodb.StreamViewType {value!r:.40} is not a view type") from None

    @property
    def table_name(self) -> str:
        """Table name from the stream ARN (``arn:...:table/NAME/stream/LABEL``)."""
        return _table_from_arn(self.stream_arn)

    @property
    def stream_label(self) -> str:
        parts = self.stream_arn.split("/stream/", 1)
        return parts[1] if len(parts) == 2 else ""

    @property
    def creation_time(self) -> datetime:
        value = self.dynamodb.get("ApproximateCreationDateTime")
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            raise RecordError(
                f"dynamodb.ApproximateCreationDateTime must be epoch seconds, got {value!r:.40}"
            )
        try:
            return datetime.fromtimestamp(int(value), UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise RecordError(f"dynamodb.ApproximateCreationDateTime {value!r} {exc}") from None

    @property
    def creation_iso(self) -> str:
        return self.creation_time.strftime(_ISO)

    @property
    def size_bytes(self) -> int:
        value = self.dynamodb.get("SizeBytes", 0)
        return value if isinstance(value, int) else 0

    @property
    def ttl_expired(self) -> bool:
        """True for deletions made by DynamoDB's TTL process."""
        ident = self.raw.get("userIdentity")
        return (
            isinstance(ident, Mapping)
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
        return self._raw_image("NewImage")

    @property
    def raw_old_image(self) -> dict[str, Any] | None:
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


def _table_from_arn(arn: str) -> str:
    # arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL
    _, _, rest = arn.partition(":table/")
    return rest.split("/", 1)[0]


def parse_event(event: object) -> list[StreamRecord]:
    """Records of a Lambda DynamoDB stream event, in delivery order.

    Raises ``NotAStreamEvent`` for anything that is not such an event (no ``Records`` list,
    or records none of which come from DynamoDB). Individual records that are malformed are
    kept and fail when processed (``StreamRecord.check``), so the rest of the batch survives.
    """
    if not isinstance(event, Mapping):
        raise NotAStreamEvent(
            f"expected a DynamoDB stream event (object), got {type(event).__name__}"
        )
    records = event.get("Records")
    if not isinstance(records, list):
        keys = ", ".join(sorted(map(str, event)))[:200]
        raise NotAStreamEvent(
            f"expected a DynamoDB stream event with a 'Records' list; got keys: {keys or 'none'}"
        )
    if not records:
        return []
    sources = [r.get("eventSource") if isinstance(r, Mapping) else None for r in records]
    if "aws:dynamodb" not in sources:
        seen = ", ".join(sorted({str(s) for s in sources}))[:200]
        raise NotAStreamEvent(f"no record has eventSource 'aws:dynamodb' (found: {seen})")
    arns: Counter[str] = Counter(
        str(r["eventSourceARN"])
        for r in records
        if isinstance(r, Mapping) and isinstance(r.get("eventSourceARN"), str)
    )
    stream_arn = arns.most_common(1)[0][0] if arns else ""
    out: list[StreamRecord] = []
    for i, raw in enumerate(records):
        problem = ""
        if not isinstance(raw, Mapping):
            raw, problem = {}, f"record {i} is not an object"
        elif raw.get("eventSource") != "aws:dynamodb":
            problem = f"eventSource must be 'aws:dynamodb', got {raw.get('eventSource')!r:.60}"
        elif not isinstance(raw.get("dynamodb"), Mapping):
            problem = "the 'dynamodb' block is missing"
        elif raw.get("eventSourceARN", stream_arn) != stream_arn:
            problem = (
                f"record comes from another stream ({raw.get('eventSourceARN')!r:.120}) "
                f"than the batch ({stream_arn})"
            )
        out.append(StreamRecord(raw, i, stream_arn, problem))
    return out


def sequence_problem(records: Sequence[StreamRecord]) -> str:
    """Why the batch cannot be reported per record ('' when every record has a sequence number).

    A partial-failure response names records by sequence number; a record without one
    cannot be reported, so such a batch must fail as a whole (Lambda then bisects it).
    """
    for record in records:
        seq = record.sequence_number
        if not seq or not seq.isdigit():
            return (
                f"record {record.index} (eventID {record.event_id or '?'}) has no valid "
                f"dynamodb.SequenceNumber ({seq!r:.60}), so it cannot be reported as a "
                "batch item failure"
            )
    return ""
