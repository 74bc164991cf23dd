################################################################################
# Cache processor: the Valkey/Redis cache it keeps (an ElastiCache Serverless cache the module
# creates, or the caller's endpoint), and the VPC attachment of the functions that run it.
#
# ElastiCache lives in a VPC: a function that runs `cache` gets vpc_config (cache_subnet_ids
# and cache_security_group_ids, or a security group created here), and from then on reaches
# the other AWS APIs it calls (DynamoDB for checkpoints, CloudWatch Logs, the other sinks of
# a combined function) only through VPC endpoints or a NAT gateway of those subnets
# (docs/cache.md). Serverless caches are encrypted in transit (TLS only) and at rest.
################################################################################

locals {
  run_cache = local.run.cache
  # The module creates the cache unless the caller brings its endpoint.
  create_cache_cluster = local.run_cache && var.cache_endpoint == null
  # The functions that run the cache processor are VPC-attached when subnets are named.
  cache_in_vpc = local.run_cache && length(var.cache_subnet_ids) > 0
  # Security groups created here when the caller names none: one for those functions, and
  # one for a created cache that admits only them.
  create_cache_security_groups = local.cache_in_vpc && length(var.cache_security_group_ids) == 0

  created_cache_endpoint = try(aws_elasticache_serverless_cache.this[0].endpoint[0], null)
  # CACHE_ENDPOINT: the brought one, or the created cache's address and port.
  cache_endpoint = !local.run_cache ? null : (
    var.cache_endpoint != null ? var.cache_endpoint : (
      local.created_cache_endpoint == null ? null : "${local.created_cache_endpoint.address}:${local.created_cache_endpoint.port}"
    )
  )
  # The cache's port: the brought endpoint's, or the created cache's (known after apply).
  cache_port = var.cache_endpoint != null ? tonumber(element(split(":", var.cache_endpoint), length(split(":", var.cache_endpoint)) - 1)) : try(local.created_cache_endpoint.port, null)

  cache_function_security_group_ids = length(var.cache_security_group_ids) > 0 ? var.cache_security_group_ids : aws_security_group.cache_functions[*].id
  cache_security_group_ids          = length(var.cache_security_group_ids) > 0 ? var.cache_security_group_ids : aws_security_group.cache[*].id

  # ARNs the ENI statements of processors.tf name (Lambda manages the functions' network
  # interfaces with the execution role: AWSLambdaVPCAccessExecutionRole's actions, scoped).
  cache_eni_arn = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:network-interface/*"
  cache_subnet_arns = [for s in var.cache_subnet_ids :
    "arn:${local.partition}:ec2:${local.region}:${local.account_id}:subnet/${s}"
  ]
  cache_security_group_arns = [for s in local.cache_function_security_group_ids :
    "arn:${local.partition}:ec2:${local.region}:${local.account_id}:security-group/${s}"
  ]
}

data "aws_subnet" "cache" {
  count = local.create_cache_security_groups ? 1 : 0

  id = var.cache_subnet_ids[0]
}

resource "aws_security_group" "cache_functions" {
  count = local.create_cache_security_groups ? 1 : 0

  name_prefix = "${var.name}-cache-functions-"
  description = "Functions of ${var.name} that run the cache processor: out to the cache and to HTTPS (AWS APIs through VPC endpoints or NAT)"
  vpc_id      = data.aws_subnet.cache[0].vpc_id

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_egress_rule" "cache_functions_https" {
  count = local.create_cache_security_groups ? 1 : 0

  security_group_id = aws_security_group.cache_functions[0].id
  description       = "AWS APIs (DynamoDB, CloudWatch Logs, Secrets Manager, other sinks) through VPC endpoints or NAT"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "cache_functions_cache" {
  count = local.create_cache_security_groups ? 1 : 0

  security_group_id = aws_security_group.cache_functions[0].id
  description       = "The cache's endpoint port"
  ip_protocol       = "tcp"
  # A created cache: its own security group; a brought one: anywhere in reach.
  from_port                    = local.cache_port
  to_port                      = local.cache_port
  referenced_security_group_id = local.create_cache_cluster ? aws_security_group.cache[0].id : null
  cidr_ipv4                    = local.create_cache_cluster ? null : "0.0.0.0/0"

  tags = var.tags
}

resource "aws_security_group" "cache" {
  count = local.create_cache_cluster && local.create_cache_security_groups ? 1 : 0

  name_prefix = "${var.name}-cache-"
  description = "The ElastiCache Serverless cache of ${var.name}: in from the cache processor's functions only"
  vpc_id      = data.aws_subnet.cache[0].vpc_id

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "cache_from_functions" {
  count = local.create_cache_cluster && local.create_cache_security_groups ? 1 : 0

  security_group_id            = aws_security_group.cache[0].id
  description                  = "The cache processor's functions"
  ip_protocol                  = "tcp"
  from_port                    = local.cache_port
  to_port                      = local.cache_port
  referenced_security_group_id = aws_security_group.cache_functions[0].id

  tags = var.tags
}

resource "aws_elasticache_serverless_cache" "this" {
  count = local.create_cache_cluster ? 1 : 0

  name                 = lower("${var.name}-cache")
  description          = "Cache of ${local.table_name} kept by the stream (dynamodb-triggers cache processor)"
  engine               = "valkey"
  major_engine_version = var.cache_major_engine_version
  # Serverless caches are always encrypted in transit (TLS only) and at rest; this key
  # replaces ElastiCache's default one.
  kms_key_id         = var.cache_kms_key_arn
  subnet_ids         = var.cache_subnet_ids
  security_group_ids = local.cache_security_group_ids

  tags = var.tags
}
