# Every variable validation rejects bad input (expect_failures), in the manner of
# aws-ia/terraform-aws-vpc tests/validations.tftest.hcl. To keep the suite fast, each run sets
# many invalid variables at once and expects every one of them to fail: a validation that
# wrongly accepts its value shows up as a missing expected failure for that variable.
# tests/terraform/test_validations_covered.py checks that every validation block has a case.

mock_provider "aws" {
  override_during = plan
  source          = "./tests/mocks/plan"
}

variables {
  name = "test"
}

run "valid_defaults" {
  command = plan
}

run "invalid_inputs_1" {
  command = plan

  variables {
    name                                      = "a-name-that-is-far-too-long-for-the-module-limits"
    table_name                                = "ab"
    table_hash_key                            = ""
    table_hash_key_type                       = "BOOL"
    table_range_key                           = ""
    table_range_key_type                      = "M"
    table_billing_mode                        = "ON_DEMAND"
    table_read_capacity                       = 0
    table_write_capacity                      = 0
    table_kms_key_arn                         = "arn:aws:kms:us-east-1:123456789012:alias/not-a-key"
    table_ttl_attribute_name                  = ""
    stream_view_type                          = "new_and_old_images"
    stream_arn                                = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
    additional_stream_readers                 = -1
    function_layout                           = "per-processor"
    runtime                                   = "python3.11"
    architecture                              = "arm"
    memory_size                               = 64
    timeout                                   = 901
    reserved_concurrent_executions            = -1
    function_overrides                        = { ingest = { memory_size = 512 } }
    log_level                                 = "TRACE"
    metrics_namespace                         = "AWS/Lambda"
    environment_variables                     = { CHECKPOINT_TABLE = "other" }
    function_kms_key_arn                      = "arn:aws:kms:us-east-1:123456789012:alias/not-a-key"
    local_package_path                        = "handlers/"
    s3_package                                = { bucket = "artifacts", key = "handlers.tar.gz" } # not a zip
    alias_name                                = "42"
    alias_function_versions                   = { pipeline = "$LATEST" }
    log_retention_in_days                     = 10
    log_kms_key_arn                           = "arn:aws:kms:us-east-1:123456789012:alias/not-a-key"
    batch_size                                = 0
    maximum_batching_window_in_seconds        = 301
    starting_position                         = "AT_TIMESTAMP"
    parallelization_factor                    = 11
    maximum_retry_attempts                    = -2
    maximum_record_age_in_seconds             = 59
    tumbling_window_in_seconds                = 901
    filter_patterns                           = [for i in range(6) : jsonencode({ eventName = ["INSERT"] })]
    filter_criteria_kms_key_arn               = "arn:aws:kms:us-east-1:123456789012:alias/not-a-key"
    on_failure_destination                    = "sns"
    dlq_message_retention_seconds             = 1209601
    dlq_kms_key_arn                           = "arn:aws:kms:us-east-1:123456789012:alias/not-a-key"
    failure_bucket_arn                        = "my-bucket"
    failure_bucket_name                       = "My-Bucket"
    failure_bucket_kms_key_arn                = "arn:aws:kms:us-east-1:123456789012:alias/not-a-key"
    failure_bucket_expiration_days            = 0
    etl_prefix                                = "/changes/"
    etl_bucket_arn                            = "s3://my-bucket"
    etl_bucket_name                           = "my_bucket"
    etl_bucket_kms_key_arn                    = "arn:aws:kms:us-east-1:123456789012:alias/not-a-key"
    etl_bucket_expiration_days                = 0
    bucket_noncurrent_version_expiration_days = 0
    notification_events                       = []
    notification_attributes                   = ["status,stage"]
    notification_redact                       = ["email", "email"]
    notification_topic_arn                    = "arn:aws:sqs:us-east-1:123456789012:queue"
    notification_topic_kms_key_arn            = "arn:aws:kms:us-east-1:123456789012:alias/not-a-key"
    analytics_group_by                        = [""]
    analytics_table_arn                       = "arn:aws:dynamodb:us-east-1:123456789012:table/agg/stream/2024-01-01T00:00:00.000"
    analytics_table_kms_key_arn               = "arn:aws:kms:us-east-1:123456789012:alias/not-a-key"
    checkpoint_table_arn                      = "checkpoints"
    checkpoint_table_billing_mode             = "ON_DEMAND"
    checkpoint_table_read_capacity            = 0
    checkpoint_table_write_capacity           = 0
    checkpoint_table_kms_key_arn              = "arn:aws:kms:us-east-1:123456789012:alias/not-a-key"
    alarm_actions                             = ["ops@example.com"]
    ok_actions                                = ["ops@example.com"]
    alarm_iterator_age_threshold_ms           = 0
    alarm_errors_threshold                    = -1
    alarm_throttles_threshold                 = -1
    alarm_period                              = 90
    alarm_evaluation_periods                  = 0
  }

  expect_failures = [
    var.name,
    var.table_name,
    var.table_hash_key,
    var.table_hash_key_type,
    var.table_range_key,
    var.table_range_key_type,
    var.table_billing_mode,
    var.table_read_capacity,
    var.table_write_capacity,
    var.table_kms_key_arn,
    var.table_ttl_attribute_name,
    var.stream_view_type,
    var.stream_arn,
    var.additional_stream_readers,
    var.function_layout,
    var.runtime,
    var.architecture,
    var.memory_size,
    var.timeout,
    var.reserved_concurrent_executions,
    var.function_overrides,
    var.log_level,
    var.metrics_namespace,
    var.environment_variables,
    var.function_kms_key_arn,
    var.local_package_path,
    var.s3_package,
    var.alias_name,
    var.alias_function_versions,
    var.log_retention_in_days,
    var.log_kms_key_arn,
    var.batch_size,
    var.maximum_batching_window_in_seconds,
    var.starting_position,
    var.parallelization_factor,
    var.maximum_retry_attempts,
    var.maximum_record_age_in_seconds,
    var.tumbling_window_in_seconds,
    var.filter_patterns,
    var.filter_criteria_kms_key_arn,
    var.on_failure_destination,
    var.dlq_message_retention_seconds,
    var.dlq_kms_key_arn,
    var.failure_bucket_arn,
    var.failure_bucket_name,
    var.failure_bucket_kms_key_arn,
    var.failure_bucket_expiration_days,
    var.etl_prefix,
    var.etl_bucket_arn,
    var.etl_bucket_name,
    var.etl_bucket_kms_key_arn,
    var.etl_bucket_expiration_days,
    var.bucket_noncurrent_version_expiration_days,
    var.notification_events,
    var.notification_attributes,
    var.notification_redact,
    var.notification_topic_arn,
    var.notification_topic_kms_key_arn,
    var.analytics_group_by,
    var.analytics_table_arn,
    var.analytics_table_kms_key_arn,
    var.checkpoint_table_arn,
    var.checkpoint_table_billing_mode,
    var.checkpoint_table_read_capacity,
    var.checkpoint_table_write_capacity,
    var.checkpoint_table_kms_key_arn,
    var.alarm_actions,
    var.ok_actions,
    var.alarm_iterator_age_threshold_ms,
    var.alarm_errors_threshold,
    var.alarm_throttles_threshold,
    var.alarm_period,
    var.alarm_evaluation_periods,
  ]
}

run "invalid_inputs_2" {
  command = plan

  variables {
    name                          = "my_app"
    stream_view_type              = "FULL"
    runtime                       = "nodejs20.x"
    function_overrides            = { pipeline = { timeout = 0 } }
    environment_variables         = { AWS_REGION = "eu-west-1" }
    batch_size                    = 10001
    maximum_record_age_in_seconds = 604801
    filter_patterns               = [jsonencode({ dynamodb = { Keys = { id = { S = [for i in range(500) : "value-${i}"] } } } })]
    etl_prefix                    = "changes"
    notification_events           = ["UPDATE"]
  }

  expect_failures = [
    var.name,
    var.stream_view_type,
    var.runtime,
    var.function_overrides,
    var.environment_variables,
    var.batch_size,
    var.maximum_record_age_in_seconds,
    var.filter_patterns,
    var.etl_prefix,
    var.notification_events,
  ]
}

run "invalid_inputs_3" {
  command = plan

  variables {
    function_overrides  = { pipeline = { batch_size = 20000 } }
    filter_patterns     = ["{eventName: [MODIFY]}"]
    etl_prefix          = "changes/../other/"
    notification_events = ["MODIFY", "MODIFY"]
  }

  expect_failures = [
    var.function_overrides,
    var.filter_patterns,
    var.etl_prefix,
    var.notification_events,
  ]
}

run "invalid_inputs_4" {
  command = plan

  variables {
    filter_patterns = [jsonencode({ awsRegion = ["us-east-1"] })]
  }

  expect_failures = [
    var.filter_patterns,
  ]
}

run "invalid_inputs_5" {
  command = plan

  variables {
    filter_patterns = [jsonencode({ dynamodb = { Image = { status = { S = ["OFFER"] } } } })]
  }

  expect_failures = [
    var.filter_patterns,
  ]
}

run "invalid_inputs_6" {
  command = plan

  variables {
    filter_patterns = [jsonencode({ dynamodb = { NewImage = { status = ["OFFER"] } } })]
  }

  expect_failures = [
    var.filter_patterns,
  ]
}
