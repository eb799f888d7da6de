output "kairos_settings" {
  description = "The KAIROS_* settings of this deployment (plain values), for jobs run outside MWAA and ECS."
  value       = local.kairos_environment
}

output "kairos_secret_settings" {
  description = "KAIROS_* settings held in Secrets Manager: name -> secret ARN."
  value       = local.kairos_secret_environment
}

output "api_keys_secret_arn" {
  description = "Secret holding the API keys file (KAIROS_API_KEYS_FILE in the API tasks)."
  value       = aws_secretsmanager_secret.api_keys.arn
}

output "api_url" {
  description = "HTTPS URL of the serving API."
  value       = module.api.url
}

output "mlflow_url" {
  description = "HTTPS URL of the MLflow tracking server (internal)."
  value       = module.mlflow.tracking_uri
}

output "airflow_url" {
  description = "Airflow UI (private)."
  value       = module.airflow.webserver_url
}

output "spark_job_role_arn" {
  description = "IAM role for the kairos/spark service account (IRSA)."
  value       = module.spark.job_role_arn
}

output "airflow_spark_connection" {
  description = "AIRFLOW_CONN_KAIROS_SPARK for the DAGs: the Spark Connect endpoint on the EKS cluster."
  value       = jsonencode({ conn_type = "spark_connect", host = "sc://${module.spark.connect_host}", port = module.spark.connect_port })
}
