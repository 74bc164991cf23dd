# Every action of every execution role is one the handlers or the event source mapping use.
# The allow-list per statement (Sid) is kept in step with the handlers' real AWS calls by
# tests/security/test_iam.py, which records them against moto. Run by that test (in
# `make py-test`), not by `make tf-unit` (terraform test of the files directly under tests/).

mock_provider "aws" {
  override_during = plan
  source          = "./tests/mocks/plan"
}

variables {
  name                           = "test"
  function_layout                = "separate"
  allow_excess_stream_readers    = true
  on_failure_destination         = "s3"
  table_kms_key_arn              = "arn:aws:kms:us-east-1:123456789012:key/11111111-1111-1111-1111-111111111111"
  checkpoint_table_kms_key_arn   = "arn:aws:kms:us-east-1:123456789012:key/22222222-2222-2222-2222-222222222222"
  analytics_table_kms_key_arn    = "arn:aws:kms:us-east-1:123456789012:key/33333333-3333-3333-3333-333333333333"
  etl_bucket_kms_key_arn         = "arn:aws:kms:us-east-1:123456789012:key/44444444-4444-4444-4444-444444444444"
  notification_topic_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/55555555-5555-5555-5555-555555555555"
  failure_bucket_kms_key_arn     = "arn:aws:kms:us-east-1:123456789012:key/77777777-7777-7777-7777-777777777777"
  create_eventbus                = true
  create_view                    = true
  view_partition_key             = "pk"
  view_version_attribute         = "rev"
  view_table_kms_key_arn         = "arn:aws:kms:us-east-1:123456789012:key/88888888-8888-8888-8888-888888888888"
  create_replicate               = true
  replica_table_arn              = "arn:aws:dynamodb:us-west-2:123456789012:table/test-replica"
  replicate_version_attribute    = "rev"
  replica_table_kms_key_arn      = "arn:aws:kms:us-west-2:123456789012:key/99999999-9999-9999-9999-999999999999"
  create_cache                   = true
  cache_endpoint                 = "cache.example.com:6379"
  cache_auth_secret_arn          = "arn:aws:secretsmanager:us-east-1:123456789012:secret:cache-auth-AbCdEf"
  cache_auth_secret_kms_key_arn  = "arn:aws:kms:us-east-1:123456789012:key/aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"
  cache_subnet_ids               = ["subnet-0a1b2c3d4e5f60718"]
}

run "only_used_permissions" {
  command = plan

  variables {
    # used_actions (one line per Sid; tests/security/test_iam.py parses these lines)
    used_actions = {
      WriteOwnLogs                 = ["logs:CreateLogStream", "logs:PutLogEvents"]
      ReadTableStream              = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
      ListStreams                  = ["dynamodb:ListStreams"]
      Checkpoints                  = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
      WriteAggregates              = ["dynamodb:UpdateItem"]
      PublishNotifications         = ["sns:Publish"]
      WriteEtlObjects              = ["s3:PutObject"]
      PublishEvents                = ["events:PutEvents"]
      WriteView                    = ["dynamodb:PutItem", "dynamodb:GetItem"]
      WriteReplica                 = ["dynamodb:PutItem", "dynamodb:GetItem"]
      ReadCacheAuthSecret          = ["secretsmanager:GetSecretValue"]
      CreateCacheNetworkInterfaces = ["ec2:CreateNetworkInterface"]
      ManageCacheNetworkInterfaces = ["ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]
      DescribeCacheNetwork         = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]
      SendToOwnDeadLetterQueue     = ["sqs:SendMessage"]
      WriteFailedBatches           = ["s3:PutObject"]
      ListFailureBucket            = ["s3:ListBucket"]
      DecryptSourceTableStream     = ["kms:Decrypt"]
      UseCheckpointTableKey        = ["kms:Decrypt"]
      UseAggregatesTableKey        = ["kms:Decrypt"]
      UseEtlBucketKey              = ["kms:GenerateDataKey"]
      UseNotificationTopicKey      = ["kms:GenerateDataKey", "kms:Decrypt"]
      UseViewTableKey              = ["kms:Decrypt"]
      UseReplicaTableKey           = ["kms:Decrypt"]
      UseCacheAuthSecretKey        = ["kms:Decrypt"]
      UseDeadLetterQueueKey        = ["kms:GenerateDataKey", "kms:Decrypt"]
      UseFailureBucketKey          = ["kms:GenerateDataKey"]
    }
  }

  assert {
    condition = alltrue(flatten([for k, p in aws_iam_role_policy.this : [
      for s in jsondecode(p.policy).Statement : contains(keys(var.used_actions), s.Sid) && length(setsubtract(flatten([s.Action]), var.used_actions[s.Sid])) == 0
    ]]))
    error_message = "Unused permissions: ${jsonencode({ for k, p in aws_iam_role_policy.this : k => { for s in jsondecode(p.policy).Statement : s.Sid => setsubtract(flatten([s.Action]), lookup(var.used_actions, s.Sid, [])) if length(setsubtract(flatten([s.Action]), lookup(var.used_actions, s.Sid, []))) > 0 } })}"
  }
}
