variable "name" {
  description = "Prefix of every resource name."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cache."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (two AZs or more) of the cache nodes."
  type        = list(string)
  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "Multi-AZ Redis needs subnets in at least two availability zones."
  }
}

variable "node_type" {
  description = "ElastiCache node type, e.g. cache.r7g.large."
  type        = string
  validation {
    condition     = startswith(var.node_type, "cache.")
    error_message = "node_type is an ElastiCache type such as cache.r7g.large."
  }
}

variable "replicas" {
  description = "Read replicas per shard (at least 1 for automatic failover)."
  type        = number
  validation {
    condition     = var.replicas >= 1 && var.replicas <= 5
    error_message = "replicas must be between 1 and 5."
  }
}

variable "client_security_groups" {
  description = "Security groups allowed to connect, by a name known before apply (api, scheduler, spark, airflow): for_each needs keys it can plan."
  type        = map(string)
}

variable "kms_key_arn" {
  description = "KMS key for encryption at rest and of the auth token secret."
  type        = string
}

variable "log_retention_days" {
  description = "Days the slow log is kept."
  type        = number
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
}
