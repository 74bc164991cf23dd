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
