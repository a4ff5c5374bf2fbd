//! Which kind of endpoint a request is for, from its method, path and query alone.
//!
//! The mock has no route table: every provider config chooses its own paths, and the mock
//! must answer all of them, so it goes by the words in the path the way a person would.

use crate::SharedState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::Value;

/// The kinds of endpoint the mock imitates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// A chat or text completion.
    Chat,
    /// An Anthropic-style message.
    Messages,
    /// Embedding vectors.
    Embeddings,
    /// Text to speech.
    Speech,
    /// Speech (or a video's sound track) to text.
    Transcription,
    /// Submission of an async job, such as a video generation.
    SubmitJob,
    /// A poll of the async job with this id.
    PollJob(String),
    /// Image generation: the default for any other path.
    Images,
}

/// Classifies a request. Polls are recognised first, so that `GET /v1/video/tasks/{id}`
/// is a poll and not a new video job.
pub(crate) fn classify(method: &Method, path: &str, query: Option<&str>) -> Endpoint {
    if *method == Method::GET {
        if let Some(id) = query.and_then(task_id_param) {
            return Endpoint::PollJob(id);
        }
        let mut segments = path.trim_end_matches('/').rsplit('/');
        if let (Some(id), Some("tasks" | "jobs")) = (segments.next(), segments.next()) {
            if !id.is_empty() {
                return Endpoint::PollJob(id.to_owned());
            }
        }
    }
    let path = path.to_ascii_lowercase();
    if path.ends_with("/completions") {
        Endpoint::Chat
    } else if path.ends_with("/messages") {
        Endpoint::Messages
    } else if path.contains("embedding") {
        Endpoint::Embeddings
    } else if ["speech", "/tts", "2audio", "music"]
        .iter()
        .any(|word| path.contains(word))
    {
        Endpoint::Speech
    } else if path.contains("transcri") || path.contains("translations") || path.contains("2txt") {
        Endpoint::Transcription
    } else if ["video", "i2v", "t2v"]
        .iter()
        .any(|word| path.contains(word))
    {
        Endpoint::SubmitJob
    } else {
        Endpoint::Images
    }
}

/// The value of `task_id` in a query string (ids are plain tokens, never encoded).
fn task_id_param(query: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, value)| *name == "task_id" && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

/// The fallback handler: every path that is not `/mock/...` lands here.
pub(crate) async fn dispatch(
    State(state): State<SharedState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Providers take JSON, but uploads may be multipart forms (whose text fields are
    // read like JSON fields) or raw bytes: anything else leaves every field at its
    // default instead of failing the request.
    let (json, files) = match crate::form::parse(&headers, &body).await {
        Some(form) => (form.fields, Some(form.files)),
        None => (serde_json::from_slice(&body).unwrap_or(Value::Null), None),
    };
    match classify(&method, uri.path(), uri.query()) {
        Endpoint::Chat => crate::chat::complete(&state, &headers, &json, body.len()),
        Endpoint::Messages => crate::messages::create(&state, &headers, &json, body.len()),
        Endpoint::Embeddings => crate::media::embeddings(&state, &json),
        Endpoint::Speech => crate::media::speech(&json),
        Endpoint::Transcription => crate::media::transcription(&json, files.as_deref(), body.len()),
        Endpoint::SubmitJob => crate::jobs::submit(&state, &headers),
        Endpoint::PollJob(id) => crate::jobs::poll(&state, &id),
        Endpoint::Images => crate::media::images(&state, &json),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(path: &str) -> Endpoint {
        classify(&Method::POST, path, None)
    }

    #[test]
    fn provider_paths_map_to_their_kind() {
        assert_eq!(post("/api/v1/chat/completions"), Endpoint::Chat);
        assert_eq!(post("/v1/completions"), Endpoint::Chat);
        assert_eq!(post("/v1/messages"), Endpoint::Messages);
        assert_eq!(post("/api/v1/embeddings"), Endpoint::Embeddings);
        assert_eq!(post("/api/v1/audio/speech"), Endpoint::Speech);
        assert_eq!(
            post("/api/v1/audio/transcriptions"),
            Endpoint::Transcription
        );
        assert_eq!(post("/api/v1/videofile2txt"), Endpoint::Transcription);
        assert_eq!(post("/api/v1/txt2video"), Endpoint::SubmitJob);
        assert_eq!(post("/api/v1/kling-i2v"), Endpoint::SubmitJob);
        assert_eq!(post("/api/v1/txt2audio"), Endpoint::Speech);
        assert_eq!(post("/api/v1/txt2music"), Endpoint::Speech);
        assert_eq!(post("/api/v1/txt2embedding"), Endpoint::Embeddings);
        assert_eq!(post("/api/v1/img2txt"), Endpoint::Transcription);
        assert_eq!(post("/v3/async/wan-img2video"), Endpoint::SubmitJob);
        assert_eq!(post("/api/v1/txt2img"), Endpoint::Images);
        assert_eq!(post("/api/v1/image/generate"), Endpoint::Images);
        assert_eq!(post("/api/v1/prompt/enhance"), Endpoint::Images);
    }

    #[test]
    fn polls_are_recognised_by_path_or_query() {
        let get = |path, query| classify(&Method::GET, path, query);
        assert_eq!(
            get("/api/v1/tasks/task-7", None),
            Endpoint::PollJob("task-7".into())
        );
        assert_eq!(
            get("/v1/video/jobs/abc/", None),
            Endpoint::PollJob("abc".into())
        );
        assert_eq!(
            get("/v3/async/task-result", Some("x=1&task_id=t9")),
            Endpoint::PollJob("t9".into())
        );
        assert_eq!(
            get("/v3/async/task-result", Some("task_id=")),
            Endpoint::Images
        );
        assert_eq!(
            classify(&Method::POST, "/api/v1/tasks/task-7", None),
            Endpoint::Images
        );
    }
}
