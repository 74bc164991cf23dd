################################################################################
# ETL Glue catalog: a table over <bucket>/<etl_prefix>table=<source table>/ with partition
# projection on dt (day) and hour, so Athena reads the ETL objects without crawlers or
# MSCK REPAIR. Columns follow the ETL line format (docs/etl.md) exactly.
################################################################################

locals {
  create_etl_glue = local.run.etl && var.create_etl_glue_table
  # create_etl_glue_database (or its deprecated name); null: create the database.
  etl_glue_database_switch = local.renamed.create_etl_glue_database.value != false
  create_etl_glue_database = local.create_etl_glue && local.etl_glue_database_switch

  etl_glue_database_name = local.create_etl_glue ? coalesce(var.etl_glue_database_name, "${replace(lower(var.name), "-", "_")}_etl") : null
  etl_glue_table_name    = local.create_etl_glue ? coalesce(var.etl_glue_table_name, "changes") : null

  # handlers/etl.py escapes a table name only where it has characters outside [A-Za-z0-9_.-]
  # (DynamoDB allows none) or runs of dots (check_etl_glue rejects those), so the name is
  # written as it is.
  etl_glue_location = local.create_etl_glue ? "s3://${local.sink_name.etl_bucket}/${var.etl_prefix}table=${local.source_table_name}/" : null

  # One column per key of the ETL line. The OpenX SerDe maps the snake_case columns to the
  # camelCase keys (case.insensitive = FALSE, so the mapping is exact). keys, new_image and
  # old_image are objects in the line; declared as string, the SerDe returns their JSON text,
  # which json_extract_scalar(new_image, '$.status') reads (nested types would need one schema
  # for every item shape). Numbers keep their digits that way too.
  etl_glue_columns = [
    { name = "event_id", type = "string", key = "eventID", comment = "eventID of the stream record" },
    { name = "event_name", type = "string", key = "eventName", comment = "INSERT, MODIFY or REMOVE" },
    { name = "sequence_number", type = "string", key = "sequenceNumber", comment = "Sequence number (up to 40 digits)" },
    { name = "approximate_creation_date_time", type = "string", key = "approximateCreationDateTime", comment = "When the change happened, ISO 8601 UTC (from_iso8601_timestamp)" },
    { name = "keys", type = "string", key = "keys", comment = "Key attributes, JSON object" },
    { name = "new_image", type = "string", key = "newImage", comment = "Item after the change, JSON object; null on REMOVE and without a new image" },
    { name = "old_image", type = "string", key = "oldImage", comment = "Item before the change, JSON object; null on INSERT and without an old image" },
    { name = "ttl_expired", type = "boolean", key = "ttlExpired", comment = "true for a REMOVE made by DynamoDB TTL" },
  ]
}

# The first projected day, when not given: the day of the first plan, remembered afterwards
# (ignore_changes), so the table does not change with every plan.
resource "terraform_data" "etl_glue_projection_start" {
  count = local.create_etl_glue && var.etl_glue_projection_start_date == null ? 1 : 0

  input = formatdate("YYYY-MM-DD", plantimestamp())

  lifecycle {
    ignore_changes = [input]
  }
}

resource "aws_glue_catalog_database" "etl" {
  count = local.create_etl_glue_database ? 1 : 0

  name        = local.etl_glue_database_name
  description = "DynamoDB change records written by the ${var.name} ETL processor"

  tags = var.tags

  depends_on = [terraform_data.check_etl_glue]
}

resource "aws_glue_catalog_table" "etl" {
  count = local.create_etl_glue ? 1 : 0

  database_name = local.etl_glue_database_switch ? aws_glue_catalog_database.etl[0].name : local.etl_glue_database_name
  name          = local.etl_glue_table_name
  description   = "Changes of ${local.source_table_name}: one row per stream record (ETL line format, docs/etl.md)"
  table_type    = "EXTERNAL_TABLE"

  parameters = {
    EXTERNAL       = "TRUE"
    classification = "json"
    # gzip: Athena decompresses by the .gz extension; the parameter documents it for Glue jobs.
    compressionType = "gzip"

    "projection.enabled"          = "true"
    "projection.dt.type"          = "date"
    "projection.dt.format"        = "yyyy-MM-dd"
    "projection.dt.range"         = "${coalesce(var.etl_glue_projection_start_date, try(terraform_data.etl_glue_projection_start[0].output, null))},NOW"
    "projection.dt.interval"      = "1"
    "projection.dt.interval.unit" = "DAYS"
    "projection.hour.type"        = "integer"
    "projection.hour.range"       = "0,23"
    "projection.hour.digits"      = "2"
    "storage.location.template"   = "${local.etl_glue_location}dt=$${dt}/hour=$${hour}/"
  }

  partition_keys {
    name    = "dt"
    type    = "string"
    comment = "Day of the change, yyyy-MM-dd (UTC)"
  }

  partition_keys {
    name    = "hour"
    type    = "string"
    comment = "Hour of the change, 00 to 23 (UTC)"
  }

  storage_descriptor {
    location      = local.etl_glue_location
    input_format  = "org.apache.hadoop.mapred.TextInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
    compressed    = true

    ser_de_info {
      name                  = "json"
      serialization_library = "org.openx.data.jsonserde.JsonSerDe"
      parameters = merge(
        { "case.insensitive" = "FALSE", "ignore.malformed.json" = "FALSE" },
        { for c in local.etl_glue_columns : "mapping.${c.name}" => c.key if c.name != c.key },
      )
    }

    dynamic "columns" {
      for_each = local.etl_glue_columns

      content {
        name    = columns.value.name
        type    = columns.value.type
        comment = columns.value.comment
      }
    }
  }
}
