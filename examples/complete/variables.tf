variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

variable "replica_region" {
  description = "Region of the replica table (another region than var.region)."
  type        = string
  default     = "us-west-2"
}

variable "deletion_protection_enabled" {
  description = "Deletion protection of the tables (source, checkpoint, aggregates, view and replica). Off in this example so that `terraform destroy` works; turn it on for real data."
  type        = bool
  default     = false
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the ETL and DLQ archive buckets with their objects (example only)."
  type        = bool
  default     = true
}

variable "alarm_actions" {
  description = "ARNs (e.g. an SNS topic) notified when an alarm fires."
  type        = list(string)
  default     = []
}

variable "cache_endpoint" {
  description = "host:port of a Valkey/Redis cache the cache processor keeps in step with the table (ddbt local up exports the local one as TF_VAR_cache_endpoint). null: no cache processor (in AWS, give cache_subnet_ids to the module instead and it creates an ElastiCache Serverless cache)."
  type        = string
  default     = null
}

variable "cache_tls" {
  description = "Connect to cache_endpoint with TLS (false for the local server)."
  type        = bool
  default     = true
}
