################################################################################
# Alarms: per function IteratorAge, Errors, Throttles, DestinationDeliveryFailures and the stall
# alarm; per mapping its dropped and failed-invoke events (and, with an S3 destination, the
# events sent there); per dead-letter queue its depth; per function and processor the handlers'
# RecordsFailed; per event bus rule with a target its FailedInvocations. docs/reliability.md
# lists every way records can expire unseen and which of these catches it.
################################################################################

resource "aws_cloudwatch_metric_alarm" "iterator_age" {
  for_each = var.create_alarms ? local.functions : {}

  alarm_name          = "${each.value.name}-iterator-age"
  alarm_description   = "${each.value.name} is behind the stream: records wait more than ${var.alarm_iterator_age_threshold_ms} ms (the stream drops them after 24 hours)."
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = each.value.name }
  statistic           = "Maximum"
  period              = var.alarm_period
  evaluation_periods  = var.alarm_evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_iterator_age_threshold_ms
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.ok_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  for_each = var.create_alarms ? local.functions : {}

  alarm_name          = "${each.value.name}-errors"
  alarm_description   = "${each.value.name} invocations fail (the batch is retried, bisected, then sent to the on-failure destination)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value.name }
  statistic           = "Sum"
  period              = var.alarm_period
  evaluation_periods  = var.alarm_evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_errors_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.ok_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "throttles" {
  for_each = var.create_alarms ? local.functions : {}

  alarm_name          = "${each.value.name}-throttles"
  alarm_description   = "${each.value.name} is throttled (reserved or account concurrency); the stream backs up."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = each.value.name }
  statistic           = "Sum"
  period              = var.alarm_period
  evaluation_periods  = var.alarm_evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_throttles_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.ok_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "dlq" {
  for_each = var.create_alarms ? aws_sqs_queue.dlq : {}

  alarm_name          = "${each.value.name}-not-empty"
  alarm_description   = "Batches of ${local.functions[each.key].name} were given up on; each message names a shard and sequence range whose records expire from the stream after 24 hours."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value.name }
  statistic           = "Maximum"
  period              = var.alarm_period
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.ok_actions

  tags = var.tags
}

# The handlers' EMF metric (namespace METRICS_NAMESPACE, dimensions Function and Processor): records
# reported as batch item failures (sink errors, poison records, time) by each processor. This is
# where a sink's own failures show, e.g. PutEvents entries EventBridge rejected: an event bus has
# no failure metric of its own for the events published to it.
resource "aws_cloudwatch_metric_alarm" "records_failed" {
  for_each = var.create_alarms ? local.processor_series : {}

  alarm_name          = "${each.value.function}-${each.value.processor}-records-failed"
  alarm_description   = "The ${each.value.processor} processor of ${each.value.function} reports failed records (retried from the first failure; see the function's logs)."
  namespace           = var.metrics_namespace
  metric_name         = "RecordsFailed"
  dimensions          = { Function = each.value.function, Processor = each.value.processor }
  statistic           = "Sum"
  period              = var.alarm_period
  evaluation_periods  = var.alarm_evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_records_failed_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.ok_actions

  tags = var.tags
}

# Deliveries from a rule to its target that failed permanently. Metrics of rules on a custom bus
# carry EventBusName and RuleName, those of the default bus RuleName only.
resource "aws_cloudwatch_metric_alarm" "eventbus_rule_failed" {
  for_each = var.create_alarms ? { for k, r in local.eventbus_rules : k => r if length(r.targets) > 0 } : {}

  alarm_name        = "${aws_cloudwatch_event_rule.this[each.key].name}-failed-invocations"
  alarm_description = "Rule ${aws_cloudwatch_event_rule.this[each.key].name} could not deliver change events to its target(s) (${join(", ", keys(each.value.targets))})."
  namespace         = "AWS/Events"
  metric_name       = "FailedInvocations"
  dimensions = local.sink_name.eventbus_bus == "default" ? { RuleName = aws_cloudwatch_event_rule.this[each.key].name } : {
    EventBusName = local.sink_name.eventbus_bus
    RuleName     = aws_cloudwatch_event_rule.this[each.key].name
  }
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

################################################################################
# Stall and drop alarms (issue 19). Where silence means loss, missing data is breaching.
################################################################################

locals {
  # Function key => what its mapping's stall alarm compares. With the mapping's metrics:
  # PolledEventCount, which Lambda emits (as 0) after every empty poll, so a period without it
  # is a mapping that did not read (disabled, deleted, or unable to read the stream), and one
  # with 0 while the table takes writes is a mapping that reads nothing; records that filters
  # drop are counted as polled, so filters cannot make it fire. Without them: the function's
  # Invocations against the writes, over a window stretched past the batching window (records
  # dropped by filters then look like a stall; see docs/reliability.md).
  stall_alarms = { for k, f in local.functions : k => {
    polled  = var.event_source_mapping_metrics_enabled
    periods = var.event_source_mapping_metrics_enabled ? var.alarm_stall_evaluation_periods : max(var.alarm_stall_evaluation_periods, ceil(local.function_settings[k].maximum_batching_window_in_seconds / var.alarm_period) + 2)
    expression = (var.event_source_mapping_metrics_enabled
      ? "IF(FILL(polled, -1) < 0 OR (FILL(written, 0) > 0 AND FILL(polled, 0) == 0), 1, 0)"
      : "IF(FILL(written, 0) > 0 AND FILL(processed, 0) == 0, 1, 0)"
    )
  } }

  # Alarms on each mapping's own EventCount metrics (event_source_mapping_metrics_enabled),
  # keyed by the alarm name's suffix.
  mapping_event_alarms = merge(
    {
      dropped = {
        metric      = "DroppedEventCount"
        threshold   = 0
        periods     = 1
        description = "records were dropped after MaximumRetryAttempts or MaximumRecordAgeInSeconds without reaching an on-failure destination (none configured, or the delivery failed): they are lost"
      }
      failed-invoke = {
        metric      = "FailedInvokeEventCount"
        threshold   = var.alarm_failed_invoke_events_threshold
        periods     = var.alarm_evaluation_periods
        description = "the mapping could not invoke the function with these records, or the function reported them failed (invocation errors, permissions, a deleted function or alias); they are retried until MaximumRetryAttempts or MaximumRecordAgeInSeconds"
      }
    },
    # A dead-letter queue has its depth alarm; an S3 destination has no metric of its own.
    var.on_failure_destination == "s3" ? {
      sent-to-destination = {
        metric      = "OnFailureDestinationDeliveredEventCount"
        threshold   = 0
        periods     = 1
        description = "records failed for good and were written to the failure bucket: fix the cause, then re-run them"
      }
    } : {},
  )
  mapping_event_alarm_keys = var.create_alarms && var.event_source_mapping_metrics_enabled ? {
    for pair in setproduct(keys(local.functions), keys(local.mapping_event_alarms)) : "${pair[0]}/${pair[1]}" => {
      function = pair[0]
      alarm    = pair[1]
    }
  } : {}
}

# Lambda could not write a failed batch's record to the on-failure destination (queue deleted,
# its key or policy denies the role, ...): it drops the record, so the batch is lost unless it
# is still in the stream.
resource "aws_cloudwatch_metric_alarm" "destination_delivery_failures" {
  for_each = var.create_alarms && var.on_failure_destination != "none" ? local.functions : {}

  alarm_name          = "${each.value.name}-destination-delivery-failures"
  alarm_description   = "Lambda could not deliver failed batches of ${each.value.name} to the on-failure destination (${var.on_failure_destination}): their records are dropped and leave the stream 24 hours after they were written. Check the destination and its key policy (docs/permissions.md)."
  namespace           = "AWS/Lambda"
  metric_name         = "DestinationDeliveryFailures"
  dimensions          = { FunctionName = each.value.name }
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

resource "aws_cloudwatch_metric_alarm" "mapping_events" {
  for_each = local.mapping_event_alarm_keys

  alarm_name          = "${local.functions[each.value.function].name}-mapping-${each.value.alarm}"
  alarm_description   = "Event source mapping of ${local.functions[each.value.function].name}: ${local.mapping_event_alarms[each.value.alarm].description}."
  namespace           = "AWS/Lambda"
  metric_name         = local.mapping_event_alarms[each.value.alarm].metric
  dimensions          = { EventSourceMappingUUID = aws_lambda_event_source_mapping.this[each.value.function].uuid }
  statistic           = "Sum"
  period              = var.alarm_period
  evaluation_periods  = local.mapping_event_alarms[each.value.alarm].periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = local.mapping_event_alarms[each.value.alarm].threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.ok_actions

  tags = var.tags
}

# The mapping reads nothing: disabled or deleted by hand, or it cannot read the stream (e.g. the
# table's key policy does not let the role decrypt). No invocation metric moves then, and the
# records are trimmed from the stream after 24 hours.
resource "aws_cloudwatch_metric_alarm" "stalled" {
  for_each = var.create_alarms ? local.functions : {}

  alarm_name          = "${each.value.name}-stalled"
  alarm_description   = "The event source mapping of ${each.value.name} reads nothing from the stream of ${local.source_table_name}${local.stall_alarms[each.key].polled ? " (no PolledEventCount, or none while the table takes writes)" : " while the table takes writes (no invocation)"}: disabled, deleted, or unable to read (check the table key's policy). Unread records leave the stream 24 hours after they were written."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = local.stall_alarms[each.key].periods
  datapoints_to_alarm = local.stall_alarms[each.key].periods - 1
  treat_missing_data  = "breaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.ok_actions

  metric_query {
    id          = "stalled"
    expression  = local.stall_alarms[each.key].expression
    label       = "1 when the mapping read nothing in the period"
    return_data = true
  }

  metric_query {
    id = "written"

    metric {
      namespace   = "AWS/DynamoDB"
      metric_name = "ConsumedWriteCapacityUnits"
      dimensions  = { TableName = local.source_table_name }
      period      = var.alarm_period
      stat        = "Sum"
    }
  }

  dynamic "metric_query" {
    for_each = local.stall_alarms[each.key].polled ? [aws_lambda_event_source_mapping.this[each.key].uuid] : []

    content {
      id = "polled"

      metric {
        namespace   = "AWS/Lambda"
        metric_name = "PolledEventCount"
        dimensions  = { EventSourceMappingUUID = metric_query.value }
        period      = var.alarm_period
        stat        = "Sum"
      }
    }
  }

  dynamic "metric_query" {
    for_each = local.stall_alarms[each.key].polled ? [] : [each.value.name]

    content {
      id = "processed"

      metric {
        namespace   = "AWS/Lambda"
        metric_name = "Invocations"
        dimensions  = { FunctionName = metric_query.value }
        period      = var.alarm_period
        stat        = "Sum"
      }
    }
  }

  tags = var.tags
}
