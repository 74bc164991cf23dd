################################################################################
# General
################################################################################

variable "create" {
  description = "Whether to create any resource at all (false turns the module into a no-op)."
  type        = bool
  default     = true
  nullable    = false
}

variable "name" {
  description = "Name prefix of every resource (functions, roles, queues, tables, buckets, alarms, dashboard). 1 to 32 letters, digits or hyphens, starting with a letter or digit."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9-]{0,31}$", var.name))
    error_message = "name must be 1 to 32 characters of letters, digits and hyphens, starting with a letter or digit (it prefixes function, role, queue and bucket names, which have tight limits)."
  }
}

variable "tags" {
  description = "Tags added to every resource that supports them."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "deletion_protection_enabled" {
  description = "Deletion protection of every DynamoDB table the module creates: the source table (create_table), the checkpoint table (create_checkpoint_table), the aggregates table (create_analytics_table) and the view table (create_view). While true, terraform destroy stops at the first of them, after removing what depends on it: to destroy, set it to false and apply, then destroy. Tables passed in (stream_arn, *_table_arn, replica_table_arn) are never changed."
  type        = bool
  default     = true
  nullable    = false
}

variable "bucket_noncurrent_version_expiration_days" {
  description = "Delete noncurrent object versions of the created buckets after this many days."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.bucket_noncurrent_version_expiration_days >= 1
    error_message = "bucket_noncurrent_version_expiration_days must be at least 1."
  }
}

################################################################################
# Source table and its stream (table.tf)
################################################################################

variable "create_table" {
  description = "Create the source table (true) or attach to the stream of an existing table (false, then stream_arn is required). null: attach when stream_arn is given, create otherwise. true with stream_arn fails the plan. Set it when stream_arn is only known after apply."
  type        = bool
  default     = null
}

variable "table_name" {
  description = "Name of the source table the module creates. null means var.name."
  type        = string
  default     = null

  validation {
    condition     = var.table_name == null ? true : can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.table_name))
    error_message = "table_name must be 3 to 255 characters of letters, digits, '_', '-' and '.'."
  }
}

variable "table_hash_key" {
  description = "Partition (hash) key attribute of the source table."
  type        = string
  default     = "pk"
  nullable    = false

  validation {
    condition     = length(var.table_hash_key) >= 1 && length(var.table_hash_key) <= 255
    error_message = "table_hash_key must be 1 to 255 characters long."
  }
}

variable "table_hash_key_type" {
  description = "Type of the partition key: S (string), N (number) or B (binary)."
  type        = string
  default     = "S"
  nullable    = false

  validation {
    condition     = contains(["S", "N", "B"], var.table_hash_key_type)
    error_message = "table_hash_key_type must be one of S, N, B."
  }
}

variable "table_range_key" {
  description = "Sort (range) key attribute of the source table. null means no sort key."
  type        = string
  default     = null

  validation {
    condition     = var.table_range_key == null ? true : (length(var.table_range_key) >= 1 && length(var.table_range_key) <= 255)
    error_message = "table_range_key must be null or 1 to 255 characters long."
  }
}

variable "table_range_key_type" {
  description = "Type of the sort key: S, N or B (used only with table_range_key)."
  type        = string
  default     = "S"
  nullable    = false

  validation {
    condition     = contains(["S", "N", "B"], var.table_range_key_type)
    error_message = "table_range_key_type must be one of S, N, B."
  }
}

variable "table_billing_mode" {
  description = "Billing mode of the source table: PAY_PER_REQUEST or PROVISIONED (then set table_read_capacity and table_write_capacity)."
  type        = string
  default     = "PAY_PER_REQUEST"
  nullable    = false

  validation {
    condition     = contains(["PAY_PER_REQUEST", "PROVISIONED"], var.table_billing_mode)
    error_message = "table_billing_mode must be PAY_PER_REQUEST or PROVISIONED."
  }
}

variable "table_read_capacity" {
  description = "Read capacity units of the source table (PROVISIONED billing only)."
  type        = number
  default     = null

  validation {
    condition     = var.table_read_capacity == null ? true : var.table_read_capacity >= 1
    error_message = "table_read_capacity must be null or at least 1."
  }
}

variable "table_write_capacity" {
  description = "Write capacity units of the source table (PROVISIONED billing only)."
  type        = number
  default     = null

  validation {
    condition     = var.table_write_capacity == null ? true : var.table_write_capacity >= 1
    error_message = "table_write_capacity must be null or at least 1."
  }
}

variable "table_point_in_time_recovery_enabled" {
  description = "Point-in-time recovery of the source table."
  type        = bool
  default     = true
  nullable    = false
}

variable "table_kms_key_arn" {
  description = "Customer managed KMS key of the source table. When the module creates the table it encrypts with this key (null: the AWS managed key aws/dynamodb); when attaching, give the existing table's key so the functions may decrypt its stream."
  type        = string
  default     = null

  validation {
    condition     = var.table_kms_key_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.table_kms_key_arn))
    error_message = "table_kms_key_arn must be null or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)."
  }
}

variable "table_ttl_attribute_name" {
  description = "Attribute holding the expiry time (epoch seconds) of source table items. null disables TTL. TTL deletions appear on the stream as REMOVE records."
  type        = string
  default     = null

  validation {
    condition     = var.table_ttl_attribute_name == null ? true : (length(var.table_ttl_attribute_name) >= 1 && length(var.table_ttl_attribute_name) <= 255)
    error_message = "table_ttl_attribute_name must be null or 1 to 255 characters long."
  }
}

variable "stream_view_type" {
  description = "What the stream records carry: KEYS_ONLY, NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES. null: NEW_AND_OLD_IMAGES for a created table. When attaching, the module reads the table's view type (read_attached_table) and checks that one; this value is then only compared with it (a warning when they differ), and is trusted when the table cannot be read at plan time (null: NEW_AND_OLD_IMAGES). Changing it on a created table creates a new stream (new ARN) and loses the records in between; see stream_arn_change_acknowledged."
  type        = string
  default     = null

  validation {
    condition     = var.stream_view_type == null ? true : contains(["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"], var.stream_view_type)
    error_message = "stream_view_type must be null or exactly one of KEYS_ONLY, NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES."
  }
}

variable "stream_arn" {
  description = "Stream ARN of an existing table (create_table = false). The functions get read access to exactly this stream."
  type        = string
  default     = null

  validation {
    condition     = var.stream_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[a-zA-Z0-9_.-]{3,255}/stream/[0-9TZ:.-]+$", var.stream_arn))
    error_message = "stream_arn must be a DynamoDB stream ARN: arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label>."
  }
}

variable "stream_arn_change_acknowledged" {
  description = "Set to true for the apply that knowingly changes the stream (stream_view_type, table_name, or the attached stream_arn): the table gets a new stream and the mappings start on it, so records written in between are not processed. Without it such a plan fails. Set it back to false afterwards."
  type        = bool
  default     = false
  nullable    = false
}

variable "read_attached_table" {
  description = "When attaching (stream_arn), read the attached table at plan time (data source aws_dynamodb_table, by the table ARN in stream_arn) and fail the plan when its stream is disabled, is not stream_arn, or has a view type the enabled processors cannot use. Terraform's credentials then need dynamodb:DescribeTable, DescribeTimeToLive, DescribeContinuousBackups and ListTagsOfResource on that table. Set false when they cannot have them (e.g. a table in another account): the declared stream_view_type is then trusted."
  type        = bool
  default     = true
  nullable    = false
}

variable "global_table" {
  description = "Whether the table is a global table (replicas in other regions). Every region's stream then carries every region's writes, and AWS advises at most one reader per stream. With true, a replica_table_arn or view_table_arn with the table's name in another region (a replica of the global table) is refused at plan."
  type        = bool
  default     = false
  nullable    = false
}

variable "additional_stream_readers" {
  description = "How many other consumers (outside this module) already read the same stream; counted against the per-shard reader limit."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = var.additional_stream_readers >= 0 && floor(var.additional_stream_readers) == var.additional_stream_readers
    error_message = "additional_stream_readers must be a whole number, 0 or more."
  }
}

variable "allow_excess_stream_readers" {
  description = "Allow more readers on the stream than DynamoDB Streams serves without throttling (2 per shard, 1 for global tables). Leave false unless you accept throttled, lagging readers."
  type        = bool
  default     = false
  nullable    = false
}

################################################################################
# Checkpoint table (table.tf; created or brought)
################################################################################

variable "create_checkpoint_table" {
  description = "Create the handlers' checkpoint table (true) or use checkpoint_table_arn (false); every function gets it as CHECKPOINT_TABLE. null: use checkpoint_table_arn when given, create otherwise. true with checkpoint_table_arn fails the plan."
  type        = bool
  default     = null
}

variable "checkpoint_table_arn" {
  description = "ARN of an existing checkpoint table (hash key pk of type S, TTL on expires_at). Given, the module uses it and creates no checkpoint table."
  type        = string
  default     = null

  validation {
    condition     = var.checkpoint_table_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[a-zA-Z0-9_.-]{3,255}$", var.checkpoint_table_arn))
    error_message = "checkpoint_table_arn must be null or a DynamoDB table ARN."
  }
}

variable "checkpoint_table_billing_mode" {
  description = "Billing mode of the checkpoint table: PAY_PER_REQUEST or PROVISIONED."
  type        = string
  default     = "PAY_PER_REQUEST"
  nullable    = false

  validation {
    condition     = contains(["PAY_PER_REQUEST", "PROVISIONED"], var.checkpoint_table_billing_mode)
    error_message = "checkpoint_table_billing_mode must be PAY_PER_REQUEST or PROVISIONED."
  }
}

variable "checkpoint_table_read_capacity" {
  description = "Read capacity of the checkpoint table (PROVISIONED only)."
  type        = number
  default     = null

  validation {
    condition     = var.checkpoint_table_read_capacity == null ? true : var.checkpoint_table_read_capacity >= 1
    error_message = "checkpoint_table_read_capacity must be null or at least 1."
  }
}

variable "checkpoint_table_write_capacity" {
  description = "Write capacity of the checkpoint table (PROVISIONED only)."
  type        = number
  default     = null

  validation {
    condition     = var.checkpoint_table_write_capacity == null ? true : var.checkpoint_table_write_capacity >= 1
    error_message = "checkpoint_table_write_capacity must be null or at least 1."
  }
}

variable "checkpoint_table_point_in_time_recovery_enabled" {
  description = "Point-in-time recovery of the checkpoint table (its items expire; off by default)."
  type        = bool
  default     = false
  nullable    = false
}

variable "checkpoint_table_kms_key_arn" {
  description = "Customer managed KMS key of the checkpoint table (created: encrypts it; brought: the key the functions may use). null: the AWS managed key."
  type        = string
  default     = null

  validation {
    condition     = var.checkpoint_table_kms_key_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.checkpoint_table_kms_key_arn))
    error_message = "checkpoint_table_kms_key_arn must be null or a KMS key ARN."
  }
}

################################################################################
# Functions and their layout (main.tf, lambda.tf)
################################################################################

variable "function_layout" {
  description = "combined: one function (handlers.pipeline.handler) runs every enabled processor, one stream reader. separate: one function and mapping per processor (isolated retries and scaling, one reader each). groups: one function per entry of function_groups (e.g. a realtime and a bulk function, two readers)."
  type        = string
  default     = "combined"
  nullable    = false

  validation {
    condition     = contains(["combined", "separate", "groups"], var.function_layout)
    error_message = "function_layout must be \"combined\", \"separate\" or \"groups\"."
  }
}

variable "function_groups" {
  description = "With function_layout = \"groups\": function key => the processors that function runs (handlers.pipeline.handler with PROCESSORS), e.g. { realtime = [\"notification\", \"eventbus\"], bulk = [\"analytics\", \"etl\", \"view\", \"replicate\"] }. Every enabled processor must be in exactly one group; each group is one function and one stream reader."
  type        = map(list(string))
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for k in keys(var.function_groups) : can(regex("^[a-z][a-z0-9-]{0,19}$", k))])
    error_message = "function_groups keys must be 1 to 20 lowercase letters, digits or '-', starting with a letter (a key names the function, role, log group and queue: <name>-<key>)."
  }

  validation {
    condition     = alltrue([for ps in values(var.function_groups) : length(ps) > 0 && length(setsubtract(ps, ["analytics", "notification", "etl", "eventbus", "view", "replicate"])) == 0])
    error_message = "function_groups: every group lists at least one processor, each one of analytics, notification, etl, eventbus, view, replicate."
  }

  validation {
    condition     = length(flatten(values(var.function_groups))) == length(distinct(flatten(values(var.function_groups))))
    error_message = "function_groups: a processor may be listed once, in one group only."
  }
}

variable "function_overrides" {
  description = "Per-function settings that replace the module-wide ones. Keys: pipeline (combined layout) or analytics, notification, etl, eventbus, view, replicate (separate layout). (A function of the groups layout is tuned here only when its key is one of these names.)"
  type = map(object({
    memory_size                        = optional(number)
    timeout                            = optional(number)
    reserved_concurrent_executions     = optional(number)
    batch_size                         = optional(number)
    maximum_batching_window_in_seconds = optional(number)
    parallelization_factor             = optional(number)
    maximum_retry_attempts             = optional(number)
    maximum_record_age_in_seconds      = optional(number)
    enabled                            = optional(bool)
  }))
  default  = {}
  nullable = false

  validation {
    condition     = length(setsubtract(keys(var.function_overrides), ["pipeline", "analytics", "notification", "etl", "eventbus", "view", "replicate"])) == 0
    error_message = "function_overrides keys must be pipeline, analytics, notification, etl, eventbus, view or replicate."
  }

  validation {
    condition = alltrue([for o in values(var.function_overrides) : alltrue([
      o.memory_size == null ? true : (o.memory_size >= 128 && o.memory_size <= 10240),
      o.timeout == null ? true : (o.timeout >= 1 && o.timeout <= 900),
      o.reserved_concurrent_executions == null ? true : o.reserved_concurrent_executions >= 0,
    ])])
    error_message = "function_overrides: memory_size must be 128 to 10240, timeout 1 to 900, reserved_concurrent_executions 0 or more."
  }

  validation {
    condition = alltrue([for o in values(var.function_overrides) : alltrue([
      o.batch_size == null ? true : (o.batch_size >= 1 && o.batch_size <= 10000),
      o.maximum_batching_window_in_seconds == null ? true : (o.maximum_batching_window_in_seconds >= 0 && o.maximum_batching_window_in_seconds <= 300),
      o.parallelization_factor == null ? true : (o.parallelization_factor >= 1 && o.parallelization_factor <= 10),
      o.maximum_retry_attempts == null ? true : (o.maximum_retry_attempts >= -1 && o.maximum_retry_attempts <= 10000),
      o.maximum_record_age_in_seconds == null ? true : (o.maximum_record_age_in_seconds == -1 || (o.maximum_record_age_in_seconds >= 60 && o.maximum_record_age_in_seconds <= 604800)),
    ])])
    error_message = "function_overrides: batch_size must be 1 to 10000, maximum_batching_window_in_seconds 0 to 300, parallelization_factor 1 to 10, maximum_retry_attempts -1 to 10000, maximum_record_age_in_seconds -1 or 60 to 604800."
  }
}

variable "runtime" {
  description = "Lambda runtime; python3.12 or newer."
  type        = string
  default     = "python3.12"
  nullable    = false

  validation {
    condition     = can(regex("^python3\\.(1[2-9]|[2-9][0-9])$", var.runtime))
    error_message = "runtime must be python3.12 or newer (python3.12, python3.13, ...)."
  }
}

variable "architecture" {
  description = "Instruction set of the functions: arm64 or x86_64 (the handlers are pure Python)."
  type        = string
  default     = "arm64"
  nullable    = false

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "memory_size" {
  description = "Memory of each function in MB (128 to 10240)."
  type        = number
  default     = 256
  nullable    = false

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size must be a whole number from 128 to 10240 (MB)."
  }
}

variable "timeout" {
  description = "Timeout of each function in seconds (1 to 900)."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "timeout must be a whole number of seconds from 1 to 900."
  }
}

variable "reserved_concurrent_executions" {
  description = "Reserved concurrency of each function. null means unreserved; 0 stops the function."
  type        = number
  default     = null

  validation {
    condition     = var.reserved_concurrent_executions == null ? true : (var.reserved_concurrent_executions >= 0 && floor(var.reserved_concurrent_executions) == var.reserved_concurrent_executions)
    error_message = "reserved_concurrent_executions must be null or a whole number, 0 or more."
  }
}

variable "log_level" {
  description = "LOG_LEVEL of the handlers."
  type        = string
  default     = "INFO"
  nullable    = false

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be one of DEBUG, INFO, WARNING, ERROR."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the handlers' embedded metrics (METRICS_NAMESPACE); the dashboard reads it."
  type        = string
  default     = "DynamoDBTriggers"
  nullable    = false

  validation {
    condition     = can(regex("^[a-zA-Z0-9._#/-][a-zA-Z0-9 ._#/-]{0,254}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be 1 to 255 characters of letters, digits, spaces and . _ - / #, and must not start with AWS/."
  }
}

variable "environment_variables" {
  description = "Extra environment variables of every function. They cannot replace the variables of the handlers' contract (CHECKPOINT_TABLE, PROCESSORS, ETL_*, NOTIFY_*, AGGREGATES_TABLE, ANALYTICS_GROUP_BY, EVENTBUS_*, VIEW_*, REPLICA_*, REPLICATE_*, METRICS_NAMESPACE, LOG_LEVEL)."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition = length(setintersection(keys(var.environment_variables), [
      "CHECKPOINT_TABLE", "PROCESSORS", "ETL_BUCKET", "ETL_PREFIX", "NOTIFY_TOPIC_ARN", "NOTIFY_EVENTS",
      "NOTIFY_ATTRIBUTES", "NOTIFY_REDACT", "NOTIFY_PUBLISH_CONCURRENCY", "AGGREGATES_TABLE", "ANALYTICS_GROUP_BY", "METRICS_NAMESPACE", "LOG_LEVEL",
      "EVENTBUS_NAME", "EVENTBUS_SOURCE", "EVENTBUS_EVENTS", "EVENTBUS_REDACT", "EVENTBUS_NUMBERS", "EVENTBUS_PUBLISH_CONCURRENCY", "VIEW_TABLE", "VIEW_PARTITION_KEY",
      "VIEW_SORT_KEY", "VIEW_ATTRIBUTES", "VIEW_VERSION_ATTRIBUTE", "VIEW_WRITE_CONCURRENCY", "REPLICA_TABLE", "REPLICA_REGION", "REPLICATE_VERSION_ATTRIBUTE", "REPLICATE_WRITE_CONCURRENCY",
    ])) == 0
    error_message = "environment_variables must not set the handlers' contract variables (CHECKPOINT_TABLE, PROCESSORS, ETL_BUCKET, ETL_PREFIX, NOTIFY_*, AGGREGATES_TABLE, ANALYTICS_GROUP_BY, EVENTBUS_*, VIEW_*, REPLICA_*, REPLICATE_*, METRICS_NAMESPACE, LOG_LEVEL); use the module's own inputs."
  }

  validation {
    condition     = alltrue([for k in keys(var.environment_variables) : can(regex("^[a-zA-Z][a-zA-Z0-9_]*$", k)) && !startswith(k, "AWS_")])
    error_message = "environment_variables keys must start with a letter, contain only letters, digits and '_', and must not start with AWS_ (reserved by Lambda)."
  }
}

variable "function_kms_key_arn" {
  description = "Customer managed KMS key that encrypts the functions' environment variables. null: the Lambda service key."
  type        = string
  default     = null

  validation {
    condition     = var.function_kms_key_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.function_kms_key_arn))
    error_message = "function_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "local_package_path" {
  description = "Path of the handlers zip deployed from the machine running Terraform. null means the reproducible zip committed with the module (dist/handlers.zip). Ignored when s3_package is set."
  type        = string
  default     = null

  validation {
    condition     = var.local_package_path == null ? true : endswith(var.local_package_path, ".zip")
    error_message = "local_package_path must be the path of a .zip file."
  }
}

variable "s3_package" {
  description = "The handlers zip as an S3 object (bucket, key, optional version_id), used instead of a local zip."
  type = object({
    bucket     = string
    key        = string
    version_id = optional(string)
  })
  default = null

  validation {
    condition     = var.s3_package == null ? true : (can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.s3_package.bucket)) && endswith(var.s3_package.key, ".zip"))
    error_message = "s3_package.bucket must be a valid bucket name and s3_package.key must end with .zip."
  }
}

variable "publish" {
  description = "Publish a new function version on every code or configuration change (needed for create_alias)."
  type        = bool
  default     = false
  nullable    = false
}

variable "create_alias" {
  description = "Create an alias per function and point the event source mappings at it, so a deploy can be rolled back by moving the alias (requires publish = true)."
  type        = bool
  default     = false
  nullable    = false
}

variable "alias_name" {
  description = "Name of the alias (create_alias)."
  type        = string
  default     = "live"
  nullable    = false

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,128}$", var.alias_name)) && !can(regex("^[0-9]+$", var.alias_name))
    error_message = "alias_name must be 1 to 128 letters, digits, '-' or '_', and not only digits."
  }
}

variable "alias_function_versions" {
  description = "Published version the alias points at, per function key (pipeline, a processor name, or a function_groups key); to roll back. Functions not listed get the latest published version."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for k, v in var.alias_function_versions : can(regex("^[a-z][a-z0-9-]{0,19}$", k)) && can(regex("^[0-9]+$", v))])
    error_message = "alias_function_versions keys must be function keys (pipeline, a processor name or a function_groups key), and values published version numbers such as \"3\"."
  }
}

variable "log_retention_in_days" {
  description = "Retention of each function's CloudWatch log group, in days."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be one of the values CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "log_kms_key_arn" {
  description = "Customer managed KMS key of the log groups (its key policy must allow the CloudWatch Logs service)."
  type        = string
  default     = null

  validation {
    condition     = var.log_kms_key_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.log_kms_key_arn))
    error_message = "log_kms_key_arn must be null or a KMS key ARN."
  }
}

################################################################################
# Event source mappings (mapping.tf)
################################################################################

variable "event_source_mapping_enabled" {
  description = "Whether the mappings poll the stream (false pauses processing; the stream keeps records for 24 hours)."
  type        = bool
  default     = true
  nullable    = false
}

variable "batch_size" {
  description = "Most records per invocation (1 to 10000); an invocation also stops at 6 MB."
  type        = number
  default     = 100
  nullable    = false

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000 && floor(var.batch_size) == var.batch_size
    error_message = "batch_size must be a whole number from 1 to 10000."
  }
}

variable "maximum_batching_window_in_seconds" {
  description = "How long to gather records before invoking (0 to 300 seconds)."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = var.maximum_batching_window_in_seconds >= 0 && var.maximum_batching_window_in_seconds <= 300 && floor(var.maximum_batching_window_in_seconds) == var.maximum_batching_window_in_seconds
    error_message = "maximum_batching_window_in_seconds must be a whole number from 0 to 300."
  }
}

variable "starting_position" {
  description = "Where a new mapping starts reading: TRIM_HORIZON (oldest record, up to 24 hours back) or LATEST. null: TRIM_HORIZON for a table the module creates, LATEST when attaching to an existing table (so old changes are not replayed)."
  type        = string
  default     = null

  validation {
    condition     = var.starting_position == null ? true : contains(["TRIM_HORIZON", "LATEST"], var.starting_position)
    error_message = "starting_position must be TRIM_HORIZON or LATEST (AWS rejects AT_TIMESTAMP for DynamoDB streams: \"Unsupported starting position for arn type\")."
  }
}

variable "parallelization_factor" {
  description = "Concurrent batches per shard (1 to 10); records with the same partition key stay in order. A function running analytics with tumbling_window_in_seconds needs 1 (refused at plan otherwise)."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.parallelization_factor >= 1 && var.parallelization_factor <= 10 && floor(var.parallelization_factor) == var.parallelization_factor
    error_message = "parallelization_factor must be a whole number from 1 to 10."
  }
}

variable "bisect_batch_on_function_error" {
  description = "Split a failed batch in two and retry the halves (isolates poison records; splits do not use retry attempts)."
  type        = bool
  default     = true
  nullable    = false
}

variable "maximum_retry_attempts" {
  description = "Retries of a failed batch before it goes to the on-failure destination (0 to 10000; -1 means until the records expire, which can block a shard for 24 hours)."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.maximum_retry_attempts >= -1 && var.maximum_retry_attempts <= 10000 && floor(var.maximum_retry_attempts) == var.maximum_retry_attempts
    error_message = "maximum_retry_attempts must be a whole number from -1 (infinite) to 10000."
  }
}

variable "maximum_record_age_in_seconds" {
  description = "Records older than this go to the on-failure destination instead of being retried (60 to 604800; -1 means until they expire after 24 hours)."
  type        = number
  default     = 3600
  nullable    = false

  validation {
    condition     = var.maximum_record_age_in_seconds == -1 || (var.maximum_record_age_in_seconds >= 60 && var.maximum_record_age_in_seconds <= 604800 && floor(var.maximum_record_age_in_seconds) == var.maximum_record_age_in_seconds)
    error_message = "maximum_record_age_in_seconds must be -1 (infinite) or a whole number from 60 to 604800."
  }
}

variable "tumbling_window_in_seconds" {
  description = "Tumbling window length (0 to 900 seconds). null disables it. The handlers must then return state; see the README. The function running analytics then needs parallelization_factor = 1."
  type        = number
  default     = null

  validation {
    condition     = var.tumbling_window_in_seconds == null ? true : (var.tumbling_window_in_seconds >= 0 && var.tumbling_window_in_seconds <= 900 && floor(var.tumbling_window_in_seconds) == var.tumbling_window_in_seconds)
    error_message = "tumbling_window_in_seconds must be null or a whole number from 0 to 900."
  }
}

variable "filter_patterns" {
  description = "Event filter patterns (JSON strings, ORed; at most 5, each at most 4096 characters). Keys: eventName and dynamodb; attribute values under dynamodb.NewImage/OldImage/Keys must name their type, e.g. {\"dynamodb\":{\"NewImage\":{\"status\":{\"S\":[\"OFFER\"]}}}}. Records matching no pattern are dropped (counted as processed). Applies to every mapping."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = length(var.filter_patterns) <= 5
    error_message = "filter_patterns: at most 5 patterns per event source mapping (the default Lambda quota)."
  }

  validation {
    condition     = alltrue([for p in var.filter_patterns : length(p) <= 4096])
    error_message = "filter_patterns: each pattern must be at most 4096 characters."
  }

  validation {
    condition     = alltrue([for p in var.filter_patterns : can(keys(jsondecode(p)))])
    error_message = "filter_patterns: each pattern must be a valid JSON object, e.g. {\"eventName\":[\"MODIFY\"]}."
  }

  validation {
    # A pattern that is not a JSON object has its own message (above), not this one too.
    condition     = alltrue([for p in var.filter_patterns : !can(keys(jsondecode(p))) || try(length(keys(jsondecode(p))) > 0 && length(setsubtract(keys(jsondecode(p)), ["eventName", "dynamodb"])) == 0, false)])
    error_message = "filter_patterns: the top-level keys of a pattern must be eventName and/or dynamodb (other record fields cannot be filtered on)."
  }

  validation {
    condition = alltrue([for p in var.filter_patterns : try(
      length(setsubtract(keys(try(jsondecode(p).dynamodb, {})), ["ApproximateCreationDateTime", "Keys", "NewImage", "OldImage", "SequenceNumber", "SizeBytes", "StreamViewType"])) == 0,
    false)])
    error_message = "filter_patterns: keys under dynamodb must be stream record fields: ApproximateCreationDateTime, Keys, NewImage, OldImage, SequenceNumber, SizeBytes, StreamViewType."
  }

  validation {
    condition = alltrue([for p in var.filter_patterns : try(alltrue(flatten([
      for image, attributes in try(jsondecode(p).dynamodb, {}) : [
        for attribute, value in attributes : length(keys(value)) > 0 && length(setsubtract(keys(value), ["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"])) == 0
      ] if contains(["Keys", "NewImage", "OldImage"], image)
    ])), false)])
    error_message = "filter_patterns: attribute values under dynamodb.NewImage, OldImage and Keys must name their DynamoDB type, e.g. {\"status\": {\"S\": [\"OFFER\"]}} (not {\"status\": [\"OFFER\"]}, which never matches)."
  }
}

variable "filter_criteria_kms_key_arn" {
  description = "Customer managed KMS key that encrypts the filter criteria of the mappings (its key policy must allow Lambda to decrypt)."
  type        = string
  default     = null

  validation {
    condition     = var.filter_criteria_kms_key_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.filter_criteria_kms_key_arn))
    error_message = "filter_criteria_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "event_source_mapping_metrics_enabled" {
  description = "Turn on the mappings' EventCount metrics (PolledEventCount, FilteredOutEventCount, InvokedEventCount, FailedInvokeEventCount, DroppedEventCount, OnFailureDestinationDeliveredEventCount per mapping; billed as CloudWatch metrics). The stall alarm needs PolledEventCount to see a mapping that reads nothing without depending on traffic; with false it falls back to writes against invocations (see docs/reliability.md)."
  type        = bool
  default     = true
  nullable    = false
}

################################################################################
# Analytics processor: aggregates table (created or brought)
################################################################################

variable "create_analytics" {
  description = "Run the analytics processor (aggregates per ANALYTICS_GROUP_BY in the aggregates table)."
  type        = bool
  default     = true
  nullable    = false
}

variable "analytics_group_by" {
  description = "Attributes the analytics processor groups counts by (ANALYTICS_GROUP_BY), e.g. [\"job_id\", \"status\"]."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for a in var.analytics_group_by : length(a) > 0 && !strcontains(a, ",")]) && length(distinct(var.analytics_group_by)) == length(var.analytics_group_by)
    error_message = "analytics_group_by must be distinct, non-empty attribute names without commas."
  }
}

variable "create_analytics_table" {
  description = "Create the aggregates table (true) or use analytics_table_arn (false). null: use analytics_table_arn when given, create otherwise. true with analytics_table_arn fails the plan."
  type        = bool
  default     = null
}

variable "analytics_table_arn" {
  description = "ARN of an existing aggregates table (hash key pk of type S). Given, the module uses it and creates no aggregates table."
  type        = string
  default     = null

  validation {
    condition     = var.analytics_table_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[a-zA-Z0-9_.-]{3,255}$", var.analytics_table_arn))
    error_message = "analytics_table_arn must be null or a DynamoDB table ARN (arn:aws:dynamodb:<region>:<account>:table/<name>)."
  }
}

variable "analytics_table_kms_key_arn" {
  description = "Customer managed KMS key of the aggregates table (created: encrypts it; brought: the key the function may use). null: the AWS managed key."
  type        = string
  default     = null

  validation {
    condition     = var.analytics_table_kms_key_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.analytics_table_kms_key_arn))
    error_message = "analytics_table_kms_key_arn must be null or a KMS key ARN."
  }
}

################################################################################
# Notification processor: SNS topic (created or brought)
################################################################################

variable "create_notification" {
  description = "Run the notification processor (publishes changes to the SNS topic)."
  type        = bool
  default     = true
  nullable    = false
}

variable "notification_events" {
  description = "Event names that trigger a notification (NOTIFY_EVENTS): a non-empty subset of INSERT, MODIFY, REMOVE."
  type        = list(string)
  default     = ["INSERT", "MODIFY", "REMOVE"]
  nullable    = false

  validation {
    condition     = length(var.notification_events) > 0 && length(setsubtract(var.notification_events, ["INSERT", "MODIFY", "REMOVE"])) == 0 && length(distinct(var.notification_events)) == length(var.notification_events)
    error_message = "notification_events must be a non-empty subset of INSERT, MODIFY, REMOVE, each listed once."
  }
}

variable "notification_attributes" {
  description = "Notify a MODIFY only when one of these attributes changed (NOTIFY_ATTRIBUTES). Empty: every event in notification_events. Needs NEW_AND_OLD_IMAGES."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for a in var.notification_attributes : length(a) > 0 && !strcontains(a, ",")]) && length(distinct(var.notification_attributes)) == length(var.notification_attributes)
    error_message = "notification_attributes must be distinct, non-empty attribute names without commas."
  }
}

variable "notification_redact" {
  description = "Attributes removed from notification messages (NOTIFY_REDACT)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for a in var.notification_redact : length(a) > 0 && !strcontains(a, ",")]) && length(distinct(var.notification_redact)) == length(var.notification_redact)
    error_message = "notification_redact must be distinct, non-empty attribute names without commas."
  }
}

variable "notification_publish_concurrency" {
  description = "PublishBatch calls one invocation keeps in flight at once (NOTIFY_PUBLISH_CONCURRENCY, 1 to 50): the round trips overlap while the next messages are built, and the SNS client's connection pool is sized to match. On a FIFO topic, calls that carry a common message group still go one after another, in record order. null: the handler's default, 10 (botocore's connection pool); 1: one call at a time."
  type        = number
  default     = null

  validation {
    condition     = var.notification_publish_concurrency == null ? true : (var.notification_publish_concurrency >= 1 && var.notification_publish_concurrency <= 50 && floor(var.notification_publish_concurrency) == var.notification_publish_concurrency)
    error_message = "notification_publish_concurrency must be null or a whole number from 1 to 50."
  }
}

variable "create_notification_topic" {
  description = "Create the notification SNS topic (true) or use notification_topic_arn (false). null: use notification_topic_arn when given, create otherwise. true with notification_topic_arn fails the plan."
  type        = bool
  default     = null
}

variable "notification_topic_arn" {
  description = "ARN of an existing SNS topic for notifications. Given, the module publishes to it and creates no topic."
  type        = string
  default     = null

  validation {
    condition     = var.notification_topic_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:sns:[a-z0-9-]+:[0-9]{12}:[a-zA-Z0-9_-]{1,256}(\\.fifo)?$", var.notification_topic_arn))
    error_message = "notification_topic_arn must be null or an SNS topic ARN."
  }
}

variable "notification_topic_fifo" {
  description = "Create a FIFO topic (ordered, deduplicated; name ends in .fifo). Messages then need a group ID, which the handler sets."
  type        = bool
  default     = false
  nullable    = false
}

variable "notification_topic_content_based_deduplication" {
  description = "Content-based deduplication of the FIFO topic."
  type        = bool
  default     = false
  nullable    = false
}

variable "notification_topic_kms_key_arn" {
  description = "Customer managed KMS key of the topic (created: encrypts it; brought: the key the function may use). null: the AWS managed key alias/aws/sns."
  type        = string
  default     = null

  validation {
    condition     = var.notification_topic_kms_key_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.notification_topic_kms_key_arn))
    error_message = "notification_topic_kms_key_arn must be null or a KMS key ARN."
  }
}

################################################################################
# ETL processor: S3 bucket (created or brought), Glue table for Athena (glue.tf), readers (keys.tf)
################################################################################

variable "create_etl" {
  description = "Run the ETL processor (writes every change to the S3 bucket under etl_prefix)."
  type        = bool
  default     = true
  nullable    = false
}

variable "etl_prefix" {
  description = "Key prefix of the objects the ETL processor writes (ETL_PREFIX); its IAM permission covers only this prefix."
  type        = string
  default     = "changes/"
  nullable    = false

  validation {
    condition     = can(regex("^[a-zA-Z0-9!_.'()/-]+/$", var.etl_prefix)) && alltrue([for s in split("/", trimsuffix(var.etl_prefix, "/")) : !contains(["", ".", ".."], s)]) && length(var.etl_prefix) <= 512
    error_message = "etl_prefix must end with '/', must not start with '/', must have no empty, '.' or '..' path segments, may contain only letters, digits and ! _ . ' ( ) - / (no '*'), and be at most 512 characters."
  }
}

variable "create_etl_bucket" {
  description = "Create the ETL bucket (true) or use etl_bucket_arn (false). null: use etl_bucket_arn when given, create otherwise. true with etl_bucket_arn fails the plan."
  type        = bool
  default     = null
}

variable "etl_bucket_arn" {
  description = "ARN of an existing bucket for the ETL processor. Given, the module uses it and creates no ETL bucket."
  type        = string
  default     = null

  validation {
    condition     = var.etl_bucket_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.etl_bucket_arn))
    error_message = "etl_bucket_arn must be null or an S3 bucket ARN (arn:aws:s3:::<bucket>)."
  }
}

variable "etl_bucket_name" {
  description = "Name of the ETL bucket the module creates. null: <name>-etl-<account id>."
  type        = string
  default     = null

  validation {
    condition     = var.etl_bucket_name == null ? true : can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.etl_bucket_name))
    error_message = "etl_bucket_name must be a valid S3 bucket name (3 to 63 lowercase letters, digits, '.' and '-')."
  }
}

variable "etl_bucket_kms_key_arn" {
  description = "Customer managed KMS key of the ETL bucket (created: SSE-KMS with it; brought: the key the ETL function may use). null: SSE-S3."
  type        = string
  default     = null

  validation {
    condition     = var.etl_bucket_kms_key_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.etl_bucket_kms_key_arn))
    error_message = "etl_bucket_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "etl_bucket_expiration_days" {
  description = "Delete ETL objects (under etl_prefix) after this many days. null keeps them."
  type        = number
  default     = null

  validation {
    condition     = var.etl_bucket_expiration_days == null ? true : var.etl_bucket_expiration_days >= 1
    error_message = "etl_bucket_expiration_days must be null or at least 1."
  }
}

variable "etl_bucket_force_destroy" {
  description = "Allow destroying the created ETL bucket while it holds objects."
  type        = bool
  default     = false
  nullable    = false
}

variable "create_etl_glue_table" {
  description = "Create a Glue catalog table over the ETL objects of the source table, with partition projection on dt and hour (Athena queries without crawlers). Needs create_etl."
  type        = bool
  default     = false
  nullable    = false
}

variable "create_etl_glue_database" {
  description = "Create the Glue database etl_glue_database_name (true) or add the table to an existing one (false). null: true."
  type        = bool
  default     = null
}

variable "etl_glue_database_name" {
  description = "Glue database of the ETL table. null: <name>_etl with '-' replaced by '_' and lowercased (required when create_etl_glue_database = false)."
  type        = string
  default     = null

  validation {
    condition     = var.etl_glue_database_name == null ? true : can(regex("^[a-z0-9_]{1,255}$", var.etl_glue_database_name))
    error_message = "etl_glue_database_name must be null or 1 to 255 lowercase letters, digits or '_' (what Athena accepts)."
  }
}

variable "etl_glue_table_name" {
  description = "Name of the Glue table. null: changes."
  type        = string
  default     = null

  validation {
    condition     = var.etl_glue_table_name == null ? true : can(regex("^[a-z0-9_]{1,255}$", var.etl_glue_table_name))
    error_message = "etl_glue_table_name must be null or 1 to 255 lowercase letters, digits or '_' (what Athena accepts)."
  }
}

variable "etl_glue_projection_start_date" {
  description = "First day (YYYY-MM-DD, UTC) of the dt partition projection (the range runs to NOW). null: the day the Glue table is first planned (kept afterwards). Set it earlier when the ETL bucket already holds older objects."
  type        = string
  default     = null

  validation {
    condition     = var.etl_glue_projection_start_date == null ? true : can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", var.etl_glue_projection_start_date)) && can(formatdate("YYYY-MM-DD", "${var.etl_glue_projection_start_date}T00:00:00Z"))
    error_message = "etl_glue_projection_start_date must be null or a date YYYY-MM-DD, e.g. 2026-01-01."
  }
}

variable "etl_reader_athena_workgroup" {
  description = "Athena workgroup named in the etl_reader_policy_json output (the policy a reader of the ETL table needs)."
  type        = string
  default     = "primary"
  nullable    = false

  validation {
    condition     = can(regex("^[a-zA-Z0-9._-]{1,128}$", var.etl_reader_athena_workgroup))
    error_message = "etl_reader_athena_workgroup must be 1 to 128 letters, digits, '.', '_' or '-' (an Athena workgroup name)."
  }
}

################################################################################
# Eventbus processor: EventBridge bus (created or brought) and rules
################################################################################

variable "create_eventbus" {
  description = "Run the eventbus processor (publishes every change as an EventBridge event with PutEvents; EVENTBUS_*)."
  type        = bool
  default     = false
  nullable    = false
}

variable "create_eventbus_bus" {
  description = "Create a custom event bus <name>-events (true) or publish to eventbus_bus_arn (false; the account's default bus is allowed). null: use eventbus_bus_arn when given, create otherwise. true with eventbus_bus_arn fails the plan."
  type        = bool
  default     = null
}

variable "eventbus_bus_arn" {
  description = "ARN of an existing event bus, e.g. arn:aws:events:<region>:<account>:event-bus/default. Given, the module publishes to it and creates no bus; the function may call events:PutEvents on exactly this bus."
  type        = string
  default     = null

  validation {
    condition     = var.eventbus_bus_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9._/-]{1,256}$", var.eventbus_bus_arn))
    error_message = "eventbus_bus_arn must be null or an EventBridge event bus ARN (arn:aws:events:<region>:<account>:event-bus/<name>)."
  }
}

variable "eventbus_events" {
  description = "Event names published to the bus (EVENTBUS_EVENTS): a non-empty subset of INSERT, MODIFY, REMOVE."
  type        = list(string)
  default     = ["INSERT", "MODIFY", "REMOVE"]
  nullable    = false

  validation {
    condition     = length(var.eventbus_events) > 0 && length(setsubtract(var.eventbus_events, ["INSERT", "MODIFY", "REMOVE"])) == 0 && length(distinct(var.eventbus_events)) == length(var.eventbus_events)
    error_message = "eventbus_events must be a non-empty subset of INSERT, MODIFY, REMOVE, each listed once."
  }
}

variable "eventbus_redact" {
  description = "Attributes never published on the bus (EVENTBUS_REDACT; same semantics as notification_redact)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for a in var.eventbus_redact : length(a) > 0 && !strcontains(a, ",")]) && length(distinct(var.eventbus_redact)) == length(var.eventbus_redact)
    error_message = "eventbus_redact must be distinct, non-empty attribute names without commas."
  }
}

variable "eventbus_numbers" {
  description = "How numbers appear in events on the bus (EVENTBUS_NUMBERS). \"number\": exact JSON numbers, except whole numbers outside int64 (PutEvents rejects them as JSON integers), written {\"$number\": \"<exact digits>\"}. \"string\": every number as a JSON string of its exact digits (one JSON type per attribute)."
  type        = string
  default     = "number"
  nullable    = false

  validation {
    condition     = contains(["number", "string"], var.eventbus_numbers)
    error_message = "eventbus_numbers must be \"number\" or \"string\"."
  }
}

variable "eventbus_publish_concurrency" {
  description = "PutEvents calls one invocation keeps in flight at once (EVENTBUS_PUBLISH_CONCURRENCY, 1 to 50): the round trips overlap while the next entries are built, and the EventBridge client's connection pool is sized to match. null: the handler's default, 10 (botocore's connection pool); 1: one call at a time."
  type        = number
  default     = null

  validation {
    condition     = var.eventbus_publish_concurrency == null ? true : (var.eventbus_publish_concurrency >= 1 && var.eventbus_publish_concurrency <= 50 && floor(var.eventbus_publish_concurrency) == var.eventbus_publish_concurrency)
    error_message = "eventbus_publish_concurrency must be null or a whole number from 1 to 50."
  }
}

variable "eventbus_source" {
  description = "Source of the published events (EVENTBUS_SOURCE). null: the handler derives it from the table name."
  type        = string
  default     = null

  validation {
    condition     = var.eventbus_source == null ? true : (length(var.eventbus_source) >= 1 && length(var.eventbus_source) <= 256 && !startswith(var.eventbus_source, "aws.") && !strcontains(var.eventbus_source, ","))
    error_message = "eventbus_source must be null or 1 to 256 characters, not starting with \"aws.\" (EventBridge reserves it for AWS services)."
  }
}

variable "eventbus_rules" {
  description = "Rules on the bus the processor publishes to, rule key => { event_pattern (JSON), description, targets = { target key => { arn, role_arn (for targets that need a role, e.g. Kinesis or another bus) } } }. Rule names: <name>-<rule key>. A target's own resource policy (e.g. an SQS queue policy allowing events.amazonaws.com with aws:SourceArn = the rule's ARN, see eventbus_rule_arns) is the caller's."
  type = map(object({
    event_pattern = string
    description   = optional(string)
    targets = optional(map(object({
      arn      = string
      role_arn = optional(string)
    })), {})
  }))
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for k, r in var.eventbus_rules : can(regex("^[a-zA-Z0-9_-]{1,30}$", k)) && alltrue([for t in keys(r.targets) : can(regex("^[a-zA-Z0-9_.-]{1,64}$", t))])])
    error_message = "eventbus_rules keys must be 1 to 30 letters, digits, '-' or '_' (the rule is named <name>-<key>, at most 64 characters), target keys 1 to 64 letters, digits, '-', '_' or '.' (they are the target IDs)."
  }

  validation {
    condition     = alltrue([for r in values(var.eventbus_rules) : can(keys(jsondecode(r.event_pattern))) && length(r.event_pattern) <= 4096 && length(r.targets) <= 5])
    error_message = "eventbus_rules: each event_pattern must be a JSON object (at most 4096 characters), e.g. {\"detail-type\":[\"DynamoDB MODIFY\"]}, and a rule has at most 5 targets."
  }

  validation {
    condition = alltrue(flatten([for r in values(var.eventbus_rules) : [for t in values(r.targets) : [
      can(regex("^arn:aws[a-zA-Z-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{0,12}:.+$", t.arn)),
      t.role_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:role/.+$", t.role_arn)),
    ]]]))
    error_message = "eventbus_rules: each target's arn must be an ARN, and role_arn an IAM role ARN."
  }
}

################################################################################
# View processor: materialized view table (created or brought)
################################################################################

variable "create_view" {
  description = "Run the view processor (maintains a projection of the table in the view table, idempotent and in order per item; VIEW_*)."
  type        = bool
  default     = false
  nullable    = false
}

variable "create_view_table" {
  description = "Create the view table <name>-view (true: hash key view_partition_key, range key view_sort_key, PAY_PER_REQUEST, encrypted, point-in-time recovery, TTL on _ddbt_expires) or use view_table_arn (false). null: use view_table_arn when given, create otherwise. true with view_table_arn fails the plan."
  type        = bool
  default     = null
}

variable "view_table_arn" {
  description = "ARN of an existing view table. Given, the module uses it and creates no view table. Its key schema must be view_partition_key (+ view_sort_key), and TTL should be on _ddbt_expires (tombstones of deleted items expire through it)."
  type        = string
  default     = null

  validation {
    condition     = var.view_table_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[a-zA-Z0-9_.-]{3,255}$", var.view_table_arn))
    error_message = "view_table_arn must be null or a DynamoDB table ARN (arn:aws:dynamodb:<region>:<account>:table/<name>)."
  }
}

variable "view_partition_key" {
  description = "Source item attribute that becomes the view item's partition key (VIEW_PARTITION_KEY; the view table's hash key has the same name). Required with create_view."
  type        = string
  default     = null

  validation {
    condition     = var.view_partition_key == null ? true : (length(var.view_partition_key) >= 1 && length(var.view_partition_key) <= 255 && !strcontains(var.view_partition_key, ","))
    error_message = "view_partition_key must be null or an attribute name of 1 to 255 characters without commas."
  }
}

variable "view_partition_key_type" {
  description = "Type of view_partition_key in the created view table: S, N or B."
  type        = string
  default     = "S"
  nullable    = false

  validation {
    condition     = contains(["S", "N", "B"], var.view_partition_key_type)
    error_message = "view_partition_key_type must be one of S, N, B."
  }
}

variable "view_sort_key" {
  description = "Source item attribute that becomes the view item's sort key (VIEW_SORT_KEY; the view table's range key has the same name). null: the view table has no sort key."
  type        = string
  default     = null

  validation {
    condition     = var.view_sort_key == null ? true : (length(var.view_sort_key) >= 1 && length(var.view_sort_key) <= 255 && !strcontains(var.view_sort_key, ","))
    error_message = "view_sort_key must be null or an attribute name of 1 to 255 characters without commas."
  }
}

variable "view_sort_key_type" {
  description = "Type of view_sort_key in the created view table: S, N or B."
  type        = string
  default     = "S"
  nullable    = false

  validation {
    condition     = contains(["S", "N", "B"], var.view_sort_key_type)
    error_message = "view_sort_key_type must be one of S, N, B."
  }
}

variable "view_attributes" {
  description = "Source attributes projected into the view item (VIEW_ATTRIBUTES). Empty: all attributes."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for a in var.view_attributes : length(a) > 0 && !strcontains(a, ",")]) && length(distinct(var.view_attributes)) == length(var.view_attributes)
    error_message = "view_attributes must be distinct, non-empty attribute names without commas."
  }
}

variable "view_version_attribute" {
  description = "Numeric source attribute that orders an item's versions (VIEW_VERSION_ATTRIBUTE). null: the change time of the stream record."
  type        = string
  default     = null

  validation {
    condition     = var.view_version_attribute == null ? true : (length(var.view_version_attribute) >= 1 && length(var.view_version_attribute) <= 255 && !strcontains(var.view_version_attribute, ","))
    error_message = "view_version_attribute must be null or an attribute name of 1 to 255 characters without commas."
  }
}

variable "view_write_concurrency" {
  description = "View items written at once by one invocation (VIEW_WRITE_CONCURRENCY, 1 to 50): a batch's changes are coalesced per view item (the newest change alone is written), and different items' conditional writes overlap their round trips; the DynamoDB client's connection pool is sized to match. 1: one write at a time."
  type        = number
  default     = 20
  nullable    = false

  validation {
    condition     = var.view_write_concurrency >= 1 && var.view_write_concurrency <= 50 && floor(var.view_write_concurrency) == var.view_write_concurrency
    error_message = "view_write_concurrency must be a whole number from 1 to 50."
  }
}

variable "view_table_kms_key_arn" {
  description = "Customer managed KMS key of the view table (created: encrypts it; brought: the key the function may use). null: the AWS managed key."
  type        = string
  default     = null

  validation {
    condition     = var.view_table_kms_key_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.view_table_kms_key_arn))
    error_message = "view_table_kms_key_arn must be null or a KMS key ARN."
  }
}

################################################################################
# Replicate processor: the caller's replica table (another region allowed)
################################################################################

variable "create_replicate" {
  description = "Run the replicate processor (copies every change into replica_table_arn, last writer wins by version; REPLICA_*, REPLICATE_*)."
  type        = bool
  default     = false
  nullable    = false
}

variable "replica_table_arn" {
  description = "ARN of the replica table (required with create_replicate; another region is allowed: the handler uses the ARN's region). The caller creates it with the source table's key schema and TTL on _ddbt_expires (tombstones of deleted items expire through it)."
  type        = string
  default     = null

  validation {
    condition     = var.replica_table_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[a-zA-Z0-9_.-]{3,255}$", var.replica_table_arn))
    error_message = "replica_table_arn must be null or a DynamoDB table ARN (arn:aws:dynamodb:<region>:<account>:table/<name>)."
  }
}

variable "replicate_version_attribute" {
  description = "Numeric source attribute that orders an item's versions (REPLICATE_VERSION_ATTRIBUTE). null: the change time of the stream record."
  type        = string
  default     = null

  validation {
    condition     = var.replicate_version_attribute == null ? true : (length(var.replicate_version_attribute) >= 1 && length(var.replicate_version_attribute) <= 255 && !strcontains(var.replicate_version_attribute, ","))
    error_message = "replicate_version_attribute must be null or an attribute name of 1 to 255 characters without commas."
  }
}

variable "replicate_write_concurrency" {
  description = "Replica items written at once by one invocation (REPLICATE_WRITE_CONCURRENCY, 1 to 50): a batch's changes are coalesced per item (the newest change alone is written), and different items' conditional writes overlap their round trips (tens of milliseconds across regions); the DynamoDB client's connection pool is sized to match. 1: one write at a time."
  type        = number
  default     = 20
  nullable    = false

  validation {
    condition     = var.replicate_write_concurrency >= 1 && var.replicate_write_concurrency <= 50 && floor(var.replicate_write_concurrency) == var.replicate_write_concurrency
    error_message = "replicate_write_concurrency must be a whole number from 1 to 50."
  }
}

variable "replica_table_kms_key_arn" {
  description = "Customer managed KMS key of the replica table, if it has one (the function gets kms:Decrypt on it, like the module's other DynamoDB keys). null: none."
  type        = string
  default     = null

  validation {
    condition     = var.replica_table_kms_key_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.replica_table_kms_key_arn))
    error_message = "replica_table_kms_key_arn must be null or a KMS key ARN."
  }
}

################################################################################
# On-failure destination (failure.tf): SQS dead-letter queues or an S3 bucket
################################################################################

variable "on_failure_destination" {
  description = "Where a mapping sends batches it gives up on: sqs (a dead-letter queue per mapping; the message describes the shard and sequence range, not the records), s3 (a bucket; AWS stores the records themselves) or none."
  type        = string
  default     = "sqs"
  nullable    = false

  validation {
    condition     = contains(["sqs", "s3", "none"], var.on_failure_destination)
    error_message = "on_failure_destination must be sqs, s3 or none."
  }
}

variable "dlq_message_retention_seconds" {
  description = "How long the dead-letter queues keep messages (60 to 1209600 seconds; default 14 days, the maximum)."
  type        = number
  default     = 1209600
  nullable    = false

  validation {
    condition     = var.dlq_message_retention_seconds >= 60 && var.dlq_message_retention_seconds <= 1209600
    error_message = "dlq_message_retention_seconds must be from 60 to 1209600 (14 days)."
  }
}

variable "dlq_kms_key_arn" {
  description = "Customer managed KMS key of the dead-letter queues. null: SQS managed server-side encryption."
  type        = string
  default     = null

  validation {
    condition     = var.dlq_kms_key_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.dlq_kms_key_arn))
    error_message = "dlq_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "create_failure_bucket" {
  description = "With on_failure_destination = s3: create the failure bucket (true) or use failure_bucket_arn (false). null: use failure_bucket_arn when given, create otherwise. true with failure_bucket_arn fails the plan."
  type        = bool
  default     = null
}

variable "failure_bucket_arn" {
  description = "ARN of an existing bucket for failed batches (on_failure_destination = s3). Given, the module uses it and creates no failure bucket."
  type        = string
  default     = null

  validation {
    condition     = var.failure_bucket_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.failure_bucket_arn))
    error_message = "failure_bucket_arn must be null or an S3 bucket ARN (arn:aws:s3:::<bucket>)."
  }
}

variable "failure_bucket_name" {
  description = "Name of the failure bucket the module creates. null: <name>-failures-<account id>."
  type        = string
  default     = null

  validation {
    condition     = var.failure_bucket_name == null ? true : can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.failure_bucket_name))
    error_message = "failure_bucket_name must be a valid S3 bucket name (3 to 63 lowercase letters, digits, '.' and '-')."
  }
}

variable "failure_bucket_kms_key_arn" {
  description = "Customer managed KMS key of the failure bucket (created: SSE-KMS with it; brought: the key the functions may use). null: SSE-S3."
  type        = string
  default     = null

  validation {
    condition     = var.failure_bucket_kms_key_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.failure_bucket_kms_key_arn))
    error_message = "failure_bucket_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "failure_bucket_expiration_days" {
  description = "Delete failed-batch objects after this many days. null keeps them."
  type        = number
  default     = null

  validation {
    condition     = var.failure_bucket_expiration_days == null ? true : var.failure_bucket_expiration_days >= 1
    error_message = "failure_bucket_expiration_days must be null or at least 1."
  }
}

variable "failure_bucket_force_destroy" {
  description = "Allow destroying the created failure bucket while it holds objects."
  type        = bool
  default     = false
  nullable    = false
}

################################################################################
# DLQ archiver (archiver.tf)
################################################################################

variable "create_dlq_archiver" {
  description = "Create a function subscribed to every dead-letter queue that reads the records each failure message describes back from the stream within seconds and archives them to S3 (gzip JSON Lines, re-run with `ddbt redrive --from-s3`), so the 24-hour stream retention loses no failed record. Needs on_failure_destination = \"sqs\"."
  type        = bool
  default     = false
  nullable    = false
}

variable "dlq_archiver_bucket_arn" {
  description = "ARN of an existing bucket for the archives. null: the module creates one (encrypted, public access blocked, TLS only, versioned)."
  type        = string
  default     = null

  validation {
    condition     = var.dlq_archiver_bucket_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.dlq_archiver_bucket_arn))
    error_message = "dlq_archiver_bucket_arn must be null (the module creates the bucket) or an S3 bucket ARN (arn:aws:s3:::<bucket>)."
  }
}

variable "dlq_archiver_bucket_name" {
  description = "Name of the archive bucket the module creates. null: <name>-dlq-archive-<account id>."
  type        = string
  default     = null
}

variable "dlq_archiver_bucket_kms_key_arn" {
  description = "Customer managed KMS key of the archive bucket (created: SSE-KMS with it; brought: the key the archiver may use). null: SSE-S3."
  type        = string
  default     = null

  validation {
    condition     = var.dlq_archiver_bucket_kms_key_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.dlq_archiver_bucket_kms_key_arn))
    error_message = "dlq_archiver_bucket_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "dlq_archiver_prefix" {
  description = "Key prefix of the archives: <prefix><function name>/<shardId>/<start>-<end>.jsonl.gz. The archiver may write only under it."
  type        = string
  default     = "dlq-archive/"
  nullable    = false

  validation {
    condition     = can(regex("^([A-Za-z0-9!_.*'()-]+/)+$", var.dlq_archiver_prefix)) && !strcontains(var.dlq_archiver_prefix, "..")
    error_message = "dlq_archiver_prefix must be a key prefix such as \"dlq-archive/\": path segments of letters, digits and !_.*'()- each ending with '/', no '..'."
  }
}

variable "dlq_archiver_expiration_days" {
  description = "Delete archives in the created bucket after this many days. null keeps them."
  type        = number
  default     = 90

  validation {
    condition     = var.dlq_archiver_expiration_days == null ? true : var.dlq_archiver_expiration_days >= 1
    error_message = "dlq_archiver_expiration_days must be null (keep archives) or at least 1."
  }
}

variable "dlq_archiver_bucket_force_destroy" {
  description = "Allow destroying the created archive bucket while it holds objects."
  type        = bool
  default     = false
  nullable    = false
}

variable "dlq_archiver_timeout" {
  description = "Timeout of the archiver function in seconds (10 to 900). The dead-letter queues' visibility timeout becomes six times it."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.dlq_archiver_timeout >= 10 && var.dlq_archiver_timeout <= 900
    error_message = "dlq_archiver_timeout must be from 10 to 900 seconds (six times it, the DLQs' visibility timeout, stays within SQS's 12 hours)."
  }
}

variable "dlq_archiver_memory_size" {
  description = "Memory of the archiver function in MB (a failed batch is up to 6 MB of records, held and compressed in memory)."
  type        = number
  default     = 256
  nullable    = false
}

################################################################################
# Alarms and dashboard (alarms.tf, dashboard.tf)
################################################################################

variable "create_alarms" {
  description = "Create CloudWatch alarms: per function IteratorAge, Errors, Throttles, DestinationDeliveryFailures and a stall alarm; per mapping (event_source_mapping_metrics_enabled) dropped and failed-invoke events; per dead-letter queue its depth; the handlers' failed records (docs/reliability.md lists what each catches)."
  type        = bool
  default     = true
  nullable    = false
}

variable "alarm_actions" {
  description = "ARNs notified when an alarm fires (e.g. an SNS topic)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for a in var.alarm_actions : startswith(a, "arn:")])
    error_message = "alarm_actions must be ARNs."
  }
}

variable "ok_actions" {
  description = "ARNs notified when an alarm returns to OK."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for a in var.ok_actions : startswith(a, "arn:")])
    error_message = "ok_actions must be ARNs."
  }
}

variable "alarm_period" {
  description = "Period of the alarms in seconds (a multiple of 60)."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.alarm_period >= 60 && var.alarm_period % 60 == 0
    error_message = "alarm_period must be a multiple of 60 seconds."
  }
}

variable "alarm_evaluation_periods" {
  description = "Consecutive breaching periods before an alarm fires."
  type        = number
  default     = 3
  nullable    = false

  validation {
    condition     = var.alarm_evaluation_periods >= 1 && floor(var.alarm_evaluation_periods) == var.alarm_evaluation_periods
    error_message = "alarm_evaluation_periods must be a whole number, 1 or more."
  }
}

variable "alarm_iterator_age_threshold_ms" {
  description = "IteratorAge (milliseconds between a record's write and its processing) above which the alarm fires."
  type        = number
  default     = 60000
  nullable    = false

  validation {
    condition     = var.alarm_iterator_age_threshold_ms > 0 && var.alarm_iterator_age_threshold_ms <= 86400000
    error_message = "alarm_iterator_age_threshold_ms must be above 0 and at most 86400000 (24 hours, the stream retention)."
  }
}

variable "alarm_errors_threshold" {
  description = "Function errors per period above which the Errors alarm fires."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = var.alarm_errors_threshold >= 0
    error_message = "alarm_errors_threshold must be 0 or more."
  }
}

variable "alarm_throttles_threshold" {
  description = "Throttles per period above which the Throttles alarm fires."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = var.alarm_throttles_threshold >= 0
    error_message = "alarm_throttles_threshold must be 0 or more."
  }
}

variable "alarm_records_failed_threshold" {
  description = "Records reported failed per period (the handlers' RecordsFailed metric, per function and processor) above which the records-failed alarm fires."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = var.alarm_records_failed_threshold >= 0
    error_message = "alarm_records_failed_threshold must be 0 or more."
  }
}

variable "alarm_stall_evaluation_periods" {
  description = "Periods (alarm_period each) the stall alarm looks at: it fires when all but one of them show the mapping reading nothing (no PolledEventCount, or none while the table takes writes). The newest period is left out because its metrics may not have arrived yet. Without the mapping's metrics the window is stretched to cover the batching window."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.alarm_stall_evaluation_periods >= 2 && var.alarm_stall_evaluation_periods <= 60 && floor(var.alarm_stall_evaluation_periods) == var.alarm_stall_evaluation_periods
    error_message = "alarm_stall_evaluation_periods must be a whole number from 2 to 60 (one period is allowed to miss its metrics)."
  }
}

variable "alarm_failed_invoke_events_threshold" {
  description = "Events per period the mapping could not invoke the function with (FailedInvokeEventCount: invocation errors, missing permissions, a deleted function or alias, and records of partial batch failures) above which the failed-invoke alarm fires (event_source_mapping_metrics_enabled)."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = var.alarm_failed_invoke_events_threshold >= 0
    error_message = "alarm_failed_invoke_events_threshold must be 0 or more."
  }
}

variable "create_dashboard" {
  description = "Create a CloudWatch dashboard of the functions, mappings, dead-letter queues and the handlers' metrics."
  type        = bool
  default     = true
  nullable    = false
}

################################################################################
# Deprecated names (removed in the next minor release; CHANGELOG.md has the migration)
#
# Each keeps working as the input that replaces it. Setting both fails the plan
# (check_renamed_inputs); using the old name warns (check "deprecated_inputs").
################################################################################

variable "eventbus_create_bus" {
  description = "Deprecated: use create_eventbus_bus (same meaning). Kept for this release; null: not used."
  type        = bool
  default     = null
}

variable "view_create_table" {
  description = "Deprecated: use create_view_table (same meaning). Kept for this release; null: not used."
  type        = bool
  default     = null
}

variable "etl_glue_create_database" {
  description = "Deprecated: use create_etl_glue_database (same meaning). Kept for this release; null: not used."
  type        = bool
  default     = null
}
