variable "name" {
  description = "Prefix of every resource name (lowercase letters, digits and dashes)."
  type        = string
  default     = "kairos-prod"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,20}$", var.name))
    error_message = "name: 3-21 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "region" {
  description = "AWS region of the deployment (KAIROS_AWS_REGION)."
  type        = string
  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region is an AWS region code such as eu-west-1."
  }
}

variable "vpc_id" {
  description = "Existing VPC to deploy into."
  type        = string
  validation {
    condition     = startswith(var.vpc_id, "vpc-")
    error_message = "vpc_id is a VPC id (vpc-...)."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets in at least two AZs (the first two also host MWAA)."
  type        = list(string)
  validation {
    condition     = length(var.private_subnet_ids) >= 2 && alltrue([for s in var.private_subnet_ids : startswith(s, "subnet-")])
    error_message = "Give at least two private subnet ids (subnet-...) in different AZs."
  }
}

variable "public_subnet_ids" {
  description = "Public subnets of the API load balancer when it is internet-facing."
  type        = list(string)
  default     = []
}

variable "internal_cidrs" {
  description = "Networks of the company allowed to reach MLflow and an internal API."
  type        = list(string)
  validation {
    condition     = length(var.internal_cidrs) > 0 && alltrue([for c in var.internal_cidrs : can(cidrhost(c, 0))])
    error_message = "internal_cidrs: one or more CIDR blocks."
  }
}

variable "api_public" {
  description = "Whether the serving API's load balancer is internet-facing (then behind api_web_acl_arn)."
  type        = bool
  default     = false
}

variable "api_web_acl_arn" {
  description = "WAFv2 web ACL of an internet-facing API (required when api_public)."
  type        = string
  default     = null
  validation {
    condition     = var.api_web_acl_arn == null || startswith(coalesce(var.api_web_acl_arn, "x"), "arn:aws:wafv2:")
    error_message = "api_web_acl_arn is a WAFv2 web ACL ARN."
  }
}

variable "certificate_arn" {
  description = "ACM certificate of the HTTPS listeners (MLflow and the API)."
  type        = string
  validation {
    condition     = startswith(var.certificate_arn, "arn:aws:acm:")
    error_message = "certificate_arn is an ACM certificate ARN."
  }
}

variable "access_log_bucket" {
  description = "Existing bucket for S3 and load balancer access logs."
  type        = string
}

variable "api_image" {
  description = "Container image of the Kairos package (serving API), ECR URI with tag or digest."
  type        = string
}

variable "spark_image" {
  description = "Container image of the Spark Connect server and executors (Spark, Java 17, the Kairos package and jars), ECR URI pinned by digest."
  type        = string
  validation {
    condition     = can(regex("@sha256:[0-9a-f]{64}$", var.spark_image))
    error_message = "Pin spark_image by digest (...@sha256:<64 hex>): driver and executors must run the same build."
  }
}

variable "mlflow_image" {
  description = "Container image of the MLflow server (mlflow + psycopg)."
  type        = string
}

variable "api_desired_count" {
  description = "Serving API tasks (each runs KAIROS_API_WORKERS workers)."
  type        = number
  default     = 2
  validation {
    condition     = var.api_desired_count >= 2
    error_message = "Run at least two API tasks (one per AZ)."
  }
}

variable "scheduler_desired_count" {
  description = "Scheduler tasks (journey timers, due sends); they share the work."
  type        = number
  default     = 2
  validation {
    condition     = var.scheduler_desired_count >= 1
    error_message = "Run at least one scheduler: without one no journey fires and no send goes out."
  }
}

variable "delivery_secret_arns" {
  description = "Signing secrets of the delivery file's webhooks: the variable a connector names (secret_env) -> Secrets Manager ARN."
  type        = map(string)
  default     = {}
}

variable "redis_node_type" {
  description = "ElastiCache node type of the serving Redis."
  type        = string
  default     = "cache.r7g.large"
}

variable "redis_replicas" {
  description = "Replicas of the serving Redis (automatic failover needs at least 1)."
  type        = number
  default     = 1
}

variable "mlflow_db_instance_class" {
  description = "RDS instance class of the MLflow backend store."
  type        = string
  default     = "db.t4g.medium"
}

variable "airflow_version" {
  description = "MWAA Airflow version."
  type        = string
  default     = "3.0.6"
}

variable "airflow_environment_class" {
  description = "MWAA environment class."
  type        = string
  default     = "mw1.medium"
}

variable "spark_kubernetes_version" {
  description = "EKS version of the Spark cluster."
  type        = string
  default     = "1.33"
}

variable "spark_node_instance_types" {
  description = "Instance types of the Spark nodes."
  type        = list(string)
  default     = ["m7g.2xlarge"]
}

variable "spark_node_count" {
  description = "Spark nodes: minimum, desired, maximum."
  type        = object({ min = number, desired = number, max = number })
  default     = { min = 2, desired = 2, max = 10 }
}

variable "landing_expiry_days" {
  description = "Days landed raw files are kept (bronze keeps the data)."
  type        = number
  default     = 30
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps Kairos logs."
  type        = number
  default     = 365
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch retention value (e.g. 30, 90, 365)."
  }
}

variable "tags" {
  description = "Extra tags of every resource."
  type        = map(string)
  default     = {}
}
