//! Multipart bodies as OpenAI-style SDKs build them, for the tests of form fields.

/// The boundary the OpenAI Python SDK (through httpx) would pick: 32 hex digits.
pub(crate) const BOUNDARY: &str = "665defe0cbd6a3d78b5578584555c62b";

/// A part of a form: a text field, or a file with its name and filename.
pub(crate) enum Part<'a> {
    Text(&'a str, &'a str),
    File(&'a str, &'a str, &'a [u8]),
}

/// The bytes httpx writes for `parts`: each part's headers, a blank line, the value, CRLF.
pub(crate) fn form(parts: &[Part<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match part {
            Part::Text(name, value) => {
                out.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}")
                        .as_bytes(),
                );
            }
            Part::File(name, file, data) => {
                out.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: audio/wav\r\n\r\n"
                    )
                    .as_bytes(),
                );
                out.extend_from_slice(data);
            }
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

/// A WAV-looking file of `len` bytes that contains the boundary's prefix and CRLFs, as
/// real audio may, without the boundary itself.
pub(crate) fn audio(len: usize) -> Vec<u8> {
    let mut data = b"RIFF\0\0\0\0WAVE".to_vec();
    let noise = b"\r\n--665defe0\r\n\0\xff";
    data.extend(noise.iter().cycle().take(len.saturating_sub(data.len())));
    data
}

/// The Content-Type of a form delimited by [`BOUNDARY`].
pub(crate) fn multipart_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}
