# Realistic values for the mocked AWS provider (tests/*.tftest.hcl, all with name = "test").
# Computed attributes are known at plan time (override_during = plan in the test files), so the
# tests can assert the exact ARNs that end up in policies, environments and mappings.

mock_data "aws_caller_identity" {
  defaults = {
    account_id = "123456789012"
    arn        = "arn:aws:iam::123456789012:user/terraform-test"
    user_id    = "AIDAEXAMPLEUSERID0001"
    id         = "123456789012"
  }
}

mock_data "aws_region" {
  defaults = {
    id          = "us-east-1"
    name        = "us-east-1"
    description = "US East (N. Virginia)"
    endpoint    = "ec2.us-east-1.amazonaws.com"
  }
}

mock_resource "aws_dynamodb_table" {
  defaults = {
    arn          = "arn:aws:dynamodb:us-east-1:123456789012:table/test"
    stream_arn   = "arn:aws:dynamodb:us-east-1:123456789012:table/test/stream/2024-01-01T00:00:00.000"
    stream_label = "2024-01-01T00:00:00.000"
  }
}

mock_resource "aws_lambda_function" {
  defaults = {
    arn           = "arn:aws:lambda:us-east-1:123456789012:function:test-mock"
    qualified_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-mock:1"
    invoke_arn    = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:test-mock/invocations"
    version       = "1"
  }
}

mock_resource "aws_lambda_alias" {
  defaults = {
    arn = "arn:aws:lambda:us-east-1:123456789012:function:test-mock:live"
  }
}

mock_resource "aws_lambda_event_source_mapping" {
  defaults = {
    uuid = "6f1c1b7e-1111-4222-8333-944455556666"
    arn  = "arn:aws:lambda:us-east-1:123456789012:event-source-mapping:6f1c1b7e-1111-4222-8333-944455556666"
  }
}

mock_resource "aws_iam_role" {
  defaults = {
    arn       = "arn:aws:iam::123456789012:role/test-mock"
    unique_id = "AROAEXAMPLEROLEID0001"
  }
}

mock_resource "aws_sns_topic" {
  defaults = {
    arn = "arn:aws:sns:us-east-1:123456789012:test-notifications"
  }
}

mock_resource "aws_cloudwatch_dashboard" {
  defaults = {
    dashboard_arn = "arn:aws:cloudwatch::123456789012:dashboard/test-stream-processing"
  }
}

mock_resource "aws_cloudwatch_metric_alarm" {
  defaults = {
    arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:test-mock"
  }
}

override_resource {
  target          = aws_dynamodb_table.this[0]
  override_during = plan
  values = {
    arn          = "arn:aws:dynamodb:us-east-1:123456789012:table/test"
    stream_arn   = "arn:aws:dynamodb:us-east-1:123456789012:table/test/stream/2024-01-01T00:00:00.000"
    stream_label = "2024-01-01T00:00:00.000"
  }
}

override_resource {
  target          = aws_dynamodb_table.checkpoint[0]
  override_during = plan
  values = {
    arn          = "arn:aws:dynamodb:us-east-1:123456789012:table/test-checkpoints"
    stream_arn   = "arn:aws:dynamodb:us-east-1:123456789012:table/test-checkpoints/stream/2024-01-01T00:00:00.000"
    stream_label = "2024-01-01T00:00:00.000"
  }
}

override_resource {
  target          = aws_dynamodb_table.aggregates[0]
  override_during = plan
  values = {
    arn          = "arn:aws:dynamodb:us-east-1:123456789012:table/test-aggregates"
    stream_arn   = "arn:aws:dynamodb:us-east-1:123456789012:table/test-aggregates/stream/2024-01-01T00:00:00.000"
    stream_label = "2024-01-01T00:00:00.000"
  }
}

override_resource {
  target          = aws_cloudwatch_log_group.this["pipeline"]
  override_during = plan
  values = {
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/test-pipeline"
  }
}

override_resource {
  target          = aws_sqs_queue.dlq["pipeline"]
  override_during = plan
  values = {
    arn = "arn:aws:sqs:us-east-1:123456789012:test-pipeline-dlq"
    id  = "https://sqs.us-east-1.amazonaws.com/123456789012/test-pipeline-dlq"
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/test-pipeline-dlq"
  }
}

override_resource {
  target          = aws_lambda_function.this["pipeline"]
  override_during = plan
  values = {
    arn           = "arn:aws:lambda:us-east-1:123456789012:function:test-pipeline"
    qualified_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-pipeline:1"
    version       = "1"
  }
}

override_resource {
  target          = aws_lambda_alias.this["pipeline"]
  override_during = plan
  values = {
    arn = "arn:aws:lambda:us-east-1:123456789012:function:test-pipeline:live"
  }
}

override_resource {
  target          = aws_iam_role.this["pipeline"]
  override_during = plan
  values = {
    arn = "arn:aws:iam::123456789012:role/test-pipeline"
    id  = "test-pipeline"
  }
}

override_resource {
  target          = aws_cloudwatch_log_group.this["analytics"]
  override_during = plan
  values = {
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/test-analytics"
  }
}

override_resource {
  target          = aws_sqs_queue.dlq["analytics"]
  override_during = plan
  values = {
    arn = "arn:aws:sqs:us-east-1:123456789012:test-analytics-dlq"
    id  = "https://sqs.us-east-1.amazonaws.com/123456789012/test-analytics-dlq"
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/test-analytics-dlq"
  }
}

override_resource {
  target          = aws_lambda_function.this["analytics"]
  override_during = plan
  values = {
    arn           = "arn:aws:lambda:us-east-1:123456789012:function:test-analytics"
    qualified_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-analytics:1"
    version       = "1"
  }
}

override_resource {
  target          = aws_lambda_alias.this["analytics"]
  override_during = plan
  values = {
    arn = "arn:aws:lambda:us-east-1:123456789012:function:test-analytics:live"
  }
}

override_resource {
  target          = aws_iam_role.this["analytics"]
  override_during = plan
  values = {
    arn = "arn:aws:iam::123456789012:role/test-analytics"
    id  = "test-analytics"
  }
}

override_resource {
  target          = aws_cloudwatch_log_group.this["notification"]
  override_during = plan
  values = {
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/test-notification"
  }
}

override_resource {
  target          = aws_sqs_queue.dlq["notification"]
  override_during = plan
  values = {
    arn = "arn:aws:sqs:us-east-1:123456789012:test-notification-dlq"
    id  = "https://sqs.us-east-1.amazonaws.com/123456789012/test-notification-dlq"
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/test-notification-dlq"
  }
}

override_resource {
  target          = aws_lambda_function.this["notification"]
  override_during = plan
  values = {
    arn           = "arn:aws:lambda:us-east-1:123456789012:function:test-notification"
    qualified_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-notification:1"
    version       = "1"
  }
}

override_resource {
  target          = aws_lambda_alias.this["notification"]
  override_during = plan
  values = {
    arn = "arn:aws:lambda:us-east-1:123456789012:function:test-notification:live"
  }
}

override_resource {
  target          = aws_iam_role.this["notification"]
  override_during = plan
  values = {
    arn = "arn:aws:iam::123456789012:role/test-notification"
    id  = "test-notification"
  }
}

override_resource {
  target          = aws_cloudwatch_log_group.this["etl"]
  override_during = plan
  values = {
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/test-etl"
  }
}

override_resource {
  target          = aws_sqs_queue.dlq["etl"]
  override_during = plan
  values = {
    arn = "arn:aws:sqs:us-east-1:123456789012:test-etl-dlq"
    id  = "https://sqs.us-east-1.amazonaws.com/123456789012/test-etl-dlq"
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/test-etl-dlq"
  }
}

override_resource {
  target          = aws_lambda_function.this["etl"]
  override_during = plan
  values = {
    arn           = "arn:aws:lambda:us-east-1:123456789012:function:test-etl"
    qualified_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-etl:1"
    version       = "1"
  }
}

override_resource {
  target          = aws_lambda_alias.this["etl"]
  override_during = plan
  values = {
    arn = "arn:aws:lambda:us-east-1:123456789012:function:test-etl:live"
  }
}

override_resource {
  target          = aws_iam_role.this["etl"]
  override_during = plan
  values = {
    arn = "arn:aws:iam::123456789012:role/test-etl"
    id  = "test-etl"
  }
}

override_resource {
  target          = aws_s3_bucket.this["etl"]
  override_during = plan
  values = {
    arn = "arn:aws:s3:::test-etl-123456789012"
    id  = "test-etl-123456789012"
  }
}

override_resource {
  target          = aws_s3_bucket.this["failures"]
  override_during = plan
  values = {
    arn = "arn:aws:s3:::test-failures-123456789012"
    id  = "test-failures-123456789012"
  }
}

# issue 8: event bus, rules, view table, Glue catalog

mock_resource "aws_cloudwatch_event_bus" {
  defaults = {
    arn = "arn:aws:events:us-east-1:123456789012:event-bus/test-events"
  }
}

mock_resource "aws_cloudwatch_event_rule" {
  defaults = {
    arn = "arn:aws:events:us-east-1:123456789012:rule/test-events/test-mock"
  }
}

mock_resource "aws_glue_catalog_database" {
  defaults = {
    arn = "arn:aws:glue:us-east-1:123456789012:database/test_etl"
  }
}

mock_resource "aws_glue_catalog_table" {
  defaults = {
    arn = "arn:aws:glue:us-east-1:123456789012:table/test_etl/changes"
  }
}

override_resource {
  target          = aws_dynamodb_table.view[0]
  override_during = plan
  values = {
    arn          = "arn:aws:dynamodb:us-east-1:123456789012:table/test-view"
    stream_arn   = "arn:aws:dynamodb:us-east-1:123456789012:table/test-view/stream/2024-01-01T00:00:00.000"
    stream_label = "2024-01-01T00:00:00.000"
  }
}

override_resource {
  target          = aws_cloudwatch_log_group.this["eventbus"]
  override_during = plan
  values = {
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/test-eventbus"
  }
}

override_resource {
  target          = aws_sqs_queue.dlq["eventbus"]
  override_during = plan
  values = {
    arn = "arn:aws:sqs:us-east-1:123456789012:test-eventbus-dlq"
    id  = "https://sqs.us-east-1.amazonaws.com/123456789012/test-eventbus-dlq"
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/test-eventbus-dlq"
  }
}

override_resource {
  target          = aws_cloudwatch_log_group.this["view"]
  override_during = plan
  values = {
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/test-view"
  }
}

override_resource {
  target          = aws_sqs_queue.dlq["view"]
  override_during = plan
  values = {
    arn = "arn:aws:sqs:us-east-1:123456789012:test-view-dlq"
    id  = "https://sqs.us-east-1.amazonaws.com/123456789012/test-view-dlq"
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/test-view-dlq"
  }
}

override_resource {
  target          = aws_cloudwatch_log_group.this["replicate"]
  override_during = plan
  values = {
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/test-replicate"
  }
}

override_resource {
  target          = aws_sqs_queue.dlq["replicate"]
  override_during = plan
  values = {
    arn = "arn:aws:sqs:us-east-1:123456789012:test-replicate-dlq"
    id  = "https://sqs.us-east-1.amazonaws.com/123456789012/test-replicate-dlq"
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/test-replicate-dlq"
  }
}

override_resource {
  target          = aws_cloudwatch_log_group.this["realtime"]
  override_during = plan
  values = {
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/test-realtime"
  }
}

override_resource {
  target          = aws_sqs_queue.dlq["realtime"]
  override_during = plan
  values = {
    arn = "arn:aws:sqs:us-east-1:123456789012:test-realtime-dlq"
    id  = "https://sqs.us-east-1.amazonaws.com/123456789012/test-realtime-dlq"
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/test-realtime-dlq"
  }
}

override_resource {
  target          = aws_cloudwatch_log_group.this["bulk"]
  override_during = plan
  values = {
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/test-bulk"
  }
}

override_resource {
  target          = aws_sqs_queue.dlq["bulk"]
  override_during = plan
  values = {
    arn = "arn:aws:sqs:us-east-1:123456789012:test-bulk-dlq"
    id  = "https://sqs.us-east-1.amazonaws.com/123456789012/test-bulk-dlq"
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/test-bulk-dlq"
  }
}

mock_data "aws_subnet" {
  defaults = {
    vpc_id = "vpc-0a1b2c3d4e5f60718"
  }
}

mock_resource "aws_security_group" {
  defaults = {
    id  = "sg-0a1b2c3d4e5f60718"
    arn = "arn:aws:ec2:us-east-1:123456789012:security-group/sg-0a1b2c3d4e5f60718"
  }
}

mock_resource "aws_elasticache_serverless_cache" {
  defaults = {
    arn = "arn:aws:elasticache:us-east-1:123456789012:serverlesscache:test-cache"
    endpoint = [{
      address = "test-cache-abc123.serverless.use1.cache.amazonaws.com"
      port    = 6379
    }]
  }
}

# The cache processor's function (function_layout = "separate").
override_resource {
  target          = aws_cloudwatch_log_group.this["cache"]
  override_during = plan
  values = {
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/test-cache"
  }
}

override_resource {
  target          = aws_sqs_queue.dlq["cache"]
  override_during = plan
  values = {
    arn = "arn:aws:sqs:us-east-1:123456789012:test-cache-dlq"
    id  = "https://sqs.us-east-1.amazonaws.com/123456789012/test-cache-dlq"
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/test-cache-dlq"
  }
}

override_resource {
  target          = aws_lambda_function.this["cache"]
  override_during = plan
  values = {
    arn           = "arn:aws:lambda:us-east-1:123456789012:function:test-cache"
    qualified_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-cache:1"
    version       = "1"
  }
}

override_resource {
  target          = aws_lambda_alias.this["cache"]
  override_during = plan
  values = {
    arn = "arn:aws:lambda:us-east-1:123456789012:function:test-cache:live"
  }
}

override_resource {
  target          = aws_iam_role.this["cache"]
  override_during = plan
  values = {
    arn = "arn:aws:iam::123456789012:role/test-cache"
    id  = "test-cache"
  }
}
