output "spark_master" {
  description = "spark-submit master URL (the host of Airflow's `kairos_spark` connection)."
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
