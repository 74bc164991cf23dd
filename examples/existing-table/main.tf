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

  # A given stream_arn means attaching to that table's stream (create_table may stay unset).
  # The module reads the table at plan time and fails when the stream is disabled, is not
  # stream_arn, or has a view type the processors cannot use.
  stream_arn = var.stream_arn
  # A new ARN for the same table (stream re-created) is refused unless acknowledged.
  stream_arn_change_acknowledged = var.stream_arn_change_acknowledged
  stream_view_type               = var.stream_view_type
  table_kms_key_arn              = var.table_kms_key_arn

  create_analytics    = false
  create_etl          = false
  create_notification = true

  notification_events = ["INSERT", "MODIFY"]

  # Publish to an existing topic when given (a given ARN means bring your own), otherwise the
  # module creates one.
  notification_topic_arn = var.notification_topic_arn

  deletion_protection_enabled = var.deletion_protection_enabled

  tags = { Example = local.name }
}
