output "webserver_url" {
  description = "Airflow UI (private)."
  value       = "https://${aws_mwaa_environment.this.webserver_url}"
}

output "security_group_id" {
  description = "Security group of the Airflow workers (allowed into Redis: the drain task)."
  value       = aws_security_group.mwaa.id
}

output "execution_role_arn" {
  description = "IAM role the tasks run as."
  value       = aws_iam_role.execution.arn
}
