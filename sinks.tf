################################################################################
# Sinks: each processor's destination, created by the module or brought by the caller, and
# the checkpoint table (the same rule)
#
# One rule for every part the module creates unless the caller brings it: a given ARN means
# "bring your own". The create switch left null creates the part unless its ARN is given;
# false uses the ARN (the plan fails without one); true creates it, and the plan fails when
# an ARN is given too (check_sinks), rather than ignoring it. Set the switch explicitly when
# the ARN is only known after apply (count cannot depend on it).
################################################################################

locals {
  brought_sinks = {
    checkpoint_table   = { switch = "create_checkpoint_table", create = var.create_checkpoint_table, input = "checkpoint_table_arn", arn = var.checkpoint_table_arn, used = local.create }
    analytics_table    = { switch = "create_analytics_table", create = var.create_analytics_table, input = "analytics_table_arn", arn = var.analytics_table_arn, used = local.run.analytics }
    notification_topic = { switch = "create_notification_topic", create = var.create_notification_topic, input = "notification_topic_arn", arn = var.notification_topic_arn, used = local.run.notification }
    etl_bucket         = { switch = "create_etl_bucket", create = var.create_etl_bucket, input = "etl_bucket_arn", arn = var.etl_bucket_arn, used = local.run.etl }
    failure_bucket     = { switch = "create_failure_bucket", create = var.create_failure_bucket, input = "failure_bucket_arn", arn = var.failure_bucket_arn, used = local.failure_to_s3 }
    eventbus_bus       = { switch = local.renamed.create_eventbus_bus.input, create = local.renamed.create_eventbus_bus.value, input = "eventbus_bus_arn", arn = var.eventbus_bus_arn, used = local.run.eventbus }
    view_table         = { switch = local.renamed.create_view_table.input, create = local.renamed.create_view_table.value, input = "view_table_arn", arn = var.view_table_arn, used = local.run.view }
  }
  # Each switch resolved: whether the module creates that sink (when its processor runs).
  sink_switch = { for k, s in local.brought_sinks : k => coalesce(s.create, s.arn == null) }
  # Switches set to true while their ARN is given as well.
  sink_switch_conflicts = [for k, s in local.brought_sinks : "${s.switch} = true, but ${s.input} is given" if s.used && s.create == true && s.arn != null]

  create_checkpoint_table = local.create && local.sink_switch.checkpoint_table
  checkpoint_table_arn    = local.sink_switch.checkpoint_table ? try(aws_dynamodb_table.checkpoint[0].arn, null) : var.checkpoint_table_arn
  checkpoint_table_name = local.sink_switch.checkpoint_table ? try(aws_dynamodb_table.checkpoint[0].name, null) : (
    var.checkpoint_table_arn == null ? null : element(split("/", var.checkpoint_table_arn), 1)
  )

  create_analytics_table = local.run.analytics && local.sink_switch.analytics_table
  analytics_table_arn = !local.run.analytics ? null : (
    local.sink_switch.analytics_table ? try(aws_dynamodb_table.aggregates[0].arn, null) : var.analytics_table_arn
  )
  analytics_table_name = !local.run.analytics ? null : (
    local.sink_switch.analytics_table ? try(aws_dynamodb_table.aggregates[0].name, null) : (
      var.analytics_table_arn == null ? null : element(split("/", var.analytics_table_arn), 1)
    )
  )

  create_notification_topic = local.run.notification && local.sink_switch.notification_topic
  notification_topic_arn = !local.run.notification ? null : (
    local.sink_switch.notification_topic ? try(aws_sns_topic.this[0].arn, null) : var.notification_topic_arn
  )


  # The ETL bucket, when the module creates it (s3.tf hardens every bucket the module creates).
  etl_buckets = local.run.etl && local.sink_switch.etl_bucket ? {
    etl = {
      name            = coalesce(var.etl_bucket_name, "${lower(var.name)}-etl-${local.account_id}")
      kms_key_arn     = var.etl_bucket_kms_key_arn
      expiration_days = var.etl_bucket_expiration_days
      prefix          = var.etl_prefix
      force_destroy   = var.etl_bucket_force_destroy
    }
  } : {}

  etl_bucket_arn = !local.run.etl ? null : (
    local.sink_switch.etl_bucket ? try(aws_s3_bucket.this["etl"].arn, null) : var.etl_bucket_arn
  )
  etl_bucket_name = !local.run.etl ? null : (
    local.sink_switch.etl_bucket ? try(aws_s3_bucket.this["etl"].id, null) : (
      var.etl_bucket_arn == null ? null : element(split(":::", var.etl_bucket_arn), 1)
    )
  )

  # Event bus: the created bus <name>-events, or the brought one (the default bus allowed).
  create_eventbus_bus = local.run.eventbus && local.sink_switch.eventbus_bus
  eventbus_bus_arn = !local.run.eventbus ? null : (
    local.sink_switch.eventbus_bus ? try(aws_cloudwatch_event_bus.this[0].arn, null) : var.eventbus_bus_arn
  )
  eventbus_bus_name = !local.run.eventbus ? null : (
    local.sink_switch.eventbus_bus ? try(aws_cloudwatch_event_bus.this[0].name, null) : (
      var.eventbus_bus_arn == null ? null : element(split("event-bus/", var.eventbus_bus_arn), 1)
    )
  )
  # EVENTBUS_NAME: the created bus by name; a brought bus by ARN (it may be in another account).
  eventbus_handler_target = local.sink_switch.eventbus_bus ? local.eventbus_bus_name : local.eventbus_bus_arn
  eventbus_rules          = local.run.eventbus ? var.eventbus_rules : {}
  # One per rule and target, keyed "<rule key>/<target key>" (keys known at plan time).
  eventbus_targets = merge([for k, r in local.eventbus_rules : {
    for t, target in r.targets : "${k}/${t}" => { rule = k, target = t, arn = target.arn, role_arn = target.role_arn }
  }]...)

  # View table: created <name>-view, or brought.
  create_view_table = local.run.view && local.sink_switch.view_table
  view_table_arn = !local.run.view ? null : (
    local.sink_switch.view_table ? try(aws_dynamodb_table.view[0].arn, null) : var.view_table_arn
  )
  view_table_name = !local.run.view ? null : (
    local.sink_switch.view_table ? try(aws_dynamodb_table.view[0].name, null) : (
      var.view_table_arn == null ? null : element(split("/", var.view_table_arn), 1)
    )
  )

  # Replica table: always the caller's (it may be in another region, which needs a provider of
  # that region). REPLICA_TABLE gets the ARN, whose region the handler uses for its client.
  replica_table_arn  = local.run.replicate ? var.replica_table_arn : null
  replica_table_name = local.replica_table_arn == null ? null : element(split("/", local.replica_table_arn), 1)

  # A view or replica table with the source table's name in another region may be that
  # region's replica of the source's global table (all replicas share the name; multi-account
  # global tables exist): every write there would be replicated back into the source and come
  # back on its stream. The handlers then ask DescribeTable once per cold start and refuse a
  # replica (handlers/versioned.py); with global_table = true the plan refuses it (check_sinks).
  same_name_elsewhere = { for k, arn in {
    view      = local.run.view && !local.sink_switch.view_table ? var.view_table_arn : null
    replicate = local.replica_table_arn
    } : k => arn == null || local.source_table_name == null ? false : (
    split(":", arn)[3] != local.source_region && element(split("/", arn), 1) == local.source_table_name
  ) }
}

################################################################################
# Notification sink: SNS topic, KMS-encrypted, standard or FIFO
################################################################################

resource "aws_sns_topic" "this" {
  count = local.create_notification_topic ? 1 : 0

  name                        = var.notification_topic_fifo ? "${var.name}-notifications.fifo" : "${var.name}-notifications"
  fifo_topic                  = var.notification_topic_fifo ? true : null
  content_based_deduplication = var.notification_topic_fifo ? var.notification_topic_content_based_deduplication : null
  kms_master_key_id           = coalesce(var.notification_topic_kms_key_arn, "alias/aws/sns")

  tags = var.tags
}

################################################################################
# Analytics sink: aggregates table (the handlers' AGGREGATES_TABLE)
################################################################################

resource "aws_dynamodb_table" "aggregates" {
  count = local.create_analytics_table ? 1 : 0

  name                        = "${var.name}-aggregates"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  deletion_protection_enabled = var.deletion_protection_enabled

  attribute {
    name = "pk"
    type = "S"
  }

  ttl {
    enabled        = true
    attribute_name = "expires_at"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.analytics_table_kms_key_arn
  }

  tags = var.tags
}

################################################################################
# Event bus sink: custom EventBridge bus (EVENTBUS_NAME) and the caller's rules on it
################################################################################

resource "aws_cloudwatch_event_bus" "this" {
  count = local.create_eventbus_bus ? 1 : 0

  name = "${var.name}-events"

  tags = var.tags
}

resource "aws_cloudwatch_event_rule" "this" {
  for_each = local.eventbus_rules

  name           = "${var.name}-${each.key}"
  description    = coalesce(each.value.description, "Rule ${each.key} on the change events of ${local.table_name}")
  event_bus_name = local.eventbus_bus_name
  event_pattern  = each.value.event_pattern
  state          = "ENABLED"

  tags = var.tags
}

resource "aws_cloudwatch_event_target" "this" {
  for_each = local.eventbus_targets

  rule           = aws_cloudwatch_event_rule.this[each.value.rule].name
  event_bus_name = local.eventbus_bus_name
  target_id      = each.value.target
  arn            = each.value.arn
  role_arn       = each.value.role_arn
}

################################################################################
# View sink: the materialized view table (VIEW_TABLE)
################################################################################

resource "aws_dynamodb_table" "view" {
  count = local.create_view_table ? 1 : 0

  name                        = "${var.name}-view"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = var.view_partition_key
  range_key                   = var.view_sort_key
  deletion_protection_enabled = var.deletion_protection_enabled

  attribute {
    name = var.view_partition_key
    type = var.view_partition_key_type
  }

  dynamic "attribute" {
    for_each = var.view_sort_key == null ? [] : [var.view_sort_key]

    content {
      name = attribute.value
      type = var.view_sort_key_type
    }
  }

  # Tombstones of deleted items (_ddbt_deleted) carry _ddbt_expires; TTL removes them once no
  # redelivery of an older change can arrive any more.
  ttl {
    enabled        = true
    attribute_name = "_ddbt_expires"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.view_table_kms_key_arn
  }

  tags = var.tags

  # view_partition_key is checked (check_sinks) before the table is planned.
  depends_on = [terraform_data.check_sinks]
}
