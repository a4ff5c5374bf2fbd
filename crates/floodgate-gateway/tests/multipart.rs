//! `multipart/form-data` bodies, as OpenAI-style SDKs send audio transcriptions and image
//! edits: the model and the image count are read from form fields wherever they stand
//! relative to the file part, the upstream receives the client's bytes untouched, and a
//! malformed form, a missing field or a body over the route's cap gets its 4xx JSON
//! without reaching the upstream.

mod common;

use axum::body::Bytes;
use axum::http::{header, HeaderMap};
use common::form::{audio, form, multipart_type, Part};
use common::{config_from, example, full, start, start_without_mock, Harness, Reply, TestBody};
use http::Request;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const KEY: &str = "sk-demo-standard";

/// Routes with and without an upload limit; `server.max_json_body` is far below the
/// uploads, so a test passing a large file proves the route's limit is the one applied.
const CONFIG: &str = r#"
[server]
max_json_body = "16KB"

[responses]
headers = ["openai"]

[models]
"whisper-large-v3" = { kind = "audio", class = "asr" }
"flux-dev" = { kind = "image", images_field = "n" }
"inpainting" = { kind = "image", images_field = "image_num" }
"wan" = { kind = "video", compute = { field = "duration_seconds", factor_field = "resolution", factor_default = "1080p", factors = { "720p" = 1.0, "1080p" = 2.25, "4k" = 9.0 } } }

[tiers.standard]
limits = [{ unit = "requests", window = "minute", max = 100 }]
kinds.image.limits = [{ unit = "images", window = "minute", max = 5 }]
kinds.video.limits = [{ unit = "compute_units", window = "minute", max = 100 }]

[accounts.demo-standard]
tier = "standard"

[[keys]]
name = "demo standard key"
sha256 = "d5a965862319e8e72cae96ab9345204169e25006fd889cbd2e3d7acccd4e015d"
account = "demo-standard"

[[routes]]
method = "POST"
path = "/v1/audio/transcriptions"
model_field = "model"
max_upload = "256KB"

[[routes]]
method = "POST"
path = "/v1/audio/translations"
model_field = "model"

[[routes]]
method = "POST"
path = "/v1/inpainting"
model = "inpainting"
max_upload = "256KB"

[[routes]]
method = "POST"
path = "/v1/video"
model = "wan"
max_upload = "256KB"

[[routes]]
method = "POST"
path = "/v1/images/edits"
model_field = "model"
max_upload = "256KB"
"#;

fn request(
    path: &str,
    content_type: &str,
    body: TestBody,
    length: Option<usize>,
) -> Request<TestBody> {
    let mut b = Request::builder()
        .method("POST")
        .uri(path)
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", content_type);
    if let Some(length) = length {
        b = b.header("content-length", length);
    }
    b.body(body).expect("request")
}

/// An upstream that answers every request with the body and Content-Type it received,
/// and counts the requests that reached it.
async fn echo_gateway() -> (Harness, Arc<AtomicU64>) {
    let hits = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&hits);
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let counter = Arc::clone(&counter);
        async move {
            counter.fetch_add(1, Ordering::Relaxed);
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .cloned()
                .unwrap_or(header::HeaderValue::from_static("none"));
            ([(header::CONTENT_TYPE, content_type)], body)
        }
    });
    let (listener, addr) = common::listener().await;
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut config = config_from(CONFIG);
    config.server.upstream = Some(format!("http://{addr}"));
    (start_without_mock(config).await, hits)
}

async fn send_form(h: &Harness, path: &str, body: Vec<u8>) -> Reply {
    let len = body.len();
    h.send(request(path, &multipart_type(), full(body), Some(len)))
        .await
}

#[tokio::test]
async fn the_sdk_shape_is_counted_and_forwarded_byte_for_byte() {
    let (h, hits) = echo_gateway().await;
    // The SDK's order: text fields first, then the file; the file is larger than
    // server.max_json_body but within the route's max_upload.
    let body = form(&[
        Part::Text("model", "whisper-large-v3"),
        Part::Text("language", "en"),
        Part::File("file", "speech.wav", &audio(100 * 1024)),
    ]);
    let r = send_form(&h, "/v1/audio/transcriptions", body.clone()).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), multipart_type());
    assert!(r.body == body, "the upstream received other bytes");
    assert_eq!(r.header("x-ratelimit-limit-requests"), "100");
    assert_eq!(r.header("x-ratelimit-remaining-requests"), "99");
    assert_eq!(hits.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn the_model_after_the_file_is_read_too() {
    let (h, _) = echo_gateway().await;
    let file = audio(64 * 1024);
    let body = form(&[
        Part::File("file", "speech.wav", &file),
        Part::Text("response_format", "text"),
        Part::Text("model", "whisper-large-v3"),
    ]);
    let r = send_form(&h, "/v1/audio/transcriptions", body.clone()).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.body == body);
    // Only a model read from after the file can be named in this error.
    let unknown = form(&[
        Part::File("file", "speech.wav", &file),
        Part::Text("model", "whisper-huge"),
    ]);
    let r = send_form(&h, "/v1/audio/transcriptions", unknown).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_type(), "unknown_model");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("whisper-huge"));
}

#[tokio::test]
async fn the_image_count_of_a_form_is_its_cost() {
    let (h, _) = echo_gateway().await;
    let edit = |n: &'static str| {
        form(&[
            Part::File("image", "in.png", b"\x89PNG\r\n\x1a\n"),
            Part::Text("prompt", "add a boat"),
            Part::Text("model", "flux-dev"),
            Part::Text("n", n),
        ])
    };
    assert_eq!(
        send_form(&h, "/v1/images/edits", edit("3")).await.status,
        200
    );
    // 3 of 5 images used: 3 more do not fit, 2 do.
    let r = send_form(&h, "/v1/images/edits", edit("3")).await;
    assert_eq!(r.status, 429, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        send_form(&h, "/v1/images/edits", edit("2")).await.status,
        200
    );
    let r = send_form(&h, "/v1/images/edits", edit("two")).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("'n'"));
}

#[tokio::test]
async fn a_fixed_model_reads_its_image_count_and_compute_inputs_from_the_form() {
    let (h, _) = echo_gateway().await;
    let inpaint = |n: &'static str| {
        form(&[
            Part::File("image", "in.png", b"\x89PNG\r\n\x1a\n"),
            Part::Text("image_num", n),
        ])
    };
    assert_eq!(
        send_form(&h, "/v1/inpainting", inpaint("4")).await.status,
        200
    );
    assert_eq!(
        send_form(&h, "/v1/inpainting", inpaint("2")).await.status,
        429
    );
    assert_eq!(
        send_form(&h, "/v1/inpainting", inpaint("1")).await.status,
        200
    );
    // 10 s of 4k is 90 units, 10 s of 720p 10 more: the minute's 100; one more second is over.
    let video = |seconds: &'static str, resolution: &'static str| {
        form(&[
            Part::File("image", "first-frame.png", b"\x89PNG\r\n\x1a\n"),
            Part::Text("duration_seconds", seconds),
            Part::Text("resolution", resolution),
        ])
    };
    assert_eq!(
        send_form(&h, "/v1/video", video("10", "4k")).await.status,
        200
    );
    assert_eq!(
        send_form(&h, "/v1/video", video("10", "720p")).await.status,
        200
    );
    assert_eq!(
        send_form(&h, "/v1/video", video("1", "720p")).await.status,
        429
    );
    let r = send_form(&h, "/v1/video", video("ten", "720p")).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("duration_seconds"));
}

#[tokio::test]
async fn malformed_forms_are_400_and_never_reach_the_upstream() {
    let (h, hits) = echo_gateway().await;
    let whole = form(&[
        Part::Text("model", "whisper-large-v3"),
        Part::File("file", "speech.wav", &audio(1024)),
    ]);
    let cut = whole[..whole.len() - 40].to_vec();
    let r = send_form(&h, "/v1/audio/transcriptions", cut).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_type(), "invalid_multipart");
    let no_boundary = whole.len();
    let r = h
        .send(request(
            "/v1/audio/transcriptions",
            "multipart/form-data",
            full(whole.clone()),
            Some(no_boundary),
        ))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_type(), "invalid_multipart");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("boundary"));
    let r = send_form(
        &h,
        "/v1/audio/transcriptions",
        b"model=whisper-large-v3".to_vec(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_type(), "invalid_multipart");
    assert_eq!(hits.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_missing_repeated_or_file_model_field_is_400() {
    let (h, hits) = echo_gateway().await;
    let file = audio(1024);
    let cases = [
        (
            form(&[
                Part::Text("language", "en"),
                Part::File("file", "a.wav", &file),
            ]),
            "field 'model' is required",
        ),
        (
            form(&[
                Part::Text("model", "whisper-large-v3"),
                Part::File("file", "a.wav", &file),
                Part::Text("model", "other"),
            ]),
            "field 'model' appears more than once",
        ),
        (
            form(&[Part::File("model", "model.txt", b"whisper-large-v3")]),
            "field 'model' must be a string naming a model",
        ),
    ];
    for (body, message) in cases {
        let r = send_form(&h, "/v1/audio/transcriptions", body).await;
        assert_eq!(r.status, 400, "{message}");
        assert_eq!(r.error_type(), "invalid_request");
        assert_eq!(r.json()["error"]["message"], message);
    }
    assert_eq!(hits.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn forms_over_the_cap_are_413_naming_the_limit() {
    let (h, hits) = echo_gateway().await;
    let big = form(&[
        Part::Text("model", "whisper-large-v3"),
        Part::File("file", "speech.wav", &audio(300 * 1024)),
    ]);
    // Announced by Content-Length, then sent without it (chunked): the route's limit.
    for length in [Some(big.len()), None] {
        let r = h
            .send(request(
                "/v1/audio/transcriptions",
                &multipart_type(),
                full(big.clone()),
                length,
            ))
            .await;
        assert_eq!(r.status, 413, "{length:?}");
        assert_eq!(r.error_type(), "payload_too_large");
        let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(
            message.contains("256 KB (262144 bytes) for uploads to this endpoint"),
            "{message}"
        );
    }
    // A route without max_upload holds forms to server.max_json_body, and says so.
    let over = form(&[
        Part::Text("model", "whisper-large-v3"),
        Part::File("file", "speech.wav", &audio(20 * 1024)),
    ]);
    let r = send_form(&h, "/v1/audio/translations", over).await;
    assert_eq!(r.status, 413);
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("16 KB (16384 bytes) for a multipart body on a route without max_upload"),
        "{message}"
    );
    let under = form(&[
        Part::Text("model", "whisper-large-v3"),
        Part::File("file", "speech.wav", &audio(8 * 1024)),
    ]);
    assert_eq!(
        send_form(&h, "/v1/audio/translations", under).await.status,
        200
    );
    assert_eq!(hits.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn provider_c_transcriptions_reach_the_mock_as_a_form() {
    let h = start(example("provider-c")).await;
    let file = audio(40 * 1024);
    let body = form(&[
        Part::Text("model", "whisper-large-v3"),
        Part::File("file", "speech.wav", &file),
    ]);
    let r = send_form(&h, "/api/v1/audio/transcriptions", body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-ratelimit-limit-requests"), "60");
    let text = r.json()["text"].as_str().unwrap().to_owned();
    assert!(text.contains(&format!("{} bytes", file.len())), "{text}");
    assert!(text.contains("speech.wav"), "{text}");
}
