//! `floodgate demo`: the mock model API on 127.0.0.1:9000 and the gateway in front of it
//! on 127.0.0.1:8080, in one process, with curl lines to paste.

use super::serve::{init_logging, runtime, shutdown_signal};
use anyhow::Context;
use floodgate_config::{Config, KeyHash, ModelSource};
use floodgate_core::policy::resolve;
use floodgate_core::{Unit, Window};
use floodgate_mock::MockOptions;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Where the demo's mock upstream listens.
const MOCK: &str = "127.0.0.1:9000";
/// Where the demo's gateway listens.
const GATEWAY: &str = "127.0.0.1:8080";
/// The raw demo keys the example configs hold the hashes of.
const DEMO_KEYS: [&str; 5] = [
    "sk-demo-basic",
    "sk-demo-premium",
    "sk-demo-standard",
    "sk-demo-partner",
    "sk-demo",
];

/// Arguments of `demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The config file to demonstrate.
    #[arg(long, default_value = "examples/provider-b.toml")]
    config: PathBuf,
}

/// A request the config routes, as a path and a JSON body.
fn sample_request(config: &Config, key: &str) -> Option<(String, String, u64)> {
    let hash = KeyHash::of(key);
    let entry = config.keys.get(&hash)?;
    let account = config.accounts.get(&entry.info.account)?;
    config.routes.iter().find_map(|route| {
        let path: Vec<&str> = route
            .path
            .split('/')
            .map(|s| if s == "*" { "enhance" } else { s })
            .collect();
        let path = path.join("/");
        let (model, body) = match &route.model {
            ModelSource::Fixed(model) => (
                model.to_string(),
                r#"{"prompt":"a lighthouse at dawn"}"#.to_owned(),
            ),
            ModelSource::BodyField(field) => {
                let mut names: Vec<&str> = config.policy.models.keys().map(|m| &**m).collect();
                names.sort_unstable();
                let model = names.into_iter().find(|m| {
                    resolve(&config.policy, &entry.info, account, m).is_ok_and(|l| !l.is_empty())
                })?;
                let body = serde_like_body(field, model);
                (model.to_owned(), body)
            }
        };
        let limits = resolve(&config.policy, &entry.info, account, &model).ok()?;
        let per_minute = limits
            .iter()
            .filter(|l| l.unit == Unit::Requests && l.window == Window::MINUTE)
            .map(|l| l.max)
            .min()?;
        Some((path, body, per_minute))
    })
}

/// `{"<field>":"<model>","messages":[...]}`: enough for chat, image and audio routes.
fn serde_like_body(field: &str, model: &str) -> String {
    format!(
        r#"{{"{field}":"{model}","prompt":"a lighthouse at dawn","messages":[{{"role":"user","content":"hi"}}]}}"#
    )
}

fn print_curl_lines(config: &Config) {
    let gateway = format!("http://{GATEWAY}");
    let keys: Vec<&str> = DEMO_KEYS
        .into_iter()
        .filter(|k| config.keys.contains_key(&KeyHash::of(k)))
        .collect();
    println!("floodgate demo: gateway on {gateway}, mock model API on http://{MOCK}");
    println!("config: {}", config.source.display());
    let Some(key) = keys.first() else {
        println!("(no demo key in this config: add one and use it as a bearer token)");
        return;
    };
    println!("demo keys: {}\n", keys.join(", "));
    if let Some((path, body, per_minute)) = sample_request(config, key) {
        let curl = format!(
            "curl -i -X POST {gateway}{path} -H 'Authorization: Bearer {key}' -H 'content-type: application/json' -d '{body}'"
        );
        println!("# one request, with its rate-limit headers:\n{curl}\n");
        println!(
            "# {per_minute} a minute, so request {} gets a 429:\nfor i in $(seq 1 {}); do curl -s -o /dev/null -w '%{{http_code}}\\n' -X POST {gateway}{path} -H 'Authorization: Bearer {key}' -H 'content-type: application/json' -d '{body}'; done\n",
            per_minute + 1,
            per_minute + 1
        );
    }
    println!(
        "# your limits, usage and resets (consumes nothing):\ncurl -s {gateway}/api/v1/api_keys/rate_limits -H 'Authorization: Bearer {key}'\n"
    );
    println!(
        "# your recent rejections:\ncurl -s {gateway}/api/v1/api_keys/rate_limit_logs -H 'Authorization: Bearer {key}'\n"
    );
    println!("Ctrl-C stops both.");
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    init_logging();
    let mut config = Config::load(&args.config)?;
    let mock_addr: SocketAddr = MOCK.parse()?;
    let gateway_addr: SocketAddr = GATEWAY.parse()?;
    config.server.listen = gateway_addr;
    config.server.upstream = Some(format!("http://{mock_addr}"));
    let state = Arc::new(crate::store::gateway_state(config.clone())?);
    runtime(None)?.block_on(async {
        let mock = tokio::net::TcpListener::bind(mock_addr)
            .await
            .with_context(|| format!("binding {mock_addr} for the mock model API"))?;
        let gateway = tokio::net::TcpListener::bind(gateway_addr)
            .await
            .with_context(|| format!("binding {gateway_addr} for the gateway"))?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut mock_stopped = stopped.clone();
        let mut gateway_stopped = stopped;
        let mock = tokio::spawn(floodgate_mock::serve(
            mock,
            MockOptions::default(),
            async move {
                let _ = mock_stopped.wait_for(|s| *s).await;
            },
        ));
        let gateway = tokio::spawn(floodgate_gateway::serve(gateway, state, async move {
            let _ = gateway_stopped.wait_for(|s| *s).await;
        }));
        print_curl_lines(&config);
        shutdown_signal().await;
        let _ = stop.send(true);
        gateway.await?.context("serving the gateway")?;
        mock.await?.context("serving the mock model API")?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> Config {
        let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "..", "examples", name]
            .iter()
            .collect();
        Config::load(path).unwrap()
    }

    #[test]
    fn sample_requests_follow_the_config() {
        let b = example("provider-b.toml");
        let (path, _, per_minute) = sample_request(&b, "sk-demo-basic").unwrap();
        assert_eq!((path.as_str(), per_minute), ("/api/v1/txt2img", 3));

        let c = example("provider-c.toml");
        let (path, body, per_minute) = sample_request(&c, "sk-demo-standard").unwrap();
        assert_eq!(path, "/api/v1/chat/completions");
        let model = body.split('"').nth(3).unwrap();
        assert_eq!(c.policy.models[model].kind.as_ref(), "text");
        assert!(per_minute > 0);

        assert!(sample_request(&b, "sk-not-demo").is_none());
    }
}
