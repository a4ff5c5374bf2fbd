//! A mock upstream on an ephemeral 127.0.0.1 port for each test, and the few client calls
//! the tests share. Each test binary uses a subset of them.
#![allow(dead_code)]

use floodgate_mock::MockOptions;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running mock, shut down gracefully by [`Mock::stop`] or dropped with the runtime.
pub(crate) struct Mock {
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    /// Ends the server when sent (or dropped).
    shutdown: oneshot::Sender<()>,
    /// The server task, to learn how `serve` ended.
    task: JoinHandle<std::io::Result<()>>,
    /// One pooled client, as a gateway would hold.
    pub(crate) client: reqwest::Client,
}

pub(crate) async fn start(options: MockOptions) -> Mock {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (shutdown, signal) = oneshot::channel::<()>();
    let task = tokio::spawn(floodgate_mock::serve(listener, options, async move {
        let _ = signal.await;
    }));
    Mock {
        base,
        shutdown,
        task,
        client: reqwest::Client::new(),
    }
}

impl Mock {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub(crate) async fn stats(&self) -> Value {
        json_of(self.get("/mock/stats").await).await
    }

    /// Stops the server and returns how `serve` ended.
    pub(crate) async fn stop(self) -> std::io::Result<()> {
        let _ = self.shutdown.send(());
        self.task.await.unwrap()
    }
}

pub(crate) async fn json_of(response: reqwest::Response) -> Value {
    let bytes = response.bytes().await.unwrap();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}
