# The Spark Connect server the DAG's tasks open their sessions on (Airflow's `kairos_spark`
# connection, type spark_connect): one long-lived Spark application whose driver is this
# Deployment's pod and whose executors are pods on the same cluster, started and stopped by
# Spark's Kubernetes scheduler (dynamic allocation). The container runs
# `python -m kairos.connect_server`: Kairos's own Spark configuration (Delta, time zone) on
# KAIROS_SPARK_MASTER, plus the cluster-specific settings below from spark-defaults.conf.
# Airflow reaches it through an internal Network Load Balancer open only to `allowed_cidrs`.

locals {
  namespace     = "kairos"
  connect_name  = "kairos-spark-connect"
  connect_port  = 15002
  driver_port   = 7078
  block_port    = 7079
  connect_label = { "app.kubernetes.io/name" = local.connect_name }
  # The driver runs in its pod (client mode) and starts executors through the in-cluster API.
  in_cluster_master = "k8s://https://kubernetes.default.svc"
  spark_defaults = {
    "spark.kubernetes.namespace"                                = local.namespace
    "spark.kubernetes.container.image"                          = var.image
    "spark.kubernetes.container.image.pullPolicy"               = "Always"
    "spark.kubernetes.authenticate.driver.serviceAccountName"   = "spark"
    "spark.kubernetes.authenticate.executor.serviceAccountName" = "spark"
    "spark.kubernetes.executor.podNamePrefix"                   = local.connect_name
    # Executors reach the driver through the headless service below.
    "spark.driver.host"                               = "${local.connect_name}-driver.${local.namespace}.svc"
    "spark.driver.bindAddress"                        = "0.0.0.0"
    "spark.driver.port"                               = tostring(local.driver_port)
    "spark.driver.blockManager.port"                  = tostring(local.block_port)
    "spark.executor.memory"                           = var.executor_memory
    "spark.executor.cores"                            = tostring(var.executor_cores)
    "spark.dynamicAllocation.enabled"                 = "true"
    "spark.dynamicAllocation.shuffleTracking.enabled" = "true"
    "spark.dynamicAllocation.minExecutors"            = tostring(var.executors.min)
    "spark.dynamicAllocation.maxExecutors"            = tostring(var.executors.max)
    # S3 through the pod's IRSA role (the SDK's default chain reads the web identity token).
    "spark.hadoop.fs.s3a.aws.credentials.provider" = "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"
  }
}

data "aws_region" "current" {}

resource "kubernetes_namespace_v1" "kairos" {
  metadata {
    name = local.namespace
  }
}

resource "kubernetes_service_account_v1" "spark" {
  metadata {
    name      = "spark"
    namespace = kubernetes_namespace_v1.kairos.metadata[0].name
    # IRSA: the pods of this service account assume the job role (buckets and key only).
    annotations = { "eks.amazonaws.com/role-arn" = aws_iam_role.job.arn }
  }
  automount_service_account_token = true
}

# The driver creates, watches and deletes its executor pods (and their config maps) in the
# namespace, and nothing else.
resource "kubernetes_role_v1" "spark_driver" {
  metadata {
    name      = "spark-driver"
    namespace = kubernetes_namespace_v1.kairos.metadata[0].name
  }
  rule {
    api_groups = [""]
    resources  = ["pods", "configmaps", "persistentvolumeclaims", "services"]
    verbs      = ["create", "get", "list", "watch", "delete", "deletecollection", "patch"]
  }
}

resource "kubernetes_role_binding_v1" "spark_driver" {
  metadata {
    name      = "spark-driver"
    namespace = kubernetes_namespace_v1.kairos.metadata[0].name
  }
  role_ref {
    api_group = "rbac.authorization.k8s.io"
    kind      = "Role"
    name      = kubernetes_role_v1.spark_driver.metadata[0].name
  }
  subject {
    kind      = "ServiceAccount"
    name      = kubernetes_service_account_v1.spark.metadata[0].name
    namespace = kubernetes_namespace_v1.kairos.metadata[0].name
  }
}

resource "kubernetes_config_map_v1" "spark_defaults" {
  metadata {
    name      = "${local.connect_name}-conf"
    namespace = kubernetes_namespace_v1.kairos.metadata[0].name
  }
  data = {
    "spark-defaults.conf" = join("\n", [for k, v in local.spark_defaults : "${k} ${v}"])
  }
}

resource "kubernetes_deployment_v1" "connect" {
  #checkov:skip=CKV_K8S_43:The image is an input (var.image); pin it by digest there, as the variable's description asks.
  #checkov:skip=CKV_K8S_14:The image is an input (var.image); the prod composition requires a digest (spark_image's validation).
  metadata {
    name      = local.connect_name
    namespace = kubernetes_namespace_v1.kairos.metadata[0].name
    labels    = local.connect_label
  }
  spec {
    replicas = 1 # one Spark application: its executors and cached state belong to one driver
    strategy {
      type = "Recreate"
    }
    selector {
      match_labels = local.connect_label
    }
    template {
      metadata {
        labels = local.connect_label
      }
      spec {
        service_account_name            = kubernetes_service_account_v1.spark.metadata[0].name
        automount_service_account_token = true # the driver talks to the Kubernetes API
        security_context {
          run_as_non_root = true
          run_as_user     = 185 # the `spark` user of the Spark images
          fs_group        = 185
          seccomp_profile {
            type = "RuntimeDefault"
          }
        }
        container {
          name              = "connect"
          image             = var.image
          image_pull_policy = "Always"
          command           = ["python", "-m", "kairos.connect_server"]
          env {
            name  = "SPARK_CONF_DIR"
            value = "/opt/kairos/spark-conf"
          }
          env {
            name  = "KAIROS_SPARK_MASTER"
            value = local.in_cluster_master
          }
          env {
            name  = "KAIROS_SPARK_CONNECT_PORT"
            value = tostring(local.connect_port)
          }
          env {
            name  = "KAIROS_SPARK_DRIVER_MEMORY"
            value = var.driver_memory
          }
          env {
            name  = "KAIROS_SPARK_S3_JARS"
            value = "true"
          }
          env {
            name  = "KAIROS_AWS_REGION"
            value = data.aws_region.current.name
          }
          port {
            name           = "connect"
            container_port = local.connect_port
          }
          port {
            name           = "driver"
            container_port = local.driver_port
          }
          port {
            name           = "block-manager"
            container_port = local.block_port
          }
          resources {
            requests = { cpu = var.driver_cpu, memory = var.driver_pod_memory }
            limits   = { cpu = var.driver_cpu, memory = var.driver_pod_memory }
          }
          readiness_probe {
            tcp_socket {
              port = local.connect_port
            }
            initial_delay_seconds = 20
            period_seconds        = 10
          }
          liveness_probe {
            tcp_socket {
              port = local.connect_port
            }
            initial_delay_seconds = 120
            period_seconds        = 30
          }
          security_context {
            allow_privilege_escalation = false
            read_only_root_filesystem  = true
            run_as_non_root            = true
            capabilities {
              drop = ["ALL"]
            }
          }
          volume_mount {
            name       = "spark-conf"
            mount_path = "/opt/kairos/spark-conf"
            read_only  = true
          }
          volume_mount {
            name       = "scratch"
            mount_path = "/tmp" # Spark's local dirs, Ivy and Python's temporary files
          }
        }
        volume {
          name = "spark-conf"
          config_map {
            name = kubernetes_config_map_v1.spark_defaults.metadata[0].name
          }
        }
        volume {
          name = "scratch"
          empty_dir {}
        }
      }
    }
  }
}

# The executors' way back to the driver (spark.driver.host).
resource "kubernetes_service_v1" "driver" {
  metadata {
    name      = "${local.connect_name}-driver"
    namespace = kubernetes_namespace_v1.kairos.metadata[0].name
  }
  spec {
    cluster_ip = "None"
    selector   = local.connect_label
    port {
      name = "driver"
      port = local.driver_port
    }
    port {
      name = "block-manager"
      port = local.block_port
    }
  }
}

# Airflow's way in: an internal NLB on the Connect port, open only to the given CIDRs.
resource "kubernetes_service_v1" "connect" {
  metadata {
    name      = local.connect_name
    namespace = kubernetes_namespace_v1.kairos.metadata[0].name
    annotations = {
      "service.beta.kubernetes.io/aws-load-balancer-type"     = "nlb"
      "service.beta.kubernetes.io/aws-load-balancer-internal" = "true"
    }
  }
  spec {
    type                        = "LoadBalancer"
    selector                    = local.connect_label
    load_balancer_source_ranges = var.connect_allowed_cidrs
    port {
      name        = "connect"
      port        = local.connect_port
      target_port = local.connect_port
    }
  }
  wait_for_load_balancer = true
}
