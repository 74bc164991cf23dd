"""Tail: follow a table's stream and print each change decoded, MODIFY as a diff (binary
values as base64)."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ddbt.ops.stream_reading import shards
from handlers.codec import deserialize
from handlers.getrecords import lambda_records
from handlers.stream import StreamRecord

__all__ = ["binary_text", "describe_change", "diff", "follow"]


def binary_text(value: Any) -> str | None:
    """A binary value (bytes, or boto3's ``Binary``) as base64 text, as the AWS CLI and the
    Lambda event show it; None for anything else."""
    raw = value.value if type(value).__name__ == "Binary" else value
    if isinstance(raw, (bytes, bytearray)):
        return base64.b64encode(bytes(raw)).decode()
    return None


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=repr)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    text = binary_text(value)
    return value if text is None else text


def _decode(image: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if image is None:
        return None
    out: dict[str, Any] = {}
    for name, value in image.items():
        try:
            out[name] = _plain(deserialize(value, name))
        except Exception as exc:  # a value DynamoDB would reject (moto accepts some): show it
            out[name] = {"unreadable": f"{type(exc).__name__}", "raw": value}
    return out


def _j(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``name: old -> new``, ``+name: value``, ``-name: value``, sorted by name."""
    out = []
    for name in sorted(set(old) | set(new)):
        if name not in old:
            out.append(f"+{name}: {_j(new[name])}")
        elif name not in new:
            out.append(f"-{name}: {_j(old[name])}")
        elif old[name] != new[name]:
            out.append(f"{name}: {_j(old[name])} -> {_j(new[name])}")
    return out


def describe_change(record: Mapping[str, Any]) -> str:
    """One line per change of a record in the Lambda event shape: time (UTC), event (TTL
    deletions marked), keys, then the image or the diff."""
    block = record["dynamodb"]
    created = block.get("ApproximateCreationDateTime")
    try:
        stamp = datetime.fromtimestamp(int(created), UTC).strftime("%H:%M:%S")
    except (TypeError, ValueError, OverflowError, OSError):
        stamp = str(created)
    keys = _j(_decode(block.get("Keys")))
    new, old = _decode(block.get("NewImage")), _decode(block.get("OldImage"))
    name = record.get("eventName", "?")
    ttl = " (TTL)" if StreamRecord(record, 0, "").ttl_expired else ""
    head = f"{stamp} {name}{ttl} {keys}"
    if name == "MODIFY" and new is not None and old is not None:
        changes = diff(old, new)
        return head + (" " + "; ".join(changes) if changes else " (no attribute changed)")
    if new is not None:
        return f"{head} new {_j(new)}"
    if old is not None:
        return f"{head} old {_j(old)}"
    return head + " (keys only)"


def follow(
    streams: Any,
    stream_arn: str,
    emit: Callable[[str], None],
    *,
    from_start: bool = False,
    stop: threading.Event | None = None,
    max_records: int | None = None,
    idle_exit: float | None = None,
    poll: float = 1.0,
) -> int:
    """Print changes until ``stop``, ``max_records`` or ``idle_exit`` seconds without one;
    returns the number printed. New shards are picked up on every describe."""
    stop = stop or threading.Event()
    iterators: dict[str, str | None] = {}
    printed = 0
    last_seen = time.monotonic()
    next_describe = 0.0
    while not stop.is_set():
        if time.monotonic() >= next_describe:
            for shard in shards(streams, stream_arn):
                sid = shard["ShardId"]
                if sid in iterators:
                    continue
                open_shard = "EndingSequenceNumber" not in shard.get("SequenceNumberRange", {})
                kind = "TRIM_HORIZON" if from_start or not open_shard else "LATEST"
                if not from_start and not open_shard:
                    iterators[sid] = None  # closed before we started: nothing new there
                    continue
                iterators[sid] = streams.get_shard_iterator(
                    StreamArn=stream_arn, ShardId=sid, ShardIteratorType=kind
                )["ShardIterator"]
            next_describe = time.monotonic() + 10
        got = 0
        for sid, iterator in list(iterators.items()):
            if iterator is None:
                continue
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            iterators[sid] = page.get("NextShardIterator")
            for record in lambda_records(page.get("Records", []), stream_arn):
                emit(describe_change(record))
                printed += 1
                got += 1
                if max_records is not None and printed >= max_records:
                    return printed
        if got:
            last_seen = time.monotonic()
        elif idle_exit is not None and time.monotonic() - last_seen >= idle_exit:
            return printed
        else:
            stop.wait(poll)
    return printed
