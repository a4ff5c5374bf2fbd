//! The media duration limit (seed 002: "audio/video duration 600 minutes max"), over real
//! sockets: a file whose container states a longer duration gets a 413 naming the limit,
//! before anything is counted or sent when the duration is in the file's first bytes,
//! and without the upstream ever receiving the whole file when it is only at the end.

mod common;

use common::form::{form, Part, BOUNDARY};
use common::{chunked, example, start, Harness, Reply, TestBody};
use http::Request;

/// A WAVE header for `minutes` of 8 kHz 8-bit mono sound, followed by `present` bytes of
/// it (a file may claim more than it carries; the limit is on what it claims).
fn wave(minutes: u32, present: usize) -> Vec<u8> {
    let mut f = b"RIFF\xff\xff\xff\xffWAVEfmt \x10\0\0\0\x01\0\x01\0".to_vec();
    f.extend_from_slice(&8000u32.to_le_bytes());
    f.extend_from_slice(&8000u32.to_le_bytes());
    f.extend_from_slice(b"\x01\0\x08\0data");
    f.extend_from_slice(&(8000 * 60 * minutes).to_le_bytes());
    f.extend_from_slice(&vec![0x80; present]);
    f
}

fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut b = u32::try_from(body.len() + 8)
        .unwrap()
        .to_be_bytes()
        .to_vec();
    b.extend_from_slice(kind);
    b.extend_from_slice(body);
    b
}

/// An MP4 as a recorder writes it: the samples (`mdat`, `samples` bytes) first, the movie
/// header with the duration at the end.
fn mp4_moov_last(minutes: u32, samples: usize) -> Vec<u8> {
    let mut mvhd = vec![0; 12];
    mvhd.extend_from_slice(&1000u32.to_be_bytes());
    mvhd.extend_from_slice(&(minutes * 60_000).to_be_bytes());
    mvhd.extend_from_slice(&[0; 80]);
    [
        boxed(b"ftyp", b"isom\0\0\x02\0isomiso2avc1mp41"),
        boxed(b"mdat", &vec![0x42; samples]),
        boxed(b"moov", &boxed(b"mvhd", &mvhd)),
    ]
    .concat()
}

/// An Ogg page of stream 1 at granule position `granule`.
fn ogg_page(granule: u64, body: &[u8]) -> Vec<u8> {
    let mut p = b"OggS\0\0".to_vec();
    p.extend_from_slice(&granule.to_le_bytes());
    p.extend_from_slice(&1u32.to_le_bytes());
    p.extend_from_slice(&[0; 8]);
    let segments = body.len().div_ceil(255).max(1);
    p.push(u8::try_from(segments).unwrap());
    for i in 0..segments {
        p.push(u8::try_from((body.len() - i * 255).min(255)).unwrap());
    }
    p.extend_from_slice(body);
    p
}

/// An Ogg Opus file whose last page ends at `minutes`: a duration only its end tells.
fn opus(minutes: u64, pages: usize) -> Vec<u8> {
    let mut head = b"OpusHead\x01\x01\0\0\x80\xbb\0\0\0\0\0".to_vec();
    head.truncate(19);
    let mut file = [ogg_page(0, &head), ogg_page(0, b"OpusTags\0\0\0\0\0\0\0\0")].concat();
    let end = minutes * 60 * 48_000;
    for i in 1..=pages as u64 {
        file.extend_from_slice(&ogg_page(end * i / pages as u64, &[0x55; 250]));
    }
    file
}

/// An upload endpoint as a caller uses it: its path, the key it sends as a bearer token
/// and the content type of what it sends.
struct Endpoint<'a> {
    path: &'a str,
    key: &'a str,
    content_type: &'a str,
}

impl Endpoint<'_> {
    /// POSTs `body` here.
    async fn send(&self, h: &Harness, body: TestBody) -> Reply {
        let request = Request::builder()
            .method("POST")
            .uri(self.path)
            .header("authorization", format!("Bearer {}", self.key))
            .header("content-type", self.content_type)
            .body(body)
            .unwrap();
        h.send(request).await
    }

    /// How many body bytes the mock upstream has received here.
    async fn received(&self, h: &Harness) -> u64 {
        let stats = h.mock_stats().await;
        stats["received_bytes"][self.path].as_u64().unwrap_or(0)
    }

    /// Whether the mock upstream has seen any request here.
    async fn reached(&self, h: &Harness) -> bool {
        h.mock_stats().await["requests"].get(self.path).is_some()
    }
}

fn assert_too_long(r: &Reply) {
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.error_type(), "media_too_long");
}

/// The answer is a 200, and the upstream received all `len` bytes of the body.
fn assert_passed_whole(r: &Reply, len: usize) {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-mock-received-bytes"), len.to_string());
}

const AUD2TXT_BASIC: Endpoint<'static> = Endpoint {
    path: "/api/v1/aud2txt",
    key: "sk-demo-basic",
    content_type: "audio/wav",
};

#[tokio::test]
async fn a_file_over_600_minutes_is_refused_before_it_is_counted_or_sent() {
    let h = start(example("provider-b")).await;
    let r = AUD2TXT_BASIC
        .send(&h, common::full(wave(601, 200_000)))
        .await;
    assert_too_long(&r);
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("601.0 minutes"), "{message}");
    assert!(message.contains("limit of 600 minutes"), "{message}");
    assert!(!AUD2TXT_BASIC.reached(&h).await);

    // Nothing was counted: the basic key still has its 3 requests of the minute.
    let file = wave(600, 200_000);
    let r = AUD2TXT_BASIC.send(&h, common::full(file.clone())).await;
    assert_passed_whole(&r, file.len());
    assert_eq!(r.header("x-ratelimit-remaining"), "2");
}

#[tokio::test]
async fn a_file_in_a_streamed_form_is_found_among_the_fields() {
    let h = start(example("provider-b")).await;
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let transcribe = Endpoint {
        path: "/api/v1/transcribe",
        key: "sk-demo-premium",
        content_type: &content_type,
    };
    let long = wave(700, 300_000);
    let body = form(&[
        Part::Text("language", "en"),
        Part::File("file", "talk.wav", &long),
    ]);
    assert_too_long(&transcribe.send(&h, chunked(&body, 16 * 1024)).await);
    assert!(!transcribe.reached(&h).await);

    let short = wave(30, 300_000);
    let body = form(&[
        Part::File("file", "talk.wav", &short),
        Part::Text("language", "en"),
    ]);
    let r = transcribe.send(&h, chunked(&body, 16 * 1024)).await;
    assert_passed_whole(&r, body.len());
}

#[tokio::test]
async fn a_duration_stated_at_the_end_stops_the_upload_before_its_last_chunk() {
    let h = start(example("provider-b")).await;
    let vid2txt = Endpoint {
        path: "/api/v1/vid2txt",
        key: "sk-demo-premium",
        content_type: "video/mp4",
    };
    // 1 MB of samples first: the duration arrives long after the decision and the
    // first chunks have gone upstream
    let long = mp4_moov_last(601, 1 << 20);
    assert_too_long(&vid2txt.send(&h, chunked(&long, 16 * 1024)).await);
    assert_eq!(vid2txt.received(&h).await, 0);

    // The same file at 599 minutes goes through byte for byte, also with a length.
    let short = mp4_moov_last(599, 1 << 20);
    let r = vid2txt.send(&h, chunked(&short, 16 * 1024)).await;
    assert_passed_whole(&r, short.len());
    let r = vid2txt.send(&h, common::full(short.clone())).await;
    assert_passed_whole(&r, short.len());
}

#[tokio::test]
async fn a_duration_only_the_last_page_tells_never_lets_the_file_through_whole() {
    let h = start(example("provider-b")).await;
    let aud2video = Endpoint {
        path: "/api/v1/aud2video",
        key: "sk-demo-premium",
        content_type: "audio/ogg",
    };
    let long = opus(601, 400);
    assert_too_long(&aud2video.send(&h, chunked(&long, 16 * 1024)).await);
    // with its length known, the upstream would take a whole body as the request: the
    // last chunk is held back until the duration is known, so it never gets one
    let r = aud2video.send(&h, common::full(long)).await;
    assert_eq!(r.status, 413);
    assert_eq!(aud2video.received(&h).await, 0);

    let short = opus(599, 400);
    let r = aud2video.send(&h, chunked(&short, 16 * 1024)).await;
    assert_passed_whole(&r, short.len());
}

#[tokio::test]
async fn files_that_do_not_state_a_duration_and_routes_without_a_limit_pass() {
    let h = start(example("provider-b")).await;
    // not a container the gateway reads: the upstream judges it
    let aud2txt = Endpoint {
        path: "/api/v1/aud2txt",
        key: "sk-demo-premium",
        content_type: "application/octet-stream",
    };
    let r = aud2txt.send(&h, common::full(vec![7u8; 50_000])).await;
    assert_eq!(r.status, 200);
    // img2video takes images: no duration limit there
    let img2video = Endpoint {
        path: "/api/v1/img2video",
        key: "sk-demo-premium",
        content_type: "audio/wav",
    };
    let r = img2video.send(&h, common::full(wave(900, 1000))).await;
    assert_eq!(r.status, 200);
}
