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
* cache: its entries equal what the source table's final state implies: one per live item,
  holding the item, nothing else but tombstones (``ddbt.ops.verify_cache.compare_cache``);
* poison records: the failure records are exactly the injected ones (``failure_records``).

``PROCESSORS`` is the one table of what is accounted for: per processor, what to read back
from the stack, its figures and its targets (in words). A processor added to the soak is one
more entry there (and its sink's reader on ``local_stack.Stack``).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ddbt.ops.verify_cache import compare_cache
from handlers.cache import DEFAULT_PREFIX as CACHE_PREFIX
from handlers.cache import cache_key
from handlers.versioned import METADATA
from tests.reliability.injector import Kill, Sent
from tests.reliability.local_stack import (
    COMPLETE,
    REPLICA_REGION,
    REPLICA_TABLE,
    TABLE,
    VIEW_TABLE,
    Invocation,
    Stack,
    Writer,
)

__all__ = [
    "PROCESSORS",
    "Account",
    "Facts",
    "StreamChange",
    "account",
    "delivery_order",
    "diff_aggregates",
    "end_to_end",
    "etl",
    "expected_aggregates",
    "failure_records",
    "lost",
    "publishers",
    "replica_state",
    "stream_changes",
    "stream_matches_writers",
    "view_state",
]


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


def _sender(
    sent: Sent, index: int, runs: dict[str, list[Invocation]], kills: Sequence[Kill]
) -> Invocation | None:
    """The invocation that made the call ``sent`` (for its entry ``index``): one that was given
    the entry's record, by the sender's process when the injector knew it, running when the
    proxy read the call, or else the latest to start before that and die (the call was on its
    way at the kill); None when none fits."""
    candidates = runs.get(sent.seqs[index], []) if index < len(sent.seqs) else []
    # a call carries records of the invocation that made it: all of them
    carried = set(sent.seqs)
    candidates = [i for i in candidates if carried <= set(i.seqs)] or candidates
    if sent.pid:  # the worker that sent it is known: its invocations only
        candidates = [i for i in candidates if i.pid == sent.pid]
    else:
        # unknown: the injector looks the sender up when it reads the call and finds every
        # live worker, so the sender had died by then: an invocation that a kill ended
        # (its worker killed while it ran), before the call was read
        dead = [
            i
            for i in candidates
            if i.end <= sent.at and any(k.pid == i.pid and i.start <= k.at <= i.end for k in kills)
        ]
        candidates = dead or candidates
    run = next((i for i in candidates if i.start <= sent.at <= i.end), None)
    if run is None:
        # no invocation of the record ran then: the call was still on its way when the
        # latest one to start before it died (the proxy read it after the kill)
        started = [i for i in candidates if i.start <= sent.at]
        run = max(started, key=lambda i: i.start) if started else None
        if run is not None and run.outcome not in ("error", "timeout"):
            run = None
    return run


def _cause(
    sent: Sent,
    index: int,
    run: Invocation | None,
    kills: Sequence[Kill],
    calls: Sequence[Sent] = (),
) -> str:
    """Why a change accepted in ``sent`` (entry ``index``; made by ``run``, ``_sender``) was
    sent again later: one of the documented causes, or '' when none applies. ``calls``:
    every call of the same kind (a failed entry in another call of the sender's invocation,
    for an earlier record, makes Lambda redeliver this one too: the publishers' calls
    overlap)."""
    if sent.cut == "reset-after":
        return "lost-response"
    if sent.failed_at is not None and sent.failed_at < index:
        return "after-failed-entry"
    if run is not None and _after_a_failed_entry(run, sent.seqs[index], calls):
        return "after-failed-entry (an overlapping call)"
    if run is not None and run.outcome in ("error", "timeout"):
        killed = [k.kind for k in kills if k.pid == run.pid and run.start <= k.at <= run.end]
        return f"crash-after-publish ({killed[0] if killed else run.outcome})"
    return ""


def _after_a_failed_entry(run: Invocation, seq: str, calls: Sequence[Sent]) -> bool:
    """Whether a call made during ``run`` for its records had a failed entry for a record
    before ``seq`` in the batch (Lambda then redelivers from that record, ``seq`` included)."""
    place = {s: i for i, s in enumerate(run.seqs)}
    mine = place.get(seq)
    if mine is None:
        return False
    for call in calls:
        if call.failed_at is None or not run.start <= call.at <= run.end:
            continue
        failed = call.seqs[call.failed_at] if call.failed_at < len(call.seqs) else ""
        if failed in place and place[failed] < mine:
            return True
    return False


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
    calls = sorted((s for s in sent if s.cls == cls), key=lambda s: s.at)
    for s in calls:
        for index, (event_id, ok) in enumerate(s.entries):
            if ok:
                accepted.setdefault(event_id, []).append((s, index))
    causes: Counter[str] = Counter()
    examples: list[str] = []
    runs = _runs(invocations)

    def started(send: tuple[Sent, int, Invocation | None]) -> tuple[float, float]:
        sent, _, run = send
        return (run.start if run is not None else sent.at, sent.at)

    for event_id, sends in accepted.items():
        made = [(s, index, _sender(s, index, runs, kills)) for s, index in sends]
        # in the order their invocations started: a call on its way when its worker was
        # killed can reach the proxy after the redelivery's own call of the same change
        for (previous, index, run), _ in itertools.pairwise(sorted(made, key=started)):
            cause = _cause(previous, index, run, kills, calls) or "unattributed"
            causes[cause] += 1
            if cause == "unattributed" and len(examples) < 50:
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


# -- the table of processors --------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What every processor's accounting reads beside its own sink: the stream (the truth),
    the writers' bookkeeping, the source table's final items, the runtime's invocations of
    the pipeline function and the injector's record (calls sent to the publishers, kills),
    and the sequence numbers still in failure records (``failed``, not redriven)."""

    stream: Sequence[StreamChange]
    writers: Sequence[Writer]
    source: Sequence[dict[str, Any]]
    invocations: Sequence[Invocation] = ()
    sent: Sequence[Sent] = ()
    kills: Sequence[Kill] = ()
    failed: set[str] = field(default_factory=set)

    def status_changes(self) -> set[str]:
        """The eventIDs of the MODIFYs that changed ``status`` (what the notification
        settings and the event bus rule of examples/complete select)."""
        return {c.event_id for c in self.stream if c.status_changed()}


@dataclass(frozen=True)
class Account:
    """One processor's accounting: ``read`` its sink's state from the stack, compute its
    ``figures`` from that and the ``Facts``, and say which ``targets`` (in words) they meet;
    ``lost``: the figure that counts changes missing from the sink ('' when none does)."""

    read: Callable[[Stack], Any]
    figures: Callable[[Facts, Any], dict[str, Any]]
    targets: Callable[[dict[str, Any]], dict[str, bool]]
    lost: str = "lost"


def diff_aggregates(
    got: dict[str, dict[str, int]], want: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    """{aggregate key: {counter: got - expected}} for every counter that differs."""
    out: dict[str, dict[str, int]] = {}
    for pk in sorted(set(got) | set(want)):
        g, w = got.get(pk, {}), want.get(pk, {})
        diff = {n: g.get(n, 0) - w.get(n, 0) for n in sorted(set(g) | set(w))}
        diff = {n: d for n, d in diff.items() if d}
        if diff:
            out[pk] = diff
    return out


def _analytics(facts: Facts, got: dict[str, dict[str, int]]) -> dict[str, Any]:
    want = expected_aggregates(facts.writers, ANALYTICS_GROUP_BY)
    return {"aggregates": len(want), "match": got == want, "diff": diff_aggregates(got, want)}


def _state_targets(name: str) -> Callable[[dict[str, Any]], dict[str, bool]]:
    def targets(f: dict[str, Any]) -> dict[str, bool]:
        return {
            f"{name}: equal to the source's final state, tombstones included": not (
                f["missing"] or f["different"] or f["extra"] or f["missing_tombstones"]
            )
        }

    return targets


def _publisher(cls: str, every: bool) -> Callable[[Facts, Any], dict[str, Any]]:
    """A publisher's figures: what its sink accepted (``publishers``; ``every`` change
    qualifies, else the status changes) and what its subscriber's queue received."""

    def figures(facts: Facts, received: Sequence[str]) -> dict[str, Any]:
        wanted = {c.event_id for c in facts.stream} if every else facts.status_changes()
        return {
            **publishers(facts.sent, cls, wanted, facts.invocations, facts.kills),
            "queue": end_to_end(received, facts.sent, cls, facts.status_changes()),
        }

    return figures


def _publisher_targets(name: str, what: str) -> Callable[[dict[str, Any]], dict[str, bool]]:
    def targets(f: dict[str, Any]) -> dict[str, bool]:
        q = f["queue"]
        return {
            f"{name}: {what} at least once, nothing else": not (
                f["lost"]
                or f["unexpected"]
                or q["missing"]
                or q["unexpected"]
                or q["more_than_accepted"]
            ),
            f"{name}: every duplicate has a documented cause": not f["unattributed"],
        }

    return targets


def _etl_targets(f: dict[str, Any]) -> dict[str, bool]:
    return {
        "etl: every change exactly once (or in a failure record), in order per key": not (
            f["lost"] or f["duplicates"] or f["unknown"] or f["both"] or f["out_of_order_keys"]
        )
    }


def _cache(facts: Facts, client: Any) -> dict[str, Any]:
    """The cache against the source's final state (``compare_cache``), and
    ``missing_tombstones``: a key whose last change was a REMOVE has no tombstone (an entry
    without a value), so a late INSERT of it could have come back."""
    report = compare_cache(facts.source, client, table=TABLE, key_names=["pk"])
    removed = [c.key for c in _last(facts.stream).values() if c.name == "REMOVE"]
    tombstoned = [
        client.exists(name) and client.hget(name, "value") is None
        for name in (cache_key(CACHE_PREFIX, TABLE, {"pk": {"S": k}}) for k in removed)
    ]
    client.close()
    return {
        "source_items": report.items,
        "matching": report.matching,
        "missing": len(report.missing),
        "different": len(report.different),
        "extra": len(report.extra),
        "tombstones": report.tombstones,
        "missing_tombstones": tombstoned.count(False),
        "examples": (report.missing + report.different + report.extra)[:5],
    }


# the soak's analytics setting (ANALYTICS_GROUP_BY), examples/complete's
ANALYTICS_GROUP_BY = tuple(COMPLETE.group_by.split(","))

PROCESSORS: dict[str, Account] = {
    "etl": Account(
        lambda stack: stack.etl_lines(),
        lambda facts, lines: etl(lines, facts.stream, facts.failed),
        _etl_targets,
    ),
    "analytics": Account(
        lambda stack: stack.aggregates(),
        _analytics,
        lambda f: {"analytics: aggregates equal the writers' bookkeeping": f["match"]},
        lost="",
    ),
    "view": Account(
        lambda stack: stack.items(VIEW_TABLE),
        lambda facts, items: view_state(facts.source, items, facts.stream),
        _state_targets("view"),
        lost="missing",
    ),
    "replica": Account(
        lambda stack: stack.items(REPLICA_TABLE, REPLICA_REGION),
        lambda facts, items: replica_state(facts.source, items, facts.stream),
        _state_targets("replica"),
        lost="missing",
    ),
    "notification": Account(
        lambda stack: [m["eventID"] for m in stack.received("notified")],  # raw delivery
        _publisher("sns-publish", every=False),
        _publisher_targets("notification", "every status change"),
    ),
    "eventbus": Account(
        lambda stack: [m["detail"]["eventID"] for m in stack.received("status-changes")],
        _publisher("events-put", every=True),
        _publisher_targets("eventbus", "every change"),
    ),
    "cache": Account(
        lambda stack: stack.cache(),
        _cache,
        lambda f: {
            "cache: equal to the source's final state, tombstones included": not (
                f["missing"] or f["different"] or f["extra"] or f["missing_tombstones"]
            )
        },
        lost="missing",
    ),
}


def account(
    stack: Stack, facts: Facts, processors: Sequence[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Every processor's figures (``PROCESSORS``, or those named), each with ``targets``:
    {target in words: met}."""
    out: dict[str, dict[str, Any]] = {}
    for name in processors if processors is not None else PROCESSORS:
        entry = PROCESSORS[name]
        figures = entry.figures(facts, entry.read(stack))
        out[name] = {**figures, "targets": entry.targets(figures)}
    return out


def lost(figures: dict[str, dict[str, Any]]) -> int:
    """The most changes any processor lost (by its ``Account.lost`` figure)."""
    return max(
        (int(figures[n][PROCESSORS[n].lost]) for n in figures if PROCESSORS[n].lost),
        default=0,
    )
