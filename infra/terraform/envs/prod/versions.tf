terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
  }
  # Configure remote state per team, e.g.:
  # backend "s3" { bucket = "<state-bucket>" key = "kairos/prod.tfstate" region = "eu-west-1" use_lockfile = true }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = local.tags
  }
}
