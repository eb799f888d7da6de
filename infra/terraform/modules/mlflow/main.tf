# MLflow tracking server and model registry: ECS Fargate behind an internal HTTPS load
# balancer, RDS Postgres as the backend store (password managed by RDS in Secrets Manager),
# artifacts in S3. The server proxies artifact access, so clients need no bucket rights.

resource "aws_db_subnet_group" "mlflow" {
  name       = "${var.name}-mlflow"
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

resource "aws_security_group" "db" {
  name        = "${var.name}-mlflow-db"
  description = "MLflow backend store: Postgres from the tracking server only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "db_from_server" {
  security_group_id            = aws_security_group.db.id
  description                  = "Postgres from the MLflow tasks"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = module.server.task_security_group_id
}

resource "aws_db_parameter_group" "mlflow" {
  name   = "${var.name}-mlflow"
  family = "postgres16"
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  tags = var.tags
}

resource "aws_db_instance" "mlflow" {
  identifier                          = "${var.name}-mlflow"
  engine                              = "postgres"
  engine_version                      = "16"
  instance_class                      = var.db_instance_class
  allocated_storage                   = 50
  max_allocated_storage               = 500
  db_name                             = "mlflow"
  username                            = "mlflow"
  manage_master_user_password         = true
  master_user_secret_kms_key_id       = var.kms_key_arn
  db_subnet_group_name                = aws_db_subnet_group.mlflow.name
  vpc_security_group_ids              = [aws_security_group.db.id]
  parameter_group_name                = aws_db_parameter_group.mlflow.name
  multi_az                            = true
  storage_encrypted                   = true
  kms_key_id                          = var.kms_key_arn
  backup_retention_period             = 14
  deletion_protection                 = true
  copy_tags_to_snapshot               = true
  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = var.kms_key_arn
  monitoring_interval                 = 60
  monitoring_role_arn                 = aws_iam_role.rds_monitoring.arn
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${var.name}-mlflow-final"
  tags                                = var.tags
}

data "aws_iam_policy_document" "rds_monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "rds_monitoring" {
  name               = "${var.name}-mlflow-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.rds_monitoring_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

data "aws_iam_policy_document" "artifacts" {
  statement {
    actions   = ["s3:ListBucket"]
    resources = [var.artifacts_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["mlflow/*"]
    }
  }
  statement {
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${var.artifacts_bucket_arn}/mlflow/*"]
  }
  statement {
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

# MLflow's basic-auth app: every request needs a user, and users without a grant see nothing
# (default_permission NO_PERMISSIONS). Whoever can move @champion decides what code the
# scoring job runs on Spark, so the server must not be open to the whole private network.
# The Kairos pipeline signs in as the admin user below (MLFLOW_TRACKING_USERNAME/PASSWORD in
# MWAA); data scientists get users and grants from it (docs: MLflow's /api/2.0/mlflow/users).
resource "random_password" "admin" {
  length  = 40
  special = false
}

resource "random_password" "flask_secret" {
  length  = 64
  special = false
}

resource "aws_secretsmanager_secret" "admin" {
  #checkov:skip=CKV2_AWS_57:Rotated by re-applying with a new random_password and the users API; no rotation Lambda.
  name        = "${var.name}/mlflow-admin-password"
  description = "Password of the MLflow admin user the Kairos pipeline signs in as"
  kms_key_id  = var.kms_key_arn
  tags        = var.tags
}

resource "aws_secretsmanager_secret_version" "admin" {
  secret_id     = aws_secretsmanager_secret.admin.id
  secret_string = random_password.admin.result
}

resource "aws_secretsmanager_secret" "flask_secret" {
  #checkov:skip=CKV2_AWS_57:The CSRF key of MLflow's auth app; rotating it only signs users out.
  name        = "${var.name}/mlflow-flask-secret-key"
  description = "MLFLOW_FLASK_SERVER_SECRET_KEY of the MLflow basic-auth app (CSRF)"
  kms_key_id  = var.kms_key_arn
  tags        = var.tags
}

resource "aws_secretsmanager_secret_version" "flask_secret" {
  secret_id     = aws_secretsmanager_secret.flask_secret.id
  secret_string = random_password.flask_secret.result
}

locals {
  database_uri = "postgresql://$DB_USER:$DB_PASSWORD@${aws_db_instance.mlflow.endpoint}/mlflow?sslmode=require"
  # The auth app's configuration, written at start-up: its users live in the same database.
  auth_config = join("\\n", [
    "[mlflow]",
    "default_permission = NO_PERMISSIONS",
    "database_uri = ${local.database_uri}",
    "admin_username = ${var.admin_username}",
    "admin_password = $ADMIN_PASSWORD",
    "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
  ])
}

module "server" {
  source = "../ecs_service"

  name              = "${var.name}-mlflow"
  vpc_id            = var.vpc_id
  alb_subnet_ids    = var.subnet_ids
  task_subnet_ids   = var.subnet_ids
  internal          = true
  allowed_cidrs     = var.allowed_cidrs
  certificate_arn   = var.certificate_arn
  image             = var.image
  container_port    = 5000
  health_path       = "/health"
  cpu               = 1024
  memory            = 2048
  desired_count     = 2
  access_log_bucket = var.access_log_bucket
  kms_key_arn       = var.kms_key_arn
  command = [
    "sh", "-c",
    "printf '%b\\n' \"${local.auth_config}\" > /tmp/mlflow-auth.ini && exec mlflow server --app-name basic-auth --host 0.0.0.0 --port 5000 --backend-store-uri \"${local.database_uri}\" --artifacts-destination s3://${var.artifacts_bucket}/mlflow --serve-artifacts",
  ]
  environment = { DB_USER = "mlflow", MLFLOW_AUTH_CONFIG_PATH = "/tmp/mlflow-auth.ini" }
  secrets = {
    DB_PASSWORD                    = "${aws_db_instance.mlflow.master_user_secret[0].secret_arn}:password::"
    ADMIN_PASSWORD                 = aws_secretsmanager_secret.admin.arn
    MLFLOW_FLASK_SERVER_SECRET_KEY = aws_secretsmanager_secret.flask_secret.arn
  }
  task_policy_json   = data.aws_iam_policy_document.artifacts.json
  log_retention_days = var.log_retention_days
  tags               = var.tags
}
