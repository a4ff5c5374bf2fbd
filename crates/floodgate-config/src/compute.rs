//! [`ComputeFormula`]: the compute units a request costs, from fields of its JSON body
//! ("a 30-second 4K video generation consumes more than a 5-second 720p one").
//!
//! Units are `field x factor(factor_field)`, rounded up, so a request never costs less
//! than the work it asks for.

use serde_json::Value;
use std::collections::BTreeMap;

/// Factors are held in millionths so the formula stays exact, comparable and hashable.
pub const FACTOR_SCALE: u64 = 1_000_000;

/// How to compute the compute units of a request to one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputeFormula {
    /// Top-level JSON body field with the base amount (e.g. `duration_seconds`); a
    /// non-negative number.
    pub field: String,
    /// Top-level JSON body field whose value selects a factor (e.g. `resolution`);
    /// `None` means a factor of 1.
    pub factor_field: Option<String>,
    /// Factor per value of `factor_field`, in millionths (`"4k"` -> 9_000_000).
    pub factors: BTreeMap<String, u64>,
    /// The `factors` entry used when the body has no `factor_field`; `None` makes a
    /// missing field an error.
    pub factor_default: Option<String>,
}

impl ComputeFormula {
    /// The compute units `body` costs, or a message for the client saying which field is
    /// missing or which value has no factor.
    pub fn units(&self, body: &Value) -> Result<u64, String> {
        let amount = match body.get(&self.field) {
            None | Some(Value::Null) => {
                return Err(format!("field '{}' is required", self.field));
            }
            Some(Value::Number(n)) => n,
            Some(other) => {
                return Err(format!(
                    "field '{}' must be a non-negative number, found {other}",
                    self.field
                ));
            }
        };
        let factor = self.factor(body)?;
        if let Some(int) = amount.as_u64() {
            let scaled = u128::from(int) * u128::from(factor);
            let units = scaled.div_ceil(u128::from(FACTOR_SCALE));
            return Ok(u64::try_from(units).unwrap_or(u64::MAX));
        }
        match amount.as_f64() {
            Some(x) if x.is_finite() && x >= 0.0 => {
                let units = (x * factor as f64 / FACTOR_SCALE as f64).ceil();
                // `as` saturates for floats beyond u64, the cost a limit should see.
                Ok(units as u64)
            }
            _ => Err(format!(
                "field '{}' must be a non-negative number, found {amount}",
                self.field
            )),
        }
    }

    fn factor(&self, body: &Value) -> Result<u64, String> {
        let Some(factor_field) = &self.factor_field else {
            return Ok(FACTOR_SCALE);
        };
        let key = match body.get(factor_field) {
            Some(Value::String(s)) => s.clone(),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
            None | Some(Value::Null) => match &self.factor_default {
                Some(default) => default.clone(),
                None => return Err(format!("field '{factor_field}' is required")),
            },
            Some(other) => {
                return Err(format!(
                    "field '{factor_field}' must be one of {}, found {other}",
                    self.expected()
                ));
            }
        };
        self.factors.get(&key).copied().ok_or_else(|| {
            format!(
                "field '{factor_field}': unknown value '{key}' (expected one of {})",
                self.expected()
            )
        })
    }

    fn expected(&self) -> String {
        self.factors.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn video() -> ComputeFormula {
        ComputeFormula {
            field: "duration_seconds".into(),
            factor_field: Some("resolution".into()),
            factors: [
                ("720p".to_owned(), FACTOR_SCALE),
                ("1080p".to_owned(), 2_250_000),
                ("4k".to_owned(), 9 * FACTOR_SCALE),
            ]
            .into(),
            factor_default: None,
        }
    }

    #[test]
    fn seconds_times_resolution_factor_rounded_up() {
        let f = video();
        assert_eq!(
            f.units(&json!({"duration_seconds": 5, "resolution": "720p"})),
            Ok(5)
        );
        assert_eq!(
            f.units(&json!({"duration_seconds": 30, "resolution": "4k"})),
            Ok(270)
        );
        assert_eq!(
            f.units(&json!({"duration_seconds": 5, "resolution": "1080p"})),
            Ok(12)
        );
        assert_eq!(
            f.units(&json!({"duration_seconds": 2.5, "resolution": "720p"})),
            Ok(3)
        );
    }

    #[test]
    fn missing_fields_and_unknown_factors_are_explained() {
        let f = video();
        let e = f.units(&json!({"resolution": "720p"})).unwrap_err();
        assert_eq!(e, "field 'duration_seconds' is required");
        let e = f.units(&json!({"duration_seconds": 5})).unwrap_err();
        assert_eq!(e, "field 'resolution' is required");
        let e = f
            .units(&json!({"duration_seconds": 5, "resolution": "8k"}))
            .unwrap_err();
        assert!(
            e.contains("unknown value '8k'") && e.contains("1080p, 4k, 720p"),
            "{e}"
        );
        let e = f
            .units(&json!({"duration_seconds": -5, "resolution": "4k"}))
            .unwrap_err();
        assert!(e.contains("non-negative"), "{e}");
        let e = f
            .units(&json!({"duration_seconds": "5", "resolution": "4k"}))
            .unwrap_err();
        assert!(e.contains("non-negative"), "{e}");
    }

    #[test]
    fn default_factor_and_no_factor() {
        let mut f = video();
        f.factor_default = Some("720p".into());
        assert_eq!(f.units(&json!({"duration_seconds": 7})), Ok(7));
        f.factor_field = None;
        assert_eq!(
            f.units(&json!({"duration_seconds": 7, "resolution": "4k"})),
            Ok(7)
        );
    }
}
