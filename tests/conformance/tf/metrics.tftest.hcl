# Every alarm of the module reads a metric AWS documents, with the dimensions and statistic AWS
# publishes it with, and reads a period without data the way the metric's documented emission
# demands (var.documented_metrics: the corpus under tests/conformance/cases/metrics, passed in
# by tests/conformance/test_metrics.py; run by that test, not by `make tf-unit`).
#
# A single-metric alarm's treat_missing_data must be the metric's; a metric-math alarm must be
# "breaching" when one of its metrics' silence means loss, else "notBreaching". Metrics of the
# handlers' own namespace (METRICS_NAMESPACE) are not AWS's and are left out.

mock_provider "aws" {
  override_during = plan
  source          = "./tests/mocks/plan"
}

variables {
  name                = "test"
  create_dlq_archiver = true
  create_eventbus     = true
  eventbus_rules = {
    status = {
      event_pattern = "{\"detail-type\":[\"DynamoDB MODIFY\"]}"
      targets       = { queue = { arn = "arn:aws:sqs:us-east-1:123456789012:status-changes" } }
    }
  }
}

run "sqs_destination_archiver_and_bus" {
  command = plan

  assert {
    condition = alltrue([for a in concat(
      values(aws_cloudwatch_metric_alarm.iterator_age), values(aws_cloudwatch_metric_alarm.errors),
      values(aws_cloudwatch_metric_alarm.throttles), values(aws_cloudwatch_metric_alarm.dlq),
      values(aws_cloudwatch_metric_alarm.destination_delivery_failures), values(aws_cloudwatch_metric_alarm.mapping_events),
      values(aws_cloudwatch_metric_alarm.eventbus_rule_failed),
      ) : startswith(a.namespace, "AWS/") ? (
      contains(keys(var.documented_metrics), "${a.namespace} ${a.metric_name}") &&
      contains(var.documented_metrics["${a.namespace} ${a.metric_name}"].dimensions, join(",", sort(keys(a.dimensions)))) &&
      contains(var.documented_metrics["${a.namespace} ${a.metric_name}"].statistics, a.statistic) &&
      var.documented_metrics["${a.namespace} ${a.metric_name}"].treat_missing_data == a.treat_missing_data
    ) : true])
    error_message = "A single-metric alarm departs from its metric's documented name, dimensions, statistic or emission."
  }
  assert {
    condition = alltrue([for a in concat(values(aws_cloudwatch_metric_alarm.stalled), aws_cloudwatch_metric_alarm.archiver_errors) : alltrue(concat(
      [for m in flatten([for q in a.metric_query : q.metric]) : startswith(m.namespace, "AWS/") ? (
        contains(keys(var.documented_metrics), "${m.namespace} ${m.metric_name}") &&
        contains(var.documented_metrics["${m.namespace} ${m.metric_name}"].dimensions, join(",", sort(keys(m.dimensions)))) &&
        contains(var.documented_metrics["${m.namespace} ${m.metric_name}"].statistics, m.stat)
      ) : true],
      [a.treat_missing_data == (anytrue([for m in flatten([for q in a.metric_query : q.metric]) : lookup(var.documented_metrics, "${m.namespace} ${m.metric_name}", { treat_missing_data = "notBreaching" }).treat_missing_data == "breaching"]) ? "breaching" : "notBreaching")],
    ))])
    error_message = "A metric-math alarm departs from its metrics' documented names, dimensions, statistics or emission."
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.stalled) == 1 && length(aws_cloudwatch_metric_alarm.mapping_events) == 2 && length(aws_cloudwatch_metric_alarm.eventbus_rule_failed) == 1 && length(aws_cloudwatch_metric_alarm.archiver_errors) == 1
    error_message = "The run must plan the alarms it checks."
  }
}

run "s3_destination_without_mapping_metrics" {
  command = plan

  variables {
    create_dlq_archiver                  = false
    on_failure_destination               = "s3"
    event_source_mapping_metrics_enabled = false
  }

  assert {
    condition = alltrue([for a in concat(values(aws_cloudwatch_metric_alarm.destination_delivery_failures), values(aws_cloudwatch_metric_alarm.mapping_events)) : (
      contains(var.documented_metrics["${a.namespace} ${a.metric_name}"].dimensions, join(",", sort(keys(a.dimensions)))) &&
      var.documented_metrics["${a.namespace} ${a.metric_name}"].treat_missing_data == a.treat_missing_data
    )])
    error_message = "A single-metric alarm departs from its metric's documented dimensions or emission."
  }
  assert {
    condition = alltrue([for a in values(aws_cloudwatch_metric_alarm.stalled) : alltrue(concat(
      [for m in flatten([for q in a.metric_query : q.metric]) : contains(var.documented_metrics["${m.namespace} ${m.metric_name}"].dimensions, join(",", sort(keys(m.dimensions))))],
      [a.treat_missing_data == (anytrue([for m in flatten([for q in a.metric_query : q.metric]) : var.documented_metrics["${m.namespace} ${m.metric_name}"].treat_missing_data == "breaching"]) ? "breaching" : "notBreaching")],
    ))])
    error_message = "The stall alarm without the mapping's metrics departs from its metrics' documentation."
  }
}
