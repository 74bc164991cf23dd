locals {
  # The handlers' environment contract (see README "Handlers"): the caller's variables, what
  # every function gets, and each of its processors' own (processors.tf processor_wiring).
  function_environment = { for k, f in local.functions : k => merge(concat(
    [
      var.environment_variables,
      {
        CHECKPOINT_TABLE  = local.sink_name.checkpoint_table
        METRICS_NAMESPACE = var.metrics_namespace
        LOG_LEVEL         = var.log_level
      },
      f.handler == "handlers.pipeline.handler" ? { PROCESSORS = join(",", f.processors) } : {},
    ],
    [for p in f.processors : local.processor_wiring[p].environment],
  )...) }
}

################################################################################
# Log groups (created before the functions so Lambda does not create them without retention)
################################################################################

resource "aws_cloudwatch_log_group" "this" {
  for_each = local.functions

  #checkov:skip=CKV_AWS_338:Retention is the caller's choice (log_retention_in_days, default 30 days); one year is not required for processing logs.

  name              = "/aws/lambda/${each.value.name}"
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.log_kms_key_arn

  tags = var.tags
}

################################################################################
# Functions
################################################################################

resource "aws_lambda_function" "this" {
  for_each = local.functions

  #checkov:skip=CKV_AWS_50:X-Ray tracing is not used; the handlers emit embedded metrics and structured logs.
  #checkov:skip=CKV_AWS_116:Stream-invoked functions are invoked synchronously; failed batches go to the event source mapping's on-failure destination, not a function DLQ.
  #checkov:skip=CKV_AWS_117:The functions call only AWS APIs (DynamoDB, S3, SNS, EventBridge); a VPC is not needed and would need NAT or endpoints.
  #checkov:skip=CKV_AWS_272:Code signing is optional; the code is the module's reproducible zip or the caller's S3 object.

  function_name = each.value.name
  description   = "DynamoDB stream processor (${join(", ", each.value.processors)}) of ${local.table_name}"
  role          = aws_iam_role.this[each.key].arn
  handler       = each.value.handler
  runtime       = var.runtime
  architectures = [var.architecture]
  memory_size   = local.function_settings[each.key].memory_size
  timeout       = local.function_settings[each.key].timeout
  publish       = var.publish
  kms_key_arn   = var.function_kms_key_arn

  reserved_concurrent_executions = coalesce(local.function_settings[each.key].reserved_concurrent_executions, -1)

  filename          = local.package_source.filename
  source_code_hash  = local.package_source.source_code_hash
  s3_bucket         = local.package_source.s3_bucket
  s3_key            = local.package_source.s3_key
  s3_object_version = local.package_source.s3_object_version

  environment {
    variables = local.function_environment[each.key]
  }

  tags = var.tags

  depends_on = [
    aws_cloudwatch_log_group.this,
    aws_iam_role_policy.this,
    # Inputs are checked before any function (and so any mapping) is planned.
    terraform_data.check_renamed_inputs,
    terraform_data.check_processors,
    terraform_data.check_stream,
    terraform_data.check_stream_readers,
    terraform_data.check_code,
    terraform_data.check_sinks,
    terraform_data.stream_change_check,
  ]
}

resource "aws_lambda_alias" "this" {
  for_each = var.create_alias ? local.functions : {}

  name             = var.alias_name
  description      = "Version the event source mapping invokes"
  function_name    = aws_lambda_function.this[each.key].function_name
  function_version = lookup(var.alias_function_versions, each.key, aws_lambda_function.this[each.key].version)
}
