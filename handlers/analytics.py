"""Analytics: real-time aggregates of item changes in a DynamoDB table, counted exactly once.

Per aggregate key (the table, plus the values of ``ANALYTICS_GROUP_BY`` attributes taken from
the item as it is after the change, or before a REMOVE) the item counts ``INSERT``,
``MODIFY`` and ``REMOVE`` changes and each value transition of a group-by attribute seen in
a MODIFY with both images (``status: APPLIED -> INTERVIEW``, on the aggregate of the new
image). A missing or NULL group-by value is rendered ``null``.

Exactly once (see README, "Analytics: the exactly-once argument"): counts for a batch are
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
from typing import Any

from handlers import aws, retry
from handlers.batch import Batch, Failure, Outcome, run_batch
from handlers.checkpoint import CheckpointStore
from handlers.config import env_list, env_required
from handlers.runtime import checkpoint_store, once
from handlers.stream import RecordError, StreamRecord, to_json

__all__ = ["AnalyticsProcessor", "AnalyticsSettings", "build", "handler", "processor"]

MAX_ACTIONS = 100  # TransactWriteItems limit
PLAN_BYTES = 300_000  # a plan must fit in one 400 KB item with room to spare
PLAN = "plan_analytics"
PLAN_DONE = "plan_analytics_done"
PLAN_ID = "plan_analytics_id"
COUNTERS = ("INSERT", "MODIFY", "REMOVE")
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
    def _group(self, record: StreamRecord) -> tuple[str, dict[str, Any]]:
        image = record.raw_new_image if record.event_name != "REMOVE" else record.raw_old_image
        keys = record.raw_keys
        group: dict[str, Any] = {}
        parts = [record.table_name]
        for name in self.settings.group_by:
            value = (image if image is not None else keys).get(name, _NULL)
            text = to_json(value, name)
            group[name] = value
            parts.append(f"{name}={text}")
        return "|".join(parts), group

    def deltas(self, records: Sequence[StreamRecord]) -> tuple[dict[str, Delta], int, str]:
        """Deltas of the leading records that decode; (deltas, count, failure reason)."""
        out: dict[str, Delta] = {}
        for i, record in enumerate(records):
            try:
                record.check()
                pk, group = self._group(record)
                transitions = self._transitions(record)
            except RecordError as exc:
                return out, i, str(exc)
            delta = out.get(pk)
            if delta is None:
                delta = out[pk] = {"table": record.table_name, "group": group, "counts": {}}
            counts = delta["counts"]
            name = record.event_name.value
            counts[name] = counts.get(name, 0) + 1
            for label in transitions:
                counts[label] = counts.get(label, 0) + 1
        return out, len(records), ""

    def _transitions(self, record: StreamRecord) -> list[str]:
        if record.event_name != "MODIFY" or not self.settings.group_by:
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
            return self._process_window(records, batch, store)
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
        marks = [store.update_action(batch.stream_arn, p, self.name, through) for p in points]
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
        finals = [
            store.update_action(batch.stream_arn, p, self.name, through) for p in plan["points"]
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
    def _process_window(
        self, records: Sequence[StreamRecord], batch: Batch, store: CheckpointStore
    ) -> Outcome:
        state = batch.state.get(self.name) or {}
        merged: dict[str, Delta] = {pk: dict(d) for pk, d in state.items()}
        deltas, good, reason = self.deltas(records)
        for pk, delta in deltas.items():
            into = merged.setdefault(pk, {**delta, "counts": {}})
            counts = dict(into["counts"])
            for name, n in delta["counts"].items():
                counts[name] = counts.get(name, 0) + n
            into["counts"] = counts
        batch.new_state[self.name] = merged
        if good < len(records):
            return Outcome(good, Failure.POISON, reason)
        if batch.final_window and merged:
            window = batch.window or {}
            start = str(window.get("start", ""))
            try:
                self._commit_window(store, batch, merged, start)
            except _Unavailable as exc:
                return Outcome(0, Failure.TRANSIENT, str(exc))
        return Outcome(len(records))

    def _commit_window(
        self, store: CheckpointStore, batch: Batch, merged: Mapping[str, Delta], start: str
    ) -> None:
        items = sorted(merged.items())
        size = MAX_ACTIONS - 1
        prefix = f"{store.scope}#window#{batch.stream_arn}#{batch.shard_id}#{start}"
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
                self._update(f"{pk}|window={start}", d) for pk, d in items[first : first + size]
            ]
            try:
                self._transact([*updates, marker], tolerate_done=True)
            except _AlreadyDone:
                continue


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
