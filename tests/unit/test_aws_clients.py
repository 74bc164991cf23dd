"""handlers.aws: clients made lazily, once per runtime (even when processors running at once
ask together), with a connection pool sized to the calls the processors make at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import botocore.endpoint
import pytest

from handlers import aws, coldstart, eventbus, notification, pipeline, replicate, view
from tests.conftest import offline_aws

TOPIC = "arn:aws:sns:us-east-1:123456789012:changes"
REPLICA = "arn:aws:dynamodb:us-west-2:123456789012:table/replica"


@pytest.fixture(autouse=True)
def region(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    offline_aws(monkeypatch)
    coldstart.reset()
    yield
    aws.reset_clients()
    coldstart.reset()


def pool(client: Any) -> int:
    return int(client.meta.config.max_pool_connections)


def test_the_default_pool_is_botocores_and_the_publishers_default_to_it() -> None:
    assert aws.DEFAULT_POOL == botocore.endpoint.MAX_POOL_CONNECTIONS
    assert notification.build({"NOTIFY_TOPIC_ARN": TOPIC}).workers == aws.DEFAULT_POOL
    assert eventbus.build({"EVENTBUS_NAME": "bus"}).workers == aws.DEFAULT_POOL
    assert pool(aws.client("sns")) == aws.DEFAULT_POOL


def test_building_reserves_connections_and_makes_no_client() -> None:
    env = {
        "PROCESSORS": "notification,eventbus,view,replicate",
        "CHECKPOINT_TABLE": "checkpoints",
        "NOTIFY_TOPIC_ARN": TOPIC,
        "NOTIFY_PUBLISH_CONCURRENCY": "32",
        "EVENTBUS_NAME": "bus",
        "VIEW_TABLE": "view",
        "VIEW_PARTITION_KEY": "pk",
        "VIEW_WRITE_CONCURRENCY": "30",
        "REPLICA_TABLE": "replica",  # a name: the function's region, the view's client
        "REPLICATE_WRITE_CONCURRENCY": "25",
    }
    pipeline.build(env)
    assert aws._clients == {}  # lazily: built, but no client made yet
    assert aws.pool_size("sns") == 32
    assert aws.pool_size("events") == aws.DEFAULT_POOL
    assert aws.pool_size("dynamodb") == 55  # view and replicate share the client
    assert aws.pool_size("dynamodb", "us-east-1") == 55  # the function's region, spelled out
    assert pool(aws.client("sns")) == 32 and pool(aws.client("dynamodb")) == 55
    pipeline.build(env)  # a processor built again replaces its reservation
    assert aws.pool_size("dynamodb") == 55


def test_a_replica_in_another_region_has_its_own_client_and_pool() -> None:
    replicate.build({"REPLICA_TABLE": REPLICA, "REPLICATE_WRITE_CONCURRENCY": "40"})
    view.build({"VIEW_TABLE": "view", "VIEW_PARTITION_KEY": "pk"})
    west = aws.client("dynamodb", "us-west-2")
    assert west.meta.region_name == "us-west-2" and pool(west) == 40
    assert pool(aws.client("dynamodb")) == 20  # the view's default, in the function's region
    assert west is not aws.client("dynamodb")


def test_a_client_is_made_once_when_threads_ask_together() -> None:
    start = threading.Barrier(8, timeout=10)
    got: list[Any] = []

    def ask() -> None:
        start.wait()
        got.append(aws.client("s3"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 8 and all(c is got[0] for c in got)
    assert aws.client("s3") is got[0]
