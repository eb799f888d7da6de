# The Kairos buckets: landing (raw JSON Lines), lake (Delta tables), artifacts (MLflow models,
# Airflow DAGs). All private, versioned, encrypted with one customer-managed KMS key, TLS only.

data "aws_caller_identity" "current" {}

resource "aws_kms_key" "data" {
  description             = "${var.name}: Kairos data at rest (S3, ElastiCache, RDS, logs)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags
}

data "aws_iam_policy_document" "kms" {
  # A key policy's resource "*" means this key; the account root delegates to IAM policies.
  #checkov:skip=CKV_AWS_111:Key policy: "*" is the key itself; access is granted through IAM.
  #checkov:skip=CKV_AWS_356:Key policy: "*" is the key itself, the only resource it can name.
  #checkov:skip=CKV_AWS_109:Key policy: the account root must administer its own key.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
  statement {
    sid       = "CloudWatchLogsEncrypt"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.amazonaws.com"]
    }
  }
}

resource "aws_kms_alias" "data" {
  name          = "alias/${var.name}-data"
  target_key_id = aws_kms_key.data.key_id
}

module "bucket" {
  source   = "./bucket"
  for_each = { landing = var.landing_expiry_days, lake = null, artifacts = null }

  name              = "${var.name}-${each.key}"
  role              = each.key
  expire_after_days = each.value
  kms_key_arn       = aws_kms_key.data.arn
  access_log_bucket = var.access_log_bucket
  tags              = var.tags
}

