# ParallelizationFactor above 1 and what cannot hold there: analytics' tumbling windows, whose
# state AWS documents as one per shard without saying how it is kept when several batches of a
# shard run at once. The module refuses that combination per function, at plan.

mock_provider "aws" {
  override_during = plan
  source          = "./tests/mocks/plan"
}

variables {
  name = "test"
}

run "analytics_windows_refused_with_parallel_batches" {
  command = plan

  variables {
    tumbling_window_in_seconds = 60
    parallelization_factor     = 4
  }

  expect_failures = [aws_lambda_event_source_mapping.this]
}

run "analytics_windows_with_one_batch_per_shard" {
  command = plan

  variables {
    tumbling_window_in_seconds = 60
    parallelization_factor     = 4
    function_overrides         = { pipeline = { parallelization_factor = 1 } }
  }

  assert {
    condition     = aws_lambda_event_source_mapping.this["pipeline"].parallelization_factor == 1 && aws_lambda_event_source_mapping.this["pipeline"].tumbling_window_in_seconds == 60
    error_message = "The override gives the analytics function one batch per shard, with its window."
  }
}

run "parallel_batches_without_windows" {
  command = plan

  variables {
    parallelization_factor = 10
  }

  assert {
    condition     = aws_lambda_event_source_mapping.this["pipeline"].parallelization_factor == 10 && aws_lambda_event_source_mapping.this["pipeline"].tumbling_window_in_seconds == null
    error_message = "Without tumbling windows every processor runs at any factor."
  }
}

run "windows_of_other_functions_run_in_parallel" {
  command = plan

  variables {
    function_layout            = "separate"
    create_notification        = false
    tumbling_window_in_seconds = 60
    parallelization_factor     = 4
    function_overrides         = { analytics = { parallelization_factor = 1 } }
  }

  assert {
    condition = alltrue([
      aws_lambda_event_source_mapping.this["analytics"].parallelization_factor == 1,
      aws_lambda_event_source_mapping.this["etl"].parallelization_factor == 4,
    ])
    error_message = "Only the function running analytics needs one batch per shard."
  }
}

run "windows_without_analytics" {
  command = plan

  variables {
    create_analytics           = false
    tumbling_window_in_seconds = 60
    parallelization_factor     = 4
  }

  assert {
    condition     = aws_lambda_event_source_mapping.this["pipeline"].parallelization_factor == 4
    error_message = "No processor keeps window state without analytics."
  }
}
