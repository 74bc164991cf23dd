################################################################################
# Source table and its stream: the table the module creates, or the stream of an existing one
# (stream_arn), read at plan time; the guard against a changed stream; the checkpoint table.
################################################################################

locals {
  # Create the table, or attach to the stream of an existing one: null attaches when stream_arn
  # is given (the rule of every created-or-brought part, sinks.tf).
  create_table = coalesce(var.create_table, var.stream_arn == null)

  table_name         = coalesce(var.table_name, var.name)
  stream_arn         = local.create_table ? try(aws_dynamodb_table.this[0].stream_arn, null) : var.stream_arn
  table_arn          = local.create_table ? try(aws_dynamodb_table.this[0].arn, null) : local.attached_table_arn
  stream_arn_missing = "create_table = false attaches to an existing table: pass its stream_arn (aws dynamodb describe-table --query Table.LatestStreamArn)."
  # The table of stream_arn (attaching).
  attached_table_arn  = var.stream_arn == null ? null : regex("^(.+)/stream/[^/]+$", var.stream_arn)[0]
  attached_table_name = var.stream_arn == null ? null : regex("table/([^/]+)/stream/", var.stream_arn)[0]

  # Creating the table: start at the oldest record (nothing is older than the table). Attaching:
  # start at the newest, so a day of old changes is not replayed (e.g. as notifications).
  starting_position = coalesce(var.starting_position, local.create_table ? "TRIM_HORIZON" : "LATEST")

  stream_reader_limit = var.global_table ? 1 : 2
  stream_readers      = length(local.function_keys) + var.additional_stream_readers

  # The attached table as read at plan time (read_attached_table), null when not read. Unknown
  # until apply when stream_arn is (the checks on it then run at apply, before any function).
  attached_table = one(data.aws_dynamodb_table.attached[*])
  # Whether the attached table was read and its stream is enabled.
  attached_stream_enabled = try(local.attached_table.stream_enabled, false)

  # The view type the checks use: the created table's; the attached table's stream as read;
  # otherwise the declared one (null: NEW_AND_OLD_IMAGES).
  stream_view_type = local.attached_stream_enabled ? local.attached_table.stream_view_type : coalesce(var.stream_view_type, "NEW_AND_OLD_IMAGES")
  stream_view_type_origin = (
    local.create_table ? "stream_view_type is ${local.stream_view_type}" :
    local.attached_stream_enabled ? "the attached table's stream is ${local.stream_view_type} (read at plan time)" :
    "stream_view_type declares the attached stream as ${local.stream_view_type}"
  )
  stream_view_type_fix = (
    local.create_table ? "Set stream_view_type accordingly." :
    "${local.attached_stream_enabled ? "" : "If the stream is of another view type, declare that one in stream_view_type. "}A stream's view type cannot change: disable the table's stream, enable it with the view type needed, and pass the new stream_arn (with stream_arn_change_acknowledged = true for that apply)."
  )
  # The source table's key attributes; null when attaching to a table that was not read.
  table_key = local.create_table ? compact([var.table_hash_key, var.table_range_key]) : (
    local.attached_table == null ? null : compact([local.attached_table.hash_key, local.attached_table.range_key])
  )

  # What identifies the stream the mappings read. Any change gives them a new stream.
  stream_identity = local.create_table ? {
    table            = local.table_name
    stream_view_type = local.stream_view_type
    stream_arn       = null
    } : {
    table            = null
    stream_view_type = null
    stream_arn       = var.stream_arn
  }

  # The source table's name as the ETL writes it (table=<name>/ in every key).
  source_table_name = local.create_table ? local.table_name : local.attached_table_name
  source_region     = local.create_table ? local.region : (var.stream_arn == null ? null : split(":", var.stream_arn)[3])
}

################################################################################
# Stream change guard
#
# A new stream_view_type (or table name, or attached stream_arn) gives the mappings a new stream:
# the old one stops, and records written between the switch and the new mapping are never
# processed. `input` below remembers the stream identity of the last acknowledged apply
# (ignore_changes keeps the old value); a plan that changes it fails unless
# stream_arn_change_acknowledged = true, which also re-records the identity.
################################################################################

resource "terraform_data" "stream_guard" {
  count = local.create ? 1 : 0

  input            = local.stream_identity
  triggers_replace = var.stream_arn_change_acknowledged ? local.stream_identity : null

  lifecycle {
    ignore_changes = [input]
  }
}

################################################################################
# Source table
################################################################################

# The table whose stream the module attaches to, read by its ARN (DescribeTable accepts one)
# so that check_stream can test the stream itself rather than trust the declared view type.
data "aws_dynamodb_table" "attached" {
  count = local.create && !local.create_table && var.read_attached_table ? 1 : 0

  name = local.attached_table_arn

  lifecycle {
    # Nothing to read without stream_arn (when this fails, check_stream is not evaluated).
    precondition {
      condition     = var.stream_arn != null
      error_message = local.stream_arn_missing
    }
  }
}

resource "aws_dynamodb_table" "this" {
  count = local.create && local.create_table ? 1 : 0

  name                        = local.table_name
  billing_mode                = var.table_billing_mode
  read_capacity               = var.table_billing_mode == "PROVISIONED" ? var.table_read_capacity : null
  write_capacity              = var.table_billing_mode == "PROVISIONED" ? var.table_write_capacity : null
  hash_key                    = var.table_hash_key
  range_key                   = var.table_range_key
  deletion_protection_enabled = var.deletion_protection_enabled

  stream_enabled   = true
  stream_view_type = local.stream_view_type

  attribute {
    name = var.table_hash_key
    type = var.table_hash_key_type
  }

  dynamic "attribute" {
    for_each = var.table_range_key == null ? [] : [var.table_range_key]

    content {
      name = attribute.value
      type = var.table_range_key_type
    }
  }

  point_in_time_recovery {
    enabled = var.table_point_in_time_recovery_enabled
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.table_kms_key_arn
  }

  dynamic "ttl" {
    for_each = var.table_ttl_attribute_name == null ? [] : [var.table_ttl_attribute_name]

    content {
      enabled        = true
      attribute_name = ttl.value
    }
  }

  tags = var.tags

  depends_on = [terraform_data.stream_change_check]
}

################################################################################
# Checkpoint table (the handlers' CHECKPOINT_TABLE)
################################################################################

resource "aws_dynamodb_table" "checkpoint" {
  count = local.create_sink.checkpoint_table ? 1 : 0

  #checkov:skip=CKV_AWS_28:Checkpoints are short-lived (TTL) and rebuilt from the stream; point-in-time recovery is optional (checkpoint_table_point_in_time_recovery_enabled).

  name                        = "${var.name}-checkpoints"
  billing_mode                = var.checkpoint_table_billing_mode
  read_capacity               = var.checkpoint_table_billing_mode == "PROVISIONED" ? var.checkpoint_table_read_capacity : null
  write_capacity              = var.checkpoint_table_billing_mode == "PROVISIONED" ? var.checkpoint_table_write_capacity : null
  hash_key                    = "pk"
  deletion_protection_enabled = var.deletion_protection_enabled

  attribute {
    name = "pk"
    type = "S"
  }

  ttl {
    enabled        = true
    attribute_name = "expires_at"
  }

  point_in_time_recovery {
    enabled = var.checkpoint_table_point_in_time_recovery_enabled
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.checkpoint_table_kms_key_arn
  }

  tags = var.tags
}
