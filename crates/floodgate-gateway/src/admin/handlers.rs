//! The admin router and what its routes share. Every route is behind the admin token (checked before routing, so even an
//! unknown admin path or a wrong method answers 401 without it):
//!
//! ```text
//! POST   /admin/v1/keys                        create a key: {"account", "name"?, "tier"?, "overrides"?}
//! DELETE /admin/v1/keys/{key}                  revoke a key (its 16-digit id or its sha256)
//! PUT    /admin/v1/keys/{key}/overrides        set a key's overrides (an overrides table as JSON)
//! DELETE /admin/v1/keys/{key}/overrides        clear them (the file's apply again)
//! DELETE /admin/v1/keys/{key}/block            lift an abuse block
//! GET    /admin/v1/accounts/{account}/keys     the account, its tier and its keys (ids and hashes only)
//! PUT    /admin/v1/accounts/{account}/tier     move the account: {"tier": "premium"}
//! PUT    /admin/v1/accounts/{account}/overrides, DELETE ...   an account's overrides
//! ```

use crate::admin::accounts::{clear_account_overrides, list_keys, set_account_overrides, set_tier};
use crate::admin::directory::Current;
use crate::admin::error::AdminError;
use crate::admin::keys::{
    clear_key_overrides, create_key, revoke_key, set_key_overrides, unblock_key,
};
use crate::admin::token;
use crate::state::GatewayState;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use floodgate_config::{Config, KeyHash};
use floodgate_registry::{AccountRecord, KeyRecord};
use serde::Deserialize;
use std::sync::Arc;

/// The admin router, to nest under `/admin`.
pub(crate) fn router(state: Arc<GatewayState>) -> Router<Arc<GatewayState>> {
    Router::new()
        .route("/v1/keys", post(create_key))
        .route("/v1/keys/{key}", delete(revoke_key))
        .route(
            "/v1/keys/{key}/overrides",
            put(set_key_overrides).delete(clear_key_overrides),
        )
        .route("/v1/keys/{key}/block", delete(unblock_key))
        .route("/v1/accounts/{account}/keys", get(list_keys))
        .route("/v1/accounts/{account}/tier", put(set_tier))
        .route(
            "/v1/accounts/{account}/overrides",
            put(set_account_overrides).delete(clear_account_overrides),
        )
        .fallback(no_route)
        .layer(middleware::from_fn_with_state(state, require_admin))
}

async fn require_admin(
    State(state): State<Arc<GatewayState>>,
    request: Request,
    next: Next,
) -> Response {
    match token::check(request.headers(), &state.admin_tokens()) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

async fn no_route(request: Request) -> AdminError {
    AdminError::NoRoute(format!("{} {}", request.method(), request.uri().path()))
}

/// A JSON body of type `T`, or a 400 saying what is wrong with it.
pub(crate) fn body<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, AdminError> {
    serde_json::from_slice(bytes)
        .map_err(|e| AdminError::BadRequest(format!("invalid JSON body: {e}")))
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// An account id is a name used in counter names and URLs: printable, no slash.
pub(crate) fn check_account(id: &str) -> Result<(), AdminError> {
    if id.is_empty() || id.len() > 128 || id.chars().any(|c| c.is_control() || c == '/') {
        return Err(AdminError::BadRequest(format!(
            "account '{}' is not a valid id (1 to 128 printable characters, no '/')",
            id.escape_debug()
        )));
    }
    Ok(())
}

pub(crate) fn check_tier(config: &Config, tier: &str) -> Result<(), AdminError> {
    if config.policy.tiers.contains_key(tier) {
        return Ok(());
    }
    let mut tiers: Vec<&str> = config.policy.tiers.keys().map(|t| &**t).collect();
    tiers.sort_unstable();
    Err(AdminError::BadRequest(format!(
        "tier '{tier}' is not defined (defined: {})",
        tiers.join(", ")
    )))
}

/// The key named by `param` (its 16-digit id or its 64-digit sha256), among the keys in
/// force and the admin records (revoked keys included).
pub(crate) fn find_key(
    installed: &Config,
    current: &Current,
    param: &str,
) -> Result<KeyHash, AdminError> {
    let param = param.trim().to_ascii_lowercase();
    let known = installed.keys.keys().copied().chain(
        current
            .records
            .keys
            .keys()
            .filter_map(|h| KeyHash::from_hex(h)),
    );
    let mut found: Vec<KeyHash> = known
        .filter(|hash| hash.id() == param || hash.to_hex() == param)
        .collect();
    found.sort_by_key(KeyHash::to_hex);
    found.dedup();
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(AdminError::NotFound(format!("no key '{param}'"))),
        _ => Err(AdminError::BadRequest(format!(
            "key id '{param}' is ambiguous; name the key by its sha256"
        ))),
    }
}

/// The record of `hash` to change: the existing one, or one made from the file's key.
pub(crate) fn key_record(
    installed: &Config,
    current: &Current,
    hash: &KeyHash,
) -> Result<KeyRecord, AdminError> {
    if let Some(record) = current.records.keys.get(&hash.to_hex()) {
        return Ok(record.clone());
    }
    let entry = installed
        .keys
        .get(hash)
        .ok_or_else(|| AdminError::NotFound(format!("no key '{}'", hash.id())))?;
    Ok(KeyRecord {
        sha256: hash.to_hex(),
        account: entry.info.account.to_string(),
        name: entry.name.clone(),
        overrides: None,
        revoked: false,
        created: now_secs(),
    })
}

/// The record of `account` to change: the existing one or an empty one.
pub(crate) fn account_record(current: &Current, account: &str) -> AccountRecord {
    current
        .records
        .accounts
        .get(account)
        .cloned()
        .unwrap_or_else(|| AccountRecord {
            id: account.to_owned(),
            ..AccountRecord::default()
        })
}
