################################################################################
# Buckets the module creates: the ETL sink (key "etl"), the on-failure destination
# (key "failures", on_failure_destination = "s3") and the DLQ archive (key "archive",
# create_dlq_archiver). Each: SSE (KMS or S3), public access blocked,
# owner-enforced objects, TLS-only policy, versioning, lifecycle.
################################################################################

locals {
  # The ETL bucket (sinks.tf), the failure bucket (failure.tf) and the DLQ archive (archiver.tf).
  managed_buckets = merge(local.etl_buckets, local.failure_buckets, local.archiver_buckets)
}

resource "aws_s3_bucket" "this" {
  for_each = local.managed_buckets

  #checkov:skip=CKV_AWS_18:Server access logging needs a separate log bucket owned by the caller; CloudTrail data events are the alternative.
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice of the caller, not of this module.
  #checkov:skip=CKV2_AWS_62:Event notifications are optional; callers add them to react to new objects.

  bucket        = each.value.name
  force_destroy = each.value.force_destroy

  tags = var.tags
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = aws_s3_bucket.this

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = local.managed_buckets[each.key].kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = local.managed_buckets[each.key].kms_key_arn
    }
    bucket_key_enabled = local.managed_buckets[each.key].kms_key_arn != null
  }
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  rule {
    id     = "abort-incomplete-uploads-and-old-versions"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }

    noncurrent_version_expiration {
      noncurrent_days = var.bucket_noncurrent_version_expiration_days
    }
  }

  dynamic "rule" {
    for_each = local.managed_buckets[each.key].expiration_days == null ? [] : [local.managed_buckets[each.key]]

    content {
      id     = "expire-objects"
      status = "Enabled"

      filter {
        prefix = rule.value.prefix
      }

      expiration {
        days = rule.value.expiration_days
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_policy" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [merge(local.deny_insecure_transport, {
      Action   = "s3:*"
      Resource = [each.value.arn, "${each.value.arn}/*"]
    })]
  })

  depends_on = [aws_s3_bucket_public_access_block.this]
}
