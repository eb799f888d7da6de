variable "name" {
  description = "Prefix of every resource name."
  type        = string
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version of the Spark cluster."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (two AZs or more) of the cluster and its nodes."
  type        = list(string)
  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "EKS needs subnets in at least two availability zones."
  }
}

variable "node_instance_types" {
  description = "Instance types of the Spark node group."
  type        = list(string)
}

variable "node_count" {
  description = "Minimum, desired and maximum number of Spark nodes."
  type        = object({ min = number, desired = number, max = number })
  validation {
    condition     = var.node_count.min <= var.node_count.desired && var.node_count.desired <= var.node_count.max
    error_message = "node_count must satisfy min <= desired <= max."
  }
}

variable "bucket_arns" {
  description = "Buckets the Spark jobs may read and write (landing, lake, artifacts)."
  type        = map(string)
}

variable "kms_key_arn" {
  description = "KMS key of the buckets and of the cluster's secrets."
  type        = string
}

variable "log_retention_days" {
  description = "Days the cluster's control-plane logs are kept."
  type        = number
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
}
