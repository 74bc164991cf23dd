################################################################################
# Alarms: per function IteratorAge, Errors, Throttles; per dead-letter queue its depth
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
