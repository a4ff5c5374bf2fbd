//! The resolved configuration: what the gateway, the stores and the CLI consume.
//!
//! Everything here has been validated: every tier, model, account and route reference
//! exists, every limit is positive, every key hash is well-formed.

pub use crate::compute::ComputeFormula;
use crate::keys::KeyHash;
use floodgate_core::policy::{AccountInfo, KeyInfo, Policy};
use floodgate_core::{AbuseRule, Nanos};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A whole, valid configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from (for reload and messages).
    pub source: PathBuf,
    /// Listening address, upstream and proxy settings.
    pub server: ServerConfig,
    /// How clients are told where they stand.
    pub responses: ResponseConfig,
    /// Abuse protection, if enabled.
    pub abuse: Option<AbuseConfig>,
    /// Tiers, models, classes: the input of limit resolution.
    pub policy: Policy,
    /// Per-model settings outside resolution (cost extraction).
    pub models: HashMap<Arc<str>, ModelCost>,
    /// How requests map to models, costs and upload limits, in match order.
    pub routes: Vec<Route>,
    /// Accounts by id.
    pub accounts: HashMap<Arc<str>, AccountInfo>,
    /// Keys by the hash of the raw key.
    pub keys: HashMap<KeyHash, KeyEntry>,
    /// Where counters live.
    pub store: StoreConfig,
    /// The embedded store's file (`[store] path`): admin changes and counter snapshots of
    /// the memory store survive restarts in it. `None` keeps everything in memory only.
    pub state_file: Option<PathBuf>,
    /// The admin API.
    pub admin: AdminConfig,
}

/// `[admin]`: who may call the admin API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminConfig {
    /// The SHA-256 of the admin token; `None` leaves the admin API closed unless the
    /// binary is given a token another way (`FLOODGATE_ADMIN_TOKEN`).
    pub token_sha256: Option<KeyHash>,
}

/// Network settings of `floodgate serve` (CLI flags override them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Where the gateway listens (default 127.0.0.1:8080).
    pub listen: SocketAddr,
    /// The model API behind the gateway, e.g. `http://127.0.0.1:9000` (None until set
    /// by config or `--upstream`).
    pub upstream: Option<String>,
    /// How long to wait for the upstream's response head.
    pub upstream_timeout: Nanos,
    /// The most the gateway buffers of a JSON body to read the model and cost from.
    pub max_json_body_bytes: u64,
    /// Whether the client's API key travels on to the upstream. Off by default: the model
    /// API behind the gateway gets the caller's identity in `x-floodgate-*` headers instead
    /// and never sees a customer's key; on for an upstream that authenticates the same keys.
    pub forward_api_key: bool,
    /// Whether the upstream is told who the caller is (`x-floodgate-key-id`, `-account`,
    /// `-tier`). On by default; off for an upstream that has no use for it, such as a
    /// third-party API that should not learn the gateway's account and tier names.
    /// Client-sent `x-floodgate-*` headers are dropped either way.
    pub identity_headers: bool,
    /// How `floodgate serve` writes its log lines (CLI `--log-format` overrides it).
    pub log_format: LogFormat,
    /// How long a graceful stop waits for requests and streams in flight before it
    /// cuts them and exits (default 30 s).
    pub shutdown_timeout: Duration,
    /// Where Prometheus metrics are served.
    pub metrics: MetricsEndpoint,
}

/// The shape of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object a line, for log shippers.
    Json,
}

/// Where `GET /metrics` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricsEndpoint {
    /// On the gateway's own listener (the default).
    #[default]
    Gateway,
    /// On a listener of its own (`metrics_listen`), so the metrics stay off the public
    /// port; on the gateway's listener `/metrics` is then proxied like any other path.
    Listen(SocketAddr),
    /// Nowhere (`metrics = false`).
    Off,
}

/// Which family of rate-limit headers a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderConvention {
    /// `X-RateLimit-Limit/-Remaining/-Daily-Limit/-Daily-Remaining/-Type` (seed 002).
    Classic,
    /// `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` (seed 003, OpenAI style).
    OpenAi,
    /// IETF `RateLimit` / `RateLimit-Policy`.
    Ietf,
}

/// How rejections and limit information are presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseConfig {
    /// Header families on every response, in order.
    pub headers: Vec<HeaderConvention>,
    /// JSON body of a 429, e.g. `{"message": "Too Many Attempts."}`.
    pub rejection_body: String,
}

/// Abuse protection (seed 003) and the message sent while a key is blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbuseConfig {
    /// Thresholds.
    pub rule: AbuseRule,
    /// The message of the block response.
    pub message: String,
}

/// How the cost of a request to a model is computed, beyond one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelCost {
    /// JSON body field holding the number of images (`n`, `image_num`, `batch_size`).
    pub images_field: Option<String>,
    /// The compute units of a request (`units(body)`); `None` costs no compute units.
    pub compute: Option<ComputeFormula>,
}

/// Where a route takes its model from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// The route serves one model (provider-b's `/api/v1/txt2img`).
    Fixed(Arc<str>),
    /// A top-level JSON body field names the model (`model`).
    BodyField(String),
}

/// One route of the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// HTTP method, upper case; `None` matches any.
    pub method: Option<String>,
    /// Path pattern: literal segments, `*` for one segment, a trailing `*` for the rest
    /// (`/api/v1/prompt/*`).
    pub path: String,
    /// Where the model comes from.
    pub model: ModelSource,
    /// JSON body field holding the number of images, for this route (over the model's).
    pub images_field: Option<String>,
    /// Largest request body accepted, in bytes (413 above it).
    pub max_upload_bytes: Option<u64>,
    /// Longest audio or video a request may upload, in nanoseconds: read from the media's
    /// container as the body arrives (413 above it).
    pub max_media_duration: Option<Nanos>,
    /// Set when the route submits async jobs: their concurrency slot is held from the
    /// submission until a poll reports a final state.
    pub job: Option<AsyncJob>,
    /// The line of the route in the config file, for messages.
    pub line: usize,
}

/// How an async job is followed: where its task id is in the submission's answer, which
/// path polls it, and which states of the poll's answer end it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncJob {
    /// Dotted path of the task id in the submission's JSON answer (`task_id`, `data.id`).
    pub task_id: String,
    /// The poll's path pattern; the segment `{task_id}` is the task id, `*` any segment.
    pub poll: String,
    /// Dotted path of the job's state in the poll's JSON answer.
    pub status: String,
    /// States that end the job and free its slot.
    pub final_states: Vec<String>,
}

/// A key as the gateway holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    /// The hash of the raw key.
    pub hash: KeyHash,
    /// A human label ("demo basic key"); never the key itself.
    pub name: String,
    /// Resolution input: id, account, overrides.
    pub info: KeyInfo,
}

/// Where counters live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// In this process.
    Memory,
    /// On Redis or a Redis Cluster, shared by every instance configured alike.
    Redis(RedisStoreConfig),
}

/// `[store] kind = "redis"`: where the shared counters are and how long to wait for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisStoreConfig {
    /// One server or a cluster.
    pub nodes: RedisNodes,
    /// The longest one store call may take, connecting included; past it the request's
    /// failure policy decides (default 250 ms).
    pub timeout: Duration,
    /// How often an instance that lost Redis tries it again (default 1 s).
    pub probe_interval: Duration,
}

/// The Redis URL(s): `redis://[user:password@]host:port[/db]`, `rediss://` for TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisNodes {
    /// `url = "..."`: one server.
    Single(String),
    /// `cluster = ["...", ...]`: a Redis Cluster, found through any of these nodes.
    Cluster(Vec<String>),
}
