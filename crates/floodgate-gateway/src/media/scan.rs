//! One media stream read as it arrives: the container is recognised from its first
//! bytes, then its reader is fed only the bytes it asks for, so memory stays bounded
//! however large the file (a reader skips what it does not need, such as the samples).

use super::{aiff, ebml, flac, iso, mp3, ogg, riff};

/// Bytes needed to recognise a container.
const SNIFF: usize = 12;

/// The most a reader may ask to hold at once; a header larger than this is not one the
/// readers know, and the duration is taken as unknown.
const MOST_HELD: usize = 64 * 1024;

/// What a reader wants next, given the bytes from its current position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Step {
    /// At least this many bytes from the current position.
    Need(usize),
    /// Consume this many bytes (all of them in hand) and ask again.
    Take(usize),
    /// Pass over this many bytes, which may not have arrived yet, and ask again.
    Skip(u64),
    /// The duration in seconds, or `None` when the file does not say.
    Done(Option<f64>),
    /// Nothing more until the stream ends: [`Reader::end`] then gives the duration.
    UntilEnd,
}

/// A container's reader.
pub(super) trait Reader: Send {
    /// The next step, given the bytes from the reader's current position (at least as
    /// many as it last asked for with [`Step::Need`]).
    fn step(&mut self, buf: &[u8]) -> Step;

    /// The stream ended after `len` bytes in all: the duration, if it can be told now
    /// (from the last timestamp seen, or the length at a constant bitrate).
    fn end(&mut self, _len: u64) -> Option<f64> {
        None
    }
}

/// What is known of a stream's duration so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Outcome {
    /// Not yet known.
    Pending,
    /// The duration, in seconds.
    Known(f64),
    /// The stream is not a container the readers know, or it does not say.
    Unknown,
}

enum State {
    Sniffing,
    Reading(Box<dyn Reader>),
    /// The reader waits for the end.
    Waiting(Box<dyn Reader>),
    Done(Outcome),
}

/// One media stream being read.
pub(crate) struct Probe {
    state: State,
    /// Bytes from the reader's position that it has not consumed.
    held: Vec<u8>,
    /// Bytes still to pass over before holding any.
    skip: u64,
    /// Bytes fed so far.
    seen: u64,
    /// The stream's whole length, when known up front (Content-Length).
    length: Option<u64>,
}

impl Probe {
    /// A stream whose whole length, if known, is `length`.
    pub(crate) fn new(length: Option<u64>) -> Self {
        Self {
            state: State::Sniffing,
            held: Vec::new(),
            skip: 0,
            seen: 0,
            length,
        }
    }

    /// What is known so far.
    pub(crate) fn outcome(&self) -> Outcome {
        match self.state {
            State::Done(outcome) => outcome,
            _ => Outcome::Pending,
        }
    }

    /// The next bytes of the stream.
    pub(crate) fn feed(&mut self, mut data: &[u8]) {
        self.seen += data.len() as u64;
        if matches!(self.state, State::Done(_) | State::Waiting(_)) {
            return;
        }
        if self.skip > 0 {
            let n = usize::try_from(self.skip).map_or(data.len(), |s| s.min(data.len()));
            data = &data[n..];
            self.skip -= n as u64;
        }
        if data.is_empty() {
            return;
        }
        self.held.extend_from_slice(data);
        self.run();
    }

    /// The stream ended: what is known now is final.
    pub(crate) fn finish(&mut self) -> Outcome {
        let outcome = match std::mem::replace(&mut self.state, State::Done(Outcome::Unknown)) {
            State::Done(outcome) => outcome,
            State::Sniffing => Outcome::Unknown,
            State::Reading(mut reader) | State::Waiting(mut reader) => reader
                .end(self.seen)
                .map_or(Outcome::Unknown, Outcome::Known),
        };
        self.state = State::Done(outcome);
        self.held = Vec::new();
        outcome
    }

    fn run(&mut self) {
        loop {
            let reader = match &mut self.state {
                State::Sniffing => {
                    if self.held.len() < SNIFF {
                        return;
                    }
                    match recognise(&self.held) {
                        Some((reader, header)) => {
                            // a RIFF or IFF file's own 12-byte header says nothing more
                            self.held.drain(..header);
                            self.state = State::Reading(reader);
                        }
                        None => self.state = State::Done(Outcome::Unknown),
                    }
                    continue;
                }
                State::Reading(reader) => reader,
                State::Waiting(_) | State::Done(_) => return,
            };
            match reader.step(&self.held) {
                Step::Need(n) if n > MOST_HELD || n <= self.held.len() => {
                    // A reader that asks for what it has would never move on.
                    self.state = State::Done(Outcome::Unknown);
                }
                Step::Need(_) => return,
                Step::Take(n) => {
                    self.held.drain(..n.min(self.held.len()));
                }
                Step::Skip(n) => match usize::try_from(n) {
                    Ok(n) if n <= self.held.len() => {
                        self.held.drain(..n);
                    }
                    _ => {
                        self.skip = n - self.held.len() as u64;
                        self.held.clear();
                        return;
                    }
                },
                Step::Done(seconds) => {
                    self.state = State::Done(seconds.map_or(Outcome::Unknown, Outcome::Known));
                }
                Step::UntilEnd => {
                    let State::Reading(mut reader) =
                        std::mem::replace(&mut self.state, State::Sniffing)
                    else {
                        unreachable!("the reader is reading");
                    };
                    self.held = Vec::new();
                    self.state = match self.length {
                        Some(len) => {
                            State::Done(reader.end(len).map_or(Outcome::Unknown, Outcome::Known))
                        }
                        None => State::Waiting(reader),
                    };
                }
            }
        }
    }
}

/// The reader for the container `head` (at least [`SNIFF`] bytes) starts, if known, and
/// how many of its first bytes are a file header to pass over before the reader starts.
fn recognise(head: &[u8]) -> Option<(Box<dyn Reader>, usize)> {
    let (magic, kind) = (&head[..4], &head[8..12]);
    let file_header: Box<dyn Reader> = match (magic, kind) {
        (b"RIFF" | b"RF64", b"WAVE") => Box::new(riff::Riff::wave()),
        (b"RIFF", b"AVI ") => Box::new(riff::Riff::avi()),
        (b"FORM", b"AIFF" | b"AIFC") => Box::new(aiff::Aiff),
        _ => return recognise_bare(head).map(|reader| (reader, 0)),
    };
    Some((file_header, SNIFF))
}

/// The reader for a container without a file header of its own.
fn recognise_bare(head: &[u8]) -> Option<Box<dyn Reader>> {
    Some(match &head[..4] {
        b"fLaC" => Box::new(flac::Flac),
        b"OggS" => Box::new(ogg::Ogg::default()),
        [0x1A, 0x45, 0xDF, 0xA3] => Box::new(ebml::Ebml::default()),
        _ if iso::starts(head) => Box::new(iso::Iso::default()),
        _ if mp3::starts(head) => Box::new(mp3::Mp3::default()),
        _ => return None,
    })
}

/// Big-endian integer of `bytes` (up to 8).
pub(super) fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |n, &b| n << 8 | u64::from(b))
}

/// Little-endian integer of `bytes` (up to 8).
pub(super) fn le(bytes: &[u8]) -> u64 {
    bytes.iter().rev().fold(0, |n, &b| n << 8 | u64::from(b))
}

/// `count` units of `per_second` a second, in seconds; `None` for a zero rate.
pub(super) fn seconds(count: u64, per_second: u64) -> Option<f64> {
    #[allow(clippy::cast_precision_loss)] // a duration needs no more than f64's precision
    (per_second > 0).then(|| count as f64 / per_second as f64)
}

/// The outcome of reading `file` in chunks of `chunk` bytes, its length known up front
/// or not.
#[cfg(test)]
pub(super) fn read_in_chunks(file: &[u8], chunk: usize, length: Option<u64>) -> Outcome {
    let mut probe = Probe::new(length);
    for part in file.chunks(chunk) {
        probe.feed(part);
    }
    probe.finish()
}
