//! A deterministic, human-readable account of a resolved config: what `floodgate
//! check-config` prints.
//!
//! The limits shown per tier and model come from [`floodgate_core::policy::resolve`] run
//! for a key without overrides on an account of that tier, so the summary shows exactly
//! what the gateway will enforce, not a re-reading of the file.

use crate::quantity;
use crate::resolved::{Config, HeaderConvention, ModelSource, RedisNodes, StoreConfig};
use floodgate_core::policy::{resolve, AccountInfo, KeyInfo, Overrides};
use floodgate_core::{Limit, Scope, Window};
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

/// Renders `config` as the text `floodgate check-config` prints.
pub fn summary(config: &Config) -> String {
    Summary(config).to_string()
}

/// A config as its summary; `Display` writes it.
#[derive(Debug, Clone, Copy)]
pub struct Summary<'a>(pub &'a Config);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        writeln!(f, "config {}", c.source.display())?;
        server(f, c)?;
        tiers(f, c)?;
        overrides(f, c)?;
        routes(f, c)?;
        keys(f, c)
    }
}

fn server(f: &mut fmt::Formatter<'_>, c: &Config) -> fmt::Result {
    let s = &c.server;
    writeln!(f, "\nserver")?;
    writeln!(f, "  listen {}", s.listen)?;
    writeln!(
        f,
        "  upstream {}",
        s.upstream.as_deref().unwrap_or("(not set)")
    )?;
    writeln!(
        f,
        "  upstream timeout {}",
        quantity::format_duration(s.upstream_timeout)
    )?;
    writeln!(
        f,
        "  JSON bodies read up to {}",
        quantity::format_size(s.max_json_body_bytes)
    )?;
    writeln!(
        f,
        "  client API keys {}",
        match (s.forward_api_key, s.identity_headers) {
            (true, true) => "forwarded upstream, with the identity in x-floodgate-* headers",
            (true, false) => "forwarded upstream",
            (false, true) => "kept from the upstream (identity in x-floodgate-* headers)",
            (false, false) => "kept from the upstream, identity not sent",
        }
    )?;
    let headers: Vec<&str> = c
        .responses
        .headers
        .iter()
        .map(|h| match h {
            HeaderConvention::Classic => "classic",
            HeaderConvention::OpenAi => "openai",
            HeaderConvention::Ietf => "ietf",
        })
        .collect();
    let headers = if headers.is_empty() {
        "none".to_owned()
    } else {
        headers.join(", ")
    };
    writeln!(f, "  rate-limit headers: {headers}")?;
    writeln!(f, "  429 body: {}", c.responses.rejection_body)?;
    match &c.abuse {
        None => writeln!(f, "  abuse protection: off")?,
        Some(a) => writeln!(
            f,
            "  abuse protection: more than {} failures in {} block a key for {}: \"{}\"",
            a.rule.max_failures,
            quantity::format_duration(a.rule.window),
            quantity::format_duration(a.rule.block),
            a.message
        )?,
    }
    match &c.store {
        StoreConfig::Memory => writeln!(f, "  store: memory"),
        StoreConfig::Redis(r) => {
            let nodes = match &r.nodes {
                RedisNodes::Single(_) => "one server".to_owned(),
                RedisNodes::Cluster(n) => format!("a cluster through {} node(s)", n.len()),
            };
            writeln!(
                f,
                "  store: redis, {nodes}, timeout {} ms, probe every {} ms",
                r.timeout.as_millis(),
                r.probe_interval.as_millis()
            )
        }
    }
}

fn tiers(f: &mut fmt::Formatter<'_>, c: &Config) -> fmt::Result {
    let tiers: BTreeMap<&str, _> = c.policy.tiers.iter().map(|(k, v)| (&**k, v)).collect();
    for (name, tier) in tiers {
        let unlimited = if tier.unlimited {
            " (unlimited: overrides only)"
        } else {
            ""
        };
        writeln!(f, "\ntier {name}{unlimited}")?;
        let key = synthetic_key(Overrides::default());
        let account = AccountInfo {
            id: "summary".into(),
            tier: tier.name.clone(),
            overrides: Overrides::default(),
        };
        model_lines(f, c, &key, &account, None)?;
    }
    Ok(())
}

fn synthetic_key(overrides: Overrides) -> KeyInfo {
    KeyInfo {
        id: "summary".into(),
        account: "summary".into(),
        overrides,
    }
}

/// One line per model with the limits `key` of `account` gets; with `baseline`, only the
/// models where those differ from what `baseline` gets.
fn model_lines(
    f: &mut fmt::Formatter<'_>,
    c: &Config,
    key: &KeyInfo,
    account: &AccountInfo,
    baseline: Option<(&KeyInfo, &AccountInfo)>,
) -> fmt::Result {
    let models: BTreeMap<&str, _> = c.policy.models.iter().map(|(k, v)| (&**k, v)).collect();
    let name_width = models.keys().map(|m| m.len()).max().unwrap_or(0);
    let kinds: BTreeMap<&str, String> = models
        .iter()
        .map(|(name, spec)| {
            let kind = match &spec.class {
                Some(class) => format!("{}/{class}", spec.kind),
                None => spec.kind.to_string(),
            };
            (*name, kind)
        })
        .collect();
    let kind_width = kinds.values().map(String::len).max().unwrap_or(0);
    for (model, spec) in &models {
        let resolved = resolve(&c.policy, key, account, model);
        if let Some((bk, ba)) = baseline {
            if resolve(&c.policy, bk, ba, model) == resolved {
                continue;
            }
        }
        let limits = match resolved {
            Err(e) => format!("error: {e}"),
            Ok(_) if !spec.rate_limited || c.policy.unlimited_kinds.contains(&spec.kind) => {
                "not rate-limited".to_owned()
            }
            Ok(limits) if limits.is_empty() => "no limits".to_owned(),
            Ok(limits) => describe(&limits, model),
        };
        let kind = &kinds[model];
        writeln!(f, "  {model:<name_width$}  {kind:<kind_width$}  {limits}")?;
    }
    Ok(())
}

/// Accounts and keys with overrides, and the models whose limits they change.
fn overrides(f: &mut fmt::Formatter<'_>, c: &Config) -> fmt::Result {
    let accounts: BTreeMap<&str, _> = c.accounts.iter().map(|(k, v)| (&**k, v)).collect();
    let plain = synthetic_key(Overrides::default());
    for (id, account) in &accounts {
        if count(&account.overrides) == 0 {
            continue;
        }
        writeln!(f, "\naccount {id} (tier {}) overrides", account.tier)?;
        let tier_only = AccountInfo {
            overrides: Overrides::default(),
            ..(*account).clone()
        };
        model_lines(f, c, &plain, account, Some((&plain, &tier_only)))?;
    }
    let mut keys: Vec<_> = c.keys.values().collect();
    keys.sort_by(|a, b| (&a.name, &a.info.id).cmp(&(&b.name, &b.info.id)));
    for k in keys {
        let Some(account) = c.accounts.get(&k.info.account) else {
            continue;
        };
        if count(&k.info.overrides) == 0 {
            continue;
        }
        writeln!(f, "\nkey {} ({}) overrides", k.name, k.info.id)?;
        let bare = synthetic_key(Overrides::default());
        model_lines(f, c, &k.info, account, Some((&bare, account)))?;
    }
    Ok(())
}

/// One line for a model's limits: `3 requests/minute, 100 requests/day`.
pub fn describe(limits: &[Limit], model: &str) -> String {
    let mut out = String::new();
    for (i, l) in limits.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match l.window {
            Window::Concurrent { lease_ttl } => {
                let _ = write!(
                    out,
                    "{} {} at once (lease {})",
                    thousands(l.max),
                    l.unit,
                    quantity::format_duration(lease_ttl)
                );
            }
            Window::Calendar { offset, .. } if offset != 0 => {
                let _ = write!(
                    out,
                    "{} {}/{} (resets {} UTC)",
                    thousands(l.max),
                    l.unit,
                    l.window.label(),
                    quantity::format_time_of_day(offset)
                );
            }
            _ => {
                let _ = write!(out, "{} {}/{}", thousands(l.max), l.unit, l.window.label());
            }
        }
        match l.scope {
            Scope::Key => {}
            Scope::Account => out.push_str(" per account"),
            Scope::Global => out.push_str(" global"),
        }
        if &*l.bucket != model {
            let _ = write!(out, " shared '{}'", l.bucket);
        }
        if l.shadow {
            out.push_str(" [shadow]");
        }
        if l.failure == floodgate_core::FailurePolicy::FailClosed {
            out.push_str(" [fail_closed]");
        }
    }
    out
}

fn routes(f: &mut fmt::Formatter<'_>, c: &Config) -> fmt::Result {
    writeln!(f, "\nroutes (first match wins)")?;
    if c.routes.is_empty() {
        writeln!(f, "  none")?;
    }
    for r in &c.routes {
        let mut line = format!("  {:<6} {}", r.method.as_deref().unwrap_or("*"), r.path);
        match &r.model {
            ModelSource::Fixed(m) => {
                let _ = write!(line, " -> {m}");
            }
            ModelSource::BodyField(field) => {
                let _ = write!(line, " -> model from body field '{field}'");
            }
        }
        let images = r.images_field.as_deref().or_else(|| match &r.model {
            ModelSource::Fixed(m) => c
                .models
                .get(m)
                .and_then(|cost| cost.images_field.as_deref()),
            ModelSource::BodyField(_) => None,
        });
        if let Some(field) = images {
            let _ = write!(line, ", images from '{field}'");
        }
        if let ModelSource::Fixed(m) = &r.model {
            if let Some(formula) = c.models.get(m).and_then(|cost| cost.compute.as_ref()) {
                let _ = write!(line, ", compute units from '{}'", formula.field);
                if let Some(ff) = &formula.factor_field {
                    let _ = write!(line, " x factor of '{ff}'");
                }
            }
        }
        if let Some(max) = r.max_upload_bytes {
            let _ = write!(line, ", uploads up to {}", quantity::format_size(max));
        }
        if let Some(max) = r.max_media_duration {
            // in minutes, as providers state media limits ("600 minutes", not "10h")
            const MINUTE: u64 = 60 * floodgate_core::NANOS_PER_SEC;
            if max.is_multiple_of(MINUTE) {
                let _ = write!(line, ", media up to {} minutes", max / MINUTE);
            } else {
                let _ = write!(line, ", media up to {}", quantity::format_duration(max));
            }
        }
        writeln!(f, "{line}")?;
    }
    Ok(())
}

fn keys(f: &mut fmt::Formatter<'_>, c: &Config) -> fmt::Result {
    writeln!(f, "\nkeys")?;
    if c.keys.is_empty() {
        writeln!(f, "  none")?;
    }
    let mut keys: Vec<_> = c.keys.values().collect();
    keys.sort_by(|a, b| {
        (&a.info.account, &a.name, &a.info.id).cmp(&(&b.info.account, &b.name, &b.info.id))
    });
    for k in keys {
        let account = c.accounts.get(&k.info.account);
        let tier = account.map_or("?", |a| &*a.tier);
        let overrides = count(&k.info.overrides) + account.map_or(0, |a| count(&a.overrides));
        let overrides = match overrides {
            0 => String::new(),
            n => format!(", {n} override rule(s)"),
        };
        writeln!(
            f,
            "  {}: account {}, tier {tier}, id {}{overrides}",
            k.name, k.info.account, k.info.id
        )?;
    }
    Ok(())
}

fn count(o: &Overrides) -> usize {
    o.all.rules.len() + o.models.values().map(|s| s.rules.len()).sum::<usize>()
}

/// `5000000` -> `5,000,000`, the way rate-limit tables print them.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(5_000_000), "5,000,000");
        assert_eq!(thousands(12_345_678), "12,345,678");
    }
}
