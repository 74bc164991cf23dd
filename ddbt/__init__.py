"""ddbt: developer tooling for dynamodb-triggers (never shipped to Lambda).

``ddbt.local`` is a Docker-free local runtime: a moto endpoint that keeps DynamoDB stream
records, and pollers that deliver them to the functions Terraform deployed, with Lambda's event
source mapping semantics (batching, filters, retries, bisection, partial failures, on-failure
destinations, tumbling windows). See docs/local.md.
"""

from __future__ import annotations

__all__: list[str] = []
