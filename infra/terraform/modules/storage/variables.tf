variable "name" {
  description = "Prefix of every resource name, e.g. kairos-prod."
  type        = string
}

variable "landing_expiry_days" {
  description = "Landed raw event files are deleted this many days after they arrive (bronze keeps them)."
  type        = number
  validation {
    condition     = var.landing_expiry_days >= 7
    error_message = "Keep landed files at least 7 days: the hourly pipeline reprocesses late data."
  }
}

variable "access_log_bucket" {
  description = "Existing bucket that receives S3 server access logs of the Kairos buckets."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
}
