variable "name" {
  description = "Name of the service (and prefix of its resources), e.g. kairos-prod-api."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the service."
  type        = string
}

variable "image" {
  description = "Container image (ECR URI with tag or digest)."
  type        = string
}

variable "command" {
  description = "Container command."
  type        = list(string)
}

variable "container_port" {
  description = "Port the container listens on (null: it listens on nothing, a worker)."
  type        = number
  default     = null
}

variable "cpu" {
  description = "Fargate task CPU units."
  type        = number
}

variable "memory" {
  description = "Fargate task memory (MiB)."
  type        = number
}

variable "environment" {
  description = "Plain environment variables of the container."
  type        = map(string)
}

variable "secrets" {
  description = "Environment variables read from Secrets Manager: name -> secret ARN."
  type        = map(string)
}

variable "scratch_path" {
  description = "A writable task-local folder mounted into the read-only container (null: none)."
  type        = string
  default     = null
}

variable "task_policy_json" {
  description = "IAM policy of the task role (what the application may do)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the log group and the secrets."
  type        = string
}

variable "log_retention_days" {
  description = "Days the container logs are kept."
  type        = number
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
}

variable "security_group_description" {
  description = "What the tasks' security group is for (what may come in is the caller's)."
  type        = string
}
