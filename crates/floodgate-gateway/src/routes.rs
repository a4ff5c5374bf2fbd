//! Route matching: method plus a path pattern of literal segments, `*` for exactly one
//! segment, and a trailing `*` for one or more remaining segments (`/api/v1/prompt/*`).
//!
//! Patterns are split once when a configuration is installed, so matching a request is a
//! walk over its path segments with no allocation.

use crate::target::FixedModel;
use axum::http::Method;
use floodgate_config::{Config, Route};

/// One segment of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Must equal this text.
    Literal(Box<str>),
    /// Any one segment.
    Any,
}

/// A route's pattern, split into segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathPattern {
    /// Segments before any trailing wildcard.
    segments: Vec<Segment>,
    /// Whether a trailing `*` takes the rest of the path (one segment or more).
    rest: bool,
    /// For a pattern of literal segments only, the one path of its length that matches:
    /// `/` and the segments joined by `/`.
    exact: Option<Box<str>>,
}

impl PathPattern {
    /// Compiles a pattern such as `/api/v1/prompt/*`.
    pub(crate) fn new(pattern: &str) -> Self {
        let mut segments: Vec<Segment> = segments(pattern)
            .map(|s| match s {
                "*" => Segment::Any,
                literal => Segment::Literal(literal.into()),
            })
            .collect();
        let rest = matches!(segments.last(), Some(Segment::Any));
        if rest {
            segments.pop();
        }
        let exact = (!rest)
            .then(|| {
                segments
                    .iter()
                    .try_fold(String::new(), |mut exact, s| match s {
                        Segment::Literal(text) => {
                            exact.push('/');
                            exact.push_str(text);
                            Some(exact)
                        }
                        Segment::Any => None,
                    })
            })
            .flatten()
            .map(|exact| {
                if exact.is_empty() {
                    "/".into()
                } else {
                    exact.into()
                }
            });
        Self {
            segments,
            rest,
            exact,
        }
    }

    /// Whether `path` matches.
    pub(crate) fn matches(&self, path: &str) -> bool {
        // A path as long as the literal pattern's own text, starting with `/`, has the
        // same segments only if it is that text: comparing bytes settles it.
        if let Some(exact) = &self.exact {
            if path.len() == exact.len() && path.starts_with('/') {
                return path == &**exact;
            }
        }
        self.walk(path)
    }

    /// Whether `path` matches, segment by segment.
    fn walk(&self, path: &str) -> bool {
        let mut parts = segments(path);
        for segment in &self.segments {
            match (segment, parts.next()) {
                (_, None) => return false,
                (Segment::Any, Some(_)) => {}
                (Segment::Literal(want), Some(got)) if **want == *got => {}
                (Segment::Literal(_), Some(_)) => return false,
            }
        }
        if self.rest {
            parts.next().is_some()
        } else {
            parts.next().is_none()
        }
    }
}

/// Non-empty segments, so `/a//b/` reads as `/a/b`.
fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// A configured route, ready to match.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRoute {
    /// The method to match, `None` for any.
    method: Option<Method>,
    /// The path to match.
    pattern: PathPattern,
    /// The route as configured (model source, cost field, upload limit).
    pub(crate) route: Route,
    /// Its fixed model as `config` knows it, if it has one.
    pub(crate) fixed: Option<FixedModel>,
}

impl CompiledRoute {
    /// Compiles a route of `config`; a method that is not a valid token matches nothing
    /// rather than everything.
    pub(crate) fn new(route: &Route, config: &Config) -> Self {
        let method = route.method.as_deref().map(|m| {
            Method::from_bytes(m.to_ascii_uppercase().as_bytes()).unwrap_or(Method::CONNECT)
        });
        Self {
            method,
            pattern: PathPattern::new(&route.path),
            route: route.clone(),
            fixed: FixedModel::new(config, route),
        }
    }
}

/// The first route of `routes` (in configuration order) matching `method` and `path`.
pub(crate) fn find<'r>(
    routes: &'r [CompiledRoute],
    method: &Method,
    path: &str,
) -> Option<&'r CompiledRoute> {
    routes
        .iter()
        .find(|r| r.method.as_ref().is_none_or(|m| m == method) && r.pattern.matches(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use floodgate_config::ModelSource;

    fn route(method: Option<&str>, path: &str) -> CompiledRoute {
        let route = Route {
            method: method.map(Into::into),
            path: path.into(),
            model: ModelSource::Fixed("m".into()),
            images_field: None,
            max_upload_bytes: None,
            max_media_duration: None,
            job: None,
            line: 1,
        };
        let config = Config::from_str("", std::path::Path::new("test.toml")).unwrap();
        CompiledRoute::new(&route, &config)
    }

    #[test]
    fn literal_one_segment_and_rest_wildcards() {
        let p = PathPattern::new("/api/v1/txt2img");
        assert!(p.matches("/api/v1/txt2img"));
        assert!(p.matches("/api/v1/txt2img/"));
        assert!(!p.matches("/api/v1/txt2img/x"));
        assert!(!p.matches("/api/v1"));

        let rest = PathPattern::new("/api/v1/prompt/*");
        assert!(rest.matches("/api/v1/prompt/enhance"));
        assert!(rest.matches("/api/v1/prompt/a/b"));
        assert!(!rest.matches("/api/v1/prompt"));

        let mid = PathPattern::new("/api/*/videos/*/status");
        assert!(!mid.rest);
        let mid = PathPattern::new("/api/*/status");
        assert!(mid.matches("/api/v1/status"));
        assert!(!mid.matches("/api/v1/x/status"));
    }

    #[test]
    fn the_byte_comparison_agrees_with_the_segment_walk() {
        let paths = [
            "/api/v1/txt2img",
            "/api/v1/txt2imx",
            "/api/v1/txt2img/",
            "//api/v1/txt2img",
            "/api//v1/txt2im",
            "/api/v1txt2img/",
            "api/v1/txt2img/",
            "/",
            "//",
            "",
            "/a",
        ];
        for pattern in ["/api/v1/txt2img", "/", "/a", "/api/*/txt2img"] {
            let p = PathPattern::new(pattern);
            assert_eq!(p.exact.is_some(), !pattern.contains('*'), "{pattern}");
            for path in paths {
                assert_eq!(p.matches(path), p.walk(path), "{pattern} vs {path}");
            }
        }
    }

    #[test]
    fn method_and_order_decide() {
        let routes = [route(Some("post"), "/a/*"), route(None, "/a/b")];
        let post = find(&routes, &Method::POST, "/a/b").unwrap();
        assert_eq!(post.route.method.as_deref(), Some("post"));
        let get = find(&routes, &Method::GET, "/a/b").unwrap();
        assert_eq!(get.route.method, None);
        assert!(find(&routes, &Method::GET, "/b").is_none());
    }
}
