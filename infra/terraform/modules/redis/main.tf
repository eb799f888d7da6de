# ElastiCache Redis for serving: TLS in transit, KMS at rest, an AUTH token kept in Secrets
# Manager, one primary with replicas across AZs and automatic failover. Kairos keys carry
# hash tags, so the same layout also works in cluster mode.

resource "random_password" "auth" {
  length  = 64
  special = false
}

resource "aws_secretsmanager_secret" "auth" {
  #checkov:skip=CKV2_AWS_57:Rotating an ElastiCache AUTH token is a two-step modify (ROTATE, then SET) done by re-applying with a new random_password; no rotation Lambda.
  name        = "${var.name}/redis-auth-token"
  description = "AUTH token of the Kairos serving Redis"
  kms_key_id  = var.kms_key_arn
  tags        = var.tags
}

resource "aws_secretsmanager_secret_version" "auth" {
  secret_id     = aws_secretsmanager_secret.auth.id
  secret_string = random_password.auth.result
}

resource "aws_security_group" "redis" {
  name        = "${var.name}-redis"
  description = "Kairos Redis: TLS from the API, the scheduler, Spark and Airflow only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "clients" {
  for_each                     = var.client_security_groups
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis TLS from a Kairos client (${each.key})"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = each.value
}

# And the way out of each client: a security group's egress is its own rule, and the clients'
# groups allow little else (the ECS services only HTTPS).
resource "aws_vpc_security_group_egress_rule" "clients" {
  for_each                     = var.client_security_groups
  security_group_id            = each.value
  description                  = "To Kairos Redis (TLS)"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = aws_security_group.redis.id
}

resource "aws_elasticache_subnet_group" "redis" {
  name       = "${var.name}-redis"
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

# The state keys (consent, frequency caps, idempotency answers, streams) carry TTLs, and
# ElastiCache's default policy (volatile-lru) would evict exactly those under memory pressure:
# a lost consent falls back to the policy default, a lost cap lets a second message out.
# noeviction makes a full Redis refuse writes (the API answers 503) instead of forgetting.
resource "aws_elasticache_parameter_group" "redis" {
  name        = "${var.name}-redis7"
  family      = "redis7"
  description = "Kairos: never evict state keys (maxmemory-policy noeviction)"

  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }

  tags = var.tags
}

resource "aws_cloudwatch_log_group" "slow" {
  name              = "/kairos/${var.name}/redis/slow-log"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_elasticache_replication_group" "redis" {
  replication_group_id       = "${var.name}-redis"
  description                = "Kairos scores, sessions, consent, caps and streams"
  engine                     = "redis"
  engine_version             = "7.1"
  node_type                  = var.node_type
  port                       = 6379
  num_cache_clusters         = 1 + var.replicas
  automatic_failover_enabled = true
  multi_az_enabled           = true
  subnet_group_name          = aws_elasticache_subnet_group.redis.name
  parameter_group_name       = aws_elasticache_parameter_group.redis.name
  security_group_ids         = [aws_security_group.redis.id]
  at_rest_encryption_enabled = true
  kms_key_id                 = var.kms_key_arn
  transit_encryption_enabled = true
  auth_token                 = random_password.auth.result
  snapshot_retention_limit   = 7
  auto_minor_version_upgrade = true

  log_delivery_configuration {
    destination      = aws_cloudwatch_log_group.slow.name
    destination_type = "cloudwatch-logs"
    log_format       = "json"
    log_type         = "slow-log"
  }

  tags = var.tags
}

# The whole KAIROS_REDIS_URL (with the token) as a secret: ECS and MWAA inject it as is.
resource "aws_secretsmanager_secret" "url" {
  #checkov:skip=CKV2_AWS_57:Derived from the AUTH token secret; it changes with it, by Terraform.
  name        = "${var.name}/kairos-redis-url"
  description = "KAIROS_REDIS_URL of the Kairos serving Redis (TLS, AUTH token)"
  kms_key_id  = var.kms_key_arn
  tags        = var.tags
}

resource "aws_secretsmanager_secret_version" "url" {
  secret_id     = aws_secretsmanager_secret.url.id
  secret_string = "rediss://:${random_password.auth.result}@${aws_elasticache_replication_group.redis.primary_endpoint_address}:6379/0"
}
