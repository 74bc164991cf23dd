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
