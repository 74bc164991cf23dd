"""Lambda processors for DynamoDB stream records: analytics, notification, ETL to S3.

Entry points: ``handlers.analytics.handler``, ``handlers.notification.handler``,
``handlers.etl.handler`` and ``handlers.pipeline.handler``. Only the standard library and
boto3 (provided by the Lambda runtime) are used.
"""

__all__: list[str] = []
