use super::*;
use serde_json::json;

fn parse(v: serde_json::Value) -> Result<Option<Vector>> {
    Vector::from_json(&v)
}

fn check(v: serde_json::Value, t: VectorType, node_count: u32) -> Result<()> {
    let v = parse(v)?;
    Vector::validate(v.as_ref(), t, node_count)
}

fn field_of(e: Error) -> String {
    match e {
        Error::InvalidInput { field, .. } => field,
        other => panic!("expected invalid input, got {other}"),
    }
}

#[test]
fn boxes() {
    let t = VectorType::BoundingBox;
    assert!(check(json!({"x1": 0, "y1": 0, "x2": 10, "y2": 5}), t, 0).is_ok());
    assert!(
        check(
            json!({"x1": 0, "y1": 0, "x2": 10, "y2": 5}),
            VectorType::FixedSizeBoundingBox,
            1
        )
        .is_ok()
    );
    assert_eq!(
        field_of(check(json!({"x1": 10, "y1": 0, "x2": 10, "y2": 5}), t, 0).unwrap_err()),
        "vector.x2"
    );
    assert_eq!(
        field_of(check(json!({"x1": 0, "y1": 9, "x2": 10, "y2": 5}), t, 0).unwrap_err()),
        "vector.y2"
    );
    assert_eq!(
        field_of(check(json!({"x1": 0, "y1": 0}), t, 0).unwrap_err()),
        "vector"
    );
    assert_eq!(
        field_of(check(json!({"x1": 0, "y1": 0, "x2": 1}), t, 0).unwrap_err()),
        "vector.y2"
    );
}

#[test]
fn points_are_boxes_and_may_be_degenerate() {
    let t = VectorType::Point;
    assert!(check(json!({"x1": 5, "y1": 5, "x2": 5, "y2": 5}), t, 0).is_ok());
    assert!(check(json!({"x1": 0, "y1": 0, "x2": 50, "y2": 50}), t, 0).is_ok());
    assert!(check(json!({"x1": 6, "y1": 5, "x2": 5, "y2": 5}), t, 0).is_err());
}

#[test]
fn lines_and_multilines() {
    assert!(
        check(
            json!({"x1": 0, "y1": 0, "x2": 0, "y2": 0}),
            VectorType::Line,
            0
        )
        .is_ok()
    );
    assert!(
        check(
            json!({"x1": 0, "y1": 0, "x2": 1, "y2": 1, "x3": 2, "y3": 2}),
            VectorType::Line,
            0
        )
        .is_err()
    );
    assert!(
        check(
            json!({"x1": 0, "y1": 0, "x2": 1, "y2": 1}),
            VectorType::MultiLine,
            0
        )
        .is_ok()
    );
    assert!(check(json!({"x1": 0, "y1": 0}), VectorType::MultiLine, 0).is_err());
    assert!(
        check(
            json!({"x1": 0, "y1": 0, "x2": 1, "y2": 1}),
            VectorType::MultiLine,
            3
        )
        .is_err()
    );
}

#[test]
fn polygons() {
    let t = VectorType::Polygon;
    let tri = json!({"x1": 0, "y1": 0, "x2": 10, "y2": 0, "x3": 0, "y3": 10});
    assert!(check(tri.clone(), t, 0).is_ok());
    assert!(check(tri.clone(), t, 3).is_ok());
    let e = check(tri, t, 4).unwrap_err();
    assert!(e.to_string().contains("node_count"), "{e}");
    assert!(check(json!({"x1": 0, "y1": 0, "x2": 1, "y2": 1}), t, 0).is_err());
    // Gaps in the numbering are named.
    let e = check(
        json!({"x1": 0, "y1": 0, "x2": 1, "y2": 1, "x4": 2, "y4": 2}),
        t,
        0,
    )
    .unwrap_err();
    assert_eq!(field_of(e), "vector.x3");
}

#[test]
fn globals_and_not_in_image() {
    assert!(check(json!(null), VectorType::Global, 0).is_ok());
    assert!(check(json!({"frame": 3}), VectorType::Global, 0).is_ok());
    assert!(check(json!({"x1": 1, "y1": 1}), VectorType::Global, 0).is_err());
    assert_eq!(
        field_of(check(json!({"frame": 0}), VectorType::Global, 0).unwrap_err()),
        "vector.frame"
    );
    // null on a drawn type means "not in image".
    assert!(check(json!(null), VectorType::Polygon, 5).is_ok());
}

#[test]
fn bad_values_are_named() {
    assert_eq!(
        field_of(parse(json!({"x1": "a", "y1": 0})).unwrap_err()),
        "vector.x1"
    );
    assert_eq!(field_of(parse(json!({"z1": 0})).unwrap_err()), "vector.z1");
    assert_eq!(
        field_of(parse(json!({"x01": 0, "y01": 0})).unwrap_err()),
        "vector.x01"
    );
    assert_eq!(field_of(parse(json!([1, 2])).unwrap_err()), "vector");
    let huge = Vector::rect(0.0, 0.0, 1.0e12, 1.0);
    assert_eq!(
        field_of(Vector::validate(Some(&huge), VectorType::BoundingBox, 0).unwrap_err()),
        "vector.x2"
    );
    let nan = Vector::rect(f64::NAN, 0.0, 1.0, 1.0);
    assert_eq!(
        field_of(Vector::validate(Some(&nan), VectorType::BoundingBox, 0).unwrap_err()),
        "vector.x1"
    );
}

#[test]
fn json_round_trip_keeps_integers_and_fractions() {
    let src = json!({"x1": 10, "y1": 20.5, "x2": 30, "y2": 40, "frame": 2});
    let v = parse(src.clone()).unwrap().unwrap();
    assert_eq!(v.to_json(), src);
    assert_eq!(
        serde_json::to_string(&v).unwrap(),
        r#"{"x1":10,"y1":20.5,"x2":30,"y2":40,"frame":2}"#
    );
    // Legacy string numbers are coerced.
    let v = parse(json!({"x1": "3", "y1": "4"})).unwrap().unwrap();
    assert_eq!(v.points, vec![Point::new(3.0, 4.0)]);
}
