################################################################################
# Dashboard: stream lag, function health, dead-letter queues and the handlers' EMF metrics
# (namespace METRICS_NAMESPACE, dimensions Function and Processor)
################################################################################

locals {
  # The handlers' metric series: one per function and processor, in pipeline order; the
  # records-failed alarms (alarms.tf) take them keyed "<function key>/<processor>".
  handler_metric_series = flatten([for k, f in local.functions : [
    for p in f.processors : { key = "${k}/${p}", function = f.name, processor = p }
  ]])
  processor_series = { for s in local.handler_metric_series : s.key => s }

  # The handlers' own metrics, one widget each, keyed by metric name.
  handler_widgets = { for w in [
    { title = "Records processed (handlers)", stat = "Sum", metric = "RecordsProcessed" },
    { title = "Records failed (handlers)", stat = "Sum", metric = "RecordsFailed" },
    { title = "Iterator lag seen by the handlers (ms)", stat = "Maximum", metric = "IteratorLagMs" },
    ] : w.metric => {
    title       = w.title
    stat        = w.stat
    metrics     = [for s in local.handler_metric_series : [var.metrics_namespace, w.metric, "Function", s.function, "Processor", s.processor]]
    annotations = null
    show        = true
  } }

  # The widgets, in order: title, statistic, metrics (each [namespace, metric name, dimension
  # name, value, ...]), horizontal annotations, and whether the widget is shown. Every one is a
  # time series of 60-second periods in the module's region.
  dashboard_widget_specs = [
    {
      title       = "Iterator age (ms)"
      stat        = "Maximum"
      metrics     = [for k, f in local.functions : ["AWS/Lambda", "IteratorAge", "FunctionName", f.name]]
      annotations = { horizontal = [{ label = "alarm", value = var.alarm_iterator_age_threshold_ms }] }
      show        = true
    },
    {
      title = "Errors and throttles"
      stat  = "Sum"
      # concat, not flatten: flatten would also flatten each metric's own list.
      metrics = concat(
        [for k, f in local.functions : ["AWS/Lambda", "Errors", "FunctionName", f.name]],
        [for k, f in local.functions : ["AWS/Lambda", "Throttles", "FunctionName", f.name]],
        [for k, f in local.functions : ["AWS/Lambda", "DestinationDeliveryFailures", "FunctionName", f.name]],
      )
      annotations = null
      show        = true
    },
    local.handler_widgets.RecordsProcessed,
    local.handler_widgets.RecordsFailed,
    local.handler_widgets.IteratorLagMs,
    {
      title       = "Invocations"
      stat        = "Sum"
      metrics     = [for k, f in local.functions : ["AWS/Lambda", "Invocations", "FunctionName", f.name]]
      annotations = null
      show        = true
    },
    # The mappings' own event counts (event_source_mapping_metrics_enabled).
    {
      title = "Event source mappings: polled, filtered, invoked, failed, dropped events"
      stat  = "Sum"
      metrics = [for pair in setproduct(keys(local.functions), [
        "PolledEventCount", "FilteredOutEventCount", "InvokedEventCount", "FailedInvokeEventCount", "DroppedEventCount",
        ]) : ["AWS/Lambda", pair[1], "EventSourceMappingUUID", try(aws_lambda_event_source_mapping.this[pair[0]].uuid, "")]
      ]
      annotations = null
      show        = var.event_source_mapping_metrics_enabled
    },
    {
      title       = "Dead-letter queue depth"
      stat        = "Maximum"
      metrics     = [for k, f in local.functions : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${f.name}-dlq"]]
      annotations = null
      show        = local.failure_to_sqs
    },
    # Rules on the event bus (eventbus processor): deliveries to their targets.
    {
      title = "Event bus rules: invocations and failed invocations"
      stat  = "Sum"
      metrics = [for pair in setproduct(keys(local.eventbus_rules), ["Invocations", "FailedInvocations"]) : concat(
        ["AWS/Events", pair[1]],
        local.sink_name.eventbus_bus == "default" ? [] : ["EventBusName", coalesce(local.sink_name.eventbus_bus, "${var.name}-events")],
        ["RuleName", "${var.name}-${pair[0]}"],
      )]
      annotations = null
      show        = length(local.eventbus_rules) > 0
    },
  ]

  # The shown widgets, two per row.
  dashboard_widgets = [for i, w in [for w in local.dashboard_widget_specs : w if w.show] : {
    type = "metric"
    x    = (i % 2) * 12
    y    = floor(i / 2) * 6
    properties = merge(
      { title = w.title, region = local.region, view = "timeSeries", stat = w.stat, period = 60, metrics = w.metrics },
      w.annotations == null ? {} : { annotations = w.annotations },
    )
    width  = 12
    height = 6
  }]
}

resource "aws_cloudwatch_dashboard" "this" {
  count = var.create_dashboard && length(local.functions) > 0 ? 1 : 0

  dashboard_name = "${var.name}-stream-processing"
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
