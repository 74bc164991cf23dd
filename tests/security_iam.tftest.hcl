# Security (issue 6): the planned IAM policies of every function hold no wildcard action, and
# no "*" resource except where AWS offers no narrower one (dynamodb:ListStreams has no
# resource type). Encryption at rest and TLS-only access policies on every sink.
# The "no permission nobody uses" check is tests/security/tf/unused_permissions.tftest.hcl,
# run by tests/security/test_iam.py.

mock_provider "aws" {
  override_during = plan
  source          = "./tests/mocks/plan"
}

variables {
  name = "test"
}

run "pipeline_defaults" {
  command = plan

  assert {
    condition = alltrue(flatten([for k, p in aws_iam_role_policy.this : [
      for s in jsondecode(p.policy).Statement : [for a in flatten([s.Action]) : !strcontains(a, "*")]
    ]]))
    error_message = "An IAM action contains a wildcard."
  }
  assert {
    condition = alltrue(flatten([for k, p in aws_iam_role_policy.this : [
      for s in jsondecode(p.policy).Statement :
      !contains(flatten([s.Resource]), "*") || (s.Sid == "ListStreams" && flatten([s.Action]) == ["dynamodb:ListStreams"])
    ]]))
    error_message = "A statement grants Resource \"*\" for an action that supports resource-level permissions."
  }
  assert {
    condition = alltrue(flatten([for k, p in aws_iam_role_policy.this : [
      for s in jsondecode(p.policy).Statement : s.Effect == "Allow" && !contains(keys(s), "NotAction") && !contains(keys(s), "NotResource")
    ]]))
    error_message = "Execution roles must only Allow listed actions on listed resources."
  }
  assert {
    condition     = alltrue([for t in aws_dynamodb_table.this : t.server_side_encryption[0].enabled]) && alltrue([for t in aws_dynamodb_table.checkpoint : t.server_side_encryption[0].enabled]) && alltrue([for t in aws_dynamodb_table.aggregates : t.server_side_encryption[0].enabled])
    error_message = "Every table must be encrypted at rest."
  }
  assert {
    condition     = alltrue([for q in aws_sqs_queue.dlq : q.sqs_managed_sse_enabled == true || q.kms_master_key_id != null])
    error_message = "Every dead-letter queue must be encrypted at rest."
  }
  assert {
    condition     = alltrue([for t in aws_sns_topic.this : t.kms_master_key_id != null && t.kms_master_key_id != ""])
    error_message = "The notification topic must be KMS-encrypted."
  }
  assert {
    condition     = length(aws_s3_bucket.this) == length(aws_s3_bucket_server_side_encryption_configuration.this) && alltrue([for c in aws_s3_bucket_server_side_encryption_configuration.this : contains(["AES256", "aws:kms"], one(one(c.rule).apply_server_side_encryption_by_default).sse_algorithm)])
    error_message = "Every bucket must have default encryption."
  }
  assert {
    condition     = length(aws_s3_bucket_policy.this) == length(aws_s3_bucket.this) && alltrue([for p in aws_s3_bucket_policy.this : anytrue([for s in jsondecode(p.policy).Statement : s.Effect == "Deny" && s.Condition.Bool["aws:SecureTransport"] == "false"])])
    error_message = "Every bucket must deny requests without TLS."
  }
  assert {
    condition     = length(aws_sqs_queue_policy.dlq) == length(aws_sqs_queue.dlq) && alltrue([for p in aws_sqs_queue_policy.dlq : anytrue([for s in jsondecode(p.policy).Statement : s.Effect == "Deny" && s.Condition.Bool["aws:SecureTransport"] == "false"])])
    error_message = "Every dead-letter queue must deny requests without TLS."
  }
}

run "separate_with_keys_and_s3_failures" {
  command = plan

  variables {
    function_layout                = "separate"
    allow_excess_stream_readers    = true
    failure_bucket_kms_key_arn     = "arn:aws:kms:us-east-1:123456789012:key/77777777-7777-7777-7777-777777777777"
    on_failure_destination         = "s3"
    table_kms_key_arn              = "arn:aws:kms:us-east-1:123456789012:key/11111111-1111-1111-1111-111111111111"
    checkpoint_table_kms_key_arn   = "arn:aws:kms:us-east-1:123456789012:key/22222222-2222-2222-2222-222222222222"
    analytics_table_kms_key_arn    = "arn:aws:kms:us-east-1:123456789012:key/33333333-3333-3333-3333-333333333333"
    etl_bucket_kms_key_arn         = "arn:aws:kms:us-east-1:123456789012:key/44444444-4444-4444-4444-444444444444"
    notification_topic_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/55555555-5555-5555-5555-555555555555"
    log_kms_key_arn                = "arn:aws:kms:us-east-1:123456789012:key/66666666-6666-6666-6666-666666666666"
  }

  assert {
    condition = alltrue(flatten([for k, p in aws_iam_role_policy.this : [
      for s in jsondecode(p.policy).Statement : [for a in flatten([s.Action]) : !strcontains(a, "*")]
    ]]))
    error_message = "An IAM action contains a wildcard."
  }
  assert {
    condition = alltrue(flatten([for k, p in aws_iam_role_policy.this : [
      for s in jsondecode(p.policy).Statement :
      !contains(flatten([s.Resource]), "*") || (s.Sid == "ListStreams" && flatten([s.Action]) == ["dynamodb:ListStreams"])
    ]]))
    error_message = "A statement grants Resource \"*\" for an action that supports resource-level permissions."
  }
  assert {
    condition     = alltrue([for g in aws_cloudwatch_log_group.this : g.kms_key_id == "arn:aws:kms:us-east-1:123456789012:key/66666666-6666-6666-6666-666666666666"])
    error_message = "Log groups must use the given key."
  }
  assert {
    condition     = alltrue([for c in aws_s3_bucket_server_side_encryption_configuration.this : one(one(c.rule).apply_server_side_encryption_by_default).sse_algorithm == "aws:kms"]) || length(aws_s3_bucket.this) == 0
    error_message = "Buckets must use KMS when a key is given."
  }
}

# issue 8: with the eventbus, view and replicate processors, one function each (and version
# attributes, so every statement is at its widest), the same rules hold, and each new statement
# names exactly one resource: its own sink.
run "separate_with_bus_view_and_replica" {
  command = plan

  variables {
    function_layout             = "separate"
    allow_excess_stream_readers = true
    create_eventbus             = true
    create_view                 = true
    view_partition_key          = "pk"
    view_version_attribute      = "rev"
    create_replicate            = true
    replica_table_arn           = "arn:aws:dynamodb:us-west-2:123456789012:table/test-replica"
    replicate_version_attribute = "rev"
  }

  assert {
    condition = alltrue(flatten([for k, p in aws_iam_role_policy.this : [
      for s in jsondecode(p.policy).Statement : [for a in flatten([s.Action]) : !strcontains(a, "*")]
    ]]))
    error_message = "An IAM action contains a wildcard."
  }
  assert {
    condition = alltrue(flatten([for k, p in aws_iam_role_policy.this : [
      for s in jsondecode(p.policy).Statement :
      (!contains(flatten([s.Resource]), "*") || (s.Sid == "ListStreams" && flatten([s.Action]) == ["dynamodb:ListStreams"])) && s.Effect == "Allow"
    ]]))
    error_message = "Resource \"*\" only for dynamodb:ListStreams, and only Allow statements."
  }
  assert {
    condition = { for k, p in aws_iam_role_policy.this : k => [for s in jsondecode(p.policy).Statement : s.Resource if contains(["PublishEvents", "WriteView", "WriteReplica"], s.Sid)] } == {
      analytics    = []
      notification = []
      etl          = []
      eventbus     = [["arn:aws:events:us-east-1:123456789012:event-bus/test-events"]]
      view         = [["arn:aws:dynamodb:us-east-1:123456789012:table/test-view"]]
      replicate    = [["arn:aws:dynamodb:us-west-2:123456789012:table/test-replica"]]
    }
    error_message = "Only the function of a processor may write its sink, and only that sink."
  }
  assert {
    condition     = alltrue([for t in aws_dynamodb_table.view : t.server_side_encryption[0].enabled])
    error_message = "The view table must be encrypted at rest."
  }
}
