output "function_names" {
  description = "Function name per function key."
  value       = module.triggers.function_names
}

output "event_source_mapping_uuids" {
  description = "Event source mapping UUID per function key."
  value       = module.triggers.event_source_mapping_uuids
}

output "starting_position" {
  description = "Where the mapping started reading (LATEST when attaching)."
  value       = module.triggers.starting_position
}

output "notification_topic_arn" {
  description = "Topic the notifications go to."
  value       = module.triggers.notification_topic_arn
}

output "dlq_urls" {
  description = "Dead-letter queue URL per function key."
  value       = module.triggers.dlq_urls
}

output "checkpoint_table_name" {
  description = "The handlers' checkpoint table."
  value       = module.triggers.checkpoint_table_name
}
