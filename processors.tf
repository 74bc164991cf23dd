################################################################################
# Processors: the registry
#
# One entry per processor, in the order the pipeline runs them (handlers/pipeline.py
# PROCESSOR_NAMES; tests/unit/test_registry.py holds every other list of processors in the
# module and its docs to that one). The rest derives from it: which processors run, the
# functions (main.tf), the checks on the stream (checks.tf), each function's environment
# (lambda.tf) and least-privilege policy (iam.tf), the alarms and the dashboard series.
#
# Two locals, because a count cannot depend on a resource: processor_registry says what a
# processor is and whether it runs (the counts of its sink, function and alarms depend on it);
# processor_wiring says what its function gets, which names the sink once created.
################################################################################

locals {
  processor_registry = [
    {
      name    = "analytics"
      enabled = var.create_analytics
      # Whether it keeps a tumbling window's state across invocations (refused at
      # parallelization_factor > 1: mapping.tf).
      window_state = true
      # The stream view types the processor can use (null: any), what it does that needs
      # them, and what happens otherwise (check_stream).
      view_types       = null
      view_types_use   = null
      view_types_cause = null
    },
    {
      name             = "notification"
      enabled          = var.create_notification
      window_state     = false
      view_types       = length(var.notification_attributes) > 0 ? ["NEW_AND_OLD_IMAGES"] : null
      view_types_use   = "notification_attributes compares an attribute's old and new value"
      view_types_cause = ""
    },
    {
      name             = "etl"
      enabled          = var.create_etl
      window_state     = false
      view_types       = null
      view_types_use   = null
      view_types_cause = null
    },
    {
      name             = "eventbus"
      enabled          = var.create_eventbus
      window_state     = false
      view_types       = null
      view_types_use   = null
      view_types_cause = null
    },
    {
      name             = "view"
      enabled          = var.create_view
      window_state     = false
      view_types       = ["NEW_IMAGE", "NEW_AND_OLD_IMAGES"]
      view_types_use   = "create_view projects the item after each change"
      view_types_cause = ": every change would be reported failed and end in the failure destination"
    },
    {
      name             = "replicate"
      enabled          = var.create_replicate
      window_state     = false
      view_types       = ["NEW_IMAGE", "NEW_AND_OLD_IMAGES"]
      view_types_use   = "create_replicate copies the item after each change"
      view_types_cause = ": every change would be reported failed and end in the failure destination"
    },
  ]

  # Enabled processors in pipeline order (PROCESSORS lists them in this order), and whether
  # each runs (enabled, with create).
  processors = [for p in local.processor_registry : p.name if p.enabled]
  run        = { for p in local.processor_registry : p.name => local.create && p.enabled }
  # Processors whose counts live in a tumbling window's state.
  window_state_processors = [for p in local.processor_registry : p.name if p.window_state]

  # Running processors the stream's view type does not serve (check_stream). A conditional,
  # not ||, so that a view type known only at apply leaves the others known.
  view_type_mismatches = [for p in local.processor_registry :
    "${p.view_types_use}, which needs a ${join(" or ", p.view_types)} stream, but ${local.stream_view_type_origin}${p.view_types_cause}"
    if !local.run[p.name] || p.view_types == null ? false : !contains(p.view_types, local.stream_view_type)
  ]

  # What handlers/view.py and handlers/replicate.py call on their tables: conditional PutItem
  # (items and tombstones alike), GetItem only in version-attribute mode (a REMOVE whose
  # version is unknown tombstones the item at the version it holds), and DescribeTable only on
  # a table named like the source in another region (is it a replica of the source's global
  # table? sinks.tf same_name_elsewhere). tests/security/test_iam.py records the calls.
  view_table_actions = concat(
    ["dynamodb:PutItem"],
    var.view_version_attribute != null ? ["dynamodb:GetItem"] : [],
    local.same_name_elsewhere.view ? ["dynamodb:DescribeTable"] : [],
  )
  replica_table_actions = concat(
    ["dynamodb:PutItem"],
    var.replicate_version_attribute != null ? ["dynamodb:GetItem"] : [],
    local.same_name_elsewhere.replicate ? ["dynamodb:DescribeTable"] : [],
  )

  # Per processor: the environment its function gets (the handlers' contract, README
  # "Handlers"; optional settings are left out when unset, so the handlers apply their own
  # default instead of parsing an empty string), the IAM statements on exactly its sink, and
  # the customer managed key it uses (as iam.tf kms_grants: statement id, input, key, the
  # service that calls KMS, actions; S3 SSE-KMS needs only kms:GenerateDataKey for a
  # single-part PutObject, SNS producers kms:GenerateDataKey and kms:Decrypt).
  processor_wiring = {
    analytics = {
      environment = merge(
        { AGGREGATES_TABLE = local.sink_name.analytics_table },
        length(var.analytics_group_by) > 0 ? { ANALYTICS_GROUP_BY = join(",", var.analytics_group_by) } : {},
      )
      statements = [{
        Sid      = "WriteAggregates"
        Effect   = "Allow"
        Action   = ["dynamodb:UpdateItem"]
        Resource = [local.sink_arn.analytics_table]
      }]
      kms_grants = [{ sid = "UseAggregatesTableKey", input = "analytics_table_kms_key_arn", key = var.analytics_table_kms_key_arn, service = "dynamodb", actions = ["kms:Decrypt"] }]
    }
    notification = {
      environment = merge(
        {
          NOTIFY_TOPIC_ARN = local.sink_arn.notification_topic
          NOTIFY_EVENTS    = join(",", var.notification_events)
        },
        length(var.notification_attributes) > 0 ? { NOTIFY_ATTRIBUTES = join(",", var.notification_attributes) } : {},
        length(var.notification_redact) > 0 ? { NOTIFY_REDACT = join(",", var.notification_redact) } : {},
        var.notification_publish_concurrency != null ? { NOTIFY_PUBLISH_CONCURRENCY = tostring(var.notification_publish_concurrency) } : {},
      )
      statements = [{
        Sid      = "PublishNotifications"
        Effect   = "Allow"
        Action   = ["sns:Publish"]
        Resource = [local.sink_arn.notification_topic]
      }]
      kms_grants = [{ sid = "UseNotificationTopicKey", input = "notification_topic_kms_key_arn", key = var.notification_topic_kms_key_arn, service = "sns", actions = ["kms:GenerateDataKey", "kms:Decrypt"] }]
    }
    etl = {
      environment = {
        ETL_BUCKET = local.sink_name.etl_bucket
        ETL_PREFIX = var.etl_prefix
      }
      statements = [{
        Sid      = "WriteEtlObjects"
        Effect   = "Allow"
        Action   = ["s3:PutObject"]
        Resource = [local.sink_arn.etl_bucket == null ? null : "${local.sink_arn.etl_bucket}/${var.etl_prefix}*"]
      }]
      kms_grants = [{ sid = "UseEtlBucketKey", input = "etl_bucket_kms_key_arn", key = var.etl_bucket_kms_key_arn, service = "s3", actions = ["kms:GenerateDataKey"] }]
    }
    eventbus = {
      environment = merge(
        {
          EVENTBUS_NAME   = local.eventbus_handler_target
          EVENTBUS_EVENTS = join(",", var.eventbus_events)
        },
        var.eventbus_source != null ? { EVENTBUS_SOURCE = var.eventbus_source } : {},
        length(var.eventbus_redact) > 0 ? { EVENTBUS_REDACT = join(",", var.eventbus_redact) } : {},
        var.eventbus_numbers != "number" ? { EVENTBUS_NUMBERS = var.eventbus_numbers } : {},
        var.eventbus_publish_concurrency != null ? { EVENTBUS_PUBLISH_CONCURRENCY = tostring(var.eventbus_publish_concurrency) } : {},
      )
      statements = [{
        Sid      = "PublishEvents"
        Effect   = "Allow"
        Action   = ["events:PutEvents"]
        Resource = [local.sink_arn.eventbus_bus]
      }]
      kms_grants = []
    }
    view = {
      environment = merge(
        {
          VIEW_TABLE             = local.sink_name.view_table
          VIEW_PARTITION_KEY     = var.view_partition_key
          VIEW_WRITE_CONCURRENCY = tostring(var.view_write_concurrency)
        },
        var.view_sort_key != null ? { VIEW_SORT_KEY = var.view_sort_key } : {},
        length(var.view_attributes) > 0 ? { VIEW_ATTRIBUTES = join(",", var.view_attributes) } : {},
        var.view_version_attribute != null ? { VIEW_VERSION_ATTRIBUTE = var.view_version_attribute } : {},
      )
      statements = [{
        Sid      = "WriteView"
        Effect   = "Allow"
        Action   = local.view_table_actions
        Resource = [local.sink_arn.view_table]
      }]
      kms_grants = [{ sid = "UseViewTableKey", input = "view_table_kms_key_arn", key = var.view_table_kms_key_arn, service = "dynamodb", actions = ["kms:Decrypt"] }]
    }
    replicate = {
      environment = merge(
        {
          REPLICA_TABLE               = local.replica_table_arn
          REPLICATE_WRITE_CONCURRENCY = tostring(var.replicate_write_concurrency)
        },
        var.replicate_version_attribute != null ? { REPLICATE_VERSION_ATTRIBUTE = var.replicate_version_attribute } : {},
      )
      statements = [{
        Sid      = "WriteReplica"
        Effect   = "Allow"
        Action   = local.replica_table_actions
        Resource = [local.replica_table_arn]
      }]
      kms_grants = [{ sid = "UseReplicaTableKey", input = "replica_table_kms_key_arn", key = var.replica_table_kms_key_arn, service = "dynamodb", actions = ["kms:Decrypt"] }]
    }
  }
}
