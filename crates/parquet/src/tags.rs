//! An hour's tag index (`otel_trace_tags`, written by [`crate::index`])
//! read back: the attribute names of the hour, by scope, with their most
//! frequent values, so that a list of tags reads one small object per hour
//! instead of every span.

use arrow_array::cast::AsArray as _;
use arrow_array::{BooleanArray, RecordBatch, StringArray};
use futures::StreamExt as _;
use parquet::arrow::ProjectionMask;
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;

use crate::CompactError;
use crate::scan::{PartFile, failed};

/// One row of a tag index: a value of an attribute name in a scope.
#[derive(Debug, Clone, Copy)]
pub struct Tag<'a> {
    /// `resource`, `span`, `event`, `log` or `point`.
    pub scope: &'a str,
    /// The attribute's name.
    pub key: &'a str,
    /// A value, as text.
    pub value: &'a str,
    /// Its type: `string`, `int`, `float`, `bool`, or the OTLP kind of
    /// the others (`array`, `kvlist`, `bytes`, …).
    pub kind: &'a str,
    /// The name had more values in the hour than the index keeps.
    pub truncated: bool,
}

/// The batches of an hour's tag index: with `key`, the rows of that name
/// only (row groups its bloom filter rules out are skipped).
pub async fn read_tags(
    part: PartFile,
    key: Option<&str>,
) -> Result<Vec<RecordBatch>, CompactError> {
    let name = part.key.clone();
    let failed = |e| failed(&name, e);
    let mut builder = ParquetRecordBatchStreamBuilder::new(part)
        .await
        .map_err(failed)?;
    let wanted = ["Scope", "Key", "Value", "Type", "Truncated"];
    let roots = wanted
        .iter()
        .map(|name| {
            builder
                .schema()
                .index_of(name)
                .map_err(|_| schema(format!("no column {name}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(key) = key {
        let metadata = std::sync::Arc::clone(builder.metadata());
        let leaf = metadata
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .position(|c| c.path().string() == "Key")
            .ok_or_else(|| schema("no column Key".to_owned()))?;
        let mut groups = Vec::new();
        for group in 0..metadata.num_row_groups() {
            if let Some(bloom) = builder
                .get_row_group_column_bloom_filter(group, leaf)
                .await
                .map_err(failed)?
                && !bloom.check(key)
            {
                continue;
            }
            groups.push(group);
        }
        builder = builder.with_row_groups(groups);
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let mut stream = builder.with_projection(mask).build().map_err(failed)?;
    let mut batches = Vec::new();
    while let Some(batch) = stream.next().await {
        batches.push(batch.map_err(failed)?);
    }
    Ok(batches)
}

/// Hands each row of `batch`, a batch of [`read_tags`], to `each`.
pub fn visit_tags(batch: &RecordBatch, mut each: impl FnMut(&Tag<'_>)) -> Result<(), CompactError> {
    let text = |name: &str| -> Result<&StringArray, CompactError> {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| schema(format!("{name} is not a string column")))
    };
    let (scopes, keys, values, kinds) =
        (text("Scope")?, text("Key")?, text("Value")?, text("Type")?);
    let truncated: &BooleanArray = batch
        .column_by_name("Truncated")
        .and_then(|c| c.as_boolean_opt())
        .ok_or_else(|| schema("Truncated is not a boolean column".to_owned()))?;
    for i in 0..batch.num_rows() {
        each(&Tag {
            scope: scopes.value(i),
            key: keys.value(i),
            value: values.value(i),
            kind: kinds.value(i),
            truncated: truncated.value(i),
        });
    }
    Ok(())
}

fn schema(problem: String) -> CompactError {
    CompactError::Schema {
        table: "otel_trace_tags",
        problem,
    }
}
