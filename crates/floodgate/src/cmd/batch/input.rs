//! The input file: one request a line, as JSON (`method`, `path`, `body`), read whole
//! before anything is sent so that a bad line stops the batch before it starts.

use anyhow::Context;
use floodgate_client::ApiRequest;
use std::path::Path;

/// One input line to run.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    /// Its 1-based line number in the input, which its result records.
    pub(crate) line: usize,
    /// What to send.
    pub(crate) request: ApiRequest,
}

/// Parses `text` (the contents of `path`); blank lines are skipped, any other line that
/// is not a request is an error naming `path:line`.
pub(crate) fn parse(text: &str, path: &Path) -> anyhow::Result<Vec<Job>> {
    let mut jobs = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let request: ApiRequest = serde_json::from_str(raw).with_context(|| {
            format!(
                "{}:{line}: not a request (expected {{\"method\": \"POST\", \"path\": \"/...\", \"body\": {{...}}}})",
                path.display()
            )
        })?;
        anyhow::ensure!(
            request.path.starts_with('/'),
            "{}:{line}: path {:?} must start with '/'",
            path.display(),
            request.path
        );
        jobs.push(Job { line, request });
    }
    Ok(jobs)
}

/// Reads and parses the input file.
pub(crate) fn read(path: &Path) -> anyhow::Result<Vec<Job>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the input {}", path.display()))?;
    parse(&text, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_their_numbers_and_bad_ones_are_named() {
        let text = "{\"path\": \"/a\"}\n\n{\"method\": \"GET\", \"path\": \"/b\"}\n";
        let jobs = parse(text, "in.jsonl".as_ref()).unwrap();
        let lines: Vec<_> = jobs
            .iter()
            .map(|j| (j.line, j.request.method.as_str()))
            .collect();
        assert_eq!(lines, [(1, "POST"), (3, "GET")]);

        let err = parse("{\"path\": \"/a\"}\n{\"body\": 1}\n", "in.jsonl".as_ref()).unwrap_err();
        assert!(
            err.to_string().starts_with("in.jsonl:2: not a request"),
            "{err}"
        );
        let err = parse("{\"path\": \"a\"}\n", "in.jsonl".as_ref()).unwrap_err();
        assert!(
            err.to_string()
                .contains("in.jsonl:1: path \"a\" must start"),
            "{err}"
        );
    }
}
