//! `floodgate check-config`, run as a user runs it: exit 0 with the summary for each
//! example, exit 1 with `FILE:LINE: message` on standard error for a broken file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn check_config(file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .arg("check-config")
        .arg(file)
        .output()
        .expect("the floodgate binary runs")
}

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// A broken config written to a fresh file under the target directory.
fn broken(name: &str, text: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("check_config");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The configs the bench and client-check scripts start floodgate with: no test runs
/// those scripts, so this keeps their configs from going stale unnoticed.
#[test]
fn every_bench_and_client_check_config_passes() {
    let bench = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench");
    let mut checked = 0;
    for dir in [bench.clone(), bench.join("clients")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let out = check_config(&path);
                assert!(
                    out.status.success(),
                    "{}: {}",
                    path.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 5, "only {checked} configs found under bench/");
}

#[test]
fn every_example_passes_and_prints_its_summary() {
    let expected = [
        ("provider-a.toml", "flux-1-schnell", "10 images/minute"),
        (
            "provider-b.toml",
            "txt2img",
            "3 requests/minute, 100 requests/day",
        ),
        (
            "provider-c.toml",
            "llama-3.2-3b",
            "500 requests/minute, 5,000,000 tokens/minute",
        ),
        (
            "provider-d.toml",
            "ltx-2-pro",
            "60 requests/minute, 1,800 compute_units/minute",
        ),
    ];
    for (file, model, limits) in expected {
        let out = check_config(&examples().join(file));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{file}: {stderr}");
        assert!(stderr.is_empty(), "{file}: {stderr}");
        assert!(stdout.contains(&format!("{file}\n")), "{file}:\n{stdout}");
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{model} ")) && l.contains(limits)),
            "{file}: no line for {model} with {limits}:\n{stdout}"
        );
        assert!(stdout.contains("\nroutes (first match wins)\n"), "{file}");
        assert!(stdout.contains("\nkeys\n"), "{file}");
    }
}

#[test]
fn provider_b_premium_and_uploads_in_the_summary() {
    let out = check_config(&examples().join("provider-b.toml"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let premium = stdout
        .split("\ntier premium\n")
        .nth(1)
        .expect("premium tier");
    let txt2video = premium
        .lines()
        .find(|l| l.trim_start().starts_with("txt2video "))
        .expect("txt2video line");
    assert!(txt2video.ends_with("  300 requests/minute"), "{txt2video}");
    assert!(stdout.contains("/api/v1/aud2video -> aud2video, uploads up to 20 MB"));
}

#[test]
fn a_broken_file_exits_1_with_file_and_line() {
    let text = "[models]\nm = { kind = \"image\" }\n\n[tiers.basic]\nlimits = [{ unit = \"requests\", window = \"minute\", max = -5 }]\n\n[accounts.demo]\ntier = \"premum\"\n";
    let path = broken("broken.toml", text);
    let out = check_config(&path);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let shown = path.display();
    assert_eq!(
        stderr,
        format!(
            "{shown}:5: tiers.basic.limits[0].max: must be a non-negative integer or \"unlimited\", found -5\n\
             {shown}:8: accounts.demo.tier: tier 'premum' is not defined (defined: basic)\n"
        )
    );
}

#[test]
fn bad_toml_and_unknown_fields_exit_1_with_their_line() {
    let path = broken(
        "syntax.toml",
        "[server]\nlisten = \"127.0.0.1:8080\"\n[tiers\n",
    );
    let out = check_config(&path);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("{}:3: ", path.display())),
        "{stderr}"
    );

    let path = broken(
        "field.toml",
        "[server]\nlisten = \"127.0.0.1:8080\"\nlisen = \"x\"\n",
    );
    let out = check_config(&path);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("{}:3: unknown field `lisen`", path.display())),
        "{stderr}"
    );
}

#[test]
fn a_missing_file_exits_1() {
    let out = check_config(Path::new("does/not/exist.toml"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("does/not/exist.toml: cannot read: "),
        "{stderr}"
    );
}
