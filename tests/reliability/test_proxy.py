"""The fault proxy itself: a request it holds is forwarded before the ``with`` block ends, so
that no delayed write of one test lands in the next test's tables on the same endpoint."""

from __future__ import annotations

import threading
import time

from tests.conftest import create_table, endpoint_client, make_client
from tests.reliability.proxy import Proxy, ddb_op


def test_leaving_the_proxy_waits_for_a_held_write_to_land(aws_env: str) -> None:
    create_table("held")
    with Proxy(aws_env) as proxy:
        held = proxy.add(ddb_op("PutItem"), ("delay", 1.0))
        put = threading.Thread(
            target=endpoint_client(proxy.url, "dynamodb").put_item,
            kwargs={"TableName": "held", "Item": {"pk": {"S": "late"}}},
        )
        put.start()
        deadline = time.monotonic() + 10
        while held.hits == 0:
            assert time.monotonic() < deadline, "the proxy never took the write"
            time.sleep(0.01)
    # the block ended while the write was held: it has landed by now
    assert held.answered == 1
    got = make_client("dynamodb").get_item(TableName="held", Key={"pk": {"S": "late"}})
    assert "Item" in got
    put.join(10)
