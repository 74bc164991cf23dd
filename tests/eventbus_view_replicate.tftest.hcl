# issue 8: the eventbus, view and replicate processors. Switches, the handlers' environment per
# function (exact maps), least-privilege statements per processor (exact actions and resources),
# the view table, the event bus and its rules, the records-failed alarms, the groups layout, and
# the plan-time checks and input validations of these inputs.

mock_provider "aws" {
  override_during = plan
  source          = "./tests/mocks/plan"
}

variables {
  name = "test"
}

run "all_processors_combined" {
  command = plan

  variables {
    create_eventbus  = true
    eventbus_source  = "hr.applications"
    eventbus_events  = ["MODIFY", "REMOVE"]
    eventbus_redact  = ["email", "phone"]
    eventbus_numbers = "string"
    eventbus_rules = {
      status = {
        event_pattern = "{\"detail-type\":[\"DynamoDB MODIFY\"]}"
        targets       = { queue = { arn = "arn:aws:sqs:us-east-1:123456789012:status-changes" } }
      }
      audit = { event_pattern = "{\"source\":[\"hr.applications\"]}" }
    }
    create_view                 = true
    view_partition_key          = "candidate_id"
    view_sort_key               = "pk"
    view_sort_key_type          = "S"
    view_attributes             = ["status", "job_id"]
    view_version_attribute      = "version"
    view_table_kms_key_arn      = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-00000000v1e1"
    create_replicate            = true
    replica_table_arn           = "arn:aws:dynamodb:us-west-2:123456789012:table/test-replica"
    replicate_version_attribute = "version"
    replica_table_kms_key_arn   = "arn:aws:kms:us-west-2:123456789012:key/00000000-0000-0000-0000-0000000e91ca"
    view_write_concurrency      = 4
    replicate_write_concurrency = 1
  }

  assert {
    condition = aws_lambda_function.this["pipeline"].environment[0].variables == tomap({
      PROCESSORS                  = "analytics,notification,etl,eventbus,view,replicate"
      CHECKPOINT_TABLE            = "test-checkpoints"
      METRICS_NAMESPACE           = "DynamoDBTriggers"
      LOG_LEVEL                   = "INFO"
      ETL_BUCKET                  = "test-etl-123456789012"
      ETL_PREFIX                  = "changes/"
      NOTIFY_TOPIC_ARN            = "arn:aws:sns:us-east-1:123456789012:test-notifications"
      NOTIFY_EVENTS               = "INSERT,MODIFY,REMOVE"
      AGGREGATES_TABLE            = "test-aggregates"
      EVENTBUS_NAME               = "test-events"
      EVENTBUS_EVENTS             = "MODIFY,REMOVE"
      EVENTBUS_SOURCE             = "hr.applications"
      EVENTBUS_REDACT             = "email,phone"
      EVENTBUS_NUMBERS            = "string"
      VIEW_TABLE                  = "test-view"
      VIEW_PARTITION_KEY          = "candidate_id"
      VIEW_SORT_KEY               = "pk"
      VIEW_ATTRIBUTES             = "status,job_id"
      VIEW_VERSION_ATTRIBUTE      = "version"
      VIEW_WRITE_CONCURRENCY      = "4"
      REPLICA_TABLE               = "arn:aws:dynamodb:us-west-2:123456789012:table/test-replica"
      REPLICATE_VERSION_ATTRIBUTE = "version"
      REPLICATE_WRITE_CONCURRENCY = "1"
    })
    error_message = "Environment: ${jsonencode(aws_lambda_function.this["pipeline"].environment[0].variables)}"
  }
  assert {
    condition = { for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : s.Sid => [s.Action, s.Resource] if contains(["PublishEvents", "WriteView", "WriteReplica", "UseViewTableKey", "UseReplicaTableKey"], s.Sid) } == {
      PublishEvents      = [["events:PutEvents"], ["arn:aws:events:us-east-1:123456789012:event-bus/test-events"]]
      WriteView          = [["dynamodb:PutItem", "dynamodb:GetItem"], ["arn:aws:dynamodb:us-east-1:123456789012:table/test-view"]]
      WriteReplica       = [["dynamodb:PutItem", "dynamodb:GetItem"], ["arn:aws:dynamodb:us-west-2:123456789012:table/test-replica"]]
      UseViewTableKey    = [["kms:Decrypt"], ["arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-00000000v1e1"]]
      UseReplicaTableKey = [["kms:Decrypt"], ["arn:aws:kms:us-west-2:123456789012:key/00000000-0000-0000-0000-0000000e91ca"]]
    }
    error_message = "Policy: ${aws_iam_role_policy.this["pipeline"].policy}"
  }
  assert {
    condition = alltrue(flatten([for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : [
      for a in flatten([s.Action]) : !strcontains(a, "*") && (!contains(flatten([s.Resource]), "*") || s.Sid == "ListStreams")
    ]]))
    error_message = "No wildcard action, and Resource \"*\" only for dynamodb:ListStreams."
  }
  assert {
    condition = alltrue([
      aws_dynamodb_table.view[0].name == "test-view",
      aws_dynamodb_table.view[0].billing_mode == "PAY_PER_REQUEST",
      aws_dynamodb_table.view[0].hash_key == "candidate_id",
      aws_dynamodb_table.view[0].range_key == "pk",
      { for a in aws_dynamodb_table.view[0].attribute : a.name => a.type } == { candidate_id = "S", pk = "S" },
      aws_dynamodb_table.view[0].ttl[0].enabled && aws_dynamodb_table.view[0].ttl[0].attribute_name == "_ddbt_expires",
      aws_dynamodb_table.view[0].point_in_time_recovery[0].enabled,
      aws_dynamodb_table.view[0].server_side_encryption[0].enabled,
      aws_dynamodb_table.view[0].server_side_encryption[0].kms_key_arn == var.view_table_kms_key_arn,
      aws_dynamodb_table.view[0].deletion_protection_enabled,
    ])
    error_message = "The view table: keyed by the view keys, on demand, TTL on _ddbt_expires, PITR, encrypted with the given key, protected."
  }
  assert {
    condition = alltrue([
      aws_cloudwatch_event_bus.this[0].name == "test-events",
      { for k, r in aws_cloudwatch_event_rule.this : k => [r.name, r.event_bus_name, r.event_pattern] } == {
        audit  = ["test-audit", "test-events", "{\"source\":[\"hr.applications\"]}"]
        status = ["test-status", "test-events", "{\"detail-type\":[\"DynamoDB MODIFY\"]}"]
      },
      { for k, t in aws_cloudwatch_event_target.this : k => [t.rule, t.target_id, t.arn, t.event_bus_name] } == {
        "status/queue" = ["test-status", "queue", "arn:aws:sqs:us-east-1:123456789012:status-changes", "test-events"]
      },
    ])
    error_message = "The bus test-events with both rules on it, and one target (the queue) on the status rule."
  }
  assert {
    condition = alltrue([
      keys(aws_cloudwatch_metric_alarm.records_failed) == ["pipeline/analytics", "pipeline/etl", "pipeline/eventbus", "pipeline/notification", "pipeline/replicate", "pipeline/view"],
      aws_cloudwatch_metric_alarm.records_failed["pipeline/view"].namespace == "DynamoDBTriggers",
      aws_cloudwatch_metric_alarm.records_failed["pipeline/view"].metric_name == "RecordsFailed",
      aws_cloudwatch_metric_alarm.records_failed["pipeline/view"].dimensions == tomap({ Function = "test-pipeline", Processor = "view" }),
      keys(aws_cloudwatch_metric_alarm.eventbus_rule_failed) == ["status"],
      aws_cloudwatch_metric_alarm.eventbus_rule_failed["status"].dimensions == tomap({ EventBusName = "test-events", RuleName = "test-status" }),
    ])
    error_message = "A RecordsFailed alarm per processor (the handlers' dimensions), and a FailedInvocations alarm for the rule with a target."
  }
  assert {
    condition = alltrue([
      [for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : w.properties.metrics if w.properties.title == "Event bus rules: invocations and failed invocations"] == [[
        ["AWS/Events", "Invocations", "EventBusName", "test-events", "RuleName", "test-audit"],
        ["AWS/Events", "FailedInvocations", "EventBusName", "test-events", "RuleName", "test-audit"],
        ["AWS/Events", "Invocations", "EventBusName", "test-events", "RuleName", "test-status"],
        ["AWS/Events", "FailedInvocations", "EventBusName", "test-events", "RuleName", "test-status"],
      ]],
      [for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : w.properties.metrics if w.properties.title == "Errors and throttles"] == [[
        ["AWS/Lambda", "Errors", "FunctionName", "test-pipeline"],
        ["AWS/Lambda", "Throttles", "FunctionName", "test-pipeline"],
        ["AWS/Lambda", "DestinationDeliveryFailures", "FunctionName", "test-pipeline"],
      ]],
    ])
    error_message = "Dashboard: one series per rule and metric; one series (a list) per function and metric."
  }
  assert {
    condition = alltrue([
      output.eventbus_bus_name == "test-events",
      output.eventbus_bus_arn == "arn:aws:events:us-east-1:123456789012:event-bus/test-events",
      jsonencode(keys(output.eventbus_rule_arns)) == jsonencode(["audit", "status"]),
      output.view_table_name == "test-view",
      output.view_table_arn == "arn:aws:dynamodb:us-east-1:123456789012:table/test-view",
      output.replica_table_name == "test-replica",
      output.replica_table_arn == var.replica_table_arn,
      jsonencode(output.processors) == jsonencode(["analytics", "notification", "etl", "eventbus", "view", "replicate"]),
    ])
    error_message = "Outputs of the new sinks."
  }
}

run "groups_layout" {
  command = plan

  variables {
    function_layout    = "groups"
    function_groups    = { realtime = ["eventbus", "notification"], bulk = ["analytics", "etl", "view", "replicate"] }
    create_eventbus    = true
    create_view        = true
    view_partition_key = "pk"
    create_replicate   = true
    replica_table_arn  = "arn:aws:dynamodb:us-east-1:123456789012:table/test-replica"
  }

  assert {
    condition = alltrue([
      keys(aws_lambda_function.this) == ["bulk", "realtime"],
      keys(aws_lambda_event_source_mapping.this) == ["bulk", "realtime"],
      keys(aws_sqs_queue.dlq) == ["bulk", "realtime"],
      [for f in aws_lambda_function.this : [f.function_name, f.handler]] == [["test-bulk", "handlers.pipeline.handler"], ["test-realtime", "handlers.pipeline.handler"]],
    ])
    error_message = "Two functions (two stream readers), each running its group through the pipeline handler."
  }
  assert {
    condition = aws_lambda_function.this["realtime"].environment[0].variables == tomap({
      PROCESSORS        = "notification,eventbus"
      CHECKPOINT_TABLE  = "test-checkpoints"
      METRICS_NAMESPACE = "DynamoDBTriggers"
      LOG_LEVEL         = "INFO"
      NOTIFY_TOPIC_ARN  = "arn:aws:sns:us-east-1:123456789012:test-notifications"
      NOTIFY_EVENTS     = "INSERT,MODIFY,REMOVE"
      EVENTBUS_NAME     = "test-events"
      EVENTBUS_EVENTS   = "INSERT,MODIFY,REMOVE"
    })
    error_message = "realtime: ${jsonencode(aws_lambda_function.this["realtime"].environment[0].variables)}"
  }
  assert {
    condition = aws_lambda_function.this["bulk"].environment[0].variables == tomap({
      PROCESSORS                  = "analytics,etl,view,replicate"
      CHECKPOINT_TABLE            = "test-checkpoints"
      METRICS_NAMESPACE           = "DynamoDBTriggers"
      LOG_LEVEL                   = "INFO"
      ETL_BUCKET                  = "test-etl-123456789012"
      ETL_PREFIX                  = "changes/"
      AGGREGATES_TABLE            = "test-aggregates"
      VIEW_TABLE                  = "test-view"
      VIEW_PARTITION_KEY          = "pk"
      VIEW_WRITE_CONCURRENCY      = "20"
      REPLICA_TABLE               = "arn:aws:dynamodb:us-east-1:123456789012:table/test-replica"
      REPLICATE_WRITE_CONCURRENCY = "20"
    })
    error_message = "bulk: ${jsonencode(aws_lambda_function.this["bulk"].environment[0].variables)}"
  }
  assert {
    condition = { for k, p in aws_iam_role_policy.this : k => sort([for s in jsondecode(p.policy).Statement : s.Sid]) } == {
      bulk     = sort(["WriteOwnLogs", "ReadTableStream", "ListStreams", "Checkpoints", "WriteAggregates", "WriteEtlObjects", "WriteView", "WriteReplica", "SendToOwnDeadLetterQueue"])
      realtime = sort(["WriteOwnLogs", "ReadTableStream", "ListStreams", "Checkpoints", "PublishNotifications", "PublishEvents", "SendToOwnDeadLetterQueue"])
    }
    error_message = "Each role holds the statements of its own group's processors only."
  }
  assert {
    condition = { for s in jsondecode(aws_iam_role_policy.this["bulk"].policy).Statement : s.Sid => s.Action if contains(["WriteView", "WriteReplica"], s.Sid) } == {
      WriteView    = ["dynamodb:PutItem"]
      WriteReplica = ["dynamodb:PutItem"]
    }
    error_message = "Without a version attribute the handlers never read the view or replica: PutItem only."
  }
  assert {
    condition     = keys(aws_cloudwatch_metric_alarm.records_failed) == ["bulk/analytics", "bulk/etl", "bulk/replicate", "bulk/view", "realtime/eventbus", "realtime/notification"]
    error_message = "One RecordsFailed alarm per function and processor."
  }
}

run "separate_brought_bus_and_view_table" {
  command = plan

  variables {
    function_layout     = "separate"
    create_analytics    = false
    create_notification = false
    create_etl          = false
    create_eventbus     = true
    create_eventbus_bus = false
    eventbus_bus_arn    = "arn:aws:events:us-east-1:123456789012:event-bus/default"
    eventbus_rules = {
      modify = {
        event_pattern = "{\"detail-type\":[\"DynamoDB MODIFY\"]}"
        targets       = { q = { arn = "arn:aws:sqs:us-east-1:123456789012:modifications" } }
      }
    }
    create_view        = true
    create_view_table  = false
    view_table_arn     = "arn:aws:dynamodb:us-east-1:123456789012:table/shared-view"
    view_partition_key = "pk"
  }

  assert {
    condition = alltrue([
      length(aws_cloudwatch_event_bus.this) == 0,
      length(aws_dynamodb_table.view) == 0,
      [for f in aws_lambda_function.this : [f.function_name, f.handler]] == [["test-eventbus", "handlers.eventbus.handler"], ["test-view", "handlers.view.handler"]],
    ])
    error_message = "Brought bus and view table are not created; one function per processor with its own handler."
  }
  assert {
    condition = aws_lambda_function.this["eventbus"].environment[0].variables == tomap({
      CHECKPOINT_TABLE  = "test-checkpoints"
      METRICS_NAMESPACE = "DynamoDBTriggers"
      LOG_LEVEL         = "INFO"
      EVENTBUS_NAME     = "arn:aws:events:us-east-1:123456789012:event-bus/default"
      EVENTBUS_EVENTS   = "INSERT,MODIFY,REMOVE"
      }) && aws_lambda_function.this["view"].environment[0].variables == tomap({
      CHECKPOINT_TABLE       = "test-checkpoints"
      METRICS_NAMESPACE      = "DynamoDBTriggers"
      LOG_LEVEL              = "INFO"
      VIEW_TABLE             = "shared-view"
      VIEW_PARTITION_KEY     = "pk"
      VIEW_WRITE_CONCURRENCY = "20"
    })
    error_message = "Environment: ${jsonencode({ for k, f in aws_lambda_function.this : k => f.environment[0].variables })}"
  }
  assert {
    condition = { for k, p in aws_iam_role_policy.this : k => { for s in jsondecode(p.policy).Statement : s.Sid => [s.Action, s.Resource] if contains(["PublishEvents", "WriteView"], s.Sid) } } == {
      eventbus = { PublishEvents = [["events:PutEvents"], ["arn:aws:events:us-east-1:123456789012:event-bus/default"]] }
      view     = { WriteView = [["dynamodb:PutItem"], ["arn:aws:dynamodb:us-east-1:123456789012:table/shared-view"]] }
    }
    error_message = "Each function may write only its own sink."
  }
  assert {
    condition = alltrue([
      aws_cloudwatch_event_rule.this["modify"].event_bus_name == "default",
      aws_cloudwatch_metric_alarm.eventbus_rule_failed["modify"].dimensions == tomap({ RuleName = "test-modify" }),
      output.eventbus_bus_name == "default",
      output.eventbus_handler_bus == var.eventbus_bus_arn,
    ])
    error_message = "Rules on the default bus; their metrics carry RuleName only."
  }
}

run "replicate_needs_an_image" {
  command = plan

  variables {
    stream_view_type  = "KEYS_ONLY"
    create_replicate  = true
    replica_table_arn = "arn:aws:dynamodb:us-west-2:123456789012:table/test-replica"
  }

  expect_failures = [terraform_data.check_stream]
}

run "view_on_new_image_needs_a_key_in_the_table_key" {
  command = plan

  variables {
    stream_view_type   = "NEW_IMAGE"
    create_view        = true
    view_partition_key = "candidate_id"
  }

  expect_failures = [terraform_data.check_stream]
}

run "write_concurrency_from_1_to_50" {
  command = plan

  variables {
    view_write_concurrency      = 51
    replicate_write_concurrency = 2.5
  }

  expect_failures = [var.view_write_concurrency, var.replicate_write_concurrency]
}

run "write_concurrency_at_least_1" {
  command = plan

  variables {
    view_write_concurrency      = 0
    replicate_write_concurrency = 0
  }

  expect_failures = [var.view_write_concurrency, var.replicate_write_concurrency]
}

run "publish_concurrency_passed_to_the_publishers" {
  command = plan

  variables {
    create_eventbus                  = true
    notification_publish_concurrency = 50
    eventbus_publish_concurrency     = 1
  }

  assert {
    condition     = aws_lambda_function.this["pipeline"].environment[0].variables["NOTIFY_PUBLISH_CONCURRENCY"] == "50" && aws_lambda_function.this["pipeline"].environment[0].variables["EVENTBUS_PUBLISH_CONCURRENCY"] == "1"
    error_message = "Environment: ${jsonencode(aws_lambda_function.this["pipeline"].environment[0].variables)}"
  }
}

run "publish_concurrency_from_1_to_50" {
  command = plan

  variables {
    notification_publish_concurrency = 51
    eventbus_publish_concurrency     = 2.5
  }

  expect_failures = [var.notification_publish_concurrency, var.eventbus_publish_concurrency]
}

run "publish_concurrency_at_least_1" {
  command = plan

  variables {
    notification_publish_concurrency = 0
    eventbus_publish_concurrency     = -1
  }

  expect_failures = [var.notification_publish_concurrency, var.eventbus_publish_concurrency]
}

run "replicate_needs_a_table" {
  command = plan

  variables {
    create_replicate = true
  }

  expect_failures = [terraform_data.check_sinks]
}

run "rules_on_another_accounts_bus_rejected" {
  command = plan

  variables {
    create_eventbus     = true
    create_eventbus_bus = false
    eventbus_bus_arn    = "arn:aws:events:us-east-1:210987654321:event-bus/central"
    eventbus_rules      = { all = { event_pattern = "{\"source\":[\"dynamodb-triggers.test\"]}" } }
  }

  expect_failures = [terraform_data.check_sinks]
}

run "view_needs_a_partition_key" {
  command = plan

  variables {
    create_view = true
  }

  # Only the check fails (the view table, whose hash key it would be, waits for it).
  expect_failures = [terraform_data.check_sinks]
}

run "groups_cover_every_enabled_processor" {
  command = plan

  variables {
    function_layout = "groups"
    function_groups = { realtime = ["notification"], bulk = ["analytics"] }
  }

  expect_failures = [terraform_data.check_processors]
}

# Input validations (tests/terraform/test_tftest_coverage.py counts one case per validation block).
run "invalid_inputs" {
  command = plan

  variables {
    function_groups                = { "Realtime!" = ["notification"] }
    eventbus_bus_arn               = "arn:aws:sns:us-east-1:123456789012:not-a-bus"
    eventbus_events                = ["UPDATE"]
    eventbus_redact                = ["a,b"]
    eventbus_numbers               = "strings"
    eventbus_source                = "aws.dynamodb"
    eventbus_rules                 = { "bad name" = { event_pattern = "{}" } }
    view_table_arn                 = "test-view"
    view_partition_key             = "a,b"
    view_partition_key_type        = "SS"
    view_sort_key                  = ""
    view_sort_key_type             = "BOOL"
    view_attributes                = ["status", "status"]
    view_version_attribute         = ""
    view_table_kms_key_arn         = "alias/view"
    replica_table_arn              = "arn:aws:dynamodb:us-west-2:123456789012:table/x"
    replicate_version_attribute    = "a,b"
    replica_table_kms_key_arn      = "alias/replica"
    etl_glue_database_name         = "My-Database"
    etl_glue_table_name            = "Changes"
    etl_glue_projection_start_date = "2026-13-01"
    alarm_records_failed_threshold = -1
  }

  expect_failures = [
    var.function_groups,
    var.eventbus_bus_arn,
    var.eventbus_events,
    var.eventbus_redact,
    var.eventbus_numbers,
    var.eventbus_source,
    var.eventbus_rules,
    var.view_table_arn,
    var.view_partition_key,
    var.view_partition_key_type,
    var.view_sort_key,
    var.view_sort_key_type,
    var.view_attributes,
    var.view_version_attribute,
    var.view_table_kms_key_arn,
    var.replica_table_arn,
    var.replicate_version_attribute,
    var.replica_table_kms_key_arn,
    var.etl_glue_database_name,
    var.etl_glue_table_name,
    var.etl_glue_projection_start_date,
    var.alarm_records_failed_threshold,
  ]
}

run "invalid_group_processor_and_rule_pattern" {
  command = plan

  variables {
    function_groups = { realtime = ["notifications"] }
    eventbus_rules  = { status = { event_pattern = "detail-type = MODIFY" } }
  }

  expect_failures = [var.function_groups, var.eventbus_rules]
}

run "invalid_group_duplicate_and_rule_target" {
  command = plan

  variables {
    function_groups = { a = ["etl"], b = ["etl"] }
    eventbus_rules  = { status = { event_pattern = "{}", targets = { q = { arn = "status-queue" } } } }
  }

  expect_failures = [var.function_groups, var.eventbus_rules]
}

# issue 20: a view or replica table named like the source in another region of this account may
# be a replica of the source's global table (replicas share the name). The handlers then ask
# DescribeTable (granted only in that case); with global_table = true the plan refuses it.
run "target_named_like_the_source_elsewhere_may_describe_it" {
  command = plan

  variables {
    create_replicate  = true
    replica_table_arn = "arn:aws:dynamodb:us-west-2:123456789012:table/test"
  }

  assert {
    condition     = { for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : s.Sid => s.Action if s.Sid == "WriteReplica" } == { WriteReplica = ["dynamodb:PutItem", "dynamodb:DescribeTable"] }
    error_message = "Policy: ${aws_iam_role_policy.this["pipeline"].policy}"
  }
}

run "global_table_replica_as_replica_table_refused" {
  command = plan

  variables {
    global_table      = true
    create_replicate  = true
    replica_table_arn = "arn:aws:dynamodb:us-west-2:123456789012:table/test"
  }

  expect_failures = [terraform_data.check_sinks]
}

run "global_table_replica_as_view_table_refused" {
  command = plan

  variables {
    global_table       = true
    create_view        = true
    create_view_table  = false
    view_table_arn     = "arn:aws:dynamodb:eu-west-1:123456789012:table/test"
    view_partition_key = "candidate_id"
  }

  expect_failures = [terraform_data.check_sinks]
}

run "global_table_replicating_to_another_name_allowed" {
  command = plan

  variables {
    global_table      = true
    create_replicate  = true
    replica_table_arn = "arn:aws:dynamodb:us-west-2:123456789012:table/test-replica"
  }

  assert {
    condition     = { for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : s.Sid => s.Action if s.Sid == "WriteReplica" } == { WriteReplica = ["dynamodb:PutItem"] }
    error_message = "Policy: ${aws_iam_role_policy.this["pipeline"].policy}"
  }
}
