//! The tables of the compacted tier as SQL: the DDL that points Athena
//! (Trino), Spark or DuckDB at an archive, and the Glue columns terraform
//! declares. Every column comes from the writer's own schema
//! ([`Table::schema`]), so the declarations cannot drift from the files.
//!
//! One DDL is written, Athena's (Hive DDL, which Spark parses too); the
//! other dialects change only what they must:
//! - Spark has no partition projection: each table is followed by
//!   `MSCK REPAIR TABLE`, which finds the hour directories.
//! - DuckDB has no Hive DDL: each table is a view over `read_parquet` with
//!   the same columns, and `approx_percentile` (Trino's and Spark's name)
//!   is a macro over DuckDB's `approx_quantile`.

use arrow_schema::DataType;
use serde_json::json;

use crate::{CompactError, Table, all_tables};

macro_rules! query {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!(
                "../../../terraform/modules/otelvault/queries/",
                $name,
                ".sql"
            )),
        )
    };
}

/// The partition columns, from the directory names (`year=2024/…`), as
/// strings with leading zeros (`month = '03'`).
pub const PARTITIONS: [&str; 4] = ["year", "month", "day", "hour"];

/// The named queries terraform saves in Athena, by name: Trino SQL with
/// `?` parameters, which Spark and DuckDB run as they are over the tables
/// [`ddl`] declares. Each starts with a comment saying what it answers and
/// its parameters.
pub const QUERIES: [(&str, &str); 7] = [
    query!("trace_by_id"),
    query!("error_spans_by_service"),
    query!("p99_duration_by_span_name"),
    query!("log_search"),
    query!("metric_points"),
    query!("slowest_traces"),
    query!("span_tag_values"),
];

/// An engine's SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Athena (Trino) with Glue: Hive DDL with partition projection.
    Athena,
    /// Spark SQL with a Hive metastore: the same DDL, then
    /// `MSCK REPAIR TABLE`.
    Spark,
    /// DuckDB: views over `read_parquet` with hive partitioning.
    DuckDb,
}

/// A column as the engines declare it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Its name in the Parquet files.
    pub name: String,
    /// Its Hive type (Athena, Glue, Spark).
    pub hive: String,
    /// Its DuckDB type.
    pub duckdb: String,
    /// Whether DuckDB reads it as another type than `duckdb` (an unsigned
    /// column) and the view casts it.
    pub duckdb_cast: bool,
}

/// The columns of `table`, in file order, from the writer's schema.
pub fn columns(table: &Table) -> Result<Vec<Column>, CompactError> {
    table
        .schema()?
        .fields()
        .iter()
        .map(|field| {
            let types = hive(field.data_type()).zip(duckdb(field.data_type()));
            let (hive, duckdb) = types.ok_or_else(|| CompactError::Schema {
                table: table.name,
                problem: format!(
                    "{} is a {} column, which has no SQL type here",
                    field.name(),
                    field.data_type()
                ),
            })?;
            Ok(Column {
                name: field.name().clone(),
                hive,
                duckdb,
                duckdb_cast: field.data_type() == &DataType::UInt32,
            })
        })
        .collect()
}

fn hive(data_type: &DataType) -> Option<String> {
    Some(match data_type {
        DataType::Utf8 => "string".into(),
        DataType::Binary => "binary".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int32 => "int".into(),
        // Unsigned 32-bit Parquet columns read as bigint everywhere.
        DataType::Int64 | DataType::UInt32 => "bigint".into(),
        DataType::Float64 => "double".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::List(item) => format!("array<{}>", hive(item.data_type())?),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(fields) if fields.len() == 2 => format!(
                "map<{},{}>",
                hive(fields[0].data_type())?,
                hive(fields[1].data_type())?
            ),
            _ => return None,
        },
        _ => return None,
    })
}

fn duckdb(data_type: &DataType) -> Option<String> {
    Some(match data_type {
        DataType::Utf8 => "VARCHAR".into(),
        DataType::Binary => "BLOB".into(),
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int32 => "INTEGER".into(),
        DataType::Int64 | DataType::UInt32 => "BIGINT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Timestamp(_, Some(_)) => "TIMESTAMPTZ".into(),
        DataType::Timestamp(_, None) => "TIMESTAMP".into(),
        DataType::List(item) => format!("{}[]", duckdb(item.data_type())?),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(fields) if fields.len() == 2 => format!(
                "MAP({}, {})",
                duckdb(fields[0].data_type())?,
                duckdb(fields[1].data_type())?
            ),
            _ => return None,
        },
        _ => return None,
    })
}

/// Where a table's parts are, under an archive at `root` (`s3://bucket/prefix`,
/// `file:///path`, or a path for DuckDB): `{root}/parquet/{dir}/`.
pub fn location(root: &str, table: &Table) -> String {
    format!("{}/parquet/{}/", root.trim_end_matches('/'), table.dir)
}

/// The statements that declare every table of an archive at `root`, in
/// `dialect`, each ending with `;` on a line of its own. `years` bounds
/// Athena's partition projection (first and last year, inclusive).
pub fn ddl(dialect: Dialect, root: &str, years: (u16, u16)) -> Result<String, CompactError> {
    ddl_with(dialect, root, years, |_| true)
}

/// [`ddl`], told which tables have parts yet: DuckDB binds a view's files
/// when it is created and refuses a pattern that matches none, so a table
/// without parts (often summaries and histograms) becomes an empty view
/// with its columns, and the script runs whole on any archive. Athena and
/// Spark read an empty location as an empty table.
pub fn ddl_with(
    dialect: Dialect,
    root: &str,
    years: (u16, u16),
    has_parts: impl Fn(&Table) -> bool,
) -> Result<String, CompactError> {
    let mut out = String::new();
    if dialect == Dialect::DuckDb {
        out.push_str(
            "-- Trino's and Spark's name for an approximate percentile, as the named queries use it.\n\
             CREATE OR REPLACE MACRO approx_percentile(x, p) AS approx_quantile(x, p);\n\n",
        );
    }
    for table in all_tables() {
        let columns = columns(table)?;
        let location = location(root, table);
        match dialect {
            Dialect::Athena | Dialect::Spark => {
                out.push_str(&hive_table(table, &columns, &location, years));
                if dialect == Dialect::Spark {
                    out.push_str(&format!("MSCK REPAIR TABLE {};\n", table.name));
                }
            }
            Dialect::DuckDb if has_parts(table) => {
                out.push_str(&duckdb_view(table, &columns, &location));
            }
            Dialect::DuckDb => out.push_str(&duckdb_empty_view(table, &columns)),
        }
        out.push('\n');
    }
    Ok(out)
}

fn hive_table(table: &Table, columns: &[Column], location: &str, years: (u16, u16)) -> String {
    let declared: Vec<String> = columns
        .iter()
        .map(|c| format!("  `{}` {}", c.name, c.hive))
        .collect();
    let partitions: Vec<String> = PARTITIONS.iter().map(|p| format!("`{p}` string")).collect();
    let properties: Vec<String> = projection(location, years)
        .into_iter()
        .map(|(k, v)| format!("  '{k}' = '{v}'"))
        .collect();
    format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS {name} (\n{columns}\n)\n\
         PARTITIONED BY ({partitions})\n\
         STORED AS PARQUET\n\
         LOCATION '{location}'\n\
         TBLPROPERTIES (\n{properties}\n);\n",
        name = table.name,
        columns = declared.join(",\n"),
        partitions = partitions.join(", "),
        properties = properties.join(",\n"),
    )
}

/// Athena's partition projection over the hour directories under
/// `location`: no crawler, no `MSCK REPAIR`.
pub fn projection(location: &str, years: (u16, u16)) -> Vec<(String, String)> {
    let mut out = vec![("projection.enabled".to_owned(), "true".to_owned())];
    let ranges = [
        ("year", format!("{},{}", years.0, years.1), 4),
        ("month", "1,12".to_owned(), 2),
        ("day", "1,31".to_owned(), 2),
        ("hour", "0,23".to_owned(), 2),
    ];
    for (column, range, digits) in ranges {
        out.push((format!("projection.{column}.type"), "integer".to_owned()));
        out.push((format!("projection.{column}.range"), range));
        out.push((format!("projection.{column}.digits"), digits.to_string()));
    }
    out.push((
        "storage.location.template".to_owned(),
        format!("{location}year=${{year}}/month=${{month}}/day=${{day}}/hour=${{hour}}/"),
    ));
    out
}

fn duckdb_view(table: &Table, columns: &[Column], location: &str) -> String {
    let selected: Vec<String> = columns
        .iter()
        .map(|c| match c.duckdb_cast {
            true => format!("  CAST(\"{0}\" AS {1}) AS \"{0}\"", c.name, c.duckdb),
            false => format!("  \"{}\"", c.name),
        })
        .chain(PARTITIONS.iter().map(|p| format!("  {p}")))
        .collect();
    let types: Vec<String> = PARTITIONS
        .iter()
        .map(|p| format!("'{p}': VARCHAR"))
        .collect();
    format!(
        "CREATE OR REPLACE VIEW {name} AS SELECT\n{columns}\n\
         FROM read_parquet('{location}year=*/month=*/day=*/hour=*/*.parquet', \
         hive_partitioning = true, hive_types = {{{types}}});\n",
        name = table.name,
        columns = selected.join(",\n"),
        types = types.join(", "),
    )
}

/// A view of `table` with its columns and no rows, for a table with no
/// parts yet; re-run `otelvault schema` once it has some.
fn duckdb_empty_view(table: &Table, columns: &[Column]) -> String {
    let selected: Vec<String> = columns
        .iter()
        .map(|c| format!("  CAST(NULL AS {1}) AS \"{0}\"", c.name, c.duckdb))
        .chain(
            PARTITIONS
                .iter()
                .map(|p| format!("  CAST(NULL AS VARCHAR) AS {p}")),
        )
        .collect();
    format!(
        "-- {name}: no parts yet (compact ended hours, then run otelvault schema again); empty until then.\n\
         CREATE OR REPLACE VIEW {name} AS SELECT\n{columns}\nWHERE false;\n",
        name = table.name,
        columns = selected.join(",\n"),
    )
}

/// The tables as terraform declares them in Glue: name → directory under
/// `parquet/`, columns (name, Hive type), partition columns, and the
/// partition projection (its years and locations relative to the archive's
/// root, which terraform sets).
pub fn glue_tables(years: (u16, u16)) -> Result<serde_json::Value, CompactError> {
    let mut tables = serde_json::Map::new();
    for table in all_tables() {
        let columns: Vec<_> = columns(table)?
            .into_iter()
            .map(|c| json!({"name": c.name, "type": c.hive}))
            .collect();
        let projection: serde_json::Map<String, serde_json::Value> =
            projection(&location("", table)[1..], years)
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect();
        tables.insert(
            table.name.to_owned(),
            json!({
                "dir": table.dir,
                "columns": columns,
                "partitions": PARTITIONS,
                "projection": projection,
            }),
        );
    }
    Ok(serde_json::Value::Object(tables))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duckdb_table_without_parts_is_an_empty_view_with_its_columns() {
        let script = ddl_with(Dialect::DuckDb, "/archive", (2024, 2030), |t| {
            t.name == "otel_traces"
        })
        .expect("ddl");
        assert_eq!(script.matches("read_parquet(").count(), 1, "{script}");
        assert_eq!(
            script.matches("WHERE false;").count(),
            all_tables().count() - 1
        );
        assert!(script.contains("CAST(NULL AS VARCHAR) AS \"ServiceName\""));
        assert!(script.contains("CAST(NULL AS VARCHAR) AS year"));
    }

    #[test]
    fn every_table_has_sql_columns_that_start_with_service_and_time() {
        for table in &crate::TABLES {
            let columns = columns(table).expect("columns");
            assert_eq!(columns[0].name, "ServiceName", "{}", table.name);
            assert_eq!(columns[1].name, table.time_column, "{}", table.name);
            assert_eq!(columns[1].hive, "timestamp");
            assert!(
                columns.iter().any(|c| c.hive == "map<string,string>"),
                "{}",
                table.name
            );
        }
        let traces = columns(&crate::TABLES[0]).expect("columns");
        let duration = traces
            .iter()
            .find(|c| c.name == "Duration")
            .expect("Duration");
        assert_eq!(
            (duration.hive.as_str(), duration.duckdb.as_str()),
            ("bigint", "BIGINT")
        );
        let events = traces
            .iter()
            .find(|c| c.name == "Events.Timestamp")
            .expect("Events.Timestamp");
        assert_eq!(events.hive, "array<timestamp>");
        assert_eq!(events.duckdb, "TIMESTAMPTZ[]");
    }

    #[test]
    fn athena_ddl_projects_hour_partitions_under_each_table() {
        let ddl = ddl(Dialect::Athena, "s3://bucket/pre", (2024, 2030)).expect("ddl");
        assert_eq!(
            ddl.matches("CREATE EXTERNAL TABLE").count(),
            all_tables().count()
        );
        assert!(ddl.contains("LOCATION 's3://bucket/pre/parquet/trace_summaries/'"));
        assert!(ddl.contains("LOCATION 's3://bucket/pre/parquet/tags/logs/'"));
        assert!(ddl.contains("LOCATION 's3://bucket/pre/parquet/metrics/gauge/'"));
        assert!(ddl.contains(
            "'storage.location.template' = 's3://bucket/pre/parquet/traces/year=${year}/month=${month}/day=${day}/hour=${hour}/'"
        ));
        assert!(ddl.contains("'projection.year.range' = '2024,2030'"));
        assert!(!ddl.contains("MSCK"));
        let spark = super::ddl(Dialect::Spark, "s3://bucket/pre", (2024, 2030)).expect("ddl");
        assert_eq!(
            spark.matches("MSCK REPAIR TABLE").count(),
            all_tables().count()
        );
    }
}
