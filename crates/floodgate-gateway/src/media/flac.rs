//! FLAC audio: the stream info block, always first, gives the sample rate and the total
//! number of samples (0 when the encoder did not know it).

use super::scan::{be, seconds, Reader, Step};

/// `fLaC`, the block header, then the 34-byte stream info.
const HEAD: usize = 4 + 4 + 34;

/// Reads the stream info.
pub(super) struct Flac;

impl Reader for Flac {
    fn step(&mut self, buf: &[u8]) -> Step {
        if buf.len() < HEAD {
            return Step::Need(HEAD);
        }
        if buf[4] & 0x7F != 0 {
            return Step::Done(None);
        }
        // after the block sizes (4) and frame sizes (6): rate (20 bits), channels (3),
        // bits per sample (5), total samples (36)
        let info = &buf[8..HEAD];
        let rate = be(&info[10..13]) >> 4;
        let samples = (be(&info[13..14]) & 0x0F) << 32 | be(&info[14..18]);
        Step::Done(if samples == 0 {
            None
        } else {
            seconds(samples, rate)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::scan::{read_in_chunks, Outcome};

    #[test]
    fn total_samples_over_the_rate() {
        let mut file = b"fLaC\x80\0\0\x22".to_vec();
        file.extend_from_slice(&[0x10, 0, 0x10, 0, 0, 0, 0, 0, 0, 0]);
        // 48 kHz, 2 channels, 16 bits, 48000 * 36001 samples
        let samples: u64 = 48_000 * 36_001;
        let packed: u64 = (48_000 << 44) | (1 << 41) | (15 << 36) | samples;
        file.extend_from_slice(&packed.to_be_bytes());
        file.extend_from_slice(&[0; 16]);
        assert_eq!(read_in_chunks(&file, 10, None), Outcome::Known(36_001.0));
    }
}
