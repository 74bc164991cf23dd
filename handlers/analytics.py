"""Analytics: real-time aggregates of item changes in a DynamoDB table, counted exactly once.

Per aggregate key (the table, plus the values of ``ANALYTICS_GROUP_BY`` attributes taken from
the item as it is after the change, or before a REMOVE) the item counts ``INSERT``,
``MODIFY`` and ``REMOVE`` changes and each value transition of a group-by attribute seen in
a MODIFY with both images (``status: APPLIED -> INTERVIEW``, on the aggregate of the new
image). A missing or NULL group-by value is rendered ``null``.

Exactly once (see docs/handlers.md, "Analytics: the exactly-once argument"): counts for a batch are
committed in one ``TransactWriteItems`` together with the checkpoint entries at every point
where Lambda can restart a delivery of the batch (its first record, for a retry of the same
batch; both candidate bisect points, for halves). A redelivery reads the entry at its first
record and skips what was counted. When a batch touches more aggregates than one
transaction holds (100 actions), the deltas are first stored as a *plan* in the entry of
the batch's first record, applied in transactions that each mark their group done, and
finalized; any redelivery starting at that record completes the plan before anything else.
Still one write per distinct aggregate key per batch.

Tumbling windows (``TumblingWindowInSeconds``): deltas accumulate in the window ``state``;
the final invocation of the window commits them to per-window aggregates
(``<key>|window=<start>``) under a marker item that makes the commit idempotent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring as _quote
from typing import Any

from handlers import aws, retry
from handlers.batch import Batch, Failure, Outcome, covered_after, run_batch
from handlers.checkpoint import CheckpointStore, CoveredTooLarge, covered_numbers, encode_covered
from handlers.codec import RecordError, to_json
from handlers.coldstart import checkpoint_store, once
from handlers.config import env_list, env_required
from handlers.stream import EventName, StreamRecord

__all__ = ["AnalyticsProcessor", "AnalyticsSettings", "build", "handler", "processor"]

MAX_ACTIONS = 100  # TransactWriteItems limit
PLAN_BYTES = 300_000  # a plan must fit in one 400 KB item with room to spare
PLAN = "plan_analytics"
PLAN_DONE = "plan_analytics_done"
PLAN_ID = "plan_analytics_id"
COUNTERS = ("INSERT", "MODIFY", "REMOVE")
_COUNTER = {event: event.value for event in EventName}  # a dict, not Enum's slow .value
_NULL = {"NULL": True}


@dataclass(frozen=True, slots=True)
class AnalyticsSettings:
    table: str
    group_by: tuple[str, ...]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AnalyticsSettings:
        return cls(
            table=env_required(
                env,
                "AGGREGATES_TABLE",
                "the name of a DynamoDB table with a string hash key 'pk' for the aggregates",
            ),
            group_by=env_list(env, "ANALYTICS_GROUP_BY"),
        )


# An aggregate's delta: {"table": str, "group": {attr: typed value}, "counts": {name: n}}
Delta = dict[str, Any]


class AnalyticsProcessor:
    name = "analytics"

    def __init__(
        self,
        settings: AnalyticsSettings,
        dynamodb: Callable[[], Any],
        scope: str = "local",
    ) -> None:
        self.settings = settings
        self._ddb = dynamodb
        # Checkpoint entries live in the aggregates table when no CHECKPOINT_TABLE is set;
        # their keys start with '#', which no aggregate key (a table name) does.
        self.own_store = CheckpointStore(settings.table, f"#checkpoint#{scope}", dynamodb)

    # -- deltas -----------------------------------------------------------------------
    def _group(self, record: StreamRecord, event: EventName) -> tuple[str, dict[str, Any]]:
        image = record.raw_new_image if event is not EventName.REMOVE else record.raw_old_image
        source = image if image is not None else record.raw_keys
        group: dict[str, Any] = {}
        parts = [record.table_name]
        for name in self.settings.group_by:
            value = source.get(name, _NULL)
            group[name] = value
            # to_json's text, the common cases inline: a missing attribute (a KEYS_ONLY
            # stream's usual case) is null, a string is quoted
            if value is _NULL:
                parts.append(f"{name}=null")
            elif type(value) is dict and len(value) == 1 and type(text := value.get("S")) is str:
                parts.append(f"{name}={_quote(text)}")
            else:
                parts.append(f"{name}={to_json(value, name)}")
        return "|".join(parts), group

    def deltas(self, records: Sequence[StreamRecord]) -> tuple[dict[str, Delta], int, str]:
        """Deltas of the leading records that decode; (deltas, count, failure reason)."""
        out: dict[str, Delta] = {}
        for i, record in enumerate(records):
            try:
                event = record.check()
                pk, group = self._group(record, event)
                transitions = self._transitions(record) if event is EventName.MODIFY else ()
            except RecordError as exc:
                return out, i, str(exc)
            delta = out.get(pk)
            if delta is None:
                delta = out[pk] = {"table": record.table_name, "group": group, "counts": {}}
            counts = delta["counts"]
            name = _COUNTER[event]
            counts[name] = counts.get(name, 0) + 1
            for label in transitions:
                counts[label] = counts.get(label, 0) + 1
        return out, len(records), ""

    def _transitions(self, record: StreamRecord) -> list[str]:
        """Labels of a MODIFY's group-by changes (``status: APPLIED -> INTERVIEW``)."""
        if not self.settings.group_by:
            return []
        new, old = record.raw_new_image, record.raw_old_image
        if new is None or old is None:
            return []  # a transition needs both images (NEW_AND_OLD_IMAGES)
        labels = []
        for name in self.settings.group_by:
            before, after = old.get(name, _NULL), new.get(name, _NULL)
            if before != after:
                b, a = _label_value(before, name), _label_value(after, name)
                if b != a:
                    labels.append(f"{name}: {b} -> {a}")
        return labels

    # -- processing -------------------------------------------------------------------
    @retry.budgeted
    def process(self, records: Sequence[StreamRecord], batch: Batch) -> Outcome:
        store = batch.store or self.own_store
        if batch.window is not None:
            return self._fold_window(records)
        skipped = 0
        # What the entry at the batch's first record says this processor applied, as the
        # engine loaded it: the commit below is conditional on it (see _commit).
        prior = batch.loaded.get(self.name)
        plan = batch.loaded_item.get(PLAN)
        if plan is not None:
            # A commit plan left by an interrupted invocation of a delivery that started at
            # this same record: complete it first, then skip what it covered.
            if batch.budget.expired():
                return Outcome(0, Failure.TIME, "time budget exhausted before completing a plan")
            try:
                through = self._complete_plan(store, batch, json.loads(plan["S"]))
            except _Unavailable as exc:
                return Outcome(0, Failure.TRANSIENT, str(exc))
            prior = through  # the plan's final transaction wrote it at the first record
            while skipped < len(records) and records[skipped].seq <= through:
                skipped += 1
        todo = records[skipped:]
        if not todo:
            return Outcome(len(records))
        deltas, good, reason = self.deltas(todo)
        if good:
            applied = todo[good - 1].seq
            previous = batch.loaded.get(self.name)
            through = max(applied, previous) if previous is not None else applied
            points = [
                batch.records[i].sequence_number
                for i in batch.restart_points()
                if batch.records[i].seq <= through
            ]
            if batch.budget.expired():
                return Outcome(skipped, Failure.TIME, "time budget exhausted before the commit")
            try:
                self._commit(store, batch, deltas, points, through, prior)
            except _Unavailable as exc:
                return Outcome(skipped, Failure.TRANSIENT, str(exc))
        if good < len(todo):
            return Outcome(skipped + good, Failure.POISON, reason)
        return Outcome(len(records))

    def _commit(
        self,
        store: CheckpointStore,
        batch: Batch,
        deltas: Mapping[str, Delta],
        points: Sequence[str],
        through: int,
        prior: int | None = None,
    ) -> None:
        # points[0] is the batch's first record: it lists the other records this progress
        # covers, for a redelivery to protect before a deeper bisection (handlers.batch)
        try:
            covered = covered_after(batch, 0, through)
        except CoveredTooLarge as exc:
            raise _Unavailable(f"analytics: {exc}") from exc
        marks = [
            store.update_action(batch.stream_arn, p, self.name, through, covered if i == 0 else "")
            for i, p in enumerate(points)
        ]
        updates = [self._update(pk, d) for pk, d in sorted(deltas.items())]
        if len(updates) + len(marks) <= MAX_ACTIONS:
            if batch.store is None:  # no progress was loaded: nothing to compare with
                self._transact(updates + marks)
                return
            # A transaction retried after it committed (the response was lost: connection
            # reset, read timeout) must not count twice. AWS recognises such a retry by the
            # ClientRequestToken botocore adds, but an endpoint that ignores it (moto, so
            # the local runtime) applies it again. So the progress mark at the batch's
            # first record (points[0]; always in the transaction) is conditional on the
            # value loaded at the start: a repeat fails that condition alone, and the entry
            # then holding exactly this commit's ``through`` proves the first one landed.
            guard = marks[0]["Update"]
            guard["ConditionExpression"] = (
                "attribute_not_exists(#p)" if prior is None else "#p = :prior"
            )
            if prior is not None:
                guard["ExpressionAttributeValues"][":prior"] = {"S": str(prior)}
            first = batch.records[0].sequence_number

            def committed() -> bool:
                item = store.load_item(batch.stream_arn, first)
                return store.progress(item).get(self.name) == through

            self._transact(updates + marks, guard=len(updates), committed=committed)
            return
        plan = {
            "id": f"{batch.records[0].sequence_number}-{through}",
            "through": str(through),
            "points": list(points),
            "covered": covered,
            "deltas": sorted(deltas.items()),
        }
        text = json.dumps(plan, separators=(",", ":"))
        if len(text) > PLAN_BYTES:
            raise _Unavailable(
                f"analytics: {len(deltas)} aggregates in one batch exceed the plan size "
                f"({len(text)} bytes > {PLAN_BYTES}); lower the mapping's batch size"
            )
        first = batch.records[0].sequence_number
        try:
            self._ddb().update_item(
                TableName=store.table,
                Key=store.key(batch.stream_arn, first),
                UpdateExpression="SET #plan = :plan, #pid = :pid, #e = :e REMOVE #done",
                ConditionExpression="attribute_not_exists(#plan)",
                ExpressionAttributeNames={
                    "#plan": PLAN,
                    "#pid": PLAN_ID,
                    "#done": PLAN_DONE,
                    "#e": "expires_at",
                },
                ExpressionAttributeValues={
                    ":plan": {"S": text},
                    ":pid": {"S": plan["id"]},
                    ":e": {"N": store.expires_at()},
                },
            )
        except Exception as exc:
            raise _Unavailable(f"analytics: storing the commit plan failed: {exc}") from exc
        self._complete_plan(store, batch, plan)

    def _complete_plan(self, store: CheckpointStore, batch: Batch, plan: Mapping[str, Any]) -> int:
        """Apply the groups of a stored plan not yet done, then finalize it."""
        first = batch.records[0].sequence_number
        key = store.key(batch.stream_arn, first)
        deltas = [(pk, d) for pk, d in plan["deltas"]]
        size = MAX_ACTIONS - 1
        for g, start in enumerate(range(0, len(deltas), size)):
            if batch.budget.expired():
                raise _Unavailable("analytics: time budget exhausted while applying a plan")
            mark = {
                "Update": {
                    "TableName": store.table,
                    "Key": key,
                    "UpdateExpression": "ADD #done :g",
                    "ConditionExpression": "#pid = :pid AND NOT contains(#done, :gn)",
                    "ExpressionAttributeNames": {"#done": PLAN_DONE, "#pid": PLAN_ID},
                    "ExpressionAttributeValues": {
                        ":g": {"NS": [str(g)]},
                        ":gn": {"N": str(g)},
                        ":pid": {"S": str(plan["id"])},
                    },
                }
            }
            updates = [self._update(pk, d) for pk, d in deltas[start : start + size]]
            try:
                self._transact([*updates, mark], tolerate_done=True)
            except _AlreadyDone:
                continue
        through = int(plan["through"])
        covered = plan.get("covered") or ""
        if not isinstance(covered, str):  # a plan stored by 0.2.0: the list itself
            covered = encode_covered(int(first), [int(s) for s in covered], limit=None)
        lists = {first: covered}
        # Completed by a bisected part of the plan's batch (the batch died before): Lambda
        # goes on at the record after this part, which no plan point may name, and the
        # protection of what the plan covered (read at the start of a delivery) already
        # ran. So that record gets the entry too, listing the covered records after it.
        last = batch.records[-1].seq
        rest = [s for s in covered_numbers(first, covered) if s > last]
        if rest:
            lists[str(rest[0])] = encode_covered(rest[0], rest[1:], limit=None)
        finals = [
            store.update_action(batch.stream_arn, p, self.name, through, lists.get(p, ""))
            for p in dict.fromkeys([*plan["points"], *lists])
        ]
        for action in finals:
            if action["Update"]["Key"] == key:
                action["Update"]["UpdateExpression"] += " REMOVE #plan, #done, #pid"
                action["Update"]["ExpressionAttributeNames"].update(
                    {"#plan": PLAN, "#done": PLAN_DONE, "#pid": PLAN_ID}
                )
        if not any(a["Update"]["Key"] == key for a in finals):
            finals.append(
                {
                    "Update": {
                        "TableName": store.table,
                        "Key": key,
                        "UpdateExpression": "REMOVE #plan, #done, #pid",
                        "ExpressionAttributeNames": {
                            "#plan": PLAN,
                            "#done": PLAN_DONE,
                            "#pid": PLAN_ID,
                        },
                    }
                }
            )
        self._transact(finals)
        return through

    def _update(self, pk: str, delta: Mapping[str, Any]) -> dict[str, Any]:
        names = {"#t": "table", "#g": "group"}
        values: dict[str, Any] = {
            ":t": {"S": delta["table"]},
            ":g": {"M": delta["group"]},
        }
        adds = []
        for i, (name, count) in enumerate(sorted(delta["counts"].items())):
            names[f"#c{i}"] = name
            values[f":c{i}"] = {"N": str(count)}
            adds.append(f"#c{i} :c{i}")
        return {
            "Update": {
                "TableName": self.settings.table,
                "Key": {"pk": {"S": pk}},
                "UpdateExpression": "SET #t = :t, #g = if_not_exists(#g, :g) ADD "
                + ", ".join(adds),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _transact(
        self,
        actions: list[dict[str, Any]],
        tolerate_done: bool = False,
        guard: int | None = None,
        committed: Callable[[], bool] | None = None,
    ) -> None:
        """Run one transaction. ``tolerate_done``: a failed condition on the last action
        alone means an earlier invocation did it (``_AlreadyDone``). ``guard``: the index of
        an action whose failed condition alone means this commit may already have landed;
        ``committed()`` decides (then the call returns as a success)."""
        try:
            self._ddb().transact_write_items(TransactItems=actions)
        except Exception as exc:
            code = aws.error_code(exc)
            reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
            only = len(actions) - 1 if tolerate_done else guard
            alone = (
                only is not None
                and code == "TransactionCanceledException"
                and len(reasons) == len(actions)
                and reasons[only].get("Code") == "ConditionalCheckFailed"
                and all(r.get("Code") in ("None", None) for i, r in enumerate(reasons) if i != only)
            )
            if alone and tolerate_done:
                raise _AlreadyDone() from exc
            if alone and committed is not None:
                try:
                    if committed():
                        return
                except Exception as read_exc:
                    raise _Unavailable(
                        f"analytics: reading the checkpoint after a failed commit failed "
                        f"({aws.error_code(read_exc) or read_exc})"
                    ) from read_exc
                raise _Unavailable(
                    "analytics: the checkpoint entry changed during the invocation (a "
                    "concurrent delivery of the same records?); the redelivery re-reads it"
                ) from exc
            raise _Unavailable(f"analytics: TransactWriteItems failed ({code or exc})") from exc

    # -- tumbling windows -------------------------------------------------------------
    def _fold_window(self, records: Sequence[StreamRecord]) -> Outcome:
        """A window's records are only checked here; what becomes of them is decided in
        ``finish_window``, once the batch's outcome is known."""
        _, good, reason = self.deltas(records)
        return Outcome(good, Failure.POISON, reason) if good < len(records) else Outcome(good)

    @retry.budgeted
    def finish_window(self, records: Sequence[StreamRecord], batch: Batch) -> Outcome:
        """After every processor ran on a tumbling-window batch: ``records`` are those of
        this processor's share that the batch applied; ``batch.partial`` says whether a
        record is reported failed.

        Nothing reported failed: fold them into the window's state, and commit the state
        when the window ends (its final invocation) or ends early
        (``isWindowTerminatedEarly``, whatever the final flag says), or when it grows
        towards Lambda's 1 MB limit (``STATE_FLUSH_BYTES``).

        A record reported failed (here or in a later processor): commit ``records`` now,
        as a plain batch commit (checkpoint entries at the batch's restart points) into the
        window's aggregates, and answer with the state this invocation received, unchanged.
        Lambda restarts at the failed record with either the state we return or the one it
        gave us (AWS does not say which); both are that state, so no count depends on it.
        Any failure here also answers with the received state."""
        store = batch.store or self.own_store
        raw_start = str((batch.window or {}).get("start", ""))
        incoming = WindowState.parse(batch.state.get(self.name), raw_start)
        batch.new_state[self.name] = incoming.dump()
        start = window_start(raw_start)
        done = 0
        plan = batch.loaded_item.get(PLAN)
        if plan is not None:
            # A commit of records of a delivery that started at this same record was cut
            # short (an invocation that died): complete it, then leave out what it covered.
            try:
                through = self._complete_plan(store, batch, json.loads(plan["S"]))
            except _Unavailable as exc:
                return Outcome(0, Failure.TRANSIENT, str(exc))
            batch.loaded[self.name] = through
            while done < len(records) and records[done].seq <= through:
                done += 1
        todo = records[done:]
        deltas, _, _ = self.deltas(todo)
        if batch.budget.expired() and (todo or batch.final_window):
            return Outcome(0, Failure.TIME, "time budget exhausted before the window commit")
        if batch.partial:
            if todo:
                through = todo[-1].seq
                key_start = raw_start if incoming.legacy else start
                keyed = {f"{pk}|window={key_start}": d for pk, d in deltas.items()}
                points = [
                    batch.records[i].sequence_number
                    for i in batch.restart_points()
                    if batch.records[i].seq <= through
                ]
                try:
                    self._commit(store, batch, keyed, points, through, batch.loaded.get(self.name))
                except _Unavailable as exc:
                    return Outcome(done, Failure.TRANSIENT, str(exc))
            return Outcome(len(records))
        merged = incoming.plus(deltas, todo[0].sequence_number if todo else "")
        ends = batch.final_window or batch.window_terminated_early
        try:
            if merged.aggregates and (ends or merged.size() > STATE_FLUSH_BYTES):
                self._commit_window(store, batch, merged, start)
                merged = WindowState()
            if batch.final_window and not batch.window_terminated_early:
                # in the spelling its aggregates use (a state of the old format: the event's)
                self._mark_window_closed(store, batch, raw_start if incoming.legacy else start)
        except _Unavailable as exc:
            return Outcome(done, Failure.TRANSIENT, str(exc))
        batch.new_state[self.name] = merged.dump()
        return Outcome(len(records))

    def _window_prefix(self, store: CheckpointStore, batch: Batch, start: str) -> str:
        return f"{store.scope}#window#{batch.stream_arn}#{batch.shard_id}#{start}"

    def _commit_window(
        self, store: CheckpointStore, batch: Batch, state: WindowState, start: str
    ) -> None:
        """Add ``state``'s counts to the window's aggregates, once: each chunk's transaction
        puts a marker keyed by the window, the shard and the state's first record, so a
        retried commit of the same state is a no-op and a later state of the same window
        (after an early end) is a commit of its own."""
        items = sorted(state.aggregates.items())
        size = MAX_ACTIONS - 1
        if state.legacy:  # a state written before states named their first record
            key_start = state.start_text
            prefix = self._window_prefix(store, batch, key_start)
        else:
            key_start = start
            prefix = f"{self._window_prefix(store, batch, start)}#{state.first}"
        for g, first in enumerate(range(0, len(items), size)):
            marker = {
                "Put": {
                    "TableName": store.table,
                    "Item": {
                        "pk": {"S": f"{prefix}#{g}"},
                        "expires_at": {"N": store.expires_at()},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            updates = [
                self._update(f"{pk}|window={key_start}", d) for pk, d in items[first : first + size]
            ]
            try:
                self._transact([*updates, marker], tolerate_done=True)
            except _AlreadyDone:
                continue

    def _mark_window_closed(self, store: CheckpointStore, batch: Batch, start: str) -> None:
        """Record that the window's final invocation for this shard succeeded (what
        ``ddbt replay --mode overwrite`` checks before recomputing a window)."""
        try:
            self._ddb().put_item(
                TableName=store.table,
                Item={
                    "pk": {"S": f"{self._window_prefix(store, batch, start)}#closed"},
                    "expires_at": {"N": store.expires_at()},
                },
            )
        except Exception as exc:
            raise _Unavailable(f"analytics: recording the window's end failed: {exc}") from exc


# Commit a window's state before it can approach Lambda's 1 MB state limit, so no count ever
# depends on what Lambda does with a state it finds too large.
STATE_FLUSH_BYTES = 256 * 1024


def window_start(value: Any) -> str:
    """A window's start as AWS spells it (``2020-07-30T17:00:00Z``, whole seconds): the
    local runtime used to send ``...:00.000Z``. Text that is not such a time is kept."""
    text = str(value or "")
    base, dot, rest = text.partition(".")
    if dot and rest.endswith("Z") and rest[:-1].strip("0") == "" and len(base) == 19:
        return f"{base}Z"
    return text


class WindowState:
    """Analytics' part of a window's ``state``: the aggregates' deltas so far and the
    sequence number of the first record folded into them (its identity: a commit of this
    state is done at most once). Stored as ``{"#state": 2, "first": ..., "start": ...,
    "aggregates": {pk: delta}}``; a state written by earlier versions (``{pk: delta}``) is
    read as ``legacy`` and committed under its old marker."""

    __slots__ = ("aggregates", "first", "legacy", "start_text")

    def __init__(
        self,
        aggregates: Mapping[str, Delta] | None = None,
        first: str = "",
        legacy: bool = False,
        start_text: str = "",
    ) -> None:
        self.aggregates: dict[str, Delta] = dict(aggregates or {})
        self.first = first
        self.legacy = legacy
        self.start_text = start_text

    @classmethod
    def parse(cls, value: Any, start_text: str = "") -> WindowState:
        """The state Lambda passed; ``start_text``: the window's start as the event spells
        it (a legacy state's aggregates and marker use that text)."""
        if not isinstance(value, dict) or not value:
            return cls()
        if value.get("#state") == 2:
            return cls(dict(value.get("aggregates") or {}), str(value.get("first") or ""))
        return cls(dict(value), legacy=True, start_text=start_text)

    def plus(self, deltas: Mapping[str, Delta], first: str) -> WindowState:
        merged: dict[str, Delta] = {pk: dict(d) for pk, d in self.aggregates.items()}
        for pk, delta in deltas.items():
            into = merged.setdefault(pk, {**delta, "counts": {}})
            counts = dict(into["counts"])
            for name, n in delta["counts"].items():
                counts[name] = counts.get(name, 0) + n
            into["counts"] = counts
        if not merged:
            return WindowState()
        return WindowState(merged, self.first or first, self.legacy, self.start_text)

    def dump(self) -> dict[str, Any]:
        if not self.aggregates:
            return {}
        if self.legacy:
            return dict(self.aggregates)
        return {"#state": 2, "first": self.first, "aggregates": self.aggregates}

    def size(self) -> int:
        return len(json.dumps(self.dump(), separators=(",", ":")))


class _Unavailable(Exception):
    """The aggregates or checkpoint table could not be written (after retries)."""


class _AlreadyDone(Exception):
    """A plan group (or window chunk) was committed by an earlier invocation."""


def _label_value(av: Any, name: str) -> str:
    if isinstance(av, dict) and "S" in av and len(av) == 1 and isinstance(av["S"], str):
        return str(av["S"])
    return to_json(av, name)


def build(env: Mapping[str, str]) -> AnalyticsProcessor:
    scope = env.get("AWS_LAMBDA_FUNCTION_NAME", "").strip() or "local"
    return AnalyticsProcessor(
        AnalyticsSettings.from_env(env), lambda: aws.client("dynamodb"), scope
    )


def processor() -> AnalyticsProcessor:
    """The processor configured from the environment (once per cold start)."""
    return once("analytics", build)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point: ``handlers.analytics.handler``."""
    p = processor()
    return run_batch(event, context, [p], checkpoint_store() or p.own_store)
