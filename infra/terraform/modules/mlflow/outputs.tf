output "tracking_uri" {
  description = "KAIROS_MLFLOW_TRACKING_URI: the internal HTTPS URL of the tracking server."
  value       = module.server.url
}

output "artifact_root" {
  description = "KAIROS_MLFLOW_ARTIFACT_ROOT: where the server stores model artifacts."
  value       = "s3://${var.artifacts_bucket}/mlflow"
}
