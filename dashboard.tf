################################################################################
# Dashboard: stream lag, function health, dead-letter queues and the handlers' EMF metrics
# (namespace METRICS_NAMESPACE, dimensions Function and Processor)
################################################################################

locals {
  handler_metric_series = flatten([for k, f in local.functions : [
    for p in f.processors : { function = f.name, processor = p }
  ]])
  # The same series keyed "<function key>/<processor>" (the records-failed alarms).
  processor_series = merge([for k, f in local.functions : {
    for p in f.processors : "${k}/${p}" => { function = f.name, processor = p }
  }]...)

  dashboard_widgets = concat(
    [
      {
        type = "metric"
        properties = {
          title       = "Iterator age (ms)"
          region      = local.region
          view        = "timeSeries"
          stat        = "Maximum"
          period      = 60
          metrics     = [for k, f in local.functions : ["AWS/Lambda", "IteratorAge", "FunctionName", f.name]]
          annotations = { horizontal = [{ label = "alarm", value = var.alarm_iterator_age_threshold_ms }] }
        }
      },
      {
        type = "metric"
        properties = {
          title  = "Errors and throttles"
          region = local.region
          view   = "timeSeries"
          stat   = "Sum"
          period = 60
          # concat, not flatten: flatten would also flatten each metric's own list.
          metrics = concat(
            [for k, f in local.functions : ["AWS/Lambda", "Errors", "FunctionName", f.name]],
            [for k, f in local.functions : ["AWS/Lambda", "Throttles", "FunctionName", f.name]],
            [for k, f in local.functions : ["AWS/Lambda", "DestinationDeliveryFailures", "FunctionName", f.name]],
          )
        }
      },
      {
        type = "metric"
        properties = {
          title   = "Records processed (handlers)"
          region  = local.region
          view    = "timeSeries"
          stat    = "Sum"
          period  = 60
          metrics = [for s in local.handler_metric_series : [var.metrics_namespace, "RecordsProcessed", "Function", s.function, "Processor", s.processor]]
        }
      },
      {
        type = "metric"
        properties = {
          title   = "Records failed (handlers)"
          region  = local.region
          view    = "timeSeries"
          stat    = "Sum"
          period  = 60
          metrics = [for s in local.handler_metric_series : [var.metrics_namespace, "RecordsFailed", "Function", s.function, "Processor", s.processor]]
        }
      },
      {
        type = "metric"
        properties = {
          title   = "Iterator lag seen by the handlers (ms)"
          region  = local.region
          view    = "timeSeries"
          stat    = "Maximum"
          period  = 60
          metrics = [for s in local.handler_metric_series : [var.metrics_namespace, "IteratorLagMs", "Function", s.function, "Processor", s.processor]]
        }
      },
      {
        type = "metric"
        properties = {
          title   = "Invocations"
          region  = local.region
          view    = "timeSeries"
          stat    = "Sum"
          period  = 60
          metrics = [for k, f in local.functions : ["AWS/Lambda", "Invocations", "FunctionName", f.name]]
        }
      },
    ],
    # The mappings' own event counts (event_source_mapping_metrics_enabled).
    var.event_source_mapping_metrics_enabled ? [
      {
        type = "metric"
        properties = {
          title  = "Event source mappings: polled, filtered, invoked, failed, dropped events"
          region = local.region
          view   = "timeSeries"
          stat   = "Sum"
          period = 60
          metrics = [for pair in setproduct(keys(local.functions), [
            "PolledEventCount", "FilteredOutEventCount", "InvokedEventCount", "FailedInvokeEventCount", "DroppedEventCount",
            ]) : ["AWS/Lambda", pair[1], "EventSourceMappingUUID", try(aws_lambda_event_source_mapping.this[pair[0]].uuid, "")]
          ]
        }
      },
    ] : [],
    local.failure_to_sqs ? [
      {
        type = "metric"
        properties = {
          title   = "Dead-letter queue depth"
          region  = local.region
          view    = "timeSeries"
          stat    = "Maximum"
          period  = 60
          metrics = [for k, f in local.functions : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${f.name}-dlq"]]
        }
      },
    ] : [],
    # Rules on the event bus (eventbus processor): deliveries to their targets.
    length(local.eventbus_rules) > 0 ? [
      {
        type = "metric"
        properties = {
          title  = "Event bus rules: invocations and failed invocations"
          region = local.region
          view   = "timeSeries"
          stat   = "Sum"
          period = 60
          metrics = [for pair in setproduct(keys(local.eventbus_rules), ["Invocations", "FailedInvocations"]) : concat(
            ["AWS/Events", pair[1]],
            local.sink_name.eventbus_bus == "default" ? [] : ["EventBusName", coalesce(local.sink_name.eventbus_bus, "${var.name}-events")],
            ["RuleName", "${var.name}-${pair[0]}"],
          )]
        }
      },
    ] : [],
  )
}

resource "aws_cloudwatch_dashboard" "this" {
  count = var.create_dashboard && length(local.functions) > 0 ? 1 : 0

  dashboard_name = "${var.name}-stream-processing"
  dashboard_body = jsonencode({
    widgets = [for i, w in local.dashboard_widgets : merge(w, {
      x      = (i % 2) * 12
      y      = floor(i / 2) * 6
      width  = 12
      height = 6
    })]
  })
}
