//! Ogg audio (Opus, Vorbis): no header holds the duration; the last page of the first
//! stream carries the position of its last sample (the granule position), so the pages'
//! headers are read as they pass and the duration is known when the file ends.

use super::scan::{le, seconds, Reader, Step};

/// A page header before its segment table.
const PAGE: usize = 27;

/// Reads page headers.
#[derive(Default)]
pub(super) struct Ogg {
    /// The first stream's serial number and sample rate, once its first page is read.
    stream: Option<(u64, u64)>,
    /// Opus's samples to drop at the start.
    pre_skip: u64,
    /// The first stream's latest granule position.
    last: Option<u64>,
}

impl Reader for Ogg {
    fn step(&mut self, buf: &[u8]) -> Step {
        if buf.len() < PAGE {
            return Step::Need(PAGE);
        }
        if &buf[..4] != b"OggS" {
            return Step::Done(None);
        }
        let segments = usize::from(buf[26]);
        let header = PAGE + segments;
        if buf.len() < header {
            return Step::Need(header);
        }
        let body: usize = buf[PAGE..header].iter().map(|&s| usize::from(s)).sum();
        let granule = le(&buf[6..14]);
        let serial = le(&buf[14..18]);
        match self.stream {
            None => {
                // the first page holds the codec's identification header
                let id_len = body.min(19);
                if buf.len() < header + id_len {
                    return Step::Need(header + id_len);
                }
                let id = &buf[header..header + id_len];
                let rate = if id.len() >= 12 && id.starts_with(b"OpusHead") {
                    self.pre_skip = le(&id[10..12]);
                    48_000
                } else if id.len() >= 16 && id.starts_with(b"\x01vorbis") {
                    le(&id[12..16])
                } else {
                    return Step::Done(None);
                };
                self.stream = Some((serial, rate));
            }
            // -1: no packet ends on this page
            Some((first, _)) if first == serial && granule != u64::MAX => {
                self.last = Some(granule);
            }
            Some(_) => {}
        }
        Step::Skip((header + body) as u64)
    }

    fn end(&mut self, _len: u64) -> Option<f64> {
        let (_, rate) = self.stream?;
        seconds(self.last?.saturating_sub(self.pre_skip), rate)
    }
}

#[cfg(test)]
mod tests {
    use super::super::scan::{read_in_chunks, Outcome};

    fn page(serial: u32, granule: u64, body: &[u8]) -> Vec<u8> {
        let mut p = b"OggS\0\0".to_vec();
        p.extend_from_slice(&granule.to_le_bytes());
        p.extend_from_slice(&serial.to_le_bytes());
        p.extend_from_slice(&[0; 8]);
        let mut left = body.len();
        let mut table = Vec::new();
        loop {
            table.push(left.min(255) as u8);
            if left < 255 {
                break;
            }
            left -= 255;
        }
        p.push(table.len() as u8);
        p.extend_from_slice(&table);
        p.extend_from_slice(body);
        p
    }

    #[test]
    fn opus_duration_from_the_last_granule() {
        let mut head = b"OpusHead\x01\x02".to_vec();
        head.extend_from_slice(&312u16.to_le_bytes());
        head.extend_from_slice(&[0x80, 0xBB, 0, 0, 0, 0, 0]);
        let file = [
            page(7, 0, &head),
            page(7, 0, b"OpusTags"),
            page(9, 5, &[1; 40]),
            page(7, 48_000 * 100, &[2; 600]),
            page(7, u64::MAX, &[3; 300]),
            page(7, 48_000 * 200 + 312, &[4; 300]),
        ]
        .concat();
        assert_eq!(read_in_chunks(&file, 333, None), Outcome::Known(200.0));
    }

    #[test]
    fn vorbis_uses_its_own_rate_and_unknown_codecs_say_nothing() {
        let mut id = b"\x01vorbis\0\0\0\0\x02".to_vec();
        id.extend_from_slice(&[0x44, 0xAC, 0, 0, 0, 0, 0, 0]);
        let file = [page(1, 0, &id), page(1, 44_100 * 30, &[0; 10])].concat();
        assert_eq!(read_in_chunks(&file, 333, None), Outcome::Known(30.0));
        let theora = [page(1, 0, b"\x80theora-ish-header"), page(1, 99, &[0; 10])].concat();
        assert_eq!(read_in_chunks(&theora, 333, None), Outcome::Unknown);
    }
}
