//! MPEG audio (MP3, and layers I and II): after any ID3v2 tag, the first frame either
//! carries a Xing/Info or VBRI header with the frame count (variable bitrate, and what
//! most encoders write), or the stream is taken to be at the first frame's constant
//! bitrate, and its length gives the duration when the stream ends.

use super::scan::{be, seconds, Reader, Step};

/// Bytes of the first frame read for a Xing/Info or VBRI header.
const FIRST_FRAME: usize = 36 + 18;

/// Whether `head` starts with an ID3v2 tag or an MPEG audio frame.
pub(super) fn starts(head: &[u8]) -> bool {
    head.starts_with(b"ID3") || Frame::parse(head).is_some()
}

/// A frame header's fields that time the stream.
#[derive(Debug, Clone, Copy)]
struct Frame {
    /// Samples a second.
    rate: u64,
    /// Bits a second.
    bitrate: u64,
    /// Samples in a frame.
    samples: u64,
    /// Where a Xing/Info header starts in the frame (layer III; 0 for the others).
    xing: usize,
}

impl Frame {
    fn parse(b: &[u8]) -> Option<Self> {
        if b.len() < 4 || b[0] != 0xFF || b[1] & 0xE0 != 0xE0 {
            return None;
        }
        // version: 3 MPEG-1, 2 MPEG-2, 0 MPEG-2.5; layer: 3 I, 2 II, 1 III
        let (version, layer) = ((b[1] >> 3) & 3, (b[1] >> 1) & 3);
        let (bitrate_index, rate_index) = (usize::from(b[2] >> 4), usize::from((b[2] >> 2) & 3));
        if version == 1
            || layer == 0
            || bitrate_index == 0
            || bitrate_index == 15
            || rate_index == 3
        {
            return None;
        }
        const V1: [[u16; 14]; 3] = [
            [
                32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
            ],
            [
                32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
            ],
            [
                32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
            ],
        ];
        const V2: [[u16; 14]; 2] = [
            [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
            [
                32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
            ],
        ];
        let mpeg1 = version == 3;
        let kbps = match (mpeg1, layer) {
            (true, l) => V1[usize::from(l) - 1][bitrate_index - 1],
            (false, 3) => V2[1][bitrate_index - 1],
            (false, _) => V2[0][bitrate_index - 1],
        };
        let base = [44_100, 48_000, 32_000][rate_index];
        let rate = match version {
            3 => base,
            2 => base / 2,
            _ => base / 4,
        };
        let mono = b[3] >> 6 == 3;
        let (samples, xing) = match (layer, mpeg1, mono) {
            (3, ..) => (384, 0),
            (2, ..) => (1152, 0),
            (_, true, false) => (1152, 4 + 32),
            (_, true, true) => (1152, 4 + 17),
            (_, false, false) => (576, 4 + 17),
            (_, false, true) => (576, 4 + 9),
        };
        Some(Self {
            rate,
            bitrate: u64::from(kbps) * 1000,
            samples,
            xing,
        })
    }
}

/// Reads the tag and the first frame.
#[derive(Default)]
pub(super) struct Mp3 {
    /// Bytes before the first frame (ID3v2 tags).
    audio_start: u64,
    tag_checked: bool,
    /// The first frame, once read, for a constant-bitrate stream.
    constant: Option<Frame>,
}

impl Reader for Mp3 {
    fn step(&mut self, buf: &[u8]) -> Step {
        if !self.tag_checked {
            if buf.len() < 10 {
                return Step::Need(10);
            }
            if buf.starts_with(b"ID3") {
                // the tag's size is synchsafe (7 bits a byte), without its header and
                // footer
                let size = buf[6..10]
                    .iter()
                    .fold(0u64, |n, &b| n << 7 | u64::from(b & 0x7F));
                let footer = if buf[5] & 0x10 != 0 { 10 } else { 0 };
                let tag = 10 + size + footer;
                self.audio_start += tag;
                return Step::Skip(tag);
            }
            self.tag_checked = true;
        }
        if buf.len() < FIRST_FRAME {
            return Step::Need(FIRST_FRAME);
        }
        let Some(frame) = Frame::parse(buf) else {
            return Step::Done(None);
        };
        if frame.xing > 0 {
            let at = &buf[frame.xing..];
            if (at.starts_with(b"Xing") || at.starts_with(b"Info")) && be(&at[4..8]) & 1 != 0 {
                return Step::Done(seconds(be(&at[8..12]) * frame.samples, frame.rate));
            }
        }
        if &buf[36..40] == b"VBRI" {
            return Step::Done(seconds(be(&buf[50..54]) * frame.samples, frame.rate));
        }
        self.constant = Some(frame);
        Step::UntilEnd
    }

    fn end(&mut self, len: u64) -> Option<f64> {
        let frame = self.constant?;
        seconds(len.saturating_sub(self.audio_start) * 8, frame.bitrate)
    }
}

#[cfg(test)]
mod tests {
    use super::super::scan::{read_in_chunks, Outcome, Probe};

    /// An MPEG-1 layer III frame header: 128 kbps, 44.1 kHz, stereo.
    const HEADER: [u8; 4] = [0xFF, 0xFB, 0x90, 0x00];

    #[test]
    fn a_xing_header_gives_the_frame_count_after_an_id3_tag() {
        let mut file = b"ID3\x04\0\0\0\0\x01\x00".to_vec(); // a 128-byte tag
        file.extend_from_slice(&[0; 128]);
        let mut frame = HEADER.to_vec();
        frame.extend_from_slice(&[0; 32]);
        frame.extend_from_slice(b"Xing\0\0\0\x0F");
        // 601 minutes of 1152-sample frames at 44.1 kHz
        let frames = 601 * 60 * 44_100 / 1152 + 1;
        frame.extend_from_slice(&(frames as u32).to_be_bytes());
        frame.extend_from_slice(&[0; 400]);
        file.extend_from_slice(&frame);
        let Outcome::Known(seconds) = read_in_chunks(&file, 100, None) else {
            panic!("no duration");
        };
        assert!((seconds - 601.0 * 60.0).abs() < 0.1, "{seconds}");
    }

    #[test]
    fn a_constant_bitrate_stream_is_timed_by_its_length() {
        let mut file = HEADER.to_vec();
        file.extend_from_slice(&vec![0; 16_000 * 3 - 4]); // 3 s at 128 kbps
        assert_eq!(read_in_chunks(&file, 100, None), Outcome::Known(3.0));
        // with the length known up front, the answer does not wait for the end
        let mut probe = Probe::new(Some(16_000 * 3));
        probe.feed(&file[..1000]);
        assert_eq!(probe.outcome(), Outcome::Known(3.0));
    }

    #[test]
    fn text_is_not_mpeg_audio() {
        assert_eq!(
            read_in_chunks(b"ID3 is not how this text goes on, sorry", 100, None),
            Outcome::Unknown
        );
        assert_eq!(
            read_in_chunks(b"{\"prompt\": \"a cat\"}", 100, None),
            Outcome::Unknown
        );
    }
}
