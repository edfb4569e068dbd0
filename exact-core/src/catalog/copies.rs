//! Copies (EXACT's "copy images" and `annotations/api/annotation/copy/<a>/<image>`): an image
//! copied into another set is a new image record naming the same stored files — no byte is
//! copied, and since image deletes are soft and blobs are never removed while a record names
//! them, deleting one copy never takes the other's pixels. Annotations come along on request,
//! each matched to the target set's type of the same name and vector type, as EXACT does.

use super::annotations::{Annotations, NewAnnotation};
use super::images::Images;
use super::query::AnnotationQuery;
use super::{Tx, check_name};
use crate::ids::{AnnotationId, ImageId, ImageSetId};
use crate::model::{Annotation, AnnotationType, Image};
use crate::permissions::Actor;
use crate::{Error, Result};
use std::collections::HashMap;

/// What [`Images::copy`] made.
#[derive(Debug, Clone)]
pub struct ImageCopy {
    /// The new image record (sharing the source's files).
    pub image: Image,
    /// The annotations copied onto it.
    pub annotations: Vec<Annotation>,
    /// Names of the source's types the target set does not offer: their annotations were
    /// left out.
    pub skipped_types: Vec<String>,
    /// How many annotations were left out for that reason.
    pub skipped: usize,
}

/// The type of `target` types matching `source` by name and vector type.
fn matching<'t>(
    source: &AnnotationType,
    target: &'t [AnnotationType],
) -> Option<&'t AnnotationType> {
    target
        .iter()
        .find(|t| t.name == source.name && t.vector_type == source.vector_type)
}

impl Images<'_> {
    /// Copies an image the actor may read into `target` (a set they may add images to, not
    /// locked), optionally with the annotations of it they see (live ones, with their UUIDs,
    /// geometry, flags, remarks and meta data; the copier becomes their creator). The new
    /// record shares the source's stored files. All or nothing: if the annotations cannot be
    /// written, the new image is removed again.
    pub fn copy(
        &self,
        actor: &Actor,
        source: ImageId,
        target: ImageSetId,
        with_annotations: bool,
        name: Option<String>,
    ) -> Result<ImageCopy> {
        let c = self.0;
        let (src, _, _) = c.readable_image(actor, source)?;
        self.check_upload(actor, target)?;
        let (_, rights) = c.readable_set(actor, target)?;
        if with_annotations && !rights.annotate {
            return Err(Error::denied(format!("no rights to annotate in {target}")));
        }
        let name = name.unwrap_or_else(|| src.name.clone());
        check_name("name", &name, 1, 256)?;
        // Plan the annotations before writing anything.
        let mut news = Vec::new();
        let (mut skipped, mut skipped_types) = (0, Vec::new());
        if with_annotations {
            let offered = c.annotation_types().of_set(actor, target)?;
            let mut types: HashMap<_, Option<AnnotationType>> = HashMap::new();
            for a in c
                .annotations()
                .query(actor, source, &AnnotationQuery::default())?
            {
                if let std::collections::hash_map::Entry::Vacant(e) = types.entry(a.annotation_type)
                {
                    let t: AnnotationType = c.load(a.annotation_type.0)?;
                    let m = matching(&t, &offered).cloned();
                    if m.is_none() {
                        skipped_types.push(t.name.clone());
                    }
                    e.insert(m);
                }
                match &types[&a.annotation_type] {
                    Some(t) => news.push(copy_of(&a, t, ImageId(0))),
                    None => skipped += 1,
                }
            }
        }
        skipped_types.sort();
        let image = c.insert(Image {
            id: ImageId(0),
            image_set: target,
            name,
            time: c.now(),
            creator: Some(actor.user),
            deleted: false,
            ..src.clone()
        })?;
        for n in &mut news {
            n.image = image.id;
        }
        match c.annotations().create_many(actor, news) {
            Ok(annotations) => Ok(ImageCopy {
                image,
                annotations,
                skipped_types,
                skipped,
            }),
            Err(e) => {
                let mut tx = Tx::default();
                tx.remove(&image);
                tx.commit(c)?;
                Err(e)
            }
        }
    }
}

/// `a` as a new annotation of type `t` on `image`.
fn copy_of(a: &Annotation, t: &AnnotationType, image: ImageId) -> NewAnnotation {
    let mut n = NewAnnotation::new(t.id, image, a.vector.clone());
    n.concealed = a.concealed;
    n.blurred = a.blurred;
    n.description = a.description.clone();
    n.meta_data = a.meta_data.clone();
    n.unique_identifier = Some(a.unique_identifier);
    n
}

impl Annotations<'_> {
    /// Copies one annotation the actor may see onto `target` (an image they may annotate),
    /// as the target set's type of the same name and vector type (EXACT's
    /// `copy/<annotation>/<image>`); `InvalidInput` naming the type when the target set offers
    /// none.
    pub fn copy(&self, actor: &Actor, id: AnnotationId, target: ImageId) -> Result<Annotation> {
        let c = self.0;
        let a = self.get(actor, id)?;
        let (_, set, _) = c.readable_image(actor, target)?;
        let t: AnnotationType = c.load(a.annotation_type.0)?;
        let offered = c.annotation_types().of_set(actor, set.id)?;
        let Some(m) = matching(&t, &offered) else {
            return Err(Error::invalid(
                "annotation_type",
                format!(
                    "no annotation type of {} matches {:?} (same name and vector type)",
                    set.id, t.name
                ),
            ));
        };
        self.create(actor, copy_of(&a, m, target))
    }
}
