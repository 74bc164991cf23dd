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
