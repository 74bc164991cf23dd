################################################################################
# DLQ archiver (create_dlq_archiver = true, on_failure_destination = "sqs")
#
# A dead-letter queue message describes a failed batch (shard, sequence range), not its
# records, and the stream keeps records for 24 hours. One function, subscribed to every DLQ
# with an SQS event source mapping, reads the described records back from the stream within
# seconds and writes them to S3 (handlers/archiver.py): one gzip JSON Lines object per message,
# <prefix><function name>/<shardId>/<start>-<end>.jsonl.gz, that `ddbt redrive --from-s3`
# and `ddbt replay --from-archive` re-run later. Only the records the mapping's filters deliver
# are kept (it reads them with GetEventSourceMapping), and their count is checked against the
# failed batch's. Messages are deleted once archived; a message whose records already expired
# is archived alone (flagged) and alarms, as does one whose records differ from the batch.
################################################################################

locals {
  create_dlq_archiver = local.failure_to_sqs && var.create_dlq_archiver
  dlq_archiver_name   = "${var.name}-dlq-archiver"

  # The archive bucket: created with the module's bucket hardening (s3.tf) unless brought
  # (dlq_archiver_bucket_arn; sinks.tf brought_sinks).
  archiver_buckets = local.create_sink.archive_bucket ? {
    archive = {
      name            = coalesce(var.dlq_archiver_bucket_name, "${lower(var.name)}-dlq-archive-${local.account_id}")
      kms_key_arn     = var.dlq_archiver_bucket_kms_key_arn
      expiration_days = var.dlq_archiver_expiration_days
      prefix          = var.dlq_archiver_prefix
      force_destroy   = var.dlq_archiver_bucket_force_destroy
    }
  } : {}

  # The SQS event source mapping needs a queue visibility timeout of at least the function's
  # timeout; AWS recommends six times it. Without the archiver the provider default (30 s).
  dlq_visibility_timeout_seconds = local.create_dlq_archiver ? 6 * var.dlq_archiver_timeout : null

  # Each failed function's stream mapping, whose filters the archive applies: a DLQ message's
  # range also spans the records the filters dropped (handlers/archiver.py).
  dlq_archiver_source_mappings = { for k, m in aws_lambda_event_source_mapping.this : local.functions[k].name => m.uuid }

  # As the functions' kms_grants (iam.tf): input, key, the service calling KMS, actions.
  dlq_archiver_kms_grants = [for g in [
    { sid = "DecryptSourceTableStream", input = "table_kms_key_arn", key = var.table_kms_key_arn, service = "dynamodb", actions = ["kms:Decrypt"] },
    { sid = "DecryptDeadLetterQueues", input = "dlq_kms_key_arn", key = var.dlq_kms_key_arn, service = "sqs", actions = ["kms:Decrypt"] },
    { sid = "UseArchiveBucketKey", input = "dlq_archiver_bucket_kms_key_arn", key = var.dlq_archiver_bucket_kms_key_arn, service = "s3", actions = ["kms:GenerateDataKey"] },
    # GetEventSourceMapping returns encrypted filter criteria only to a caller that may decrypt them.
    { sid = "DecryptFilterCriteria", input = "filter_criteria_kms_key_arn", key = length(var.filter_patterns) > 0 ? var.filter_criteria_kms_key_arn : null, service = "lambda", actions = ["kms:Decrypt"] },
  ] : g if g.key != null]

  dlq_archiver_policy_statements = concat(
    [
      {
        Sid      = "WriteOwnLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = ["${try(aws_cloudwatch_log_group.archiver[0].arn, "")}:log-stream:*"]
      },
      {
        # The event source mapping receives and deletes messages with the function's role.
        Sid      = "ConsumeDeadLetterQueues"
        Effect   = "Allow"
        Action   = ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
        Resource = [for q in aws_sqs_queue.dlq : q.arn]
      },
      {
        # GetShardIterator AT/AFTER_SEQUENCE_NUMBER and GetRecords on the described range
        # (the message names the shard, so no DescribeStream).
        Sid      = "ReadTableStream"
        Effect   = "Allow"
        Action   = ["dynamodb:GetRecords", "dynamodb:GetShardIterator"]
        Resource = [local.stream_arn]
      },
      {
        Sid      = "WriteArchives"
        Effect   = "Allow"
        Action   = ["s3:PutObject"]
        Resource = [local.sink_arn.archive_bucket == null ? null : "${local.sink_arn.archive_bucket}/${var.dlq_archiver_prefix}*"]
      },
      {
        # The filters of the failed functions' stream mappings, by their exact ARNs.
        Sid      = "ReadSourceMappingFilters"
        Effect   = "Allow"
        Action   = ["lambda:GetEventSourceMapping"]
        Resource = distinct([for m in aws_lambda_event_source_mapping.this : m.arn])
      },
    ],
    [for g in local.dlq_archiver_kms_grants : {
      Sid       = g.sid
      Effect    = "Allow"
      Action    = g.actions
      Resource  = [g.key]
      Condition = { StringEquals = { "kms:ViaService" = "${g.service}.${try(split(":", g.key)[3], "")}.amazonaws.com" } }
    }],
  )
}

resource "aws_cloudwatch_log_group" "archiver" {
  count = local.create_dlq_archiver ? 1 : 0

  #checkov:skip=CKV_AWS_338:Retention is the caller's choice (log_retention_in_days, default 30 days); one year is not required for archiver logs.

  name              = "/aws/lambda/${local.dlq_archiver_name}"
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.log_kms_key_arn

  tags = var.tags
}

resource "aws_iam_role" "archiver" {
  count = local.create_dlq_archiver ? 1 : 0

  name               = local.dlq_archiver_name
  description        = "Execution role of the ${local.dlq_archiver_name} function"
  assume_role_policy = local.lambda_assume_role_policy

  tags = var.tags
}

resource "aws_iam_role_policy" "archiver" {
  count = local.create_dlq_archiver ? 1 : 0

  name = "least-privilege"
  role = aws_iam_role.archiver[0].id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.dlq_archiver_policy_statements
  })
}

resource "aws_lambda_function" "archiver" {
  count = local.create_dlq_archiver ? 1 : 0

  #checkov:skip=CKV_AWS_50:X-Ray tracing is not used; the archiver emits embedded metrics and structured logs.
  #checkov:skip=CKV_AWS_116:SQS-invoked: a message the archiver cannot handle stays in its dead-letter queue and is delivered again; a function DLQ would not be used.
  #checkov:skip=CKV_AWS_117:The archiver calls only AWS APIs (DynamoDB Streams, S3); a VPC is not needed and would need NAT or endpoints.
  #checkov:skip=CKV_AWS_272:Code signing is optional; the code is the module's reproducible zip or the caller's S3 object.

  function_name = local.dlq_archiver_name
  description   = "Archives the records the dead-letter queue messages of ${var.name} describe to S3"
  role          = aws_iam_role.archiver[0].arn
  handler       = "handlers.archiver.handler"
  runtime       = var.runtime
  architectures = [var.architecture]
  memory_size   = var.dlq_archiver_memory_size
  timeout       = var.dlq_archiver_timeout
  kms_key_arn   = var.function_kms_key_arn

  # Unreserved: the mappings' own SQS scaling bounds it (at most 5 pollers per queue at first).
  reserved_concurrent_executions = -1

  filename          = local.package_source.filename
  source_code_hash  = local.package_source.source_code_hash
  s3_bucket         = local.package_source.s3_bucket
  s3_key            = local.package_source.s3_key
  s3_object_version = local.package_source.s3_object_version

  environment {
    variables = {
      ARCHIVE_BUCKET    = local.sink_name.archive_bucket
      ARCHIVE_PREFIX    = var.dlq_archiver_prefix
      SOURCE_MAPPINGS   = jsonencode(local.dlq_archiver_source_mappings)
      METRICS_NAMESPACE = var.metrics_namespace
      LOG_LEVEL         = var.log_level
    }
  }

  tags = var.tags

  depends_on = [
    aws_cloudwatch_log_group.archiver,
    aws_iam_role_policy.archiver,
    terraform_data.check_code,
    terraform_data.check_dlq_archiver,
  ]
}

# One mapping per dead-letter queue; failed messages (batchItemFailures) become visible again
# after the queue's visibility timeout and are retried until the queue's retention ends.
resource "aws_lambda_event_source_mapping" "archiver" {
  for_each = local.create_dlq_archiver ? aws_sqs_queue.dlq : {}

  event_source_arn                   = each.value.arn
  function_name                      = aws_lambda_function.archiver[0].arn
  batch_size                         = 10
  maximum_batching_window_in_seconds = 0
  function_response_types            = ["ReportBatchItemFailures"]

  tags = var.tags

  # AWS checks the role's SQS permissions when the mapping is created.
  depends_on = [aws_iam_role_policy.archiver]
}

resource "aws_cloudwatch_metric_alarm" "archiver_errors" {
  count = local.create_dlq_archiver && var.create_alarms ? 1 : 0

  alarm_name          = "${local.dlq_archiver_name}-errors"
  alarm_description   = "${local.dlq_archiver_name} fails (invocation errors, or messages it could not archive yet and left for SQS to deliver again); the described records leave the stream 24 hours after they were written."
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = 1
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.ok_actions

  metric_query {
    id          = "failures"
    expression  = "FILL(errors, 0) + FILL(unarchived, 0)"
    label       = "Invocation errors plus messages left for another attempt"
    return_data = true
  }

  metric_query {
    id = "errors"

    metric {
      namespace   = "AWS/Lambda"
      metric_name = "Errors"
      dimensions  = { FunctionName = local.dlq_archiver_name }
      period      = var.alarm_period
      stat        = "Sum"
    }
  }

  metric_query {
    id = "unarchived"

    metric {
      namespace   = var.metrics_namespace
      metric_name = "ArchiveFailures"
      dimensions  = { FunctionName = local.dlq_archiver_name }
      period      = var.alarm_period
      stat        = "Sum"
    }
  }

  tags = var.tags
}

# Alarms on the archiver's message counts, keyed by the alarm name's suffix. With the archiver
# on, a DLQ holds a failure message only for seconds, too briefly for the queue-depth alarm
# (SQS metrics are sampled per minute): "archived" says a batch failed for good instead, with
# the records safe in S3.
locals {
  dlq_archiver_message_alarms = {
    not-archived = {
      metric      = "MessagesNotArchived"
      description = "${local.dlq_archiver_name} got messages whose records had already left the stream (or bodies that are not on-failure messages): kept as evidence under ${var.dlq_archiver_prefix}, but the records are lost."
    }
    mismatch = {
      metric      = "ArchiveMismatches"
      description = "${local.dlq_archiver_name} archived records that are not the failed batch (their count differs from its batchSize: the mapping's filters changed or could not be read, or ParallelizationFactor above 1): re-running them may repeat side effects; see the archive's header."
    }
    archived = {
      metric      = "MessagesArchived"
      description = "A batch failed for good and ${local.dlq_archiver_name} archived its records under ${var.dlq_archiver_prefix}: fix the cause, then re-run them (ddbt redrive --from-s3)."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "archiver_messages" {
  for_each = local.create_dlq_archiver && var.create_alarms ? local.dlq_archiver_message_alarms : {}

  alarm_name          = "${local.dlq_archiver_name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = var.metrics_namespace
  metric_name         = each.value.metric
  dimensions          = { FunctionName = local.dlq_archiver_name }
  statistic           = "Sum"
  period              = var.alarm_period
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.ok_actions

  tags = var.tags
}

moved {
  from = aws_cloudwatch_metric_alarm.archiver_records_expired[0]
  to   = aws_cloudwatch_metric_alarm.archiver_messages["not-archived"]
}

moved {
  from = aws_cloudwatch_metric_alarm.archiver_archived[0]
  to   = aws_cloudwatch_metric_alarm.archiver_messages["archived"]
}
