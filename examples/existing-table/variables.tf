variable "region" {
  description = "AWS region of the existing table."
  type        = string
  default     = "us-east-1"
}

variable "stream_arn" {
  description = "Stream ARN of the existing table (aws dynamodb describe-table --table-name <t> --query Table.LatestStreamArn)."
  type        = string
}

variable "stream_arn_change_acknowledged" {
  description = "Set to true for the one apply that moves the mapping to a new stream ARN (records between the two streams are not processed)."
  type        = bool
  default     = false
}

variable "stream_view_type" {
  description = "View type of that stream, if you want to declare it: the module reads the table's own at plan time (a declaration that differs is a warning). null: not declared."
  type        = string
  default     = null
}

variable "table_kms_key_arn" {
  description = "Customer managed KMS key of the existing table, if any (the function then may decrypt its stream)."
  type        = string
  default     = null
}

variable "notification_topic_arn" {
  description = "Existing SNS topic to publish to; null creates one."
  type        = string
  default     = null
}

variable "deletion_protection_enabled" {
  description = "Deletion protection of the checkpoint table the module creates."
  type        = bool
  default     = false
}
