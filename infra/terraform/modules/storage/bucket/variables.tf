variable "name" {
  description = "Bucket name."
  type        = string
}

variable "role" {
  description = "What the bucket holds: landing, lake or artifacts."
  type        = string
  validation {
    condition     = contains(["landing", "lake", "artifacts"], var.role)
    error_message = "role is landing, lake or artifacts."
  }
}

variable "expire_after_days" {
  description = "Current objects expire after this many days (null: never)."
  type        = number
  default     = null
}

variable "kms_key_arn" {
  description = "KMS key of the default encryption."
  type        = string
}

variable "access_log_bucket" {
  description = "Bucket receiving the server access logs."
  type        = string
}

variable "tags" {
  description = "Tags of the bucket."
  type        = map(string)
}
