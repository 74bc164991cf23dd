# The stack of the end-to-end run (tests/e2e/aws.py, `make e2e-aws`): examples/complete plus a
# recorder, a second reader of the stream whose function keeps every event it gets in a queue
# (tumbling window, no retries, an SQS on-failure destination). The runner copies this file
# into build/e2e-aws/<prefix>/, so every name is ex-<prefix>-...; it is not applied from here.

terraform {
  required_version = ">= 1.5.7"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80"
    }
  }
}

variable "region" {
  description = "Region of the stack."
  type        = string
}

variable "replica_region" {
  description = "Region of the replica table."
  type        = string
}

variable "recorder_zip" {
  description = "Path of the recorder function's zip (written by the runner)."
  type        = string
}

provider "aws" {
  region = var.region
}

locals {
  name = "ex-${basename(path.cwd)}"
}

module "complete" {
  source = "../../../examples/complete"

  region         = var.region
  replica_region = var.replica_region
}

# Notifications captured through an SQS subscription to the topic.
resource "aws_sqs_queue" "notifications" {
  name = "${local.name}-e2e-notifications"
}

data "aws_iam_policy_document" "notifications" {
  statement {
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.notifications.arn]

    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [module.complete.notification_topic_arn]
    }
  }
}

resource "aws_sqs_queue_policy" "notifications" {
  queue_url = aws_sqs_queue.notifications.id
  policy    = data.aws_iam_policy_document.notifications.json
}

resource "aws_sns_topic_subscription" "notifications" {
  topic_arn = module.complete.notification_topic_arn
  protocol  = "sqs"
  endpoint  = aws_sqs_queue.notifications.arn

  depends_on = [aws_sqs_queue_policy.notifications]
}

# The recorder: every event it gets, as it gets it, goes to the events queue.
resource "aws_sqs_queue" "events" {
  name = "${local.name}-e2e-events"
}

resource "aws_sqs_queue" "failures" {
  name = "${local.name}-e2e-failures"
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "recorder" {
  name               = "${local.name}-e2e-recorder"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

data "aws_iam_policy_document" "recorder" {
  statement {
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]
    resources = [module.complete.table_stream_arn]
  }

  statement {
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events.arn, aws_sqs_queue.failures.arn]
  }

  statement {
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "recorder" {
  name   = "recorder"
  role   = aws_iam_role.recorder.id
  policy = data.aws_iam_policy_document.recorder.json
}

resource "aws_lambda_function" "recorder" {
  function_name    = "${local.name}-e2e-recorder"
  role             = aws_iam_role.recorder.arn
  handler          = "recorder.handler"
  runtime          = "python3.12"
  timeout          = 30
  filename         = var.recorder_zip
  source_code_hash = filebase64sha256(var.recorder_zip)

  environment {
    variables = {
      EVENTS_QUEUE_URL = aws_sqs_queue.events.url
    }
  }
}

resource "aws_lambda_event_source_mapping" "recorder" {
  event_source_arn                   = module.complete.table_stream_arn
  function_name                      = aws_lambda_function.recorder.arn
  starting_position                  = "TRIM_HORIZON"
  batch_size                         = 10
  maximum_batching_window_in_seconds = 1
  maximum_retry_attempts             = 0
  tumbling_window_in_seconds         = 30
  function_response_types            = ["ReportBatchItemFailures"]

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.failures.arn
    }
  }

  depends_on = [aws_iam_role_policy.recorder]
}

output "complete" {
  description = "examples/complete's outputs."
  value       = module.complete
}

output "notifications_queue_url" {
  description = "Queue subscribed to the notification topic."
  value       = aws_sqs_queue.notifications.url
}

output "events_queue_url" {
  description = "Events the recorder got."
  value       = aws_sqs_queue.events.url
}

output "failures_queue_url" {
  description = "The recorder mapping's on-failure destination."
  value       = aws_sqs_queue.failures.url
}

output "recorder_mapping_uuid" {
  description = "The recorder's event source mapping."
  value       = aws_lambda_event_source_mapping.recorder.uuid
}
