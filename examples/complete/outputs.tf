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

output "checkpoint_table_name" {
  description = "The handlers' checkpoint table."
  value       = module.triggers.checkpoint_table_name
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = module.triggers.dashboard_name
}
