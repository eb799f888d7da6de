variable "name" {
  description = "Prefix of every resource name."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the tracking server and its database."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (two AZs or more) of the load balancer, tasks and database."
  type        = list(string)
}

variable "allowed_cidrs" {
  description = "Networks allowed to reach the internal tracking server (data scientists, Airflow, Spark)."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate of the tracking server's HTTPS listener."
  type        = string
}

variable "image" {
  description = "Container image with mlflow and psycopg installed."
  type        = string
}

variable "db_instance_class" {
  description = "RDS instance class of the backend store, e.g. db.t4g.medium."
  type        = string
  validation {
    condition     = startswith(var.db_instance_class, "db.")
    error_message = "db_instance_class is an RDS class such as db.t4g.medium."
  }
}

variable "artifacts_bucket" {
  description = "Bucket of the model artifacts (s3://<bucket>/mlflow)."
  type        = string
}

variable "artifacts_bucket_arn" {
  description = "ARN of the artifacts bucket."
  type        = string
}

variable "access_log_bucket" {
  description = "Bucket receiving the load balancer's access logs."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the database, secrets and logs."
  type        = string
}

variable "log_retention_days" {
  description = "Days the server's logs are kept."
  type        = number
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
}

variable "admin_username" {
  description = "MLflow basic-auth admin user; the Kairos pipeline signs in as it."
  type        = string
  default     = "kairos"
}
