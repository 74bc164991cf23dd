"""Cache cases: what the Valkey/Redis server and ElastiCache are documented to do, run against
the cache processor on a real server (``ddbt.local.cacheserver``) and against the module."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

from handlers import cache as processor
from handlers.batch import Batch, Budget
from handlers.stream import parse_event
from tests import factories as f
from tests.conformance.corpus import Case, params

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_767_225_600


def _batch(records: list[dict[str, Any]]) -> tuple[Any, Batch]:
    parsed = parse_event(f.event(records))
    return parsed, Batch(parsed, f.STREAM_ARN, Budget(f.Context()))


def _processor(port: int) -> processor.CacheProcessor:
    return processor.CacheProcessor(
        processor.Connector(processor.Endpoint("127.0.0.1", port), tls=False)
    )


@params("cache", has="server_action")
def test_the_script_is_loaded_again_when_the_server_lost_it(case: Case) -> None:
    import redis

    from ddbt.local.cacheserver import CacheServer

    keys = {"application_id": "noscript"}
    first, second = f.sequential(
        [
            f.record("INSERT", keys, {"v": 1}, created=T0),
            f.record("MODIFY", keys, {"v": 2}, {"v": 1}, created=T0 + 1),
        ]
    )
    with CacheServer(durable=True) as server:
        cache = _processor(server.port)
        check = redis.Redis(host="127.0.0.1", port=server.port, decode_responses=True)
        records, batch = _batch([first])
        assert cache.process(records, batch).failure is None
        assert check.script_exists(processor.SCRIPT_SHA) == [True]
        if case["server_action"] == "script_flush":
            check.script_flush()
        else:
            server.restart()
            check = redis.Redis(host="127.0.0.1", port=server.port, decode_responses=True)
        assert check.script_exists(processor.SCRIPT_SHA) == [False]
        records, batch = _batch([second])
        outcome = cache.process(records, batch)
        applied = outcome.failure is None and outcome.done == 1
        assert applied == case["expect"]["second_batch_applied"], outcome.reason
        name = processor.cache_key("ddbt:", f.TABLE, {"application_id": {"S": "noscript"}})
        assert json.loads(check.hget(name, "value"))["v"] == 2
        check.close()
        cache.client.reset()  # type: ignore[attr-defined]


@params("cache", has="writers")
def test_concurrent_writers_of_one_key_end_at_the_greatest_stamp(
    case: Case, cache_server: Any, cache: Any
) -> None:
    writers, per = case["writers"], case["changes_per_writer"]
    keys = {"application_id": "contended"}
    batches = []
    for w in range(writers):
        recs = [
            f.record("MODIFY", keys, {"w": w, "i": i}, {"w": -1}, created=T0 + i * writers + w)
            for i in range(per)
        ]
        batches.append(recs)
    newest = (per - 1, writers - 1)  # the greatest change time
    errors: list[str] = []

    def write(recs: list[dict[str, Any]]) -> None:
        mine = _processor(cache_server.port)
        for rec in recs:  # one round trip each: as many interleavings as possible
            records, batch = _batch([rec])
            outcome = mine.process(records, batch)
            if outcome.failure is not None:
                errors.append(outcome.reason)

    threads = [threading.Thread(target=write, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    name = processor.cache_key("ddbt:", f.TABLE, {"application_id": {"S": "contended"}})
    stored = json.loads(cache.hget(name, "value"))
    assert case["expect"]["final"] == "greatest stamp"
    assert (stored["i"], stored["w"]) == newest


@params("cache", setting="tls")
def test_tls_is_the_default_where_the_cache_is_serverless(case: Case) -> None:
    expect = case["expect"]
    built = processor.build({"CACHE_ENDPOINT": "c.example:6379"})
    assert built.client.tls is expect["handler_tls_default"]  # type: ignore[attr-defined]
    variables = (ROOT / "variables.tf").read_text()
    block = re.search(r'variable "cache_tls" \{(.*?)\n\}', variables, re.S)
    assert block is not None
    assert ("default     = true" in block.group(1)) is expect["module_tls_default"]
    checks = (ROOT / "checks.tf").read_text()
    assert "var.cache_endpoint != null || var.cache_tls" in checks


@params("cache", has="ec2_actions")
def test_the_network_interface_actions_are_the_managed_policys(case: Case) -> None:
    """The EC2 actions processors.tf grants the functions that run the cache, in a VPC, are
    exactly those of AWSLambdaVPCAccessExecutionRole (tests/cache.tftest.hcl checks the
    planned policy holds them)."""
    text = (ROOT / "processors.tf").read_text()
    wiring = text[text.index("    cache = {") :]
    granted = set(re.findall(r'"(ec2:\w+)"', wiring[: wiring.index("kms_grants")]))
    assert case["expect"]["module_grants_exactly"] is True
    assert granted == set(case["ec2_actions"])
