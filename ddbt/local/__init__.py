"""The local runtime: a moto endpoint that keeps DynamoDB stream records (``server``,
``moto_patches``), and pollers that deliver them to the deployed functions with Lambda's
event source mapping rules (``runtime``, ``stream_poller``, ``queue_poller``, ``engine``,
``functions``, ``worker``). See docs/local.md."""

__all__: list[str] = []
