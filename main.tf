data "aws_caller_identity" "current" {
  count = var.create ? 1 : 0
}

data "aws_region" "current" {
  count = var.create ? 1 : 0
}

locals {
  create = var.create

  account_id = try(data.aws_caller_identity.current[0].account_id, "")
  # `id` is the region name in both the 5.x and 6.x providers (`name` is deprecated in 6.x).
  region = try(data.aws_region.current[0].id, "")

  ##############################################################################
  # Processors and functions
  ##############################################################################

  processor_switches = {
    analytics    = var.create_analytics
    notification = var.create_notification
    etl          = var.create_etl
    eventbus     = var.create_eventbus
    view         = var.create_view
    replicate    = var.create_replicate
  }
  # The order of handlers/pipeline.py PROCESSOR_NAMES; PROCESSORS lists them in this order.
  processors = [for p in ["analytics", "notification", "etl", "eventbus", "view", "replicate"] : p if local.processor_switches[p]]
  run        = { for p, on in local.processor_switches : p => local.create && on }

  # combined: one function (and one stream reader) running every processor; separate: one each;
  # groups: one per function_groups entry, each running its processors through the pipeline.
  function_keys = (
    var.function_layout == "combined" ? (length(local.processors) > 0 ? ["pipeline"] : []) :
    var.function_layout == "groups" ? keys(var.function_groups) : local.processors
  )

  functions = { for k in(local.create ? local.function_keys : []) : k => {
    name    = "${var.name}-${k}"
    handler = var.function_layout == "separate" ? "handlers.${k}.handler" : "handlers.pipeline.handler"
    processors = (
      var.function_layout == "combined" ? tolist(local.processors) :
      var.function_layout == "groups" ? [for p in local.processors : p if contains(var.function_groups[k], p)] : tolist([k])
    )
    overrides = lookup(var.function_overrides, k, null)
  } }

  function_settings = { for k, f in local.functions : k => {
    memory_size                        = try(coalesce(f.overrides.memory_size, var.memory_size), var.memory_size)
    timeout                            = try(coalesce(f.overrides.timeout, var.timeout), var.timeout)
    reserved_concurrent_executions     = try(f.overrides.reserved_concurrent_executions, null) != null ? f.overrides.reserved_concurrent_executions : var.reserved_concurrent_executions
    batch_size                         = try(coalesce(f.overrides.batch_size, var.batch_size), var.batch_size)
    maximum_batching_window_in_seconds = try(coalesce(f.overrides.maximum_batching_window_in_seconds, var.maximum_batching_window_in_seconds), var.maximum_batching_window_in_seconds)
    parallelization_factor             = try(coalesce(f.overrides.parallelization_factor, var.parallelization_factor), var.parallelization_factor)
    maximum_retry_attempts             = try(coalesce(f.overrides.maximum_retry_attempts, var.maximum_retry_attempts), var.maximum_retry_attempts)
    maximum_record_age_in_seconds      = try(coalesce(f.overrides.maximum_record_age_in_seconds, var.maximum_record_age_in_seconds), var.maximum_record_age_in_seconds)
    enabled                            = try(coalesce(f.overrides.enabled, var.event_source_mapping_enabled), var.event_source_mapping_enabled)
  } }

  ##############################################################################
  # Code
  ##############################################################################

  package_path   = coalesce(var.local_package_path, "${path.module}/dist/handlers.zip")
  package_on_s3  = var.s3_package != null
  package_exists = local.package_on_s3 || fileexists(local.package_path)
  # The code arguments of every function the module creates (processors, DLQ archiver); the
  # zip's hash is read once.
  package_source = {
    filename          = local.package_on_s3 ? null : local.package_path
    source_code_hash  = !local.package_on_s3 && local.package_exists ? filebase64sha256(local.package_path) : null
    s3_bucket         = local.package_on_s3 ? var.s3_package.bucket : null
    s3_key            = local.package_on_s3 ? var.s3_package.key : null
    s3_object_version = local.package_on_s3 ? var.s3_package.version_id : null
  }

  ##############################################################################
  # Table and stream
  ##############################################################################

  # Create the table, or attach to the stream of an existing one: null attaches when stream_arn
  # is given (the rule of every created-or-brought part, see sink_switch below).
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

  ##############################################################################
  # Checkpoint table and sinks (created here or brought by the caller)
  #
  # One rule for every part the module creates unless the caller brings it: a given ARN means
  # "bring your own". The create switch left null creates the part unless its ARN is given;
  # false uses the ARN (the plan fails without one); true creates it, and the plan fails when
  # an ARN is given too (check_sinks), rather than ignoring it. Set the switch explicitly when
  # the ARN is only known after apply (count cannot depend on it).
  ##############################################################################

  brought_sinks = {
    checkpoint_table   = { switch = "create_checkpoint_table", create = var.create_checkpoint_table, input = "checkpoint_table_arn", arn = var.checkpoint_table_arn, used = local.create }
    analytics_table    = { switch = "create_analytics_table", create = var.create_analytics_table, input = "analytics_table_arn", arn = var.analytics_table_arn, used = local.run.analytics }
    notification_topic = { switch = "create_notification_topic", create = var.create_notification_topic, input = "notification_topic_arn", arn = var.notification_topic_arn, used = local.run.notification }
    etl_bucket         = { switch = "create_etl_bucket", create = var.create_etl_bucket, input = "etl_bucket_arn", arn = var.etl_bucket_arn, used = local.run.etl }
    failure_bucket     = { switch = "create_failure_bucket", create = var.create_failure_bucket, input = "failure_bucket_arn", arn = var.failure_bucket_arn, used = local.failure_to_s3 }
    eventbus_bus       = { switch = "eventbus_create_bus", create = var.eventbus_create_bus, input = "eventbus_bus_arn", arn = var.eventbus_bus_arn, used = local.run.eventbus }
    view_table         = { switch = "view_create_table", create = var.view_create_table, input = "view_table_arn", arn = var.view_table_arn, used = local.run.view }
  }
  # Each switch resolved: whether the module creates that sink (when its processor runs).
  sink_switch = { for k, s in local.brought_sinks : k => coalesce(s.create, s.arn == null) }
  # Switches set to true while their ARN is given as well.
  sink_switch_conflicts = [for k, s in local.brought_sinks : "${s.switch} = true, but ${s.input} is given" if s.used && s.create == true && s.arn != null]

  create_checkpoint_table = local.create && local.sink_switch.checkpoint_table
  checkpoint_table_arn    = local.sink_switch.checkpoint_table ? try(aws_dynamodb_table.checkpoint[0].arn, null) : var.checkpoint_table_arn
  checkpoint_table_name = local.sink_switch.checkpoint_table ? try(aws_dynamodb_table.checkpoint[0].name, null) : (
    var.checkpoint_table_arn == null ? null : element(split("/", var.checkpoint_table_arn), 1)
  )

  create_analytics_table = local.run.analytics && local.sink_switch.analytics_table
  analytics_table_arn = !local.run.analytics ? null : (
    local.sink_switch.analytics_table ? try(aws_dynamodb_table.aggregates[0].arn, null) : var.analytics_table_arn
  )
  analytics_table_name = !local.run.analytics ? null : (
    local.sink_switch.analytics_table ? try(aws_dynamodb_table.aggregates[0].name, null) : (
      var.analytics_table_arn == null ? null : element(split("/", var.analytics_table_arn), 1)
    )
  )

  create_notification_topic = local.run.notification && local.sink_switch.notification_topic
  notification_topic_arn = !local.run.notification ? null : (
    local.sink_switch.notification_topic ? try(aws_sns_topic.this[0].arn, null) : var.notification_topic_arn
  )

  failure_to_sqs = local.create && var.on_failure_destination == "sqs"
  failure_to_s3  = local.create && var.on_failure_destination == "s3"

  # Buckets the module creates, with one set of hardening resources for both.
  buckets = merge(
    local.run.etl && local.sink_switch.etl_bucket ? {
      etl = {
        name            = coalesce(var.etl_bucket_name, "${lower(var.name)}-etl-${local.account_id}")
        kms_key_arn     = var.etl_bucket_kms_key_arn
        expiration_days = var.etl_bucket_expiration_days
        prefix          = var.etl_prefix
        force_destroy   = var.etl_bucket_force_destroy
      }
    } : {},
    local.failure_to_s3 && local.sink_switch.failure_bucket && length(local.functions) > 0 ? {
      failures = {
        name            = coalesce(var.failure_bucket_name, "${lower(var.name)}-failures-${local.account_id}")
        kms_key_arn     = var.failure_bucket_kms_key_arn
        expiration_days = var.failure_bucket_expiration_days
        prefix          = ""
        force_destroy   = var.failure_bucket_force_destroy
      }
    } : {},
  )

  etl_bucket_arn = !local.run.etl ? null : (
    local.sink_switch.etl_bucket ? try(aws_s3_bucket.this["etl"].arn, null) : var.etl_bucket_arn
  )
  etl_bucket_name = !local.run.etl ? null : (
    local.sink_switch.etl_bucket ? try(aws_s3_bucket.this["etl"].id, null) : (
      var.etl_bucket_arn == null ? null : element(split(":::", var.etl_bucket_arn), 1)
    )
  )

  failure_bucket_arn = !local.failure_to_s3 ? null : (
    local.sink_switch.failure_bucket ? try(aws_s3_bucket.this["failures"].arn, null) : var.failure_bucket_arn
  )

  # Event bus: the created bus <name>-events, or the brought one (the default bus allowed).
  create_eventbus_bus = local.run.eventbus && local.sink_switch.eventbus_bus
  eventbus_bus_arn = !local.run.eventbus ? null : (
    local.sink_switch.eventbus_bus ? try(aws_cloudwatch_event_bus.this[0].arn, null) : var.eventbus_bus_arn
  )
  eventbus_bus_name = !local.run.eventbus ? null : (
    local.sink_switch.eventbus_bus ? try(aws_cloudwatch_event_bus.this[0].name, null) : (
      var.eventbus_bus_arn == null ? null : element(split("event-bus/", var.eventbus_bus_arn), 1)
    )
  )
  # EVENTBUS_NAME: the created bus by name; a brought bus by ARN (it may be in another account).
  eventbus_handler_target = local.sink_switch.eventbus_bus ? local.eventbus_bus_name : local.eventbus_bus_arn
  eventbus_rules          = local.run.eventbus ? var.eventbus_rules : {}
  # One per rule and target, keyed "<rule key>/<target key>" (keys known at plan time).
  eventbus_targets = merge([for k, r in local.eventbus_rules : {
    for t, target in r.targets : "${k}/${t}" => { rule = k, target = t, arn = target.arn, role_arn = target.role_arn }
  }]...)

  # View table: created <name>-view, or brought.
  create_view_table = local.run.view && local.sink_switch.view_table
  view_table_arn = !local.run.view ? null : (
    local.sink_switch.view_table ? try(aws_dynamodb_table.view[0].arn, null) : var.view_table_arn
  )
  view_table_name = !local.run.view ? null : (
    local.sink_switch.view_table ? try(aws_dynamodb_table.view[0].name, null) : (
      var.view_table_arn == null ? null : element(split("/", var.view_table_arn), 1)
    )
  )

  # Replica table: always the caller's (it may be in another region, which needs a provider of
  # that region). REPLICA_TABLE gets the ARN, whose region the handler uses for its client.
  replica_table_arn  = local.run.replicate ? var.replica_table_arn : null
  replica_table_name = local.replica_table_arn == null ? null : element(split("/", local.replica_table_arn), 1)

  # The source table's name as the ETL writes it (table=<name>/ in every key).
  source_table_name = local.create_table ? local.table_name : local.attached_table_name

  # A view or replica table with the source table's name in another region may be that
  # region's replica of the source's global table (all replicas share the name; multi-account
  # global tables exist): every write there would be replicated back into the source and come
  # back on its stream. The handlers then ask DescribeTable once per cold start and refuse a
  # replica (handlers/versioned.py); with global_table = true the plan refuses it (check_sinks).
  source_region = local.create_table ? local.region : (var.stream_arn == null ? null : split(":", var.stream_arn)[3])
  same_name_elsewhere = { for k, arn in {
    view      = local.run.view && !local.sink_switch.view_table ? var.view_table_arn : null
    replicate = local.replica_table_arn
    } : k => arn == null || local.source_table_name == null ? false : (
    split(":", arn)[3] != local.source_region && element(split("/", arn), 1) == local.source_table_name
  ) }
}

################################################################################
# Plan-time checks across inputs (one resource per concern, so a failure names its concern)
################################################################################

# Which processors and functions run.
resource "terraform_data" "check_processors" {
  count = local.create ? 1 : 0

  lifecycle {
    precondition {
      condition     = length(local.processors) > 0
      error_message = "Enable at least one processor (create_analytics, create_notification, create_etl, create_eventbus, create_view, create_replicate), or set create = false."
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

    precondition {
      condition     = !local.run.notification || length(var.notification_attributes) == 0 || local.stream_view_type == "NEW_AND_OLD_IMAGES"
      error_message = "notification_attributes compares an attribute's old and new value, which needs a NEW_AND_OLD_IMAGES stream, but ${local.stream_view_type_origin}. ${local.stream_view_type_fix}"
    }

    precondition {
      condition     = !local.run.replicate || contains(["NEW_IMAGE", "NEW_AND_OLD_IMAGES"], local.stream_view_type)
      error_message = "create_replicate copies the item after each change, which needs a NEW_IMAGE or NEW_AND_OLD_IMAGES stream, but ${local.stream_view_type_origin}: every change would be reported failed and end in the failure destination. ${local.stream_view_type_fix}"
    }

    precondition {
      condition     = !local.run.view || contains(["NEW_IMAGE", "NEW_AND_OLD_IMAGES"], local.stream_view_type)
      error_message = "create_view projects the item after each change, which needs a NEW_IMAGE or NEW_AND_OLD_IMAGES stream, but ${local.stream_view_type_origin}: every change would be reported failed and end in the failure destination. ${local.stream_view_type_fix}"
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

    precondition {
      condition     = local.sink_switch.checkpoint_table || var.checkpoint_table_arn != null
      error_message = "create_checkpoint_table = false needs checkpoint_table_arn: every function gets CHECKPOINT_TABLE."
    }

    precondition {
      condition     = !local.run.etl || local.sink_switch.etl_bucket || var.etl_bucket_arn != null
      error_message = "create_etl_bucket = false needs etl_bucket_arn (or set create_etl = false)."
    }

    precondition {
      condition     = !local.run.notification || local.sink_switch.notification_topic || var.notification_topic_arn != null
      error_message = "create_notification_topic = false needs notification_topic_arn (or set create_notification = false)."
    }

    precondition {
      condition     = !local.run.analytics || local.sink_switch.analytics_table || var.analytics_table_arn != null
      error_message = "create_analytics_table = false needs analytics_table_arn (or set create_analytics = false)."
    }

    precondition {
      condition     = !local.failure_to_s3 || local.sink_switch.failure_bucket || var.failure_bucket_arn != null
      error_message = "on_failure_destination = \"s3\" with create_failure_bucket = false needs failure_bucket_arn."
    }

    precondition {
      condition     = !local.run.eventbus || local.sink_switch.eventbus_bus || var.eventbus_bus_arn != null
      error_message = "eventbus_create_bus = false needs eventbus_bus_arn (e.g. the default bus, arn:aws:events:<region>:<account>:event-bus/default), or set create_eventbus = false."
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
      condition     = !local.run.view || local.sink_switch.view_table || var.view_table_arn != null
      error_message = "view_create_table = false needs view_table_arn (or set create_view = false)."
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
  count = local.create_checkpoint_table ? 1 : 0

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
