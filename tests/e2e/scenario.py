"""The end-to-end scenario on examples/complete, wherever the stack runs: the local endpoint
(``make test``) or a real account (``make e2e-aws``). Item changes of job applications are
driven through the table, then every processor's effect is checked: ETL lines, notifications,
aggregates, the event bus rule's queue, the view and the replica."""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "Changes",
    "Clients",
    "check",
    "drain",
    "drive",
    "etl_lines",
    "eventually",
    "put",
    "set_status",
]


class Clients(Protocol):
    def client(self, service: str, region: str | None = None) -> Any: ...


@dataclass
class Changes:
    """What ``drive`` wrote: the run's marker and application ids, and what must follow."""

    run: str
    apps: list[str]
    changes: int = 14
    final: dict[str, str] = field(default_factory=dict)  # application -> status at the end
    # messages drained from the capture queues so far (``check`` may run several times)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


def put(ddb: Any, table: str, app: str, status: str, job: str = "job-e2e", **extra: Any) -> None:
    item = {"application_id": {"S": app}, "job_id": {"S": job}, "status": {"S": status}}
    item.update(extra)
    ddb.put_item(TableName=table, Item=item)


def set_status(ddb: Any, table: str, app: str, status: str) -> None:
    ddb.update_item(
        TableName=table,
        Key={"application_id": {"S": app}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": status}},
    )


def drain_bodies(sqs: Any, url: str) -> list[str]:
    """Every message body now in the queue, deleting them (ten per call each way)."""
    out: list[str] = []
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages") or []
        if not msgs:
            return out
        out += [m["Body"] for m in msgs]
        done = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]
        failed = sqs.delete_message_batch(QueueUrl=url, Entries=done).get("Failed") or []
        assert not failed, f"messages not deleted: {failed}"


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message body now in the queue (JSON), deleting them."""
    return [json.loads(body) for body in drain_bodies(sqs, url)]


def etl_lines(s3: Any, bucket: str) -> list[dict[str, Any]]:
    lines = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents") or []:
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            lines += [json.loads(x) for x in gzip.decompress(body).decode().splitlines()]
    return lines


def drive(clients: Clients, out: dict[str, Any], run: str) -> Changes:
    """6 applications, 4 screened, one to an offer, one rejected, one deleted: 14 changes,
    7 of them status changes."""
    ddb = clients.client("dynamodb")
    table = out["table_name"]
    apps = [f"e2e-{run}-{i}" for i in range(6)]
    for app in apps:
        put(ddb, table, app, "APPLIED", job=f"job-{run}")
    for app in apps[:4]:
        set_status(ddb, table, app, "SCREEN")
    set_status(ddb, table, apps[0], "INTERVIEW")
    set_status(ddb, table, apps[0], "OFFER")
    set_status(ddb, table, apps[1], "REJECTED")
    ddb.delete_item(TableName=table, Key={"application_id": {"S": apps[5]}})
    final = {apps[0]: "OFFER", apps[1]: "REJECTED", apps[2]: "SCREEN", apps[3]: "SCREEN"}
    final[apps[4]] = "APPLIED"
    return Changes(run, apps, final=final)


def check(clients: Clients, out: dict[str, Any], changes: Changes) -> None:
    """Every processor's effect of ``changes``, exactly once (AssertionError naming it)."""
    run, apps = changes.run, changes.apps
    mine = [
        x
        for x in etl_lines(clients.client("s3"), out["etl_bucket_name"])
        if x["keys"]["application_id"].startswith(f"e2e-{run}")
    ]
    per_seq = Counter(x["sequenceNumber"] for x in mine)
    assert len(per_seq) == changes.changes and set(per_seq.values()) == {1}, "ETL"
    assert Counter(x["eventName"] for x in mine) == {"INSERT": 6, "MODIFY": 7, "REMOVE": 1}
    sqs = clients.client("sqs")
    changes.notifications += [json.loads(n["Message"]) for n in drain(sqs, out["_notifications"])]
    notes = [
        n for n in changes.notifications if n["keys"]["application_id"].startswith(f"e2e-{run}")
    ]
    assert len(notes) == 7 and {n["eventName"] for n in notes} == {"MODIFY"}, "notification"
    assert len({n["sequenceNumber"] for n in notes}) == 7, "notification: once each"
    items = clients.client("dynamodb").scan(TableName=out["analytics_table_name"])["Items"]
    counts = {
        i["pk"]["S"].split("|status=")[-1].strip('"'): {k: v.get("N") for k, v in i.items()}
        for i in items
        if f'job_id="job-{run}"' in i["pk"]["S"]
    }
    assert counts["APPLIED"]["INSERT"] == "6" and counts["APPLIED"].get("REMOVE") == "1"
    assert counts["SCREEN"]["MODIFY"] == "4", "analytics"
    assert counts["OFFER"]["MODIFY"] == "1" and counts["REJECTED"]["MODIFY"] == "1"
    changes.events += drain(sqs, out["status_changes_queue_url"])
    events = [
        e for e in changes.events if e["detail"]["keys"]["application_id"].startswith(f"e2e-{run}")
    ]
    assert {e["detail-type"] for e in events} == {"DynamoDB MODIFY"}, "eventbus"
    assert len({e["detail"]["sequenceNumber"] for e in events}) == len(events) == 7, "eventbus"

    def state(client: Any, table: str) -> tuple[dict[str, str], set[str]]:
        items = [
            i
            for i in client.scan(TableName=table)["Items"]
            if i["application_id"]["S"].startswith(f"e2e-{run}")
        ]
        live = {
            i["application_id"]["S"]: i["status"]["S"] for i in items if "_ddbt_deleted" not in i
        }
        gone = {i["application_id"]["S"] for i in items if "_ddbt_deleted" in i}
        return live, gone

    ddb = clients.client("dynamodb")
    view_items = ddb.scan(TableName=out["view_table_name"])["Items"]
    assert {i["job_id"]["S"] for i in view_items if i["application_id"]["S"] in changes.final} == {
        f"job-{run}"
    }, "view: keyed by job"
    assert state(ddb, out["view_table_name"]) == (changes.final, {apps[5]}), "view"
    region = out["replica_table_arn"].split(":")[3]
    replica = clients.client("dynamodb", region)
    table = out["replica_table_arn"].rsplit("/", 1)[-1]
    assert state(replica, table) == (changes.final, {apps[5]}), "replicate"


def eventually(probe: Callable[[], None], timeout: float, every: float = 2.0) -> None:
    """Run ``probe`` until it stops raising AssertionError (the last one is raised)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            probe()
            return
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(every)
