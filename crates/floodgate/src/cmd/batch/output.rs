//! The output file: one result a line, in input order, written as soon as every earlier
//! line's result is in; with `--resume`, the lines it already holds are kept and skipped.

use anyhow::Context;
use floodgate_client::{ApiResponse, ClientError};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The line numbers an existing output already holds a result for.
pub(crate) fn finished_lines(path: &Path) -> anyhow::Result<BTreeSet<usize>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut lines = BTreeSet::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let line = serde_json::from_str::<Value>(raw)
            .ok()
            .and_then(|v| v.get("line")?.as_u64())
            .with_context(|| format!("{}:{}: not a result line", path.display(), i + 1))?;
        lines.insert(usize::try_from(line)?);
    }
    Ok(lines)
}

/// The record of one finished line.
pub(crate) fn record(line: usize, result: &Result<ApiResponse, ClientError>) -> Value {
    match result {
        Ok(r) => {
            let body = serde_json::from_slice::<Value>(&r.body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&r.body).into_owned()));
            json!({
                "line": line,
                "status": r.status.as_u16(),
                "attempts": r.attempts,
                "rate_limited": r.rate_limited,
                "latency_ms": (r.latency.as_secs_f64() * 1e4).round() / 10.0,
                "body": body,
            })
        }
        Err(e) => {
            let (status, attempts) = match e {
                ClientError::GaveUp {
                    status, attempts, ..
                } => (Some(status.as_u16()), *attempts),
                ClientError::Transport { attempts, .. } => (None, *attempts),
                _ => (None, 0),
            };
            json!({"line": line, "status": status, "attempts": attempts, "error": e.to_string()})
        }
    }
}

/// Writes records in line order as they become contiguous.
pub(crate) struct OrderedOutput {
    path: PathBuf,
    file: BufWriter<File>,
    /// The lines still to be written, in order.
    expected: std::collections::VecDeque<usize>,
    /// Finished records waiting for an earlier line.
    waiting: BTreeMap<usize, String>,
    /// Whether the file held results before this run.
    appended: bool,
}

impl OrderedOutput {
    /// Opens `path` to receive the results of `lines` (appending to what it holds when
    /// `append`, else replacing it).
    pub(crate) fn open(path: &Path, lines: Vec<usize>, append: bool) -> anyhow::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(path)
            .with_context(|| format!("opening the output {}", path.display()))?;
        let appended = append && file.metadata().map(|m| m.len() > 0).unwrap_or(false);
        Ok(Self {
            path: path.to_owned(),
            file: BufWriter::new(file),
            expected: lines.into(),
            waiting: BTreeMap::new(),
            appended,
        })
    }

    /// Takes a finished record, and writes every record now in order.
    pub(crate) fn push(&mut self, line: usize, record: &Value) -> anyhow::Result<()> {
        self.waiting.insert(line, record.to_string());
        while let Some(next) = self.expected.front() {
            let Some(text) = self.waiting.remove(next) else {
                break;
            };
            writeln!(self.file, "{text}")?;
            self.expected.pop_front();
        }
        // A finished result reaches the disk at once: an interrupted run keeps it.
        self.file.flush()?;
        Ok(())
    }

    /// Writes the records still waiting for a line that never finished (after a stop),
    /// in line order, and flushes.
    pub(crate) fn finish(mut self) -> anyhow::Result<()> {
        for text in std::mem::take(&mut self.waiting).into_values() {
            writeln!(self.file, "{text}")?;
        }
        self.file.flush()?;
        if self.appended && self.expected.is_empty() {
            sort_in_place(&self.path)?;
        }
        Ok(())
    }
}

/// Rewrites a complete output (earlier runs' results, then this one's) in line order,
/// through a temporary file renamed over it.
fn sort_in_place(path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let mut records: Vec<(u64, &str)> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let line = serde_json::from_str::<Value>(l)
                .ok()
                .and_then(|v| v.get("line")?.as_u64())
                .unwrap_or(u64::MAX);
            (line, l)
        })
        .collect();
    records.sort_by_key(|(line, _)| *line);
    let tmp = path.with_extension("jsonl.sorting");
    let mut out = BufWriter::new(File::create(&tmp)?);
    for (_, l) in records {
        writeln!(out, "{l}")?;
    }
    out.flush()?;
    drop(out);
    std::fs::rename(&tmp, path)?;
    Ok(())
}
