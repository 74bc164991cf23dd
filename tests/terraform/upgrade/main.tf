# The stacks of tests/terraform/test_upgrade_moto.py, which points every `source` at the module
# version it runs: applied with the previous version and planned with this one. Every part the
# module can create, in one combined function, with the inputs as a configuration of the
# previous version set them (deprecated names included). plan_only adds what takes the
# provider long to create on moto (it waits for SQS attributes and S3 lifecycle rules to settle,
# about a minute in all): the buckets the module creates (ETL, DLQ archive, and a second
# stack's failure bucket), the dead-letter queue and the DLQ archiver.

provider "aws" {
  region = "us-east-1"
}

variable "plan_only" {
  description = "Add the buckets, the dead-letter queue and the DLQ archiver (for a plan only)."
  type        = bool
  default     = false
}

module "triggers" {
  source = "../../.."

  name           = "upgrade"
  table_hash_key = "id"

  function_layout = "combined"

  analytics_group_by      = ["status"]
  notification_attributes = ["status"]
  etl_prefix              = "changes/"
  etl_bucket_arn          = var.plan_only ? null : "arn:aws:s3:::upgrade-etl"

  create_eventbus     = true
  eventbus_create_bus = true # the deprecated name: the configuration is not edited for the upgrade
  eventbus_rules = {
    changes = {
      event_pattern = jsonencode({ "detail-type" = ["DynamoDB MODIFY"] })
      targets       = { queue = { arn = "arn:aws:sqs:us-east-1:123456789012:upgrade-changes" } }
    }
  }

  create_view        = true
  view_create_table  = true
  view_partition_key = "status"
  view_sort_key      = "id"

  create_replicate  = true
  replica_table_arn = "arn:aws:dynamodb:us-east-1:123456789012:table/upgrade-replica"

  create_etl_glue_table          = true
  etl_glue_create_database       = true
  etl_glue_projection_start_date = "2026-01-01"

  on_failure_destination = var.plan_only ? "sqs" : "none"
  create_dlq_archiver    = var.plan_only

  etl_bucket_force_destroy          = true
  dlq_archiver_bucket_force_destroy = true
  deletion_protection_enabled       = false
}

# One function per processor, failed batches to a bucket the module creates.
module "separate" {
  source = "../../.."
  count  = var.plan_only ? 1 : 0

  name           = "upgrade-s3"
  table_hash_key = "id"

  function_layout        = "separate"
  create_analytics       = false
  create_notification    = true
  on_failure_destination = "s3"

  etl_bucket_force_destroy     = true
  failure_bucket_force_destroy = true
  deletion_protection_enabled  = false
}
