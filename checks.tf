################################################################################
# Plan-time checks across inputs: one terraform_data resource per concern, so a failure names
# its concern; every function depends on them (lambda.tf), so nothing is created before they
# pass. Single-input rules are validation blocks in variables.tf.
################################################################################

# Switches renamed to the create_<part> pattern (main.tf renamed_inputs): the new name or the
# deprecated one, not both (they might disagree, and which one wins would be a guess).
resource "terraform_data" "check_renamed_inputs" {
  count = local.create ? 1 : 0

  lifecycle {
    precondition {
      condition     = length(local.renamed_conflicts) == 0
      error_message = "${join("; ", local.renamed_conflicts)}. The old name is deprecated and means the same as the new one: set only the new one (CHANGELOG.md, Unreleased)."
    }
  }
}

# A deprecated name in use: a warning, since it still works in this release.
check "deprecated_inputs" {
  assert {
    condition     = length(local.deprecated_inputs_used) == 0
    error_message = "Deprecated inputs: ${join(", ", local.deprecated_inputs_used)}. They work as before in this release and are removed in the next minor release: rename them (CHANGELOG.md, Unreleased)."
  }
}

# Which processors and functions run.
resource "terraform_data" "check_processors" {
  count = local.create ? 1 : 0

  lifecycle {
    precondition {
      condition     = length(local.processors) > 0
      error_message = "Enable at least one processor (${join(", ", [for p in local.processor_registry : "create_${p.name}"])}), or set create = false."
    }

    precondition {
      condition     = length(setsubtract(keys(var.function_overrides), local.function_keys)) == 0
      error_message = "function_overrides has keys for functions this configuration does not create (it creates: ${join(", ", local.function_keys)})."
    }

    precondition {
      condition     = length(setsubtract(keys(var.alias_function_versions), local.function_keys)) == 0
      error_message = "alias_function_versions has keys for functions this configuration does not create (it creates: ${join(", ", local.function_keys)})."
    }

    precondition {
      condition     = (var.function_layout == "groups") == (length(var.function_groups) > 0)
      error_message = "function_layout = \"groups\" needs function_groups (function key => processors), and function_groups is only used with that layout."
    }

    precondition {
      condition     = var.function_layout != "groups" || sort(flatten(values(var.function_groups))) == sort(local.processors)
      error_message = "function_groups must put every enabled processor in exactly one group, and only enabled ones: enabled are ${jsonencode(local.processors)}, the groups list ${jsonencode(sort(flatten(values(var.function_groups))))}."
    }
  }
}

# The source table or the attached stream.
resource "terraform_data" "check_stream" {
  count = local.create ? 1 : 0

  lifecycle {
    precondition {
      condition     = local.create_table || var.stream_arn != null
      error_message = local.stream_arn_missing
    }

    precondition {
      condition     = var.create_table != true || var.stream_arn == null
      error_message = "create_table = true creates the source table, but stream_arn is given too. A given stream_arn means attaching to that table's stream: leave create_table null (or set it false), or remove stream_arn to have the module create the table."
    }

    precondition {
      condition     = local.create_table || var.table_range_key == null
      error_message = "table_range_key describes the table the module creates; when attaching (stream_arn) leave it null."
    }

    precondition {
      condition     = !local.create_table || var.table_billing_mode == "PAY_PER_REQUEST" || (var.table_read_capacity != null && var.table_write_capacity != null)
      error_message = "table_billing_mode = \"PROVISIONED\" needs table_read_capacity and table_write_capacity."
    }

    # The attached table as read (read_attached_table): a stream that is enabled and is the
    # one given. Without these, CreateEventSourceMapping fails only at apply, after the roles,
    # queues, tables and functions were created; or the mappings read a stream that no longer
    # receives changes.
    precondition {
      condition     = try(local.attached_table.stream_enabled, true)
      error_message = "The attached table ${coalesce(local.attached_table_name, "?")} has no stream enabled, so there is nothing to read. Enable it (aws dynamodb update-table --table-name ${coalesce(local.attached_table_name, "?")} --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES), then pass its new LatestStreamArn as stream_arn."
    }

    precondition {
      condition     = !local.attached_stream_enabled || try(local.attached_table.stream_arn == var.stream_arn, true)
      error_message = "stream_arn is not the current stream of table ${coalesce(local.attached_table_name, "?")}: its LatestStreamArn is ${try(local.attached_table.stream_arn, "")}. The stream was disabled and enabled again, and the old one receives no new changes. Pass stream_arn = \"${try(local.attached_table.stream_arn, "")}\" (with stream_arn_change_acknowledged = true for that apply if the module already read the old one)."
    }

    # What each running processor needs of the stream (processors.tf processor_registry).
    precondition {
      condition     = length(local.view_type_mismatches) == 0
      error_message = "${join("; ", local.view_type_mismatches)}. ${local.stream_view_type_fix}"
    }

    # With NEW_IMAGE a REMOVE carries only Keys: the view item can be found only when the view
    # key is part of the table's key (otherwise handlers/view.py reports every REMOVE as a
    # poison record). Checked for a created table and an attached table that was read.
    precondition {
      condition = !local.run.view || local.stream_view_type != "NEW_IMAGE" || local.table_key == null ? true : length(setsubtract(
        compact([var.view_partition_key, var.view_sort_key]), local.table_key
      )) == 0
      error_message = "With a NEW_IMAGE stream a REMOVE carries only the table's key, so the view key (view_partition_key, view_sort_key) must be part of it (${local.table_key == null ? "" : join(", ", local.table_key)}); use NEW_AND_OLD_IMAGES for a view keyed by other attributes."
    }
  }
}

# A declared stream_view_type that the attached table's stream contradicts: a warning, since
# the checks above use what was read (an error would break configurations that planned before).
check "attached_stream_view_type" {
  assert {
    # A conditional, not ||: with the read deferred to apply, || would be unknown and warn.
    condition     = var.stream_view_type == null ? true : (!local.attached_stream_enabled || local.stream_view_type == var.stream_view_type)
    error_message = "stream_view_type = ${coalesce(var.stream_view_type, "null")}, but the stream of the attached table ${coalesce(local.attached_table_name, "?")} is ${local.stream_view_type}; the module's checks use ${local.stream_view_type}. Set stream_view_type = \"${local.stream_view_type}\" or leave it null."
  }
}

# Readers per stream shard: DynamoDB Streams throttles beyond 2 (1 on global tables).
resource "terraform_data" "check_stream_readers" {
  count = local.create ? 1 : 0

  lifecycle {
    precondition {
      condition     = var.allow_excess_stream_readers || local.stream_readers <= local.stream_reader_limit
      error_message = "This configuration puts ${local.stream_readers} readers on the stream (${length(local.function_keys)} event source mapping(s) from this module plus additional_stream_readers = ${var.additional_stream_readers}). DynamoDB Streams throttles reads beyond ${local.stream_reader_limit} concurrent reader(s) per shard${var.global_table ? " on a global table" : ""}, so every reader would lag. Use function_layout = \"combined\" (one reader runs all processors), switch processors off, or set allow_excess_stream_readers = true to accept the throttling."
    }
  }
}

# The Lambda code and its versions.
resource "terraform_data" "check_code" {
  count = local.create ? 1 : 0

  lifecycle {
    precondition {
      condition     = local.package_exists
      error_message = "No Lambda code: ${local.package_path} does not exist. Pass local_package_path (a zip of the handlers/ package, built by `make dist` in the module's repository) or s3_package = { bucket = ..., key = ... }."
    }

    precondition {
      condition     = !var.create_alias || var.publish
      error_message = "create_alias = true needs publish = true: an alias points at a published version."
    }
  }
}

# Sinks, checkpoint table and failure destination brought by the caller.
resource "terraform_data" "check_sinks" {
  count = local.create ? 1 : 0

  lifecycle {
    # A given ARN means "bring your own"; a create switch set to true as well is a contradiction
    # the module refuses rather than silently ignoring the ARN.
    precondition {
      condition     = length(local.sink_switch_conflicts) == 0
      error_message = "${join("; ", local.sink_switch_conflicts)}. A given ARN means bringing your own: leave the switch null (or set it false) to use that resource, or remove the ARN to have the module create one."
    }

    # A switch set to false uses the ARN, so it needs one.
    precondition {
      condition     = length(local.sink_arn_missing) == 0
      error_message = "${join("; ", local.sink_arn_missing)}."
    }

    precondition {
      condition     = !local.run.eventbus || var.eventbus_bus_arn == null || split(":", coalesce(var.eventbus_bus_arn, "-:-:-:-"))[3] == local.region
      error_message = "eventbus_bus_arn must be a bus in the functions' region (${local.region}): PutEvents goes to the regional endpoint. Route events to another region with a rule whose target is that region's bus."
    }

    # Rules are created by name in this account (a rule on another account's bus is that
    # account's to create).
    precondition {
      condition     = !local.run.eventbus || length(var.eventbus_rules) == 0 || var.eventbus_bus_arn == null || split(":", coalesce(var.eventbus_bus_arn, "-:-:-:-:-"))[4] == local.account_id
      error_message = "eventbus_rules are created in this account (${local.account_id}), but eventbus_bus_arn is a bus of another account: create those rules in that account, or leave eventbus_rules empty."
    }

    precondition {
      condition     = !local.run.view || var.view_partition_key != null
      error_message = "create_view needs view_partition_key: the source attribute that becomes the view item's partition key."
    }

    precondition {
      condition     = !local.run.view || local.sink_switch.view_table || var.view_table_arn != local.table_arn
      error_message = "view_table_arn is the source table: the view would feed its own stream."
    }

    precondition {
      condition     = !local.run.replicate || var.replica_table_arn != null
      error_message = "create_replicate needs replica_table_arn (a table with the source table's key schema and TTL on _ddbt_expires; another region is allowed)."
    }

    precondition {
      condition     = !local.run.replicate || var.replica_table_arn != local.table_arn
      error_message = "replica_table_arn is the source table: every copy would come back on its own stream."
    }

    precondition {
      condition     = !var.global_table || !local.same_name_elsewhere.replicate
      error_message = "replica_table_arn names ${coalesce(local.replica_table_name, "-")} in another region: with global_table = true that is a replica of the source's own global table, which already receives every write; replicating into it would write every change back into the source and loop. Use the global table's replica, or replicate into a table of another name (docs: Replicator, Global tables)."
    }

    precondition {
      condition     = !var.global_table || !local.same_name_elsewhere.view
      error_message = "view_table_arn names the source table in another region: with global_table = true that is a replica of the source's own global table; the view's writes would be replicated back into the source. Use a view table of another name."
    }

    precondition {
      condition     = !local.sink_switch.checkpoint_table || var.checkpoint_table_billing_mode == "PAY_PER_REQUEST" || (var.checkpoint_table_read_capacity != null && var.checkpoint_table_write_capacity != null)
      error_message = "checkpoint_table_billing_mode = \"PROVISIONED\" needs checkpoint_table_read_capacity and checkpoint_table_write_capacity."
    }
  }
}

# The stream change guard (table.tf): a plan that changes the stream the mappings read fails
# unless acknowledged.
resource "terraform_data" "stream_change_check" {
  count = local.create ? 1 : 0

  input = terraform_data.stream_guard[0].output

  lifecycle {
    precondition {
      condition     = var.stream_arn_change_acknowledged || terraform_data.stream_guard[0].output == local.stream_identity
      error_message = "This plan changes the stream the mappings read (from ${jsonencode(terraform_data.stream_guard[0].output)} to ${jsonencode(local.stream_identity)}). The table gets a new stream ARN and changes written in between are not processed. If that is intended, apply once with stream_arn_change_acknowledged = true (then set it back to false)."
    }
  }
}

# The ETL Glue table (glue.tf).
resource "terraform_data" "check_etl_glue" {
  count = local.create && var.create_etl_glue_table ? 1 : 0

  lifecycle {
    precondition {
      condition     = local.run.etl
      error_message = "create_etl_glue_table describes the ETL objects: it needs create_etl = true."
    }

    precondition {
      condition     = local.etl_glue_database_switch || var.etl_glue_database_name != null
      error_message = "${local.renamed.create_etl_glue_database.input} = false needs etl_glue_database_name (the existing database)."
    }

    precondition {
      condition     = local.source_table_name == null || !strcontains(coalesce(local.source_table_name, "-"), "..")
      error_message = "The ETL escapes runs of dots in table names (table=${coalesce(local.source_table_name, "-")}/ is not written as it is); the Glue table cannot point at it. Rename the table or set create_etl_glue_table = false."
    }
  }
}

# Customer managed keys (keys.tf).
resource "terraform_data" "check_keys" {
  count = local.create ? 1 : 0

  lifecycle {
    precondition {
      condition     = length(local.keys_in_other_regions) == 0
      error_message = "These keys are not in the region of the resources they encrypt (${local.region}): ${join(", ", local.keys_in_other_regions)}. A key encrypts only in its own region; pass the key (or the multi-Region replica key) of ${local.region}."
    }

    # The replicator writes to the replica table in the table's own region; DynamoDB uses a key
    # of that region only.
    precondition {
      condition     = !local.run.replicate || var.replica_table_kms_key_arn == null || var.replica_table_arn == null || try(split(":", var.replica_table_kms_key_arn)[3], "") == try(split(":", var.replica_table_arn)[3], "-")
      error_message = "replica_table_kms_key_arn is in ${try(split(":", var.replica_table_kms_key_arn)[3], "?")}, but the replica table is in ${try(split(":", var.replica_table_arn)[3], "?")}: pass the key that encrypts the replica table (a key of its region)."
    }
  }
}

# The archiver with its dead-letter queues (its single-input rules are validation blocks).
resource "terraform_data" "check_dlq_archiver" {
  count = local.create && var.create_dlq_archiver ? 1 : 0

  lifecycle {
    precondition {
      condition     = var.on_failure_destination == "sqs"
      error_message = "create_dlq_archiver = true archives the messages of the dead-letter queues, which exist only with on_failure_destination = \"sqs\" (an S3 destination already holds the records)."
    }
  }
}
