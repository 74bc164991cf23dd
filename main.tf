################################################################################
# The module's general part: account and region, renamed inputs, which functions exist and
# what each runs, the code. The other files are cut by part (docs/contributing.md, "Where
# things live in the module"): processors.tf (the processor registry), table.tf, lambda.tf,
# mapping.tf, iam.tf, sinks.tf, glue.tf, failure.tf, s3.tf, archiver.tf, alarms.tf,
# dashboard.tf, keys.tf, and checks.tf (every plan-time check across inputs).
################################################################################

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

  # The resource policy statement that refuses every request not made over TLS; each policy
  # adds its service's Action and its Resource (failure.tf: the DLQs, s3.tf: the buckets).
  deny_insecure_transport = {
    Sid       = "DenyInsecureTransport"
    Effect    = "Deny"
    Principal = "*"
    Condition = { Bool = { "aws:SecureTransport" = "false" } }
  }

  # Switches renamed to the create_<part> pattern: new name => the deprecated name and both
  # values. Each resolves to the new input's value, else the old one's (null when neither is
  # set), and names the input the caller used (for messages). checks.tf refuses both at once
  # and warns when the old name is used.
  renamed_inputs = {
    create_eventbus_bus      = { old = "eventbus_create_bus", new_value = var.create_eventbus_bus, old_value = var.eventbus_create_bus }
    create_view_table        = { old = "view_create_table", new_value = var.create_view_table, old_value = var.view_create_table }
    create_etl_glue_database = { old = "etl_glue_create_database", new_value = var.create_etl_glue_database, old_value = var.etl_glue_create_database }
  }
  renamed = { for k, r in local.renamed_inputs : k => {
    value = r.new_value != null ? r.new_value : r.old_value
    input = r.new_value == null && r.old_value != null ? r.old : k
  } }
  renamed_conflicts      = [for k, r in local.renamed_inputs : "both ${k} and its deprecated name ${r.old} are set" if r.new_value != null && r.old_value != null]
  deprecated_inputs_used = [for k, r in local.renamed_inputs : "${r.old} (use ${k})" if r.old_value != null]

  ##############################################################################
  # Functions: which exist and what each runs (the processors: processors.tf)
  ##############################################################################

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
}
