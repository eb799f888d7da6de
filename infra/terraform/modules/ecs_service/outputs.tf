output "url" {
  description = "HTTPS URL of the service's load balancer."
  value       = "https://${aws_lb.this.dns_name}"
}

output "task_security_group_id" {
  description = "Security group of the service's tasks (to allow them into Redis or RDS)."
  value       = module.task.security_group_id
}

output "task_role_arn" {
  description = "IAM role the application runs as."
  value       = module.task.task_role_arn
}
