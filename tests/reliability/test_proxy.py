"""The fault proxy itself: a request it holds is forwarded before the ``with`` block ends, so
that no delayed write of one test lands in the next test's tables on the same endpoint."""

from __future__ import annotations

import threading
import time

import boto3

from tests.reliability.proxy import Proxy, ddb_op


def test_leaving_the_proxy_waits_for_a_held_write_to_land(moto_endpoint: str) -> None:
    def client(url: str) -> object:
        return boto3.client(
            "dynamodb",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    direct = client(moto_endpoint)
    direct.create_table(  # type: ignore[attr-defined]
        TableName="held",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with Proxy(moto_endpoint) as proxy:
        held = proxy.add(ddb_op("PutItem"), ("delay", 1.0))
        put = threading.Thread(
            target=client(proxy.url).put_item,  # type: ignore[attr-defined]
            kwargs={"TableName": "held", "Item": {"pk": {"S": "late"}}},
        )
        put.start()
        deadline = time.monotonic() + 10
        while held.hits == 0:
            assert time.monotonic() < deadline, "the proxy never took the write"
            time.sleep(0.01)
    # the block ended while the write was held: it has landed by now
    assert held.answered == 1
    got = direct.get_item(TableName="held", Key={"pk": {"S": "late"}})  # type: ignore[attr-defined]
    assert "Item" in got
    put.join(10)
