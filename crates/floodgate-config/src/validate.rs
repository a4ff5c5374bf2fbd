//! The validation pass: a [`RawConfig`] -> a resolved [`Config`], or every problem found.
//!
//! The sections that refer to nothing (server, responses, abuse) are checked here; the
//! store, the policy sections and routes have their own modules.

use crate::error::{ConfigError, Diagnostics};
use crate::policy::{self, Catalog};
use crate::quantity;
use crate::raw::{RawAbuse, RawConfig, RawResponses, RawServer};
use crate::resolved::ModelCost;
use crate::resolved::{
    AbuseConfig, Config, HeaderConvention, LogFormat, MetricsEndpoint, ResponseConfig, ServerConfig,
};
use crate::routes;
use floodgate_core::policy::{resolve, AccountInfo, KeyInfo, Overrides, Policy};
use floodgate_core::{AbuseRule, Unit, NANOS_PER_SEC};
use serde_spanned::Spanned;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Where the gateway listens when neither config nor command line say.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// How long the gateway waits for an upstream response head by default.
pub const DEFAULT_UPSTREAM_TIMEOUT_SECS: u64 = 60;
/// How much of a JSON body the gateway buffers by default to read the model and cost.
pub const DEFAULT_MAX_JSON_BODY: u64 = 1 << 20;
/// How long a graceful stop waits for requests in flight by default.
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECS: u64 = 30;
/// The 429 body when the config gives none.
pub const DEFAULT_REJECTION_BODY: &str = r#"{"message":"Too Many Requests."}"#;

/// Checks and resolves a parsed file; `file` and `text` are for the messages.
pub(crate) fn validate(raw: &RawConfig, file: &Path, text: &str) -> Result<Config, ConfigError> {
    let mut diags = Diagnostics::new(file, text);
    let d = &mut diags;
    let server = server(d, &raw.server);
    let responses = responses(d, &raw.responses);
    let abuse = raw.abuse.as_ref().and_then(|a| abuse(d, a));
    let store = crate::store::store(d, &raw.store);
    let state_file = crate::store::state_file(d, &raw.store, &store, file);
    let admin = crate::admin::admin(d, &raw.admin);

    let catalog = Catalog::new(&raw.models);
    let (models, costs) = policy::models(d, &raw.models);
    for kind in &raw.policy.unlimited_kinds {
        if !catalog.kinds.contains(kind.get_ref().as_str()) {
            d.at(
                &kind.span(),
                format!(
                    "policy.unlimited_kinds: kind '{}' is not the kind of any model",
                    kind.get_ref()
                ),
            );
        }
    }
    let tiers = policy::tiers(d, &raw.tiers, &catalog);
    let accounts = policy::accounts(d, &raw.accounts, &raw.tiers, &catalog);
    let keys = policy::keys(d, &raw.keys, &raw.accounts, &catalog);
    let routes = routes::routes(d, &raw.routes, &catalog.models);
    let policy = Policy {
        tiers,
        models,
        unlimited_kinds: raw
            .policy
            .unlimited_kinds
            .iter()
            .map(|k| k.get_ref().as_str().into())
            .collect(),
    };
    if d.len() == 0 {
        compute_limits_need_formulas(d, raw, &policy, &costs);
    }
    diags.finish()?;

    Ok(Config {
        source: file.to_path_buf(),
        server,
        responses,
        abuse,
        policy,
        models: costs,
        routes,
        accounts,
        keys,
        store,
        state_file,
        admin,
    })
}

/// A compute-units limit on a model without a formula would never count anything: the
/// operator meant to limit it and it is not limited. Checked on what resolution yields, so
/// a tier default is fine as long as every model it reaches has a formula.
fn compute_limits_need_formulas(
    d: &mut Diagnostics<'_>,
    raw: &RawConfig,
    policy: &Policy,
    costs: &HashMap<Arc<str>, ModelCost>,
) {
    let key = KeyInfo {
        id: "check".into(),
        account: "check".into(),
        overrides: Overrides::default(),
    };
    for name in raw.tiers.keys() {
        let account = AccountInfo {
            id: "check".into(),
            tier: name.get_ref().as_str().into(),
            overrides: Overrides::default(),
        };
        for model in raw.models.keys() {
            let model = model.get_ref().as_str();
            if costs.get(model).is_some_and(|c| c.compute.is_some()) {
                continue;
            }
            let limits = resolve(policy, &key, &account, model).unwrap_or_default();
            if limits.iter().any(|l| l.unit == Unit::ComputeUnits) {
                d.at(
                    &name.span(),
                    format!(
                        "tiers.{}: model '{model}' gets a compute_units limit but has no compute formula (models.{model}.compute), so nothing would count against it",
                        name.get_ref()
                    ),
                );
            }
        }
    }
}

fn server(d: &mut Diagnostics<'_>, raw: &RawServer) -> ServerConfig {
    let listen = raw.listen.as_ref().map_or_else(
        || DEFAULT_LISTEN.parse().ok(),
        |l| {
            l.get_ref()
                .parse::<SocketAddr>()
                .map_err(|_| {
                    d.at(
                        &l.span(),
                        format!("server.listen: expected an address such as \"127.0.0.1:8080\", found \"{}\"", l.get_ref()),
                    )
                })
                .ok()
        },
    );
    if let Some(u) = &raw.upstream {
        let url = u.get_ref();
        let host = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        if host.is_none_or(|h| h.is_empty() || h.starts_with('/')) {
            d.at(
                &u.span(),
                format!("server.upstream: expected an http:// or https:// URL such as \"http://127.0.0.1:9000\", found \"{url}\""),
            );
        }
    }
    let upstream_timeout = raw
        .upstream_timeout
        .as_ref()
        .map_or(DEFAULT_UPSTREAM_TIMEOUT_SECS * NANOS_PER_SEC, |t| {
            spanned_or(d, t, "server.upstream_timeout", quantity::duration, 0)
        });
    let max_json_body_bytes = raw
        .max_json_body
        .as_ref()
        .map_or(DEFAULT_MAX_JSON_BODY, |s| {
            spanned_or(d, s, "server.max_json_body", quantity::size, 0)
        });
    ServerConfig {
        listen: listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
        upstream: raw
            .upstream
            .as_ref()
            .map(|u| u.get_ref().trim_end_matches('/').to_owned()),
        upstream_timeout,
        max_json_body_bytes,
        forward_api_key: raw.forward_api_key.unwrap_or(false),
        identity_headers: raw.identity_headers.unwrap_or(true),
        log_format: raw.log_format.as_ref().map_or(LogFormat::Text, |f| {
            spanned_or(d, f, "server.log_format", log_format, LogFormat::Text)
        }),
        shutdown_timeout: raw.shutdown_timeout.as_ref().map_or(
            Duration::from_secs(DEFAULT_SHUTDOWN_TIMEOUT_SECS),
            |t| {
                Duration::from_nanos(spanned_or(
                    d,
                    t,
                    "server.shutdown_timeout",
                    quantity::duration,
                    0,
                ))
            },
        ),
        metrics: metrics_endpoint(d, raw),
    }
}

/// `log_format = "text" | "json"`.
pub fn log_format(text: &str) -> Result<LogFormat, String> {
    match text {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(format!("expected \"text\" or \"json\", found \"{other}\"")),
    }
}

/// `metrics = false` turns `/metrics` off; `metrics_listen` moves it to its own address.
fn metrics_endpoint(d: &mut Diagnostics<'_>, raw: &RawServer) -> MetricsEndpoint {
    let listen = raw.metrics_listen.as_ref().and_then(|l| {
        l.get_ref()
            .parse::<SocketAddr>()
            .map_err(|_| {
                d.at(
                    &l.span(),
                    format!("server.metrics_listen: expected an address such as \"127.0.0.1:9100\", found \"{}\"", l.get_ref()),
                )
            })
            .ok()
    });
    match (raw.metrics, listen) {
        (Some(false), _) => MetricsEndpoint::Off,
        (_, Some(addr)) => MetricsEndpoint::Listen(addr),
        _ => MetricsEndpoint::Gateway,
    }
}

/// Parses a spanned string, reporting a failure at `field` and returning `fallback`
/// (never used: the error stops the load, but validation carries on to report more).
fn spanned_or<T>(
    d: &mut Diagnostics<'_>,
    raw: &Spanned<String>,
    field: &str,
    parse: fn(&str) -> Result<T, String>,
    fallback: T,
) -> T {
    parse(raw.get_ref()).unwrap_or_else(|e| {
        d.at(&raw.span(), format!("{field}: {e}"));
        fallback
    })
}

fn responses(d: &mut Diagnostics<'_>, raw: &RawResponses) -> ResponseConfig {
    let headers = match &raw.headers {
        None => vec![HeaderConvention::Ietf],
        Some(list) => {
            let mut out = Vec::with_capacity(list.len());
            for (i, h) in list.iter().enumerate() {
                let convention = match h.get_ref().as_str() {
                    "classic" => HeaderConvention::Classic,
                    "openai" => HeaderConvention::OpenAi,
                    "ietf" => HeaderConvention::Ietf,
                    other => {
                        d.at(
                            &h.span(),
                            format!("responses.headers[{i}]: unknown header convention '{other}' (expected classic, openai or ietf)"),
                        );
                        continue;
                    }
                };
                if out.contains(&convention) {
                    d.at(
                        &h.span(),
                        format!("responses.headers[{i}]: '{}' is listed twice", h.get_ref()),
                    );
                    continue;
                }
                out.push(convention);
            }
            out
        }
    };
    let rejection_body = match &raw.rejection_body {
        None => DEFAULT_REJECTION_BODY.to_owned(),
        Some(table) => match to_json(&toml::Value::Table(table.get_ref().clone())) {
            Ok(json) => json.to_string(),
            Err(e) => {
                d.at(&table.span(), format!("responses.rejection_body: {e}"));
                String::new()
            }
        },
    };
    ResponseConfig {
        headers,
        rejection_body,
    }
}

/// TOML -> JSON for the rejection body. Dates have no JSON form, so they are refused
/// rather than sent as some private encoding.
fn to_json(value: &toml::Value) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    Ok(match value {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .ok_or_else(|| format!("{f} has no JSON form"))?,
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => {
            return Err(format!("dates such as {d} have no JSON form; quote them"))
        }
        toml::Value::Array(a) => J::Array(a.iter().map(to_json).collect::<Result<_, _>>()?),
        toml::Value::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| Ok((k.clone(), to_json(v)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

fn abuse(d: &mut Diagnostics<'_>, raw: &Spanned<RawAbuse>) -> Option<AbuseConfig> {
    let a = raw.get_ref();
    let before = d.len();
    let window = spanned_or(d, &a.window, "abuse.window", quantity::duration, 0);
    let block = spanned_or(d, &a.block, "abuse.block", quantity::duration, 0);
    if a.max_failures == 0 {
        d.at(
            &raw.span(),
            "abuse.max_failures: must be at least 1 (a key is blocked after more failures than this)",
        );
    }
    let message = a.message.clone().unwrap_or_else(|| {
        format!(
            "Too many failed attempts (> {}) resulting in a non-success status code. Please wait {} and try again.",
            a.max_failures,
            quantity::format_duration(block)
        )
    });
    (d.len() == before).then_some(AbuseConfig {
        rule: AbuseRule {
            max_failures: a.max_failures,
            window,
            block,
        },
        message,
    })
}
