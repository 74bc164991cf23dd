################################################################################
# Event source mappings: one per function, each one stream reader
################################################################################

locals {
  # What each mapping invokes: the alias (so a deploy can be rolled back) or the function.
  mapping_targets = { for k, f in local.functions : k => (
    var.create_alias ? try(aws_lambda_alias.this[k].arn, null) : try(aws_lambda_function.this[k].arn, null)
  ) }
}

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

  lifecycle {
    # A tumbling window's state is documented per shard (1 MB), not how it is kept when
    # several batches of a shard run at once; analytics' window counts would depend on it.
    precondition {
      condition     = !(length(setintersection(each.value.processors, local.window_state_processors)) > 0 && coalesce(var.tumbling_window_in_seconds, 0) > 0 && local.function_settings[each.key].parallelization_factor > 1)
      error_message = "Function ${each.key} runs ${join(", ", setintersection(each.value.processors, local.window_state_processors))} with tumbling_window_in_seconds = ${coalesce(var.tumbling_window_in_seconds, 0)} and parallelization_factor = ${local.function_settings[each.key].parallelization_factor}. AWS documents a tumbling window's state as one per shard (at most 1 MB) and does not say how it is kept when several batches of a shard run at once, so its window counts cannot be exact there. Set parallelization_factor = 1 for this function (function_overrides[\"${each.key}\"].parallelization_factor = 1), or leave tumbling_window_in_seconds null."
    }
  }

  # AWS checks the execution role's stream permissions when the mapping is created.
  depends_on = [aws_iam_role_policy.this]
}
