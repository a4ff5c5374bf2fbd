//! Every example config loads and resolves to the numbers its provider publishes.

use floodgate_config::{Config, HeaderConvention, KeyHash, ModelSource};
use floodgate_core::policy::resolve;
use floodgate_core::{CalendarPeriod, Scope, Unit, Window, NANOS_PER_SEC};
use std::path::PathBuf;

fn load(name: &str) -> Config {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    Config::load(&path).unwrap_or_else(|e| panic!("{name} does not load:\n{e}"))
}

/// The limits `raw_key` gets on `model`, as (unit, window label, max, scope).
fn limits(config: &Config, raw_key: &str, model: &str) -> Vec<(Unit, String, u64, Scope)> {
    let key = &config.keys[&KeyHash::of(raw_key)];
    let account = &config.accounts[&key.info.account];
    resolve(&config.policy, &key.info, account, model)
        .unwrap_or_else(|e| panic!("{model}: {e}"))
        .into_iter()
        .map(|l| (l.unit, l.window.label(), l.max, l.scope))
        .collect()
}

fn per_key(list: &[(Unit, &str, u64)]) -> Vec<(Unit, String, u64, Scope)> {
    list.iter()
        .map(|&(u, w, m)| (u, w.to_owned(), m, Scope::Key))
        .collect()
}

fn fixed_route<'a>(config: &'a Config, path: &str) -> &'a floodgate_config::Route {
    config
        .routes
        .iter()
        .find(|r| r.matches("POST", path))
        .unwrap_or_else(|| panic!("no route for {path}"))
}

#[test]
fn provider_a_reproduces_the_ipm_and_rpm_tables() {
    let c = load("provider-a.toml");
    let ipm = [
        ("txt2img_v3", 20),
        ("img2img_v3", 10),
        ("remove_background", 10),
        ("replace_background", 10),
        ("remove_text", 10),
        ("inpainting", 10),
        ("cleanup", 10),
        ("merge_face", 10),
        ("flux-1-schnell", 10),
        ("upscale_v3", 20),
    ];
    let rpm = [
        ("video_merge_face", 10),
        ("txt2video", 2),
        ("img2video", 2),
        ("wan_txt_to_video", 20),
        ("wan i2v", 20),
        ("hunyuan_video_fast", 20),
        ("Kling i2v", 20),
        ("Kling t2v", 20),
        ("Minimax", 20),
    ];
    for (model, max) in ipm {
        assert_eq!(
            limits(&c, "sk-demo", model),
            per_key(&[(Unit::Images, "minute", max)]),
            "{model}"
        );
    }
    for (model, max) in rpm {
        assert_eq!(
            limits(&c, "sk-demo", model),
            per_key(&[(Unit::Requests, "minute", max)]),
            "{model}"
        );
    }
    assert_eq!(c.policy.models.len(), ipm.len() + rpm.len());
    assert_eq!(
        c.models["txt2img_v3"].images_field.as_deref(),
        Some("image_num")
    );
    let route = fixed_route(&c, "/api/v1/wan-i2v");
    assert_eq!(route.model, ModelSource::Fixed("wan i2v".into()));
}

const PROVIDER_B_BASIC: [(&str, u64, u64); 18] = [
    ("txt2img", 3, 100),
    ("img2img", 3, 100),
    ("txt2audio", 3, 50),
    ("txt2video", 1, 15),
    ("img2video", 1, 15),
    ("aud2video", 1, 15),
    ("txt2music", 1, 15),
    ("transcribe", 3, 50),
    ("vid2txt", 3, 50),
    ("aud2txt", 3, 50),
    ("videofile2txt", 3, 50),
    ("audiofile2txt", 3, 50),
    ("img2txt", 5, 100),
    ("txt2embedding", 10, 100),
    ("img-rmbg", 5, 100),
    ("img-upscale", 5, 100),
    ("videos/replace", 1, 15),
    ("prompt", 10, 100),
];

#[test]
fn provider_b_basic_tier_is_the_per_endpoint_table() {
    let c = load("provider-b.toml");
    for (model, rpm, daily) in PROVIDER_B_BASIC {
        assert_eq!(
            limits(&c, "sk-demo-basic", model),
            per_key(&[
                (Unit::Requests, "minute", rpm),
                (Unit::Requests, "day", daily)
            ]),
            "{model}"
        );
    }
    assert_eq!(c.policy.models.len(), 18);
    // Daily limits are calendar quotas resetting at 00:00 UTC.
    let key = &c.keys[&KeyHash::of("sk-demo-basic")];
    let account = &c.accounts[&key.info.account];
    let txt2img = resolve(&c.policy, &key.info, account, "txt2img").unwrap();
    assert_eq!(txt2img[1].window, Window::DAY);
    assert_eq!(txt2img[0].window, Window::MINUTE);
}

#[test]
fn provider_b_premium_is_300_rpm_per_endpoint_and_no_daily_limit() {
    let c = load("provider-b.toml");
    for (model, _, _) in PROVIDER_B_BASIC {
        assert_eq!(
            limits(&c, "sk-demo-premium", model),
            per_key(&[(Unit::Requests, "minute", 300)]),
            "{model}"
        );
    }
    let key = &c.keys[&KeyHash::of("sk-demo-premium")];
    let account = &c.accounts[&key.info.account];
    let a = resolve(&c.policy, &key.info, account, "txt2img").unwrap();
    let b = resolve(&c.policy, &key.info, account, "img2img").unwrap();
    assert_ne!(a[0].slot, b[0].slot, "each endpoint keeps its own counter");
}

#[test]
fn provider_b_routes_uploads_and_responses() {
    let c = load("provider-b.toml");
    assert_eq!(c.responses.headers, [HeaderConvention::Classic]);
    assert_eq!(
        c.responses.rejection_body,
        r#"{"message":"Too Many Attempts."}"#
    );
    assert_eq!(c.routes.len(), 18);
    for (model, _, _) in PROVIDER_B_BASIC {
        if model != "prompt" {
            let path = format!("/api/v1/{model}");
            assert_eq!(
                fixed_route(&c, &path).model,
                ModelSource::Fixed(model.into())
            );
        }
    }
    let prompt = fixed_route(&c, "/api/v1/prompt/enhance");
    assert_eq!(prompt.model, ModelSource::Fixed("prompt".into()));
    assert_eq!(prompt.path, "/api/v1/prompt/*");
    const MB: u64 = 1 << 20;
    let upload = |path: &str| fixed_route(&c, path).max_upload_bytes;
    assert_eq!(upload("/api/v1/img2img"), Some(10 * MB));
    assert_eq!(upload("/api/v1/img-upscale"), Some(10 * MB));
    assert_eq!(upload("/api/v1/transcribe"), Some(10 * MB));
    assert_eq!(upload("/api/v1/aud2video"), Some(20 * MB));
    assert_eq!(upload("/api/v1/videofile2txt"), Some(10 * MB));
    assert_eq!(upload("/api/v1/videos/replace"), Some(10 * MB));
    assert_eq!(upload("/api/v1/txt2img"), None);
    // audio and video: 600 minutes at most
    let media = |path: &str| fixed_route(&c, path).max_media_duration;
    let minutes = |m: u64| Some(m * 60 * 1_000_000_000);
    for path in [
        "/api/v1/aud2video",
        "/api/v1/transcribe",
        "/api/v1/vid2txt",
        "/api/v1/aud2txt",
        "/api/v1/videofile2txt",
        "/api/v1/audiofile2txt",
        "/api/v1/videos/replace",
    ] {
        assert_eq!(media(path), minutes(600), "{path}");
    }
    assert_eq!(media("/api/v1/img2video"), None);
    assert_eq!(media("/api/v1/txt2img"), None);
    assert_eq!(c.server.upstream.as_deref(), Some("http://127.0.0.1:9000"));
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
}

#[test]
fn provider_c_standard_tier_is_the_class_tables() {
    let c = load("provider-c.toml");
    let k = "sk-demo-standard";
    let text = |rpm, tpm| {
        per_key(&[
            (Unit::Requests, "minute", rpm),
            (Unit::Tokens, "minute", tpm),
        ])
    };
    let rpm_only = |rpm| per_key(&[(Unit::Requests, "minute", rpm)]);
    // Size classes.
    assert_eq!(limits(&c, k, "llama-3.2-3b"), text(500, 5_000_000));
    assert_eq!(limits(&c, k, "text-embedding-bge-m3"), text(500, 5_000_000));
    assert_eq!(limits(&c, k, "mistral-31-24b"), text(150, 3_000_000));
    assert_eq!(limits(&c, k, "llama-3.3-70b"), text(100, 2_000_000));
    assert_eq!(limits(&c, k, "qwen3-235b"), text(100, 2_000_000));
    // Provider classes; OpenRouter and Parasail have no tokens-per-minute limit.
    assert_eq!(limits(&c, k, "kimi-k2-thinking"), text(150, 10_000_000));
    assert_eq!(limits(&c, k, "claude-sonnet-4-5"), text(500, 5_000_000));
    assert_eq!(limits(&c, k, "grok-4"), text(500, 10_000_000));
    assert_eq!(limits(&c, k, "gpt-5"), rpm_only(1_000));
    assert_eq!(limits(&c, k, "glm-4.6"), rpm_only(1_000));
    // Image classes.
    assert_eq!(limits(&c, k, "flux-dev"), rpm_only(20));
    assert_eq!(limits(&c, k, "seedream-v4"), rpm_only(50));
    assert_eq!(limits(&c, k, "flux-2-pro"), rpm_only(50));
    assert_eq!(limits(&c, k, "grok-imagine"), rpm_only(120));
    assert_eq!(limits(&c, k, "grok-imagine-pro"), rpm_only(20));
    // Audio types.
    assert_eq!(limits(&c, k, "tts-kokoro"), rpm_only(60));
    assert_eq!(limits(&c, k, "whisper-large-v3"), rpm_only(60));
    // Video and music: not rate-limited.
    assert_eq!(limits(&c, k, "wan-2.5-preview"), []);
    assert_eq!(limits(&c, k, "kling-2.5-turbo-pro"), []);
    assert_eq!(limits(&c, k, "ace-step-v1.5"), []);
}

#[test]
fn provider_c_partner_tier_is_higher_everywhere_it_is_limited() {
    let c = load("provider-c.toml");
    let partner = &c.accounts[&c.keys[&KeyHash::of("sk-demo-partner")].info.account];
    assert_eq!(&*partner.tier, "partner-tier-1");
    for model in c.policy.models.keys() {
        let standard = limits(&c, "sk-demo-standard", model);
        let higher = limits(&c, "sk-demo-partner", model);
        assert_eq!(standard.len(), higher.len(), "{model}");
        for (s, p) in standard.iter().zip(&higher) {
            assert_eq!((s.0, &s.1), (p.0, &p.1), "{model}");
            assert!(p.2 > s.2, "{model}: partner {} <= standard {}", p.2, s.2);
        }
    }
}

#[test]
fn provider_c_abuse_headers_and_routes() {
    let c = load("provider-c.toml");
    let abuse = c.abuse.as_ref().expect("abuse protection");
    assert_eq!(abuse.rule.max_failures, 20);
    assert_eq!(abuse.rule.window, 30 * NANOS_PER_SEC);
    assert_eq!(abuse.rule.block, 30 * NANOS_PER_SEC);
    assert_eq!(
        abuse.message,
        "Too many failed attempts (> 20) resulting in a non-success status code. Please wait 30s and try again."
    );
    assert_eq!(c.responses.headers, [HeaderConvention::OpenAi]);
    for path in [
        "/api/v1/chat/completions",
        "/api/v1/image/generate",
        "/api/v1/audio/speech",
        "/api/v1/audio/transcriptions",
        "/api/v1/embeddings",
    ] {
        assert_eq!(
            fixed_route(&c, path).model,
            ModelSource::BodyField("model".into()),
            "{path}"
        );
    }
}

#[test]
fn provider_d_has_every_kind_of_limit() {
    let c = load("provider-d.toml");
    let key = &c.keys[&KeyHash::of("sk-demo")];
    let account = &c.accounts[&key.info.account];
    assert_eq!(&*account.tier, "pro");
    let got = resolve(&c.policy, &key.info, account, "ltx-2-pro").unwrap();
    let shape: Vec<_> = got
        .iter()
        .map(|l| (l.unit, l.window.label(), l.max, l.scope))
        .collect();
    assert_eq!(
        shape,
        [
            (Unit::Requests, "minute".to_owned(), 60, Scope::Key),
            (Unit::ComputeUnits, "minute".to_owned(), 1_800, Scope::Key),
            (
                Unit::ConcurrentJobs,
                "concurrent".to_owned(),
                10,
                Scope::Key
            ),
            (Unit::Requests, "day".to_owned(), 2_000, Scope::Key),
            (Unit::Requests, "month".to_owned(), 50_000, Scope::Account),
            (
                Unit::ComputeUnits,
                "month".to_owned(),
                400_000,
                Scope::Account
            ),
        ]
    );
    assert_eq!(
        got[2].window,
        Window::Concurrent {
            lease_ttl: 15 * 60 * NANOS_PER_SEC
        }
    );
    assert_eq!(
        got[4].window,
        Window::Calendar {
            period: CalendarPeriod::Month,
            offset: 0
        }
    );
    // One monthly counter for both video models of an account.
    let fast = resolve(&c.policy, &key.info, account, "ltx-2-fast").unwrap();
    assert_eq!(fast[4].slot, got[4].slot);
    assert_ne!(fast[0].slot, got[0].slot);

    let formula = c.models["ltx-2-pro"].compute.as_ref().expect("formula");
    let body =
        |secs: u64, res: &str| serde_json::json!({"duration_seconds": secs, "resolution": res});
    assert_eq!(formula.units(&body(30, "4k")), Ok(270));
    assert_eq!(formula.units(&body(5, "720p")), Ok(5));
    assert_eq!(formula.units(&body(10, "1080p")), Ok(23));
    assert_eq!(
        formula.units(&serde_json::json!({"duration_seconds": 4})),
        Ok(9)
    );

    let status = resolve(&c.policy, &key.info, account, "task-status").unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!((status[0].unit, status[0].max), (Unit::Requests, 300));
    assert!(c
        .routes
        .iter()
        .any(|r| r.matches("GET", "/v1/tasks/abc123")));
    let enterprise = &c.policy.tiers["enterprise"];
    assert!(enterprise.unlimited);
}

#[test]
fn demo_keys_are_stored_hashed() {
    for (file, keys) in [
        ("provider-a.toml", &["sk-demo"][..]),
        ("provider-b.toml", &["sk-demo-basic", "sk-demo-premium"][..]),
        (
            "provider-c.toml",
            &["sk-demo-standard", "sk-demo-partner"][..],
        ),
        ("provider-d.toml", &["sk-demo"][..]),
    ] {
        let c = load(file);
        assert_eq!(c.keys.len(), keys.len(), "{file}");
        for raw in keys {
            let hash = KeyHash::of(raw);
            let entry = c.keys.get(&hash).unwrap_or_else(|| panic!("{file}: {raw}"));
            assert_eq!(&*entry.info.id, hash.id());
        }
        let text = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../examples")
                .join(file),
        )
        .unwrap();
        for raw in keys {
            // Raw keys appear only in comments, never as a value.
            assert!(!text.contains(&format!("\"{raw}\"")), "{file}: {raw}");
        }
    }
}
