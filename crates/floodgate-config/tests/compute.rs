//! Compute formulas as a config declares them: parsed, checked, and evaluated on bodies.

use floodgate_config::{ComputeFormula, Config};
use serde_json::json;
use std::path::Path;

fn formula(compute: &str) -> Result<Option<ComputeFormula>, String> {
    let text = format!("[models.v]\nkind = \"video\"\ncompute = {compute}\n");
    Config::from_str(&text, Path::new("c.toml"))
        .map(|c| c.models["v"].compute.clone())
        .map_err(|e| e.to_string())
}

#[test]
fn duration_times_resolution_factor() {
    let f = formula(r#"{ field = "duration_seconds", factor_field = "resolution", factors = { "720p" = 1.0, "1080p" = 2.25, "4k" = 9 } }"#)
        .unwrap()
        .unwrap();
    assert_eq!(f.factors["1080p"], 2_250_000);
    let cost = |body| f.units(&body);
    assert_eq!(
        cost(json!({"duration_seconds": 30, "resolution": "4k"})),
        Ok(270)
    );
    assert_eq!(
        cost(json!({"duration_seconds": 5, "resolution": "720p"})),
        Ok(5)
    );
    assert_eq!(
        cost(json!({"duration_seconds": 3, "resolution": "1080p"})),
        Ok(7)
    );
    let e = cost(json!({"duration_seconds": 5, "resolution": "8k"})).unwrap_err();
    assert!(e.contains("'8k'") && e.contains("1080p, 4k, 720p"), "{e}");
    let e = cost(json!({"resolution": "4k"})).unwrap_err();
    assert_eq!(e, "field 'duration_seconds' is required");
}

#[test]
fn a_plain_field_is_its_own_cost() {
    let f = formula(r#"{ field = "steps" }"#).unwrap().unwrap();
    assert_eq!(f.units(&json!({"steps": 40})), Ok(40));
}

#[test]
fn inconsistent_formulas_are_refused() {
    let cases = [
        (
            r#"{ field = "d", factor_field = "r" }"#,
            "c.toml:3: models.v.compute.factors: factor_field 'r' needs a table of factors",
        ),
        (
            r#"{ field = "d", factors = { a = 1 } }"#,
            "c.toml:3: models.v.compute.factor_field: factors are given",
        ),
        (
            r#"{ field = "d", factor_field = "r", factors = { a = 0 } }"#,
            "c.toml:3: models.v.compute.factors.a: must be a positive number",
        ),
        (
            r#"{ field = "d", factor_field = "r", factors = { a = 1 }, factor_default = "b" }"#,
            "c.toml:3: models.v.compute.factor_default: 'b' is not one of the factors",
        ),
        (
            r#"{ field = "d", factor_field = "r", factors = { a = "x" } }"#,
            "c.toml:3: ",
        ),
        (
            r#"{ field = "d", factorfield = "r" }"#,
            "c.toml:3: unknown field `factorfield`",
        ),
    ];
    for (compute, expected) in cases {
        let e = formula(compute).unwrap_err();
        assert!(e.starts_with(expected), "{compute}: {e}");
    }
}

#[test]
fn a_compute_limit_needs_a_formula_on_every_model_it_reaches() {
    let text = r#"[models]
with = { kind = "video", compute = { field = "seconds" } }
without = { kind = "video" }

[tiers.pro]
kinds.video.limits = [{ unit = "compute_units", window = "minute", max = 100 }]
"#;
    let e = Config::from_str(text, Path::new("c.toml"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "c.toml:5: tiers.pro: model 'without' gets a compute_units limit but has no compute formula (models.without.compute), so nothing would count against it"
    );
    let fixed = text.replace("kinds.video", "models.with");
    Config::from_str(&fixed, Path::new("c.toml")).unwrap();
}
