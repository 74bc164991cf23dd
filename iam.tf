################################################################################
# One execution role per function, least privilege: each statement names the exact resource the
# handler code (or the event source mapping acting with the role) uses.
################################################################################

locals {
  # Customer managed keys each function uses: the statement id, the key, the actions, the
  # input that names the key and the service that calls KMS for the function (the statement is
  # scoped with kms:ViaService to it). keys.tf renders the key policy statements from the same
  # list. DynamoDB reads and writes (the stream included) decrypt through DynamoDB; S3 SSE-KMS
  # needs only kms:GenerateDataKey for a single-part PutObject (kms:Decrypt is for reads and
  # multipart uploads, which neither the ETL nor Lambda's failure destination needs); SQS and
  # SNS producers need kms:GenerateDataKey and kms:Decrypt.
  kms_grants = { for k, f in local.functions : k => [for g in concat(
    [
      # Reading the stream of a table encrypted with a customer managed key.
      { sid = "DecryptSourceTableStream", input = "table_kms_key_arn", key = var.table_kms_key_arn, service = "dynamodb", actions = ["kms:Decrypt"] },
      { sid = "UseCheckpointTableKey", input = "checkpoint_table_kms_key_arn", key = var.checkpoint_table_kms_key_arn, service = "dynamodb", actions = ["kms:Decrypt"] },
    ],
    # Each processor's sink (processors.tf processor_wiring).
    flatten([for p in f.processors : local.processor_wiring[p].kms_grants]),
    [
      { sid = "UseDeadLetterQueueKey", input = "dlq_kms_key_arn", key = local.failure_to_sqs ? var.dlq_kms_key_arn : null, service = "sqs", actions = ["kms:GenerateDataKey", "kms:Decrypt"] },
      { sid = "UseFailureBucketKey", input = "failure_bucket_kms_key_arn", key = local.failure_to_s3 ? var.failure_bucket_kms_key_arn : null, service = "s3", actions = ["kms:GenerateDataKey"] },
    ],
  ) : g if g.key != null] }

  policy_statements = { for k, f in local.functions : k => concat(
    [
      {
        Sid      = "WriteOwnLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = ["${try(aws_cloudwatch_log_group.this[k].arn, "")}:log-stream:*"]
      },
      {
        Sid      = "ReadTableStream"
        Effect   = "Allow"
        Action   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
        Resource = [local.stream_arn]
      },
      {
        # dynamodb:ListStreams supports no resource-level permission (Service Authorization
        # Reference: no resource type), so "*" is the narrowest resource AWS accepts.
        Sid      = "ListStreams"
        Effect   = "Allow"
        Action   = ["dynamodb:ListStreams"]
        Resource = ["*"]
      },
      {
        Sid      = "Checkpoints"
        Effect   = "Allow"
        Action   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
        Resource = [local.sink_arn.checkpoint_table]
      },
    ],
    # Each processor's sink (processors.tf processor_wiring).
    flatten([for p in f.processors : local.processor_wiring[p].statements]),
    local.failure_to_sqs ? [{
      Sid      = "SendToOwnDeadLetterQueue"
      Effect   = "Allow"
      Action   = ["sqs:SendMessage"]
      Resource = [try(aws_sqs_queue.dlq[k].arn, "")]
    }] : [],
    # Lambda documents s3:PutObject and s3:ListBucket for an S3 on-failure destination.
    local.failure_to_s3 ? [
      {
        Sid      = "WriteFailedBatches"
        Effect   = "Allow"
        Action   = ["s3:PutObject"]
        Resource = [local.sink_arn.failure_bucket == null ? null : "${local.sink_arn.failure_bucket}/*"]
      },
      {
        Sid      = "ListFailureBucket"
        Effect   = "Allow"
        Action   = ["s3:ListBucket"]
        Resource = [local.sink_arn.failure_bucket]
      },
    ] : [],
    [for g in local.kms_grants[k] : {
      Sid       = g.sid
      Effect    = "Allow"
      Action    = g.actions
      Resource  = [g.key]
      Condition = { StringEquals = { "kms:ViaService" = "${g.service}.${try(split(":", g.key)[3], "")}.amazonaws.com" } }
    }],
  ) }
}

# Trust policy of every execution role the module creates (stream processors, DLQ archiver).
locals {
  lambda_assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "LambdaAssumeRole"
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "lambda.amazonaws.com" }
    }]
  })
}

resource "aws_iam_role" "this" {
  for_each = local.functions

  name               = each.value.name
  description        = "Execution role of the ${each.value.name} stream processor"
  assume_role_policy = local.lambda_assume_role_policy

  tags = var.tags
}

resource "aws_iam_role_policy" "this" {
  for_each = local.functions

  name = "least-privilege"
  role = aws_iam_role.this[each.key].id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.policy_statements[each.key]
  })
}
