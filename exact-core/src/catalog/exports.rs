//! Export formats (EXACT's `ExportFormat`: templates of the export language) and the exports
//! made with them, kept as records with their text (EXACT.md §6).
//!
//! Rights, as in EXACT: any member of a format's team manages it (`manage_export_formats`);
//! a format is usable by its team, or by everyone when public. Whoever may read a set may
//! export it (`create_export`: public sets included); its members may delete its exports
//! (`delete_export`). Deletes keep the record, flagged, and can be undone.

use super::misc::{ExportFormats, NewExportFormat};
use super::{Catalog, Tx, check_name};
use crate::export_template::Templates;
use crate::ids::{ExportFormatId, ExportId, ImageSetId};
use crate::keys::Key;
use crate::model::{Export, ExportFormat, Team};
use crate::permissions::Actor;
use crate::store::Index;
use crate::{Error, Result};

/// Largest export text kept as a record; bigger exports are streamed instead.
pub const MAX_EXPORT_TEXT: usize = 32 << 20;

impl ExportFormats<'_> {
    /// Checks a new or changed format and builds the record (id `id`).
    pub(crate) fn checked(
        &self,
        actor: &Actor,
        id: ExportFormatId,
        new: NewExportFormat,
    ) -> Result<ExportFormat> {
        check_name("name", &new.name, 1, 20)?;
        let team = new
            .team
            .ok_or_else(|| Error::invalid("team", "an export format belongs to a team"))?;
        if !actor.member_of(Some(team)) {
            return Err(Error::invalid(
                "team",
                format!("{team} is not one of your teams"),
            ));
        }
        for t in &new.annotations_types {
            self.catalog()
                .annotation_types()
                .get(actor, *t)
                .map_err(|_| Error::invalid("annotations_types", format!("{t} is unknown")))?;
        }
        let f = ExportFormat {
            id,
            name: new.name,
            last_change_time: self.catalog().now(),
            annotations_types: new.annotations_types,
            team,
            public: new.public,
            base_format: new.base_format,
            image_format: new.image_format,
            annotation_format: new.annotation_format,
            vector_format: new.vector_format,
            not_in_image_format: new.not_in_image_format,
            name_format: new.name_format,
            min_verifications: new.min_verifications,
            image_aggregation: new.image_aggregation,
            include_blurred: new.include_blurred,
            include_concealed: new.include_concealed,
            deleted: false,
        };
        Templates::of(&f)?;
        Ok(f)
    }

    /// A format the actor may change (a member of its team); others' are not found.
    fn managed(&self, actor: &Actor, id: ExportFormatId) -> Result<ExportFormat> {
        let f = self.get(actor, id)?;
        if !actor.member_of(Some(f.team)) {
            return Err(Error::denied(format!(
                "only members of the team of {id} may change it"
            )));
        }
        Ok(f)
    }

    /// Replaces every field of a format of one of the actor's teams.
    pub fn update(
        &self,
        actor: &Actor,
        id: ExportFormatId,
        new: NewExportFormat,
    ) -> Result<ExportFormat> {
        self.managed(actor, id)?;
        let f = self.checked(actor, id, new)?;
        self.catalog().modify::<ExportFormat>(id.0, |old| {
            if old.deleted {
                return Err(Error::not_found(id));
            }
            Ok((f.clone(), Vec::new()))
        })
    }

    /// The fields of a format as a [`NewExportFormat`] (for partial updates).
    pub fn as_new(f: &ExportFormat) -> NewExportFormat {
        NewExportFormat {
            name: f.name.clone(),
            team: Some(f.team),
            public: f.public,
            annotations_types: f.annotations_types.clone(),
            base_format: f.base_format.clone(),
            image_format: f.image_format.clone(),
            annotation_format: f.annotation_format.clone(),
            vector_format: f.vector_format.clone(),
            not_in_image_format: f.not_in_image_format.clone(),
            name_format: f.name_format.clone(),
            min_verifications: f.min_verifications,
            image_aggregation: f.image_aggregation,
            include_blurred: f.include_blurred,
            include_concealed: f.include_concealed,
        }
    }

    /// Deletes a format of one of the actor's teams: hidden, kept restorable.
    pub fn delete(&self, actor: &Actor, id: ExportFormatId) -> Result<ExportFormat> {
        self.managed(actor, id)?;
        self.set_deleted(id, true)
    }

    /// Undoes [`ExportFormats::delete`] (members of the format's team).
    pub fn restore(&self, actor: &Actor, id: ExportFormatId) -> Result<ExportFormat> {
        let f: ExportFormat = self.catalog().load(id.0)?;
        if !f.deleted || !actor.member_of(Some(f.team)) {
            return Err(Error::not_found(id));
        }
        self.set_deleted(id, false)
    }

    fn set_deleted(&self, id: ExportFormatId, deleted: bool) -> Result<ExportFormat> {
        let now = self.catalog().now();
        self.catalog().modify::<ExportFormat>(id.0, |old| {
            Ok((
                ExportFormat {
                    deleted,
                    last_change_time: now,
                    ..old.clone()
                },
                Vec::new(),
            ))
        })
    }

    /// A usable format by its unique name (`exact:<name>` in the CLI and the API).
    pub fn by_name(&self, actor: &Actor, name: &str) -> Result<ExportFormat> {
        let found: Vec<ExportFormat> = self
            .catalog()
            .by_index(Index::ExportFormatName, &Key::new().str(name).build())?;
        found
            .into_iter()
            .find(|f| !f.deleted && (f.public || actor.member_of(Some(f.team))))
            .ok_or_else(|| {
                let known: Vec<String> = self
                    .list(actor)
                    .map(|l| l.into_iter().map(|f| f.name).collect())
                    .unwrap_or_default();
                Error::invalid(
                    "format",
                    format!(
                        "no export format named {name:?} that you may use; yours: {}",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                )
            })
    }
}

/// An export to keep: the text a renderer made from `format` for `image_set`.
#[derive(Debug, Clone)]
pub struct NewExport {
    /// The set exported.
    pub image_set: ImageSetId,
    /// The format used.
    pub format: ExportFormatId,
    /// The rendered text.
    pub export_text: String,
    /// How many annotations it holds.
    pub annotation_count: u64,
}

/// Export use cases.
pub struct Exports<'a>(pub(crate) &'a Catalog);

impl Exports<'_> {
    /// Keeps an export made by the actor: needs read rights on the set (EXACT's
    /// `create_export`) and a usable format. The file name comes from the format's
    /// `name_format` (`%%exportid`, `%%imageset`, `%%team`, `%%setlocation`).
    pub fn create(&self, actor: &Actor, new: NewExport) -> Result<Export> {
        let c = self.0;
        let (set, _) = c.readable_set(actor, new.image_set)?;
        let format = c.export_formats().get(actor, new.format)?;
        if new.export_text.len() > MAX_EXPORT_TEXT {
            return Err(Error::invalid(
                "export",
                format!(
                    "the export is {} bytes; at most {MAX_EXPORT_TEXT} are kept as a record — \
                     stream it instead (GET /api/v1/images/image_sets/{}/export/?format=exact:{})",
                    new.export_text.len(),
                    set.id.0,
                    format.name
                ),
            ));
        }
        let team = self.team_name(&set)?;
        let templates = Templates::of(&format)?;
        let mut tx = Tx::default();
        let mut e = tx.insert(
            c,
            Export {
                id: ExportId(0),
                time: c.now(),
                user: Some(actor.user),
                image_set: set.id,
                annotation_count: new.annotation_count,
                export_text: new.export_text,
                filename: String::new(),
                format: Some(format.id),
                deleted: false,
            },
        )?;
        // The id is known once allocated; the batch is not written yet, so replace the queued
        // record by one with its file name.
        e.filename = file_name(&templates, e.id, &set.name, &team, &set.location);
        let mut tx = Tx::default();
        tx.push_new(&e, Vec::new());
        tx.commit(c)?;
        Ok(e)
    }

    /// The name of a set's team (`%%team`); empty when the set has none.
    pub fn team_name(&self, set: &crate::model::ImageSet) -> Result<String> {
        Ok(match set.team {
            Some(t) => self
                .0
                .find::<Team>(t.0)?
                .map(|t| t.name)
                .unwrap_or_default(),
            None => String::new(),
        })
    }

    /// An export the actor may read (through its set).
    pub fn get(&self, actor: &Actor, id: ExportId) -> Result<Export> {
        let e: Export = self.0.load(id.0)?;
        if e.deleted || self.0.readable_set(actor, e.image_set).is_err() {
            return Err(Error::not_found(id));
        }
        Ok(e)
    }

    /// The exports of a set, oldest first.
    pub fn of_set(&self, actor: &Actor, set: ImageSetId) -> Result<Vec<Export>> {
        self.0.readable_set(actor, set)?;
        let mut v: Vec<Export> = self
            .0
            .by_index::<Export>(Index::ExportBySet, &Key::new().u64(set.0).build())?
            .into_iter()
            .filter(|e| !e.deleted)
            .collect();
        v.sort_by_key(|e| e.id);
        Ok(v)
    }

    /// Whether the export's format changed (or went) after the export was made (EXACT shows
    /// such exports as "deprecated").
    pub fn deprecated(&self, e: &Export) -> Result<bool> {
        Ok(match e.format {
            Some(f) => match self.0.find::<ExportFormat>(f.0)? {
                Some(f) => f.deleted || f.last_change_time > e.time,
                None => true,
            },
            None => true,
        })
    }

    /// Deletes an export (members of the set's team): hidden, kept restorable.
    pub fn delete(&self, actor: &Actor, id: ExportId) -> Result<Export> {
        let e = self.get(actor, id)?;
        let (_, rights) = self.0.readable_set(actor, e.image_set)?;
        if !rights.edit_set {
            return Err(Error::denied(format!(
                "no rights to delete exports of {}",
                e.image_set
            )));
        }
        self.set_deleted(id, true)
    }

    /// Undoes [`Exports::delete`].
    pub fn restore(&self, actor: &Actor, id: ExportId) -> Result<Export> {
        let e: Export = self.0.load(id.0)?;
        let rights = self.0.readable_set(actor, e.image_set).map(|(_, r)| r);
        if !e.deleted || !rights.is_ok_and(|r| r.edit_set) {
            return Err(Error::not_found(id));
        }
        self.set_deleted(id, false)
    }

    fn set_deleted(&self, id: ExportId, deleted: bool) -> Result<Export> {
        self.0.modify::<Export>(id.0, |old| {
            Ok((
                Export {
                    deleted,
                    ..old.clone()
                },
                Vec::new(),
            ))
        })
    }
}

/// The file name of export `id`: `name_format` rendered, then made safe for a download
/// header (no path separators, quotes or control characters; at most 200 characters).
pub fn file_name(
    t: &Templates,
    id: ExportId,
    set_name: &str,
    team: &str,
    location: &str,
) -> String {
    use crate::export_template::{Piece, Placeholder as P};
    let mut out = String::new();
    for p in &t.name.pieces {
        match p {
            Piece::Text(s) => out.push_str(s),
            Piece::Value(P::ExportId) => out.push_str(&id.0.to_string()),
            Piece::Value(P::ImageSet) => out.push_str(set_name),
            Piece::Value(P::Team) => out.push_str(team),
            Piece::Value(P::SetLocation) => out.push_str(location),
            Piece::Value(_) | Piece::If(..) => {}
        }
    }
    let safe: String = out
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\' | '"' | ':' | '*' | '?' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .take(200)
        .collect();
    let safe = safe.trim().trim_start_matches('.').to_owned();
    if safe.is_empty() {
        format!("export_{}.txt", id.0)
    } else {
        safe
    }
}
