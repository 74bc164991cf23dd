provider "aws" {
  region = var.region
}

locals {
  name = "ex-${basename(path.cwd)}"

  tags = {
    Example    = local.name
    Repository = "dynamodb-triggers"
  }
}

################################################################################
# Job applications: one item per application (application_id), with job_id and status.
#
# - analytics: counts per job and per status in the aggregates table
# - notification: an SNS message when an application's status changes
# - ETL: every change written to S3 under changes/
#
# All three run in one function (combined layout), so the stream has a single reader.
################################################################################

module "triggers" {
  source = "../../"

  name = local.name

  table_name                  = "${local.name}-applications"
  table_hash_key              = "application_id"
  stream_view_type            = "NEW_AND_OLD_IMAGES" # notification compares old and new status
  deletion_protection_enabled = var.deletion_protection_enabled

  function_layout = "combined"

  # Analytics per job and status
  analytics_group_by = ["job_id", "status"]

  # Notify on MODIFY when `status` changed
  notification_events     = ["MODIFY"]
  notification_attributes = ["status"]

  # ETL of every change (no filter patterns: the one mapping feeds all three processors)
  etl_prefix               = "changes/"
  etl_bucket_force_destroy = var.force_destroy

  # Failed batches: a dead-letter queue (14 days) with an alarm when it is not empty
  on_failure_destination = "sqs"
  maximum_retry_attempts = 5
  alarm_actions          = var.alarm_actions

  tags = local.tags
}
