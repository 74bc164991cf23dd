"""The cache processor's pure parts (no server): the order-preserving rank of ordering values,
the cache key, configuration checked at cold start, and the client library kept out of every
other processor."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers import cache
from handlers.codec import MalformedValue, RecordError
from handlers.config import ConfigError

ROOT = Path(__file__).resolve().parents[2]

# DynamoDB numbers: up to 38 significant digits, magnitudes 1E-130 to 9.99...E+125.
numbers = st.builds(
    lambda digits, exponent, negative: Decimal(f"{'-' if negative else ''}{digits}E{exponent}"),
    st.integers(min_value=0, max_value=10**38 - 1),
    st.integers(min_value=-130 - 37, max_value=125 - 37),
    st.booleans(),
)


@given(numbers, numbers)
def test_rank_orders_as_the_numbers_do(a: Decimal, b: Decimal) -> None:
    ra, rb = cache.rank(str(a)), cache.rank(str(b))
    assert (ra < rb) == (a < b) and (ra == rb) == (a == b)
    assert (ra.encode() < rb.encode()) == (a < b)  # byte order: what the script compares


def test_rank_keeps_38_digit_versions_exact() -> None:
    a = "1767225600280000000000000000000000000"
    b = "1767225600280000000000000000000000001"
    assert cache.rank(a) < cache.rank(b)
    assert cache.rank("1.0") == cache.rank("1") == cache.rank("1E0")


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "x", "1E+600"])
def test_rank_refuses_what_is_not_a_dynamodb_number(bad: str) -> None:
    with pytest.raises(RecordError):
        cache.rank(bad)


def test_the_key_is_prefix_table_and_sorted_canonical_json() -> None:
    keys = {"sk": {"N": "1E+2"}, "pk": {"S": 'Zoë "q"'}}
    assert cache.cache_key("p:", "t", keys) == 'p:t:{"pk":"Zoë \\"q\\"","sk":100}'
    assert cache.cache_key("", "t", {"n": {"N": "-0.050"}}) == 't:{"n":-0.05}'
    assert cache.cache_key("", "t", {"b": {"B": "AAE="}}) == 't:{"b":"AAE="}'


def test_a_bad_key_value_is_named_by_path() -> None:
    with pytest.raises(MalformedValue, match=r"Keys\.pk"):
        cache.cache_key("", "t", {"pk": {"N": "12abc"}})


BASE = {"CACHE_ENDPOINT": "cache.example:6379"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "CACHE_ENDPOINT is required"),
        ({"CACHE_ENDPOINT": "no-port"}, "expected host:port"),
        ({"CACHE_ENDPOINT": "h:70000"}, "expected host:port"),
        ({"CACHE_ENDPOINT": "::1:6379"}, "expected host:port"),
        ({**BASE, "CACHE_TLS": "yes"}, "CACHE_TLS"),
        ({**BASE, "CACHE_TTL_SECONDS": "-1"}, "CACHE_TTL_SECONDS"),
        ({**BASE, "CACHE_TTL_SECONDS": "soon"}, "CACHE_TTL_SECONDS"),
        ({**BASE, "CACHE_KEY_PREFIX": "a\nb"}, "CACHE_KEY_PREFIX"),
        ({**BASE, "CACHE_ATTRIBUTES": "a,a"}, "CACHE_ATTRIBUTES"),
        ({**BASE, "CACHE_AUTH_SECRET_ARN": "my-secret"}, "Secrets Manager secret ARN"),
    ],
)
def test_configuration_is_checked_at_cold_start(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        cache.build(env)


def test_configuration_defaults_and_ipv6() -> None:
    built = cache.build({"CACHE_ENDPOINT": "[::1]:6380"})
    assert isinstance(built.client, cache.Connector)
    assert built.client.endpoint == cache.Endpoint("::1", 6380) and built.client.tls
    assert built.prefix == "ddbt:" and built.ttl_ms == 0
    assert cache.build({**BASE, "CACHE_KEY_PREFIX": ""}).prefix == ""


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        ("tok", (None, "tok")),
        ('{"password": "p"}', (None, "p")),
        ('{"username": "u", "password": "p"}', ("u", "p")),
    ],
)
def test_the_auth_secret_forms(secret: str, expected: tuple[str | None, str]) -> None:
    assert cache._credentials(secret) == expected


@pytest.mark.parametrize("secret", ["", '{"user": "x"}', "{not json"])
def test_a_bad_auth_secret_is_named(secret: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        cache._credentials(secret)


def test_only_the_cache_processor_imports_the_client_library() -> None:
    for path in sorted((ROOT / "handlers").glob("*.py")):
        if path.name != "cache.py":
            assert "redis" not in path.read_text(), path.name
    code = (
        "import sys\n"
        "from handlers import pipeline, view, replicate, etl, eventbus, notification, analytics\n"
        "pipeline.build({'PROCESSORS': 'analytics,notification,etl,eventbus,view,replicate',"
        " 'CHECKPOINT_TABLE': 'c', 'NOTIFY_TOPIC_ARN': 'arn:aws:sns:us-east-1:123456789012:t',"
        " 'AGGREGATES_TABLE': 'a', 'ETL_BUCKET': 'bucket', 'EVENTBUS_NAME': 'b',"
        " 'VIEW_TABLE': 'v', 'VIEW_PARTITION_KEY': 'k', 'REPLICA_TABLE': 'r'})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('redis', 'valkey')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
