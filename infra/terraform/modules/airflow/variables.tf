variable "name" {
  description = "Prefix of every resource name."
  type        = string
}

variable "airflow_version" {
  description = "MWAA Airflow version (3.x)."
  type        = string
  validation {
    condition     = startswith(var.airflow_version, "3.")
    error_message = "Kairos DAGs use the Airflow 3 SDK: airflow_version must be 3.x."
  }
}

variable "environment_class" {
  description = "MWAA environment class, e.g. mw1.medium."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the environment."
  type        = string
}

variable "subnet_ids" {
  description = "Exactly two private subnets in different AZs (an MWAA requirement)."
  type        = list(string)
  validation {
    condition     = length(var.subnet_ids) == 2
    error_message = "MWAA takes exactly two private subnets."
  }
}

variable "dags_bucket_arn" {
  description = "Bucket holding dags/ and requirements.txt (the artifacts bucket)."
  type        = string
}

variable "bucket_arns" {
  description = "Kairos buckets the tasks read and write (drain writes landing)."
  type        = map(string)
}

variable "dags_bucket" {
  description = "Name of the bucket holding dags/ (the startup script is written there)."
  type        = string
}

variable "airflow_configuration" {
  description = "Airflow configuration overrides (section.key -> value)."
  type        = map(string)
}

variable "kairos_environment" {
  description = "Settings (KAIROS_*, and MLflow's client variables) exported to every Airflow component by the startup script."
  type        = map(string)
}

variable "kairos_secret_environment" {
  description = "Settings (KAIROS_*, MLflow's password) read from Secrets Manager by the startup script: name -> secret ARN."
  type        = map(string)
}

variable "kms_key_arn" {
  description = "KMS key of the environment and its logs."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
}
