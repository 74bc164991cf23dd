"""IAM least privilege, tied to the handlers' real calls.

* ``test_allow_list_is_what_the_handlers_call``: the pipeline (analytics with a commit plan
  and a tumbling window, ETL, notification) runs against moto with every AWS call recorded;
  the IAM actions those calls need, per resource, must equal the allow-list of
  tests/security/tf/unused_permissions.tftest.hcl for the handler statements. So the
  allow-list cannot drift from the code.
* ``test_new_processors_call_what_their_statements_allow``: the same for the eventbus, view
  and replicate processors (issue 8): without version attributes they only PutItem on the view
  and replica (the module then grants PutItem only), with them GetItem as well.
* ``test_planned_policies_hold_no_unused_permission``: ``terraform test`` of that file over
  the planned policies of every function (mock provider, no cloud).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from handlers import aws, coldstart, pipeline
from tests import factories as f
from tests.conftest import create_table, make_client
from tests.functional.test_analytics import changes
from tests.lambda_sim import deliver

ROOT = Path(__file__).resolve().parents[2]
TFTEST = ROOT / "tests" / "security" / "tf" / "unused_permissions.tftest.hcl"
# Statements of the handlers' own calls (the rest are the mapping's, Lambda's or KMS's).
HANDLER_SIDS = ("Checkpoints", "WriteAggregates", "PublishNotifications", "WriteEtlObjects")
_TRANSACT = {
    "Update": "UpdateItem",
    "Put": "PutItem",
    "ConditionCheck": "ConditionCheckItem",
    "Delete": "DeleteItem",
}


def allow_list() -> dict[str, set[str]]:
    out = {}
    for sid, actions in re.findall(r"^\s+(\w+)\s+=\s+\[(.*?)\]\s*$", TFTEST.read_text(), re.M):
        out[sid] = set(re.findall(r'"([^"]+)"', actions))
    return out


def record_calls(sids: dict[str, str]) -> tuple[dict[str, set[str]], Callable[[], None]]:
    """Hooks on the handlers' clients: IAM actions used, by statement (Sid)."""
    used: dict[str, set[str]] = {}

    def hook(model: Any, params: dict[str, Any], **_: Any) -> None:
        op = model.name
        service = model.service_model.endpoint_prefix
        if op == "TransactWriteItems":
            for item in params["TransactItems"]:
                ((kind, body),) = item.items()
                used.setdefault(sids[body["TableName"]], set()).add(f"dynamodb:{_TRANSACT[kind]}")
        elif service == "dynamodb":
            used.setdefault(sids[params["TableName"]], set()).add(f"dynamodb:{op}")
        elif op == "PublishBatch":  # IAM authorizes PublishBatch as sns:Publish
            used.setdefault("PublishNotifications", set()).add("sns:Publish")
        elif op == "PutObject":
            used.setdefault("WriteEtlObjects", set()).add("s3:PutObject")
        elif op == "PutEvents":
            used.setdefault("PublishEvents", set()).add("events:PutEvents")
        else:
            used.setdefault("?", set()).add(f"{service}:{op}")

    clients = [aws.client(s) for s in ("dynamodb", "s3", "sns", "events")]
    for c in clients:
        c.meta.events.register("before-parameter-build", hook)

    def stop() -> None:
        for c in clients:
            c.meta.events.unregister("before-parameter-build", hook)

    return used, stop


def test_allow_list_is_what_the_handlers_call(
    sinks: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    used, stop = record_calls({"checkpoints": "Checkpoints", "aggregates": "WriteAggregates"})
    try:
        # Ordinary batches, a batch above one transaction (commit plan), a redelivery.
        recs, _ = changes(150)
        deliver(pipeline.handler, recs, batch_size=50)
        # Analytics alone from here (moto's SNS fan-out makes 400 messages slow).
        monkeypatch.setenv("PROCESSORS", "analytics")
        coldstart.reset()
        big, _ = changes(400, jobs=250, seed=3)
        big = f.sequential(big, start=int(recs[-1]["dynamodb"]["SequenceNumber"]) + 100)
        deliver(pipeline.handler, big, batch_size=400)
        # A tumbling window's final invocation (idempotent window commit).
        win, _ = changes(20, seed=5)
        win = f.sequential(win, start=int(big[-1]["dynamodb"]["SequenceNumber"]) + 100)
        event = {
            **f.event(win),
            "window": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:05:00Z"},
            "state": {},
            "shardId": "shardId-1",
            "eventSourceARN": f.STREAM_ARN,
            "isFinalInvokeForWindow": True,
            "isWindowTerminatedEarly": False,
        }
        pipeline.handler(event, f.Context())
    finally:
        stop()
    allowed = allow_list()
    assert "?" not in used, f"calls with no statement: {used.get('?')}"
    assert {sid: used.get(sid, set()) for sid in HANDLER_SIDS} == {
        sid: allowed[sid] for sid in HANDLER_SIDS
    }


NEW_SIDS = ("PublishEvents", "WriteView", "WriteReplica")


def _changes(view_type: str) -> list[dict[str, Any]]:
    """Insert, modify and remove two applications (one shard, in order)."""
    recs = []
    for app in ("a1", "a2"):
        recs += [
            f.record(
                "INSERT",
                {"application_id": app},
                {"status": "NEW", "rev": 1},
                None,
                view_type=view_type,
            ),
            f.record(
                "MODIFY",
                {"application_id": app},
                {"status": "HIRED", "rev": 2},
                {"status": "NEW", "rev": 1},
                view_type=view_type,
            ),
            f.record(
                "REMOVE",
                {"application_id": app},
                None,
                {"status": "HIRED", "rev": 2},
                view_type=view_type,
            ),
        ]
    return f.sequential(recs)


def test_new_processors_call_what_their_statements_allow(
    aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the bus, the view table, the replica table and the checkpoints on moto
    create_table("checkpoints")
    create_table("view", key="application_id")
    create_table("replica", key="application_id")
    make_client("events").create_event_bus(Name="changes")
    for name, value in {
        "PROCESSORS": "eventbus,view,replicate",
        "CHECKPOINT_TABLE": "checkpoints",
        "EVENTBUS_NAME": "changes",
        "VIEW_TABLE": "view",
        "VIEW_PARTITION_KEY": "application_id",
        "REPLICA_TABLE": "replica",
        "AWS_LAMBDA_FUNCTION_NAME": "pipeline-fn",
    }.items():
        monkeypatch.setenv(name, value)
    sids = {"checkpoints": "Checkpoints", "view": "WriteView", "replica": "WriteReplica"}

    # WHEN every kind of change runs without version attributes
    used, stop = record_calls(sids)
    try:
        out = pipeline.handler(f.event(_changes("NEW_AND_OLD_IMAGES")), f.Context())
    finally:
        stop()
    # THEN the view and the replica only see PutItem (items and tombstones)
    assert out == {"batchItemFailures": []}
    assert {sid: used.get(sid) for sid in NEW_SIDS} == {
        "PublishEvents": {"events:PutEvents"},
        "WriteView": {"dynamodb:PutItem"},
        "WriteReplica": {"dynamodb:PutItem"},
    }

    # WHEN version attributes are set and a REMOVE carries no old image (NEW_IMAGE stream)
    monkeypatch.setenv("VIEW_VERSION_ATTRIBUTE", "rev")
    monkeypatch.setenv("REPLICATE_VERSION_ATTRIBUTE", "rev")
    coldstart.reset()
    more, stop = record_calls(sids)
    try:
        recs = f.sequential(_changes("NEW_IMAGE"), start=f.BASE_SEQ + 10_000)
        out = pipeline.handler(f.event(recs), f.Context())
    finally:
        stop()
    # THEN GetItem joins (the tombstone takes the version the item holds), and the union is
    # exactly the allow-list of the planned statements
    assert out == {"batchItemFailures": []}
    assert more["WriteView"] == more["WriteReplica"] == {"dynamodb:PutItem", "dynamodb:GetItem"}
    allowed = allow_list()
    assert "?" not in used and "?" not in more, (used.get("?"), more.get("?"))
    assert {sid: used[sid] | more.get(sid, set()) for sid in NEW_SIDS} == {
        sid: allowed[sid] for sid in NEW_SIDS
    }


def _terraform() -> str:
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not installed")
    if not (ROOT / ".terraform").is_dir():
        pytest.skip("the root module is not initialised (make tf-init)")
    return str(ROOT / "scripts" / "tf-test.sh")  # terraform test, one shared provider


def test_planned_policies_hold_no_unused_permission() -> None:
    result = subprocess.run(
        [_terraform(), "-test-directory=tests/security/tf"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_the_cache_calls_what_its_statements_allow(
    aws_env: str, cache_server: Any, cache: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache processor's only AWS call is GetSecretValue on its AUTH secret (its writes go
    to the cache, which IAM does not govern): exactly the ReadCacheAuthSecret statement."""
    from handlers import cache as cache_processor

    secrets = make_client("secretsmanager")
    arn = secrets.create_secret(Name="cache-auth", SecretString="token")["ARN"]
    cache.config_set("requirepass", "token")
    used: dict[str, set[str]] = {}

    def hook(model: Any, params: dict[str, Any], **_: Any) -> None:
        assert params["SecretId"] == arn
        used.setdefault("ReadCacheAuthSecret", set()).add(f"secretsmanager:{model.name}")

    try:
        for name, value in {
            "CACHE_ENDPOINT": cache_server.endpoint,
            "CACHE_TLS": "false",
            "CACHE_AUTH_SECRET_ARN": arn,
        }.items():
            monkeypatch.setenv(name, value)
        aws.client("secretsmanager").meta.events.register("before-parameter-build", hook)
        out = cache_processor.handler(f.event(_changes("NEW_AND_OLD_IMAGES")), f.Context())
    finally:
        cache.config_set("requirepass", "")
    assert out == {"batchItemFailures": []}
    assert used == {"ReadCacheAuthSecret": allow_list()["ReadCacheAuthSecret"]}
