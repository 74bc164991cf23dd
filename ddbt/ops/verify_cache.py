"""Verify a cache: the entries the cache processor keeps against the table's items.

What the table's final state implies for the cache (``handlers.cache``): every live item has
an entry at ``cache_key(prefix, table, key)`` whose ``value`` is the item (or its
``attributes``) in the ETL's JSON encoding; no other entry of that table holds a value (a
deleted item's entry is a tombstone, which counts as absent). Values are compared decoded,
numbers exactly (as ``Decimal``). With ``CACHE_TTL_SECONDS`` entries expire, so a missing entry
is expected there; compare caches without TTL.

``compare_cache`` is what the soak's accounting calls once writes and the pollers are quiet:
the table scanned (``ddbt.ops.verify.scan_items``, or any iterable of items in the wire form
boto3 returns), the cache read with ``SCAN`` under the table's prefix and ``HGET`` per entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from handlers.cache import DEFAULT_PREFIX, cache_key
from handlers.codec import image_to_json
from handlers.getrecords import attribute_value

__all__ = ["CacheReport", "compare_cache", "expected_entries"]

_GLOB = str.maketrans({c: f"\\{c}" for c in "*?[]\\"})


@dataclass
class CacheReport:
    table: str
    items: int = 0
    entries: int = 0
    tombstones: int = 0
    matching: int = 0
    missing: list[str] = field(default_factory=list)  # cache keys of items without an entry
    extra: list[str] = field(default_factory=list)  # entries of no live item
    different: list[str] = field(default_factory=list)  # entries whose value is not the item's

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.different)

    def summary(self) -> str:
        return (
            f"cache of {self.table}: {self.items} items, {self.entries} entries "
            f"({self.tombstones} tombstones); {self.matching} match, {len(self.missing)} "
            f"missing, {len(self.extra)} extra, {len(self.different)} different"
        )


def _decoded(text: str) -> Any:
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)


def expected_entries(
    items: Iterable[Mapping[str, Any]],
    *,
    table: str,
    key_names: Sequence[str],
    prefix: str = DEFAULT_PREFIX,
    attributes: Sequence[str] = (),
) -> dict[str, Any]:
    """Cache key => decoded value, for table items in boto3's wire form (bytes for B)."""
    out: dict[str, Any] = {}
    for item in items:
        event_form = {name: attribute_value(av) for name, av in item.items()}
        key = {name: event_form[name] for name in key_names}
        shown = event_form
        if attributes:
            shown = {a: event_form[a] for a in attributes if a in event_form}
        out[cache_key(prefix, table, key)] = _decoded(image_to_json(shown, "Item"))
    return out


def compare_cache(
    items: Iterable[Mapping[str, Any]],
    client: Any,
    *,
    table: str,
    key_names: Sequence[str],
    prefix: str = DEFAULT_PREFIX,
    attributes: Sequence[str] = (),
) -> CacheReport:
    """Compare the table's live ``items`` with the cache ``client`` (redis-py) holds."""
    expected = expected_entries(
        items, table=table, key_names=key_names, prefix=prefix, attributes=attributes
    )
    report = CacheReport(table, items=len(expected))
    seen: set[str] = set()
    pattern = f"{prefix}{table}:".translate(_GLOB) + "*"
    for raw in client.scan_iter(match=pattern, count=500):
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        report.entries += 1
        value = client.hget(name, "value")
        if value is None:
            report.tombstones += 1
            continue
        seen.add(name)
        if name not in expected:
            report.extra.append(name)
        elif _decoded(value.decode() if isinstance(value, bytes) else value) != expected[name]:
            report.different.append(name)
        else:
            report.matching += 1
    report.missing = sorted(set(expected) - seen)
    return report
