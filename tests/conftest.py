"""Shared fixtures: one moto server per test session (per xdist worker; real AWS APIs on
127.0.0.1, on a port the system picks), reset between tests, with fake credentials; handler
clients are reset so each test builds its own against the server. Short retry backoffs for the
tests that provoke retries (``fast_retries``, ``retry_policy``)."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from hypothesis import HealthCheck, settings

from handlers import aws, retry

pytest_plugins = ["tests.pipeline_stack"]

# Property tests make no timing assertions: Hypothesis' default deadline (200 ms an example)
# and its too-slow health check fail an example that a loaded machine merely ran slowly
# (seen: test_numbers_just_outside_the_range_fail under load). A test's own @settings can
# still set other limits.
settings.register_profile("untimed", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("untimed")


# Tests that mostly wait: they run the local runtime or the local cloud, whose batching
# windows, timeouts and polls are timers. Collected late, they ran together at the end of
# the run, every worker waiting and the cores half idle (10 to 15 s of `make test`); handed
# out as one block after the slow tests, the cores idled in the middle instead.
WAITING = ("tests/local/", "tests/ops/")
# The units of work that hold a worker for a minute or more (an xdist_group is one unit),
# longest first: 3, 2.5, 1 and 0.75 minutes. Handed out first, one to each worker, they
# overlap each other and everything else. (Handed out in collection order, the soak started
# behind the Terraform groups and the parallel tests, 110 s into the tests.)
LONGEST = (
    "tests/e2e/",
    "tests/terraform/test_attached_table_moto.py",
    "tests/reliability/test_soak.py",
    "tests/terraform/test_module_usage.py",
)
# Quick tests to hand out right after them: pytest-xdist gives each worker two units at the
# start, and a worker's second unit waits until its first is done.
QUICK = "tests/unit/"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest units first (``LONGEST``), then one quick test per xdist worker (``QUICK``),
    then the other slow tests, then the rest with the ones that mostly wait (``WAITING``)
    spread evenly among them, in collection order otherwise. ``make test`` runs pytest-xdist
    with ``--no-loadscope-reorder``, so that it hands units out in this order (by default it
    sorts them by their number of tests first): a long test handed out late (the soak) ran
    alone at the end while the other workers had finished, and a wait overlaps other tests'
    work when other workers have work. Every worker orders them the same way (the order
    depends on the collected items alone)."""

    def longest(item: pytest.Item) -> int:
        return next((i for i, p in enumerate(LONGEST) if item.nodeid.startswith(p)), -1)

    first = sorted((item for item in items if longest(item) >= 0), key=longest)
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    quick = [item for item in items if item.nodeid.startswith(QUICK)][:workers]
    taken = {id(item) for item in first + quick}
    slow = [i for i in items if id(i) not in taken and i.get_closest_marker("slow") is not None]
    rest = [i for i in items if id(i) not in taken and i.get_closest_marker("slow") is None]
    waiting = [item for item in rest if item.nodeid.startswith(WAITING)]
    others = [item for item in rest if not item.nodeid.startswith(WAITING)]
    # each test at its proportional place in its own list: the waiting ones spread evenly
    places = [((i + 0.5) / len(waiting), 0, i) for i in range(len(waiting))]
    places += [((i + 0.5) / len(others), 1, i) for i in range(len(others))]
    spread = [(others if kind else waiting)[i] for _, kind, i in sorted(places)]
    items[:] = first + quick + slow + spread


# Short backoffs, three attempts: a retried call costs milliseconds in tests.
FAST_RETRIES = retry.Policy(attempts=3, base=0.001, cap=0.002, reserve=0.0)


@contextmanager
def retry_policy(policy: retry.Policy = FAST_RETRIES) -> Iterator[None]:
    """``policy`` for the handlers' retries inside the block; the default policy after it."""
    retry.set_policy(policy)
    try:
        yield
    finally:
        retry.set_policy(retry.POLICY)


@pytest.fixture
def fast_retries() -> Iterator[None]:
    """The handlers retry with FAST_RETRIES during the test."""
    with retry_policy():
        yield


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server in a thread of this process (each xdist worker has its own), bound to a
    port the system picks (port 0), so no two servers can race for one."""
    from ddbt.local import moto_patches
    from ddbt.local.server import moto_in_thread

    # As the local endpoint has them (moto_patches.apply_common): DynamoDB item operations
    # one at a time with a failed transaction undone from a journal of its writes, and the
    # patches that make moto faster with the same answers.
    moto_patches.apply_common()
    with moto_in_thread() as url:
        yield url


def reset_endpoint(endpoint: str) -> None:
    """Drop every service's state on a moto server (or the local endpoint, moto's server)."""
    requests.post(f"{endpoint}/moto-api/reset", timeout=10)


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Fake credentials and the moto endpoint in the environment; moto state reset."""
    reset_endpoint(moto_endpoint)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    aws.reset_clients()
    yield moto_endpoint
    aws.reset_clients()


@contextmanager
def local_endpoint_process(state: Path) -> Iterator[str]:
    """The patched local endpoint (``python -m ddbt.local.server``) as its own process, its URL
    yielded once it listens; terminated (killed if it does not stop) at the end."""
    state.mkdir(parents=True, exist_ok=True)
    endpoint_file = state / "endpoint"
    endpoint_file.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ddbt.local.server",
            "--port",
            "0",
            "--endpoint-file",
            str(endpoint_file),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        while not endpoint_file.exists():
            assert proc.poll() is None and time.time() < deadline, "endpoint did not start"
            time.sleep(0.05)
        yield endpoint_file.read_text().strip()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="session")
def local_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The patched local endpoint (``local_endpoint_process``), started once per session (per
    xdist worker) and shared by every test that needs it; they reset it (moto's reset) first."""
    with local_endpoint_process(tmp_path_factory.mktemp("endpoint")) as url:
        yield url


def make_client(service: str) -> Any:
    return boto3.client(
        service, region_name="us-east-1", endpoint_url=os.environ["AWS_ENDPOINT_URL"]
    )


def endpoint_client(endpoint: str, service: str, region: str = "us-east-1") -> Any:
    """A boto3 client of ``service`` on a local endpoint (moto or ``ddbt local``) with fake
    credentials, whatever the environment holds."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def offline_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials in us-east-1 and no endpoint: for clients that must not reach a server
    (a botocore Stubber answers); the handlers' clients are made again."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    aws.reset_clients()


@functools.cache
def _table_maker(endpoint: str) -> Any:
    """``make_client("dynamodb")`` for ``create_table``, made once per endpoint (the one in
    AWS_ENDPOINT_URL, which the caller passes) and process: a client costs about 10 ms of CPU
    to make. No test gets it, so none registers on it."""
    return make_client("dynamodb")


def create_table(name: str, key: str = "pk", stream: str = "") -> str:
    """An on-demand table with a string hash key; with ``stream`` (a stream view type) its
    stream enabled. Returns the stream's ARN ('' without one)."""
    ddb = _table_maker(os.environ["AWS_ENDPOINT_URL"])
    extra: dict[str, Any] = {}
    if stream:
        extra["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}
    table = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )["TableDescription"]
    return str(table.get("LatestStreamArn", ""))


@pytest.fixture(autouse=True)
def _aws_environment_restored() -> Iterator[None]:
    """``ddbt`` commands run in-process export the region and endpoint they resolved (the
    processors they run read them, as in Lambda); every test gets the environment back."""
    names = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")
    saved = {name: os.environ.get(name) for name in names}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def _fresh_handler_config() -> Iterator[None]:
    """Entry points cache their configuration per cold start; every test is a cold start."""
    from handlers import coldstart

    coldstart.reset()
    yield
    coldstart.reset()


@pytest.fixture(scope="session")
def cache_server() -> Iterator[Any]:
    """A real Valkey/Redis server on 127.0.0.1 (a free port) for the test session
    (``ddbt.local.cacheserver``: ``make test`` installs one when none is found)."""
    from ddbt.local.cacheserver import CacheServer

    server = CacheServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cache(cache_server: Any) -> Iterator[Any]:
    """A client of the session's cache server, emptied (data and scripts) for each test."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=cache_server.port, decode_responses=True)
    client.flushall()
    client.script_flush()
    yield client
    client.close()
