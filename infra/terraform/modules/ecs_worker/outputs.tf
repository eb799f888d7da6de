output "task_security_group_id" {
  description = "Security group of the worker's tasks (to allow them into Redis)."
  value       = module.task.security_group_id
}
