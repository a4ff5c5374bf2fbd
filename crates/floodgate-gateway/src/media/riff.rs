//! RIFF files: WAVE audio (and RF64, its 64-bit form), whose duration is the size of the
//! `data` chunk over the byte rate in `fmt `; and AVI video, whose main header (`avih`,
//! first in the `hdrl` list) gives the frame count and the time of one frame.

use super::scan::{le, seconds, Reader, Step};

/// A chunk size of all ones: RF64 keeps the real size in `ds64`.
const IN_DS64: u64 = 0xFFFF_FFFF;

/// Reads the chunks after the 12-byte file header.
pub(super) struct Riff {
    avi: bool,
    /// WAVE: bytes of sound a second, from `fmt `.
    byte_rate: Option<u64>,
    /// WAVE: size of the `data` chunk, when seen before `fmt `.
    data: Option<u64>,
    /// RF64: the `data` size from `ds64`.
    ds64: Option<u64>,
}

impl Riff {
    pub(super) fn wave() -> Self {
        Self::new(false)
    }

    pub(super) fn avi() -> Self {
        Self::new(true)
    }

    fn new(avi: bool) -> Self {
        Self {
            avi,
            byte_rate: None,
            data: None,
            ds64: None,
        }
    }

    /// The WAVE duration, once both the data size and the byte rate are known.
    fn wave_duration(&self) -> Option<Step> {
        let (data, rate) = (self.data?, self.byte_rate?);
        Some(Step::Done(seconds(data, rate)))
    }
}

impl Reader for Riff {
    fn step(&mut self, buf: &[u8]) -> Step {
        if buf.len() < 8 {
            return Step::Need(8);
        }
        let id = &buf[..4];
        let size = le(&buf[4..8]);
        // chunks are padded to an even size
        let whole = 8 + size + (size & 1);
        match (self.avi, id) {
            (true, b"LIST") => {
                if buf.len() < 12 {
                    return Step::Need(12);
                }
                if &buf[8..12] == b"hdrl" {
                    // into the header list, whose first chunk is avih
                    Step::Take(12)
                } else {
                    // the frames (movi) or anything else before the header: no duration
                    Step::Done(None)
                }
            }
            (true, b"avih") => {
                if buf.len() < 8 + 20 {
                    return Step::Need(8 + 20);
                }
                let frame_us = le(&buf[8..12]);
                let frames = le(&buf[24..28]);
                Step::Done(seconds(frames.saturating_mul(frame_us), 1_000_000))
            }
            (false, b"ds64") => {
                if buf.len() < 8 + 16 {
                    return Step::Need(8 + 16);
                }
                self.ds64 = Some(le(&buf[16..24]));
                Step::Skip(whole)
            }
            (false, b"fmt ") => {
                if buf.len() < 8 + 12 {
                    return Step::Need(8 + 12);
                }
                self.byte_rate = Some(le(&buf[16..20]));
                self.wave_duration().unwrap_or(Step::Skip(whole))
            }
            (false, b"data") => {
                let data = if size == IN_DS64 {
                    self.ds64
                } else {
                    Some(size)
                };
                let Some(data) = data else {
                    return Step::Done(None);
                };
                self.data = Some(data);
                self.wave_duration()
                    .unwrap_or(Step::Skip(8 + data + (data & 1)))
            }
            _ => Step::Skip(whole),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::scan::{read_in_chunks, Outcome};

    pub(crate) fn chunk(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut c = id.to_vec();
        c.extend_from_slice(&(body.len() as u32).to_le_bytes());
        c.extend_from_slice(body);
        if body.len() % 2 == 1 {
            c.push(0);
        }
        c
    }

    /// A WAVE file of `rate` bytes a second whose data chunk claims `claimed` bytes, of
    /// which `present` are there.
    fn wave(rate: u32, claimed: u32, present: usize) -> Vec<u8> {
        let mut fmt = vec![1, 0, 1, 0];
        fmt.extend_from_slice(&rate.to_le_bytes());
        fmt.extend_from_slice(&rate.to_le_bytes());
        fmt.extend_from_slice(&[1, 0, 8, 0]);
        let mut data = b"data".to_vec();
        data.extend_from_slice(&claimed.to_le_bytes());
        data.extend_from_slice(&vec![0x80; present]);
        let body = [
            b"WAVE".to_vec(),
            chunk(b"LIST", b"INFOjunk!"),
            chunk(b"fmt ", &fmt),
            data,
        ];
        let body = body.concat();
        let mut file = b"RIFF".to_vec();
        file.extend_from_slice(&(body.len() as u32).to_le_bytes());
        file.extend_from_slice(&body);
        file
    }

    #[test]
    fn wave_duration_is_data_over_byte_rate() {
        // 8 kHz, 8-bit mono: 8000 bytes a second; the header claims 601 minutes
        let file = wave(8000, 8000 * 60 * 601, 1000);
        for chunk in [1, 3, 64, file.len()] {
            assert_eq!(
                read_in_chunks(&file, chunk, None),
                Outcome::Known(601.0 * 60.0)
            );
        }
        assert_eq!(
            read_in_chunks(&wave(0, 100, 100), 64, None),
            Outcome::Unknown
        );
    }

    #[test]
    fn avi_frames_times_frame_time() {
        let mut avih = 40_000u32.to_le_bytes().to_vec(); // 25 frames a second
        avih.extend_from_slice(&[0; 12]);
        avih.extend_from_slice(&(25u32 * 3600).to_le_bytes());
        avih.extend_from_slice(&[0; 36]);
        let mut hdrl = b"hdrl".to_vec();
        hdrl.extend_from_slice(&chunk(b"avih", &avih));
        let body = [b"AVI ".to_vec(), chunk(b"LIST", &hdrl)].concat();
        let mut file = b"RIFF".to_vec();
        file.extend_from_slice(&(body.len() as u32).to_le_bytes());
        file.extend_from_slice(&body);
        assert_eq!(read_in_chunks(&file, 5, None), Outcome::Known(3600.0));
    }
}
