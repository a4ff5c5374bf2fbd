//! Matroska and WebM: the segment's `Info` element, which precedes the clusters of
//! frames, holds `Duration` in units of `TimestampScale` (1 ms unless it says otherwise).
//! A file recorded live (a browser's MediaRecorder) often has no `Duration`: unknown.

use super::scan::{be, Reader, Step};

const SEGMENT: u64 = 0x1853_8067;
const INFO: u64 = 0x1549_A966;
const CLUSTER: u64 = 0x1F43_B675;
const TIMESTAMP_SCALE: u64 = 0x2A_D7B1;
const DURATION: u64 = 0x4489;

/// Where the reader is.
#[derive(Default, Clone, Copy)]
enum Level {
    #[default]
    Top,
    Segment,
    /// Inside `Info`, with this many bytes of it left.
    Info(u64),
}

/// Reads elements down to `Info`'s children.
pub(super) struct Ebml {
    level: Level,
    /// Nanoseconds in a timestamp unit.
    scale: u64,
    duration: Option<f64>,
}

impl Default for Ebml {
    fn default() -> Self {
        Self {
            level: Level::Top,
            scale: 1_000_000,
            duration: None,
        }
    }
}

/// The length of a variable-size integer that starts with `first`: its leading zeros
/// plus one (1 to 8); `None` for a zero byte.
fn width(first: u8) -> Option<usize> {
    (first != 0).then(|| first.leading_zeros() as usize + 1)
}

impl Ebml {
    fn finished(&self) -> Step {
        // a duration is a float of timestamp units
        #[allow(clippy::cast_precision_loss)]
        Step::Done(self.duration.map(|d| d * self.scale as f64 / 1e9))
    }
}

impl Reader for Ebml {
    fn step(&mut self, buf: &[u8]) -> Step {
        let Some(&first) = buf.first() else {
            return Step::Need(1);
        };
        let Some(id_len) = width(first).filter(|&w| w <= 4) else {
            return Step::Done(None);
        };
        if buf.len() < id_len + 1 {
            return Step::Need(id_len + 1);
        }
        let Some(size_len) = width(buf[id_len]) else {
            return Step::Done(None);
        };
        let header = id_len + size_len;
        if buf.len() < header {
            return Step::Need(header);
        }
        let id = be(&buf[..id_len]);
        let raw = be(&buf[id_len..header]);
        let marker = 1u64 << (7 * size_len);
        let value = raw & (marker - 1);
        // all value bits set: the size is not known (a live stream's segment)
        let size = (value != marker - 1).then_some(value);
        match self.level {
            Level::Top if id == SEGMENT => {
                self.level = Level::Segment;
                Step::Take(header)
            }
            Level::Segment if id == INFO => match size {
                Some(size) => {
                    self.level = Level::Info(size);
                    if size == 0 {
                        return self.finished();
                    }
                    Step::Take(header)
                }
                None => Step::Done(None),
            },
            // frames before any Info: no duration in this file
            Level::Segment if id == CLUSTER => Step::Done(None),
            Level::Top | Level::Segment => {
                size.map_or(Step::Done(None), |s| Step::Skip(header as u64 + s))
            }
            Level::Info(left) => {
                let Some(size) = size.filter(|&s| header as u64 + s <= left) else {
                    return Step::Done(None);
                };
                let whole = header + size as usize;
                let wanted = matches!(id, TIMESTAMP_SCALE | DURATION);
                if wanted && buf.len() < whole {
                    return Step::Need(whole);
                }
                let body = buf.get(header..whole).unwrap_or_default();
                match (id, size) {
                    (TIMESTAMP_SCALE, 1..=8) => self.scale = be(body),
                    #[allow(clippy::cast_possible_truncation)] // a 4-byte float is 32 bits
                    (DURATION, 4) => {
                        self.duration = Some(f64::from(f32::from_bits(be(body) as u32)))
                    }
                    (DURATION, 8) => self.duration = Some(f64::from_bits(be(body))),
                    _ => {}
                }
                let left = left - whole as u64;
                self.level = Level::Info(left);
                if left == 0 {
                    return self.finished();
                }
                Step::Skip(whole as u64)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::scan::{read_in_chunks, Outcome};

    fn element(id: &[u8], body: &[u8]) -> Vec<u8> {
        let mut e = id.to_vec();
        // an 8-byte size, as muxers often write
        e.push(0x01);
        e.extend_from_slice(&(body.len() as u64).to_be_bytes()[1..]);
        e.extend_from_slice(body);
        e
    }

    fn webm(info: &[u8]) -> Vec<u8> {
        let header = element(&[0x1A, 0x45, 0xDF, 0xA3], &element(&[0x42, 0x82], b"webm"));
        let seek = element(&[0x11, 0x4D, 0x9B, 0x74], &[0; 30]);
        let info = element(&[0x15, 0x49, 0xA9, 0x66], info);
        let cluster = element(&[0x1F, 0x43, 0xB6, 0x75], &[0; 500]);
        // a segment of unknown size, as a live recorder writes it
        let mut segment = vec![
            0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        segment.extend_from_slice(&[seek, info, cluster].concat());
        [header, segment].concat()
    }

    #[test]
    fn duration_in_timestamp_units() {
        let info = [
            element(&[0x2A, 0xD7, 0xB1], &1_000_000u32.to_be_bytes()),
            element(&[0x44, 0x89], &(36_001_000f64).to_be_bytes()),
            element(&[0x4D, 0x80], b"muxer"),
        ]
        .concat();
        assert_eq!(
            read_in_chunks(&webm(&info), 11, None),
            Outcome::Known(36_001.0)
        );
        let float = element(&[0x44, 0x89], &(90_000f32).to_be_bytes());
        assert_eq!(
            read_in_chunks(&webm(&float), 11, None),
            Outcome::Known(90.0)
        );
    }

    #[test]
    fn a_live_recording_without_duration_is_unknown() {
        let info = element(&[0x4D, 0x80], b"Chrome");
        assert_eq!(read_in_chunks(&webm(&info), 11, None), Outcome::Unknown);
    }
}
