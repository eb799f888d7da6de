output "landing_bucket" {
  description = "Bucket of raw landed events (KAIROS_LANDING_ROOT = s3://<this>/landing)."
  value       = module.bucket["landing"].id
}

output "lake_bucket" {
  description = "Bucket of the Delta lake (KAIROS_LAKE_ROOT = s3a://<this>/lake)."
  value       = module.bucket["lake"].id
}

output "artifacts_bucket" {
  description = "Bucket of MLflow artifacts and Airflow DAGs."
  value       = module.bucket["artifacts"].id
}

output "bucket_arns" {
  description = "ARNs of the three buckets, by role."
  value       = { for k, b in module.bucket : k => b.arn }
}

output "kms_key_arn" {
  description = "The customer-managed key encrypting Kairos data at rest."
  value       = aws_kms_key.data.arn
}
