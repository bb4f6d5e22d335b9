# ---------------------------------------------------------------------------
# SQL over the compacted tier (parquet/): a Glue database with one table per
# Parquet table, partition projection on year/month/day/hour (no crawler, no
# MSCK REPAIR), an Athena workgroup, and named queries.
#
# tables.json is `otelvault schema --dialect glue`: the writer's own columns.
# A test fails when it and the binary differ. queries/*.sql are the named
# queries, tested on Spark and DuckDB.

locals {
  sql_tables    = var.sql_tables ? jsondecode(file("${path.module}/tables.json")) : {}
  archive_root  = "s3://${local.bucket_name}/${var.prefix}"
  glue_database = coalesce(var.glue_database_name, replace(var.name, "-", "_"))
  named_queries = var.sql_tables ? {
    for file in fileset("${path.module}/queries", "*.sql") :
    trimsuffix(file, ".sql") => file("${path.module}/queries/${file}")
  } : {}
}

resource "aws_glue_catalog_database" "archive" {
  count       = var.sql_tables ? 1 : 0
  name        = local.glue_database
  description = "otelvault's compacted tier: ${local.archive_root}/parquet/"
  tags        = var.tags
}

resource "aws_glue_catalog_table" "archive" {
  for_each      = local.sql_tables
  name          = each.key
  database_name = aws_glue_catalog_database.archive[0].name
  description   = "One row per ${startswith(each.key, "otel_metrics_") ? "data point" : (each.key == "otel_logs" ? "log record" : "span")}; the partition columns are strings with leading zeros (month = '03')."
  table_type    = "EXTERNAL_TABLE"

  parameters = merge(each.value.projection, {
    EXTERNAL                    = "TRUE"
    classification              = "parquet"
    "projection.year.range"     = var.sql_projection_years
    "storage.location.template" = "${local.archive_root}/${each.value.projection["storage.location.template"]}"
  })

  dynamic "partition_keys" {
    for_each = each.value.partitions
    content {
      name = partition_keys.value
      type = "string"
    }
  }

  storage_descriptor {
    location      = "${local.archive_root}/parquet/${each.value.dir}/"
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

    ser_de_info {
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    }

    dynamic "columns" {
      for_each = each.value.columns
      content {
        name = columns.value.name
        type = columns.value.type
      }
    }
  }
}

resource "aws_athena_workgroup" "archive" {
  count         = var.sql_tables ? 1 : 0
  name          = var.name
  description   = "Queries over otelvault's compacted tier (${local.glue_database})."
  force_destroy = true
  tags          = var.tags

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.athena_bytes_scanned_cutoff

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location = "s3://${local.bucket_name}/${var.prefix}/athena-results/"
      encryption_configuration {
        encryption_option = var.kms_key_arn == null ? "SSE_S3" : "SSE_KMS"
        kms_key_arn       = var.kms_key_arn
      }
    }
  }
}

resource "aws_athena_named_query" "archive" {
  for_each    = local.named_queries
  name        = "${var.name}-${replace(each.key, "_", "-")}"
  description = substr(trimprefix(split("\n", each.value)[0], "-- "), 0, 1024)
  workgroup   = aws_athena_workgroup.archive[0].id
  database    = aws_glue_catalog_database.archive[0].name
  query       = each.value
}
