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
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.35"
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

# The Spark cluster's own objects (the Connect server, its service account and RBAC). The
# cluster's API endpoint is private: plan and apply from inside the VPC.
data "aws_eks_cluster_auth" "spark" {
  name = module.spark.cluster_name
}

provider "kubernetes" {
  host                   = module.spark.cluster_endpoint
  cluster_ca_certificate = base64decode(module.spark.cluster_certificate_authority)
  token                  = data.aws_eks_cluster_auth.spark.token
}
