################################################################################
# On-failure destination of the event source mappings (on_failure_destination): an SQS
# dead-letter queue per mapping, or an S3 bucket (created, or brought: failure_bucket_arn), or
# none. The DLQ archiver (archiver.tf) copies what the queues' messages describe to S3.
################################################################################

locals {
  failure_to_sqs = local.create && var.on_failure_destination == "sqs"
  failure_to_s3  = local.create && var.on_failure_destination == "s3"

  # The failure bucket, when the module creates it (s3.tf hardens every bucket the module creates).
  failure_buckets = local.create_sink.failure_bucket && length(local.functions) > 0 ? {
    failures = {
      name            = coalesce(var.failure_bucket_name, "${lower(var.name)}-failures-${local.account_id}")
      kms_key_arn     = var.failure_bucket_kms_key_arn
      expiration_days = var.failure_bucket_expiration_days
      prefix          = ""
      force_destroy   = var.failure_bucket_force_destroy
    }
  } : {}

  # Each mapping's destination: its own queue, or the failure bucket.
  failure_destination_arns = { for k, f in local.functions : k => (
    local.failure_to_sqs ? try(aws_sqs_queue.dlq[k].arn, null) : (local.failure_to_s3 ? local.sink_arn.failure_bucket : null)
  ) }
}

################################################################################
# Dead-letter queue per event source mapping (on_failure_destination = "sqs")
#
# Lambda sends a JSON description of each batch it gives up on (shard, first and last sequence
# number, condition); not the records. The stream keeps records for 24 hours, so act on these
# messages within a day, or choose on_failure_destination = "s3" to keep the records themselves.
################################################################################

resource "aws_sqs_queue" "dlq" {
  for_each = local.failure_to_sqs ? local.functions : {}

  name                      = "${each.value.name}-dlq"
  message_retention_seconds = var.dlq_message_retention_seconds
  # With the DLQ archiver (archiver.tf): six times its timeout, as an SQS mapping needs.
  visibility_timeout_seconds = local.dlq_visibility_timeout_seconds

  sqs_managed_sse_enabled           = var.dlq_kms_key_arn == null ? true : null
  kms_master_key_id                 = var.dlq_kms_key_arn
  kms_data_key_reuse_period_seconds = var.dlq_kms_key_arn == null ? null : 300

  tags = var.tags
}

resource "aws_sqs_queue_policy" "dlq" {
  for_each = aws_sqs_queue.dlq

  queue_url = each.value.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [merge(local.deny_insecure_transport, {
      Action   = "sqs:*"
      Resource = each.value.arn
    })]
  })
}
