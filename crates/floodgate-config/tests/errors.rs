//! Broken configs are refused with `FILE:LINE: field: message`, on the right line.

use floodgate_config::{Config, ConfigError};
use std::path::Path;

/// A valid base the broken cases extend: one model, one tier, one account, one key.
const BASE: &str = r#"[models]
txt2img = { kind = "image" }

[tiers.basic]
limits = [{ unit = "requests", window = "minute", max = 3 }]

[accounts.demo]
tier = "basic"

[[keys]]
name = "demo"
sha256 = "c066eeaf121c4fcf0bef6613013e8bdc07de09099d85f3a7af775f5143ab5912"
account = "demo"
"#;
/// Lines in [`BASE`]; an appended snippet's first line is `BASE_LINES + 1`.
const BASE_LINES: usize = 13;

fn errors(text: &str) -> Vec<String> {
    match Config::from_str(text, Path::new("bad.toml")) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e @ ConfigError::Invalid(_)) => {
            let lines: Vec<String> = e.to_string().lines().map(str::to_owned).collect();
            assert_eq!(lines.len(), e.diagnostics().len());
            lines
        }
        Err(e) => panic!("not a config error: {e}"),
    }
}

/// The only error of `text`, checked to sit on `line` and contain every fragment.
fn one_error(text: &str, line: usize, fragments: &[&str]) {
    let errors = errors(text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let prefix = format!("bad.toml:{line}: ");
    assert!(
        errors[0].starts_with(&prefix),
        "{} lacks {prefix}",
        errors[0]
    );
    for f in fragments {
        assert!(errors[0].contains(f), "{} lacks {f}", errors[0]);
    }
}

#[test]
fn the_base_is_valid() {
    assert_eq!(BASE.lines().count(), BASE_LINES);
    Config::from_str(BASE, Path::new("bad.toml")).unwrap();
}

#[test]
fn unknown_tier() {
    let text = BASE.replace("tier = \"basic\"", "tier = \"premum\"");
    assert_eq!(
        errors(&text),
        ["bad.toml:8: accounts.demo.tier: tier 'premum' is not defined (defined: basic)"]
    );
}

#[test]
fn negative_limit() {
    let text = BASE.replace("max = 3", "max = -5");
    assert_eq!(
        errors(&text),
        [
            r#"bad.toml:5: tiers.basic.limits[0].max: must be a non-negative integer or "unlimited", found -5"#
        ]
    );
}

#[test]
fn non_integer_limit() {
    one_error(
        &BASE.replace("max = 3", "max = 2.5"),
        5,
        &["limits[0].max", "found 2.5"],
    );
    one_error(
        &BASE.replace("max = 3", "max = \"lots\""),
        5,
        &["limits[0].max", "\"lots\""],
    );
}

#[test]
fn bad_toml() {
    let text = format!("{BASE}\n[server\nlisten = \"x\"\n");
    one_error(&text, BASE_LINES + 2, &["invalid table header", "expected"]);
    let text = "[server]\nlisten = \"127.0.0.1:8080\nupstream = \"http://x\"\n";
    one_error(text, 2, &["invalid basic string"]);
}

#[test]
fn unknown_field() {
    let text = BASE.replace("name = \"demo\"", "name = \"demo\"\nacount = \"x\"");
    one_error(&text, 12, &["unknown field `acount`", "`account`"]);
    let text = format!("{BASE}\n[server]\nlisten = \"127.0.0.1:8080\"\nupstreams = \"http://x\"\n");
    one_error(&text, BASE_LINES + 4, &["unknown field `upstreams`"]);
    let text = BASE.replace("max = 3 }", "max = 3, windw = \"day\" }");
    one_error(&text, 5, &["unknown field `windw`"]);
    one_error("[tier.basic]\n", 1, &["unknown field `tier`", "`tiers`"]);
}

#[test]
fn unknown_model_in_a_route() {
    let text = format!("{BASE}\n[[routes]]\npath = \"/api/v1/txt2img\"\nmodel = \"txt2im\"\n");
    assert_eq!(
        errors(&text),
        [format!(
            "bad.toml:{}: routes[0].model: model 'txt2im' is not defined",
            BASE_LINES + 4
        )]
    );
}

#[test]
fn route_needs_exactly_one_model_source() {
    let both = format!(
        "{BASE}\n[[routes]]\npath = \"/x\"\nmodel = \"txt2img\"\nmodel_field = \"model\"\n"
    );
    one_error(&both, BASE_LINES + 5, &["routes[0]", "not both"]);
    let neither = format!(
        "{BASE}\n[[routes]]\npath = \"/x\"\n\n[[routes]]\npath = \"/y\"\nmodel = \"txt2img\"\n"
    );
    one_error(&neither, BASE_LINES + 2, &["routes[0]: needs model"]);
}

#[test]
fn route_patterns_methods_and_sizes() {
    let text = format!("{BASE}\n[[routes]]\npath = \"api/x\"\nmodel = \"txt2img\"\n");
    one_error(
        &text,
        BASE_LINES + 3,
        &["routes[0].path", "starts with '/'"],
    );
    let text = format!("{BASE}\n[[routes]]\npath = \"/api/pro*\"\nmodel = \"txt2img\"\n");
    one_error(&text, BASE_LINES + 3, &["routes[0].path", "whole segment"]);
    let text =
        format!("{BASE}\n[[routes]]\nmethod = \"P0ST\"\npath = \"/x\"\nmodel = \"txt2img\"\n");
    one_error(&text, BASE_LINES + 3, &["routes[0].method", "P0ST"]);
    let text = format!(
        "{BASE}\n[[routes]]\npath = \"/x\"\nmodel = \"txt2img\"\nmax_upload = \"10 megs\"\n"
    );
    one_error(&text, BASE_LINES + 5, &["routes[0].max_upload", "10 megs"]);
    let text = format!(
        "{BASE}\n[[routes]]\npath = \"/x\"\nmodel = \"txt2img\"\nmax_media_duration = \"600 minutes\"\n"
    );
    one_error(
        &text,
        BASE_LINES + 5,
        &["routes[0].max_media_duration", "600 minutes", "\"10m\""],
    );
    let text = format!("{BASE}\n[[routes]]\npath = \"/x\"\nmodel = \"txt2img\"\n\n[[routes]]\npath = \"/x\"\nmodel = \"txt2img\"\n");
    one_error(
        &text,
        BASE_LINES + 7,
        &["routes[1]", "routes[0]", "never match"],
    );
}

#[test]
fn async_jobs_name_their_poll_path_and_fields() {
    let route = |job: &str| {
        format!("{BASE}\n[[routes]]\npath = \"/v\"\nmodel = \"txt2img\"\njob = {{ {job} }}\n")
    };
    let ok = r#"task_id = "task_id", poll = "/t/{task_id}", status = "status", final = ["done"]"#;
    assert!(Config::from_str(&route(ok), Path::new("ok.toml")).is_ok());
    let no_task = r#"task_id = "task_id", poll = "/t/x", status = "status", final = ["done"]"#;
    one_error(
        &route(no_task),
        BASE_LINES + 5,
        &["routes[0].job.poll", "one '{task_id}'", "/t/x"],
    );
    let bad_field =
        r#"task_id = "data..id", poll = "/t/{task_id}", status = "s", final = ["done"]"#;
    one_error(
        &route(bad_field),
        BASE_LINES + 5,
        &["routes[0].job.task_id"],
    );
    let no_final = r#"task_id = "id", poll = "/t/{task_id}", status = "s", final = []"#;
    one_error(&route(no_final), BASE_LINES + 5, &["routes[0].job.final"]);
    let missing = r#"task_id = "id", poll = "/t/{task_id}", final = ["done"]"#;
    let errors = errors(&route(missing));
    assert!(errors[0].contains("status"), "{errors:?}");
}

#[test]
fn duplicate_key() {
    let text = format!(
        "{BASE}\n[[keys]]\nname = \"again\"\nsha256 = \"c066eeaf121c4fcf0bef6613013e8bdc07de09099d85f3a7af775f5143ab5912\"\naccount = \"demo\"\n"
    );
    assert_eq!(
        errors(&text),
        [format!(
            "bad.toml:{}: keys[1].sha256: the same key as keys[0] (line 12); each key is listed once",
            BASE_LINES + 4
        )]
    );
}

#[test]
fn malformed_sha256() {
    for bad in [
        "sk-demo-basic",
        "C066EEAF121C4FCF0BEF6613013E8BDC07DE09099D85F3A7AF775F5143AB5912",
        "c066ee",
    ] {
        let text = BASE.replace(
            "c066eeaf121c4fcf0bef6613013e8bdc07de09099d85f3a7af775f5143ab5912",
            bad,
        );
        one_error(
            &text,
            12,
            &["keys[0].sha256: must be 64 lowercase hex digits", bad],
        );
    }
}

#[test]
fn unknown_account_in_a_key() {
    let text = BASE.replace("account = \"demo\"", "account = \"dmeo\"");
    one_error(
        &text,
        13,
        &["keys[0].account: account 'dmeo' is not defined"],
    );
}

#[test]
fn unknown_references_in_a_tier() {
    let text = BASE.replace(
        "limits = [{ unit = \"requests\", window = \"minute\", max = 3 }]",
        "kinds.vidoe.limits = []\nclasses.tiny.limits = []\nmodels.txt2im.limits = []",
    );
    assert_eq!(
        errors(&text),
        [
            "bad.toml:5: tiers.basic.kinds.vidoe: kind 'vidoe' is not the kind of any model",
            "bad.toml:6: tiers.basic.classes.tiny: class 'tiny' is not the class of any model",
            "bad.toml:7: tiers.basic.models.txt2im: model 'txt2im' is not defined",
        ]
    );
}

#[test]
fn unknown_model_in_overrides_and_unlimited_kinds() {
    let text = BASE.replace(
        "tier = \"basic\"",
        "tier = \"basic\"\noverrides.models.nope.limits = []",
    );
    one_error(
        &text,
        9,
        &["accounts.demo.overrides.models.nope: model 'nope' is not defined"],
    );
    let text = format!("[policy]\nunlimited_kinds = [\"video\"]\n{BASE}");
    one_error(&text, 2, &["policy.unlimited_kinds", "'video'"]);
}

#[test]
fn headers_conventions() {
    let ok = format!("[responses]\nheaders = []\n{BASE}");
    let c = Config::from_str(&ok, Path::new("ok.toml")).unwrap();
    assert!(c.responses.headers.is_empty());
    let text = format!("[responses]\nheaders = [\"classic\",\n  \"github\"]\n{BASE}");
    one_error(
        &text,
        3,
        &[
            "responses.headers[1]",
            "'github'",
            "classic, openai or ietf",
        ],
    );
}

#[test]
fn bad_durations_and_sizes() {
    let text =
        format!("[server]\nupstream_timeout = \"60 secs\"\nmax_json_body = \"1 MiBs\"\n{BASE}");
    let found = errors(&text);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].starts_with("bad.toml:2: server.upstream_timeout: "),
        "{}",
        found[0]
    );
    assert!(
        found[1].starts_with("bad.toml:3: server.max_json_body: "),
        "{}",
        found[1]
    );
    let text = format!("[abuse]\nmax_failures = 20\nwindow = \"30\"\nblock = \"0s\"\n{BASE}");
    let found = errors(&text);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].starts_with("bad.toml:3: abuse.window: "),
        "{}",
        found[0]
    );
    assert!(
        found[1].starts_with("bad.toml:4: abuse.block: must be longer than zero"),
        "{}",
        found[1]
    );
    one_error(
        &format!("[server]\nlisten = \"localhost\"\n{BASE}"),
        2,
        &["server.listen"],
    );
    one_error(
        &format!("[server]\nupstream = \"127.0.0.1:9000\"\n{BASE}"),
        2,
        &["server.upstream", "http://"],
    );
    one_error(
        &format!("[store]\nkind = \"mongo\"\n{BASE}"),
        2,
        &["store.kind", "'mongo'", "memory or redis"],
    );
}

#[test]
fn several_errors_are_reported_together_in_file_order() {
    let text = BASE
        .replace("max = 3", "max = -1")
        .replace("tier = \"basic\"", "tier = \"gold\"")
        .replace("account = \"demo\"", "account = \"nobody\"");
    let found = errors(&text);
    let lines: Vec<&str> = found.iter().map(|e| e.split(':').nth(1).unwrap()).collect();
    assert_eq!(lines, ["5", "8", "13"], "{found:#?}");
}

#[test]
fn missing_file_names_the_file() {
    let err = Config::load("no/such/file.toml").unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }));
    assert!(
        err.to_string()
            .starts_with("no/such/file.toml: cannot read: "),
        "{err}"
    );
}
