# Realistic values for the mocked AWS provider in runs that apply (the stream guard tests).
# Same defaults as ../plan, without per-instance override_during = plan values: Terraform 1.11
# cannot apply those ("inconsistent final plan"). Provider validation still runs, so every ARN
# attribute that feeds another resource needs a well-formed default.

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

mock_resource "aws_sqs_queue" {
  defaults = {
    arn = "arn:aws:sqs:us-east-1:123456789012:test-mock-dlq"
    id  = "https://sqs.us-east-1.amazonaws.com/123456789012/test-mock-dlq"
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/test-mock-dlq"
  }
}

mock_resource "aws_s3_bucket" {
  defaults = {
    arn = "arn:aws:s3:::test-mock-bucket"
    id  = "test-mock-bucket"
  }
}

mock_resource "aws_cloudwatch_log_group" {
  defaults = {
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/test-mock"
  }
}
