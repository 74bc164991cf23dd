"""The cache processor against a real Valkey/Redis server on 127.0.0.1 (``cache_server``):
set, change, delete; order per item; late and repeated deliveries; tombstones; a server
killed mid-batch; TTL; attribute selection; the script's NOSCRIPT fallback; failures at the
lowest record; the AUTH secret read from Secrets Manager (moto)."""

from __future__ import annotations

import json
import random
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from handlers import cache
from handlers.batch import Batch, Budget, Failure
from handlers.stream import parse_event
from handlers.versioned import TOMBSTONE_SECONDS
from tests import factories as f
from tests.lambda_sim import deliver

TABLE = f.TABLE
T0 = 1_767_225_600


def key_of(value: str, name: str = "application_id") -> str:
    return cache.cache_key("ddbt:", TABLE, {name: {"S": value}})


@pytest.fixture
def env(cache_server: Any, cache: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The handler's environment pointing at the test server (no TLS locally)."""
    monkeypatch.setenv("CACHE_ENDPOINT", cache_server.endpoint)
    monkeypatch.setenv("CACHE_TLS", "false")
    for name in ("CACHE_AUTH_SECRET_ARN", "CACHE_TTL_SECONDS", "CACHE_ATTRIBUTES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("CACHE_VERSION_ATTRIBUTE", raising=False)
    monkeypatch.delenv("CACHE_KEY_PREFIX", raising=False)
    monkeypatch.delenv("CHECKPOINT_TABLE", raising=False)
    yield cache


def run(records: list[dict[str, Any]]) -> dict[str, Any]:
    return cache.handler(f.event(records), f.Context())


def value(client: Any, name: str) -> Any:
    text = client.hget(name, "value")
    return None if text is None else json.loads(text)


def test_a_key_is_set_changed_then_deleted(env: Any) -> None:
    keys = {"application_id": "a-1"}
    recs = f.sequential(
        [
            f.record("INSERT", keys, {"status": "new", "score": 7}, created=T0),
            f.record(
                "MODIFY", keys, {"status": "hired", "score": 9}, {"status": "new"}, created=T0
            ),
        ]
    )
    assert run(recs[:1]) == {"batchItemFailures": []}
    assert value(env, key_of("a-1")) == {"application_id": "a-1", "status": "new", "score": 7}
    run(recs[1:])
    assert value(env, key_of("a-1"))["status"] == "hired"
    remove = f.sequential([f.record("REMOVE", keys, old={"status": "hired"}, created=T0 + 1)])
    run(remove)
    stored = env.hgetall(key_of("a-1"))
    assert "value" not in stored and stored["_ddbt_deleted"] == "1"
    assert 0 < env.pttl(key_of("a-1")) <= TOMBSTONE_SECONDS * 1000


def test_values_keep_exact_numbers_and_the_etl_encoding(env: Any) -> None:
    rec = f.record(
        "INSERT",
        {"application_id": "n"},
        {"big": f.Decimal("123456789012345678901234567890.123456"), "tags": {"b", "a"}},
    )
    run([rec])
    text = env.hget(key_of("n"), "value")
    assert '"big":123456789012345678901234567890.123456' in text
    assert json.loads(text)["tags"] == ["a", "b"]


def test_the_key_holds_table_and_canonical_key(env: Any) -> None:
    rec = f.record("INSERT", {"application_id": "k"}, {"x": 1})
    rec["dynamodb"]["Keys"] = {"application_id": {"S": "k"}, "n": {"N": "1.50"}}
    rec["dynamodb"]["NewImage"].update({"n": {"N": "1.50"}})
    run([rec])
    assert env.exists(f'ddbt:{TABLE}:{{"application_id":"k","n":1.5}}') == 1


def test_changes_of_one_item_end_at_the_latest_whatever_the_batching(env: Any) -> None:
    rng = random.Random(7)
    recs = []
    latest: dict[str, int] = {}
    for i in range(60):
        item = f"item-{rng.randrange(6)}"
        recs.append(f.record("MODIFY", {"application_id": item}, {"n": i}, {"n": -1}, created=T0))
        latest[item] = i
    recs = f.sequential(recs)
    deliver(cache.handler, recs, batch_size=7)
    for item, n in latest.items():
        assert value(env, key_of(item))["n"] == n


def test_a_late_redelivery_never_overwrites_newer_data(env: Any) -> None:
    keys = {"application_id": "late"}
    v1, v2 = f.sequential(
        [
            f.record("INSERT", keys, {"v": 1}, created=T0),
            f.record("MODIFY", keys, {"v": 2}, {"v": 1}, created=T0 + 5),
        ]
    )
    run([v1, v2])
    run([v1])  # a redrive, a replay: the older change again
    run([v2])  # a repeated delivery: the same change
    assert value(env, key_of("late")) == {"application_id": "late", "v": 2}


def test_a_tombstone_stops_a_late_insert_from_resurrecting(env: Any) -> None:
    keys = {"application_id": "gone"}
    insert, remove = f.sequential(
        [
            f.record("INSERT", keys, {"v": 1}, created=T0),
            f.record("REMOVE", keys, old={"v": 1}, created=T0 + 1),
        ]
    )
    run([insert, remove])
    run([insert])
    assert value(env, key_of("gone")) is None
    assert env.hget(key_of("gone"), "_ddbt_deleted") == "1"
    newer = f.sequential([f.record("INSERT", keys, {"v": 3}, created=T0 + 2)], start=10**27)
    run(newer)  # a newer incarnation replaces the tombstone, without its expiry
    assert value(env, key_of("gone"))["v"] == 3
    assert env.pttl(key_of("gone")) == -1


def test_version_attribute_orders_changes_and_removes_at_the_stored_version(
    env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CACHE_VERSION_ATTRIBUTE", "version")
    keys = {"application_id": "v"}
    newer, older = f.sequential(
        [
            f.record("MODIFY", keys, {"version": 5, "s": "new"}, {"version": 4}, created=T0),
            f.record("MODIFY", keys, {"version": 3, "s": "old"}, {"version": 2}, created=T0 + 9),
        ]
    )
    run([newer, older])  # a later change time does not beat a greater version
    assert value(env, key_of("v"))["s"] == "new"
    (remove,) = f.sequential(
        [f.record("REMOVE", keys, view_type="NEW_IMAGE", created=T0 + 10)], start=10**27
    )
    run([remove])  # no OldImage: tombstoned at the stored version, inside the script
    assert value(env, key_of("v")) is None
    assert env.hget(key_of("v"), "_ddbt_version") == "5"
    run([older])
    assert value(env, key_of("v")) is None


def test_ttl_per_entry(env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    run([f.record("INSERT", {"application_id": "no-ttl"}, {"x": 1})])
    assert env.pttl(key_of("no-ttl")) == -1
    monkeypatch.setenv("CACHE_TTL_SECONDS", "600")
    from handlers import coldstart

    coldstart.reset()
    run([f.record("INSERT", {"application_id": "ttl"}, {"x": 1})])
    assert 0 < env.pttl(key_of("ttl")) <= 600_000


def test_only_the_configured_attributes_are_cached(
    env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CACHE_ATTRIBUTES", "status, score")
    run([f.record("INSERT", {"application_id": "p"}, {"status": "s", "score": 1, "cv": "x" * 99})])
    assert value(env, key_of("p")) == {"status": "s", "score": 1}


def test_the_script_is_loaded_again_after_the_server_lost_it(env: Any) -> None:
    keys = {"application_id": "flush"}
    first, second = f.sequential(
        [f.record("INSERT", keys, {"v": 1}), f.record("MODIFY", keys, {"v": 2}, {"v": 1})]
    )
    run([first])
    env.script_flush()  # as a restart or a failover does
    assert run([second]) == {"batchItemFailures": []}
    assert value(env, key_of("flush"))["v"] == 2


def test_a_poison_value_is_named_by_path_and_earlier_records_are_applied(env: Any) -> None:
    recs = f.sequential(
        [
            f.record("INSERT", {"application_id": "ok"}, {"x": 1}),
            f.record("INSERT", {"application_id": "bad"}, {"x": 1}),
            f.record("INSERT", {"application_id": "after"}, {"x": 1}),
        ]
    )
    recs[1]["dynamodb"]["NewImage"]["nested"] = {"M": {"n": {"N": "12abc"}}}
    records = parse_event(f.event(recs))
    outcome = _processor(env).process(records, _batch(records))
    assert outcome.done == 1 and outcome.failure is Failure.POISON
    assert "NewImage.nested.n" in outcome.reason
    assert value(env, key_of("ok")) is not None and not env.exists(key_of("after"))


def test_keys_only_writes_are_poison_naming_the_view_type(env: Any) -> None:
    rec = f.record("INSERT", {"application_id": "ko"}, {"x": 1}, view_type="KEYS_ONLY")
    records = parse_event(f.event([rec]))
    outcome = _processor(env).process(records, _batch(records))
    assert outcome.failure is Failure.POISON and "KEYS_ONLY" in outcome.reason


def test_foreign_data_at_a_key_fails_that_record_only(env: Any) -> None:
    env.set(key_of("taken"), "someone else's string")
    recs = f.sequential(
        [
            f.record("INSERT", {"application_id": "first"}, {"x": 1}),
            f.record("INSERT", {"application_id": "taken"}, {"x": 1}),
            f.record("INSERT", {"application_id": "third"}, {"x": 1}),
        ]
    )
    response = run(recs)
    failed = [item["itemIdentifier"] for item in response["batchItemFailures"]]
    assert failed[0] == recs[1]["dynamodb"]["SequenceNumber"]  # the lowest, then every later
    assert value(env, key_of("first")) is not None
    assert env.get(key_of("taken")) == "someone else's string"


class _KillAt:
    """A client whose ``pipeline()`` kills the server before round trip ``at``."""

    def __init__(self, client: Any, server: Any, at: int) -> None:
        self.client, self.server, self.at, self.calls = client, server, at, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def pipeline(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == self.at:
            self.server.kill()
        return self.client.pipeline(**kwargs)


def test_a_server_killed_mid_batch_is_reported_retried_and_nothing_is_lost() -> None:
    from ddbt.local.cacheserver import CacheServer

    with CacheServer(durable=True) as server:
        connector = cache.Connector(cache.parse_endpoint(server.endpoint), tls=False)
        killer = _KillAt(None, server, at=3)
        processor = cache.CacheProcessor(lambda: _wrap(killer, connector), group=4)

        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            if killer.calls >= killer.at and server._process is None:
                server.restart()  # the server is back before Lambda's next attempt
            from handlers.batch import run_batch

            return run_batch(event, context, [processor], None)

        recs = f.sequential(
            [f.record("INSERT", {"application_id": f"r{i}"}, {"i": i}) for i in range(20)]
        )
        result = deliver(handler, recs, batch_size=20)
        assert not result.dlq
        assert len(result.invocations) == 2
        failed_from = recs.index(
            next(r for r in recs if r["dynamodb"]["SequenceNumber"] == result.invocations[1][0])
        )
        # Round trips: the first group twice (NOSCRIPT on a fresh server, SCRIPT LOAD, again),
        # then the second group meets the killed server: reported from its first record.
        assert failed_from == 4
        import redis

        check = redis.Redis(host="127.0.0.1", port=server.port, decode_responses=True)
        for i in range(20):
            assert json.loads(check.hget(key_of(f"r{i}"), "value"))["i"] == i
        check.close()
        connector.reset()


def _wrap(killer: _KillAt, connector: cache.Connector) -> Any:
    killer.client = connector()
    return killer


def test_the_auth_secret_is_read_once_from_secrets_manager(
    aws_env: str, cache_server: Any, cache: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    secrets = boto3.client("secretsmanager")
    arn = secrets.create_secret(Name="cache-auth", SecretString='{"password": "s3cret-token"}')[
        "ARN"
    ]
    cache.config_set("requirepass", "s3cret-token")
    try:
        monkeypatch.setenv("CACHE_ENDPOINT", cache_server.endpoint)
        monkeypatch.setenv("CACHE_TLS", "false")
        monkeypatch.setenv("CACHE_AUTH_SECRET_ARN", arn)
        run([f.record("INSERT", {"application_id": "auth"}, {"x": 1})])
        secrets.put_secret_value(SecretId=arn, SecretString="changed")  # not read again
        assert run([f.record("INSERT", {"application_id": "auth2"}, {"x": 1})]) == {
            "batchItemFailures": []
        }
        assert cache.hget(key_of("auth2"), "value") is not None
    finally:
        cache.config_set("requirepass", "")


def test_an_unreachable_server_reports_the_first_record_transient() -> None:
    # a port bound and never listened on: every connection to it is refused
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        port = int(bound.getsockname()[1])
        processor = cache.CacheProcessor(
            cache.Connector(cache.Endpoint("127.0.0.1", port), tls=False)
        )
        records = parse_event(f.event([f.record("INSERT", {"application_id": "x"}, {"x": 1})]))
        outcome = processor.process(records, _batch(records))
    assert outcome.done == 0 and outcome.failure is Failure.TRANSIENT
    assert "ConnectionError" in outcome.reason


def _processor(client: Any) -> cache.CacheProcessor:
    kwargs = client.connection_pool.connection_kwargs
    return cache.CacheProcessor(
        cache.Connector(cache.Endpoint(kwargs["host"], kwargs["port"]), tls=False)
    )


def _batch(records: Any) -> Batch:
    return Batch(records, f.STREAM_ARN, Budget(f.Context()))
