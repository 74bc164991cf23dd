"""The local endpoint process (``python -m ddbt.local.server``): its request log and its
request routing (moto_patches patch 10)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import boto3
import requests


def _serve(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    endpoint, log = tmp_path / "endpoint", tmp_path / "stderr.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ddbt.local.server", "--endpoint-file", str(endpoint), *extra],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    deadline = time.monotonic() + 60
    while not endpoint.exists():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    return proc, endpoint.read_text().strip(), log


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def test_requests_are_logged_only_with_access_log(tmp_path: Path) -> None:
    for extra, logged in (((), False), (("--access-log",), True)):
        run = tmp_path / ("on" if logged else "off")
        run.mkdir()
        proc, url, log = _serve(run, *extra)
        try:
            assert requests.get(f"{url}/_ddbt/health", timeout=10).text == "ok"
        finally:
            _stop(proc)
        assert ("GET /_ddbt/health" in log.read_text()) is logged


def test_requests_of_every_service_reach_their_backend(tmp_path: Path) -> None:
    # patch 10 keeps the backend found for a host: requests told apart by their signing
    # service (query protocol, JSON targets, REST paths) still reach the right backend
    proc, url, _ = _serve(tmp_path)
    kw = {
        "endpoint_url": url,
        "region_name": "eu-west-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    try:
        for _ in range(2):  # the second round is answered from the kept lookups
            assert boto3.client("sqs", **kw).list_queues().get("QueueUrls", []) == []
            assert boto3.client("sns", **kw).list_topics()["Topics"] == []
            assert boto3.client("dynamodb", **kw).list_tables()["TableNames"] == []
            assert boto3.client("s3", **kw).list_buckets()["Buckets"] == []
            assert boto3.client("events", **kw).list_event_buses()["EventBuses"][0]["Name"] == (
                "default"
            )
            assert boto3.client("lambda", **kw).list_functions()["Functions"] == []
    finally:
        _stop(proc)


def test_the_backend_lookup_patch_applies_once() -> None:
    # apply() is idempotent, and so is patch 10 called on its own (the tests' in-process
    # moto): a second call must not wrap the kept lookup again
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    from ddbt.local.moto_patches import patch_backend_lookup

    patch_backend_lookup()
    kept = DomainDispatcherApplication.get_backend_for_host
    patch_backend_lookup()
    assert DomainDispatcherApplication.get_backend_for_host is kept


def test_the_dynamodb_isolation_patch_applies_once() -> None:
    # patch 8 on its own (the tests' in-process moto has it too): a second call must not wrap
    # the locked operations again (each wrap would take the lock and count instances once more)
    from moto.dynamodb.models import DynamoDBBackend

    from ddbt.local.moto_patches import patch_dynamodb_isolation

    patch_dynamodb_isolation()
    kept = {name: getattr(DynamoDBBackend, name) for name in ("get_item", "transact_write_items")}
    patch_dynamodb_isolation()
    assert {name: getattr(DynamoDBBackend, name) for name in kept} == kept
