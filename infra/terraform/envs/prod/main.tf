# Kairos on AWS: the composition of the modules for one environment. See ../../README.md.

locals {
  tags = merge(var.tags, { "app" = "kairos", "kairos:env" = var.name })

  # The KAIROS_* settings every runtime component reads (plain values; the README maps each
  # setting to the resource providing it). Secrets are separate, below.
  kairos_environment = {
    KAIROS_AWS_REGION           = var.region
    KAIROS_LANDING_ROOT         = "s3://${module.storage.landing_bucket}/landing"
    KAIROS_LAKE_ROOT            = "s3a://${module.storage.lake_bucket}/lake"
    KAIROS_SPARK_MASTER         = module.spark.spark_master
    KAIROS_SPARK_S3_JARS        = "true"
    KAIROS_MLFLOW_TRACKING_URI  = module.mlflow.tracking_uri
    KAIROS_MLFLOW_ARTIFACT_ROOT = module.mlflow.artifact_root
    KAIROS_LOCAL_DIR            = "/tmp/kairos"
  }
  kairos_secret_environment = {
    KAIROS_REDIS_URL = module.redis.redis_url_secret_arn
  }
  # MLflow's own client variables, for Airflow only (training, scoring and promotion run
  # there): the tracking server requires a user (modules/mlflow). The API never talks to it.
  mlflow_client_environment = { MLFLOW_TRACKING_USERNAME = module.mlflow.tracking_username }
  mlflow_client_secrets     = { MLFLOW_TRACKING_PASSWORD = module.mlflow.tracking_password_secret_arn }
}

module "storage" {
  source              = "../../modules/storage"
  name                = var.name
  landing_expiry_days = var.landing_expiry_days
  access_log_bucket   = var.access_log_bucket
  tags                = local.tags
}

module "spark" {
  source              = "../../modules/spark"
  name                = var.name
  kubernetes_version  = var.spark_kubernetes_version
  subnet_ids          = var.private_subnet_ids
  node_instance_types = var.spark_node_instance_types
  node_count          = var.spark_node_count
  image               = var.spark_image
  # MWAA's workers run in the private subnets: the DAG's tasks are the Connect clients.
  connect_allowed_cidrs = var.internal_cidrs
  bucket_arns           = module.storage.bucket_arns
  kms_key_arn           = module.storage.kms_key_arn
  log_retention_days    = var.log_retention_days
  tags                  = local.tags
}

module "redis" {
  source     = "../../modules/redis"
  name       = var.name
  vpc_id     = var.vpc_id
  subnet_ids = var.private_subnet_ids
  node_type  = var.redis_node_type
  replicas   = var.redis_replicas
  client_security_groups = {
    api       = module.api.task_security_group_id,       # lookups, audiences, decisions
    scheduler = module.scheduler.task_security_group_id, # journey timers, due sends
    spark     = module.spark.cluster_security_group_id,  # materialize_scores from the executors
    airflow   = module.airflow.security_group_id,        # drain_streams
  }
  kms_key_arn        = module.storage.kms_key_arn
  log_retention_days = var.log_retention_days
  tags               = local.tags
}

module "mlflow" {
  source               = "../../modules/mlflow"
  name                 = var.name
  vpc_id               = var.vpc_id
  subnet_ids           = var.private_subnet_ids
  allowed_cidrs        = var.internal_cidrs
  certificate_arn      = var.certificate_arn
  image                = var.mlflow_image
  db_instance_class    = var.mlflow_db_instance_class
  artifacts_bucket     = module.storage.artifacts_bucket
  artifacts_bucket_arn = module.storage.bucket_arns["artifacts"]
  access_log_bucket    = var.access_log_bucket
  kms_key_arn          = module.storage.kms_key_arn
  log_retention_days   = var.log_retention_days
  tags                 = local.tags
}

module "airflow" {
  source            = "../../modules/airflow"
  name              = var.name
  airflow_version   = var.airflow_version
  environment_class = var.airflow_environment_class
  vpc_id            = var.vpc_id
  subnet_ids        = slice(var.private_subnet_ids, 0, 2)
  dags_bucket       = module.storage.artifacts_bucket
  dags_bucket_arn   = module.storage.bucket_arns["artifacts"]
  bucket_arns       = module.storage.bucket_arns
  airflow_configuration = {
    "core.load_examples" = "False"
  }
  kairos_environment        = merge(local.kairos_environment, local.mlflow_client_environment)
  kairos_secret_environment = merge(local.kairos_secret_environment, local.mlflow_client_secrets)
  kms_key_arn               = module.storage.kms_key_arn
  tags                      = local.tags
}

resource "aws_secretsmanager_secret" "api_keys" {
  #checkov:skip=CKV2_AWS_57:Holds key hashes, not a credential AWS can rotate; keys are added and revoked with `python -m serving keys`.
  name        = "${var.name}/kairos-api-keys"
  description = "KAIROS_API_KEYS_FILE contents: API key hashes and roles (python -m serving keys)"
  kms_key_id  = module.storage.kms_key_arn
}

data "aws_iam_policy_document" "api" {
  statement {
    sid       = "NoAwsApiNeeded"
    effect    = "Deny"
    actions   = ["*"]
    resources = ["*"]
  }
}

module "api" {
  source            = "../../modules/ecs_service"
  name              = "${var.name}-api"
  vpc_id            = var.vpc_id
  alb_subnet_ids    = var.api_public ? var.public_subnet_ids : var.private_subnet_ids
  task_subnet_ids   = var.private_subnet_ids
  internal          = !var.api_public
  allowed_cidrs     = var.api_public ? ["0.0.0.0/0"] : var.internal_cidrs
  web_acl_arn       = var.api_web_acl_arn
  certificate_arn   = var.certificate_arn
  image             = var.api_image
  container_port    = 8000
  health_path       = "/healthz"
  cpu               = 1024
  memory            = 2048
  desired_count     = var.api_desired_count
  access_log_bucket = var.access_log_bucket
  kms_key_arn       = module.storage.kms_key_arn
  scratch_path      = "/run/kairos"
  # The keys file comes from a secret; the root filesystem stays read-only.
  command = [
    "sh", "-c",
    "printf '%s' \"$KAIROS_API_KEYS_YAML\" > /run/kairos/api_keys.yaml && exec python -m serving api",
  ]
  environment = merge(local.kairos_environment, {
    KAIROS_API_HOST      = "0.0.0.0"
    KAIROS_API_PORT      = "8000"
    KAIROS_API_KEYS_FILE = "/run/kairos/api_keys.yaml"
  })
  secrets = merge(local.kairos_secret_environment, {
    KAIROS_API_KEYS_YAML = aws_secretsmanager_secret.api_keys.arn
  })
  task_policy_json   = data.aws_iam_policy_document.api.json
  log_retention_days = var.log_retention_days
  tags               = local.tags
}

# The scheduler (python -m serving scheduler): fires journey timers and delivers due sends
# through the connectors of feature_defs/delivery.yaml. A worker: it listens on nothing, and
# its tasks share the work (claims are atomic, a dead task's claims expire).
module "scheduler" {
  source          = "../../modules/ecs_worker"
  name            = "${var.name}-scheduler"
  vpc_id          = var.vpc_id
  task_subnet_ids = var.private_subnet_ids
  image           = var.api_image
  command         = ["python", "-m", "serving", "scheduler"]
  cpu             = 512
  memory          = 1024
  desired_count   = var.scheduler_desired_count
  kms_key_arn     = module.storage.kms_key_arn
  scratch_path    = "/tmp/kairos" # KAIROS_LOCAL_DIR; the root filesystem stays read-only
  environment     = local.kairos_environment
  # The webhooks' signing keys, by the variable each connector names (secret_env).
  secrets            = merge(local.kairos_secret_environment, var.delivery_secret_arns)
  task_policy_json   = data.aws_iam_policy_document.api.json
  log_retention_days = var.log_retention_days
  tags               = local.tags
}
