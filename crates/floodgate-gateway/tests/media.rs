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

/// POSTs `body` to `path` with `key` as a bearer token.
async fn upload(h: &Harness, path: &str, key: &str, content_type: &str, body: TestBody) -> Reply {
    let request = Request::builder()
        .method("POST")
        .uri(path)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", content_type)
        .body(body)
        .unwrap();
    h.send(request).await
}

fn received(stats: &serde_json::Value, path: &str) -> u64 {
    stats["received_bytes"][path].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn a_file_over_600_minutes_is_refused_before_it_is_counted_or_sent() {
    let h = start(example("provider-b")).await;
    let file = wave(601, 200_000);
    let r = upload(
        &h,
        "/api/v1/aud2txt",
        "sk-demo-basic",
        "audio/wav",
        common::full(file),
    )
    .await;
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.error_type(), "media_too_long");
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("601.0 minutes"), "{message}");
    assert!(message.contains("limit of 600 minutes"), "{message}");
    let stats = h.mock_stats().await;
    assert!(
        stats["requests"].get("/api/v1/aud2txt").is_none(),
        "{stats}"
    );

    // Nothing was counted: the basic key still has its 3 requests of the minute.
    let r = upload(
        &h,
        "/api/v1/aud2txt",
        "sk-demo-basic",
        "audio/wav",
        common::full(wave(600, 200_000)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-ratelimit-remaining"), "2");
    assert_eq!(
        r.header("x-mock-received-bytes"),
        wave(600, 200_000).len().to_string()
    );
}

#[tokio::test]
async fn a_file_in_a_streamed_form_is_found_among_the_fields() {
    let h = start(example("provider-b")).await;
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let long = wave(700, 300_000);
    let body = form(&[
        Part::Text("language", "en"),
        Part::File("file", "talk.wav", &long),
    ]);
    let r = upload(
        &h,
        "/api/v1/transcribe",
        "sk-demo-premium",
        &content_type,
        chunked(&body, 16 * 1024),
    )
    .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.error_type(), "media_too_long");
    assert!(h.mock_stats().await["requests"]
        .get("/api/v1/transcribe")
        .is_none());

    let short = wave(30, 300_000);
    let body = form(&[
        Part::File("file", "talk.wav", &short),
        Part::Text("language", "en"),
    ]);
    let r = upload(
        &h,
        "/api/v1/transcribe",
        "sk-demo-premium",
        &content_type,
        chunked(&body, 16 * 1024),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-mock-received-bytes"), body.len().to_string());
}

#[tokio::test]
async fn a_duration_stated_at_the_end_stops_the_upload_before_its_last_chunk() {
    let h = start(example("provider-b")).await;
    // 1 MB of samples first: the duration arrives long after the decision and the
    // first chunks have gone upstream
    let long = mp4_moov_last(601, 1 << 20);
    let r = upload(
        &h,
        "/api/v1/vid2txt",
        "sk-demo-premium",
        "video/mp4",
        chunked(&long, 16 * 1024),
    )
    .await;
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.error_type(), "media_too_long");
    let stats = h.mock_stats().await;
    assert_eq!(received(&stats, "/api/v1/vid2txt"), 0, "{stats}");

    // The same file at 599 minutes goes through byte for byte, also with a length.
    let short = mp4_moov_last(599, 1 << 20);
    let r = upload(
        &h,
        "/api/v1/vid2txt",
        "sk-demo-premium",
        "video/mp4",
        chunked(&short, 16 * 1024),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-mock-received-bytes"), short.len().to_string());
    let r = upload(
        &h,
        "/api/v1/vid2txt",
        "sk-demo-premium",
        "video/mp4",
        common::full(short.clone()),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-mock-received-bytes"), short.len().to_string());
}

#[tokio::test]
async fn a_duration_only_the_last_page_tells_never_lets_the_file_through_whole() {
    let h = start(example("provider-b")).await;
    let long = opus(601, 400);
    let r = upload(
        &h,
        "/api/v1/aud2video",
        "sk-demo-premium",
        "audio/ogg",
        chunked(&long, 16 * 1024),
    )
    .await;
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.error_type(), "media_too_long");
    // with its length known, the upstream would take a whole body as the request: the
    // last chunk is held back until the duration is known, so it never gets one
    let r = upload(
        &h,
        "/api/v1/aud2video",
        "sk-demo-premium",
        "audio/ogg",
        common::full(long),
    )
    .await;
    assert_eq!(r.status, 413);
    let stats = h.mock_stats().await;
    assert_eq!(received(&stats, "/api/v1/aud2video"), 0, "{stats}");

    let short = opus(599, 400);
    let r = upload(
        &h,
        "/api/v1/aud2video",
        "sk-demo-premium",
        "audio/ogg",
        chunked(&short, 16 * 1024),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-mock-received-bytes"), short.len().to_string());
}

#[tokio::test]
async fn files_that_do_not_state_a_duration_and_routes_without_a_limit_pass() {
    let h = start(example("provider-b")).await;
    // not a container the gateway reads: the upstream judges it
    let r = upload(
        &h,
        "/api/v1/aud2txt",
        "sk-demo-premium",
        "application/octet-stream",
        common::full(vec![7u8; 50_000]),
    )
    .await;
    assert_eq!(r.status, 200);
    // img2video takes images: no duration limit there
    let r = upload(
        &h,
        "/api/v1/img2video",
        "sk-demo-premium",
        "audio/wav",
        common::full(wave(900, 1000)),
    )
    .await;
    assert_eq!(r.status, 200);
}
