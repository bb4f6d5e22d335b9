//! `otelvault schema`: the SQL that declares the compacted tier's tables
//! for Athena, Spark or DuckDB (and Glue's JSON), and the named queries.

use anyhow::Context as _;
use clap::Args;

use crate::settings::StorageArgs;

/// `otelvault schema`: the compacted tier's tables as SQL.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The engine whose SQL to print; glue is the tables as JSON (name, directory, columns),
    /// as the terraform module declares them.
    #[arg(long, value_enum)]
    dialect: SchemaDialect,
    // The archive the tables read: s3://bucket/prefix, or a directory (Spark and DuckDB).
    #[command(flatten)]
    storage: StorageArgs,
    /// First and last year Athena's partition projection covers.
    #[arg(long, default_value = "2020,2050", value_parser = parse_years)]
    years: (u16, u16),
    /// Print the named queries (trace by id, error spans by service, …) after the tables.
    #[arg(long)]
    queries: bool,
}

/// A SQL engine, or Glue's JSON.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SchemaDialect {
    /// Athena (Trino) DDL with partition projection.
    Athena,
    /// Spark SQL (with Hive support): Athena's DDL, then MSCK REPAIR TABLE.
    Spark,
    /// DuckDB views over read_parquet.
    Duckdb,
    /// The tables as JSON, for terraform.
    Glue,
}

fn parse_years(text: &str) -> Result<(u16, u16), String> {
    let parsed = text
        .split_once(',')
        .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
    match parsed {
        Some((first, last)) if first <= last => Ok((first, last)),
        _ => Err(format!("{text:?} is not two years, first,last (2020,2050)")),
    }
}

/// Where the engine reads the archive: `s3://…` (and, for Spark and
/// DuckDB, any URL such as `s3a://…`) as it is; a directory as an absolute
/// path (DuckDB) or a `file://` URL (Spark). Athena reads S3 only.
fn sql_root(storage: &str, dialect: SchemaDialect) -> anyhow::Result<String> {
    let url = storage
        .split_once("://")
        .filter(|(scheme, _)| *scheme != "file");
    match (url, dialect) {
        (Some(("s3", _)), _) | (Some(_), SchemaDialect::Spark | SchemaDialect::Duckdb) => {
            return Ok(storage.trim_end_matches('/').to_owned());
        }
        _ => {}
    }
    let path = storage.strip_prefix("file://").unwrap_or(storage);
    if matches!(dialect, SchemaDialect::Athena) {
        anyhow::bail!(
            "Athena reads S3 only: give --storage s3://bucket/prefix (the archive's bucket and prefix)"
        );
    }
    let absolute = std::path::absolute(path)
        .with_context(|| format!("--storage {storage} is not a usable path"))?;
    let text = absolute.to_string_lossy().trim_end_matches('/').to_owned();
    Ok(match dialect {
        SchemaDialect::Spark => format!("file://{text}"),
        _ => text,
    })
}

#[allow(clippy::print_stdout)] // The command's output.
pub fn run(args: SchemaArgs) -> anyhow::Result<()> {
    use otelvault_parquet::sql;
    let dialect = match args.dialect {
        SchemaDialect::Glue => {
            println!("{:#}", sql::glue_tables(args.years)?);
            return Ok(());
        }
        SchemaDialect::Athena => sql::Dialect::Athena,
        SchemaDialect::Spark => sql::Dialect::Spark,
        SchemaDialect::Duckdb => sql::Dialect::DuckDb,
    };
    let root = sql_root(&args.storage.storage, args.dialect)?;
    // A directory can be looked at: tables without parts get empty views.
    let local = (!root.contains("://")).then(|| std::path::PathBuf::from(&root));
    let has_parts = |table: &otelvault_parquet::Table| {
        local
            .as_ref()
            .is_none_or(|root| holds_parquet(&root.join("parquet").join(table.dir)))
    };
    print!("{}", sql::ddl_with(dialect, &root, args.years, has_parts)?);
    if args.queries {
        for (name, text) in sql::QUERIES {
            println!(
                "-- Named query {name}:
{};
",
                text.trim_end()
            );
        }
    }
    Ok(())
}

/// Whether `dir` holds a Parquet file, at any depth.
fn holds_parquet(dir: &std::path::Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => holds_parquet(&path),
            Ok(t) if t.is_file() => path.extension().is_some_and(|e| e == "parquet"),
            _ => false,
        }
    })
}
