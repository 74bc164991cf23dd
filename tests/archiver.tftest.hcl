# DLQ archiver (archiver.tf): off by default; on, one function with one SQS mapping per
# dead-letter queue, an exact least-privilege policy, a hardened archive bucket (or a brought
# one), DLQ visibility timeouts that suit an SQS mapping, alarms; inputs checked at plan time.

mock_provider "aws" {
  override_during = plan
  source          = "./tests/mocks/plan"
}

variables {
  name = "test"
}

override_resource {
  target          = aws_cloudwatch_log_group.archiver[0]
  override_during = plan
  values = {
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/test-dlq-archiver"
  }
}

override_resource {
  target          = aws_s3_bucket.this["archive"]
  override_during = plan
  values = {
    arn = "arn:aws:s3:::test-dlq-archive-123456789012"
    id  = "test-dlq-archive-123456789012"
  }
}

override_resource {
  target          = aws_lambda_function.archiver[0]
  override_during = plan
  values = {
    arn = "arn:aws:lambda:us-east-1:123456789012:function:test-dlq-archiver"
  }
}

run "off_by_default" {
  command = plan

  assert {
    condition     = length(aws_lambda_function.archiver) + length(aws_lambda_event_source_mapping.archiver) + length(aws_iam_role.archiver) + length(aws_cloudwatch_metric_alarm.archiver_errors) == 0
    error_message = "The archiver must not be created unless create_dlq_archiver = true."
  }
  assert {
    condition     = !contains(keys(aws_s3_bucket.this), "archive") && output.dlq_archiver_function_name == null && output.dlq_archive_bucket_name == null
    error_message = "No archive bucket (and null outputs) without the archiver."
  }
  assert {
    condition     = aws_sqs_queue.dlq["pipeline"].visibility_timeout_seconds != 360
    error_message = "Without the archiver the DLQ keeps the provider's visibility timeout."
  }
}

run "one_function_one_mapping_per_dlq" {
  command = plan

  variables {
    create_dlq_archiver         = true
    function_layout             = "separate"
    allow_excess_stream_readers = true
  }

  # Each processor's stream mapping, whose filters the archiver reads.
  override_resource {
    target          = aws_lambda_event_source_mapping.this["analytics"]
    override_during = plan
    values = {
      uuid = "00000000-0000-4000-8000-00000000a001"
      arn  = "arn:aws:lambda:us-east-1:123456789012:event-source-mapping:00000000-0000-4000-8000-00000000a001"
    }
  }
  override_resource {
    target          = aws_lambda_event_source_mapping.this["etl"]
    override_during = plan
    values = {
      uuid = "00000000-0000-4000-8000-00000000e002"
      arn  = "arn:aws:lambda:us-east-1:123456789012:event-source-mapping:00000000-0000-4000-8000-00000000e002"
    }
  }
  override_resource {
    target          = aws_lambda_event_source_mapping.this["notification"]
    override_during = plan
    values = {
      uuid = "00000000-0000-4000-8000-00000000f003"
      arn  = "arn:aws:lambda:us-east-1:123456789012:event-source-mapping:00000000-0000-4000-8000-00000000f003"
    }
  }

  assert {
    condition     = length(aws_lambda_function.archiver) == 1 && aws_lambda_function.archiver[0].function_name == "test-dlq-archiver" && aws_lambda_function.archiver[0].handler == "handlers.archiver.handler" && aws_lambda_function.archiver[0].timeout == 60 && aws_lambda_function.archiver[0].memory_size == 256
    error_message = "One archiver function, handlers.archiver.handler, 60 s, 256 MB."
  }
  assert {
    condition = aws_lambda_function.archiver[0].environment[0].variables == tomap({
      ARCHIVE_BUCKET = "test-dlq-archive-123456789012"
      ARCHIVE_PREFIX = "dlq-archive/"
      SOURCE_MAPPINGS = jsonencode({
        test-analytics    = "00000000-0000-4000-8000-00000000a001"
        test-etl          = "00000000-0000-4000-8000-00000000e002"
        test-notification = "00000000-0000-4000-8000-00000000f003"
      })
      METRICS_NAMESPACE = "DynamoDBTriggers"
      LOG_LEVEL         = "INFO"
    })
    error_message = "Environment: ${jsonencode(aws_lambda_function.archiver[0].environment[0].variables)}"
  }
  assert {
    condition     = join(",", sort(keys(aws_lambda_event_source_mapping.archiver))) == "analytics,etl,notification"
    error_message = "One SQS mapping per dead-letter queue."
  }
  assert {
    condition = alltrue([for k, m in aws_lambda_event_source_mapping.archiver :
      m.event_source_arn == "arn:aws:sqs:us-east-1:123456789012:test-${k}-dlq" &&
      m.function_name == "arn:aws:lambda:us-east-1:123456789012:function:test-dlq-archiver" &&
      m.function_response_types == toset(["ReportBatchItemFailures"]) &&
      m.batch_size == 10 && m.maximum_batching_window_in_seconds == 0
    ])
    error_message = "Each mapping reads its DLQ into the archiver, reports failed messages, without a batching window."
  }
  assert {
    condition     = alltrue([for q in aws_sqs_queue.dlq : q.visibility_timeout_seconds == 360])
    error_message = "The DLQs' visibility timeout must be six times the archiver's timeout."
  }
  assert {
    condition = { for s in jsondecode(aws_iam_role_policy.archiver[0].policy).Statement : s.Sid => [s.Effect, s.Action, s.Resource] } == {
      WriteOwnLogs = ["Allow", ["logs:CreateLogStream", "logs:PutLogEvents"], ["arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/test-dlq-archiver:log-stream:*"]]
      ConsumeDeadLetterQueues = ["Allow", ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"], [
        "arn:aws:sqs:us-east-1:123456789012:test-analytics-dlq",
        "arn:aws:sqs:us-east-1:123456789012:test-etl-dlq",
        "arn:aws:sqs:us-east-1:123456789012:test-notification-dlq",
      ]]
      ReadTableStream = ["Allow", ["dynamodb:GetRecords", "dynamodb:GetShardIterator"], ["arn:aws:dynamodb:us-east-1:123456789012:table/test/stream/2024-01-01T00:00:00.000"]]
      WriteArchives   = ["Allow", ["s3:PutObject"], ["arn:aws:s3:::test-dlq-archive-123456789012/dlq-archive/*"]]
      ReadSourceMappingFilters = ["Allow", ["lambda:GetEventSourceMapping"], [
        "arn:aws:lambda:us-east-1:123456789012:event-source-mapping:00000000-0000-4000-8000-00000000a001",
        "arn:aws:lambda:us-east-1:123456789012:event-source-mapping:00000000-0000-4000-8000-00000000e002",
        "arn:aws:lambda:us-east-1:123456789012:event-source-mapping:00000000-0000-4000-8000-00000000f003",
      ]]
    }
    error_message = "Archiver policy: ${aws_iam_role_policy.archiver[0].policy}"
  }
  assert {
    condition     = aws_s3_bucket.this["archive"].bucket == "test-dlq-archive-123456789012" && one(aws_s3_bucket_server_side_encryption_configuration.this["archive"].rule).apply_server_side_encryption_by_default[0].sse_algorithm == "AES256" && aws_s3_bucket_public_access_block.this["archive"].block_public_policy && anytrue([for s in jsondecode(aws_s3_bucket_policy.this["archive"].policy).Statement : s.Effect == "Deny" && s.Condition.Bool["aws:SecureTransport"] == "false"])
    error_message = "The archive bucket gets the module's hardening (encryption, public access block, TLS only)."
  }
  assert {
    condition     = [for r in aws_s3_bucket_lifecycle_configuration.this["archive"].rule : [r.filter[0].prefix, r.expiration[0].days] if r.id == "expire-objects"] == [["dlq-archive/", 90]]
    error_message = "Archives expire after dlq_archiver_expiration_days (90) under the prefix."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.archiver_messages["not-archived"].metric_name == "MessagesNotArchived" && aws_cloudwatch_metric_alarm.archiver_messages["not-archived"].dimensions == tomap({ FunctionName = "test-dlq-archiver" }) && length([for q in aws_cloudwatch_metric_alarm.archiver_errors[0].metric_query : q if q.return_data == true]) == 1
    error_message = "Alarms on the archiver's errors and on messages whose records expired."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.archiver_messages["mismatch"].metric_name == "ArchiveMismatches" && aws_cloudwatch_metric_alarm.archiver_messages["mismatch"].threshold == 0
    error_message = "An alarm says an archive holds records that are not the failed batch."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.archiver_messages["archived"].metric_name == "MessagesArchived" && aws_cloudwatch_metric_alarm.archiver_messages["archived"].dimensions == tomap({ FunctionName = "test-dlq-archiver" }) && aws_cloudwatch_metric_alarm.archiver_messages["archived"].threshold == 0
    error_message = "An alarm says a batch failed for good and was archived (the DLQ holds it too briefly for its depth alarm)."
  }
  assert {
    condition     = output.dlq_archive_bucket_name == "test-dlq-archive-123456789012" && output.dlq_archive_prefix == "dlq-archive/" && length(output.dlq_archiver_event_source_mapping_uuids) == 3
    error_message = "Outputs name the archive location and the mappings."
  }
}

run "brought_bucket_and_keys" {
  command = plan

  variables {
    create_dlq_archiver             = true
    dlq_archiver_bucket_arn         = "arn:aws:s3:::company-archive"
    dlq_archiver_bucket_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-0000000a4c41"
    dlq_kms_key_arn                 = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-0000000d1a00"
    table_kms_key_arn               = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-00000007ab1e"
    dlq_archiver_prefix             = "ops/dlq/"
    dlq_archiver_timeout            = 120
    filter_patterns                 = ["{\"eventName\":[\"MODIFY\"]}"]
    filter_criteria_kms_key_arn     = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-0000000f1170"
  }

  assert {
    condition     = !contains(keys(aws_s3_bucket.this), "archive") && aws_lambda_function.archiver[0].environment[0].variables["ARCHIVE_BUCKET"] == "company-archive" && aws_lambda_function.archiver[0].environment[0].variables["ARCHIVE_PREFIX"] == "ops/dlq/"
    error_message = "A brought bucket is used, not created."
  }
  assert {
    condition = { for s in jsondecode(aws_iam_role_policy.archiver[0].policy).Statement : s.Sid => [s.Action, s.Resource] if !contains(["WriteOwnLogs", "ReadTableStream", "ReadSourceMappingFilters"], s.Sid) } == {
      ConsumeDeadLetterQueues  = [["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"], ["arn:aws:sqs:us-east-1:123456789012:test-pipeline-dlq"]]
      WriteArchives            = [["s3:PutObject"], ["arn:aws:s3:::company-archive/ops/dlq/*"]]
      DecryptSourceTableStream = [["kms:Decrypt"], ["arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-00000007ab1e"]]
      DecryptDeadLetterQueues  = [["kms:Decrypt"], ["arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-0000000d1a00"]]
      UseArchiveBucketKey      = [["kms:GenerateDataKey"], ["arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-0000000a4c41"]]
      DecryptFilterCriteria    = [["kms:Decrypt"], ["arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-0000000f1170"]]
    }
    error_message = "Archiver policy with keys: ${aws_iam_role_policy.archiver[0].policy}"
  }
  assert {
    condition = { for s in jsondecode(aws_iam_role_policy.archiver[0].policy).Statement : s.Sid => s.Condition.StringEquals["kms:ViaService"] if startswith(s.Action[0], "kms:") } == {
      DecryptSourceTableStream = "dynamodb.us-east-1.amazonaws.com"
      DecryptDeadLetterQueues  = "sqs.us-east-1.amazonaws.com"
      UseArchiveBucketKey      = "s3.us-east-1.amazonaws.com"
      DecryptFilterCriteria    = "lambda.us-east-1.amazonaws.com"
    }
    error_message = "The archiver's KMS statements are scoped to the service holding the data (kms:ViaService)."
  }
  assert {
    condition     = aws_sqs_queue.dlq["pipeline"].visibility_timeout_seconds == 720 && keys(aws_lambda_event_source_mapping.archiver) == ["pipeline"]
    error_message = "Visibility timeout follows dlq_archiver_timeout; one mapping for the one DLQ."
  }
}

run "needs_an_sqs_destination" {
  command = plan

  variables {
    create_dlq_archiver    = true
    on_failure_destination = "s3"
  }

  expect_failures = [terraform_data.check_dlq_archiver]
}

# The archiver's single-input rules are validation blocks on its variables (checked whether or
# not the archiver is on, like every other validation).
run "rejects_an_unsafe_prefix" {
  command = plan

  variables {
    create_dlq_archiver = true
    dlq_archiver_prefix = "../elsewhere/"
  }

  expect_failures = [var.dlq_archiver_prefix]
}

run "rejects_a_prefix_that_is_not_a_folder" {
  command = plan

  variables {
    dlq_archiver_prefix = "dlq archive"
  }

  expect_failures = [var.dlq_archiver_prefix]
}

run "rejects_a_timeout_out_of_range" {
  command = plan

  variables {
    create_dlq_archiver  = true
    dlq_archiver_timeout = 901
  }

  expect_failures = [var.dlq_archiver_timeout]
}

run "rejects_a_timeout_below_ten_seconds" {
  command = plan

  variables {
    dlq_archiver_timeout = 9
  }

  expect_failures = [var.dlq_archiver_timeout]
}

run "rejects_a_bucket_arn_that_is_not_one" {
  command = plan

  variables {
    dlq_archiver_bucket_arn = "company-archive"
  }

  expect_failures = [var.dlq_archiver_bucket_arn]
}

run "rejects_a_kms_key_arn_that_is_not_one" {
  command = plan

  variables {
    dlq_archiver_bucket_kms_key_arn = "alias/archive"
  }

  expect_failures = [var.dlq_archiver_bucket_kms_key_arn]
}

run "rejects_an_expiration_below_one_day" {
  command = plan

  variables {
    dlq_archiver_expiration_days = 0
  }

  expect_failures = [var.dlq_archiver_expiration_days]
}
