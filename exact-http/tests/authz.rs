//! The authorization matrix: every route × {anonymous, user of another team, member, team
//! admin, superuser} → the expected status, and no byte of the first team's data in any
//! answer to the user of the other team.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use base64::Engine;
use exact_core::Vector;
use exact_core::catalog::{
    NewAnnotation, NewAnnotationType, NewImage, NewImageSet, NewProduct, NewTeam, NewUser,
};
use exact_core::model::{LogAction, MediaFileType, VectorType};
use exact_store::{Exact, ExactConfig};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Every name in the first team's world carries this, so a leak is a substring search.
const SECRET: &str = "alpha-secret";
const ROLES: [&str; 5] = [
    "anonymous",
    "other team",
    "member",
    "team admin",
    "superuser",
];

/// Expected status per role; 0 = not asked (the call would only repeat an earlier one's
/// effect, e.g. a second delete).
type Expect = [u16; 5];

struct Case {
    method: &'static str,
    uri: String,
    body: Option<Value>,
    expect: Expect,
}

fn case(method: &'static str, uri: impl Into<String>, body: Option<Value>, expect: Expect) -> Case {
    Case {
        method,
        uri: uri.into(),
        body,
        expect,
    }
}

fn basic(user: &str) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{user}-password"));
    format!("Basic {b}")
}

fn user(exact: &Exact, name: &str, superuser: bool) -> exact_core::UserId {
    let u = exact
        .users()
        .register(NewUser {
            username: name.into(),
            is_superuser: superuser,
            ..Default::default()
        })
        .unwrap();
    exact
        .trusted_accounts()
        .set_password(u.id, &format!("{name}-password"))
        .unwrap();
    u.id
}

async fn call(app: &Router, auth: Option<&str>, c: &Case) -> (u16, String) {
    let mut req = Request::builder()
        .method(c.method)
        .uri(&c.uri)
        .header(header::HOST, "testserver")
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    let body = c
        .body
        .as_ref()
        .map(|b| Body::from(b.to_string()))
        .unwrap_or_else(Body::empty);
    let res = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn every_route_for_every_role() {
    let exact = Exact::open(ExactConfig::memory()).unwrap();
    let app = exact_http::router(exact.clone());
    let adm = user(&exact, "adm", false);
    let mem = user(&exact, "mem", false);
    let oth = user(&exact, "oth", false);
    let spare = user(&exact, "spare", false);
    let root = user(&exact, "root", true);

    // The first team's world, made through the library.
    let a = exact.actor(adm).unwrap();
    let team = exact
        .teams()
        .create(&a, NewTeam::new(format!("{SECRET}-team")))
        .unwrap();
    let a = exact.actor(adm).unwrap();
    let membership = exact.teams().add_member(&a, team.id, mem, false).unwrap();
    let set = exact
        .image_sets()
        .create(&a, NewImageSet::new(format!("{SECRET} set"), team.id))
        .unwrap();
    let empty = |n: &str| {
        exact
            .image_sets()
            .create(&a, NewImageSet::new(format!("{SECRET} {n}"), team.id))
            .unwrap()
            .id
            .0
    };
    let (empty_member, empty_admin, empty_root) = (empty("e1"), empty("e2"), empty("e3"));
    let product = exact
        .products()
        .create(
            &a,
            NewProduct {
                name: format!("{SECRET} product"),
                team: Some(team.id),
                imagesets: vec![set.id],
                ..Default::default()
            },
        )
        .unwrap();
    let kind = exact
        .annotation_types()
        .create(
            &a,
            NewAnnotationType::new(
                format!("{SECRET} type"),
                VectorType::BoundingBox,
                product.id,
            ),
        )
        .unwrap();
    let image = exact
        .images()
        .add(
            &a,
            NewImage::new(set.id, format!("{SECRET}.svs"), 10_000, 8_000),
        )
        .unwrap();
    let mut new = NewAnnotation::new(kind.id, image.id, Some(Vector::rect(1.0, 1.0, 9.0, 9.0)));
    new.description = format!("{SECRET} note");
    let ann = exact.annotations().create(&a, new).unwrap();
    let verification = exact.verifications().verify(&a, ann.id, true).unwrap();
    let tag = exact
        .set_tags()
        .tag(&a, set.id, &format!("{SECRET}-tag"))
        .unwrap();
    let version = exact
        .versions()
        .create(&a, &format!("{SECRET} v1"), &[set.id])
        .unwrap();
    exact
        .blobs()
        .put("media/authz", bytes_of(SECRET))
        .await
        .unwrap();
    let media = exact
        .media_files()
        .attach(
            &a,
            ann.id,
            &format!("{SECRET}.png"),
            MediaFileType::Image,
            "media/authz",
        )
        .unwrap();
    exact
        .log_image_actions()
        .log(&a, image.id, LogAction::Open, "")
        .unwrap();
    let screening = exact
        .screening_modes()
        .open(&a, image.id, 1024, 1024)
        .unwrap();
    let scratch = |n: &str| {
        exact
            .teams()
            .create(&a, NewTeam::new(format!("{SECRET}{n}")))
            .unwrap()
            .id
            .0
    };
    let (team_admin_del, team_root_del) = (scratch("-d1"), scratch("-d2"));
    // The other team has its own world, so "not found" is not "nothing exists".
    let o = exact.actor(oth).unwrap();
    let other_team = exact.teams().create(&o, NewTeam::new("beta")).unwrap();
    let o = exact.actor(oth).unwrap();
    exact
        .image_sets()
        .create(&o, NewImageSet::new("beta set", other_team.id))
        .unwrap();

    let (t, s, p, k, i, n) = (
        team.id.0,
        set.id.0,
        product.id.0,
        kind.id.0,
        image.id.0,
        ann.id.0,
    );
    let box_ = json!({"x1": 2, "y1": 2, "x2": 8, "y2": 8});
    let list: Expect = [401, 200, 200, 200, 200];
    let read: Expect = [401, 404, 200, 200, 200];
    let v1 = "/api/v1";
    let legacy = "/annotations/api/annotation";
    let cases = vec![
        case("GET", format!("{v1}/"), None, [200; 5]),
        case("GET", format!("{v1}/openapi"), None, [200; 5]),
        case(
            "GET",
            format!("{v1}/auth/me/"),
            None,
            [401, 200, 200, 200, 200],
        ),
        case("GET", "/users/api/tokens/", None, list),
        // users
        case("GET", format!("{v1}/users/users/"), None, list),
        case("GET", format!("{v1}/users/users/{}/", mem.0), None, read),
        case(
            "PATCH",
            format!("{v1}/users/users/{}/", mem.0),
            Some(json!({"email": "m@x"})),
            [401, 404, 200, 403, 200],
        ),
        case(
            "POST",
            format!("{v1}/users/users/"),
            Some(json!({"username": "newbie"})),
            [401, 403, 403, 403, 201],
        ),
        // teams and memberships
        case("GET", format!("{v1}/users/teams/"), None, list),
        case("GET", format!("{v1}/users/teams/{t}/"), None, read),
        case(
            "PATCH",
            format!("{v1}/users/teams/{t}/"),
            Some(json!({"website": "https://a"})),
            [401, 404, 403, 200, 200],
        ),
        case(
            "DELETE",
            format!("{v1}/users/teams/{t}/"),
            None,
            [401, 404, 403, 400, 400],
        ),
        case(
            "DELETE",
            format!("{v1}/users/teams/{team_admin_del}/"),
            None,
            [401, 404, 404, 204, 0],
        ),
        case(
            "DELETE",
            format!("{v1}/users/teams/{team_root_del}/"),
            None,
            [401, 404, 404, 0, 204],
        ),
        case("GET", format!("{v1}/users/team_membership/"), None, list),
        case(
            "GET",
            format!("{v1}/users/team_membership/{}/", membership.id.0),
            None,
            read,
        ),
        case(
            "POST",
            format!("{v1}/users/team_membership/"),
            Some(json!({"team": t, "user": spare.0})),
            [401, 404, 403, 201, 0],
        ),
        case(
            "PATCH",
            format!("{v1}/users/team_membership/{}/", membership.id.0),
            Some(json!({"is_admin": false})),
            [401, 404, 200, 200, 200],
        ),
        // products and annotation types
        case("GET", format!("{v1}/administration/products/"), None, list),
        case(
            "GET",
            format!("{v1}/administration/products/{p}/"),
            None,
            read,
        ),
        case(
            "PATCH",
            format!("{v1}/administration/products/{p}/"),
            Some(json!({"description": "d"})),
            [401, 404, 200, 200, 200],
        ),
        case(
            "POST",
            format!("{v1}/administration/products/"),
            Some(json!({"name": "prod2", "team": t})),
            [401, 404, 201, 409, 409],
        ),
        case(
            "GET",
            format!("{v1}/annotations/annotation_types/"),
            None,
            list,
        ),
        case(
            "GET",
            format!("{v1}/annotations/annotation_types/{k}/"),
            None,
            read,
        ),
        case(
            "PATCH",
            format!("{v1}/annotations/annotation_types/{k}/"),
            Some(json!({"color_code": "#00FF00"})),
            [401, 404, 200, 200, 200],
        ),
        // image sets and images
        case("GET", format!("{v1}/images/image_sets/"), None, list),
        case("GET", format!("{v1}/images/image_sets/{s}/"), None, read),
        case(
            "PATCH",
            format!("{v1}/images/image_sets/{s}/"),
            Some(json!({"description": "d"})),
            [401, 404, 200, 200, 200],
        ),
        case(
            "POST",
            format!("{v1}/images/image_sets/"),
            Some(json!({"name": "set2", "team": t})),
            [401, 404, 201, 409, 409],
        ),
        case(
            "DELETE",
            format!("{v1}/images/image_sets/{s}/"),
            None,
            [401, 404, 403, 400, 400],
        ),
        case(
            "DELETE",
            format!("{v1}/images/image_sets/{empty_member}/"),
            None,
            [401, 404, 403, 0, 0],
        ),
        case(
            "DELETE",
            format!("{v1}/images/image_sets/{empty_admin}/"),
            None,
            [401, 404, 0, 204, 0],
        ),
        case(
            "DELETE",
            format!("{v1}/images/image_sets/{empty_root}/"),
            None,
            [401, 404, 0, 0, 204],
        ),
        case("GET", format!("{v1}/images/images/"), None, list),
        case("GET", format!("{v1}/images/images/{i}/"), None, read),
        case(
            "PATCH",
            format!("{v1}/images/images/{i}/"),
            Some(json!({"mpp": 0.25})),
            [401, 404, 200, 200, 200],
        ),
        // annotations
        case("GET", format!("{v1}/annotations/annotations/"), None, list),
        case(
            "GET",
            format!("{v1}/annotations/annotations/?image={i}"),
            None,
            read,
        ),
        case(
            "GET",
            format!("{v1}/annotations/annotations/{n}/"),
            None,
            read,
        ),
        case(
            "GET",
            format!("{v1}/annotations/annotations/counts/?image={i}"),
            None,
            read,
        ),
        case(
            "POST",
            format!("{v1}/annotations/annotations/"),
            Some(json!({"annotation_type": k, "image": i, "vector": box_})),
            // A foreign image id is refused as invalid input, without saying it exists.
            [401, 400, 201, 201, 201],
        ),
        case(
            "POST",
            format!("{v1}/annotations/annotations/"),
            Some(json!([{"annotation_type": k, "image": i, "vector": box_}])),
            [401, 400, 201, 201, 201],
        ),
        case(
            "PATCH",
            format!("{v1}/annotations/annotations/{n}/"),
            Some(json!({"description": "edited"})),
            [401, 404, 200, 200, 200],
        ),
        case(
            "POST",
            format!("{v1}/annotations/annotations/multiple_update/"),
            Some(json!([{"id": n, "description": "bulk"}])),
            [401, 404, 200, 200, 200],
        ),
        case(
            "GET",
            format!("{v1}/annotations/annotations/{n}/history/"),
            None,
            read,
        ),
        case(
            "POST",
            format!("{v1}/annotations/annotations/{n}/history/0/restore/"),
            None,
            [401, 404, 200, 200, 200],
        ),
        case(
            "POST",
            format!("{v1}/annotations/annotations/multiple_restore/"),
            Some(json!({"ids": [n]})),
            // Not in the trash: not found, for everyone.
            [401, 404, 404, 404, 404],
        ),
        // The slide API: the image has no file, so readers learn that and others nothing.
        case(
            "GET",
            format!("{v1}/images/images/{i}/slide/"),
            None,
            [401, 404, 404, 404, 404],
        ),
        case(
            "GET",
            format!("{v1}/images/images/{i}/slide/region/?x=0&y=0&width=8&height=8"),
            None,
            [401, 404, 404, 404, 404],
        ),
        case(
            "GET",
            format!("{v1}/images/images/{i}/slide/native/0/0/0/"),
            None,
            [401, 404, 404, 404, 404],
        ),
        case(
            "DELETE",
            format!("{v1}/annotations/annotations/multiple_delete/?id__in={n}"),
            None,
            [401, 404, 200, 200, 200],
        ),
        case(
            "DELETE",
            format!("{v1}/annotations/annotations/{n}/"),
            None,
            [401, 404, 204, 204, 204],
        ),
        case(
            "GET",
            format!("{v1}/annotations/verifications/"),
            None,
            list,
        ),
        case(
            "GET",
            format!("{v1}/annotations/verifications/{}/", verification.id.0),
            None,
            read,
        ),
        case(
            "POST",
            format!("{v1}/annotations/verifications/"),
            Some(json!({"annotation": n, "verified": true})),
            [401, 404, 201, 201, 201],
        ),
        case(
            "PATCH",
            format!("{v1}/annotations/verifications/{}/", verification.id.0),
            Some(json!({"verified": false})),
            [401, 404, 403, 200, 403],
        ),
        case(
            "GET",
            format!("{v1}/annotations/annotation_versions/"),
            None,
            list,
        ),
        case(
            "GET",
            format!("{v1}/annotations/annotation_media_files/"),
            None,
            list,
        ),
        case(
            "GET",
            format!("{v1}/annotations/annotation_media_files/{}/", media.id.0),
            None,
            read,
        ),
        case(
            "GET",
            format!(
                "{v1}/annotations/annotation_media_files/{}/file/",
                media.id.0
            ),
            None,
            read,
        ),
        case(
            "GET",
            format!("{v1}/annotations/log_image_actions/"),
            None,
            list,
        ),
        case(
            "POST",
            format!("{v1}/annotations/log_image_actions/"),
            Some(json!({"image": i, "action": 1})),
            [401, 404, 201, 201, 201],
        ),
        case(
            "POST",
            format!("{v1}/images/screening_modes/"),
            Some(json!({"image": i})),
            [401, 404, 201, 201, 201],
        ),
        case(
            "PATCH",
            format!("{v1}/images/screening_modes/{}/", screening.id.0),
            Some(json!({"current_index": 1})),
            [401, 404, 404, 200, 200],
        ),
        // set tags and versions
        case("GET", format!("{v1}/images/set_tags/"), None, list),
        case(
            "GET",
            format!("{v1}/images/set_tags/{}/", tag.id.0),
            None,
            read,
        ),
        case(
            "POST",
            format!("{v1}/images/set_tags/"),
            Some(json!({"name": "t2", "imagesets": [s]})),
            [401, 404, 201, 201, 201],
        ),
        case("GET", format!("{v1}/images/set_versions/"), None, list),
        case(
            "GET",
            format!("{v1}/images/set_versions/{}/", version.id.0),
            None,
            read,
        ),
        case(
            "POST",
            format!("{v1}/images/set_versions/"),
            Some(json!({"name": "v2", "imagesets": [s]})),
            [401, 404, 201, 409, 409],
        ),
        // legacy endpoints
        case("GET", format!("{legacy}/load/?image_id={i}"), None, read),
        case(
            "GET",
            format!("{legacy}/loadone/?annotation_id={n}"),
            None,
            read,
        ),
        case(
            "POST",
            format!("{legacy}/create/"),
            Some(json!({"image_id": i, "annotation_type_id": k, "vector": box_})),
            [401, 400, 201, 201, 201],
        ),
        case(
            "POST",
            format!("{legacy}/update/"),
            Some(
                json!({"annotation_id": n, "image_id": i, "annotation_type_id": k, "vector": box_}),
            ),
            [401, 404, 200, 200, 200],
        ),
        case(
            "POST",
            format!("{legacy}/verify/"),
            Some(json!({"annotation_id": n, "state": "accept"})),
            [401, 404, 200, 200, 200],
        ),
        case(
            "POST",
            format!("{legacy}/blurred_concealed/"),
            Some(json!({"annotation_id": n, "blurred": true, "concealed": false})),
            [401, 404, 200, 200, 200],
        ),
        case(
            "DELETE",
            format!("{legacy}/delete/?annotation_id={n}"),
            None,
            [401, 404, 200, 200, 200],
        ),
    ];

    let auths = [
        None,
        Some(basic("oth")),
        Some(basic("mem")),
        Some(basic("adm")),
        Some(basic("root")),
    ];
    let mut wrong = Vec::new();
    for c in &cases {
        for (role, auth) in auths.iter().enumerate() {
            if c.expect[role] == 0 {
                continue;
            }
            let (status, body) = call(&app, auth.as_deref(), c).await;
            // EXACT's DELETE trashes the annotation: put it back for the next role and case.
            if c.method == "DELETE"
                && c.uri.starts_with("/api/v1/annotations/annotations/")
                && (200..300).contains(&status)
            {
                let id = c
                    .uri
                    .rsplit(|ch: char| !ch.is_ascii_digit())
                    .find(|part| !part.is_empty())
                    .and_then(|d| d.parse().ok())
                    .expect("an annotation id in the uri");
                let root = exact.actor(root).unwrap();
                exact
                    .annotations()
                    .restore_trashed(&root, &[exact_core::AnnotationId(id)])
                    .unwrap();
            }
            if status != c.expect[role] {
                wrong.push(format!(
                    "{} {} as {}: {status}, expected {}: {body}",
                    c.method, c.uri, ROLES[role], c.expect[role]
                ));
            }
            if role == 1 && body.contains(SECRET) {
                wrong.push(format!(
                    "{} {} leaks to the other team: {body}",
                    c.method, c.uri
                ));
            }
            if !body.is_empty() && serde_json::from_str::<Value>(&body).is_err() && status != 200 {
                wrong.push(format!(
                    "{} {} as {}: not JSON: {body}",
                    c.method, c.uri, ROLES[role]
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} mismatches:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

fn bytes_of(s: &str) -> axum::body::Bytes {
    axum::body::Bytes::copy_from_slice(s.as_bytes())
}
