# Three switches were renamed to the create_<part> pattern (issue 15): eventbus_create_bus ->
# create_eventbus_bus, view_create_table -> create_view_table, etl_glue_create_database ->
# create_etl_glue_database. The old names keep working for this release with a warning
# (check "deprecated_inputs"); setting an old and a new name together fails the plan
# (check_renamed_inputs). CHANGELOG.md (Unreleased) has the migration.

mock_provider "aws" {
  override_during = plan
  source          = "./tests/mocks/plan"
}

variables {
  name                           = "test"
  create_eventbus                = true
  eventbus_bus_arn               = "arn:aws:events:us-east-1:123456789012:event-bus/default"
  create_view                    = true
  view_partition_key             = "pk"
  view_table_arn                 = "arn:aws:dynamodb:us-east-1:123456789012:table/shared-view"
  create_etl_glue_table          = true
  etl_glue_database_name         = "lake"
  etl_glue_projection_start_date = "2026-01-01"
  allow_excess_stream_readers    = true
}

run "old_names_work_as_the_new_ones_with_a_warning" {
  command = plan

  variables {
    eventbus_create_bus      = false
    view_create_table        = false
    etl_glue_create_database = false
  }

  assert {
    condition = alltrue([
      length(aws_cloudwatch_event_bus.this) == 0,
      length(aws_dynamodb_table.view) == 0,
      length(aws_glue_catalog_database.etl) == 0,
      aws_glue_catalog_table.etl[0].database_name == "lake",
      output.eventbus_bus_arn == var.eventbus_bus_arn,
      output.view_table_arn == var.view_table_arn,
    ])
    error_message = "false under the old names brings the bus, the view table and the Glue database, as the new names do."
  }

  # A warning in terraform plan (a check block); an expected failure here.
  expect_failures = [check.deprecated_inputs]
}

# terraform test fails a run on a failed check block, so this run also shows that the new names
# raise no warning.
run "new_names" {
  command = plan

  variables {
    create_eventbus_bus      = false
    create_view_table        = false
    create_etl_glue_database = false
  }

  assert {
    condition = alltrue([
      length(aws_cloudwatch_event_bus.this) == 0,
      length(aws_dynamodb_table.view) == 0,
      length(aws_glue_catalog_database.etl) == 0,
      aws_glue_catalog_table.etl[0].database_name == "lake",
    ])
    error_message = "false brings the bus, the view table and the Glue database."
  }
}

# An old name set to true creates, as the new name would (true with an ARN still fails:
# check_sinks names the input the caller used).
run "old_name_true_with_an_arn_fails_as_the_new_one" {
  command = plan

  variables {
    view_create_table = true
  }

  expect_failures = [terraform_data.check_sinks, check.deprecated_inputs]
}

run "old_and_new_eventbus_switch_fail" {
  command = plan

  variables {
    eventbus_create_bus = false
    create_eventbus_bus = false
  }

  expect_failures = [terraform_data.check_renamed_inputs, check.deprecated_inputs]
}

run "old_and_new_view_switch_fail" {
  command = plan

  variables {
    view_create_table = false
    create_view_table = false
  }

  expect_failures = [terraform_data.check_renamed_inputs, check.deprecated_inputs]
}

run "old_and_new_glue_switch_fail" {
  command = plan

  variables {
    etl_glue_create_database = true
    create_etl_glue_database = true
  }

  expect_failures = [terraform_data.check_renamed_inputs, check.deprecated_inputs]
}
