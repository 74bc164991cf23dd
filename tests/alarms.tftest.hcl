# Stall and drop alarms (issue 19): every way records can expire unseen has an alarm, on by
# default with the others, and where silence means loss missing data is breaching
# (docs/reliability.md, "Silent loss").

mock_provider "aws" {
  override_during = plan
  source          = "./tests/mocks/plan"
}

variables {
  name = "test"
}

run "defaults" {
  command = plan

  # Lambda counts a failed batch it could not write to the destination, then drops it.
  assert {
    condition = alltrue([
      keys(aws_cloudwatch_metric_alarm.destination_delivery_failures) == ["pipeline"],
      aws_cloudwatch_metric_alarm.destination_delivery_failures["pipeline"].alarm_name == "test-pipeline-destination-delivery-failures",
      aws_cloudwatch_metric_alarm.destination_delivery_failures["pipeline"].namespace == "AWS/Lambda",
      aws_cloudwatch_metric_alarm.destination_delivery_failures["pipeline"].metric_name == "DestinationDeliveryFailures",
      aws_cloudwatch_metric_alarm.destination_delivery_failures["pipeline"].dimensions == tomap({ FunctionName = "test-pipeline" }),
      aws_cloudwatch_metric_alarm.destination_delivery_failures["pipeline"].statistic == "Sum",
      aws_cloudwatch_metric_alarm.destination_delivery_failures["pipeline"].threshold == 0,
      aws_cloudwatch_metric_alarm.destination_delivery_failures["pipeline"].comparison_operator == "GreaterThanThreshold",
      aws_cloudwatch_metric_alarm.destination_delivery_failures["pipeline"].evaluation_periods == 1,
      aws_cloudwatch_metric_alarm.destination_delivery_failures["pipeline"].treat_missing_data == "notBreaching",
    ])
    error_message = "One DestinationDeliveryFailures alarm per function with a destination (Sum > 0 in a period)."
  }

  # The mapping's own metrics are on by default, and alarm on dropped and failed-invoke events.
  assert {
    condition = alltrue([
      aws_lambda_event_source_mapping.this["pipeline"].metrics_config[0].metrics == toset(["EventCount"]),
      keys(aws_cloudwatch_metric_alarm.mapping_events) == ["pipeline/dropped", "pipeline/failed-invoke"],
      aws_cloudwatch_metric_alarm.mapping_events["pipeline/dropped"].alarm_name == "test-pipeline-mapping-dropped",
      aws_cloudwatch_metric_alarm.mapping_events["pipeline/dropped"].namespace == "AWS/Lambda",
      aws_cloudwatch_metric_alarm.mapping_events["pipeline/dropped"].metric_name == "DroppedEventCount",
      aws_cloudwatch_metric_alarm.mapping_events["pipeline/dropped"].dimensions == tomap({ EventSourceMappingUUID = "6f1c1b7e-1111-4222-8333-944455556666" }),
      aws_cloudwatch_metric_alarm.mapping_events["pipeline/dropped"].threshold == 0,
      aws_cloudwatch_metric_alarm.mapping_events["pipeline/dropped"].evaluation_periods == 1,
      aws_cloudwatch_metric_alarm.mapping_events["pipeline/dropped"].treat_missing_data == "notBreaching",
      aws_cloudwatch_metric_alarm.mapping_events["pipeline/failed-invoke"].metric_name == "FailedInvokeEventCount",
      aws_cloudwatch_metric_alarm.mapping_events["pipeline/failed-invoke"].dimensions == tomap({ EventSourceMappingUUID = "6f1c1b7e-1111-4222-8333-944455556666" }),
      aws_cloudwatch_metric_alarm.mapping_events["pipeline/failed-invoke"].threshold == 0,
      aws_cloudwatch_metric_alarm.mapping_events["pipeline/failed-invoke"].evaluation_periods == 3,
    ])
    error_message = "Per mapping: DroppedEventCount and FailedInvokeEventCount alarms on its EventSourceMappingUUID."
  }

  # The stall alarm: PolledEventCount (emitted as 0 after an empty poll) missing, or 0 while
  # the table takes writes; missing data is breaching; one late period is tolerated.
  assert {
    condition = alltrue([
      keys(aws_cloudwatch_metric_alarm.stalled) == ["pipeline"],
      aws_cloudwatch_metric_alarm.stalled["pipeline"].alarm_name == "test-pipeline-stalled",
      aws_cloudwatch_metric_alarm.stalled["pipeline"].treat_missing_data == "breaching",
      aws_cloudwatch_metric_alarm.stalled["pipeline"].comparison_operator == "GreaterThanThreshold",
      aws_cloudwatch_metric_alarm.stalled["pipeline"].threshold == 0,
      aws_cloudwatch_metric_alarm.stalled["pipeline"].evaluation_periods == 5,
      aws_cloudwatch_metric_alarm.stalled["pipeline"].datapoints_to_alarm == 4,
      [for q in aws_cloudwatch_metric_alarm.stalled["pipeline"].metric_query : q.expression if q.id == "stalled"] == ["IF(FILL(polled, -1) < 0 OR (FILL(written, 0) > 0 AND FILL(polled, 0) == 0), 1, 0)"],
      toset([for q in aws_cloudwatch_metric_alarm.stalled["pipeline"].metric_query : q.id]) == toset(["stalled", "written", "polled"]),
    ])
    error_message = "Stall alarm: ${jsonencode(aws_cloudwatch_metric_alarm.stalled["pipeline"].metric_query)}"
  }
  assert {
    condition = alltrue([
      one(flatten([for q in aws_cloudwatch_metric_alarm.stalled["pipeline"].metric_query : q.metric if q.id == "written"])).namespace == "AWS/DynamoDB",
      one(flatten([for q in aws_cloudwatch_metric_alarm.stalled["pipeline"].metric_query : q.metric if q.id == "written"])).metric_name == "ConsumedWriteCapacityUnits",
      one(flatten([for q in aws_cloudwatch_metric_alarm.stalled["pipeline"].metric_query : q.metric if q.id == "written"])).dimensions == tomap({ TableName = "test" }),
      one(flatten([for q in aws_cloudwatch_metric_alarm.stalled["pipeline"].metric_query : q.metric if q.id == "written"])).stat == "Sum",
      one(flatten([for q in aws_cloudwatch_metric_alarm.stalled["pipeline"].metric_query : q.metric if q.id == "polled"])).namespace == "AWS/Lambda",
      one(flatten([for q in aws_cloudwatch_metric_alarm.stalled["pipeline"].metric_query : q.metric if q.id == "polled"])).metric_name == "PolledEventCount",
      one(flatten([for q in aws_cloudwatch_metric_alarm.stalled["pipeline"].metric_query : q.metric if q.id == "polled"])).dimensions == tomap({ EventSourceMappingUUID = "6f1c1b7e-1111-4222-8333-944455556666" }),
      one(flatten([for q in aws_cloudwatch_metric_alarm.stalled["pipeline"].metric_query : q.metric if q.id == "polled"])).period == 60,
    ])
    error_message = "The stall alarm compares the source table's ConsumedWriteCapacityUnits with the mapping's PolledEventCount."
  }
  assert {
    condition = alltrue([
      output.alarm_arns.destination_delivery_failures == { pipeline = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:test-mock" },
      output.alarm_arns.stalled == { pipeline = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:test-mock" },
      keys(output.alarm_arns.mapping_events) == ["pipeline/dropped", "pipeline/failed-invoke"],
    ])
    error_message = "alarm_arns should list the new alarms."
  }
}

# Filters drop records before any invocation; they are counted in PolledEventCount, so the
# stall alarm does not depend on invocations and filtered records cannot make it fire.
run "filters_do_not_fire_the_stall_alarm" {
  command = plan

  variables {
    filter_patterns = [jsonencode({ eventName = ["INSERT"] })]
  }

  assert {
    condition = alltrue([
      [for q in aws_cloudwatch_metric_alarm.stalled["pipeline"].metric_query : q.expression if q.id == "stalled"] == ["IF(FILL(polled, -1) < 0 OR (FILL(written, 0) > 0 AND FILL(polled, 0) == 0), 1, 0)"],
      length([for m in flatten([for q in aws_cloudwatch_metric_alarm.stalled["pipeline"].metric_query : q.metric]) : m if m.metric_name == "Invocations"]) == 0,
    ])
    error_message = "With filters the stall alarm must read PolledEventCount, not Invocations."
  }
}

# Without the mapping's metrics: writes against invocations, over a window that covers the
# batching window (5 minutes here: ceil(300 / 60) + 2 = 7 periods).
run "without_mapping_metrics" {
  command = plan

  variables {
    event_source_mapping_metrics_enabled = false
    maximum_batching_window_in_seconds   = 300
  }

  assert {
    condition = alltrue([
      length(aws_lambda_event_source_mapping.this["pipeline"].metrics_config) == 0,
      length(aws_cloudwatch_metric_alarm.mapping_events) == 0,
      [for q in aws_cloudwatch_metric_alarm.stalled["pipeline"].metric_query : q.expression if q.id == "stalled"] == ["IF(FILL(written, 0) > 0 AND FILL(processed, 0) == 0, 1, 0)"],
      one(flatten([for q in aws_cloudwatch_metric_alarm.stalled["pipeline"].metric_query : q.metric if q.id == "processed"])).metric_name == "Invocations",
      one(flatten([for q in aws_cloudwatch_metric_alarm.stalled["pipeline"].metric_query : q.metric if q.id == "processed"])).dimensions == tomap({ FunctionName = "test-pipeline" }),
      aws_cloudwatch_metric_alarm.stalled["pipeline"].evaluation_periods == 7,
      aws_cloudwatch_metric_alarm.stalled["pipeline"].datapoints_to_alarm == 6,
      aws_cloudwatch_metric_alarm.stalled["pipeline"].treat_missing_data == "breaching",
    ])
    error_message = "Without the mapping's metrics the stall alarm compares writes with invocations over the batching window."
  }
}

# An S3 destination has no metric of its own: records written there alarm through the mapping.
run "s3_destination" {
  command = plan

  variables {
    on_failure_destination = "s3"
  }

  assert {
    condition = alltrue([
      keys(aws_cloudwatch_metric_alarm.destination_delivery_failures) == ["pipeline"],
      keys(aws_cloudwatch_metric_alarm.mapping_events) == ["pipeline/dropped", "pipeline/failed-invoke", "pipeline/sent-to-destination"],
      aws_cloudwatch_metric_alarm.mapping_events["pipeline/sent-to-destination"].metric_name == "OnFailureDestinationDeliveredEventCount",
      aws_cloudwatch_metric_alarm.mapping_events["pipeline/sent-to-destination"].threshold == 0,
      aws_cloudwatch_metric_alarm.mapping_events["pipeline/sent-to-destination"].evaluation_periods == 1,
    ])
    error_message = "With an S3 destination, records sent there alarm (OnFailureDestinationDeliveredEventCount)."
  }
}

# Without a destination nothing can fail to be delivered; records given up on are dropped,
# which the dropped alarm sees.
run "no_destination" {
  command = plan

  variables {
    on_failure_destination = "none"
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.destination_delivery_failures) == 0 && contains(keys(aws_cloudwatch_metric_alarm.mapping_events), "pipeline/dropped")
    error_message = "No destination: no DestinationDeliveryFailures alarm, the dropped alarm stays."
  }
}

run "one_set_per_function" {
  command = plan

  variables {
    function_layout             = "separate"
    allow_excess_stream_readers = true
  }

  assert {
    condition = alltrue([
      keys(aws_cloudwatch_metric_alarm.stalled) == ["analytics", "etl", "notification"],
      keys(aws_cloudwatch_metric_alarm.destination_delivery_failures) == ["analytics", "etl", "notification"],
      length(aws_cloudwatch_metric_alarm.mapping_events) == 6,
      aws_cloudwatch_metric_alarm.stalled["etl"].alarm_name == "test-etl-stalled",
    ])
    error_message = "Each function gets its stall, delivery and mapping alarms."
  }
}

run "alarms_off" {
  command = plan

  variables {
    create_alarms = false
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.stalled) + length(aws_cloudwatch_metric_alarm.destination_delivery_failures) + length(aws_cloudwatch_metric_alarm.mapping_events) == 0
    error_message = "create_alarms = false creates none of them."
  }
}

run "stall_periods_leave_one_period_late" {
  command = plan

  variables {
    alarm_stall_evaluation_periods = 1
  }

  expect_failures = [var.alarm_stall_evaluation_periods]
}

run "failed_invoke_threshold_not_negative" {
  command = plan

  variables {
    alarm_failed_invoke_events_threshold = -1
  }

  expect_failures = [var.alarm_failed_invoke_events_threshold]
}
