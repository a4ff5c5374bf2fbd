//! A hundred image jobs through floodgate's demo, paced from the rate-limit headers and
//! retried as the provider asks, twelve at a time.
//!
//! ```sh
//! cargo run --release -p floodgate -- demo          # in one terminal
//! cargo run -p floodgate-client --example batch_images
//! ```
//!
//! `FLOODGATE_URL` and `FLOODGATE_KEY` point it elsewhere (default: the demo's gateway and
//! its premium key). With `sk-demo-basic` it meets txt2img's 3 a minute and 100 a day:
//! it paces itself at 3 a minute, and stops with the typed error once the day is spent.

use floodgate_client::{ApiRequest, Client, ClientError, JobQueue};
use futures_util::StreamExt;
use serde_json::json;
use std::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("FLOODGATE_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let key = std::env::var("FLOODGATE_KEY").unwrap_or_else(|_| "sk-demo-premium".into());
    let client = Client::builder(url).key(key).build()?;
    let queue = JobQueue::new(client.clone(), 12);

    let jobs = (0..100).map(|i| {
        ApiRequest::post(
            "/api/v1/txt2img",
            json!({"prompt": format!("a lighthouse at dusk, take {i}")}),
        )
    });
    let started = Instant::now();
    let mut results = queue.run_all(jobs);
    let (mut ok, mut failed) = (0, 0);
    while let Some((i, result)) = results.next().await {
        match result {
            Ok(answer) if answer.status.is_success() => ok += 1,
            Ok(answer) => {
                failed += 1;
                eprintln!("job {i}: {}", answer.status);
            }
            Err(ClientError::QuotaExhausted(quota)) => {
                // Retrying would only earn more 429s until the reset: stop and say when.
                eprintln!("job {i}: {quota}");
                break;
            }
            Err(e) => {
                failed += 1;
                eprintln!("job {i}: {e}");
            }
        }
    }
    let stats = client.stats();
    println!(
        "{ok} succeeded, {failed} failed in {:.1} s; {} requests sent, {} 429s seen, {} retries",
        started.elapsed().as_secs_f64(),
        stats.sent,
        stats.rate_limited,
        stats.retries
    );
    Ok(())
}
