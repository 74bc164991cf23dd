locals {
  # The handlers' environment contract (see README "Handlers"). Empty lists are left out so the
  # handlers apply their own default instead of parsing an empty string.
  function_environment = { for k, f in local.functions : k => merge(
    var.environment_variables,
    {
      CHECKPOINT_TABLE  = local.checkpoint_table_name
      METRICS_NAMESPACE = var.metrics_namespace
      LOG_LEVEL         = var.log_level
    },
    f.handler == "handlers.pipeline.handler" ? { PROCESSORS = join(",", f.processors) } : {},
    contains(f.processors, "etl") ? {
      ETL_BUCKET = local.etl_bucket_name
      ETL_PREFIX = var.etl_prefix
    } : {},
    contains(f.processors, "notification") ? {
      NOTIFY_TOPIC_ARN = local.notification_topic_arn
      NOTIFY_EVENTS    = join(",", var.notification_events)
    } : {},
    contains(f.processors, "notification") && length(var.notification_attributes) > 0 ? {
      NOTIFY_ATTRIBUTES = join(",", var.notification_attributes)
    } : {},
    contains(f.processors, "notification") && length(var.notification_redact) > 0 ? {
      NOTIFY_REDACT = join(",", var.notification_redact)
    } : {},
    contains(f.processors, "notification") && var.notification_publish_concurrency != null ? {
      NOTIFY_PUBLISH_CONCURRENCY = tostring(var.notification_publish_concurrency)
    } : {},
    contains(f.processors, "analytics") ? {
      AGGREGATES_TABLE = local.analytics_table_name
    } : {},
    contains(f.processors, "analytics") && length(var.analytics_group_by) > 0 ? {
      ANALYTICS_GROUP_BY = join(",", var.analytics_group_by)
    } : {},
    # Optional variables are left out when unset, so the handlers apply their own default.
    contains(f.processors, "eventbus") ? {
      EVENTBUS_NAME   = local.eventbus_handler_target
      EVENTBUS_EVENTS = join(",", var.eventbus_events)
    } : {},
    contains(f.processors, "eventbus") && var.eventbus_source != null ? {
      EVENTBUS_SOURCE = var.eventbus_source
    } : {},
    contains(f.processors, "eventbus") && length(var.eventbus_redact) > 0 ? {
      EVENTBUS_REDACT = join(",", var.eventbus_redact)
    } : {},
    contains(f.processors, "eventbus") && var.eventbus_numbers != "number" ? {
      EVENTBUS_NUMBERS = var.eventbus_numbers
    } : {},
    contains(f.processors, "eventbus") && var.eventbus_publish_concurrency != null ? {
      EVENTBUS_PUBLISH_CONCURRENCY = tostring(var.eventbus_publish_concurrency)
    } : {},
    contains(f.processors, "view") ? {
      VIEW_TABLE             = local.view_table_name
      VIEW_PARTITION_KEY     = var.view_partition_key
      VIEW_WRITE_CONCURRENCY = tostring(var.view_write_concurrency)
    } : {},
    contains(f.processors, "view") && var.view_sort_key != null ? {
      VIEW_SORT_KEY = var.view_sort_key
    } : {},
    contains(f.processors, "view") && length(var.view_attributes) > 0 ? {
      VIEW_ATTRIBUTES = join(",", var.view_attributes)
    } : {},
    contains(f.processors, "view") && var.view_version_attribute != null ? {
      VIEW_VERSION_ATTRIBUTE = var.view_version_attribute
    } : {},
    contains(f.processors, "replicate") ? {
      REPLICA_TABLE               = local.replica_table_arn
      REPLICATE_WRITE_CONCURRENCY = tostring(var.replicate_write_concurrency)
    } : {},
    contains(f.processors, "replicate") && var.replicate_version_attribute != null ? {
      REPLICATE_VERSION_ATTRIBUTE = var.replicate_version_attribute
    } : {},
  ) }

  # What each mapping invokes: the alias (so a deploy can be rolled back) or the function.
  mapping_targets = { for k, f in local.functions : k => (
    var.create_alias ? try(aws_lambda_alias.this[k].arn, null) : try(aws_lambda_function.this[k].arn, null)
  ) }

  failure_destination_arns = { for k, f in local.functions : k => (
    local.failure_to_sqs ? try(aws_sqs_queue.dlq[k].arn, null) : (local.failure_to_s3 ? local.failure_bucket_arn : null)
  ) }
}

################################################################################
# Log groups (created before the functions so Lambda does not create them without retention)
################################################################################

resource "aws_cloudwatch_log_group" "this" {
  for_each = local.functions

  #checkov:skip=CKV_AWS_338:Retention is the caller's choice (log_retention_in_days, default 30 days); one year is not required for processing logs.

  name              = "/aws/lambda/${each.value.name}"
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.log_kms_key_arn

  tags = var.tags
}

################################################################################
# Functions
################################################################################

resource "aws_lambda_function" "this" {
  for_each = local.functions

  #checkov:skip=CKV_AWS_50:X-Ray tracing is not used; the handlers emit embedded metrics and structured logs.
  #checkov:skip=CKV_AWS_116:Stream-invoked functions are invoked synchronously; failed batches go to the event source mapping's on-failure destination, not a function DLQ.
  #checkov:skip=CKV_AWS_117:The functions call only AWS APIs (DynamoDB, S3, SNS, EventBridge); a VPC is not needed and would need NAT or endpoints.
  #checkov:skip=CKV_AWS_272:Code signing is optional; the code is the module's reproducible zip or the caller's S3 object.

  function_name = each.value.name
  description   = "DynamoDB stream processor (${join(", ", each.value.processors)}) of ${local.table_name}"
  role          = aws_iam_role.this[each.key].arn
  handler       = each.value.handler
  runtime       = var.runtime
  architectures = [var.architecture]
  memory_size   = local.function_settings[each.key].memory_size
  timeout       = local.function_settings[each.key].timeout
  publish       = var.publish
  kms_key_arn   = var.function_kms_key_arn

  reserved_concurrent_executions = coalesce(local.function_settings[each.key].reserved_concurrent_executions, -1)

  filename          = local.package_source.filename
  source_code_hash  = local.package_source.source_code_hash
  s3_bucket         = local.package_source.s3_bucket
  s3_key            = local.package_source.s3_key
  s3_object_version = local.package_source.s3_object_version

  environment {
    variables = local.function_environment[each.key]
  }

  tags = var.tags

  depends_on = [
    aws_cloudwatch_log_group.this,
    aws_iam_role_policy.this,
    # Inputs are checked before any function (and so any mapping) is planned.
    terraform_data.check_processors,
    terraform_data.check_stream,
    terraform_data.check_stream_readers,
    terraform_data.check_code,
    terraform_data.check_sinks,
    terraform_data.stream_change_check,
  ]
}

resource "aws_lambda_alias" "this" {
  for_each = var.create_alias ? local.functions : {}

  name             = var.alias_name
  description      = "Version the event source mapping invokes"
  function_name    = aws_lambda_function.this[each.key].function_name
  function_version = lookup(var.alias_function_versions, each.key, aws_lambda_function.this[each.key].version)
}

################################################################################
# Event source mappings: one per function, each one stream reader
################################################################################

resource "aws_lambda_event_source_mapping" "this" {
  for_each = local.functions

  event_source_arn = local.stream_arn
  function_name    = local.mapping_targets[each.key]
  enabled          = local.function_settings[each.key].enabled

  starting_position                  = local.starting_position
  batch_size                         = local.function_settings[each.key].batch_size
  maximum_batching_window_in_seconds = local.function_settings[each.key].maximum_batching_window_in_seconds
  parallelization_factor             = local.function_settings[each.key].parallelization_factor
  bisect_batch_on_function_error     = var.bisect_batch_on_function_error
  maximum_retry_attempts             = local.function_settings[each.key].maximum_retry_attempts
  maximum_record_age_in_seconds      = local.function_settings[each.key].maximum_record_age_in_seconds
  tumbling_window_in_seconds         = var.tumbling_window_in_seconds

  # The handlers always answer with batchItemFailures.
  function_response_types = ["ReportBatchItemFailures"]

  dynamic "filter_criteria" {
    for_each = length(var.filter_patterns) > 0 ? [var.filter_patterns] : []

    content {
      dynamic "filter" {
        for_each = filter_criteria.value

        content {
          pattern = filter.value
        }
      }
    }
  }
  kms_key_arn = length(var.filter_patterns) > 0 ? var.filter_criteria_kms_key_arn : null

  dynamic "destination_config" {
    for_each = var.on_failure_destination == "none" ? [] : [local.failure_destination_arns[each.key]]

    content {
      on_failure {
        destination_arn = destination_config.value
      }
    }
  }

  dynamic "metrics_config" {
    for_each = var.event_source_mapping_metrics_enabled ? [1] : []

    content {
      metrics = ["EventCount"]
    }
  }

  tags = var.tags

  # AWS checks the execution role's stream permissions when the mapping is created.
  depends_on = [aws_iam_role_policy.this]
}
