//! Images, embeddings, speech and transcriptions over a real socket.

mod common;

use common::{json_of, start};
use floodgate_mock::MockOptions;
use serde_json::json;

#[tokio::test]
async fn images_answer_as_many_urls_as_asked() {
    let mock = start(MockOptions::default()).await;
    for (path, body, expected) in [
        (
            "/api/v1/txt2img",
            json!({"prompt": "a cat", "image_num": 3}),
            3,
        ),
        ("/api/v1/image/generate", json!({"model": "m", "n": 2}), 2),
        ("/v1/images/generations", json!({"batch_size": 4}), 4),
        ("/v3/async/txt2img", json!({"request": {"image_num": 5}}), 5),
        ("/api/v1/prompt/enhance", json!({"prompt": "x"}), 1),
    ] {
        let response = mock.post_json(path, &body).await;
        assert_eq!(response.status(), 200, "{path}");
        let answer = json_of(response).await;
        let urls = answer["data"].as_array().unwrap();
        assert_eq!(urls.len(), expected, "{path}: {answer}");
        assert!(urls
            .iter()
            .all(|u| u["url"].as_str().unwrap().ends_with(".png")));
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_still_gets_one_image() {
    let mock = start(MockOptions::default()).await;
    let response = mock
        .client
        .post(mock.url("/api/v1/img2img"))
        .header("content-type", "multipart/form-data; boundary=x")
        .body(vec![0_u8; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn embeddings_return_one_vector_per_input() {
    let mock = start(MockOptions::default()).await;
    let body = json!({"model": "e5", "input": ["abcd", "efghijkl"], "dimensions": 16});
    let answer = json_of(mock.post_json("/api/v1/embeddings", &body).await).await;
    let data = answer["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[1]["index"], 1);
    assert_eq!(data[0]["embedding"].as_array().unwrap().len(), 16);
    assert_ne!(data[0]["embedding"], data[1]["embedding"]);
    assert_eq!(
        answer["usage"],
        json!({"prompt_tokens": 3, "total_tokens": 3})
    );

    let tokens = json!({"input": [1, 2, 3, 4, 5]});
    let answer = json_of(mock.post_json("/v1/embeddings", &tokens).await).await;
    assert_eq!(answer["data"].as_array().unwrap().len(), 1);
    assert_eq!(answer["usage"]["prompt_tokens"], 5);
}

#[tokio::test]
async fn speech_answers_audio_bytes_of_the_asked_format() {
    let mock = start(MockOptions::default()).await;
    let short = json!({"model": "tts", "input": "hi", "voice": "a"});
    let response = mock.post_json("/api/v1/audio/speech", &short).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "audio/mpeg");
    let short_audio = response.bytes().await.unwrap();
    assert!(short_audio.starts_with(b"ID3"));

    let long = json!({"input": "a much longer sentence to say", "response_format": "wav"});
    let response = mock.post_json("/api/v1/audio/speech", &long).await;
    assert_eq!(response.headers()["content-type"], "audio/wav");
    let long_audio = response.bytes().await.unwrap();
    assert!(long_audio.starts_with(b"RIFF"));
    assert!(long_audio.len() > short_audio.len());
}

#[tokio::test]
async fn transcriptions_answer_text() {
    let mock = start(MockOptions::default()).await;
    let response = mock
        .client
        .post(mock.url("/api/v1/audio/transcriptions"))
        .body(vec![7_u8; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer = json_of(response).await;
    assert_eq!(answer["text"], "Mock transcription of 1000 bytes of audio.");
}

/// A form as OpenAI-style SDKs send it: text fields, then files as (field, filename, bytes).
fn form(fields: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--bnd\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    for (name, filename, data) in files {
        body.extend_from_slice(
            format!("--bnd\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--bnd--\r\n");
    ("multipart/form-data; boundary=bnd".to_owned(), body)
}

#[tokio::test]
async fn form_transcriptions_name_the_file_in_the_format_asked() {
    let mock = start(MockOptions::default()).await;
    let audio = vec![3_u8; 2048];
    let post = |fields: &'static [(&'static str, &'static str)],
                files: Vec<(&'static str, &'static str, Vec<u8>)>| {
        let files: Vec<(&str, &str, &[u8])> = files
            .iter()
            .map(|(n, f, d)| (*n, *f, d.as_slice()))
            .collect();
        let (content_type, body) = form(fields, &files);
        mock.client
            .post(mock.url("/v1/audio/transcriptions"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let file = || vec![("file", "speech.wav", audio.clone())];
    let response = post(&[("model", "whisper-1")], file()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        json_of(response).await["text"],
        "Mock transcription of speech.wav: 2048 bytes of audio."
    );
    let response = post(
        &[("model", "whisper-1"), ("response_format", "text")],
        file(),
    )
    .await
    .unwrap();
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(
        response.text().await.unwrap(),
        "Mock transcription of speech.wav: 2048 bytes of audio.\n"
    );
    let response = post(&[("response_format", "vtt")], file()).await.unwrap();
    assert!(response.text().await.unwrap().starts_with("WEBVTT\n"));
    let response = post(
        &[("response_format", "verbose_json"), ("language", "en")],
        file(),
    )
    .await
    .unwrap();
    let verbose = json_of(response).await;
    assert_eq!(verbose["language"], "en");
    assert_eq!(verbose["segments"][0]["text"], verbose["text"]);
    let response = post(&[("model", "whisper-1")], Vec::new()).await.unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn form_image_edits_count_the_n_field() {
    let mock = start(MockOptions::default()).await;
    let (content_type, body) = form(
        &[("n", "3"), ("prompt", "a boat")],
        &[("image", "in.png", b"png")],
    );
    let response = mock
        .client
        .post(mock.url("/v1/images/edits"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(response).await["data"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn embeddings_come_in_base64_when_asked() {
    let mock = start(MockOptions::default()).await;
    let body = json!({"input": "abcd", "dimensions": 4, "encoding_format": "base64"});
    let answer = json_of(mock.post_json("/v1/embeddings", &body).await).await;
    let encoded = answer["data"][0]["embedding"].as_str().unwrap();
    // 4 f32s = 16 bytes = 24 base64 characters, the last two padding.
    assert_eq!(encoded.len(), 24);
    assert!(encoded.ends_with("=="));
    let float = json!({"input": "abcd", "dimensions": 4, "encoding_format": "float"});
    let answer = json_of(mock.post_json("/v1/embeddings", &float).await).await;
    assert_eq!(answer["data"][0]["embedding"].as_array().unwrap().len(), 4);
}
