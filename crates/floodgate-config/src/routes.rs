//! `[[routes]]` -> [`Route`]s: method and path pattern checks, the model a route names,
//! upload limits; and [`Route::matches`], the pattern semantics the gateway relies on.

use crate::error::Diagnostics;
use crate::quantity;
use crate::raw::RawRoute;
use crate::resolved::{ModelSource, Route};
use serde_spanned::Spanned;
use std::collections::{BTreeSet, HashMap};

/// The routes in file order, each checked against the defined models.
pub(crate) fn routes(
    diags: &mut Diagnostics<'_>,
    raw: &[Spanned<RawRoute>],
    models: &BTreeSet<&str>,
) -> Vec<Route> {
    let mut out = Vec::with_capacity(raw.len());
    let mut seen: HashMap<(Option<String>, String), usize> = HashMap::new();
    for (i, spanned) in raw.iter().enumerate() {
        let here = format!("routes[{i}]");
        let route = spanned.get_ref();
        let before = diags.len();
        let method = route.method.as_ref().map(|m| {
            let upper = m.get_ref().to_ascii_uppercase();
            if upper.is_empty() || !upper.bytes().all(|b| b.is_ascii_uppercase()) {
                diags.at(
                    &m.span(),
                    format!(
                        "{here}.method: expected an HTTP method such as \"POST\", found \"{}\"",
                        m.get_ref()
                    ),
                );
            }
            upper
        });
        let path = route.path.get_ref();
        if let Err(e) = check_pattern(path) {
            diags.at(
                &route.path.span(),
                format!("{here}.path: {e}, found \"{path}\""),
            );
        }
        let model = match (&route.model, &route.model_field) {
            (Some(m), None) => {
                if !models.contains(m.get_ref().as_str()) {
                    diags.at(
                        &m.span(),
                        format!("{here}.model: model '{}' is not defined", m.get_ref()),
                    );
                }
                Some(ModelSource::Fixed(m.get_ref().as_str().into()))
            }
            (None, Some(f)) if f.get_ref().trim().is_empty() => {
                diags.at(&f.span(), format!("{here}.model_field: must not be empty"));
                None
            }
            (None, Some(f)) => Some(ModelSource::BodyField(f.get_ref().clone())),
            (Some(_), Some(f)) => {
                diags.at(
                    &f.span(),
                    format!("{here}: give either model (a fixed model) or model_field (a body field naming it), not both"),
                );
                None
            }
            (None, None) => {
                diags.at(
                    &spanned.span(),
                    format!("{here}: needs model (a fixed model) or model_field (a body field naming it)"),
                );
                None
            }
        };
        let max_upload_bytes = route.max_upload.as_ref().and_then(|m| {
            quantity::size(m.get_ref())
                .map_err(|e| diags.at(&m.span(), format!("{here}.max_upload: {e}")))
                .ok()
        });
        let max_media_duration = route.max_media_duration.as_ref().and_then(|m| {
            quantity::duration(m.get_ref())
                .map_err(|e| diags.at(&m.span(), format!("{here}.max_media_duration: {e}")))
                .ok()
        });
        let job = route
            .job
            .as_ref()
            .and_then(|j| crate::jobs::job(diags, &format!("{here}.job"), j));
        let line = diags.line(spanned.span().start);
        let key = (method.clone(), path.clone());
        if let Some(first) = seen.get(&key) {
            diags.at(
                &route.path.span(),
                format!("{here}: same method and path as routes[{first}], so it would never match"),
            );
        } else {
            seen.insert(key, i);
        }
        let Some(model) = model.filter(|_| diags.len() == before) else {
            continue;
        };
        out.push(Route {
            method,
            path: path.clone(),
            model,
            images_field: route.images_field.clone(),
            max_upload_bytes,
            max_media_duration,
            job,
            line,
        });
    }
    out
}

fn check_pattern(path: &str) -> Result<(), &'static str> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err("a path pattern starts with '/'");
    };
    if rest.is_empty() {
        return Ok(());
    }
    for segment in rest.split('/') {
        if segment.is_empty() {
            return Err("a path pattern has no empty segments");
        }
        if segment != "*" && segment.contains('*') {
            return Err("'*' stands for a whole segment, never part of one");
        }
    }
    Ok(())
}

impl Route {
    /// Whether a request matches this route. `path` is the request path without its
    /// query. A `*` segment matches exactly one segment; a trailing `*` matches one or
    /// more (`/api/v1/prompt/*` matches `/api/v1/prompt/enhance`, not `/api/v1/prompt`).
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if let Some(m) = &self.method {
            if !m.eq_ignore_ascii_case(method) {
                return false;
            }
        }
        // Empty segments are ignored on the request side, so `/api//v1/x` reads as `/api/v1/x`.
        let mut actual = path.split('/').filter(|s| !s.is_empty());
        let mut pattern = self.path.split('/').filter(|s| !s.is_empty()).peekable();
        while let Some(p) = pattern.next() {
            let Some(a) = actual.next() else {
                return false;
            };
            if p == "*" && pattern.peek().is_none() {
                return true;
            }
            if p != "*" && p != a {
                return false;
            }
        }
        actual.next().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Option<&str>, path: &str) -> Route {
        Route {
            method: method.map(str::to_owned),
            path: path.to_owned(),
            model: ModelSource::Fixed("m".into()),
            images_field: None,
            max_upload_bytes: None,
            max_media_duration: None,
            job: None,
            line: 1,
        }
    }

    #[test]
    fn literal_and_wildcard_segments() {
        let r = route(Some("POST"), "/api/v1/txt2img");
        assert!(r.matches("POST", "/api/v1/txt2img"));
        assert!(r.matches("post", "/api/v1/txt2img"));
        assert!(!r.matches("GET", "/api/v1/txt2img"));
        assert!(!r.matches("POST", "/api/v1/txt2img/x"));
        assert!(!r.matches("POST", "/api/v1/txt2im"));
        assert!(r.matches("POST", "/api//v1/txt2img/"));

        let rest = route(None, "/api/v1/prompt/*");
        assert!(rest.matches("POST", "/api/v1/prompt/enhance"));
        assert!(rest.matches("GET", "/api/v1/prompt/a/b"));
        assert!(!rest.matches("POST", "/api/v1/prompt"));
        assert!(!rest.matches("POST", "/api/v1/prompt/"));

        let one = route(None, "/v1/*/status");
        assert!(one.matches("GET", "/v1/abc/status"));
        assert!(!one.matches("GET", "/v1/a/b/status"));
    }

    #[test]
    fn patterns_are_checked() {
        assert!(check_pattern("/api/v1/prompt/*").is_ok());
        assert!(check_pattern("/").is_ok());
        assert!(check_pattern("api/v1").is_err());
        assert!(check_pattern("/api//v1").is_err());
        assert!(check_pattern("/api/v1/pro*").is_err());
    }
}
