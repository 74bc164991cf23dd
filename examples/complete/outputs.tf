output "table_name" {
  description = "The job applications table."
  value       = module.triggers.table_name
}

output "table_stream_arn" {
  description = "Stream the processors read."
  value       = module.triggers.table_stream_arn
}

output "function_names" {
  description = "Function name per function key."
  value       = module.triggers.function_names
}

output "event_source_mapping_uuids" {
  description = "Event source mapping UUID per function key."
  value       = module.triggers.event_source_mapping_uuids
}

output "dlq_urls" {
  description = "Dead-letter queue URL per function key."
  value       = module.triggers.dlq_urls
}

output "dlq_archiver_function_name" {
  description = "Function archiving the records each DLQ message describes to S3."
  value       = module.triggers.dlq_archiver_function_name
}

output "dlq_archive_bucket_name" {
  description = "Bucket holding the DLQ archives (under dlq_archive_prefix)."
  value       = module.triggers.dlq_archive_bucket_name
}

output "dlq_archive_prefix" {
  description = "Key prefix of the DLQ archives: `ddbt redrive --from-s3 s3://<bucket>/<prefix>` re-runs them."
  value       = module.triggers.dlq_archive_prefix
}

output "etl_bucket_name" {
  description = "Bucket receiving every change under etl_prefix."
  value       = module.triggers.etl_bucket_name
}

output "notification_topic_arn" {
  description = "Topic receiving status-change notifications."
  value       = module.triggers.notification_topic_arn
}

output "analytics_table_name" {
  description = "Aggregates per job and status."
  value       = module.triggers.analytics_table_name
}

output "eventbus_bus_name" {
  description = "Event bus receiving every change."
  value       = module.triggers.eventbus_bus_name
}

output "status_changes_queue_url" {
  description = "Queue the status-changes rule sends MODIFY events to."
  value       = aws_sqs_queue.status_changes.url
}

output "view_table_name" {
  description = "Applications by job (view)."
  value       = module.triggers.view_table_name
}

output "replica_table_arn" {
  description = "Replica table in var.replica_region."
  value       = module.triggers.replica_table_arn
}

output "etl_glue_database_name" {
  description = "Glue database of the ETL table (Athena)."
  value       = module.triggers.etl_glue_database_name
}

output "etl_glue_table_name" {
  description = "Glue table over the ETL objects (Athena)."
  value       = module.triggers.etl_glue_table_name
}

output "checkpoint_table_name" {
  description = "The handlers' checkpoint table."
  value       = module.triggers.checkpoint_table_name
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = module.triggers.dashboard_name
}

output "cache_endpoint" {
  description = "The cache the cache processor keeps (null without var.cache_endpoint)."
  value       = module.triggers.cache_endpoint
}
