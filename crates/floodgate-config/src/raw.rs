//! The config file as written: a serde model of the TOML, before any validation.
//!
//! Every table denies unknown fields, so a typo is an error with its line rather than a
//! silently ignored setting. Values that validation may later reject are kept as strings
//! wrapped in [`Spanned`], so the error can point at the exact line.

use serde::Deserialize;
use serde_spanned::Spanned;
use std::collections::BTreeMap;

/// A name used as a table key, with the place it was written.
pub(crate) type Name = Spanned<String>;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub(crate) server: RawServer,
    #[serde(default)]
    pub(crate) responses: RawResponses,
    pub(crate) abuse: Option<Spanned<RawAbuse>>,
    #[serde(default)]
    pub(crate) store: RawStore,
    #[serde(default)]
    pub(crate) admin: RawAdmin,
    #[serde(default)]
    pub(crate) policy: RawPolicy,
    #[serde(default)]
    pub(crate) models: BTreeMap<Name, RawModel>,
    #[serde(default)]
    pub(crate) tiers: BTreeMap<Name, RawTier>,
    #[serde(default)]
    pub(crate) accounts: BTreeMap<Name, RawAccount>,
    #[serde(default)]
    pub(crate) keys: Vec<Spanned<RawKey>>,
    #[serde(default)]
    pub(crate) routes: Vec<Spanned<RawRoute>>,
}

/// `[server]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub(crate) listen: Option<Spanned<String>>,
    pub(crate) upstream: Option<Spanned<String>>,
    pub(crate) upstream_timeout: Option<Spanned<String>>,
    pub(crate) max_json_body: Option<Spanned<String>>,
    pub(crate) forward_api_key: Option<bool>,
    pub(crate) identity_headers: Option<bool>,
    pub(crate) log_format: Option<Spanned<String>>,
    pub(crate) shutdown_timeout: Option<Spanned<String>>,
    pub(crate) metrics: Option<bool>,
    pub(crate) metrics_listen: Option<Spanned<String>>,
}

/// `[responses]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawResponses {
    pub(crate) headers: Option<Vec<Spanned<String>>>,
    pub(crate) rejection_body: Option<Spanned<toml::Table>>,
}

/// `[abuse]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAbuse {
    pub(crate) max_failures: u32,
    pub(crate) window: Spanned<String>,
    pub(crate) block: Spanned<String>,
    pub(crate) message: Option<String>,
}

/// `[store]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    pub(crate) kind: Option<Spanned<String>>,
    pub(crate) url: Option<Spanned<String>>,
    pub(crate) cluster: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) timeout: Option<Spanned<String>>,
    pub(crate) probe_interval: Option<Spanned<String>>,
    pub(crate) path: Option<Spanned<String>>,
}

/// `[admin]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdmin {
    pub(crate) token_sha256: Option<Spanned<String>>,
}

/// `[policy]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    #[serde(default)]
    pub(crate) unlimited_kinds: Vec<Spanned<String>>,
}

/// `[models.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawModel {
    pub(crate) kind: Spanned<String>,
    pub(crate) class: Option<Spanned<String>>,
    pub(crate) rate_limited: Option<bool>,
    pub(crate) images_field: Option<String>,
    pub(crate) compute: Option<Spanned<RawCompute>>,
}

/// `compute = { ... }` of a model.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCompute {
    pub(crate) field: String,
    pub(crate) factor_field: Option<String>,
    #[serde(default)]
    pub(crate) factors: BTreeMap<String, f64>,
    pub(crate) factor_default: Option<String>,
}

/// One limit: `{ unit = "requests", window = "minute", max = 3 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimit {
    pub(crate) unit: Spanned<String>,
    pub(crate) window: Spanned<String>,
    pub(crate) max: Spanned<toml::Value>,
    pub(crate) scope: Option<Spanned<String>>,
    pub(crate) shared: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) shadow: bool,
    pub(crate) failure: Option<Spanned<String>>,
    pub(crate) reset: Option<Spanned<String>>,
    pub(crate) lease_ttl: Option<Spanned<String>>,
}

/// A table whose only content is a list of limits (`kinds.image`, `models.txt2img`, ...).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLayer {
    #[serde(default)]
    pub(crate) limits: Vec<Spanned<RawLimit>>,
}

/// `[tiers.NAME]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTier {
    #[serde(default)]
    pub(crate) unlimited: bool,
    #[serde(default)]
    pub(crate) limits: Vec<Spanned<RawLimit>>,
    #[serde(default)]
    pub(crate) kinds: BTreeMap<Name, RawLayer>,
    #[serde(default)]
    pub(crate) classes: BTreeMap<Name, RawLayer>,
    #[serde(default)]
    pub(crate) models: BTreeMap<Name, RawLayer>,
}

/// `overrides` of an account or a key.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOverrides {
    #[serde(default)]
    pub(crate) limits: Vec<Spanned<RawLimit>>,
    #[serde(default)]
    pub(crate) models: BTreeMap<Name, RawLayer>,
}

/// `[accounts.ID]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAccount {
    pub(crate) tier: Spanned<String>,
    #[serde(default)]
    pub(crate) overrides: RawOverrides,
}

/// `[[keys]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKey {
    pub(crate) name: String,
    pub(crate) sha256: Spanned<String>,
    pub(crate) account: Spanned<String>,
    #[serde(default)]
    pub(crate) overrides: RawOverrides,
}

/// `[[routes]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub(crate) method: Option<Spanned<String>>,
    pub(crate) path: Spanned<String>,
    pub(crate) model: Option<Spanned<String>>,
    pub(crate) model_field: Option<Spanned<String>>,
    pub(crate) images_field: Option<String>,
    pub(crate) max_upload: Option<Spanned<String>>,
    pub(crate) max_media_duration: Option<Spanned<String>>,
    pub(crate) job: Option<Spanned<RawJob>>,
}

/// A route's `job = { ... }`: the route submits async jobs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawJob {
    pub(crate) task_id: Spanned<String>,
    pub(crate) poll: Spanned<String>,
    pub(crate) status: Spanned<String>,
    #[serde(rename = "final")]
    pub(crate) final_states: Spanned<Vec<String>>,
}
