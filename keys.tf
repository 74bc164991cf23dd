################################################################################
# Customer managed keys (docs/permissions.md):
# - kms_key_policy_statements: per KMS input, the key policy statements this stack needs,
#   rendered from the same grants as the execution roles' IAM statements (iam.tf, archiver.tf);
# - deployer_kms_policy_json: the KMS rights of whoever runs Terraform;
# - check_keys: keys in the region their resources live in, refused at plan otherwise;
# - etl_reader_policy_json: what a reader of the ETL table needs to query it with Athena.
################################################################################

locals {
  # The partition of the account the stack is deployed in (arn:<partition>:iam::...).
  partition = try(split(":", data.aws_caller_identity.current[0].arn)[1], "aws")
  account   = "arn:${local.partition}:iam::${local.account_id}:root"

  # Execution roles by ARN, built from their names: known at plan time, and a key policy that
  # names them in aws:PrincipalArn can be put before the roles exist and survives their
  # re-creation (a role named as Principal becomes an unmatched internal ID once re-created).
  function_role_arns = { for k, f in local.functions : k => "arn:${local.partition}:iam::${local.account_id}:role/${f.name}" }
  archiver_role_arn  = "arn:${local.partition}:iam::${local.account_id}:role/${local.dlq_archiver_name}"

  # Statement ids of this stack in a key policy: the stack name (letters and digits) and the
  # input, e.g. DdbtOrdersTableRolesDecrypt, so several inputs may share one key.
  key_sid_prefix = "Ddbt${replace(var.name, "/[^a-zA-Z0-9]/", "")}"
  key_input_sid = { for input in [
    "table_kms_key_arn", "checkpoint_table_kms_key_arn", "analytics_table_kms_key_arn", "etl_bucket_kms_key_arn",
    "notification_topic_kms_key_arn", "view_table_kms_key_arn", "replica_table_kms_key_arn", "dlq_kms_key_arn",
    "failure_bucket_kms_key_arn", "dlq_archiver_bucket_kms_key_arn", "log_kms_key_arn", "function_kms_key_arn",
    "filter_criteria_kms_key_arn",
  ] : input => join("", [for w in split("_", trimsuffix(input, "_kms_key_arn")) : title(w)]) }

  # Every grant of every role: the functions' kms_grants and the archiver's.
  kms_role_grants = concat(
    flatten([for k, grants in local.kms_grants : [for g in grants : merge(g, { role = local.function_role_arns[k] })]]),
    local.create_dlq_archiver ? [for g in local.dlq_archiver_kms_grants : merge(g, { role = local.archiver_role_arn })] : [],
  )

  # One statement per KMS input and set of actions: the account delegates to the IAM policies
  # of exactly these roles (aws:PrincipalArn), for use through the service that holds the data
  # (kms:ViaService), which is also what the roles' own statements require.
  kms_role_statements = {
    for id, grants in { for g in local.kms_role_grants : "${g.input}|${join(",", g.actions)}" => g... } :
    grants[0].input => {
      Sid       = "${local.key_sid_prefix}${local.key_input_sid[grants[0].input]}Roles${join("", [for a in grants[0].actions : trimprefix(a, "kms:")])}"
      Effect    = "Allow"
      Principal = { AWS = local.account }
      Action    = grants[0].actions
      Resource  = "*"
      Condition = {
        ArnEquals    = { "aws:PrincipalArn" = sort(distinct([for g in grants : g.role])) }
        StringEquals = { "kms:ViaService" = "${grants[0].service}.${try(split(":", grants[0].key)[3], "")}.amazonaws.com" }
      }
    }...
  }

  # The log groups: CloudWatch Logs itself uses the key, for exactly these log groups
  # (the encryption context names the log group).
  log_group_arns = concat(
    [for k, f in local.functions : "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${f.name}"],
    local.create_dlq_archiver ? ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${local.dlq_archiver_name}"] : [],
  )
  log_key_statements = var.log_kms_key_arn == null || length(local.log_group_arns) == 0 ? [] : [{
    Sid       = "${local.key_sid_prefix}LogGroups"
    Effect    = "Allow"
    Principal = { Service = "logs.${local.region}.amazonaws.com" }
    Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    Resource  = "*"
    Condition = { ArnEquals = { "kms:EncryptionContext:aws:logs:arn" = local.log_group_arns } }
  }]

  # What the principal running Terraform does with each key, through which service:
  # DynamoDB creates a grant on the key of every table the module creates; Lambda creates a
  # grant on the environment key and encrypts and decrypts the variables for whoever sets or
  # reads them; the filter criteria are encrypted and decrypted for whoever writes or reads the
  # mapping (without kms:Decrypt, GetEventSourceMapping hides the filter and every plan shows
  # a diff).
  deployer_key_uses = [for u in [
    { input = "table_kms_key_arn", key = local.create_table ? var.table_kms_key_arn : null, service = "dynamodb", actions = ["kms:CreateGrant", "kms:DescribeKey"] },
    { input = "checkpoint_table_kms_key_arn", key = local.create_sink.checkpoint_table ? var.checkpoint_table_kms_key_arn : null, service = "dynamodb", actions = ["kms:CreateGrant", "kms:DescribeKey"] },
    { input = "analytics_table_kms_key_arn", key = local.create_sink.analytics_table ? var.analytics_table_kms_key_arn : null, service = "dynamodb", actions = ["kms:CreateGrant", "kms:DescribeKey"] },
    { input = "view_table_kms_key_arn", key = local.create_sink.view_table ? var.view_table_kms_key_arn : null, service = "dynamodb", actions = ["kms:CreateGrant", "kms:DescribeKey"] },
    { input = "function_kms_key_arn", key = length(local.functions) > 0 ? var.function_kms_key_arn : null, service = "lambda", actions = ["kms:CreateGrant", "kms:Decrypt", "kms:Encrypt"] },
    { input = "filter_criteria_kms_key_arn", key = length(local.functions) > 0 && length(var.filter_patterns) > 0 ? var.filter_criteria_kms_key_arn : null, service = "lambda", actions = ["kms:Decrypt", "kms:GenerateDataKey"] },
  ] : u if u.key != null]

  # The key policy lets the account's IAM policies grant those uses (the deployer's own policy:
  # deployer_kms_policy_json), through the service only.
  deployer_key_statements = { for u in local.deployer_key_uses : u.input => {
    Sid       = "${local.key_sid_prefix}${local.key_input_sid[u.input]}Deployer"
    Effect    = "Allow"
    Principal = { AWS = local.account }
    Action    = u.actions
    Resource  = "*"
    Condition = { StringEquals = { "kms:ViaService" = "${u.service}.${try(split(":", u.key)[3], "")}.amazonaws.com" } }
  } }

  kms_key_policy_statements = { for input in distinct(concat(
    keys(local.kms_role_statements), keys(local.deployer_key_statements), length(local.log_key_statements) > 0 ? ["log_kms_key_arn"] : [],
    )) : input => concat(
    lookup(local.kms_role_statements, input, []),
    contains(keys(local.deployer_key_statements), input) ? [local.deployer_key_statements[input]] : [],
    input == "log_kms_key_arn" ? local.log_key_statements : [],
  ) }

  deployer_kms_policy = length(local.deployer_key_uses) == 0 ? null : {
    Version = "2012-10-17"
    Statement = [for u in local.deployer_key_uses : {
      Sid       = "Deployer${local.key_input_sid[u.input]}Key"
      Effect    = "Allow"
      Action    = u.actions
      Resource  = [u.key]
      Condition = { StringEquals = { "kms:ViaService" = "${u.service}.${try(split(":", u.key)[3], "")}.amazonaws.com" } }
    }]
  }

  # Keys of resources in the module's region must be in that region (DynamoDB, SQS, Lambda,
  # CloudWatch Logs and S3 use a key of their own region only); input name => key.
  regional_keys = { for input, key in {
    table_kms_key_arn               = var.table_kms_key_arn
    checkpoint_table_kms_key_arn    = var.checkpoint_table_kms_key_arn
    analytics_table_kms_key_arn     = local.run.analytics ? var.analytics_table_kms_key_arn : null
    view_table_kms_key_arn          = local.run.view ? var.view_table_kms_key_arn : null
    dlq_kms_key_arn                 = local.failure_to_sqs ? var.dlq_kms_key_arn : null
    log_kms_key_arn                 = var.log_kms_key_arn
    function_kms_key_arn            = var.function_kms_key_arn
    filter_criteria_kms_key_arn     = length(var.filter_patterns) > 0 ? var.filter_criteria_kms_key_arn : null
    notification_topic_kms_key_arn  = local.create_sink.notification_topic ? var.notification_topic_kms_key_arn : null
    etl_bucket_kms_key_arn          = local.create_sink.etl_bucket ? var.etl_bucket_kms_key_arn : null
    failure_bucket_kms_key_arn      = local.create_sink.failure_bucket ? var.failure_bucket_kms_key_arn : null
    dlq_archiver_bucket_kms_key_arn = local.create_sink.archive_bucket ? var.dlq_archiver_bucket_kms_key_arn : null
  } : input => key if key != null }
  keys_in_other_regions = [for input, key in local.regional_keys : "${input} (${try(split(":", key)[3], key)})" if try(split(":", key)[3], "") != local.region]
}

################################################################################
# Readers of the ETL output: the IAM policy to query the Glue table with Athena
################################################################################

locals {
  etl_reader_location = local.create_etl_glue ? "${var.etl_prefix}table=${local.source_table_name}/" : null
  etl_reader_policy = !local.create_etl_glue ? null : {
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "ReadEtlObjects"
          Effect   = "Allow"
          Action   = ["s3:GetObject"]
          Resource = ["${local.sink_arn.etl_bucket}/${local.etl_reader_location}*"]
        },
        {
          Sid       = "ListEtlObjects"
          Effect    = "Allow"
          Action    = ["s3:ListBucket"]
          Resource  = [local.sink_arn.etl_bucket]
          Condition = { StringLike = { "s3:prefix" = ["${local.etl_reader_location}*"] } }
        },
        {
          Sid      = "LocateEtlBucket"
          Effect   = "Allow"
          Action   = ["s3:GetBucketLocation"]
          Resource = [local.sink_arn.etl_bucket]
        },
        {
          Sid    = "ReadGlueTable"
          Effect = "Allow"
          Action = ["glue:GetDatabase", "glue:GetPartition", "glue:GetPartitions", "glue:GetTable"]
          Resource = [
            "arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog",
            "arn:${local.partition}:glue:${local.region}:${local.account_id}:database/${local.etl_glue_database_name}",
            "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${local.etl_glue_database_name}/${local.etl_glue_table_name}",
          ]
        },
        {
          Sid      = "RunAthenaQueries"
          Effect   = "Allow"
          Action   = ["athena:GetQueryExecution", "athena:GetQueryResults", "athena:GetWorkGroup", "athena:StartQueryExecution", "athena:StopQueryExecution"]
          Resource = ["arn:${local.partition}:athena:${local.region}:${local.account_id}:workgroup/${var.etl_reader_athena_workgroup}"]
        },
      ],
      var.etl_bucket_kms_key_arn == null ? [] : [{
        Sid       = "DecryptEtlObjects"
        Effect    = "Allow"
        Action    = ["kms:Decrypt"]
        Resource  = [var.etl_bucket_kms_key_arn]
        Condition = { StringEquals = { "kms:ViaService" = "s3.${try(split(":", var.etl_bucket_kms_key_arn)[3], "")}.amazonaws.com" } }
      }],
    )
  }
}
