//! [`JobQueue`]: many requests under a concurrency cap, each paced and retried by the
//! queue's [`Client`] (whose [`RateCap`](crate::RateCap), if any, is the rate cap).

use crate::client::Client;
use crate::error::ClientError;
use crate::request::{ApiRequest, ApiResponse};
use futures_util::stream::{self, Stream, StreamExt};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

/// Runs jobs with at most `concurrency` in flight (a job holds its slot through its
/// retries, and an async task through its polls). Cheap to clone; clones share the slots.
#[derive(Debug, Clone)]
pub struct JobQueue {
    client: Client,
    slots: Arc<Semaphore>,
    concurrency: usize,
}

impl JobQueue {
    /// A queue sending through `client`, `concurrency` jobs at a time (at least one).
    pub fn new(client: Client, concurrency: usize) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            client,
            slots: Arc::new(Semaphore::new(concurrency)),
            concurrency,
        }
    }

    /// The client jobs go through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Waits for a slot; the job holds it until the permit is dropped.
    pub(crate) async fn slot(&self) -> OwnedSemaphorePermit {
        Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .expect("the queue never closes its semaphore")
    }

    /// Runs one job when a slot is free.
    pub async fn run(&self, request: &ApiRequest) -> Result<ApiResponse, ClientError> {
        let _slot = self.slot().await;
        self.client.send(request).await
    }

    /// Starts one job in the background; await the handle for its result.
    pub fn submit(&self, request: ApiRequest) -> JoinHandle<Result<ApiResponse, ClientError>> {
        let queue = self.clone();
        tokio::spawn(async move { queue.run(&request).await })
    }

    /// Runs every request, yielding `(index, result)` as each finishes (not in order),
    /// never more than the queue's concurrency at once nor more than that many started
    /// ahead, so an input of any length runs in constant memory.
    pub fn run_all<I>(
        &self,
        requests: I,
    ) -> impl Stream<Item = (usize, Result<ApiResponse, ClientError>)> + '_
    where
        I: IntoIterator<Item = ApiRequest>,
        I::IntoIter: 'static,
    {
        stream::iter(requests.into_iter().enumerate())
            .map(move |(i, request)| async move { (i, self.run(&request).await) })
            .buffer_unordered(self.concurrency)
    }
}
