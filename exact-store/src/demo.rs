//! Demo data (EXACT's demo dataset installer, issue 18): `exact demo` loads a small example —
//! a team, a product with three annotation types, an image set holding a real slide (Aperio
//! SVS, 2220 × 2967, embedded in the binary from the repository's test data) and a handful of
//! annotations — so a new installation shows something at once.

use crate::Exact;
use bytes::Bytes;
use exact_core::catalog::{
    NewAnnotation, NewAnnotationType, NewImageSet, NewMessage, NewProduct, NewTeam,
};
use exact_core::model::{Image, ImageSet, Team};
use exact_core::{Actor, Error, Point, Result, Vector, VectorType};

/// The slide the demo loads: CMU-1-Small-Region.svs from OpenSlide's test data.
const SLIDE: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/data/CMU-1-Small-Region.svs"
));

/// Name of the demo team (also how a second load is recognised).
pub const DEMO_TEAM: &str = "Demo team";

/// What [`load`] made.
#[derive(Debug, Clone)]
pub struct Demo {
    /// The team (the acting user is its admin).
    pub team: Team,
    /// The image set.
    pub set: ImageSet,
    /// The slide.
    pub image: Image,
    /// How many annotations were written.
    pub annotations: usize,
}

/// Loads the demo as `actor` (who becomes the demo team's admin). Refused with
/// `AlreadyExists` when the store holds the demo team already. All records are written by the
/// ordinary use cases with their checks.
pub async fn load(exact: &Exact, actor: &Actor) -> Result<Demo> {
    let (e, a) = (exact.clone(), actor.clone());
    let (team, set, actor, types) = crate::files::blocking(move || {
        let team = e.teams().create(&a, NewTeam::new(DEMO_TEAM))?;
        // Roles are loaded per call: the creator is the new team's admin from now on.
        let a = e.actor(a.user)?;
        let mut new = NewImageSet::new("Demo set", team.id);
        new.description =
            "An example slide with a few annotations (loaded by `exact demo`).".into();
        let set = e.image_sets().create(&a, new)?;
        let product = e.products().create(
            &a,
            NewProduct {
                name: "Demo product".into(),
                description: "Cells and regions".into(),
                team: Some(team.id),
                imagesets: vec![set.id],
            },
        )?;
        let mut types = Vec::new();
        for (name, kind, colour, order) in [
            ("Mitotic figure", VectorType::BoundingBox, "#E53935", 0),
            ("Tumor region", VectorType::Polygon, "#43A047", 1),
            ("Lymphocyte", VectorType::Point, "#1E88E5", 2),
        ] {
            let mut t = NewAnnotationType::new(name, kind, product.id);
            t.color_code = colour.into();
            t.sort_order = order;
            if kind == VectorType::Point {
                t.default_width = 24;
                t.default_height = 24;
            }
            types.push(e.annotation_types().create(&a, t)?);
        }
        e.messages().create(
            &a,
            NewMessage::new(
                "Welcome",
                "This team holds demo data: open Demo set and annotate the slide.",
                Some(team.id),
            ),
        )?;
        Ok((team, set, a, types))
    })
    .await?;
    let outcome = exact
        .images()
        .upload(
            &actor,
            set.id,
            "CMU-1-Small-Region.svs",
            futures::stream::iter([Ok(Bytes::from_static(SLIDE))]),
        )
        .await?;
    let image = outcome
        .into_iter()
        .next()
        .ok_or_else(|| Error::invalid("file", "the demo slide registered no image"))?
        .into_image()?;
    let (e, a, id) = (exact.clone(), actor.clone(), image.id);
    let annotations = crate::files::blocking(move || {
        let boxes = [
            (420.0, 610.0),
            (1210.0, 980.0),
            (1733.0, 2210.0),
            (640.0, 2460.0),
        ];
        let mut news: Vec<NewAnnotation> = boxes
            .iter()
            .map(|&(x, y)| {
                NewAnnotation::new(
                    types[0].id,
                    id,
                    Some(Vector::rect(x, y, x + 48.0, y + 44.0)),
                )
            })
            .collect();
        let region = [
            (300.0, 300.0),
            (1500.0, 250.0),
            (1900.0, 1200.0),
            (1100.0, 1700.0),
            (350.0, 1300.0),
        ];
        news.push(NewAnnotation::new(
            types[1].id,
            id,
            Some(Vector::new(
                region.iter().map(|&(x, y)| Point::new(x, y)).collect(),
            )),
        ));
        for &(x, y) in &[(900.0, 400.0), (950.0, 460.0), (1020.0, 420.0)] {
            news.push(NewAnnotation::new(
                types[2].id,
                id,
                Some(Vector::rect(x, y, x + 24.0, y + 24.0)),
            ));
        }
        let made = e.annotations().create_many(&a, news)?;
        Ok(made.len())
    })
    .await?;
    Ok(Demo {
        team,
        set,
        image,
        annotations,
    })
}
