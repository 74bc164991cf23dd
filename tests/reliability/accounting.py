"""The soak's accounting, processor by processor (pure functions over what the run read back).

The truth is the source table's stream (every change once, in order per key), itself checked
against the writers' own bookkeeping (``stream_matches_writers``). Then:

* ETL: every change exactly once in the output or in the failure records (``etl``);
* analytics: the aggregates equal what the writers' changes imply (``expected_aggregates``);
* view and replica: their items equal what the source table's final state implies,
  tombstones included (``view_state``, ``replica_state``);
* notification and event bus: every qualifying change accepted by the sink at least once,
  each repeat attributed to a documented cause (``publishers``), and what reached the
  subscribed queue is a subset of what the sink accepted (``end_to_end``);
* poison records: the failure records are exactly the injected ones (``failure_records``).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tests.reliability.injector import Kill, Sent
from tests.reliability.local_stack import TABLE, Invocation, Writer

__all__ = [
    "StreamChange",
    "delivery_order",
    "end_to_end",
    "etl",
    "expected_aggregates",
    "failure_records",
    "publishers",
    "replica_state",
    "stream_changes",
    "stream_matches_writers",
    "view_state",
]

METADATA = ("_ddbt_version", "_ddbt_order", "_ddbt_deleted", "_ddbt_expires", "_ddbt_origin")


@dataclass(frozen=True)
class StreamChange:
    seq: str
    event_id: str
    name: str
    key: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None

    def status_changed(self) -> bool:
        """A MODIFY whose ``status`` changed (what notification and the rule select)."""
        return (
            self.name == "MODIFY"
            and self.old is not None
            and self.new is not None
            and self.old.get("status") != self.new.get("status")
        )


def stream_changes(records: Iterable[dict[str, Any]]) -> list[StreamChange]:
    return [
        StreamChange(
            r["dynamodb"]["SequenceNumber"],
            r["eventID"],
            r["eventName"],
            r["dynamodb"]["Keys"]["pk"]["S"],
            r["dynamodb"].get("OldImage"),
            r["dynamodb"].get("NewImage"),
        )
        for r in records
    ]


def stream_matches_writers(stream: Sequence[StreamChange], writers: Sequence[Writer]) -> int:
    """Keys whose changes in the stream differ from what their writer made (0: none)."""
    got: dict[str, list[tuple[str, Any]]] = {}
    for c in sorted(stream, key=lambda c: int(c.seq)):
        got.setdefault(c.key, []).append((c.name, (c.new or c.old or {}).get("v")))
    want: dict[str, list[tuple[str, Any]]] = {}
    for w in writers:
        for change in w.log:
            image = change.new or change.old or {}
            want.setdefault(change.key, []).append((change.name, image.get("v")))
    return sum(1 for k in set(got) | set(want) if got.get(k) != want.get(k))


def etl(
    lines: Sequence[dict[str, Any]], stream: Sequence[StreamChange], failed: set[str]
) -> dict[str, int]:
    """ETL figures: ``delivered`` distinct changes, ``duplicates``, ``lost`` (in neither the
    output nor ``failed``, the failure records' sequence numbers), ``both`` (in the output
    and a failure record), ``unknown`` (lines of no stream change), ``out_of_order_keys``
    (a key whose lines, read object by object in key order as S3 lists them, are not in
    stream order)."""
    by_change = Counter((x["eventID"], x["sequenceNumber"]) for x in lines)
    truth = {(c.event_id, c.seq) for c in stream}
    delivered = {seq for _, seq in by_change}
    order: dict[str, list[int]] = {}
    for x in lines:
        order.setdefault(x["keys"]["pk"], []).append(int(x["sequenceNumber"]))
    return {
        "lines": len(lines),
        "delivered": len(by_change),
        "duplicates": sum(n - 1 for n in by_change.values()),
        "lost": sum(1 for c in stream if c.seq not in delivered and c.seq not in failed),
        "both": len(delivered & failed),
        "unknown": len(set(by_change) - truth),
        "out_of_order_keys": sum(1 for v in order.values() if v != sorted(v)),
    }


def delivery_order(invocations: Sequence[Invocation]) -> int:
    """Keys (partition keys) whose changes the runtime first delivered out of order: a
    change handed to the function before an earlier change of the same key."""
    first: dict[str, float] = {}
    keys: dict[str, str] = {}
    for inv in sorted(invocations, key=lambda i: i.start):
        for seq, key in zip(inv.seqs, inv.keys, strict=True):
            if seq not in first:
                first[seq], keys[seq] = inv.start, key
    by_key: dict[str, list[tuple[int, float]]] = {}
    for seq, at in first.items():
        by_key.setdefault(keys[seq], []).append((int(seq), at))
    return sum(
        1
        for changes in by_key.values()
        if [at for _, at in sorted(changes)] != sorted(at for _, at in changes)
    )


def _label(av: dict[str, Any] | None) -> str:
    if av is None:
        return "null"
    if set(av) == {"S"}:
        return str(av["S"])
    return json.dumps(av)


def expected_aggregates(
    writers: Sequence[Writer], group_by: Sequence[str]
) -> dict[str, dict[str, int]]:
    """The aggregates the writers' changes imply: per aggregate key (the table and the group
    values of the item after the change, before a REMOVE) the count of each event name and
    of each value transition of a group-by attribute in a MODIFY."""
    out: dict[str, Counter[str]] = {}
    for w in writers:
        for change in w.log:
            image = change.old if change.name == "REMOVE" else change.new
            assert image is not None
            parts = [TABLE]
            for name in group_by:
                value = image.get(name)
                parts.append(f"{name}={json.dumps(value['S']) if value else 'null'}")
            counts = out.setdefault("|".join(parts), Counter())
            counts[change.name] += 1
            if change.name == "MODIFY" and change.old is not None and change.new is not None:
                for name in group_by:
                    before, after = change.old.get(name), change.new.get(name)
                    if before != after:
                        counts[f"{name}: {_label(before)} -> {_label(after)}"] += 1
    return {k: dict(v) for k, v in out.items()}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in METADATA}


def replica_state(
    source: Sequence[dict[str, Any]],
    replica: Sequence[dict[str, Any]],
    stream: Sequence[StreamChange],
) -> dict[str, int]:
    """The replica against the source's final state: ``matching`` live items, ``missing``,
    ``extra`` (live in the replica, absent or deleted in the source), ``different``;
    ``tombstones`` and ``missing_tombstones`` (a key whose last change was applied as a
    REMOVE has no tombstone)."""
    want = {i["pk"]["S"]: i for i in source}
    live = {i["pk"]["S"]: i for i in replica if "_ddbt_deleted" not in i}
    dead = {i["pk"]["S"] for i in replica if "_ddbt_deleted" in i}
    removed = {c.key for c in _last(stream).values() if c.name == "REMOVE"}
    return {
        "source_items": len(want),
        "matching": sum(1 for k in want if k in live and _plain(live[k]) == want[k]),
        "missing": sum(1 for k in want if k not in live),
        "different": sum(1 for k in want if k in live and _plain(live[k]) != want[k]),
        "extra": sum(1 for k in live if k not in want),
        "tombstones": len(dead),
        "missing_tombstones": len(removed - dead),
    }


def view_state(
    source: Sequence[dict[str, Any]], view: Sequence[dict[str, Any]], stream: Sequence[StreamChange]
) -> dict[str, int]:
    """The view (key job_id, pk; attribute status) against the source's final state, as
    ``replica_state`` counts; a tombstone is due at the view key a removed item last had."""
    want = {
        (i["job_id"]["S"], i["pk"]["S"]): {
            "job_id": i["job_id"],
            "pk": i["pk"],
            "status": i["status"],
        }
        for i in source
    }
    live = {(i["job_id"]["S"], i["pk"]["S"]): _plain(i) for i in view if "_ddbt_deleted" not in i}
    dead = {(i["job_id"]["S"], i["pk"]["S"]) for i in view if "_ddbt_deleted" in i}
    removed = {
        (c.old["job_id"]["S"], c.key)
        for c in _last(stream).values()
        if c.name == "REMOVE" and c.old is not None
    }
    return {
        "source_items": len(want),
        "matching": sum(1 for k in want if live.get(k) == want[k]),
        "missing": sum(1 for k in want if k not in live),
        "different": sum(1 for k in want if k in live and live[k] != want[k]),
        "extra": sum(1 for k in live if k not in want),
        "tombstones": len(dead),
        "missing_tombstones": len(removed - dead),
    }


def _last(stream: Sequence[StreamChange]) -> dict[str, StreamChange]:
    out: dict[str, StreamChange] = {}
    for c in sorted(stream, key=lambda c: int(c.seq)):
        out[c.key] = c
    return out


# -- notification and event bus ------------------------------------------------------------


def _runs(invocations: Sequence[Invocation]) -> dict[str, list[Invocation]]:
    """The invocations that were given each record (by sequence number)."""
    out: dict[str, list[Invocation]] = {}
    for inv in invocations:
        for seq in inv.seqs:
            out.setdefault(seq, []).append(inv)
    return out


def _cause(
    sent: Sent,
    index: int,
    runs: dict[str, list[Invocation]],
    kills: Sequence[Kill],
) -> str:
    """Why a change accepted in ``sent`` (entry ``index``) was sent again later: one of the
    documented causes, or '' when none applies. The invocation that made the call is the
    one that was given the call's records and was running then."""
    if sent.cut == "reset-after":
        return "lost-response"
    if sent.failed_at is not None and sent.failed_at < index:
        return "after-failed-entry"
    candidates = runs.get(sent.seqs[index], []) if index < len(sent.seqs) else []
    run = next((i for i in candidates if i.start <= sent.at <= i.end), None)
    if run is not None and run.outcome in ("error", "timeout"):
        killed = [k.kind for k in kills if k.pid == run.pid and run.start <= k.at <= run.end]
        return f"crash-after-publish ({killed[0] if killed else run.outcome})"
    return ""


def publishers(
    sent: Sequence[Sent],
    cls: str,
    qualifying: set[str],
    invocations: Sequence[Invocation],
    kills: Sequence[Kill],
) -> dict[str, Any]:
    """One publisher's figures: ``qualifying`` changes (eventIDs), ``delivered`` (accepted
    at least once), ``lost``, ``unexpected`` (accepted, not qualifying), ``duplicates`` and
    ``duplicates_by_cause``; ``unattributed``: repeats no documented cause explains (a few
    examples in ``unattributed_examples``)."""
    accepted: dict[str, list[tuple[Sent, int]]] = {}
    for s in sorted((s for s in sent if s.cls == cls), key=lambda s: s.at):
        for index, (event_id, ok) in enumerate(s.entries):
            if ok:
                accepted.setdefault(event_id, []).append((s, index))
    causes: Counter[str] = Counter()
    examples: list[str] = []
    runs = _runs(invocations)
    for event_id, sends in accepted.items():
        for (previous, index), _ in itertools.pairwise(sends):
            cause = _cause(previous, index, runs, kills) or "unattributed"
            causes[cause] += 1
            if cause == "unattributed" and len(examples) < 5:
                examples.append(event_id)
    return {
        "qualifying": len(qualifying),
        "delivered": len(qualifying & set(accepted)),
        "lost": len(qualifying - set(accepted)),
        "unexpected": len(set(accepted) - qualifying),
        "sends": sum(len(v) for v in accepted.values()),
        "duplicates": sum(len(v) - 1 for v in accepted.values()),
        "duplicates_by_cause": dict(sorted(causes.items())),
        "unattributed": causes.get("unattributed", 0),
        "unattributed_examples": examples,
    }


def end_to_end(
    received: Sequence[str], sent: Sequence[Sent], cls: str, qualifying: set[str]
) -> dict[str, int]:
    """What reached the subscribed queue (eventIDs, repeats included) against what the sink
    accepted: ``received`` distinct qualifying changes, ``missing``, ``unexpected``, and
    ``more_than_accepted`` (changes received more often than the sink accepted them)."""
    accepted = Counter(event_id for s in sent if s.cls == cls for event_id, ok in s.entries if ok)
    got = Counter(received)
    return {
        "qualifying": len(qualifying),
        "received": len(qualifying & set(got)),
        "missing": len(qualifying - set(got)),
        "unexpected": len(set(got) - qualifying),
        "repeats": sum(n - 1 for n in got.values()),
        "more_than_accepted": sum(1 for k, n in got.items() if n > accepted.get(k, 0)),
    }


# -- poison records ---------------------------------------------------------------------------


def failure_records(
    archived: Sequence[Sequence[str]], messages: int, poison: set[str]
) -> dict[str, Any]:
    """The failure records (``archived``: the sequence numbers each DLQ archive holds)
    against the injected poison records' sequence numbers."""
    seqs = [s for a in archived for s in a]
    return {
        "injected": len(poison),
        "messages": messages,
        "archived_records": len(seqs),
        "archives_of_one_record": sum(1 for a in archived if len(a) == 1),
        "exactly_the_injected": sorted(seqs) == sorted(poison),
        "not_injected": len(set(seqs) - poison),
        "injected_missing": len(poison - set(seqs)),
    }
