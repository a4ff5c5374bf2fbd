//! `floodgate keys ...`: the admin API from the command line (create, revoke, list, tier,
//! override, unblock), over HTTP to a running gateway.
//!
//! The admin token comes from `--token` or `FLOODGATE_ADMIN_TOKEN` (the environment keeps
//! it out of the process list). Every answer is printed as JSON; a refusal exits 1 with
//! its message.

use anyhow::Context;
use floodgate_gateway::admin::ADMIN_TOKEN_ENV;
use serde_json::{json, Value};

/// Arguments of `keys`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The gateway's base URL.
    #[arg(long, env = "FLOODGATE_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The admin token (default: the FLOODGATE_ADMIN_TOKEN environment variable).
    #[arg(long)]
    token: Option<String>,
    #[command(subcommand)]
    action: Action,
}

/// What to do.
#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Create a key (printed once: only its hash is stored).
    Create {
        /// The owning account (created if new, with --tier).
        #[arg(long)]
        account: String,
        /// A label for the key.
        #[arg(long, default_value = "")]
        name: String,
        /// The tier of a new account.
        #[arg(long)]
        tier: Option<String>,
    },
    /// Revoke a key, by its 16-digit id or its sha256.
    Revoke {
        /// The key's id or sha256.
        key: String,
    },
    /// List an account's keys (ids and hashes only) and its tier.
    List {
        /// The account.
        account: String,
    },
    /// Move an account to another tier; applies to its next request.
    Tier {
        /// The account.
        account: String,
        /// The tier.
        tier: String,
    },
    /// Set or clear the overrides of an account or a key.
    Override {
        /// The account whose overrides change.
        #[arg(long, conflicts_with = "key", required_unless_present = "key")]
        account: Option<String>,
        /// The key (id or sha256) whose overrides change.
        #[arg(long)]
        key: Option<String>,
        /// The overrides as JSON, in the shape of an overrides table of the config file:
        /// '{"models": {"txt2img": {"limits": [{"unit": "requests", "window": "minute", "max": 30}]}}}'.
        #[arg(long, conflicts_with = "clear", required_unless_present = "clear")]
        set: Option<String>,
        /// Clear them: the config file's apply again.
        #[arg(long)]
        clear: bool,
    },
    /// Lift an abuse block on a key.
    Unblock {
        /// The key's id or sha256.
        key: String,
    },
}

/// The method, path and body of one admin call.
fn request(action: &Action) -> anyhow::Result<(reqwest::Method, String, Option<Value>)> {
    use reqwest::Method;
    Ok(match action {
        Action::Create {
            account,
            name,
            tier,
        } => {
            let mut body = json!({"account": account, "name": name});
            if let Some(tier) = tier {
                body["tier"] = json!(tier);
            }
            (Method::POST, "/admin/v1/keys".into(), Some(body))
        }
        Action::Revoke { key } => (
            Method::DELETE,
            format!("/admin/v1/keys/{}", segment(key)),
            None,
        ),
        Action::List { account } => (
            Method::GET,
            format!("/admin/v1/accounts/{}/keys", segment(account)),
            None,
        ),
        Action::Tier { account, tier } => (
            Method::PUT,
            format!("/admin/v1/accounts/{}/tier", segment(account)),
            Some(json!({"tier": tier})),
        ),
        Action::Override {
            account,
            key,
            set,
            clear: _,
        } => {
            let path = match (account, key) {
                (Some(account), _) => format!("/admin/v1/accounts/{}/overrides", segment(account)),
                (None, Some(key)) => format!("/admin/v1/keys/{}/overrides", segment(key)),
                (None, None) => anyhow::bail!("give --account or --key"),
            };
            match set {
                Some(json) => {
                    let value: Value = serde_json::from_str(json).context("--set is not JSON")?;
                    (Method::PUT, path, Some(value))
                }
                None => (Method::DELETE, path, None),
            }
        }
        Action::Unblock { key } => (
            Method::DELETE,
            format!("/admin/v1/keys/{}/block", segment(key)),
            None,
        ),
    })
}

/// `text` as one URL path segment.
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let token = match &args.token {
        Some(token) => token.clone(),
        None => std::env::var(ADMIN_TOKEN_ENV)
            .with_context(|| format!("no admin token: pass --token or set {ADMIN_TOKEN_ENV}"))?,
    };
    let (method, path, body) = request(&args.action)?;
    let url = format!("{}{path}", args.url.trim_end_matches('/'));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, text) = runtime.block_on(async {
        let mut call = reqwest::Client::new()
            .request(method, &url)
            .bearer_auth(token.trim());
        if let Some(body) = body {
            call = call
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = call
            .send()
            .await
            .with_context(|| format!("calling {url}"))?;
        let status = response.status();
        let text = response.text().await.context("reading the answer")?;
        anyhow::Ok((status, text))
    })?;
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status.is_success() {
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let message = value["error"]["message"]
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned);
    anyhow::bail!("{status}: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_map_to_admin_routes() {
        let (m, p, b) = request(&Action::Tier {
            account: "a b".into(),
            tier: "premium".into(),
        })
        .unwrap();
        assert_eq!(
            (m.as_str(), p.as_str()),
            ("PUT", "/admin/v1/accounts/a%20b/tier")
        );
        assert_eq!(b, Some(json!({"tier": "premium"})));
        let (m, p, b) = request(&Action::Override {
            account: None,
            key: Some("0123456789abcdef".into()),
            set: None,
            clear: true,
        })
        .unwrap();
        assert_eq!(
            (m.as_str(), p.as_str(), b),
            ("DELETE", "/admin/v1/keys/0123456789abcdef/overrides", None)
        );
        assert!(request(&Action::Override {
            account: Some("a".into()),
            key: None,
            set: Some("{nope".into()),
            clear: false,
        })
        .is_err());
    }
}
