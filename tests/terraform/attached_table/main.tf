# The module attached to the stream of a table that exists (in moto), for
# tests/terraform/test_attached_table_moto.py: Terraform plans it with the real AWS provider,
# which reads the table through DescribeTable.

provider "aws" {
  region = "us-east-1"
}

variable "stream_arn" {
  description = "Stream ARN the module attaches to."
  type        = string
}

variable "stream_arn_known_after_apply" {
  description = "Pass stream_arn through a resource output, unknown until apply (as when the table is created in the same configuration)."
  type        = bool
  default     = false
}

variable "create_view" {
  description = "Run the view processor (needs NEW_IMAGE or NEW_AND_OLD_IMAGES)."
  type        = bool
  default     = false
}

# Only with stream_arn_known_after_apply: a resource with pending changes that the module's
# input refers to also defers the read to apply.
resource "terraform_data" "stream_arn" {
  count = var.stream_arn_known_after_apply ? 1 : 0

  input = var.stream_arn
}

module "triggers" {
  source = "../../.."

  name = "attach-check"

  # A given stream_arn alone means attaching; an ARN known only after apply needs the switch.
  create_table = var.stream_arn_known_after_apply ? false : null
  stream_arn   = var.stream_arn_known_after_apply ? terraform_data.stream_arn[0].output : var.stream_arn

  create_analytics   = false
  create_etl         = false
  create_view        = var.create_view
  view_partition_key = var.create_view ? "pk" : null

  deletion_protection_enabled = false
}
