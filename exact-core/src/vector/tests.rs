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

#[test]
fn polygons_must_be_simple_and_have_area() {
    let t = VectorType::Polygon;
    // A bow-tie: the edges 1→2 and 3→4 cross.
    let e = check(
        json!({"x1": 0, "y1": 0, "x2": 10, "y2": 10, "x3": 10, "y3": 0, "x4": 0, "y4": 10}),
        t,
        0,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("edge x1,y1→x2,y2 crosses edge x3,y3→x4,y4"),
        "{e}"
    );
    assert_eq!(field_of(e), "vector");
    // Touching itself at a node is a crossing too (a figure eight).
    let eight = json!({"x1": 0, "y1": 0, "x2": 10, "y2": 0, "x3": 5, "y3": 5, "x4": 10, "y4": 10, "x5": 0, "y5": 10, "x6": 5, "y6": 5});
    assert!(
        check(eight, t, 0)
            .unwrap_err()
            .to_string()
            .contains("must not intersect itself")
    );
    // All nodes on one line, or fewer than three distinct nodes: no area.
    let flat = check(
        json!({"x1": 0, "y1": 0, "x2": 5, "y2": 5, "x3": 10, "y3": 10}),
        t,
        0,
    )
    .unwrap_err();
    assert!(flat.to_string().contains("enclose no area"), "{flat}");
    assert!(
        check(
            json!({"x1": 1, "y1": 1, "x2": 1, "y2": 1, "x3": 1, "y3": 1}),
            t,
            0
        )
        .is_err()
    );
    // A spike that goes out and straight back.
    let spike = json!({"x1": 0, "y1": 0, "x2": 10, "y2": 0, "x3": 10, "y3": 10, "x4": 10, "y4": 20, "x5": 10, "y5": 5, "x6": 0, "y6": 10});
    assert!(
        check(spike, t, 0)
            .unwrap_err()
            .to_string()
            .contains("turns back")
    );
    // Repeated nodes and a closing node equal to the first are fine; so is a concave outline.
    let closed = json!({"x1": 0, "y1": 0, "x2": 10, "y2": 0, "x3": 10, "y3": 0, "x4": 10, "y4": 10, "x5": 0, "y5": 0});
    assert!(check(closed, t, 0).is_ok());
    let concave = json!({"x1": 0, "y1": 0, "x2": 10, "y2": 0, "x3": 5, "y3": 3, "x4": 10, "y4": 10, "x5": 0, "y5": 10});
    assert!(check(concave, t, 0).is_ok());
    // A freehand circle of 20,000 nodes passes; moved across the circle, its last node crosses.
    let n = 20_000;
    let mut ring = serde_json::Map::new();
    for i in 0..n {
        let a = i as f64 / n as f64 * std::f64::consts::TAU;
        ring.insert(format!("x{}", i + 1), json!(5000.0 + 4000.0 * a.cos()));
        ring.insert(format!("y{}", i + 1), json!(5000.0 + 4000.0 * a.sin()));
    }
    assert!(check(serde_json::Value::Object(ring.clone()), t, 0).is_ok());
    ring.insert(format!("x{n}"), json!(500.0));
    ring.insert(format!("y{n}"), json!(5000.0));
    let e = check(serde_json::Value::Object(ring), t, 0).unwrap_err();
    assert!(e.to_string().contains("crosses"), "{e}");
    // Multi-lines may cross themselves (a scribbled path is still a path).
    let zig = json!({"x1": 0, "y1": 0, "x2": 10, "y2": 10, "x3": 10, "y3": 0, "x4": 0, "y4": 10});
    assert!(check(zig, VectorType::MultiLine, 0).is_ok());
}
