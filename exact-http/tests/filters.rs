//! EXACT's list filters that once were ignored (`vector_type`, `verified_by`,
//! `verified_by__range`, `id__in` on annotations; `verified` on images) select what they
//! say; a known filter with a bad value is a 400 naming it; unknown parameters are ignored as
//! django-filter does; the listing pages in the store (`count` is every match, `results` the
//! window in id order).

mod kit;

use kit::Api;
use serde_json::{Value, json};

fn ids(v: &Value) -> Vec<u64> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn ignored_filters_now_filter_and_bad_values_are_400() {
    let api = Api::new();
    let admin = api.user("admin", true);
    let other = api.user("other", false);
    let (team, set, boxes, image) = api.world(&admin, "lab").await;
    let product = api
        .ok("GET", "/api/v1/administration/products/", &admin, None)
        .await["results"][0]["id"]
        .clone();
    let polygons = api
        .ok(
            "POST",
            "/api/v1/annotations/annotation_types/",
            &admin,
            Some(json!({"name": "gland", "vector_type": 5, "product": product})),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let rows: Vec<Value> = (0..6)
        .map(|i| {
            let x = 100 * i;
            if i % 3 == 0 {
                json!({"annotation_type": polygons, "image": image, "vector":
                    {"x1": x, "y1": 0, "x2": x + 50, "y2": 0, "x3": x + 25, "y3": 40}})
            } else {
                json!({"annotation_type": boxes, "image": image,
                    "vector": {"x1": x, "y1": 0, "x2": x + 50, "y2": 50}})
            }
        })
        .collect();
    let made = api
        .ok(
            "POST",
            "/api/v1/annotations/annotations/",
            &admin,
            Some(Value::Array(rows)),
        )
        .await;
    let all: Vec<u64> = made
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_u64().unwrap())
        .collect();
    let list = |q: &str| format!("/api/v1/annotations/annotations/?image={image}&{q}");

    // vector_type: the annotation type's drawing, by EXACT's code.
    let v = api.ok("GET", &list("vector_type=5"), &admin, None).await;
    assert_eq!(ids(&v), vec![all[0], all[3]]);
    let v = api
        .ok("GET", &list("vector_type__in=1,5"), &admin, None)
        .await;
    assert_eq!(v["count"], 6);

    // verified_by / verified_by__range: annotations someone in the range verified.
    let me = api.ok("GET", "/api/v1/auth/me/", &admin, None).await["id"]
        .as_u64()
        .unwrap();
    for a in [all[1], all[4]] {
        api.ok(
            "POST",
            "/api/v1/annotations/verifications/",
            &admin,
            Some(json!({"annotation": a, "verified": false})),
        )
        .await;
    }
    let v = api
        .ok("GET", &list(&format!("verified_by={me}")), &admin, None)
        .await;
    assert_eq!(ids(&v), vec![all[1], all[4]]);
    let v = api
        .ok(
            "GET",
            &list(&format!("verified_by__range={},{}", me + 1, me + 9)),
            &admin,
            None,
        )
        .await;
    assert_eq!(v["count"], 0);
    let v = api
        .ok(
            "GET",
            &list(&format!("verified_by__range=0,{me}&vector_type=1")),
            &admin,
            None,
        )
        .await;
    assert_eq!(ids(&v), vec![all[1], all[4]]);

    // id__in, combined with paging: count is every match, results the window.
    let v = api
        .ok(
            "GET",
            &list(&format!(
                "id__in={},{},{}&limit=2&offset=1",
                all[0], all[2], all[5]
            )),
            &admin,
            None,
        )
        .await;
    assert_eq!(
        (v["count"].as_u64(), ids(&v)),
        (Some(3), vec![all[2], all[5]])
    );
    assert!(v["next"].is_null() && v["previous"].is_string());
    let v = api.ok("GET", &list("limit=4&offset=4"), &admin, None).await;
    assert_eq!((v["count"].as_u64(), ids(&v)), (Some(6), all[4..].to_vec()));

    // Images: verified=True has a verified live annotation; False has an unverified one.
    let second = api
        .ok(
            "POST",
            "/api/v1/images/images/",
            &admin,
            Some(json!({"name": "b.svs", "image_set": set, "width": 100, "height": 100})),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    api.ok(
        "POST",
        "/api/v1/annotations/annotations/",
        &admin,
        Some(json!({"annotation_type": boxes, "image": second,
            "vector": {"x1": 1, "y1": 1, "x2": 9, "y2": 9}})),
    )
    .await;
    let images = |q: &str| format!("/api/v1/images/images/?omit=annotations&{q}");
    let v = api.ok("GET", &images("verified=True"), &admin, None).await;
    assert_eq!(ids(&v), vec![image]);
    let v = api.ok("GET", &images("verified=false"), &admin, None).await;
    assert_eq!(ids(&v), vec![image, second]);

    // Unknown parameters are ignored; known filters with bad values are a 400 naming them.
    let v = api.ok("GET", &list("colour=blue"), &admin, None).await;
    assert_eq!(v["count"], 6);
    for (q, field) in [
        ("vector_type=9", "vector_type"),
        ("vector_type=blob", "vector_type"),
        ("verified_by__range=3", "verified_by__range"),
        ("verified_by=me", "verified_by"),
        ("id__in=1,x", "id__in"),
        ("deleted=perhaps", "deleted"),
        ("vector_x_min=nan", "vector_x_min"),
        ("limit=-1", "limit"),
    ] {
        let (status, body) = api.call("GET", &list(q), Some(&admin), None).await;
        assert_eq!(status, 400, "{q}: {body}");
        assert!(body.get(field).is_some(), "{q}: {body}");
    }
    let (status, body) = api
        .call("GET", &images("verified=sometimes"), Some(&admin), None)
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.get("verified").is_some(), "{body}");

    // Another team's image stays invisible whatever the filters say.
    let (status, _) = api
        .call("GET", &list("vector_type=1"), Some(&other), None)
        .await;
    assert_eq!(status, 404);
    let _ = team;
}
