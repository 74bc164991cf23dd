"""What an AWS error code means for the record that met it, per service: one table of codes to
outcomes, taken from botocore's service models (SNS, EventBridge, S3, DynamoDB) and the
services' API references, never from a flag such as SNS's ``SenderFault`` alone (SNS marks its
throttling errors ``Throttled`` and ``KMSThrottling`` as sender faults).

Outcomes (``Verdict``):

* ``RETRY``: throttling or a service-side failure. Retried within the invocation's time budget
  (``handlers.retry`` for whole calls, the publishers' resend of failed entries), then
  reported as a transient failure: Lambda redelivers the record.
* ``TRANSIENT``: not the record's fault and not worth retrying at once: permissions, a missing
  or disabled resource or key, a request the code built wrongly. Reported; Lambda redelivers
  the record until its retries or age run out (fixing the cause lets it through).
* ``POISON``: the record's own content was rejected; it can never succeed. Reported as a
  poison record (Lambda bisects down to it and sends it to the failure destination).

A code the table does not know is ``RETRY`` when botocore's standard retry mode treats it as
throttling or transient (``GENERIC_RETRY``), else ``TRANSIENT``: never ``POISON`` by guess.
Where a code applies: ``sns`` to ``PublishBatch`` (per entry, ``Failed[].Code``, and the
whole call), ``events`` to ``PutEvents`` (per entry, ``Entries[].ErrorCode``, and the whole
call), ``s3`` to ``PutObject``, ``dynamodb`` to ``PutItem``/``GetItem``/``DescribeTable`` and
the checkpoint and aggregate writes. A whole ``PublishBatch``/``PutEvents`` call that fails is
never ``POISON``: it names no entry (the publishers report it as transient).
"""

from __future__ import annotations

from enum import Enum

__all__ = ["CODES", "GENERIC_RETRY", "RETRYABLE_CODES", "Verdict", "verdict"]


class Verdict(Enum):
    RETRY = "retry"
    TRANSIENT = "transient"
    POISON = "poison"


R, T, P = Verdict.RETRY, Verdict.TRANSIENT, Verdict.POISON

# botocore's standard retry mode: its throttling and transient error codes
# (botocore/retries/standard.py), which every service may send.
GENERIC_RETRY = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)

CODES: dict[str, dict[str, Verdict]] = {
    # SNS PublishBatch (botocore sns model: the operation's error shapes, wire code in
    # "error.code"); every one but InternalError is marked senderFault.
    "sns": {
        "Throttled": R,  # HTTP 429
        "KMSThrottling": R,  # HTTP 400: the topic's KMS key (alias/aws/sns by default)
        "InternalError": R,  # HTTP 500
        "InvalidParameter": P,  # the message or its attributes
        "ParameterValueInvalid": P,
        "ValidationException": P,
        "AuthorizationError": T,
        "NotFound": T,
        "EndpointDisabled": T,
        "PlatformApplicationDisabled": T,
        "KMSDisabled": T,
        "KMSInvalidState": T,
        "KMSNotFound": T,
        "KMSOptInRequired": T,
        "KMSAccessDenied": T,
        "InvalidSecurity": T,
        # The request as a whole (built by this code): never one record's fault.
        "BatchEntryIdsNotDistinct": T,
        "BatchRequestTooLong": T,
        "EmptyBatchRequest": T,
        "InvalidBatchEntryId": T,
        "TooManyEntriesInBatchRequest": T,
    },
    # EventBridge PutEvents: per-entry codes from the model's PutEventsResultEntry.ErrorCode
    # ("retryable errors include ...", "non-retryable errors include ..."); the operation's
    # own error shape is InternalException (HTTP 500).
    "events": {
        "InternalFailure": R,
        "ThrottlingException": R,
        "InternalException": R,
        "MalformedDetail": P,
        "AccessDeniedException": T,
        "InvalidAccountIdException": T,
        "InvalidArgument": T,  # e.g. a missing DetailType: how entries are built, not a record
        "RedactionFailure": T,
        "NotAuthorizedForSourceException": T,
        "NotAuthorizedForDetailTypeException": T,
    },
    # S3 PutObject (botocore s3 model: the operation's errors and the service's AccessDenied
    # and NoSuchBucket shapes; SlowDown, InternalError, ServiceUnavailable and RequestTimeout
    # from the S3 API reference's error codes). An object holds many records: never POISON.
    "s3": {
        "SlowDown": R,  # HTTP 503
        "InternalError": R,  # HTTP 500
        "ServiceUnavailable": R,  # HTTP 503
        "RequestTimeout": R,  # HTTP 400
        "AccessDenied": T,
        "NoSuchBucket": T,
        "InvalidRequest": T,
        "InvalidWriteOffset": T,
        "TooManyParts": T,
        "EncryptionTypeMismatch": T,
    },
    # DynamoDB PutItem (botocore dynamodb model: the operation's error shapes; JSON protocol,
    # the wire code is the shape name) plus the JSON protocol's common validation errors.
    # ConditionalCheckFailedException is an answer (newer data is there), handled before.
    "dynamodb": {
        "ProvisionedThroughputExceededException": R,
        "ThrottlingException": R,
        "RequestLimitExceeded": R,
        "InternalServerError": R,
        "TransactionConflictException": R,
        "ReplicatedWriteConflictException": R,  # modified by a request in another region
        "ValidationException": P,  # the item (key type, size, an invalid value)
        "SerializationException": P,
        "ResourceNotFoundException": T,
        "ItemCollectionSizeLimitExceededException": T,  # a local index's collection is full
        "AccessDeniedException": T,
        "UnrecognizedClientException": T,
    },
}

# Codes worth retrying within the invocation, whatever the service: handlers.retry's list
# (KMSThrottlingException: what KMS itself sends, and services that pass its error on).
RETRYABLE_CODES = (
    GENERIC_RETRY
    | {"KMSThrottlingException"}
    | {code for table in CODES.values() for code, found in table.items() if found is Verdict.RETRY}
)


def verdict(service: str, code: str) -> Verdict:
    """The outcome of error ``code`` from ``service`` (``sns``, ``events``, ``s3``,
    ``dynamodb``)."""
    found = CODES[service].get(code)
    if found is not None:
        return found
    return Verdict.RETRY if code in GENERIC_RETRY else Verdict.TRANSIENT
