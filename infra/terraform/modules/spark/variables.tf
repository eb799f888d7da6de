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

variable "image" {
  description = "Container image of the Spark Connect server and its executors: Spark, Java 17, the Kairos package and its jars (`python -m kairos.jars` at build time); ECR URI pinned by digest."
  type        = string
}

variable "connect_allowed_cidrs" {
  description = "CIDR blocks allowed to reach the Spark Connect endpoint (Airflow's subnets)."
  type        = list(string)
}

variable "driver_cpu" {
  description = "CPU of the Connect server's pod (the Spark driver), e.g. \"2\"."
  type        = string
  default     = "2"
}

variable "driver_memory" {
  description = "JVM heap of the Spark driver (spark.driver.memory)."
  type        = string
  default     = "4g"
}

variable "driver_pod_memory" {
  description = "Memory of the driver's pod: the heap plus off-heap and Python (about 1.5x the heap)."
  type        = string
  default     = "6Gi"
}

variable "executor_memory" {
  description = "JVM heap of each executor (spark.executor.memory)."
  type        = string
  default     = "8g"
}

variable "executor_cores" {
  description = "Cores of each executor pod."
  type        = number
  default     = 4
}

variable "executors" {
  description = "Executor pods of the Connect server's application: minimum and maximum (dynamic allocation)."
  type        = object({ min = number, max = number })
  default     = { min = 1, max = 8 }
  validation {
    condition     = var.executors.min >= 0 && var.executors.min <= var.executors.max
    error_message = "executors must satisfy 0 <= min <= max."
  }
}
