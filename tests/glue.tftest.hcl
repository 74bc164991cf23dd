# issue 8: the Glue catalog table over the ETL objects (Athena without crawlers): partition
# projection on dt and hour over <bucket>/<etl_prefix>table=<table>/, columns of the ETL line
# (docs/etl.md) through the OpenX JSON SerDe, and its switches and checks.

mock_provider "aws" {
  override_during = plan
  source          = "./tests/mocks/plan"
}

variables {
  name = "test"
}

run "glue_table_with_partition_projection" {
  command = plan

  variables {
    table_name                     = "applications"
    etl_prefix                     = "raw/ddb/"
    create_etl_glue_table          = true
    etl_glue_projection_start_date = "2026-01-01"
  }

  assert {
    condition     = aws_glue_catalog_database.etl[0].name == "test_etl" && aws_glue_catalog_table.etl[0].database_name == "test_etl" && aws_glue_catalog_table.etl[0].name == "changes"
    error_message = "Database <name>_etl and table changes by default."
  }
  assert {
    condition = aws_glue_catalog_table.etl[0].parameters == tomap({
      EXTERNAL                      = "TRUE"
      classification                = "json"
      compressionType               = "gzip"
      "projection.enabled"          = "true"
      "projection.dt.type"          = "date"
      "projection.dt.format"        = "yyyy-MM-dd"
      "projection.dt.range"         = "2026-01-01,NOW"
      "projection.dt.interval"      = "1"
      "projection.dt.interval.unit" = "DAYS"
      "projection.hour.type"        = "integer"
      "projection.hour.range"       = "0,23"
      "projection.hour.digits"      = "2"
      "storage.location.template"   = "s3://test-etl-123456789012/raw/ddb/table=applications/dt=$${dt}/hour=$${hour}/"
    })
    error_message = "Parameters: ${jsonencode(aws_glue_catalog_table.etl[0].parameters)}"
  }
  assert {
    condition = alltrue([
      aws_glue_catalog_table.etl[0].table_type == "EXTERNAL_TABLE",
      [for k in aws_glue_catalog_table.etl[0].partition_keys : [k.name, k.type]] == [["dt", "string"], ["hour", "string"]],
      aws_glue_catalog_table.etl[0].storage_descriptor[0].location == "s3://test-etl-123456789012/raw/ddb/table=applications/",
      aws_glue_catalog_table.etl[0].storage_descriptor[0].input_format == "org.apache.hadoop.mapred.TextInputFormat",
      aws_glue_catalog_table.etl[0].storage_descriptor[0].compressed,
    ])
    error_message = "An external table partitioned by dt and hour at the source table's ETL prefix."
  }
  assert {
    condition = [for c in aws_glue_catalog_table.etl[0].storage_descriptor[0].columns : [c.name, c.type]] == [
      ["event_id", "string"],
      ["event_name", "string"],
      ["sequence_number", "string"],
      ["approximate_creation_date_time", "string"],
      ["keys", "string"],
      ["new_image", "string"],
      ["old_image", "string"],
      ["ttl_expired", "boolean"],
    ]
    error_message = "One column per key of the ETL line, in its order."
  }
  assert {
    condition = aws_glue_catalog_table.etl[0].storage_descriptor[0].ser_de_info[0].serialization_library == "org.openx.data.jsonserde.JsonSerDe" && aws_glue_catalog_table.etl[0].storage_descriptor[0].ser_de_info[0].parameters == tomap({
      "case.insensitive"                       = "FALSE"
      "ignore.malformed.json"                  = "FALSE"
      "mapping.event_id"                       = "eventID"
      "mapping.event_name"                     = "eventName"
      "mapping.sequence_number"                = "sequenceNumber"
      "mapping.approximate_creation_date_time" = "approximateCreationDateTime"
      "mapping.new_image"                      = "newImage"
      "mapping.old_image"                      = "oldImage"
      "mapping.ttl_expired"                    = "ttlExpired"
    })
    error_message = "The OpenX SerDe maps each column to the line's camelCase key exactly."
  }
  assert {
    condition     = output.etl_glue_database_name == "test_etl" && output.etl_glue_table_name == "changes"
    error_message = "Outputs name the database and table."
  }
  assert {
    condition = alltrue([
      length(aws_cloudwatch_event_bus.this) + length(aws_cloudwatch_event_rule.this) + length(aws_dynamodb_table.view) == 0,
      length(setintersection(keys(aws_lambda_function.this["pipeline"].environment[0].variables), ["EVENTBUS_NAME", "VIEW_TABLE", "REPLICA_TABLE"])) == 0,
      length([for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : s if contains(["PublishEvents", "WriteView", "WriteReplica"], s.Sid)]) == 0,
    ])
    error_message = "eventbus, view and replicate are off by default: no bus, rule, view table, environment or permission."
  }
}

run "glue_table_in_existing_database" {
  command = plan

  variables {
    create_etl_glue_table    = true
    create_etl_glue_database = false
    etl_glue_database_name   = "lake"
    etl_glue_table_name      = "applications_changes"
  }

  assert {
    condition     = length(aws_glue_catalog_database.etl) == 0 && aws_glue_catalog_table.etl[0].database_name == "lake" && aws_glue_catalog_table.etl[0].name == "applications_changes"
    error_message = "The table goes into the given database, which is not created."
  }
  assert {
    condition     = length(terraform_data.etl_glue_projection_start) == 1 && aws_glue_catalog_table.etl[0].parameters["storage.location.template"] == "s3://test-etl-123456789012/changes/table=test/dt=$${dt}/hour=$${hour}/"
    error_message = "Without a start date the day of the first plan is remembered; the location follows the source table (test)."
  }
}

run "glue_table_needs_etl" {
  command = plan

  variables {
    create_etl            = false
    create_etl_glue_table = true
  }

  expect_failures = [terraform_data.check_etl_glue]
}
