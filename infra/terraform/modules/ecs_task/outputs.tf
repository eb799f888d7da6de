output "cluster_id" {
  description = "The task's ECS cluster."
  value       = aws_ecs_cluster.this.id
}

output "task_definition_arn" {
  description = "The task definition to run."
  value       = aws_ecs_task_definition.this.arn
}

output "security_group_id" {
  description = "Security group of the tasks (HTTPS out only; the caller adds what comes in)."
  value       = aws_security_group.task.id
}

output "task_role_arn" {
  description = "IAM role the application runs as."
  value       = aws_iam_role.task.arn
}
