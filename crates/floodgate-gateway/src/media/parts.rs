//! The parts of a `multipart/form-data` body as it streams past: each part's content is
//! handed to its own [`Probe`], so a file's duration is read whatever field carries it,
//! without the body being held (only a delimiter's length of it between chunks).

use super::scan::{Outcome, Probe};
use memchr::memmem;

/// Longest run of part headers accepted; past it the form is not read further.
const MOST_HEADERS: usize = 16 * 1024;

enum State {
    /// Before the first delimiter.
    Preamble,
    /// Just after a delimiter: the end of the form (`--`) or a part's headers follow.
    Delimited,
    Headers,
    Content(Probe),
    /// After the closing delimiter, or after something that is not multipart syntax (the
    /// upstream judges such a body; the gateway only reads what it can).
    Done,
}

/// A form's parts, read as they arrive.
pub(super) struct Parts {
    /// `\r\n--` and the boundary.
    delimiter: Vec<u8>,
    state: State,
    /// Bytes not yet handled: at most a partial delimiter or partial headers.
    carry: Vec<u8>,
    /// The longest duration of the parts read to their end.
    longest: Option<f64>,
}

impl Parts {
    pub(super) fn new(boundary: &str) -> Self {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        Self {
            delimiter,
            state: State::Preamble,
            // the first delimiter may open the body without a line break before it
            carry: b"\r\n".to_vec(),
            longest: None,
        }
    }

    /// The longest duration known so far: of the parts read to their end, and of the
    /// part arriving if its header told it already.
    pub(super) fn longest(&self) -> Option<f64> {
        let current = match &self.state {
            State::Content(probe) => match probe.outcome() {
                Outcome::Known(seconds) => Some(seconds),
                _ => None,
            },
            _ => None,
        };
        max(self.longest, current)
    }

    /// The next bytes of the body.
    pub(super) fn feed(&mut self, data: &[u8]) {
        if matches!(self.state, State::Done) {
            return;
        }
        self.carry.extend_from_slice(data);
        while self.advance() {}
    }

    /// The body ended: a part still open ends with it.
    pub(super) fn finish(&mut self) {
        if let State::Content(mut probe) = std::mem::replace(&mut self.state, State::Done) {
            probe.feed(&self.carry);
            let outcome = probe.finish();
            self.record(outcome);
        }
        self.carry = Vec::new();
    }

    fn record(&mut self, outcome: Outcome) {
        if let Outcome::Known(seconds) = outcome {
            self.longest = max(self.longest, Some(seconds));
        }
    }

    /// Handles what `carry` allows; false when it needs more bytes.
    fn advance(&mut self) -> bool {
        let delimiter = self.delimiter.len();
        match &mut self.state {
            State::Done => {
                self.carry.clear();
                false
            }
            State::Preamble => match memmem::find(&self.carry, &self.delimiter) {
                Some(at) => {
                    self.carry.drain(..at + delimiter);
                    self.state = State::Delimited;
                    true
                }
                None => {
                    let keep = self.carry.len().min(delimiter - 1);
                    self.carry.drain(..self.carry.len() - keep);
                    false
                }
            },
            State::Delimited => {
                if self.carry.len() < 2 {
                    return false;
                }
                if self.carry.starts_with(b"--") {
                    self.state = State::Done;
                    return true;
                }
                // transport padding may come before the line break
                match memmem::find(&self.carry, b"\r\n") {
                    Some(at) if at <= MOST_HEADERS => {
                        self.carry.drain(..at + 2);
                        self.state = State::Headers;
                        true
                    }
                    found => self.give_up_past(found, MOST_HEADERS),
                }
            }
            State::Headers => {
                let end = if self.carry.starts_with(b"\r\n") {
                    Some(2)
                } else {
                    memmem::find(&self.carry, b"\r\n\r\n").map(|at| at + 4)
                };
                match end {
                    Some(end) if end <= MOST_HEADERS => {
                        self.carry.drain(..end);
                        self.state = State::Content(Probe::new(None));
                        true
                    }
                    found => self.give_up_past(found, MOST_HEADERS),
                }
            }
            State::Content(probe) => match memmem::find(&self.carry, &self.delimiter) {
                Some(at) => {
                    probe.feed(&self.carry[..at]);
                    let outcome = probe.finish();
                    self.record(outcome);
                    self.carry.drain(..at + delimiter);
                    self.state = State::Delimited;
                    true
                }
                None => {
                    // what could be the start of a delimiter stays for the next chunk
                    let pass = self.carry.len().saturating_sub(delimiter - 1);
                    probe.feed(&self.carry[..pass]);
                    self.carry.drain(..pass);
                    false
                }
            },
        }
    }

    /// Stops reading when what it waits for was `found` past `most` bytes, or `carry` has
    /// grown past `most` without it (the same answer however the body was cut in chunks).
    fn give_up_past(&mut self, found: Option<usize>, most: usize) -> bool {
        if found.is_some() || self.carry.len() > most {
            self.state = State::Done;
            return true;
        }
        false
    }
}

fn max(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}
