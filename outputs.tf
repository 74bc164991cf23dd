################################################################################
# Source table and stream
################################################################################

output "table_name" {
  description = "Name of the source table (created, or the one whose stream the module attached to)."
  value       = var.create ? (local.create_table ? try(aws_dynamodb_table.this[0].name, null) : local.attached_table_name) : null
}

output "table_arn" {
  description = "ARN of the source table."
  value       = var.create ? local.table_arn : null
}

output "table_stream_arn" {
  description = "ARN of the stream the event source mappings read."
  value       = var.create ? local.stream_arn : null
}

output "table_stream_label" {
  description = "Label (timestamp) of the created table's stream; it changes whenever the stream is re-created."
  value       = try(aws_dynamodb_table.this[0].stream_label, null)
}

output "starting_position" {
  description = "Starting position of the event source mappings (TRIM_HORIZON or LATEST)."
  value       = var.create ? local.starting_position : null
}

################################################################################
# Functions
################################################################################

output "processors" {
  description = "Enabled processors (analytics, notification, etl, eventbus, view, replicate)."
  value       = var.create ? local.processors : []
}

output "function_names" {
  description = "Function name per function key (pipeline; a processor name with function_layout = \"separate\"; a function_groups key with \"groups\")."
  value       = { for k, v in aws_lambda_function.this : k => v.function_name }
}

output "function_arns" {
  description = "Function ARN per function key."
  value       = { for k, v in aws_lambda_function.this : k => v.arn }
}

output "function_versions" {
  description = "Latest published version per function key ($LATEST unless publish = true)."
  value       = { for k, v in aws_lambda_function.this : k => v.version }
}

output "function_alias_arns" {
  description = "Alias ARN per function key (create_alias = true); the mappings invoke these."
  value       = { for k, v in aws_lambda_alias.this : k => v.arn }
}

output "function_role_arns" {
  description = "Execution role ARN per function key."
  value       = { for k, v in aws_iam_role.this : k => v.arn }
}

output "function_role_names" {
  description = "Execution role name per function key (to attach further policies)."
  value       = { for k, v in aws_iam_role.this : k => v.name }
}

output "log_group_names" {
  description = "CloudWatch log group name per function key."
  value       = { for k, v in aws_cloudwatch_log_group.this : k => v.name }
}

output "log_group_arns" {
  description = "CloudWatch log group ARN per function key."
  value       = { for k, v in aws_cloudwatch_log_group.this : k => v.arn }
}

################################################################################
# Event source mappings and failure destinations
################################################################################

output "event_source_mapping_uuids" {
  description = "Event source mapping UUID per function key (the S3 failure destination keys objects by it)."
  value       = { for k, v in aws_lambda_event_source_mapping.this : k => v.uuid }
}

output "event_source_mapping_arns" {
  description = "Event source mapping ARN per function key."
  value       = { for k, v in aws_lambda_event_source_mapping.this : k => v.arn }
}

output "dlq_urls" {
  description = "Dead-letter queue URL per function key (on_failure_destination = \"sqs\")."
  value       = { for k, v in aws_sqs_queue.dlq : k => v.url }
}

output "dlq_arns" {
  description = "Dead-letter queue ARN per function key (on_failure_destination = \"sqs\")."
  value       = { for k, v in aws_sqs_queue.dlq : k => v.arn }
}

output "dlq_names" {
  description = "Dead-letter queue name per function key (on_failure_destination = \"sqs\")."
  value       = { for k, v in aws_sqs_queue.dlq : k => v.name }
}

output "failure_bucket_arn" {
  description = "ARN of the bucket receiving failed batches (on_failure_destination = \"s3\")."
  value       = local.sink_arn.failure_bucket
}

output "failure_bucket_name" {
  description = "Name of the bucket receiving failed batches (on_failure_destination = \"s3\")."
  value       = try(element(split(":::", local.sink_arn.failure_bucket), 1), null)
}

################################################################################
# Sinks and checkpoint table
################################################################################

output "etl_bucket_name" {
  description = "Name of the ETL bucket (ETL_BUCKET)."
  value       = local.sink_name.etl_bucket
}

output "etl_bucket_arn" {
  description = "ARN of the ETL bucket."
  value       = local.sink_arn.etl_bucket
}

output "etl_prefix" {
  description = "Key prefix of the ETL objects (ETL_PREFIX)."
  value       = local.run.etl ? var.etl_prefix : null
}

output "notification_topic_arn" {
  description = "ARN of the notification SNS topic (NOTIFY_TOPIC_ARN)."
  value       = local.sink_arn.notification_topic
}

output "notification_topic_name" {
  description = "Name of the notification SNS topic created by the module."
  value       = try(aws_sns_topic.this[0].name, null)
}

output "analytics_table_name" {
  description = "Name of the aggregates table (AGGREGATES_TABLE)."
  value       = local.sink_name.analytics_table
}

output "analytics_table_arn" {
  description = "ARN of the aggregates table."
  value       = local.sink_arn.analytics_table
}

output "eventbus_bus_name" {
  description = "Name of the event bus the eventbus processor publishes to (created, or the one of eventbus_bus_arn)."
  value       = local.sink_name.eventbus_bus
}

output "eventbus_bus_arn" {
  description = "ARN of the event bus the eventbus processor publishes to."
  value       = local.sink_arn.eventbus_bus
}

output "eventbus_handler_bus" {
  description = "EVENTBUS_NAME as the function gets it: the created bus's name, or the brought bus's ARN."
  value       = local.run.eventbus ? local.eventbus_handler_target : null
}

output "eventbus_rule_arns" {
  description = "ARN per eventbus_rules key (for a target's resource policy: aws:SourceArn)."
  value       = { for k, v in aws_cloudwatch_event_rule.this : k => v.arn }
}

output "eventbus_rule_names" {
  description = "Rule name per eventbus_rules key."
  value       = { for k, v in aws_cloudwatch_event_rule.this : k => v.name }
}

output "view_table_name" {
  description = "Name of the view table (VIEW_TABLE)."
  value       = local.sink_name.view_table
}

output "view_table_arn" {
  description = "ARN of the view table."
  value       = local.sink_arn.view_table
}

output "replica_table_name" {
  description = "Name of the replica table."
  value       = local.replica_table_name
}

output "replica_table_arn" {
  description = "ARN of the replica table (REPLICA_TABLE)."
  value       = local.replica_table_arn
}

output "etl_glue_database_name" {
  description = "Glue database holding the ETL table (create_etl_glue_table)."
  value       = try(aws_glue_catalog_table.etl[0].database_name, null)
}

output "etl_glue_table_name" {
  description = "Glue table over the ETL objects, for Athena (create_etl_glue_table)."
  value       = try(aws_glue_catalog_table.etl[0].name, null)
}

output "checkpoint_table_name" {
  description = "Name of the checkpoint table (CHECKPOINT_TABLE)."
  value       = var.create ? local.sink_name.checkpoint_table : null
}

output "checkpoint_table_arn" {
  description = "ARN of the checkpoint table."
  value       = var.create ? local.sink_arn.checkpoint_table : null
}

################################################################################
# DLQ archiver
################################################################################

output "dlq_archiver_function_name" {
  description = "Name of the DLQ archiver function (create_dlq_archiver)."
  value       = try(aws_lambda_function.archiver[0].function_name, null)
}

output "dlq_archiver_function_arn" {
  description = "ARN of the DLQ archiver function."
  value       = try(aws_lambda_function.archiver[0].arn, null)
}

output "dlq_archiver_role_arn" {
  description = "ARN of the DLQ archiver's execution role."
  value       = try(aws_iam_role.archiver[0].arn, null)
}

output "dlq_archiver_event_source_mapping_uuids" {
  description = "UUID of the archiver's SQS event source mapping per dead-letter queue (function key)."
  value       = { for k, m in aws_lambda_event_source_mapping.archiver : k => m.uuid }
}

output "dlq_archive_bucket_name" {
  description = "Bucket holding the DLQ archives (created or brought)."
  value       = local.sink_name.archive_bucket
}

output "dlq_archive_bucket_arn" {
  description = "ARN of the bucket holding the DLQ archives."
  value       = local.sink_arn.archive_bucket
}

output "dlq_archiver_alarm_arns" {
  description = "Alarm ARNs of the DLQ archiver: errors (invocation errors and messages left for another attempt), not_archived (records that expired first) and archived (a batch failed for good; its records are in S3)."
  value = {
    errors       = try(aws_cloudwatch_metric_alarm.archiver_errors[0].arn, null)
    not_archived = try(aws_cloudwatch_metric_alarm.archiver_messages["not-archived"].arn, null)
    archived     = try(aws_cloudwatch_metric_alarm.archiver_messages["archived"].arn, null)
  }
}

output "dlq_archive_prefix" {
  description = "Key prefix of the DLQ archives (s3://<bucket>/<prefix> is what `ddbt redrive --from-s3` takes)."
  value       = local.create_dlq_archiver ? var.dlq_archiver_prefix : null
}

################################################################################
# Operations
################################################################################

output "alarm_arns" {
  description = "Alarm ARNs: iterator_age, errors, throttles, destination_delivery_failures and stalled per function key, mapping_events per \"<function key>/<dropped|failed-invoke|sent-to-destination>\", dlq per function key, records_failed per \"<function key>/<processor>\", eventbus_rule_failed per eventbus_rules key."
  value = {
    iterator_age                  = { for k, v in aws_cloudwatch_metric_alarm.iterator_age : k => v.arn }
    errors                        = { for k, v in aws_cloudwatch_metric_alarm.errors : k => v.arn }
    throttles                     = { for k, v in aws_cloudwatch_metric_alarm.throttles : k => v.arn }
    destination_delivery_failures = { for k, v in aws_cloudwatch_metric_alarm.destination_delivery_failures : k => v.arn }
    stalled                       = { for k, v in aws_cloudwatch_metric_alarm.stalled : k => v.arn }
    mapping_events                = { for k, v in aws_cloudwatch_metric_alarm.mapping_events : k => v.arn }
    dlq                           = { for k, v in aws_cloudwatch_metric_alarm.dlq : k => v.arn }
    records_failed                = { for k, v in aws_cloudwatch_metric_alarm.records_failed : k => v.arn }
    eventbus_rule_failed          = { for k, v in aws_cloudwatch_metric_alarm.eventbus_rule_failed : k => v.arn }
  }
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = try(aws_cloudwatch_dashboard.this[0].dashboard_name, null)
}

output "dashboard_arn" {
  description = "ARN of the CloudWatch dashboard."
  value       = try(aws_cloudwatch_dashboard.this[0].dashboard_arn, null)
}

output "function_environment" {
  description = "Environment variables of each function (the handlers' contract), per function key."
  value       = local.function_environment
}

################################################################################
# Keys and readers (keys.tf, docs/permissions.md)
################################################################################

output "kms_key_policy_statements" {
  description = "Per KMS input that is set (e.g. table_kms_key_arn), the JSON list of key policy statements this stack needs on that key: its execution roles (aws:PrincipalArn, through the service holding the data), the deployer's use through the service, and CloudWatch Logs for log_kms_key_arn. Merge them into the key's policy."
  value       = { for input, statements in local.kms_key_policy_statements : input => jsonencode(statements) }
}

output "deployer_kms_policy_json" {
  description = "IAM policy (JSON) with the KMS rights of the principal that runs Terraform for this stack: CreateGrant on the keys of tables the module creates and on the function key, Decrypt on the filter-criteria key (without it GetEventSourceMapping hides the filter and every plan shows a diff). null when no such key is set."
  value       = local.deployer_kms_policy == null ? null : jsonencode(local.deployer_kms_policy)
}

output "etl_reader_policy_json" {
  description = "IAM policy (JSON) a reader needs to query the ETL Glue table with Athena: S3 read under the table's prefix, kms:Decrypt on etl_bucket_kms_key_arn, Glue read of the table, Athena in etl_reader_athena_workgroup (the workgroup's query-result location is not included). null without create_etl_glue_table. In accounts where Lake Formation governs the catalog, grant SELECT on the table there too."
  value       = local.etl_reader_policy == null ? null : jsonencode(local.etl_reader_policy)
}
