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
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "sqs:*"
      Resource  = each.value.arn
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
}
