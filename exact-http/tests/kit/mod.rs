//! The test kit shared by the HTTP integration tests: an in-memory store behind the router,
//! users with passwords, JSON calls and a small world (team, set, product, box type, image).
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use exact_store::{Exact, ExactConfig};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

pub struct Api {
    pub exact: Exact,
    pub app: Router,
}

pub fn basic(user: &str, password: &str) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {b}")
}

impl Api {
    pub fn new() -> Api {
        let exact = Exact::open(ExactConfig::memory()).unwrap();
        let app = exact_http::router(exact.clone());
        Api { exact, app }
    }

    /// An in-memory API and its raw metadata store (tests that damage or inspect records).
    pub fn with_raw_store() -> (Api, std::sync::Arc<dyn exact_core::store::MetaStore>) {
        let meta: std::sync::Arc<dyn exact_core::store::MetaStore> =
            std::sync::Arc::new(exact_store::meta::memory::open());
        let exact = Exact::open_with_meta(meta.clone(), ExactConfig::memory()).unwrap();
        let app = exact_http::router(exact.clone());
        (Api { exact, app }, meta)
    }

    pub fn user(&self, name: &str, superuser: bool) -> String {
        let u = self
            .exact
            .users()
            .register(exact_core::catalog::NewUser {
                username: name.into(),
                is_superuser: superuser,
                ..Default::default()
            })
            .unwrap();
        let password = format!("{name}-secret");
        self.exact
            .trusted_accounts()
            .set_password(u.id, &password)
            .unwrap();
        basic(name, &password)
    }

    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::HOST, "testserver");
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::empty()),
        }
        .unwrap();
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!(
                    "{method} {uri}: not JSON: {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        (status, v)
    }

    pub async fn ok(&self, method: &str, uri: &str, auth: &str, body: Option<Value>) -> Value {
        let (s, v) = self.call(method, uri, Some(auth), body).await;
        assert!(s.is_success(), "{method} {uri}: {s} {v}");
        v
    }

    /// A team with a product, a box type, a set and an image, owned by `auth`.
    pub async fn world(&self, auth: &str, name: &str) -> (u64, u64, u64, u64) {
        let team = self
            .ok(
                "POST",
                "/api/v1/users/teams/",
                auth,
                Some(json!({"name": name, "image_sets": [], "product_set": []})),
            )
            .await["id"]
            .as_u64()
            .unwrap();
        let set = self
            .ok("POST", "/api/v1/images/image_sets/", auth, Some(json!({"name": format!("{name} set"), "team": team, "images": [], "set_tags": []})))
            .await["id"]
            .as_u64()
            .unwrap();
        let product = self
            .ok("POST", "/api/v1/administration/products/", auth, Some(json!({"name": format!("{name} product"), "team": team, "imagesets": [set], "annotationtype_set": []})))
            .await["id"]
            .as_u64()
            .unwrap();
        let kind = self
            .ok(
                "POST",
                "/api/v1/annotations/annotation_types/",
                auth,
                Some(json!({
                    "name": "mitosis", "vector_type": 1, "product": product, "node_count": 1,
                    "enable_concealed": 1, "closed": 1, "area_hit_test": 1, "color_code": "#FF0000",
                    "default_width": 50, "default_height": 50, "sort_order": 0
                })),
            )
            .await["id"]
            .as_u64()
            .unwrap();
        let image = self
            .ok("POST", "/api/v1/images/images/", auth, Some(json!({"name": format!("{name}.svs"), "image_set": set, "width": 10000, "height": 8000})))
            .await["id"]
            .as_u64()
            .unwrap();
        (team, set, kind, image)
    }
}
