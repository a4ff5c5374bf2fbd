//! ISO base media files (MP4, M4A, MOV, 3GP): the duration is in the movie header
//! (`moov`/`mvhd`), as a count of the movie's time units. A file written for streaming
//! has `moov` first; one straight from a recorder has it after the samples (`mdat`),
//! which are passed over unread.

use super::scan::{be, seconds, Reader, Step};

/// Whether `head` starts with a box these files start with.
pub(super) fn starts(head: &[u8]) -> bool {
    matches!(
        &head[4..8],
        b"ftyp" | b"moov" | b"mdat" | b"wide" | b"free" | b"skip" | b"pnot"
    )
}

/// Reads boxes from the top level down into `moov`.
#[derive(Default)]
pub(super) struct Iso {
    /// Bytes left of `moov`, once inside it.
    in_moov: Option<u64>,
}

impl Reader for Iso {
    fn step(&mut self, buf: &[u8]) -> Step {
        if buf.len() < 8 {
            return Step::Need(8);
        }
        let (header, size) = match be(&buf[..4]) {
            1 if buf.len() < 16 => return Step::Need(16),
            1 => (16, Some(be(&buf[8..16]))),
            // A box that runs to the end of the file.
            0 => (8, None),
            n => (8, Some(n)),
        };
        if size.is_some_and(|s| s < header) {
            return Step::Done(None);
        }
        let kind = &buf[4..8];
        match self.in_moov {
            None if kind == b"moov" => {
                self.in_moov = Some(size.map_or(u64::MAX, |s| s - header));
                Step::Take(header as usize)
            }
            None => size.map_or(Step::Done(None), Step::Skip),
            Some(left) => {
                let Some(size) = size.filter(|&s| s <= left) else {
                    return Step::Done(None);
                };
                if kind == b"mvhd" {
                    return movie_header(&buf[header as usize..], header as usize);
                }
                self.in_moov = Some(left - size);
                if left == size {
                    return Step::Done(None);
                }
                Step::Skip(size)
            }
        }
    }
}

/// The duration in the movie header `body`, which starts `header` bytes into `buf`.
fn movie_header(body: &[u8], header: usize) -> Step {
    // version and flags, then creation and modification times, time scale, duration:
    // 32-bit fields in version 0, 64-bit times and duration in version 1
    let (need, scale_at, duration) = match body.first() {
        None => return Step::Need(header + 1),
        Some(0) => (20, 12, 16..20),
        Some(1) => (32, 20, 24..32),
        Some(_) => return Step::Done(None),
    };
    if body.len() < need {
        return Step::Need(header + need);
    }
    let field = &body[duration];
    // all ones: the duration is not known
    if field.iter().all(|&b| b == 0xFF) {
        return Step::Done(None);
    }
    Step::Done(seconds(be(field), be(&body[scale_at..scale_at + 4])))
}

#[cfg(test)]
mod tests {
    use super::super::scan::{read_in_chunks, Outcome};

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }

    fn mvhd_v0(scale: u32, duration: u32) -> Vec<u8> {
        let mut body = vec![0; 4 + 8];
        body.extend_from_slice(&scale.to_be_bytes());
        body.extend_from_slice(&duration.to_be_bytes());
        body.extend_from_slice(&[0; 80]);
        boxed(b"mvhd", &body)
    }

    #[test]
    fn moov_first_or_after_the_samples_in_any_chunking() {
        let ftyp = boxed(b"ftyp", b"isom\0\0\0\0isomiso2");
        let moov = boxed(b"moov", &mvhd_v0(1000, 36_060_000));
        let mdat = boxed(b"mdat", &vec![7; 100_000]);
        for file in [
            [ftyp.clone(), moov.clone(), mdat.clone()].concat(),
            [ftyp, mdat, moov].concat(),
        ] {
            for chunk in [1, 7, 4096, file.len()] {
                assert_eq!(
                    read_in_chunks(&file, chunk, None),
                    Outcome::Known(36_060.0),
                    "chunk {chunk}"
                );
            }
        }
    }

    #[test]
    fn version_1_and_a_large_box() {
        let mut body = vec![1, 0, 0, 0];
        body.extend_from_slice(&[0; 16]);
        body.extend_from_slice(&600u32.to_be_bytes());
        body.extend_from_slice(&(600u64 * 3600).to_be_bytes());
        let moov = boxed(b"moov", &boxed(b"mvhd", &body));
        let mut mdat = 1u32.to_be_bytes().to_vec();
        mdat.extend_from_slice(b"mdat");
        mdat.extend_from_slice(&(16u64 + 10).to_be_bytes());
        mdat.extend_from_slice(&[0; 10]);
        let file = [boxed(b"ftyp", b"qt  "), mdat, moov].concat();
        assert_eq!(read_in_chunks(&file, 5, None), Outcome::Known(3600.0));
    }

    #[test]
    fn unknown_durations_and_broken_files() {
        let ftyp = boxed(b"ftyp", b"isom");
        let all_ones = [ftyp.clone(), boxed(b"moov", &mvhd_v0(1000, u32::MAX))].concat();
        assert_eq!(read_in_chunks(&all_ones, 64, None), Outcome::Unknown);
        let no_mvhd = [ftyp.clone(), boxed(b"moov", &boxed(b"trak", &[0; 20]))].concat();
        assert_eq!(read_in_chunks(&no_mvhd, 64, None), Outcome::Unknown);
        let truncated = [ftyp.clone(), boxed(b"mdat", &[0; 50])].concat();
        assert_eq!(read_in_chunks(&truncated[..40], 64, None), Outcome::Unknown);
        let zero_scale = [ftyp, boxed(b"moov", &mvhd_v0(0, 5))].concat();
        assert_eq!(read_in_chunks(&zero_scale, 64, None), Outcome::Unknown);
    }
}
