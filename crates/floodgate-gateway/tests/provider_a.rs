//! Provider-a end to end: image limits count images (a request for n images costs n),
//! read from the model's `image_num` field; account overrides raise one model's limit.

mod common;

use common::{example, start};

#[tokio::test]
async fn a_request_for_n_images_costs_n() {
    let h = start(example("provider-a")).await;
    // txt2img_v3: 20 images a minute.
    let r = h
        .post(
            "/api/v1/txt2img_v3",
            Some("sk-demo"),
            r#"{"prompt":"x","image_num":8}"#,
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json()["data"].as_array().map(Vec::len),
        Some(8),
        "the mock made 8"
    );
    assert!(
        r.header("ratelimit").contains("\"images-minute\";r=12;"),
        "{}",
        r.header("ratelimit")
    );
    let r = h
        .post(
            "/api/v1/txt2img_v3",
            Some("sk-demo"),
            r#"{"image_num":12}"#,
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    // No field: one image.
    let r = h
        .post("/api/v1/txt2img_v3", Some("sk-demo"), "{}", &[])
        .await;
    assert_eq!(r.status, 429);
    let retry: u64 = r.header("retry-after").parse().unwrap();
    assert_eq!(retry, 3, "one image frees every 3 s");
}

#[tokio::test]
async fn models_without_an_image_field_cost_one_image() {
    let h = start(example("provider-a")).await;
    for _ in 0..10 {
        let r = h
            .post(
                "/api/v1/cleanup",
                Some("sk-demo"),
                r#"{"image_num":5}"#,
                &[],
            )
            .await;
        assert_eq!(r.status, 200);
    }
    let r = h.post("/api/v1/cleanup", Some("sk-demo"), "{}", &[]).await;
    assert_eq!(r.status, 429);
}
