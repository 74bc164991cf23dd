"""Stream records in the Lambda event shape: synthesized (backfill, generate-event) and
converted from GetRecords / Scan output (boto3 wire form: bytes for B, datetimes).

Synthesized sequence numbers (backfill): ``9`` + run id (13 digits, epoch milliseconds of the
backfill's start) + scan segment (5 digits) + position in the segment (22 digits) = 41 decimal
digits. Real DynamoDB sequence numbers have 21 to 40 digits, so a synthesized one can never
equal a real one: checkpoint keys (``<scope>#<stream ARN>#<seq>``) differ, and ETL object keys
(the first sequence number zero-padded to 40 digits) are 41 digits long where real ones are
exactly 40. They are decimal strings, so ``handlers.stream`` accepts them (``seq`` is an int),
and they increase in scan order within a segment, which is the order the engine relies on.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ddbt.ops.itemsize import item_size
from handlers.getrecords import attribute_value

__all__ = [
    "REAL_MAX_DIGITS",
    "SYNTH_DIGITS",
    "VIEW_TYPES",
    "generate_event",
    "image_from_json",
    "is_synthesized",
    "lambda_record",
    "make_record",
    "parse_key_values",
    "stream_arn_for",
    "synth_sequence",
    "wire_form",
]

VIEW_TYPES = ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES")
REAL_MAX_DIGITS = 40
SYNTH_DIGITS = 41


def synth_sequence(run_id: int, segment: int, position: int) -> str:
    """The 41-digit sequence number of a synthesized record (see the module docstring)."""
    seq = f"9{run_id % 10**13:013d}{segment:05d}{position:022d}"
    assert len(seq) == SYNTH_DIGITS
    return seq


def is_synthesized(sequence_number: str) -> bool:
    return len(sequence_number) > REAL_MAX_DIGITS


def wire_form(av: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of ``handlers.getrecords.attribute_value`` (for keys stored in JSON
    checkpoint files)."""
    ((tag, value),) = av.items()
    if tag == "B":
        return {"B": base64.b64decode(value)}
    if tag == "BS":
        return {"BS": [base64.b64decode(v) for v in value]}
    if tag == "M":
        return {"M": {k: wire_form(v) for k, v in value.items()}}
    if tag == "L":
        return {"L": [wire_form(v) for v in value]}
    return {tag: value}


def _image(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: attribute_value(v) for k, v in item.items()}


def stream_arn_for(table_arn: str, label: str) -> str:
    return f"{table_arn}/stream/{label}"


def make_record(
    *,
    event_name: str,
    keys: Mapping[str, Any],
    new: Mapping[str, Any] | None,
    old: Mapping[str, Any] | None,
    view_type: str,
    sequence_number: str,
    stream_arn: str,
    created: int,
    ttl: bool = False,
) -> dict[str, Any]:
    """One record as Lambda delivers it; images (wire form) kept as the view type says;
    ``SizeBytes`` as DynamoDB counts item sizes (``ddbt.ops.itemsize``)."""
    region = stream_arn.split(":")[3] if stream_arn.count(":") >= 5 else "us-east-1"
    block: dict[str, Any] = {
        "ApproximateCreationDateTime": created,
        "Keys": _image(keys),
        "SequenceNumber": sequence_number,
        "StreamViewType": view_type,
    }
    if new is not None and event_name != "REMOVE" and view_type in VIEW_TYPES[1::2]:
        block["NewImage"] = _image(new)
    if old is not None and event_name != "INSERT" and view_type in VIEW_TYPES[2:]:
        block["OldImage"] = _image(old)
    block["SizeBytes"] = sum(
        item_size(block[part]) for part in ("Keys", "NewImage", "OldImage") if part in block
    )
    return lambda_record(
        event_id=hashlib.md5(f"{stream_arn}#{sequence_number}".encode()).hexdigest(),
        event_name=event_name,
        block=block,
        stream_arn=stream_arn,
        region=region,
        ttl=ttl,
    )


def lambda_record(
    *,
    event_id: str,
    event_name: str,
    block: dict[str, Any],
    stream_arn: str,
    region: str,
    ttl: bool = False,
) -> dict[str, Any]:
    """A DynamoDB stream record as Lambda delivers it, around its ``dynamodb`` ``block``;
    ``ttl``: a deletion by Time to Live, which carries DynamoDB's ``userIdentity``."""
    record: dict[str, Any] = {
        "eventID": event_id,
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": block,
        "eventSourceARN": stream_arn,
    }
    if ttl:
        record["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    return record


def image_from_json(item: Mapping[str, Any]) -> dict[str, Any]:
    """A plain JSON item (or one already typed) in wire form; numbers exact."""
    from decimal import Decimal

    from boto3.dynamodb.types import TypeSerializer

    if item and all(
        isinstance(v, dict) and len(v) == 1 and next(iter(v)) in _TAGS for v in item.values()
    ):
        return dict(item)
    ser = TypeSerializer()

    def conv(v: Any) -> Any:
        if isinstance(v, float):
            return Decimal(repr(v))
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list):
            return [conv(x) for x in v]
        return v

    return {k: ser.serialize(conv(v)) for k, v in item.items()}


_TAGS = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})


def parse_key_values(pairs: Sequence[str]) -> dict[str, Any]:
    """``name=value`` pairs as a plain item: JSON values where they parse, else strings."""
    item: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"expected NAME=VALUE, got {pair!r}")
        try:
            item[name] = json.loads(raw, parse_float=str)
        except ValueError:
            item[name] = raw
        if isinstance(item[name], str) and raw[:1] not in ('"',) and _is_number(raw):
            from decimal import Decimal

            item[name] = Decimal(raw)
    return item


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip().lower() not in ("nan", "inf", "-inf", "infinity", "-infinity")


def generate_event(
    *,
    item: Mapping[str, Any],
    key_names: Sequence[str],
    event_name: str = "INSERT",
    view_type: str = "NEW_AND_OLD_IMAGES",
    old_item: Mapping[str, Any] | None = None,
    table: str = "my-table",
    region: str = "us-east-1",
    account: str = "123456789012",
    sequence_number: str | None = None,
    created: int | None = None,
    ttl: bool = False,
    stream_label: str | None = None,
) -> dict[str, Any]:
    """A one-record Lambda DynamoDB stream event. ``item`` is the item after the change
    (before it, for REMOVE); ``old_item`` the item before a MODIFY (default: ``item``);
    ``stream_label`` the stream's label (default: the creation time's)."""
    if view_type not in VIEW_TYPES:
        raise ValueError(f"view type must be one of {', '.join(VIEW_TYPES)}")
    if event_name not in ("INSERT", "MODIFY", "REMOVE"):
        raise ValueError("event name must be INSERT, MODIFY or REMOVE")
    image = image_from_json(item)
    missing = [k for k in key_names if k not in image]
    if missing:
        raise ValueError(f"the item lacks key attribute(s) {', '.join(missing)}")
    keys = {k: image[k] for k in key_names}
    old: dict[str, Any] | None = image_from_json(old_item) if old_item is not None else image
    new = None if event_name == "REMOVE" else image
    if event_name == "INSERT":
        old = None
    now = int(time.time()) if created is None else created
    label = stream_label or datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.000")
    arn = f"arn:aws:dynamodb:{region}:{account}:table/{table}/stream/{label}"
    seq = sequence_number or f"{4_421_584_500_000_000_017_450_439_091 + now % 10**9 * 100}"
    record = make_record(
        event_name=event_name,
        keys=keys,
        new=new,
        old=old,
        view_type=view_type,
        sequence_number=seq,
        stream_arn=arn,
        created=now,
        ttl=ttl and event_name == "REMOVE",
    )
    return {"Records": [record]}
