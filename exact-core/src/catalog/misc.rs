//! The smaller resources hanging off sets, images and annotations: verifications, set tags,
//! the open/close log, screening progress, media files and export formats.

use super::{Catalog, Tx, check_name};
use crate::ids::{
    AnnotationId, AnnotationTypeId, ExportFormatId, ImageId, ImageSetId, LogImageActionId,
    MediaFileId, ScreeningModeId, SetTagId, TeamId, UserId, VerificationId,
};
use crate::keys::Key;
use crate::model::{
    AnnotationMediaFile, ExportFormat, LogAction, LogImageAction, MediaFileType, ScreeningMode,
    SetTag, User, Verification,
};
use crate::permissions::Actor;
use crate::store::Index;
use crate::{Error, Result};

/// Verification use cases.
pub struct Verifications<'a>(pub(crate) &'a Catalog);

impl Verifications<'_> {
    /// Gives (or changes) the actor's verdict on an annotation: one per user and annotation.
    /// A positive verdict earns the annotation's creator a point, as in EXACT.
    pub fn verify(
        &self,
        actor: &Actor,
        annotation: AnnotationId,
        verified: bool,
    ) -> Result<Verification> {
        let c = self.0;
        let a = c.annotations().get(actor, annotation)?;
        let (_, _, rights) = c.readable_image(actor, a.image)?;
        if !rights.verify {
            return Err(Error::denied(format!("no rights to verify {annotation}")));
        }
        for attempt in 0..super::RETRIES {
            // The annotation's guard before the annotation (see `verified`).
            let guards = c.verdict_guards(a.image, Some(&[annotation.0]))?;
            let a = c.annotations().get(actor, annotation)?;
            let now = c.now();
            let key = Key::new().u64(annotation.0).u64(actor.user.0).build();
            let existing = c
                .by_index::<Verification>(Index::VerificationPair, &key)?
                .into_iter()
                .next();
            let before = existing.as_ref().map(|v| v.verified);
            let mut tx = Tx::default();
            let v = match existing {
                Some(old) => {
                    let new = Verification {
                        verified,
                        time: now,
                        ..old.clone()
                    };
                    tx.replace(&old, &new, Vec::new());
                    new
                }
                None => tx.insert(
                    c,
                    Verification {
                        id: VerificationId(0),
                        annotation,
                        user: actor.user,
                        time: now,
                        verified,
                    },
                )?,
            };
            let delta = i64::from(verified) - i64::from(before == Some(true));
            if let (Some(creator), true) = (a.user, delta != 0)
                && let Some(old) = c.find::<User>(creator.0)?
            {
                let new = User {
                    points: old.points + delta,
                    ..old.clone()
                };
                tx.replace(&old, &new, Vec::new());
            }
            c.stage_verdicts(&mut tx.batch, a.image, &guards, &[(&a, delta)], attempt)?;
            match tx.commit(c) {
                // An annotation write or another verdict got there first: again.
                Err(e) if e.kind() == crate::ErrorKind::Conflict => continue,
                Err(e) => return Err(e),
                Ok(()) => return Ok(v),
            }
        }
        Err(Error::Conflict {
            what: format!("verifications of {annotation}"),
        })
    }

    /// The verdicts on an annotation the actor may see.
    pub fn of_annotation(
        &self,
        actor: &Actor,
        annotation: AnnotationId,
    ) -> Result<Vec<Verification>> {
        self.0.annotations().get(actor, annotation)?;
        self.0.by_index(
            Index::VerificationByAnnotation,
            &Key::new().u64(annotation.0).build(),
        )
    }

    /// A verification the actor may see.
    pub fn get(&self, actor: &Actor, id: VerificationId) -> Result<Verification> {
        let v: Verification = self.0.load(id.0)?;
        self.0
            .annotations()
            .get(actor, v.annotation)
            .map_err(|_| Error::not_found(id))?;
        Ok(v)
    }
}

/// Set tag use cases.
pub struct SetTags<'a>(pub(crate) &'a Catalog);

impl SetTags<'_> {
    /// Tags a set the actor may edit with `name`, creating the tag if needed.
    pub fn tag(&self, actor: &Actor, set: ImageSetId, name: &str) -> Result<SetTag> {
        check_name("name", name, 1, 100)?;
        let (_, rights) = self.0.readable_set(actor, set)?;
        if !rights.edit_set {
            return Err(Error::denied(format!("no rights to tag {set}")));
        }
        let existing = self
            .0
            .by_index::<SetTag>(Index::TagName, &Key::new().str(name).build())?
            .into_iter()
            .next();
        match existing {
            Some(t) => self.0.modify::<SetTag>(t.id.0, |old| {
                let mut t = old.clone();
                if !t.imagesets.contains(&set) {
                    t.imagesets.push(set);
                }
                Ok((t, Vec::new()))
            }),
            None => self.0.insert(SetTag {
                id: SetTagId(0),
                name: name.to_owned(),
                imagesets: vec![set],
            }),
        }
    }

    /// Removes a tag from a set the actor may edit.
    pub fn untag(&self, actor: &Actor, set: ImageSetId, tag: SetTagId) -> Result<SetTag> {
        let (_, rights) = self.0.readable_set(actor, set)?;
        if !rights.edit_set {
            return Err(Error::denied(format!("no rights to untag {set}")));
        }
        self.0.modify::<SetTag>(tag.0, |old| {
            let mut t = old.clone();
            t.imagesets.retain(|s| *s != set);
            Ok((t, Vec::new()))
        })
    }

    /// Every tag, with only the sets the actor may read listed.
    pub fn list(&self, actor: &Actor) -> Result<Vec<SetTag>> {
        let mut tags = self.0.all::<SetTag>()?;
        for t in &mut tags {
            t.imagesets
                .retain(|s| self.0.readable_set(actor, *s).is_ok());
        }
        Ok(tags)
    }
}

/// Image open/close log use cases.
pub struct LogImageActions<'a>(pub(crate) &'a Catalog);

impl LogImageActions<'_> {
    /// Records that the actor opened or closed an image they may read.
    pub fn log(
        &self,
        actor: &Actor,
        image: ImageId,
        action: LogAction,
        ip: &str,
    ) -> Result<LogImageAction> {
        self.0.readable_image(actor, image)?;
        self.0.insert(LogImageAction {
            id: LogImageActionId(0),
            image,
            user: actor.user,
            time: self.0.now(),
            action,
            ip: ip.chars().take(64).collect(),
        })
    }

    /// The log of an image the actor may read.
    pub fn of_image(&self, actor: &Actor, image: ImageId) -> Result<Vec<LogImageAction>> {
        self.0.readable_image(actor, image)?;
        self.0
            .by_index(Index::LogByImage, &Key::new().u64(image.0).build())
    }
}

/// Screening mode use cases.
pub struct ScreeningModes<'a>(pub(crate) &'a Catalog);

impl ScreeningModes<'_> {
    /// The actor's screening progress on an image, created with the given grid if absent.
    pub fn open(
        &self,
        actor: &Actor,
        image: ImageId,
        x_resolution: u32,
        y_resolution: u32,
    ) -> Result<ScreeningMode> {
        let (img, _, _) = self.0.readable_image(actor, image)?;
        let key = Key::new().u64(image.0).u64(actor.user.0).build();
        if let Some(m) = self
            .0
            .by_index::<ScreeningMode>(Index::ScreeningPair, &key)?
            .into_iter()
            .next()
        {
            return Ok(m);
        }
        if x_resolution == 0 || y_resolution == 0 {
            return Err(Error::invalid(
                "x_resolution",
                "tile sizes must be at least 1 pixel",
            ));
        }
        let steps =
            |side: u64, res: u32| u32::try_from(side.div_ceil(u64::from(res))).unwrap_or(u32::MAX);
        self.0.insert(ScreeningMode {
            id: ScreeningModeId(0),
            image,
            user: actor.user,
            screening_tiles: serde_json::json!({}),
            x_steps: steps(img.width, x_resolution),
            y_steps: steps(img.height, y_resolution),
            x_resolution,
            y_resolution,
            current_index: 0,
        })
    }

    /// Moves the actor to tile `index`, marking it screened, and stores the viewer's tile map.
    pub fn advance(
        &self,
        actor: &Actor,
        id: ScreeningModeId,
        index: u32,
        tiles: Option<serde_json::Value>,
    ) -> Result<ScreeningMode> {
        let m: ScreeningMode = self.0.load(id.0)?;
        if m.user != actor.user && !actor.superuser {
            return Err(Error::not_found(id));
        }
        if u64::from(index) >= u64::from(m.x_steps) * u64::from(m.y_steps) {
            return Err(Error::invalid(
                "current_index",
                format!("{index} is beyond the {}×{} grid", m.x_steps, m.y_steps),
            ));
        }
        self.0.modify::<ScreeningMode>(id.0, |old| {
            let mut m = old.clone();
            if let Some(t) = &tiles {
                m.screening_tiles = t.clone();
            }
            if let Some(map) = m.screening_tiles.as_object_mut() {
                let entry = map
                    .entry(index.to_string())
                    .or_insert_with(|| serde_json::json!({}));
                if let Some(o) = entry.as_object_mut() {
                    o.insert("Screened".into(), serde_json::Value::Bool(true));
                }
            }
            m.current_index = index;
            Ok((m, Vec::new()))
        })
    }
}

/// Media file use cases (records; the bytes live in the blob store under `file`).
pub struct MediaFiles<'a>(pub(crate) &'a Catalog);

impl MediaFiles<'_> {
    /// Attaches a stored file to an annotation the actor may edit.
    pub fn attach(
        &self,
        actor: &Actor,
        annotation: AnnotationId,
        name: &str,
        kind: MediaFileType,
        file: &str,
    ) -> Result<AnnotationMediaFile> {
        check_name("name", name, 1, 255)?;
        let a = self.0.annotations().get(actor, annotation)?;
        let (_, set, rights) = self.0.readable_image(actor, a.image)?;
        if !actor.may_edit(&set, &rights, &a) {
            return Err(Error::denied(format!(
                "no rights to attach files to {annotation}"
            )));
        }
        self.0.insert(AnnotationMediaFile {
            id: MediaFileId(0),
            name: name.to_owned(),
            media_file_type: kind,
            file: file.to_owned(),
            annotation,
        })
    }

    /// Every media file on an annotation the actor may see, by id.
    pub fn list(&self, actor: &Actor) -> Result<Vec<AnnotationMediaFile>> {
        let mut out = Vec::new();
        for m in self.0.all::<AnnotationMediaFile>()? {
            if self.0.annotations().get(actor, m.annotation).is_ok() {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// A media file on an annotation the actor may see.
    pub fn get(&self, actor: &Actor, id: MediaFileId) -> Result<AnnotationMediaFile> {
        let m: AnnotationMediaFile = self.0.load(id.0)?;
        self.0
            .annotations()
            .get(actor, m.annotation)
            .map_err(|_| Error::not_found(id))?;
        Ok(m)
    }

    /// The files of an annotation the actor may see.
    pub fn of_annotation(
        &self,
        actor: &Actor,
        annotation: AnnotationId,
    ) -> Result<Vec<AnnotationMediaFile>> {
        self.0.annotations().get(actor, annotation)?;
        self.0
            .by_index(Index::MediaFileName, &Key::new().u64(annotation.0).build())
    }
}

/// An export format to create (EXACT.md §6 describes the template language).
#[derive(Debug, Clone, Default)]
#[allow(missing_docs)] // fields mirror `ExportFormat`
pub struct NewExportFormat {
    pub name: String,
    pub team: Option<TeamId>,
    pub public: bool,
    pub annotations_types: Vec<AnnotationTypeId>,
    pub base_format: String,
    pub image_format: Option<String>,
    pub annotation_format: String,
    pub vector_format: String,
    pub not_in_image_format: String,
    pub name_format: String,
    pub min_verifications: u32,
    pub image_aggregation: bool,
    pub include_blurred: bool,
    pub include_concealed: bool,
}

/// Export format use cases.
pub struct ExportFormats<'a>(pub(crate) &'a Catalog);

impl ExportFormats<'_> {
    pub(crate) fn catalog(&self) -> &Catalog {
        self.0
    }
}

impl ExportFormats<'_> {
    /// Creates a format in one of the actor's teams.
    pub fn create(&self, actor: &Actor, new: NewExportFormat) -> Result<ExportFormat> {
        let f = self.checked(actor, ExportFormatId(0), new)?;
        let mut tx = Tx::default();
        let f = tx.insert(self.0, f)?;
        tx.commit(self.0)?;
        Ok(f)
    }

    /// Formats of the actor's teams and public ones, by id.
    pub fn list(&self, actor: &Actor) -> Result<Vec<ExportFormat>> {
        Ok(self
            .0
            .all::<ExportFormat>()?
            .into_iter()
            .filter(|f| !f.deleted && (f.public || actor.member_of(Some(f.team))))
            .collect())
    }

    /// A format the actor may use.
    pub fn get(&self, actor: &Actor, id: ExportFormatId) -> Result<ExportFormat> {
        let f: ExportFormat = self.0.load(id.0)?;
        if !f.deleted && (f.public || actor.member_of(Some(f.team))) {
            Ok(f)
        } else {
            Err(Error::not_found(id))
        }
    }

    /// The creator of an annotation, for export placeholders; `None` if unknown.
    pub fn user_name(&self, user: Option<UserId>) -> Result<Option<String>> {
        Ok(match user {
            Some(u) => self.0.find::<User>(u.0)?.map(|u| u.username),
            None => None,
        })
    }
}
