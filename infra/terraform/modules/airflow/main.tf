# Airflow on MWAA: the DAGs and requirements come from the artifacts bucket (dags/), the web
# server is private, every log type goes to CloudWatch, and the execution role may touch
# only the Kairos buckets, key and secrets.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

resource "aws_security_group" "mwaa" {
  name        = "${var.name}-mwaa"
  description = "MWAA workers and web server: to each other, and out over HTTPS"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "self" {
  security_group_id            = aws_security_group.mwaa.id
  description                  = "MWAA components to each other"
  ip_protocol                  = "-1"
  referenced_security_group_id = aws_security_group.mwaa.id
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.mwaa.id
  description       = "HTTPS to AWS APIs, EKS, MLflow"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "self" {
  security_group_id            = aws_security_group.mwaa.id
  description                  = "MWAA components to each other (metadata DB, queue)"
  ip_protocol                  = "-1"
  referenced_security_group_id = aws_security_group.mwaa.id
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["airflow.amazonaws.com", "airflow-env.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-mwaa"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "PublishMetrics"
    actions   = ["airflow:PublishMetrics"]
    resources = ["arn:aws:airflow:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:environment/${var.name}"]
  }
  statement {
    sid       = "KairosBuckets"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = concat(values(var.bucket_arns), [for arn in values(var.bucket_arns) : "${arn}/*"])
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:CreateLogGroup", "logs:PutLogEvents", "logs:GetLogEvents", "logs:GetLogRecord", "logs:GetLogGroupFields", "logs:GetQueryResults", "logs:DescribeLogGroups"]
    resources = ["arn:aws:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:airflow-${var.name}-*"]
  }
  statement {
    sid       = "CeleryQueue"
    actions   = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:SendMessage"]
    resources = ["arn:aws:sqs:${data.aws_region.current.name}:*:airflow-celery-*"]
  }
  statement {
    sid       = "KairosKey"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:Encrypt"]
    resources = [var.kms_key_arn]
  }
  statement {
    sid       = "KairosSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = values(var.kairos_secret_environment)
  }
  statement {
    sid       = "SubmitToSparkCluster"
    actions   = ["eks:DescribeCluster"]
    resources = ["arn:aws:eks:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:cluster/${var.name}-spark"]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "kairos"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# MWAA has no per-environment variables: a startup script exports the Kairos settings.
resource "aws_s3_object" "startup" {
  bucket = var.dags_bucket
  key    = "dags/startup.sh"
  content = join("\n", concat(
    ["#!/bin/sh", "# Written by Terraform (infra/terraform/modules/airflow): the Kairos settings."],
    [for k, v in var.kairos_environment : "export ${k}='${v}'"],
    [for k, arn in var.kairos_secret_environment :
    "export ${k}=\"$(aws secretsmanager get-secret-value --secret-id '${arn}' --query SecretString --output text)\""],
  ))
  kms_key_id = var.kms_key_arn
}

resource "aws_mwaa_environment" "this" {
  name                             = var.name
  airflow_version                  = var.airflow_version
  environment_class                = var.environment_class
  execution_role_arn               = aws_iam_role.execution.arn
  source_bucket_arn                = var.dags_bucket_arn
  dag_s3_path                      = "dags/"
  requirements_s3_path             = "dags/requirements.txt"
  startup_script_s3_path           = aws_s3_object.startup.key
  startup_script_s3_object_version = aws_s3_object.startup.version_id
  kms_key                          = var.kms_key_arn
  webserver_access_mode            = "PRIVATE_ONLY"
  airflow_configuration_options    = var.airflow_configuration
  weekly_maintenance_window_start  = "SUN:03:30"

  network_configuration {
    security_group_ids = [aws_security_group.mwaa.id]
    subnet_ids         = var.subnet_ids
  }

  logging_configuration {
    dag_processing_logs {
      enabled   = true
      log_level = "INFO"
    }
    scheduler_logs {
      enabled   = true
      log_level = "INFO"
    }
    task_logs {
      enabled   = true
      log_level = "INFO"
    }
    webserver_logs {
      enabled   = true
      log_level = "WARNING"
    }
    worker_logs {
      enabled   = true
      log_level = "INFO"
    }
  }

  tags = var.tags
}
