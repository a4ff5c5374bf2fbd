//! The key routes: create, revoke, per-key overrides, abuse blocks.

use crate::admin::directory::Change;
use crate::admin::error::AdminError;
use crate::admin::handlers::{
    account_record, body, check_account, check_tier, find_key, key_record, now_secs,
};
use crate::admin::token;
use crate::state::GatewayState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use floodgate_config::{parse_overrides, KeyHash};
use floodgate_registry::KeyRecord;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Body of `POST /admin/v1/keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    /// The owning account; created if new (then `tier` is required).
    account: String,
    /// A label.
    #[serde(default)]
    name: String,
    /// The tier of a new account.
    tier: Option<String>,
    /// Per-key overrides.
    overrides: Option<Value>,
}

pub(crate) async fn create_key(
    State(state): State<Arc<GatewayState>>,
    bytes: Bytes,
) -> Result<Response, AdminError> {
    let request: CreateKey = body(&bytes)?;
    check_account(&request.account)?;
    let raw = token::new_key()?;
    let hash = KeyHash::of(&raw);
    let installed = state.config();
    let tier = state
        .directory()
        .change(
            |current| {
                let mut change = Change::default();
                let tier = match (
                    installed.accounts.get(request.account.as_str()),
                    &request.tier,
                ) {
                    (Some(account), None) => account.tier.to_string(),
                    (Some(_), Some(_)) => {
                        return Err(AdminError::BadRequest(format!(
                        "account '{}' exists: change its tier with PUT /admin/v1/accounts/{}/tier",
                        request.account, request.account
                    )))
                    }
                    (None, Some(tier)) => {
                        check_tier(&current.base, tier)?;
                        let mut record = account_record(current, &request.account);
                        record.tier = Some(tier.clone());
                        change.account = Some(record);
                        tier.clone()
                    }
                    (None, None) => {
                        return Err(AdminError::BadRequest(format!(
                            "account '{}' does not exist: give its \"tier\" to create it",
                            request.account
                        )))
                    }
                };
                if let Some(overrides) = &request.overrides {
                    parse_overrides(&current.base, "overrides", overrides)
                        .map_err(|e| AdminError::BadRequest(e.0))?;
                }
                change.key = Some(KeyRecord {
                    sha256: hash.to_hex(),
                    account: request.account.clone(),
                    name: request.name.clone(),
                    overrides: request.overrides.clone(),
                    revoked: false,
                    created: now_secs(),
                });
                Ok((change, tier))
            },
            |current| state.install(current),
        )
        .await?;
    tracing::info!(key = %hash.id(), account = %request.account, "admin: key created");
    let answer = json!({
        "key": raw,
        "id": hash.id(),
        "sha256": hash.to_hex(),
        "account": request.account,
        "name": request.name,
        "tier": tier,
    });
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

pub(crate) async fn revoke_key(
    State(state): State<Arc<GatewayState>>,
    Path(key): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let installed = state.config();
    let hash = state
        .directory()
        .change(
            |current| {
                let hash = find_key(&installed, current, &key)?;
                let mut record = key_record(&installed, current, &hash)?;
                record.revoked = true;
                Ok((
                    Change {
                        account: None,
                        key: Some(record),
                    },
                    hash,
                ))
            },
            |current| state.install(current),
        )
        .await?;
    tracing::info!(key = %hash.id(), "admin: key revoked");
    Ok(Json(
        json!({"id": hash.id(), "sha256": hash.to_hex(), "revoked": true}),
    ))
}

/// Sets (`Some`) or clears (`None`) a key's overrides.
async fn key_overrides(
    state: &GatewayState,
    key: &str,
    overrides: Option<Value>,
) -> Result<Json<Value>, AdminError> {
    let installed = state.config();
    let hash = state
        .directory()
        .change(
            |current| {
                let hash = find_key(&installed, current, key)?;
                let mut record = key_record(&installed, current, &hash)?;
                if record.revoked {
                    return Err(AdminError::BadRequest(format!(
                        "key '{}' is revoked",
                        hash.id()
                    )));
                }
                if let Some(json) = &overrides {
                    parse_overrides(
                        &current.base,
                        &format!("keys.{}.overrides", hash.id()),
                        json,
                    )
                    .map_err(|e| AdminError::BadRequest(e.0))?;
                }
                record.overrides.clone_from(&overrides);
                Ok((
                    Change {
                        account: None,
                        key: Some(record),
                    },
                    hash,
                ))
            },
            |current| state.install(current),
        )
        .await?;
    tracing::info!(key = %hash.id(), set = overrides.is_some(), "admin: key overrides changed");
    Ok(Json(json!({"id": hash.id(), "overrides": overrides})))
}

pub(crate) async fn set_key_overrides(
    State(state): State<Arc<GatewayState>>,
    Path(key): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, AdminError> {
    let overrides: Value = body(&bytes)?;
    key_overrides(&state, &key, Some(overrides)).await
}

pub(crate) async fn clear_key_overrides(
    State(state): State<Arc<GatewayState>>,
    Path(key): Path<String>,
) -> Result<Json<Value>, AdminError> {
    key_overrides(&state, &key, None).await
}

pub(crate) async fn unblock_key(
    State(state): State<Arc<GatewayState>>,
    Path(key): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let installed = state.config();
    let hash = find_key(&installed, &state.directory().current(), &key)?;
    state
        .store()
        .clear_block(&hash.id())
        .await
        .map_err(|e| AdminError::Unavailable(e.to_string()))?;
    tracing::info!(key = %hash.id(), "admin: abuse block lifted");
    Ok(Json(json!({"id": hash.id(), "unblocked": true})))
}
