//! Import/export against a real store: round trips for every format, golden files written
//! from the formats' documentation, malformed input naming its place, atomicity, idempotence.

mod golden;
mod malformed;
mod resume;
mod roundtrip;
mod xml;

use exact_core::catalog::{
    AnnotationQuery, NewAnnotation, NewAnnotationType, NewImage, NewImageSet, NewProduct, NewTeam,
    NewUser,
};
use exact_core::model::{Annotation, AnnotationType, VectorType};
use exact_core::{Actor, Clock, ImageId, ImageSetId, ProductId, Timestamp, Vector};
use exact_interop::{ExportOptions, Format, ImportOptions, ImportReport};
use exact_store::{Exact, ExactConfig};
use serde_json::json;
use std::sync::Arc;

struct Fixed;
impl Clock for Fixed {
    fn now(&self) -> Timestamp {
        Timestamp::parse("t", "2026-01-02T03:04:05.000000").unwrap()
    }
}

pub struct World {
    pub exact: Exact,
    pub me: Actor,
    pub team: exact_core::TeamId,
    pub set: ImageSetId,
    pub product: ProductId,
    pub images: Vec<ImageId>,
}

/// A store with user alice, a team, a set with images `slide_a.svs` (10,000²) and
/// `slide_b.tif` (5,000²), and the types box `mitosis`, polygon `tumor`, point `cell`,
/// line `ruler`, multiline `path`, global `quality`.
pub fn world() -> World {
    let exact = Exact::open(ExactConfig::memory())
        .unwrap()
        .with_clock(Arc::new(Fixed));
    let alice = exact.users().register(NewUser::new("alice")).unwrap();
    let me = exact.actor(alice.id).unwrap();
    let team = exact
        .teams()
        .create(&me, NewTeam::new("pathology"))
        .unwrap();
    let me = exact.actor(alice.id).unwrap();
    let set = exact
        .image_sets()
        .create(&me, NewImageSet::new("mitoses", team.id))
        .unwrap();
    let product = exact
        .products()
        .create(
            &me,
            NewProduct {
                name: "cells".into(),
                team: Some(team.id),
                imagesets: vec![set.id],
                ..Default::default()
            },
        )
        .unwrap();
    for (name, vt, colour) in [
        ("mitosis", VectorType::BoundingBox, "#FF0000"),
        ("tumor", VectorType::Polygon, "#00FF00"),
        ("cell", VectorType::Point, "#0000FF"),
        ("ruler", VectorType::Line, "#123456"),
        ("path", VectorType::MultiLine, "#654321"),
        ("quality", VectorType::Global, "#ABCDEF"),
    ] {
        let mut t = NewAnnotationType::new(name, vt, product.id);
        t.color_code = colour.into();
        t.enable_concealed = true;
        exact.annotation_types().create(&me, t).unwrap();
    }
    let a = exact
        .images()
        .add(&me, NewImage::new(set.id, "slide_a.svs", 10_000, 10_000))
        .unwrap();
    let b = exact
        .images()
        .add(&me, NewImage::new(set.id, "slide_b.tif", 5_000, 5_000))
        .unwrap();
    World {
        exact,
        me,
        team: team.id,
        set: set.id,
        product: product.id,
        images: vec![a.id, b.id],
    }
}

impl World {
    pub fn type_named(&self, name: &str) -> AnnotationType {
        self.exact
            .annotation_types()
            .of_set(&self.me, self.set)
            .unwrap()
            .into_iter()
            .find(|t| t.name == name)
            .unwrap()
    }

    /// A second, empty set in the same team with the same product (types) attached.
    pub fn empty_set(&self, name: &str, images: bool) -> ImageSetId {
        let s = self
            .exact
            .image_sets()
            .create(&self.me, NewImageSet::new(name, self.team))
            .unwrap();
        self.exact
            .products()
            .attach(&self.me, self.product, s.id)
            .unwrap();
        if images {
            self.exact
                .images()
                .add(&self.me, NewImage::new(s.id, "slide_a.svs", 10_000, 10_000))
                .unwrap();
            self.exact
                .images()
                .add(&self.me, NewImage::new(s.id, "slide_b.tif", 5_000, 5_000))
                .unwrap();
        }
        s.id
    }

    /// A sample of every vector type with flags, meta_data, frames, sub-pixel nodes.
    pub fn populate(&self) {
        let t = |n: &str| self.type_named(n).id;
        let (a, b) = (self.images[0], self.images[1]);
        let mut news = vec![
            NewAnnotation::new(
                t("mitosis"),
                a,
                Some(Vector::rect(100.0, 200.0, 150.0, 260.0)),
            ),
            NewAnnotation::new(
                t("tumor"),
                a,
                Some(Vector::new(vec![
                    exact_core::Point::new(1000.0, 1000.0),
                    exact_core::Point::new(1500.5, 1000.0),
                    exact_core::Point::new(1200.0, 1800.25),
                ])),
            ),
            NewAnnotation::new(t("cell"), a, Some(Vector::rect(300.0, 300.0, 340.0, 340.0))),
            NewAnnotation::new(t("ruler"), b, Some(Vector::rect(10.0, 10.0, 90.0, 40.0))),
            NewAnnotation::new(
                t("path"),
                b,
                Some(Vector::new(vec![
                    exact_core::Point::new(5.0, 5.0),
                    exact_core::Point::new(50.0, 7.0),
                    exact_core::Point::new(70.0, 90.0),
                ])),
            ),
            NewAnnotation::new(t("quality"), b, None),
            NewAnnotation::new(
                t("mitosis"),
                b,
                Some(Vector::rect(400.0, 400.0, 420.0, 430.0)),
            ),
        ];
        news[0].meta_data = json!({"score": 0.93, "model": "retina"});
        news[1].description = "invasive front, \"quoted\", comma".into();
        news[1].blurred = true;
        news[2].concealed = true;
        news[3].meta_data = json!({"measurements": {"length µm": 21.5}});
        news[6].deleted = true;
        let mut framed = NewAnnotation::new(
            t("mitosis"),
            a,
            Some(Vector {
                frame: Some(2),
                ..Vector::rect(10.0, 10.0, 20.0, 20.0)
            }),
        );
        framed.time = Some(Timestamp::parse("t", "2021-06-15T10:20:30.123456").unwrap());
        news.push(framed);
        for (i, n) in news.iter_mut().enumerate() {
            n.unique_identifier = Some(
                format!("8e7f3c2a-0000-4000-8000-{:012}", i + 1)
                    .parse()
                    .unwrap(),
            );
        }
        self.exact
            .annotations()
            .create_many(&self.me, news)
            .unwrap();
    }

    pub fn export(&self, set: ImageSetId, format: Format) -> Vec<u8> {
        let mut out = Vec::new();
        self.exact
            .interop()
            .export(
                &self.me,
                set,
                format,
                &ExportOptions::default(),
                &mut out,
                &mut |_| {},
            )
            .unwrap();
        out
    }

    pub fn import(
        &self,
        set: ImageSetId,
        bytes: &[u8],
        options: &ImportOptions,
    ) -> exact_core::Result<ImportReport> {
        self.exact
            .interop()
            .import(&self.me, set, &mut &bytes[..], options, &mut |_| {})
    }

    /// Everything that must survive a round trip, sorted, without ids.
    pub fn snapshot(&self, set: ImageSetId) -> Vec<String> {
        let images = self.exact.image_sets().images(&self.me, set).unwrap();
        let types = self.exact.annotation_types().list(&self.me).unwrap();
        let mut out = Vec::new();
        for img in images {
            let mut all: Vec<Annotation> = Vec::new();
            self.exact
                .annotations()
                .query_each(&self.me, img.id, &AnnotationQuery::everything(), |a| {
                    all.push(a)
                })
                .unwrap();
            for a in all {
                let tn = &types
                    .iter()
                    .find(|t| t.id == a.annotation_type)
                    .unwrap()
                    .name;
                out.push(format!(
                    "{}|{}|{}|{}|user={:?}|d={} b={} c={}|{:?}|{}|{}|{}",
                    img.name,
                    tn,
                    serde_json::to_string(&a.vector).unwrap(),
                    a.unique_identifier,
                    a.user,
                    a.deleted,
                    a.blurred,
                    a.concealed,
                    a.description,
                    a.meta_data,
                    a.time,
                    a.last_edit_time
                ));
            }
        }
        out.sort();
        out
    }
}
