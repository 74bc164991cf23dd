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
  # Every created-or-brought part: its switch (null: none, the ARN alone decides) and its ARN
  # input, with their values, whether the part is used in this configuration, and what the
  # plan says when the switch is false without an ARN.
  brought_sinks = {
    checkpoint_table   = { switch = "create_checkpoint_table", create = var.create_checkpoint_table, input = "checkpoint_table_arn", arn = var.checkpoint_table_arn, used = local.create, without = ": every function gets CHECKPOINT_TABLE" }
    analytics_table    = { switch = "create_analytics_table", create = var.create_analytics_table, input = "analytics_table_arn", arn = var.analytics_table_arn, used = local.run.analytics, without = " (or set create_analytics = false)" }
    notification_topic = { switch = "create_notification_topic", create = var.create_notification_topic, input = "notification_topic_arn", arn = var.notification_topic_arn, used = local.run.notification, without = " (or set create_notification = false)" }
    etl_bucket         = { switch = "create_etl_bucket", create = var.create_etl_bucket, input = "etl_bucket_arn", arn = var.etl_bucket_arn, used = local.run.etl, without = " (or set create_etl = false)" }
    failure_bucket     = { switch = "create_failure_bucket", create = var.create_failure_bucket, input = "failure_bucket_arn", arn = var.failure_bucket_arn, used = local.failure_to_s3, without = " (on_failure_destination = \"s3\")" }
    eventbus_bus       = { switch = local.renamed.create_eventbus_bus.input, create = local.renamed.create_eventbus_bus.value, input = "eventbus_bus_arn", arn = var.eventbus_bus_arn, used = local.run.eventbus, without = " (e.g. the default bus, arn:aws:events:<region>:<account>:event-bus/default), or set create_eventbus = false" }
    view_table         = { switch = local.renamed.create_view_table.input, create = local.renamed.create_view_table.value, input = "view_table_arn", arn = var.view_table_arn, used = local.run.view, without = " (or set create_view = false)" }
    archive_bucket     = { switch = null, create = null, input = "dlq_archiver_bucket_arn", arn = var.dlq_archiver_bucket_arn, used = local.create_dlq_archiver, without = "" }
  }
  # Each switch resolved: whether the module creates that part (when it is used).
  sink_switch = { for k, s in local.brought_sinks : k => coalesce(s.create, s.arn == null) }
  create_sink = { for k, s in local.brought_sinks : k => s.used && local.sink_switch[k] }
  # Switches set to true while their ARN is given as well (check_sinks).
  sink_switch_conflicts = [for k, s in local.brought_sinks : "${s.switch} = true, but ${s.input} is given" if s.used && s.create == true && s.arn != null]
  # Switches set to false without an ARN (check_sinks).
  sink_arn_missing = [for k, s in local.brought_sinks : "${s.switch} = false needs ${s.input}${s.without}" if s.used && !local.sink_switch[k] && s.arn == null]

  # What the module created (apart from brought_sinks, whose switches the counts depend on).
  created_sinks = {
    checkpoint_table   = { arn = try(aws_dynamodb_table.checkpoint[0].arn, null), name = try(aws_dynamodb_table.checkpoint[0].name, null) }
    analytics_table    = { arn = try(aws_dynamodb_table.aggregates[0].arn, null), name = try(aws_dynamodb_table.aggregates[0].name, null) }
    notification_topic = { arn = try(aws_sns_topic.this[0].arn, null), name = try(aws_sns_topic.this[0].name, null) }
    etl_bucket         = { arn = try(aws_s3_bucket.this["etl"].arn, null), name = try(aws_s3_bucket.this["etl"].id, null) }
    failure_bucket     = { arn = try(aws_s3_bucket.this["failures"].arn, null), name = try(aws_s3_bucket.this["failures"].id, null) }
    eventbus_bus       = { arn = try(aws_cloudwatch_event_bus.this[0].arn, null), name = try(aws_cloudwatch_event_bus.this[0].name, null) }
    view_table         = { arn = try(aws_dynamodb_table.view[0].arn, null), name = try(aws_dynamodb_table.view[0].name, null) }
    archive_bucket     = { arn = try(aws_s3_bucket.this["archive"].arn, null), name = try(element(split(":::", aws_s3_bucket.this["archive"].arn), 1), null) }
  }
  # The ARN and name of each part, created or brought; null when it is not used. A brought
  # part's name is the ARN's resource without its type (table/, event-bus/).
  sink_arn = { for k, s in local.brought_sinks : k => !s.used ? null : (local.sink_switch[k] ? local.created_sinks[k].arn : s.arn) }
  sink_name = { for k, s in local.brought_sinks : k => !s.used ? null : (local.sink_switch[k] ? local.created_sinks[k].name : (
    s.arn == null ? null : replace(element(split(":", s.arn), 5), "/^(table|event-bus)//", "")
  )) }

  # The ETL bucket, when the module creates it (s3.tf hardens every bucket the module creates).
  etl_buckets = local.create_sink.etl_bucket ? {
    etl = {
      name            = coalesce(var.etl_bucket_name, "${lower(var.name)}-etl-${local.account_id}")
      kms_key_arn     = var.etl_bucket_kms_key_arn
      expiration_days = var.etl_bucket_expiration_days
      prefix          = var.etl_prefix
      force_destroy   = var.etl_bucket_force_destroy
    }
  } : {}

  # EVENTBUS_NAME: the created bus by name; a brought bus by ARN (it may be in another account).
  eventbus_handler_target = local.sink_switch.eventbus_bus ? local.sink_name.eventbus_bus : local.sink_arn.eventbus_bus
  eventbus_rules          = local.run.eventbus ? var.eventbus_rules : {}
  # One per rule and target, keyed "<rule key>/<target key>" (keys known at plan time).
  eventbus_targets = merge([for k, r in local.eventbus_rules : {
    for t, target in r.targets : "${k}/${t}" => { rule = k, target = t, arn = target.arn, role_arn = target.role_arn }
  }]...)

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
  count = local.create_sink.notification_topic ? 1 : 0

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
  count = local.create_sink.analytics_table ? 1 : 0

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
  count = local.create_sink.eventbus_bus ? 1 : 0

  name = "${var.name}-events"

  tags = var.tags
}

resource "aws_cloudwatch_event_rule" "this" {
  for_each = local.eventbus_rules

  name           = "${var.name}-${each.key}"
  description    = coalesce(each.value.description, "Rule ${each.key} on the change events of ${local.table_name}")
  event_bus_name = local.sink_name.eventbus_bus
  event_pattern  = each.value.event_pattern
  state          = "ENABLED"

  tags = var.tags
}

resource "aws_cloudwatch_event_target" "this" {
  for_each = local.eventbus_targets

  rule           = aws_cloudwatch_event_rule.this[each.value.rule].name
  event_bus_name = local.sink_name.eventbus_bus
  target_id      = each.value.target
  arn            = each.value.arn
  role_arn       = each.value.role_arn
}

################################################################################
# View sink: the materialized view table (VIEW_TABLE)
################################################################################

resource "aws_dynamodb_table" "view" {
  count = local.create_sink.view_table ? 1 : 0

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
