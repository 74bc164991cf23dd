"""Lambda processors for DynamoDB stream records.

Entry points: ``handlers.<processor>.handler`` for each processor of ``handlers.registry``,
``handlers.pipeline.handler`` (several of them over one batch) and
``handlers.archiver.handler`` (the DLQ archiver). Only the standard library and boto3
(provided by the Lambda runtime) are used.
"""

__all__: list[str] = []
