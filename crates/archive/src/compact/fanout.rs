//! Compaction fanned out across processes: on AWS, one invocation of the
//! compaction function plans and others (its workers) compact.
//!
//! The planner cuts each hour's new raw objects into shards of about a
//! given size in stored bytes and records them in a plan
//! (`parquet/{signal}/…/hour=HH/_plan.json`), which also fixes each
//! object's number in the manifest to come. A worker compacts one shard:
//! it writes the shard's parts (named after the plan and the shard, so a
//! retried worker rewrites the same objects), then the shard's index state
//! and, last, its marker (`_shards/{plan}/{shard}.json`, naming its parts).
//! The worker that finds every marker of its plan written commits the
//! hour: it writes the manifest, naming every shard's parts, and removes
//! the plan. Commits and plans are made under the archive's lease (see
//! [`crate::Lease`]), so that one manifest is written per plan; a commit
//! that finds the lease taken is left to the next planner run, which
//! commits every plan whose shards are all done and hands out again the
//! shards of any plan that are not (a worker that crashed or timed out).
//! A shard compacted twice writes the same parts. Raw objects are deleted
//! (with `delete_raw`) by the planner, once a manifest covers them.

use std::collections::HashSet;

use bytes::Bytes;
use futures::FutureExt as _;
use futures::future::BoxFuture;
use otelvault_codec::Signal;
use otelvault_parquet::CompactError;
use otelvault_parquet::index::HourIndexes;
use otelvault_storage::{KeyPrefix, ObjectKey, ObjectStore, StorageError, list_all};
use serde_json::{Value, json};

use super::{
    CompactOptions, HourReport, ManifestPart, Outcome, RawObject, Shards, append_parts,
    compact_listed, hour_prefix, hours_with_data, key, list_raw, numbered, put_json, read_manifest,
    remove_unlisted_parts, run_under_lease, split_new, storage, write_indexes,
};
use crate::lease::Lease;
use crate::tier::HOUR;
use crate::{PartitionKey, content_id};

/// The plan's version this release writes.
const PLAN_VERSION: u64 = 1;

/// How many times the planner, or a worker about to commit, tries the
/// lease (which commits hold for a moment) before giving up, and how long
/// it waits between.
const LEASE_TRIES: u32 = 10;
const LEASE_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// The archive's lease, tried [`LEASE_TRIES`] times while another holds
/// it; the last `Busy` error when it stays taken (a compaction in one
/// process holds it for its whole run).
async fn patient_lease(store: &dyn ObjectStore) -> Result<Lease, CompactError> {
    let mut tries = 1;
    loop {
        match Lease::acquire(store).await {
            Err(CompactError::Busy { .. }) if tries < LEASE_TRIES => {
                tries += 1;
                tokio::time::sleep(LEASE_WAIT).await;
            }
            taken => return taken,
        }
    }
}

/// One shard of a planned hour: what a worker is handed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardTask {
    /// The signal.
    pub signal: Signal,
    /// Start of the hour, unix nanoseconds.
    pub hour: u64,
    /// The plan's id.
    pub plan: String,
    /// The shard's number in the plan.
    pub shard: usize,
}

impl ShardTask {
    /// The event a worker invocation is sent.
    pub fn to_event(&self) -> Value {
        json!({"compact_shard": {
            "signal": self.signal.as_str(),
            "hour": self.hour.to_string(),
            "plan": self.plan,
            "shard": self.shard,
        }})
    }

    /// The task of a worker's event; `None` when the event is not one.
    pub fn from_event(event: &Value) -> Option<Result<ShardTask, String>> {
        let task = event.get("compact_shard")?;
        let parsed = (|| {
            let signal = task["signal"]
                .as_str()
                .and_then(|s| Signal::ALL.into_iter().find(|signal| signal.as_str() == s))
                .ok_or("signal: expected traces, metrics or logs")?;
            let hour: u64 = task["hour"]
                .as_str()
                .and_then(|h| h.parse().ok())
                .filter(|h| h % HOUR == 0)
                .ok_or("hour: expected the start of an hour in unix nanoseconds, as text")?;
            let plan = task["plan"]
                .as_str()
                .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or("plan: expected a plan id")?
                .to_owned();
            let shard = task["shard"]
                .as_u64()
                .and_then(|s| usize::try_from(s).ok())
                .ok_or("shard: expected a shard number")?;
            Ok(ShardTask {
                signal,
                hour,
                plan,
                shard,
            })
        })();
        Some(parsed.map_err(|e: &str| format!("compact_shard: {e}: {task}")))
    }
}

/// An hour's plan: the raw objects of each shard (key and stored bytes),
/// numbered in the manifest from `base` on, shard after shard.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    id: String,
    base: usize,
    shards: Vec<Vec<(String, u64)>>,
}

impl Plan {
    fn to_json(&self, signal: Signal, hour: u64) -> String {
        json!({
            "version": PLAN_VERSION,
            "signal": signal.as_str(),
            "hour": hour.to_string(),
            "plan": self.id,
            "base": self.base,
            "shards": self.shards.iter().map(|objects| {
                objects.iter().map(|(key, bytes)| json!({"key": key, "bytes": bytes})).collect::<Vec<_>>()
            }).collect::<Vec<_>>(),
        })
        .to_string()
    }

    fn parse(bytes: &[u8]) -> Option<Plan> {
        let value: Value = serde_json::from_slice(bytes).ok()?;
        if value["version"].as_u64()? != PLAN_VERSION {
            return None;
        }
        let shards = value["shards"]
            .as_array()?
            .iter()
            .map(|objects| {
                objects
                    .as_array()?
                    .iter()
                    .map(|o| Some((o["key"].as_str()?.to_owned(), o["bytes"].as_u64()?)))
                    .collect::<Option<Vec<_>>>()
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Plan {
            id: value["plan"].as_str()?.to_owned(),
            base: usize::try_from(value["base"].as_u64()?).ok()?,
            shards,
        })
    }

    /// Every object of the plan, in order.
    fn keys(&self) -> impl Iterator<Item = &str> {
        self.shards.iter().flatten().map(|(key, _)| key.as_str())
    }
}

fn plan_key(signal: Signal, hour: u64) -> Result<ObjectKey, CompactError> {
    key(format!("{}_plan.json", hour_prefix(signal, hour)))
}

/// Where the markers and index states of a plan's shards are.
fn shards_dir(signal: Signal, hour: u64, plan: &str) -> String {
    format!("{}_shards/{plan}/", hour_prefix(signal, hour))
}

fn marker_key(
    signal: Signal,
    hour: u64,
    plan: &str,
    shard: usize,
) -> Result<ObjectKey, CompactError> {
    key(format!("{}{shard:04}.json", shards_dir(signal, hour, plan)))
}

fn state_key(
    signal: Signal,
    hour: u64,
    plan: &str,
    shard: usize,
) -> Result<ObjectKey, CompactError> {
    key(format!(
        "{}{shard:04}.index.json",
        shards_dir(signal, hour, plan)
    ))
}

/// The run name of a shard's parts.
fn part_run(plan: &str, shard: usize) -> String {
    format!("{plan}s{shard:04}")
}

/// An object's bytes, or `None` when it does not exist.
async fn get_json(store: &dyn ObjectStore, key: &ObjectKey) -> Result<Option<Bytes>, CompactError> {
    match store.get(key).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(StorageError::NotFound { .. }) => Ok(None),
        Err(e) => Err(storage(format!("reading {key}"))(e)),
    }
}

async fn read_plan(
    store: &dyn ObjectStore,
    signal: Signal,
    hour: u64,
) -> Result<Option<Plan>, CompactError> {
    let key = plan_key(signal, hour)?;
    Ok(get_json(store, &key)
        .await?
        .and_then(|bytes| Plan::parse(&bytes)))
}

/// The shards of `plan` whose markers are written.
async fn done_shards(
    store: &dyn ObjectStore,
    signal: Signal,
    hour: u64,
    plan: &str,
) -> Result<HashSet<usize>, CompactError> {
    let dir = shards_dir(signal, hour, plan);
    let prefix = KeyPrefix::new(dir.as_str()).map_err(storage(format!("listing {dir}")))?;
    let listed = list_all(store, &prefix)
        .await
        .map_err(storage(format!("listing {dir}")))?;
    Ok(listed
        .iter()
        .filter_map(|meta| {
            let name = meta.key.as_str().strip_prefix(dir.as_str())?;
            name.strip_suffix(".json")?.parse().ok()
        })
        .collect())
}

/// Removes a plan and everything its shards handed on (their parts stay:
/// the manifest names them, or the next compaction of the hour removes
/// them).
async fn remove_plan(
    store: &dyn ObjectStore,
    signal: Signal,
    hour: u64,
    plan: &str,
) -> Result<(), CompactError> {
    let dir = shards_dir(signal, hour, plan);
    let prefix = KeyPrefix::new(dir.as_str()).map_err(storage(format!("listing {dir}")))?;
    for meta in list_all(store, &prefix)
        .await
        .map_err(storage(format!("listing {dir}")))?
    {
        store
            .delete(&meta.key)
            .await
            .map_err(storage(format!("deleting {}", meta.key)))?;
    }
    let key = plan_key(signal, hour)?;
    match store.delete(&key).await {
        Ok(()) | Err(StorageError::NotFound { .. }) => Ok(()),
        Err(e) => Err(storage(format!("deleting {key}"))(e)),
    }
}

/// Plans every hour of `[start, end)` of every signal (see the module
/// documentation), calling `each` with each hour's report: hours that need
/// no worker (up to date, or written by an earlier release) are compacted
/// here, and plans whose shards are all done are committed. Returns the
/// shards to hand to workers: those of new plans and those of earlier
/// plans not done yet. Holds the archive's lease while it runs.
pub async fn plan_range(
    store: &dyn ObjectStore,
    start: u64,
    end: u64,
    options: CompactOptions,
    shard_bytes: u64,
    mut each: impl FnMut(&HourReport),
) -> Result<Vec<ShardTask>, CompactError> {
    let hours = hours_with_data(store, start, end).await?;
    if hours.is_empty() {
        return Ok(Vec::new());
    }
    let lease = match options.dry_run {
        true => None,
        false => Some(patient_lease(store).await?),
    };
    let shards = Shards::of(&options);
    let jobs: Vec<BoxFuture<'_, Result<Planned, CompactError>>> = hours
        .iter()
        .flat_map(|hour| Signal::ALL.map(|signal| (*hour, signal)))
        .map(|(hour, signal)| plan_hour(store, signal, hour, options, shard_bytes, &shards).boxed())
        .collect();
    let mut tasks = Vec::new();
    // Commits of large hours take a while: the lease is renewed as it goes.
    run_under_lease(store, lease, jobs, shards.at_once, |(report, handed)| {
        each(&report);
        tasks.extend(handed);
    })
    .await?;
    Ok(tasks)
}

/// An hour planned: its report, and the shards to hand out.
type Planned = (HourReport, Vec<ShardTask>);

/// Plans one hour: its report, and the shards to hand out.
async fn plan_hour(
    store: &dyn ObjectStore,
    signal: Signal,
    hour: u64,
    options: CompactOptions,
    shard_bytes: u64,
    shards: &Shards,
) -> Result<Planned, CompactError> {
    let prefix = hour_prefix(signal, hour);
    let manifest_key = key(format!("{prefix}_manifest.json"))?;
    let previous = read_manifest(store, &manifest_key, &prefix).await?;
    let covered = previous.as_ref().map_or(0, |m| m.raw.len());
    if let Some(plan) = read_plan(store, signal, hour).await? {
        if plan.base == covered {
            let done = done_shards(store, signal, hour, &plan.id).await?;
            if done.len() >= plan.shards.len() {
                if options.dry_run {
                    return Ok((
                        planned_report(signal, hour, &plan, Outcome::WouldCompact),
                        Vec::new(),
                    ));
                }
                if let Some(report) = commit(store, signal, hour, &plan, options.delete_raw).await?
                {
                    return Ok((report, Vec::new()));
                }
            }
            // Shards whose workers failed or have not finished yet: handed
            // out again (a shard compacted twice writes the same parts).
            let tasks = (0..plan.shards.len())
                .filter(|shard| !done.contains(shard))
                .map(|shard| ShardTask {
                    signal,
                    hour,
                    plan: plan.id.clone(),
                    shard,
                })
                .collect();
            return Ok((planned_report(signal, hour, &plan, Outcome::Planned), tasks));
        }
        // Committed meanwhile, or overtaken by a compaction in one process.
        if !options.dry_run {
            remove_plan(store, signal, hour, &plan.id).await?;
        }
    }
    let raw = list_raw(store, signal, hour).await?;
    let (new, _) = split_new(&raw, previous.as_ref());
    let old_format = previous
        .as_ref()
        .is_some_and(|m| m.version < super::MANIFEST_VERSION && !m.parts.is_empty());
    if new.is_empty() || old_format {
        // Nothing for workers: up to date (raw objects a manifest covers
        // are deleted here), or rewritten here in today's format.
        let report = compact_listed(store, signal, hour, options, shards, raw, previous).await?;
        return Ok((report, Vec::new()));
    }
    let mut cut: Vec<Vec<(String, u64)>> = vec![Vec::new()];
    let mut filled = 0;
    for (object, _, size) in &new {
        if filled >= shard_bytes.max(1)
            && let Some(last) = cut.last()
            && !last.is_empty()
        {
            cut.push(Vec::new());
            filled = 0;
        }
        if let Some(last) = cut.last_mut() {
            last.push((object.as_str().to_owned(), *size));
        }
        filled += size;
    }
    let keys: Vec<&str> = new.iter().map(|(k, _, _)| k.as_str()).collect();
    let plan = Plan {
        id: content_id(format!("plan of {covered}\n{}", keys.join("\n")).as_bytes()),
        base: covered,
        shards: cut,
    };
    numbered(plan.base, keys.len())?;
    if options.dry_run {
        return Ok((
            planned_report(signal, hour, &plan, Outcome::WouldCompact),
            Vec::new(),
        ));
    }
    put_json(
        store,
        &plan_key(signal, hour)?,
        plan.to_json(signal, hour).into_bytes(),
    )
    .await?;
    let tasks = (0..plan.shards.len())
        .map(|shard| ShardTask {
            signal,
            hour,
            plan: plan.id.clone(),
            shard,
        })
        .collect();
    Ok((planned_report(signal, hour, &plan, Outcome::Planned), tasks))
}

/// The report of an hour planned (or that would be): its objects, their
/// bytes and its shards.
fn planned_report(signal: Signal, hour: u64, plan: &Plan, outcome: Outcome) -> HourReport {
    HourReport {
        signal,
        hour,
        outcome,
        raw_objects: plan.keys().count(),
        raw_bytes: plan.shards.iter().flatten().map(|(_, bytes)| bytes).sum(),
        unreadable: Vec::new(),
        rows: 0,
        parts: 0,
        parquet_bytes: 0,
        deleted_raw: 0,
        upgraded_parts: 0,
        shards: plan.shards.len(),
    }
}

/// What a worker did with its shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardReport {
    /// False when the plan was done with (committed, or overtaken) before
    /// the shard was compacted: nothing was written.
    pub compacted: bool,
    /// Raw objects of the shard.
    pub raw_objects: usize,
    /// Their stored bytes.
    pub raw_bytes: u64,
    /// Rows written.
    pub rows: usize,
    /// Parts written.
    pub parts: usize,
    /// Their bytes.
    pub parquet_bytes: u64,
    /// Objects that could not be decoded.
    pub unreadable: Vec<String>,
    /// The hour, when this worker committed it (its shard was the last).
    pub committed: Option<HourReport>,
}

/// Compacts one shard of a plan (a worker's job; see the module
/// documentation). Idempotent: a shard compacted again writes the same
/// objects.
pub async fn compact_shard(
    store: &dyn ObjectStore,
    task: &ShardTask,
    options: CompactOptions,
) -> Result<ShardReport, CompactError> {
    let (signal, hour) = (task.signal, task.hour);
    let mut report = ShardReport {
        compacted: false,
        raw_objects: 0,
        raw_bytes: 0,
        rows: 0,
        parts: 0,
        parquet_bytes: 0,
        unreadable: Vec::new(),
        committed: None,
    };
    let Some(plan) = read_plan(store, signal, hour)
        .await?
        .filter(|p| p.id == task.plan)
    else {
        return Ok(report);
    };
    let objects = plan.shards.get(task.shard).ok_or_else(|| {
        CompactError::Manifest(format!(
            "plan {} of {} has no shard {}",
            plan.id,
            hour_prefix(signal, hour),
            task.shard
        ))
    })?;
    report.compacted = true;
    report.raw_objects = objects.len();
    report.raw_bytes = objects.iter().map(|(_, bytes)| bytes).sum();
    let marker = marker_key(signal, hour, &plan.id, task.shard)?;
    let written = match get_json(store, &marker).await? {
        Some(bytes) => ShardParts::parse(&bytes).ok_or_else(|| {
            CompactError::Manifest(format!(
                "{marker} cannot be parsed: delete it to compact the shard again"
            ))
        })?,
        None => {
            let raw: Vec<RawObject> = objects
                .iter()
                .map(|(text, bytes)| {
                    let object = key(text.clone())?;
                    let parsed = PartitionKey::parse(&object).map_err(|e| {
                        CompactError::Manifest(format!(
                            "plan {} names {text}, not a raw object: {e}",
                            plan.id
                        ))
                    })?;
                    Ok((object, parsed, *bytes))
                })
                .collect::<Result<_, CompactError>>()?;
            let refs: Vec<&RawObject> = raw.iter().collect();
            let before: usize = plan.shards[..task.shard].iter().map(Vec::len).sum();
            let first = numbered(plan.base + before, refs.len())?;
            let mut indexes = HourIndexes::new(signal);
            let appended = append_parts(
                store,
                hour,
                &Shards::of(&options),
                &refs,
                first,
                &part_run(&plan.id, task.shard),
                &mut indexes,
            )
            .await?;
            let written = ShardParts {
                parts: appended.parts,
                unreadable: appended.unreadable,
            };
            // The index state, then the marker: a marker says all is there.
            let state = state_key(signal, hour, &plan.id, task.shard)?;
            let json = tokio::task::spawn_blocking(move || indexes.to_json())
                .await
                .map_err(|e| CompactError::Manifest(format!("indexing failed: {e}")))?;
            put_json(store, &state, json).await?;
            put_json(store, &marker, written.to_json().into_bytes()).await?;
            written
        }
    };
    report.rows = written.parts.iter().map(|p| p.rows).sum();
    report.parts = written.parts.len();
    report.parquet_bytes = written.parts.iter().map(|p| p.bytes).sum();
    report.unreadable = written.unreadable;
    let done = done_shards(store, signal, hour, &plan.id).await?;
    if done.len() < plan.shards.len() {
        return Ok(report);
    }
    // The last shard: commit, under the lease, unless the planner or
    // another worker holds it (the next planner run commits then).
    let lease = match patient_lease(store).await {
        Ok(lease) => Some(lease),
        Err(CompactError::Busy { holder, .. }) => {
            tracing::info!(
                holder,
                plan = plan.id,
                "Left the hour's commit to the next planner run: the lease is taken."
            );
            None
        }
        Err(e) => return Err(e),
    };
    let Some(lease) = lease else {
        return Ok(report);
    };
    let committed = match read_plan(store, signal, hour).await {
        Ok(Some(current)) if current == plan => commit(store, signal, hour, &plan, false).await,
        Ok(_) => Ok(None),
        Err(e) => Err(e),
    };
    let released = lease.release(store).await;
    report.committed = committed?;
    released?;
    Ok(report)
}

/// What a worker's marker says: the parts of its shard, and the objects
/// that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ShardParts {
    parts: Vec<ManifestPart>,
    unreadable: Vec<String>,
}

impl ShardParts {
    fn to_json(&self) -> String {
        json!({
            "parts": self.parts.iter().map(|p| json!({"key": p.key, "rows": p.rows, "bytes": p.bytes})).collect::<Vec<_>>(),
            "unreadable": self.unreadable,
        })
        .to_string()
    }

    fn parse(bytes: &[u8]) -> Option<ShardParts> {
        let value: Value = serde_json::from_slice(bytes).ok()?;
        Some(ShardParts {
            parts: super::parts(&value["parts"], "")?,
            unreadable: value["unreadable"]
                .as_array()?
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<_>>()?,
        })
    }
}

/// Writes the manifest of an hour whose plan's shards are all done: it
/// names every shard's parts and the hour's indexes, merged from the
/// shards' index states. Then the parts no manifest names and the plan
/// are removed, and, with `delete_raw`, the raw objects covered. `None`
/// when the manifest changed since the plan was made (a compaction in one
/// process overtook it): the plan is removed, and the next planner run
/// plans what is left. The caller holds the lease.
async fn commit(
    store: &dyn ObjectStore,
    signal: Signal,
    hour: u64,
    plan: &Plan,
    delete_raw: bool,
) -> Result<Option<HourReport>, CompactError> {
    let prefix = hour_prefix(signal, hour);
    let manifest_key = key(format!("{prefix}_manifest.json"))?;
    let mut manifest = read_manifest(store, &manifest_key, &prefix)
        .await?
        .unwrap_or_default();
    if manifest.raw.len() != plan.base {
        remove_plan(store, signal, hour, &plan.id).await?;
        return Ok(None);
    }
    let first_part = manifest.parts.len();
    let mut indexes = HourIndexes::new(signal);
    let mut unreadable = Vec::new();
    for shard in 0..plan.shards.len() {
        let marker = marker_key(signal, hour, &plan.id, shard)?;
        let written = get_json(store, &marker)
            .await?
            .and_then(|bytes| ShardParts::parse(&bytes))
            .ok_or_else(|| {
                CompactError::Manifest(format!("{marker} is missing or cannot be parsed"))
            })?;
        let state = state_key(signal, hour, &plan.id, shard)?;
        let bytes = get_json(store, &state)
            .await?
            .ok_or_else(|| CompactError::Manifest(format!("{state} is missing")))?;
        let theirs = tokio::task::spawn_blocking(move || HourIndexes::from_json(signal, &bytes))
            .await
            .map_err(|e| CompactError::Manifest(format!("indexing failed: {e}")))??;
        indexes.merge(theirs);
        unreadable.extend(written.unreadable);
        manifest.parts.extend(written.parts);
    }
    manifest.raw.extend(plan.keys().map(str::to_owned));
    manifest.unreadable.extend(unreadable.iter().cloned());
    manifest.rows = manifest.parts.iter().map(|p| p.rows).sum();
    manifest.indexes = write_indexes(store, hour, indexes, &manifest.parts, first_part).await?;
    put_json(
        store,
        &manifest_key,
        manifest.to_json(signal, hour).into_bytes(),
    )
    .await?;
    let written = &manifest.parts[first_part..];
    let mut report = planned_report(signal, hour, plan, Outcome::Compacted);
    report.rows = written.iter().map(|p| p.rows).sum();
    report.parts = written.len();
    report.parquet_bytes = written.iter().map(|p| p.bytes).sum();
    report.unreadable = unreadable;
    remove_unlisted_parts(store, signal, hour, &manifest).await?;
    remove_plan(store, signal, hour, &plan.id).await?;
    if delete_raw {
        let covered: Vec<ObjectKey> = manifest
            .covered()
            .filter(|(i, _)| *i >= plan.base)
            .map(|(_, text)| key(text.to_owned()))
            .collect::<Result<_, _>>()?;
        report.deleted_raw = super::delete_raw(store, &covered).await?;
    }
    Ok(Some(report))
}
