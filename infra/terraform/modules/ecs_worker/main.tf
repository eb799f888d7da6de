# One containerized worker on ECS Fargate: it listens on nothing and nothing comes in (the
# Kairos scheduler). Its tasks share the work among themselves.

module "task" {
  source                     = "../ecs_task"
  name                       = var.name
  vpc_id                     = var.vpc_id
  image                      = var.image
  command                    = var.command
  cpu                        = var.cpu
  memory                     = var.memory
  environment                = var.environment
  secrets                    = var.secrets
  scratch_path               = var.scratch_path
  task_policy_json           = var.task_policy_json
  kms_key_arn                = var.kms_key_arn
  log_retention_days         = var.log_retention_days
  security_group_description = "The ${var.name} tasks: nothing comes in"
  tags                       = var.tags
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
  tags = var.tags
}
