output "tracking_uri" {
  description = "KAIROS_MLFLOW_TRACKING_URI: the internal HTTPS URL of the tracking server."
  value       = module.server.url
}

output "artifact_root" {
  description = "KAIROS_MLFLOW_ARTIFACT_ROOT: where the server stores model artifacts."
  value       = "s3://${var.artifacts_bucket}/mlflow"
}

output "tracking_username" {
  description = "MLFLOW_TRACKING_USERNAME of the Kairos pipeline (the auth app's admin user)."
  value       = var.admin_username
}

output "tracking_password_secret_arn" {
  description = "Secret holding MLFLOW_TRACKING_PASSWORD of the Kairos pipeline."
  value       = aws_secretsmanager_secret.admin.arn
}
