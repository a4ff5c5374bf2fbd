//! The account routes: its keys (ids and hashes only), its tier, its overrides.

use crate::admin::directory::Change;
use crate::admin::error::AdminError;
use crate::admin::handlers::{account_record, body, check_account, check_tier};
use crate::state::GatewayState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use floodgate_config::{parse_overrides, KeyHash};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

pub(crate) async fn list_keys(
    State(state): State<Arc<GatewayState>>,
    Path(account): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let installed = state.config();
    let current = state.directory().current();
    let info = installed.accounts.get(account.as_str());
    let mut keys: Vec<Value> = installed
        .keys
        .values()
        .filter(|k| *k.info.account == *account)
        .map(|k| {
            let source = if current.records.keys.contains_key(&k.hash.to_hex()) { "admin" } else { "config" };
            json!({"id": k.hash.id(), "sha256": k.hash.to_hex(), "name": k.name, "revoked": false, "source": source})
        })
        .collect();
    for record in current.records.keys_of(&account).filter(|r| r.revoked) {
        if let Some(hash) = KeyHash::from_hex(&record.sha256) {
            keys.push(json!({"id": hash.id(), "sha256": record.sha256, "name": record.name, "revoked": true, "source": "admin"}));
        }
    }
    if info.is_none() && keys.is_empty() {
        return Err(AdminError::NotFound(format!("no account '{account}'")));
    }
    keys.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Ok(Json(json!({
        "account": account,
        "tier": info.map(|a| a.tier.to_string()),
        "overrides": current.records.accounts.get(&account).and_then(|a| a.overrides.clone()),
        "keys": keys,
    })))
}

/// Body of `PUT /admin/v1/accounts/{account}/tier`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetTier {
    /// The new tier.
    tier: String,
}

pub(crate) async fn set_tier(
    State(state): State<Arc<GatewayState>>,
    Path(account): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, AdminError> {
    let request: SetTier = body(&bytes)?;
    check_account(&account)?;
    let installed = state.config();
    let previous = installed
        .accounts
        .get(account.as_str())
        .map(|a| a.tier.to_string());
    state
        .directory()
        .change(
            |current| {
                check_tier(&current.base, &request.tier)?;
                let mut record = account_record(current, &account);
                record.tier = Some(request.tier.clone());
                Ok((
                    Change {
                        account: Some(record),
                        key: None,
                    },
                    (),
                ))
            },
            |current| state.install(current),
        )
        .await?;
    tracing::info!(account = %account, tier = %request.tier, "admin: account moved to another tier");
    Ok(Json(
        json!({"account": account, "tier": request.tier, "previous": previous}),
    ))
}

/// Sets (`Some`) or clears (`None`) an account's overrides.
async fn account_overrides(
    state: &GatewayState,
    account: &str,
    overrides: Option<Value>,
) -> Result<Json<Value>, AdminError> {
    let installed = state.config();
    if !installed.accounts.contains_key(account) {
        return Err(AdminError::NotFound(format!("no account '{account}'")));
    }
    state
        .directory()
        .change(
            |current| {
                if let Some(json) = &overrides {
                    parse_overrides(
                        &current.base,
                        &format!("accounts.{account}.overrides"),
                        json,
                    )
                    .map_err(|e| AdminError::BadRequest(e.0))?;
                }
                let mut record = account_record(current, account);
                record.overrides.clone_from(&overrides);
                Ok((
                    Change {
                        account: Some(record),
                        key: None,
                    },
                    (),
                ))
            },
            |current| state.install(current),
        )
        .await?;
    tracing::info!(account = %account, set = overrides.is_some(), "admin: account overrides changed");
    Ok(Json(json!({"account": account, "overrides": overrides})))
}

pub(crate) async fn set_account_overrides(
    State(state): State<Arc<GatewayState>>,
    Path(account): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, AdminError> {
    let overrides: Value = body(&bytes)?;
    account_overrides(&state, &account, Some(overrides)).await
}

pub(crate) async fn clear_account_overrides(
    State(state): State<Arc<GatewayState>>,
    Path(account): Path<String>,
) -> Result<Json<Value>, AdminError> {
    account_overrides(&state, &account, None).await
}
