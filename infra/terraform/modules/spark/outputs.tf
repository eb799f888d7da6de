output "spark_master" {
  description = "spark-submit master URL (KAIROS_SPARK_MASTER: a job run by spark-submit on the cluster)."
  value       = "k8s://${aws_eks_cluster.spark.endpoint}"
}

output "cluster_name" {
  description = "Name of the EKS cluster running Spark."
  value       = aws_eks_cluster.spark.name
}

output "cluster_security_group_id" {
  description = "Security group EKS created for the cluster (Spark pods reach Redis from it)."
  value       = aws_eks_cluster.spark.vpc_config[0].cluster_security_group_id
}

output "job_role_arn" {
  description = "IAM role of the `kairos/spark` service account (annotate it with this ARN)."
  value       = aws_iam_role.job.arn
}

output "connect_host" {
  description = "Internal DNS name of the Spark Connect endpoint (the NLB in front of the server)."
  value       = kubernetes_service_v1.connect.status[0].load_balancer[0].ingress[0].hostname
}

output "connect_port" {
  description = "Port of the Spark Connect endpoint."
  value       = local.connect_port
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint of the cluster (private; for the kubernetes provider)."
  value       = aws_eks_cluster.spark.endpoint
}

output "cluster_certificate_authority" {
  description = "Base64 CA certificate of the cluster's API (for the kubernetes provider)."
  value       = aws_eks_cluster.spark.certificate_authority[0].data
}
