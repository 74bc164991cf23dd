################################################################################
# Alarms: per function IteratorAge, Errors, Throttles; per dead-letter queue its depth; per
# function and processor the handlers' RecordsFailed; per event bus rule with a target its
# FailedInvocations
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
  dimensions = local.eventbus_bus_name == "default" ? { RuleName = aws_cloudwatch_event_rule.this[each.key].name } : {
    EventBusName = local.eventbus_bus_name
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
