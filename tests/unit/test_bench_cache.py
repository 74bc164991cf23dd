"""The cache benchmark compares like with like: on the workload's batches, our processor and
the Powertools contender (``bench/cache.py``) leave the same values in a real local cache
(each entry's JSON decoded, numbers exact). No timings are asserted. Skipped without
Powertools (a benchmark-only dependency)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

pytest.importorskip("aws_lambda_powertools")

from bench import cache as cache_bench
from bench import ours as bench_ours
from bench import workload
from bench.powertools_contenders import PowertoolsCache
from bench.stubs import CountingClient


def _decoded(text: str) -> Any:
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)


def test_ours_and_the_contender_cache_the_same_values(cache_server: Any, cache: Any) -> None:
    import redis

    event = workload.event(200, "NEW_AND_OLD_IMAGES")
    raw = redis.Redis(host="127.0.0.1", port=cache_server.port)
    PowertoolsCache(raw).handler(json.loads(json.dumps(event)), None)
    theirs = {k: _decoded(cache.get(k)) for k in cache.keys("*")}
    cache.flushall()
    cache_bench._run_ours(cache_bench._ours(raw), json.loads(json.dumps(event)))
    ours = {}
    for name in cache.keys("*"):
        value = cache.hget(name, "value")
        if value is not None:
            ours[name] = _decoded(value)
    raw.close()
    assert ours and ours == theirs


def test_pipelining_makes_one_round_trip_per_group() -> None:
    event = workload.event(1000, "NEW_AND_OLD_IMAGES")
    ours, theirs = CountingClient(), CountingClient()
    bench_ours.process(bench_ours.build("cache", ours), json.loads(json.dumps(event)), None)
    PowertoolsCache(theirs).handler(json.loads(json.dumps(event)), None)
    assert ours.calls["EVALSHA"] <= 2 and set(ours.calls) == {"EVALSHA"}
    assert theirs.calls["SET"] + theirs.calls["DEL"] == 1000
