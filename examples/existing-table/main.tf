provider "aws" {
  region = var.region
}

locals {
  name = "ex-${basename(path.cwd)}"
}

################################################################################
# Attach one processor (notification) to the stream of a table that already exists.
# The mapping starts at LATEST (the module's default when attaching), so existing changes in
# the stream are not replayed as notifications.
################################################################################

module "triggers" {
  source = "../../"

  name = local.name

  create_table = false
  stream_arn   = var.stream_arn
  # A new ARN for the same table (stream re-created) is refused unless acknowledged.
  stream_arn_change_acknowledged = var.stream_arn_change_acknowledged
  stream_view_type               = var.stream_view_type
  table_kms_key_arn              = var.table_kms_key_arn

  create_analytics    = false
  create_etl          = false
  create_notification = true

  notification_events = ["INSERT", "MODIFY"]

  # Use an existing topic when given, otherwise create one.
  create_notification_topic = var.notification_topic_arn == null
  notification_topic_arn    = var.notification_topic_arn

  deletion_protection_enabled = var.deletion_protection_enabled

  tags = { Example = local.name }
}
