provider "aws" {
  region = var.region
}

# The replica table lives in another region: a provider of that region creates it.
provider "aws" {
  alias  = "replica"
  region = var.replica_region
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
# - eventbus: every change as an EventBridge event; a rule sends status changes to SQS
# - view: applications by job in a second table, kept in order and idempotently
# - replicate: every change copied into a table in another region
# - Glue: a table over the ETL objects with partition projection, for Athena
#
# All six run in one function (combined layout), so the stream has a single reader.
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

  # ETL of every change (no filter patterns: the one mapping feeds all six processors)
  etl_prefix               = "changes/"
  etl_bucket_force_destroy = var.force_destroy

  # Failed batches: a dead-letter queue (14 days) with an alarm when it is not empty
  on_failure_destination = "sqs"
  maximum_retry_attempts = 5
  alarm_actions          = var.alarm_actions

  # ...and archived to S3 within seconds by a function on the queue (the stream keeps records
  # for 24 hours; `ddbt redrive --from-s3` re-runs an archive)
  create_dlq_archiver               = true
  dlq_archiver_bucket_force_destroy = var.force_destroy

  # Event bus: every change as an EventBridge event on the bus ex-complete-events; a rule routes
  # status changes (MODIFY) to an SQS queue
  create_eventbus = true
  eventbus_rules = {
    status-changes = {
      description = "Application changes (MODIFY) to the status-changes queue"
      event_pattern = jsonencode({
        source        = ["dynamodb-triggers.${local.name}-applications"]
        "detail-type" = ["DynamoDB MODIFY"]
      })
      targets = {
        queue = { arn = aws_sqs_queue.status_changes.arn }
      }
    }
  }

  # Materialized view: applications by job (job_id, application_id) with their status
  create_view        = true
  view_partition_key = "job_id"
  view_sort_key      = "application_id"
  view_attributes    = ["status"]

  # Replication into the table of another region (created below)
  create_replicate  = true
  replica_table_arn = aws_dynamodb_table.replica.arn

  # Cache: the items in a Valkey/Redis cache, last writer wins (when an endpoint is given)
  create_cache   = var.cache_endpoint != null
  cache_endpoint = var.cache_endpoint
  cache_tls      = var.cache_tls

  # Athena over the ETL objects: Glue table with partition projection (no crawler)
  create_etl_glue_table = true

  tags = local.tags
}

################################################################################
# Replica table in var.replica_region: the source table's key schema, TTL on _ddbt_expires
# (tombstones of deleted items expire through it)
################################################################################

resource "aws_dynamodb_table" "replica" {
  provider = aws.replica

  #checkov:skip=CKV_AWS_119:Example table, encrypted with the AWS managed key; a customer managed key is the caller's choice (pass it as replica_table_kms_key_arn so the function may use it).

  name                        = "${local.name}-applications-replica"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "application_id"
  deletion_protection_enabled = var.deletion_protection_enabled

  attribute {
    name = "application_id"
    type = "S"
  }

  ttl {
    enabled        = true
    attribute_name = "_ddbt_expires"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }

  tags = local.tags
}

################################################################################
# Target of the status-changes rule: an encrypted queue that only that rule may send to
################################################################################

resource "aws_sqs_queue" "status_changes" {
  name                    = "${local.name}-status-changes"
  sqs_managed_sse_enabled = true

  tags = local.tags
}

resource "aws_sqs_queue_policy" "status_changes" {
  queue_url = aws_sqs_queue.status_changes.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "EventBridgeRule"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = aws_sqs_queue.status_changes.arn
        Condition = { ArnEquals = { "aws:SourceArn" = module.triggers.eventbus_rule_arns["status-changes"] } }
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "sqs:*"
        Resource  = aws_sqs_queue.status_changes.arn
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })
}
