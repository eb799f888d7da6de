# One containerized HTTP service on ECS Fargate behind an HTTPS Application Load Balancer:
# used for the MLflow tracking server and for the Kairos serving API. The task itself (cluster,
# logs, roles, definition, security group) is modules/ecs_task.

module "task" {
  source                     = "../ecs_task"
  name                       = var.name
  vpc_id                     = var.vpc_id
  image                      = var.image
  command                    = var.command
  container_port             = var.container_port
  cpu                        = var.cpu
  memory                     = var.memory
  environment                = var.environment
  secrets                    = var.secrets
  scratch_path               = var.scratch_path
  task_policy_json           = var.task_policy_json
  kms_key_arn                = var.kms_key_arn
  log_retention_days         = var.log_retention_days
  security_group_description = "The ${var.name} tasks: from their load balancer only"
  tags                       = var.tags
}

moved {
  from = aws_ecs_cluster.this
  to   = module.task.aws_ecs_cluster.this
}

moved {
  from = aws_cloudwatch_log_group.this
  to   = module.task.aws_cloudwatch_log_group.this
}

moved {
  from = aws_iam_role.execution
  to   = module.task.aws_iam_role.execution
}

moved {
  from = aws_iam_role_policy_attachment.execution
  to   = module.task.aws_iam_role_policy_attachment.execution
}

moved {
  from = aws_iam_role_policy.secrets
  to   = module.task.aws_iam_role_policy.secrets
}

moved {
  from = aws_iam_role.task
  to   = module.task.aws_iam_role.task
}

moved {
  from = aws_iam_role_policy.task
  to   = module.task.aws_iam_role_policy.task
}

moved {
  from = aws_ecs_task_definition.this
  to   = module.task.aws_ecs_task_definition.this
}

moved {
  from = aws_security_group.task
  to   = module.task.aws_security_group.task
}

moved {
  from = aws_vpc_security_group_egress_rule.task_https
  to   = module.task.aws_vpc_security_group_egress_rule.task_https
}

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "HTTPS into the ${var.name} load balancer"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each          = toset(var.allowed_cidrs)
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from an allowed network"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the service's tasks"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = module.task.security_group_id
}

resource "aws_vpc_security_group_ingress_rule" "task_from_alb" {
  security_group_id            = module.task.security_group_id
  description                  = "From the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_lb" "this" {
  name                       = substr(var.name, 0, 32)
  load_balancer_type         = "application"
  internal                   = var.internal
  subnets                    = var.alb_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = true
  access_logs {
    bucket  = var.access_log_bucket
    prefix  = "alb/${var.name}"
    enabled = true
  }
  tags = var.tags
}

resource "aws_wafv2_web_acl_association" "this" {
  count        = var.web_acl_arn == null ? 0 : 1
  resource_arn = aws_lb.this.arn
  web_acl_arn  = var.web_acl_arn
}

resource "aws_lb_target_group" "this" {
  name        = substr(var.name, 0, 32)
  port        = var.container_port
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = var.vpc_id
  health_check {
    path    = var.health_path
    matcher = "200"
  }
  tags = var.tags
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }
  tags = var.tags
}

resource "aws_ecs_service" "this" {
  name            = var.name
  cluster         = module.task.cluster_id
  task_definition = module.task.task_definition_arn
  desired_count   = var.desired_count
  launch_type     = "FARGATE"
  network_configuration {
    subnets          = var.task_subnet_ids
    security_groups  = [module.task.security_group_id]
    assign_public_ip = false
  }
  load_balancer {
    target_group_arn = aws_lb_target_group.this.arn
    container_name   = "app"
    container_port   = var.container_port
  }
  depends_on = [aws_lb_listener.https]
  tags       = var.tags
}
