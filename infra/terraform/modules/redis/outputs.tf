output "primary_endpoint" {
  description = "Primary endpoint of the replication group."
  value       = aws_elasticache_replication_group.redis.primary_endpoint_address
}

output "redis_url_secret_arn" {
  description = "Secrets Manager secret holding the whole KAIROS_REDIS_URL (rediss://, with the token)."
  value       = aws_secretsmanager_secret.url.arn
}

output "security_group_id" {
  description = "Security group of the cache."
  value       = aws_security_group.redis.id
}

output "auth_token_secret_arn" {
  description = "Secrets Manager secret holding the AUTH token."
  value       = aws_secretsmanager_secret.auth.arn
}
