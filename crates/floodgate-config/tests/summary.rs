//! The check-config summary: deterministic, and showing exactly what resolution yields.

use floodgate_config::{summary::summary, Config};
use std::path::PathBuf;

fn example(name: &str) -> (Config, String) {
    let path = PathBuf::from("../../examples").join(name);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let s = summary(&c);
    (c, s)
}

/// The summary line of `model` under the `tier` heading.
fn tier_line<'a>(summary: &'a str, tier: &str, model: &str) -> &'a str {
    let heading = format!("tier {tier}");
    summary
        .lines()
        .skip_while(|l| *l != heading && !l.starts_with(&format!("{heading} (")))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .find(|l| l.trim_start().starts_with(&format!("{model} ")))
        .unwrap_or_else(|| panic!("no {model} under {heading}"))
}

#[test]
fn the_summary_is_deterministic() {
    for name in [
        "provider-a.toml",
        "provider-b.toml",
        "provider-c.toml",
        "provider-d.toml",
    ] {
        let (c, first) = example(name);
        let again = summary(&Config::load(&c.source).unwrap());
        assert_eq!(first, again, "{name}");
    }
}

#[test]
fn provider_b_lines_match_the_seed_table() {
    let (_, s) = example("provider-b.toml");
    assert!(tier_line(&s, "basic", "txt2img").ends_with("3 requests/minute, 100 requests/day"));
    assert!(tier_line(&s, "basic", "txt2video").ends_with("1 requests/minute, 15 requests/day"));
    assert!(
        tier_line(&s, "basic", "videos/replace").ends_with("1 requests/minute, 15 requests/day")
    );
    assert!(tier_line(&s, "basic", "prompt").ends_with("10 requests/minute, 100 requests/day"));
    assert!(tier_line(&s, "premium", "txt2img").ends_with("  300 requests/minute"));
    assert!(
        s.contains(
            "  POST   /api/v1/aud2video -> aud2video, uploads up to 20 MB, media up to 600 minutes\n"
        ),
        "{s}"
    );
    assert!(s.contains("  POST   /api/v1/prompt/* -> prompt\n"), "{s}");
    assert!(s.contains("  rate-limit headers: classic\n"));
    assert!(s.contains("  429 body: {\"message\":\"Too Many Attempts.\"}\n"));
    assert!(
        s.contains("  demo basic key: account demo-basic, tier basic, id c066eeaf121c4fcf\n"),
        "{s}"
    );
}

#[test]
fn provider_c_lines_show_classes_and_unlimited_kinds() {
    let (_, s) = example("provider-c.toml");
    assert!(tier_line(&s, "standard", "llama-3.2-3b").contains("text/x-small"));
    assert!(tier_line(&s, "standard", "llama-3.2-3b")
        .ends_with("500 requests/minute, 5,000,000 tokens/minute"));
    assert!(tier_line(&s, "standard", "gpt-5").ends_with("  1,000 requests/minute"));
    assert!(tier_line(&s, "standard", "wan-2.5-preview").ends_with("not rate-limited"));
    assert!(s.contains("abuse protection: more than 20 failures in 30s block a key for 30s"));
}

#[test]
fn provider_a_and_d_lines() {
    let (_, a) = example("provider-a.toml");
    assert!(tier_line(&a, "default", "flux-1-schnell").ends_with("  10 images/minute"));
    assert!(tier_line(&a, "default", "txt2video").ends_with("  2 requests/minute"));
    assert!(
        a.contains("\naccount demo-raised (tier default) overrides\n  txt2img_v3"),
        "{a}"
    );
    let (_, d) = example("provider-d.toml");
    let pro = tier_line(&d, "pro", "ltx-2-pro");
    assert!(pro.contains("1,800 compute_units/minute"), "{pro}");
    assert!(
        pro.contains("10 concurrent_jobs at once (lease 15m)"),
        "{pro}"
    );
    assert!(
        pro.contains("50,000 requests/month per account shared 'video-monthly'"),
        "{pro}"
    );
    assert!(tier_line(&d, "enterprise", "ltx-2-pro").ends_with("no limits"));
    assert!(d.contains("/v1/text-to-video -> model from body field 'model'"));
}

#[test]
fn no_raw_key_or_full_hash_in_the_summary() {
    let (c, s) = example("provider-b.toml");
    for key in c.keys.keys() {
        assert!(!s.contains(&key.to_hex()));
        assert!(s.contains(&key.id()));
    }
    assert!(!s.contains("sk-demo"));
}

#[test]
fn keys_stay_away_from_the_upstream_unless_asked() {
    let (c, s) = example("provider-b.toml");
    assert!(!c.server.forward_api_key);
    assert!(s.contains("client API keys kept from the upstream"), "{s}");
    let text = "[server]\nforward_api_key = true\n[store]\nkind = \"memory\"\n";
    let c = Config::from_str(text, std::path::Path::new("fwd.toml")).expect("valid");
    assert!(c.server.forward_api_key);
    let err = Config::from_str(
        "[server]\nforward_api_key = \"yes\"\n",
        std::path::Path::new("bad.toml"),
    )
    .expect_err("a string is not a bool");
    assert!(err.to_string().starts_with("bad.toml:2:"), "{err}");
}

#[test]
fn identity_headers_are_sent_unless_turned_off() {
    let (c, _) = example("provider-b.toml");
    assert!(c.server.identity_headers);
    let text = "[server]\nidentity_headers = false\n[store]\nkind = \"memory\"\n";
    let c = Config::from_str(text, std::path::Path::new("quiet.toml")).expect("valid");
    assert!(!c.server.identity_headers);
    let s = summary(&c);
    assert!(
        s.contains("kept from the upstream, identity not sent"),
        "{s}"
    );
    let err = Config::from_str(
        "[store]\nkind = \"memory\"\n[server]\nidentity_headers = 0\n",
        std::path::Path::new("bad.toml"),
    )
    .expect_err("a number is not a bool");
    assert!(err.to_string().starts_with("bad.toml:4:"), "{err}");
}
