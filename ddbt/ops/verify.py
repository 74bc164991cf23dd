"""Verify a replica: scan the source and the replica table and compare them item by item.

Items are matched by the source table's key; the replicator's metadata attributes
(``handlers.versioned.METADATA``: ``_ddbt_version``, ``_ddbt_order``, ``_ddbt_deleted``,
``_ddbt_expires``) are ignored on both sides, and
tombstones (``_ddbt_deleted`` true) count as absent. Values are compared decoded: numbers as
numbers (``1`` equals ``1.0``), sets regardless of order. The report counts matching items,
items missing in the replica, extra items in the replica and different items, with up to
``--sample`` example keys of each (and, for different items, the attributes that differ).
Exit code 1 on any difference.

Both tables are read with parallel scan segments (``--segments``, one thread each); the
source is held in memory by key while the replica is streamed page by page, so memory grows
with the source table. A Scan is not a snapshot: on a table being written, changes still in
flight (not yet replicated) show up as differences; run it again, or when writes are quiet.
"""

from __future__ import annotations

import argparse
import json
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from handlers.versioned import DELETED as _DELETED
from handlers.versioned import METADATA as _HANDLER_METADATA

__all__ = ["METADATA", "VerifyReport", "add_parser", "cmd_verify_replica", "scan_items", "verify"]

METADATA = frozenset(_HANDLER_METADATA)


@dataclass
class VerifyReport:
    source_table: str
    replica_table: str
    key_names: tuple[str, ...]
    sample: int
    source_items: int = 0
    replica_items: int = 0
    tombstones: int = 0
    matching: int = 0
    missing: int = 0
    extra: int = 0
    different: int = 0
    examples: dict[str, list[Any]] = field(
        default_factory=lambda: {"missing": [], "extra": [], "different": []}
    )

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.different)

    def note(self, kind: str, example: Any) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.examples[kind]) < self.sample:
            self.examples[kind].append(example)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": {"table": self.source_table, "items": self.source_items},
            "replica": {
                "table": self.replica_table,
                "items": self.replica_items,
                "tombstones": self.tombstones,
            },
            "key": list(self.key_names),
            "matching": self.matching,
            "missing": self.missing,
            "extra": self.extra,
            "different": self.different,
            "examples": self.examples,
            "ok": self.ok,
        }

    def lines(self) -> list[str]:
        out = [
            f"source  {self.source_table}: {self.source_items} items",
            f"replica {self.replica_table}: {self.replica_items} items "
            f"(+{self.tombstones} tombstones, ignored)",
            f"  matching   {self.matching}",
            f"  missing    {self.missing}  (in the source, not in the replica)",
            f"  extra      {self.extra}  (in the replica, not in the source)",
            f"  different  {self.different}",
        ]
        for kind in ("missing", "extra", "different"):
            for example in self.examples[kind]:
                out.append(f"  {kind}: {json.dumps(example, default=_json, sort_keys=True)}")
        out.append("OK: the replica matches the source" if self.ok else "DIFFERENT")
        return out


def _json(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, (set, frozenset)):
        return sorted((_json(v) for v in value), key=repr)
    from ddbt.ops.tail import binary_text

    return binary_text(value) or str(value)


class _ExactDeserializer(TypeDeserializer):  # type: ignore[misc]
    """boto3's deserializer with numbers as exact decimals of any length: a table can hold
    numbers boto3's 38-digit context rejects (moto accepts them), and comparing them must
    not fail (``1`` still equals ``1.0``)."""

    def _deserialize_n(self, value: str) -> Decimal:
        return Decimal(value)


def key_names(ddb: Any, table: str) -> tuple[str, ...]:
    schema = ddb.describe_table(TableName=table)["Table"]["KeySchema"]
    ordered = sorted(schema, key=lambda k: k["KeyType"] != "HASH")  # HASH first
    return tuple(k["AttributeName"] for k in ordered)


def scan_items(
    ddb: Any, table: str, segments: int = 4, consistent_read: bool = False
) -> Iterator[dict[str, Any]]:
    """Every item of ``table`` (wire form), read by ``segments`` parallel scan segments (one
    thread each); pages are handed over as they arrive, a few at a time (bounded memory)."""
    pages: queue.Queue[Any] = queue.Queue(maxsize=2 * segments)
    done = object()

    def segment(n: int) -> None:
        params: dict[str, Any] = {"TableName": table, "ConsistentRead": consistent_read}
        if segments > 1:
            params.update(Segment=n, TotalSegments=segments)
        try:
            for page in ddb.get_paginator("scan").paginate(**params):
                pages.put(page.get("Items", []))
        except Exception as exc:  # handed to the reader, which raises it
            pages.put(exc)
        finally:
            pages.put(done)

    for n in range(segments):
        # daemon: a reader that stops early (an error) leaves no thread behind at exit
        threading.Thread(target=segment, args=(n,), daemon=True, name=f"scan-{n}").start()
    finished = 0
    while finished < segments:
        got = pages.get()
        if got is done:
            finished += 1
        elif isinstance(got, Exception):
            raise got
        else:
            yield from got


def verify(
    source: Any,
    source_table: str,
    replica: Any,
    replica_table: str,
    *,
    segments: int = 4,
    sample: int = 10,
    consistent_read: bool = False,
) -> VerifyReport:
    """Compare the tables; ``source`` and ``replica`` are DynamoDB clients (their regions)."""
    decode: Callable[[Any], Any] = _ExactDeserializer().deserialize
    keys = key_names(source, source_table)
    replica_keys = key_names(replica, replica_table)
    if replica_keys != keys:
        raise ValueError(
            f"the replica's key ({', '.join(replica_keys)}) differs from the source's "
            f"({', '.join(keys)})"
        )
    report = VerifyReport(source_table, replica_table, keys, sample)

    def plain(item: dict[str, Any]) -> dict[str, Any]:
        return {k: decode(v) for k, v in item.items() if k not in METADATA}

    def key_of(item: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(item.get(k) for k in keys)

    wanted: dict[tuple[Any, ...], dict[str, Any]] = {}
    for raw in scan_items(source, source_table, segments, consistent_read):
        if raw.get(_DELETED, {}).get("BOOL"):
            continue  # a source that is itself a replica: its tombstones are not items
        item = plain(raw)
        wanted[key_of(item)] = item
    report.source_items = len(wanted)

    for raw in scan_items(replica, replica_table, segments, consistent_read):
        if raw.get(_DELETED, {}).get("BOOL"):
            report.tombstones += 1
            continue
        report.replica_items += 1
        item = plain(raw)
        key = key_of(item)
        expected = wanted.pop(key, None)
        shown = dict(zip(keys, key, strict=True))
        if expected is None:
            report.note("extra", shown)
        elif expected == item:
            report.matching += 1
        else:
            names = sorted(
                n for n in expected.keys() | item.keys() if expected.get(n) != item.get(n)
            )
            report.note("different", {"key": shown, "attributes": names})
    for key in wanted:
        report.note("missing", dict(zip(keys, key, strict=True)))
    return report


def _region_of(table: str) -> str | None:
    parts = table.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[2] == "dynamodb":
        return parts[3]
    return None


def cmd_verify_replica(args: argparse.Namespace) -> int:
    from ddbt import aws

    if args.segments < 1 or args.sample < 0:
        raise SystemExit("ddbt: --segments must be at least 1 and --sample at least 0")
    endpoint = args.endpoint_url or None
    source_region = _region_of(args.source_table) or aws.require_region(args.region)
    replica_region = args.replica_region or _region_of(args.replica_table) or source_region
    source = aws.client("dynamodb", source_region, endpoint)
    replica = aws.client("dynamodb", replica_region, endpoint)
    try:
        report = verify(
            source,
            args.source_table,
            replica,
            args.replica_table,
            segments=args.segments,
            sample=args.sample,
            consistent_read=args.consistent_read,
        )
    except ValueError as exc:
        raise SystemExit(f"ddbt: {exc}") from None
    if args.json:
        print(json.dumps(report.as_dict(), default=_json, sort_keys=True))
    else:
        print("\n".join(report.lines()))
    return 0 if report.ok else 1


DESCRIPTION = """\
Compare a table with its replica (the replicate processor's target, in any region) item by
item, and report matching, missing, extra and different items, with example keys.

  ddbt verify-replica --source-table jobs --replica-table jobs-replica --replica-region us-west-2

Items are matched by the source table's key. The replicator's bookkeeping attributes
(_ddbt_version, _ddbt_deleted, _ddbt_expires) are ignored, and deleted items it keeps as
tombstones count as absent. Numbers compare as numbers (1 equals 1.0), sets in any order.
A scan is not a snapshot: changes still on their way show up as differences, so run it
again, or when writes are quiet. The source is held in memory while the replica is read.
Exit status: 0 the replica matches, 1 differences, 2 it could not compare.
"""


def add_parser(top: Any) -> None:
    """Register ``ddbt verify-replica`` on the top-level subparsers."""
    from ddbt.aws import ENDPOINT_HELP

    p = top.add_parser(
        "verify-replica",
        help="compare a table with its replica, item by item",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--source-table", required=True, help="name or ARN")
    p.add_argument("--replica-table", required=True, help="name or ARN")
    p.add_argument("--replica-region", help="default: the replica ARN's region, else the source's")
    p.add_argument(
        "--region",
        help="the source's region (default: its ARN's, else $AWS_REGION, $AWS_DEFAULT_REGION "
        "or your profile's)",
    )
    p.add_argument("--endpoint-url", help=ENDPOINT_HELP)
    p.add_argument("--segments", type=int, default=4, help="parallel scan segments (default 4)")
    p.add_argument(
        "--sample", type=int, default=10, help="example keys shown per kind (default 10)"
    )
    p.add_argument("--consistent-read", action="store_true", help="strongly consistent scans")
    p.add_argument("--json", action="store_true", help="one JSON document instead of text")
    p.set_defaults(func=cmd_verify_replica)
