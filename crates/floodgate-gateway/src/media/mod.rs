//! The longest audio or video a route accepts (seed 002: "audio/video duration 600
//! minutes max"), read from the media's own container as the body arrives.
//!
//! The body is the file itself (`audio/mpeg`, `video/mp4`, ...) or a
//! `multipart/form-data` form whose parts may be files; every part is looked at. The
//! containers read: MP4/M4A/MOV/3GP, Matroska/WebM, WAVE (and RF64), AVI, AIFF, FLAC,
//! MP3 (Xing/Info/VBRI headers, else the bitrate and length), Ogg Opus and Ogg Vorbis.
//! A file of any other kind, or one that does not state its duration (a live WebM
//! recording), is let through: the upstream, which decodes it, has the last word.
//!
//! Most containers state the duration in their first bytes, so the gateway reads ahead
//! a little before deciding on the request, and a file over the limit is refused
//! before anything is counted or sent. Some state it only at the end (an MP4 written
//! by a recorder, Ogg, a constant-bitrate MP3 in a form); their bytes go upstream as they
//! arrive, one chunk behind, and a file over the limit fails the upstream request before
//! its last chunk, so the upstream never sees the whole file.

mod aiff;
mod ebml;
mod flac;
mod iso;
mod mp3;
mod ogg;
mod parts;
mod riff;
mod scan;

use floodgate_core::Nanos;
use parts::Parts;
use scan::{Outcome, Probe};

/// What the check has concluded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Verdict {
    /// Not yet known.
    Pending,
    /// Within the limit, or not a duration the gateway can read.
    Fits,
    /// Over the limit: the media's duration, in seconds.
    TooLong(f64),
}

enum Body {
    /// The body is the file.
    File(Probe),
    /// A form whose parts may be files.
    Form(Parts),
}

/// A request body checked against a duration limit as it arrives.
pub(crate) struct MediaCheck {
    /// The limit.
    limit: Nanos,
    body: Body,
    verdict: Verdict,
}

impl std::fmt::Debug for MediaCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaCheck")
            .field("limit", &self.limit)
            .field("verdict", &self.verdict)
            .finish_non_exhaustive()
    }
}

impl MediaCheck {
    /// A check of a body holding at most `limit` of media: a form's parts when
    /// `boundary` is given, else the body as one file, `length` bytes long if known.
    pub(crate) fn new(limit: Nanos, boundary: Option<&str>, length: Option<u64>) -> Self {
        let body = match boundary {
            Some(boundary) => Body::Form(Parts::new(boundary)),
            None => Body::File(Probe::new(length)),
        };
        Self {
            limit,
            body,
            verdict: Verdict::Pending,
        }
    }

    /// The limit.
    pub(crate) fn limit(&self) -> Nanos {
        self.limit
    }

    /// What is concluded so far.
    pub(crate) fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// The next bytes of the body.
    pub(crate) fn feed(&mut self, data: &[u8]) -> Verdict {
        if self.verdict != Verdict::Pending {
            return self.verdict;
        }
        self.verdict = match &mut self.body {
            Body::File(probe) => {
                probe.feed(data);
                match probe.outcome() {
                    Outcome::Pending => Verdict::Pending,
                    Outcome::Unknown => Verdict::Fits,
                    Outcome::Known(seconds) => self.judge(seconds),
                }
            }
            Body::Form(parts) => {
                parts.feed(data);
                // more parts may follow: only a part over the limit concludes
                match parts.longest().map(|seconds| self.judge(seconds)) {
                    Some(too_long @ Verdict::TooLong(_)) => too_long,
                    _ => Verdict::Pending,
                }
            }
        };
        self.verdict
    }

    /// The body ended.
    pub(crate) fn finish(&mut self) -> Verdict {
        if self.verdict != Verdict::Pending {
            return self.verdict;
        }
        let longest = match &mut self.body {
            Body::File(probe) => match probe.finish() {
                Outcome::Known(seconds) => Some(seconds),
                Outcome::Pending | Outcome::Unknown => None,
            },
            Body::Form(parts) => {
                parts.finish();
                parts.longest()
            }
        };
        self.verdict = longest.map_or(Verdict::Fits, |seconds| self.judge(seconds));
        self.verdict
    }

    fn judge(&self, seconds: f64) -> Verdict {
        #[allow(clippy::cast_precision_loss)] // a limit in ns needs no more than f64's 53 bits
        let limit = self.limit as f64 / 1e9;
        if seconds > limit {
            Verdict::TooLong(seconds)
        } else {
            Verdict::Fits
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MINUTE: Nanos = 60_000_000_000;

    /// A WAVE file header claiming `seconds` of 8 kHz 8-bit mono sound, with `present`
    /// bytes of it.
    fn wave(seconds: u32, present: usize) -> Vec<u8> {
        let mut f = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0".to_vec();
        f.extend_from_slice(&8000u32.to_le_bytes());
        f.extend_from_slice(&8000u32.to_le_bytes());
        f.extend_from_slice(b"\x01\0\x08\0data");
        f.extend_from_slice(&(8000 * seconds).to_le_bytes());
        f.extend_from_slice(&vec![0x80; present]);
        f
    }

    fn form(boundary: &str, parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (name, content) in parts {
            body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        body
    }

    fn check(limit: Nanos, boundary: Option<&str>, body: &[u8], chunk: usize) -> Verdict {
        let mut check = MediaCheck::new(limit, boundary, None);
        for part in body.chunks(chunk) {
            if let too_long @ Verdict::TooLong(_) = check.feed(part) {
                return too_long;
            }
        }
        check.finish()
    }

    #[test]
    fn a_file_over_the_limit_is_known_from_its_header() {
        let mut check = MediaCheck::new(600 * MINUTE, None, None);
        assert_eq!(check.feed(&wave(601 * 60, 100)), Verdict::TooLong(36_060.0));
        let mut check = MediaCheck::new(600 * MINUTE, None, None);
        assert_eq!(check.feed(&wave(600 * 60, 100)), Verdict::Fits);
    }

    #[test]
    fn text_and_unknown_files_fit() {
        assert_eq!(
            check(MINUTE, None, b"{\"prompt\":\"hi\"}", 4),
            Verdict::Fits
        );
        assert_eq!(
            check(
                MINUTE,
                None,
                &[0x89, b'P', b'N', b'G', 0, 0, 0, 0, 0, 0, 0, 0, 0],
                64
            ),
            Verdict::Fits
        );
        assert_eq!(check(MINUTE, None, b"", 64), Verdict::Fits);
    }

    #[test]
    fn every_part_of_a_form_is_looked_at_in_any_chunking() {
        let long = wave(601 * 60, 3000);
        let short = wave(60, 3000);
        let boundary = "----floodgate7MA4YWxkTrZu0gW";
        let body = form(
            boundary,
            &[("prompt", b"a song"), ("short", &short), ("audio", &long)],
        );
        for chunk in [1, 2, 5, 13, 64, 1000, body.len()] {
            assert_eq!(
                check(600 * MINUTE, Some(boundary), &body, chunk),
                Verdict::TooLong(36_060.0),
                "chunk {chunk}"
            );
        }
        let body = form(boundary, &[("short", &short), ("prompt", b"x")]);
        for chunk in [1, 7, body.len()] {
            assert_eq!(
                check(600 * MINUTE, Some(boundary), &body, chunk),
                Verdict::Fits
            );
        }
    }

    #[test]
    fn a_form_file_known_from_its_header_concludes_before_the_part_ends() {
        let boundary = "b";
        let body = form(boundary, &[("audio", &wave(601 * 60, 50_000))]);
        let mut check = MediaCheck::new(600 * MINUTE, Some(boundary), None);
        assert_eq!(check.feed(&body[..200]), Verdict::TooLong(36_060.0));
    }

    #[test]
    fn a_part_with_a_delimiter_like_run_inside_is_not_cut_there() {
        let boundary = "abc";
        let mut content = wave(601 * 60, 10);
        content.extend_from_slice(b"\r\n--ab\r\n--abx");
        let body = form(boundary, &[("audio", &content)]);
        assert_eq!(
            check(600 * MINUTE, Some(boundary), &body, 3),
            Verdict::TooLong(36_060.0)
        );
    }

    proptest! {
        /// Whatever the bytes after a container's magic, and however the body is cut in
        /// chunks, the check never panics and reaches the same verdict.
        #[test]
        fn any_bytes_in_any_chunks_give_one_verdict(
            magic in prop::sample::select(vec![
                &b"RIFF\0\0\0\0WAVE"[..], b"RIFF\0\0\0\0AVI ", b"RF64\0\0\0\0WAVE",
                b"FORM\0\0\0\0AIFF", b"fLaC", b"OggS", &[0x1A, 0x45, 0xDF, 0xA3],
                b"\0\0\0\x18ftyp", b"\0\0\0\x01mdat", b"ID3", &[0xFF, 0xFB, 0x90, 0x00], b"",
            ]),
            tail in prop::collection::vec(any::<u8>(), 0..3000),
            chunk in 1usize..400,
            in_form in any::<bool>(),
            limit in 1u64..10_000,
        ) {
            let file = [magic, &tail[..]].concat();
            let (body, boundary) = if in_form {
                (form("q", &[("f", &file), ("g", &file)]), Some("q"))
            } else {
                (file, None)
            };
            let limit = limit * 1_000_000;
            let whole = check(limit, boundary, &body, body.len().max(1));
            prop_assert_eq!(whole, check(limit, boundary, &body, chunk));
        }
    }
}

/// Files written by ffmpeg 5.1 (`tests/fixtures/media`, see its README), read whole and
/// in small chunks: the readers follow real encoders' output, not only the specs. Then
/// the same files damaged at random, which reach the readers' deeper paths (box, chunk
/// and element sizes, frame headers) that random bytes after a magic seldom do.
#[cfg(test)]
mod real_files {
    use super::scan::{read_in_chunks, Outcome};
    use proptest::prelude::*;
    use std::sync::LazyLock;

    /// Every fixture, read once.
    static FILES: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/media");
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .expect("the media fixtures")
            .map(|entry| entry.expect("a fixture").path())
            .filter(|path| path.extension().is_some_and(|e| e != "md"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|path| std::fs::read(path).expect("a fixture"))
            .collect()
    });

    /// `file` with `damage` applied: (in its head, position, byte) overwrites, then a cut.
    /// Half the bytes land in the first 256, where the containers' headers are.
    fn damaged(
        file: &[u8],
        damage: &[(bool, prop::sample::Index, u8)],
        cut: Option<prop::sample::Index>,
    ) -> Vec<u8> {
        let mut file = file.to_vec();
        for (head, at, byte) in damage {
            let span = if *head {
                file.len().min(256)
            } else {
                file.len()
            };
            file[at.index(span)] = *byte;
        }
        if let Some(cut) = cut {
            file.truncate(cut.index(file.len()));
        }
        file
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// A real file with a few bytes changed, or cut short, never makes a reader panic,
        /// and gives the same outcome whole and in chunks (with or without the length
        /// a Content-Length would tell).
        #[test]
        fn damaged_real_files_give_one_outcome_in_any_chunks(
            which in any::<prop::sample::Index>(),
            damage in prop::collection::vec((any::<bool>(), any::<prop::sample::Index>(), any::<u8>()), 0..6),
            cut in prop::option::of(any::<prop::sample::Index>()),
            chunk in 1usize..5000,
            told in any::<bool>(),
        ) {
            let file = damaged(&FILES[which.index(FILES.len())], &damage, cut);
            let length = told.then_some(file.len() as u64);
            let whole = read_in_chunks(&file, file.len().max(1), length);
            prop_assert_eq!(whole, read_in_chunks(&file, chunk, length));
        }
    }

    #[test]
    fn durations_of_files_real_encoders_wrote() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/media");
        let expected = [
            ("a.wav", 1.0),
            ("a-rf64.wav", 1.0),
            ("a.aiff", 1.0),
            ("a.flac", 1.0),
            ("a.m4a", 3.0),
            ("a-faststart.m4a", 3.0),
            ("v.mp4", 3.0),
            ("v.mov", 3.0),
            ("v.avi", 3.0),
            ("v.webm", 3.0),
            // Opus in Matroska counts its encoder delay
            ("a.webm", 3.008),
            ("a.mkv", 3.008),
            ("a.opus", 3.0),
            ("a.ogg", 3.0),
            // MP3 frames are 1152 samples: 3 s rounds up to whole frames
            ("vbr.mp3", 3.168),
            ("cbr-info.mp3", 3.168),
            ("cbr-no-header.mp3", 3.168),
        ];
        for (name, seconds) in expected {
            let bytes = std::fs::read(dir.join(name)).expect(name);
            for chunk in [1, 1000, bytes.len()] {
                match read_in_chunks(&bytes, chunk, None) {
                    Outcome::Known(read) => {
                        assert!(
                            (read - seconds).abs() < 0.001,
                            "{name}: {read} s, not {seconds}"
                        );
                    }
                    other => panic!("{name} in chunks of {chunk}: {other:?}"),
                }
            }
        }
    }
}
