variable "name" {
  description = "Name of the service (and prefix of its resources), e.g. kairos-prod-api."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the service."
  type        = string
}

variable "alb_subnet_ids" {
  description = "Subnets of the load balancer (private for an internal one)."
  type        = list(string)
}

variable "task_subnet_ids" {
  description = "Private subnets of the Fargate tasks."
  type        = list(string)
}

variable "internal" {
  description = "Whether the load balancer is internal (reachable from the VPC only)."
  type        = bool
}

variable "allowed_cidrs" {
  description = "CIDR blocks allowed to reach the load balancer on 443."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate of the HTTPS listener."
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
  description = "Port the container listens on."
  type        = number
}

variable "health_path" {
  description = "HTTP path of the target group health check."
  type        = string
}

variable "cpu" {
  description = "Fargate task CPU units."
  type        = number
}

variable "memory" {
  description = "Fargate task memory (MiB)."
  type        = number
}

variable "desired_count" {
  description = "Number of tasks."
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

variable "web_acl_arn" {
  description = "WAFv2 web ACL attached to an internet-facing load balancer (null when internal)."
  type        = string
  default     = null
}

variable "access_log_bucket" {
  description = "Bucket receiving the load balancer's access logs."
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
