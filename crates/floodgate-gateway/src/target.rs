//! What a request is for: its model, its image count and its compute units, read from the
//! route or from the body (JSON, or `multipart/form-data`). The body is buffered only when
//! one of them must be read from it, and then no further than the cap `read_cap` sets;
//! otherwise it streams untouched. A body that was read goes upstream as the same bytes.

use crate::body::{self, BodyError, Cutoff, UpstreamBody};
use crate::error::GatewayError;
use crate::json::{self, Field, Found, Wanted};
use crate::media::{MediaCheck, Verdict};
use crate::multipart;
use axum::body::Body;
use axum::http::{header, HeaderMap};
use bytes::Bytes;
use floodgate_config::{ComputeFormula, Config, ModelSource, Route};
use floodgate_core::policy::ModelSpec;
use http_body_util::{BodyExt, LengthLimitError, Limited};

/// A request's model and cost inputs, and the body to forward.
#[derive(Debug)]
pub(crate) struct Target<'c> {
    /// The model, as the configuration knows it.
    pub(crate) model: &'c ModelSpec,
    /// Images requested (1 unless the body says otherwise).
    pub(crate) images: u64,
    /// Compute units, from the model's formula (0 for models without one).
    pub(crate) compute: u64,
    /// Length of the request body, if known (read, or from Content-Length).
    pub(crate) body_len: Option<u64>,
    /// Completion tokens the body asks for, if it was read and says.
    pub(crate) max_tokens: Option<u64>,
    /// The body to send upstream.
    pub(crate) body: UpstreamBody,
    /// Raised if a streamed body breaks the route's upload or duration limit.
    pub(crate) cutoff: Option<Cutoff>,
}

/// Whether the body declares itself JSON.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim();
            mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")
        })
}

fn model_spec<'c>(config: &'c Config, name: &str) -> Result<&'c ModelSpec, GatewayError> {
    config
        .policy
        .models
        .get(name)
        .ok_or_else(|| GatewayError::UnknownModel(name.to_owned()))
}

/// The image field of a request to `model` on `route`: the route's, else the model's.
fn images_field<'c>(config: &'c Config, route: &'c Route, model: &str) -> Option<&'c str> {
    route
        .images_field
        .as_deref()
        .or_else(|| config.models.get(model)?.images_field.as_deref())
}

fn compute_formula<'c>(config: &'c Config, model: &str) -> Option<&'c ComputeFormula> {
    config.models.get(model)?.compute.as_ref()
}

fn image_count(field: &str, found: Option<Field<u64>>) -> Result<u64, GatewayError> {
    match found {
        None => Ok(1),
        Some(Field::Value(n)) => Ok(n.max(1)),
        Some(Field::WrongType) => Err(GatewayError::BadField(format!(
            "field '{field}' must be a non-negative integer"
        ))),
    }
}

/// A body the gateway read, in the format it came in.
enum Read {
    /// JSON bytes (or bytes claiming nothing, tried as JSON).
    Json(Bytes),
    /// A `multipart/form-data` body's fields.
    Form(multipart::Form),
}

impl Read {
    fn scan(&self, wanted: Wanted<'_>) -> Result<Found, GatewayError> {
        match self {
            Read::Json(bytes) => {
                json::scan(bytes, wanted).map_err(|e| GatewayError::BadJson(e.to_string()))
            }
            Read::Form(form) => Ok(form.found(wanted)?),
        }
    }

    /// The body as the JSON value a compute formula reads.
    fn value(&self, formula: &ComputeFormula) -> Result<serde_json::Value, GatewayError> {
        match self {
            Read::Json(bytes) => {
                serde_json::from_slice(bytes).map_err(|e| GatewayError::BadJson(e.to_string()))
            }
            Read::Form(form) => {
                let names: Vec<&str> = std::iter::once(formula.field.as_str())
                    .chain(formula.factor_field.as_deref())
                    .collect();
                Ok(form.object(&names)?)
            }
        }
    }
}

/// How much of a streamed upload is read before the request is decided on, for its media
/// check: the containers that state a duration up front state it well within this.
const READ_AHEAD: u64 = 64 * 1024;

/// The answer to a body that stopped while it was read ahead.
fn body_error(e: BodyError, limit: floodgate_core::Nanos) -> GatewayError {
    match e {
        BodyError::TooLarge(limit) => GatewayError::PayloadTooLarge {
            limit,
            what: " for uploads to this endpoint",
        },
        BodyError::TooLong(seconds) => GatewayError::MediaTooLong {
            millis: body::millis(seconds),
            limit,
        },
        BodyError::Client(e) => {
            GatewayError::BadField(format!("the request body could not be read: {e}"))
        }
    }
}

/// The most of a body the gateway buffers to read it, and what the 413 says the limit is
/// for. A JSON body is held to `server.max_json_body` (and the route's `max_upload` if
/// smaller); a multipart body carries files, so the route's `max_upload` is its limit,
/// and `server.max_json_body` only for routes without one.
fn read_cap(config: &Config, route: &Route, multipart: bool) -> (u64, &'static str) {
    const UPLOAD: &str = " for uploads to this endpoint";
    let json = config.server.max_json_body_bytes;
    match (route.max_upload_bytes, multipart) {
        (Some(max), true) => (max, UPLOAD),
        (None, true) => (json, " for a multipart body on a route without max_upload"),
        (Some(max), false) if max <= json => (max, UPLOAD),
        (_, false) => (json, " for a JSON body"),
    }
}

/// What a route with a fixed model needs to know of it, looked up once when a
/// configuration is installed rather than on every request.
#[derive(Debug, Clone)]
pub(crate) struct FixedModel {
    /// The model.
    spec: ModelSpec,
    /// The field holding the image count: the route's, else the model's.
    images_field: Option<Box<str>>,
    /// Whether the model has a compute formula (read from the body).
    compute: bool,
}

impl FixedModel {
    /// `route`'s fixed model in `config`; `None` for a model read from the body, or one
    /// `config` does not know (a request then gets the error it always got).
    pub(crate) fn new(config: &Config, route: &Route) -> Option<Self> {
        let ModelSource::Fixed(name) = &route.model else {
            return None;
        };
        let spec = model_spec(config, name).ok()?;
        Some(Self {
            images_field: images_field(config, route, &spec.name).map(Into::into),
            compute: compute_formula(config, &spec.name).is_some(),
            spec: spec.clone(),
        })
    }
}

/// Works out the target of a request on `route`, whose fixed model, if it has one, is
/// `prepared`. `content_length` has already been
/// checked against the route's upload limit.
pub(crate) async fn extract<'c>(
    config: &'c Config,
    route: &'c Route,
    prepared: Option<&'c FixedModel>,
    headers: &HeaderMap,
    content_length: Option<u64>,
    body: Body,
) -> Result<Target<'c>, GatewayError> {
    let (fixed, fixed_images, fixed_compute, model_field) = match (&route.model, prepared) {
        (ModelSource::Fixed(_), Some(p)) => {
            (Some(&p.spec), p.images_field.as_deref(), p.compute, None)
        }
        (ModelSource::Fixed(name), None) => {
            let model = model_spec(config, name)?;
            let images = images_field(config, route, &model.name);
            let compute = compute_formula(config, &model.name).is_some();
            (Some(model), images, compute, None)
        }
        (ModelSource::BodyField(field), _) => (None, None, false, Some(field.as_str())),
    };
    let needs_body = model_field.is_some() || fixed_compute;
    // A route that reads nothing from the body does not look at its type either: the
    // common fixed-model request streams through without a header lookup more.
    let boundary = if needs_body || fixed_images.is_some() || route.max_media_duration.is_some() {
        multipart::boundary(headers).transpose()?
    } else {
        None
    };
    let must_read =
        needs_body || (fixed_images.is_some() && (boundary.is_some() || is_json(headers)));
    if !must_read {
        let (body, cutoff) = match route.max_media_duration {
            None => UpstreamBody::stream(body, route.max_upload_bytes),
            Some(limit) => {
                let check = MediaCheck::new(limit, boundary.as_deref(), content_length);
                let (mut body, cutoff) =
                    UpstreamBody::inspected(body, route.max_upload_bytes, check);
                body.read_ahead(READ_AHEAD)
                    .await
                    .map_err(|e| body_error(e, limit))?;
                (body, Some(cutoff))
            }
        };
        return Ok(Target {
            model: fixed.ok_or_else(|| GatewayError::Misconfigured("route has no model".into()))?,
            images: 1,
            compute: 0,
            body_len: content_length,
            max_tokens: None,
            body,
            cutoff,
        });
    }

    let (cap, what) = read_cap(config, route, boundary.is_some());
    let too_large = GatewayError::PayloadTooLarge { limit: cap, what };
    if content_length.is_some_and(|len| len > cap) {
        return Err(too_large);
    }
    let limit = usize::try_from(cap).unwrap_or(usize::MAX);
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => return Err(too_large),
        Err(_) => {
            return Err(GatewayError::BadJson(
                "the request body could not be read".into(),
            ))
        }
    };
    if let Some(limit) = route.max_media_duration {
        let mut check = MediaCheck::new(limit, boundary.as_deref(), Some(bytes.len() as u64));
        check.feed(&bytes);
        if let Verdict::TooLong(seconds) = check.finish() {
            return Err(GatewayError::MediaTooLong {
                millis: body::millis(seconds),
                limit,
            });
        }
    }
    let read = match &boundary {
        Some(boundary) => Read::Form(multipart::read(bytes.clone(), boundary).await?),
        None => Read::Json(bytes.clone()),
    };

    let wanted = Wanted {
        model: model_field,
        images: fixed_images.or(route.images_field.as_deref()),
        max_tokens: true,
    };
    let found = read.scan(wanted)?;
    let (model, images) = match (fixed, model_field) {
        (Some(model), _) => (model, found.images),
        (None, Some(field)) => {
            let model = match found.model {
                Some(Field::Value(name)) => model_spec(config, &name)?,
                Some(Field::WrongType) => {
                    return Err(GatewayError::BadField(format!(
                        "field '{field}' must be a string naming a model"
                    )))
                }
                None => {
                    return Err(GatewayError::BadField(format!(
                        "field '{field}' is required"
                    )))
                }
            };
            let images = match (wanted.images, images_field(config, route, &model.name)) {
                (Some(_), _) | (None, None) => found.images,
                // The model's own image field was unknown until the model was: read again.
                (None, Some(field)) => {
                    let again = Wanted {
                        model: None,
                        images: Some(field),
                        max_tokens: false,
                    };
                    read.scan(again)?.images
                }
            };
            (model, images)
        }
        (None, None) => return Err(GatewayError::Misconfigured("route has no model".into())),
    };
    let field = images_field(config, route, &model.name).unwrap_or("n");
    let compute = match compute_formula(config, &model.name) {
        None => 0,
        // Only models with a formula pay for a full parse; the scan above proved the
        // body is a JSON object or a form.
        Some(formula) => formula
            .units(&read.value(formula)?)
            .map_err(GatewayError::BadField)?,
    };
    Ok(Target {
        model,
        images: image_count(field, images)?,
        compute,
        body_len: Some(bytes.len() as u64),
        max_tokens: found.max_tokens,
        body: UpstreamBody::full(bytes),
        cutoff: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn json_content_types() {
        let mut h = HeaderMap::new();
        assert!(!is_json(&h));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(is_json(&h));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.api+json"),
        );
        assert!(is_json(&h));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("multipart/form-data; boundary=x"),
        );
        assert!(!is_json(&h));
    }

    #[test]
    fn image_counts() {
        assert_eq!(image_count("n", None), Ok(1));
        assert_eq!(image_count("n", Some(Field::Value(4))), Ok(4));
        assert_eq!(image_count("n", Some(Field::Value(0))), Ok(1));
        assert!(image_count("n", Some(Field::WrongType)).is_err());
    }
}
