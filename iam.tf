################################################################################
# One execution role per function, least privilege: each statement names the exact resource the
# handler code (or the event source mapping acting with the role) uses.
################################################################################

locals {
  # What handlers/view.py and handlers/replicate.py call on their tables: conditional PutItem
  # (items and tombstones alike), GetItem only in version-attribute mode (a REMOVE whose
  # version is unknown tombstones the item at the version it holds), and DescribeTable only on
  # a table named like the source in another region (is it a replica of the source's global
  # table? sinks.tf same_name_elsewhere). tests/security/test_iam.py records the calls.
  view_table_actions = concat(
    ["dynamodb:PutItem"],
    var.view_version_attribute != null ? ["dynamodb:GetItem"] : [],
    local.same_name_elsewhere.view ? ["dynamodb:DescribeTable"] : [],
  )
  replica_table_actions = concat(
    ["dynamodb:PutItem"],
    var.replicate_version_attribute != null ? ["dynamodb:GetItem"] : [],
    local.same_name_elsewhere.replicate ? ["dynamodb:DescribeTable"] : [],
  )

  # Customer managed keys each function uses: the statement id, the key, the actions, the
  # input that names the key and the service that calls KMS for the function (the statement is
  # scoped with kms:ViaService to it). keys.tf renders the key policy statements from the same
  # list. DynamoDB reads and writes (the stream included) decrypt through DynamoDB; S3 SSE-KMS
  # needs only kms:GenerateDataKey for a single-part PutObject (kms:Decrypt is for reads and
  # multipart uploads, which neither the ETL nor Lambda's failure destination needs); SQS and
  # SNS producers need kms:GenerateDataKey and kms:Decrypt.
  kms_grants = { for k, f in local.functions : k => [for g in [
    # Reading the stream of a table encrypted with a customer managed key.
    { sid = "DecryptSourceTableStream", input = "table_kms_key_arn", key = var.table_kms_key_arn, service = "dynamodb", actions = ["kms:Decrypt"] },
    { sid = "UseCheckpointTableKey", input = "checkpoint_table_kms_key_arn", key = var.checkpoint_table_kms_key_arn, service = "dynamodb", actions = ["kms:Decrypt"] },
    {
      sid     = "UseAggregatesTableKey"
      input   = "analytics_table_kms_key_arn"
      key     = contains(f.processors, "analytics") ? var.analytics_table_kms_key_arn : null
      service = "dynamodb"
      actions = ["kms:Decrypt"]
    },
    {
      sid     = "UseEtlBucketKey"
      input   = "etl_bucket_kms_key_arn"
      key     = contains(f.processors, "etl") ? var.etl_bucket_kms_key_arn : null
      service = "s3"
      actions = ["kms:GenerateDataKey"]
    },
    {
      sid     = "UseNotificationTopicKey"
      input   = "notification_topic_kms_key_arn"
      key     = contains(f.processors, "notification") ? var.notification_topic_kms_key_arn : null
      service = "sns"
      actions = ["kms:GenerateDataKey", "kms:Decrypt"]
    },
    {
      sid     = "UseViewTableKey"
      input   = "view_table_kms_key_arn"
      key     = contains(f.processors, "view") ? var.view_table_kms_key_arn : null
      service = "dynamodb"
      actions = ["kms:Decrypt"]
    },
    {
      sid     = "UseReplicaTableKey"
      input   = "replica_table_kms_key_arn"
      key     = contains(f.processors, "replicate") ? var.replica_table_kms_key_arn : null
      service = "dynamodb"
      actions = ["kms:Decrypt"]
    },
    {
      sid     = "UseDeadLetterQueueKey"
      input   = "dlq_kms_key_arn"
      key     = local.failure_to_sqs ? var.dlq_kms_key_arn : null
      service = "sqs"
      actions = ["kms:GenerateDataKey", "kms:Decrypt"]
    },
    {
      sid     = "UseFailureBucketKey"
      input   = "failure_bucket_kms_key_arn"
      key     = local.failure_to_s3 ? var.failure_bucket_kms_key_arn : null
      service = "s3"
      actions = ["kms:GenerateDataKey"]
    },
  ] : g if g.key != null] }

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
    contains(f.processors, "analytics") ? [{
      Sid      = "WriteAggregates"
      Effect   = "Allow"
      Action   = ["dynamodb:UpdateItem"]
      Resource = [local.sink_arn.analytics_table]
    }] : [],
    contains(f.processors, "notification") ? [{
      Sid      = "PublishNotifications"
      Effect   = "Allow"
      Action   = ["sns:Publish"]
      Resource = [local.sink_arn.notification_topic]
    }] : [],
    contains(f.processors, "etl") ? [{
      Sid      = "WriteEtlObjects"
      Effect   = "Allow"
      Action   = ["s3:PutObject"]
      Resource = [local.sink_arn.etl_bucket == null ? null : "${local.sink_arn.etl_bucket}/${var.etl_prefix}*"]
    }] : [],
    contains(f.processors, "eventbus") ? [{
      Sid      = "PublishEvents"
      Effect   = "Allow"
      Action   = ["events:PutEvents"]
      Resource = [local.sink_arn.eventbus_bus]
    }] : [],
    contains(f.processors, "view") ? [{
      Sid      = "WriteView"
      Effect   = "Allow"
      Action   = local.view_table_actions
      Resource = [local.sink_arn.view_table]
    }] : [],
    contains(f.processors, "replicate") ? [{
      Sid      = "WriteReplica"
      Effect   = "Allow"
      Action   = local.replica_table_actions
      Resource = [local.replica_table_arn]
    }] : [],
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
