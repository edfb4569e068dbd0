//! Image registrations (EXACT's `images/registration/` resource): homographies between two
//! images of one team, stored with their error and runtime, inverted on request, and applied
//! to any annotation vector (`convert_coodinates`, EXACT's spelling). Degenerate or singular
//! matrices and pairs across teams are refused before anything is written.

use super::{Catalog, Tx};
use crate::error::Error;
use crate::ids::{ImageId, RegistrationId};
use crate::keys::Key;
use crate::model::{Homography, ImageRegistration};
use crate::permissions::Actor;
use crate::record::Record;
use crate::store::{Index, Kind, Term};
use crate::vector::{Point, Vector};
use crate::{ErrorKind, Result};

impl Record for ImageRegistration {
    const KIND: Kind = Kind::ImageRegistration;
    const LABEL: &'static str = "image registration";
    fn id(&self) -> u64 {
        self.id.0
    }
    fn set_id(&mut self, id: u64) {
        self.id.0 = id;
    }
    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
    fn decode(id: u64, bytes: &[u8], what: &str) -> Result<Self> {
        let mut r: Self = serde_json::from_slice(bytes)
            .map_err(|e| Error::corrupt(what, format!("image registration {id}: {e}")))?;
        r.id.0 = id;
        Ok(r)
    }
    fn terms(&self) -> Vec<Term> {
        vec![Term {
            index: Index::RegistrationPair,
            key: Key::new()
                .u64(self.source_image.0)
                .u64(self.target_image.0)
                .build(),
            value: Vec::new(),
        }]
    }
    fn describe(&self, _index: Index) -> String {
        format!(
            "a registration of {} onto {}",
            self.source_image, self.target_image
        )
    }
}

/// A registration to store.
#[derive(Debug, Clone)]
pub struct NewRegistration {
    /// Source image.
    pub source_image: ImageId,
    /// Target image.
    pub target_image: ImageId,
    /// Source → target.
    pub transformation_matrix: Homography,
    /// The estimate's error (-1 = unknown).
    pub registration_error: f64,
    /// Seconds the estimate took (-1 = unknown).
    pub runtime: f64,
}

/// `v` to 12 significant digits. Records are compared by their JSON bytes on update, and
/// serde_json (without `float_roundtrip`) parses a long float back to a neighbouring value,
/// so a full-precision estimate could never be replaced ("changed concurrently"); numbers of
/// at most 15 digits read back exactly. 12 digits are far below a pixel's precision.
fn tidy(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    format!("{v:.11e}").parse().unwrap_or(v)
}

fn tidy_matrix(h: Homography) -> Homography {
    Homography(h.0.map(tidy))
}

/// Checks a matrix: finite entries, invertible.
fn check_matrix(h: &Homography) -> Result<()> {
    if let Some(i) = h.0.iter().position(|v| !v.is_finite()) {
        return Err(Error::invalid(
            "transformation_matrix",
            format!("{} is not a finite number", Homography::key(i / 3, i % 3)),
        ));
    }
    if h.inverse().is_none() {
        return Err(Error::invalid(
            "transformation_matrix",
            format!(
                "the matrix is degenerate (determinant {:e}): it maps the plane onto a line or a point and cannot be inverted",
                h.det()
            ),
        ));
    }
    Ok(())
}

/// Registration use cases.
pub struct Registrations<'a>(pub(crate) &'a Catalog);

impl Registrations<'_> {
    /// Fails unless both images are readable, in sets of one team, and the actor may edit
    /// the source's set.
    fn check_pair(&self, actor: &Actor, source: ImageId, target: ImageId) -> Result<()> {
        let c = self.0;
        if source == target {
            return Err(Error::invalid(
                "target_image",
                "an image is not registered onto itself",
            ));
        }
        let (_, sset, rights) = c
            .readable_image(actor, source)
            .map_err(|e| field(e, "source_image"))?;
        let (_, tset, _) = c
            .readable_image(actor, target)
            .map_err(|e| field(e, "target_image"))?;
        if sset.team != tset.team {
            return Err(Error::invalid(
                "target_image",
                format!("{source} and {target} belong to different teams"),
            ));
        }
        if !rights.edit_set {
            return Err(Error::denied(format!(
                "no rights to register images of {}",
                sset.id
            )));
        }
        Ok(())
    }

    /// Stores a registration (one per ordered pair: `AlreadyExists` for a second).
    pub fn create(&self, actor: &Actor, new: NewRegistration) -> Result<ImageRegistration> {
        check_matrix(&new.transformation_matrix)?;
        for (f, v) in [
            ("registration_error", new.registration_error),
            ("runtime", new.runtime),
        ] {
            if !v.is_finite() {
                return Err(Error::invalid(f, "must be a finite number"));
            }
        }
        self.check_pair(actor, new.source_image, new.target_image)?;
        self.0.insert(ImageRegistration {
            id: RegistrationId(0),
            source_image: new.source_image,
            target_image: new.target_image,
            transformation_matrix: tidy_matrix(new.transformation_matrix),
            registration_error: tidy(new.registration_error),
            runtime: tidy(new.runtime),
            creator: Some(actor.user),
            time: self.0.now(),
        })
    }

    /// A registration both of whose images the actor may read.
    pub fn get(&self, actor: &Actor, id: RegistrationId) -> Result<ImageRegistration> {
        let r: ImageRegistration = self.0.load(id.0)?;
        for i in [r.source_image, r.target_image] {
            self.0
                .readable_image(actor, i)
                .map_err(|_| Error::not_found(id))?;
        }
        Ok(r)
    }

    /// Every registration the actor may read, by id.
    pub fn list(&self, actor: &Actor) -> Result<Vec<ImageRegistration>> {
        let mut all: Vec<ImageRegistration> = self.0.all()?;
        all.retain(|r| {
            self.0.readable_image(actor, r.source_image).is_ok()
                && self.0.readable_image(actor, r.target_image).is_ok()
        });
        Ok(all)
    }

    /// Replaces a registration's matrix, error or runtime (rights as for creating).
    pub fn update(
        &self,
        actor: &Actor,
        id: RegistrationId,
        matrix: Option<Homography>,
        registration_error: Option<f64>,
        runtime: Option<f64>,
    ) -> Result<ImageRegistration> {
        let r = self.get(actor, id)?;
        if let Some(m) = &matrix {
            check_matrix(m)?;
        }
        for (f, v) in [
            ("registration_error", registration_error),
            ("runtime", runtime),
        ] {
            if v.is_some_and(|v| !v.is_finite()) {
                return Err(Error::invalid(f, "must be a finite number"));
            }
        }
        self.check_pair(actor, r.source_image, r.target_image)?;
        let now = self.0.now();
        self.0.modify::<ImageRegistration>(id.0, |old| {
            let mut n = old.clone();
            n.transformation_matrix = matrix.map_or(n.transformation_matrix, tidy_matrix);
            n.registration_error = registration_error.map_or(n.registration_error, tidy);
            n.runtime = runtime.map_or(n.runtime, tidy);
            n.time = now;
            Ok((n, Vec::new()))
        })
    }

    /// Deletes a registration (rights as for creating).
    pub fn delete(&self, actor: &Actor, id: RegistrationId) -> Result<()> {
        let r = self.get(actor, id)?;
        self.check_pair(actor, r.source_image, r.target_image)?;
        let mut tx = Tx::default();
        tx.remove(&r);
        tx.commit(self.0)
    }

    /// Checks that the actor may have `source` registered onto `target` automatically (EXACT's
    /// `register_images`): both readable (`NotFound` otherwise: the source is the addressed
    /// resource), of one team (`PermissionDenied` otherwise), the source's set editable. Call
    /// before the (long) estimate; [`Registrations::store_estimate`] checks again when storing.
    pub fn check_estimate(&self, actor: &Actor, source: ImageId, target: ImageId) -> Result<()> {
        let (_, sset, _) = self.0.readable_image(actor, source)?;
        let (_, tset, _) = self.0.readable_image(actor, target)?;
        if source != target && sset.team != tset.team {
            return Err(Error::denied(format!(
                "{source} and {target} belong to different teams: images are only registered within one team"
            )));
        }
        self.check_pair(actor, source, target)
    }

    /// Stores an automatic estimate: the pair's registration is created, or its matrix,
    /// error and runtime replaced if the pair has one (`true` when created). With
    /// `inverse`, the target → source registration is stored (or replaced) too. The matrix is
    /// checked first (finite, invertible): a degenerate estimate stores nothing.
    pub fn store_estimate(
        &self,
        actor: &Actor,
        new: NewRegistration,
        inverse: bool,
    ) -> Result<(ImageRegistration, bool)> {
        check_matrix(&new.transformation_matrix)?;
        self.check_pair(actor, new.source_image, new.target_image)?;
        if inverse {
            self.check_pair(actor, new.target_image, new.source_image)?;
        }
        let existing = self.pair(new.source_image, new.target_image)?;
        let (made, created) = match existing {
            Some(e) => (
                self.update(
                    actor,
                    e.id,
                    Some(new.transformation_matrix),
                    Some(new.registration_error),
                    Some(new.runtime),
                )?,
                false,
            ),
            None => (self.create(actor, new)?, true),
        };
        if inverse {
            self.create_inverse(actor, made.id)?;
        }
        Ok((made, created))
    }

    /// The registration of the ordered pair, if any.
    fn pair(&self, source: ImageId, target: ImageId) -> Result<Option<ImageRegistration>> {
        Ok(self
            .0
            .by_index::<ImageRegistration>(
                Index::RegistrationPair,
                &Key::new().u64(source.0).u64(target.0).build(),
            )?
            .into_iter()
            .next())
    }

    /// The registration of the target onto the source (EXACT's
    /// `create_inverse_registration`): created, or its matrix replaced if it exists.
    pub fn create_inverse(&self, actor: &Actor, id: RegistrationId) -> Result<ImageRegistration> {
        let r = self.get(actor, id)?;
        let inv = r.transformation_matrix.inverse().ok_or_else(|| {
            Error::invalid(
                "transformation_matrix",
                "the stored matrix is not invertible",
            )
        })?;
        let existing: Option<ImageRegistration> = self
            .0
            .by_index::<ImageRegistration>(
                Index::RegistrationPair,
                &Key::new()
                    .u64(r.target_image.0)
                    .u64(r.source_image.0)
                    .build(),
            )?
            .into_iter()
            .next();
        match existing {
            Some(e) => self.update(
                actor,
                e.id,
                Some(inv),
                Some(r.registration_error),
                Some(r.runtime),
            ),
            None => self.create(
                actor,
                NewRegistration {
                    source_image: r.target_image,
                    target_image: r.source_image,
                    transformation_matrix: inv,
                    registration_error: r.registration_error,
                    runtime: r.runtime,
                },
            ),
        }
    }

    /// `vector` (source coordinates) mapped onto the target image. Keys other than the
    /// nodes (`frame`) are kept.
    pub fn convert(&self, actor: &Actor, id: RegistrationId, vector: &Vector) -> Result<Vector> {
        let r = self.get(actor, id)?;
        let h = r.transformation_matrix;
        let mut points = Vec::with_capacity(vector.points.len());
        for (i, p) in vector.points.iter().enumerate() {
            let (x, y) = h.apply(p.x, p.y).ok_or_else(|| {
                Error::invalid(
                    "vector",
                    format!(
                        "node {} ({}, {}) maps to infinity under {id}",
                        i + 1,
                        p.x,
                        p.y
                    ),
                )
            })?;
            points.push(Point::new(x, y));
        }
        Ok(Vector {
            points,
            ..vector.clone()
        })
    }
}

fn field(e: Error, name: &str) -> Error {
    if e.kind() == ErrorKind::NotFound {
        Error::invalid(name, e.to_string())
    } else {
        e
    }
}
