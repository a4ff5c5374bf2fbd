//! AIFF and AIFF-C audio: the common chunk (`COMM`) gives the number of sample frames
//! and the sample rate (an 80-bit extended float).

use super::scan::{be, seconds, Reader, Step};

/// Reads the chunks after the 12-byte file header.
pub(super) struct Aiff;

impl Reader for Aiff {
    fn step(&mut self, buf: &[u8]) -> Step {
        if buf.len() < 8 {
            return Step::Need(8);
        }
        let size = be(&buf[4..8]);
        if &buf[..4] != b"COMM" {
            return Step::Skip(8 + size + (size & 1));
        }
        // channels (2), sample frames (4), sample size (2), sample rate (10)
        if buf.len() < 8 + 18 {
            return Step::Need(8 + 18);
        }
        let frames = be(&buf[10..14]);
        match extended(&buf[16..26]) {
            Some(rate) if rate > 0.0 => {
                #[allow(clippy::cast_precision_loss)] // sample frames fit f64 exactly
                Step::Done(Some(frames as f64 / rate))
            }
            _ => Step::Done(seconds(frames, 0)),
        }
    }
}

/// An IEEE 754 80-bit extended float (big-endian), as AIFF writes sample rates.
fn extended(bytes: &[u8]) -> Option<f64> {
    let exponent = i32::try_from(be(&bytes[..2]) & 0x7FFF).ok()? - 16383;
    let mantissa = be(&bytes[2..10]);
    if bytes[0] & 0x80 != 0 {
        return None;
    }
    #[allow(clippy::cast_precision_loss)] // a sample rate needs far fewer bits
    Some(mantissa as f64 * 2f64.powi(exponent - 63))
}

#[cfg(test)]
mod tests {
    use super::super::scan::{read_in_chunks, Outcome};

    #[test]
    fn frames_over_the_extended_rate() {
        let mut comm = b"COMM".to_vec();
        comm.extend_from_slice(&18u32.to_be_bytes());
        comm.extend_from_slice(&1u16.to_be_bytes());
        comm.extend_from_slice(&(44_100u32 * 90).to_be_bytes());
        comm.extend_from_slice(&16u16.to_be_bytes());
        // 44100 as an extended float
        comm.extend_from_slice(&[0x40, 0x0E, 0xAC, 0x44, 0, 0, 0, 0, 0, 0]);
        let mut body = b"AIFF".to_vec();
        body.extend_from_slice(b"FVER\0\0\0\x04\xA2\x80\x51\x40");
        body.extend_from_slice(&comm);
        let mut file = b"FORM".to_vec();
        file.extend_from_slice(&(body.len() as u32).to_be_bytes());
        file.extend_from_slice(&body);
        assert_eq!(read_in_chunks(&file, 3, None), Outcome::Known(90.0));
    }
}
