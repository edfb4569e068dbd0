//! The deletes EXACT's v1 API offers on small resources (issue 18), each with EXACT's rule
//! made safe: a product goes only once it holds no annotation types (EXACT would orphan
//! them), a set tag only when the actor may edit every set it tags, a verdict only by its
//! giver (or a team admin) with the creator's points given back, screening progress only by
//! its owner. Also the lookups EXACT's autocomplete fields use.

use super::misc::{ScreeningModes, SetTags, Verifications};
use super::sets::Products;
use super::{Tx, teams::Users};
use crate::ids::{ImageId, ProductId, ScreeningModeId, SetTagId, VerificationId};
use crate::keys::Key;
use crate::model::{AnnotationType, Product, ScreeningMode, SetTag, User, Verification};
use crate::permissions::Actor;
use crate::store::Index;
use crate::{Error, Result};

/// Most suggestions an autocomplete answers.
pub const MAX_SUGGESTIONS: usize = 20;

impl Products<'_> {
    /// Deletes a product (team admins of its team, or superusers). Refused while it holds
    /// annotation types, whose annotations would lose their schema: deactivate or move them
    /// first. Its links to sets go with it.
    pub fn delete(&self, actor: &Actor, id: ProductId) -> Result<()> {
        let c = self.0;
        let p = self.get(actor, id)?;
        if !actor.admin_of(p.team) && !actor.superuser {
            return Err(Error::denied(format!("only team admins delete {id}")));
        }
        let types: Vec<AnnotationType> =
            c.by_index(Index::TypeByProduct, &Key::new().opt(Some(id.0)).build())?;
        if !types.is_empty() {
            let names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
            return Err(Error::invalid(
                "annotationtype_set",
                format!(
                    "{id} still holds annotation types ({}); deactivate or move them first",
                    names.join(", ")
                ),
            ));
        }
        let current: Product = c.load(id.0)?;
        let mut tx = Tx::default();
        tx.remove(&current);
        tx.commit(c)
    }
}

impl SetTags<'_> {
    /// A tag every one of whose sets the actor may read and edit.
    fn editable(&self, actor: &Actor, id: SetTagId) -> Result<SetTag> {
        let t: SetTag = self.0.load(id.0)?;
        for s in &t.imagesets {
            let (_, rights) = self
                .0
                .readable_set(actor, *s)
                .map_err(|_| Error::denied(format!("{id} also tags sets you may not edit")))?;
            if !rights.edit_set {
                return Err(Error::denied(format!("no rights to untag {s}")));
            }
        }
        Ok(t)
    }

    /// Deletes a tag, provided the actor may edit every set it tags.
    pub fn delete(&self, actor: &Actor, id: SetTagId) -> Result<()> {
        let t = self.editable(actor, id)?;
        let mut tx = Tx::default();
        tx.remove(&t);
        tx.commit(self.0)
    }

    /// Renames a tag the actor may edit every set of; names stay unique.
    pub fn rename(&self, actor: &Actor, id: SetTagId, name: &str) -> Result<SetTag> {
        super::check_name("name", name, 1, 100)?;
        self.editable(actor, id)?;
        self.0.modify::<SetTag>(id.0, |old| {
            Ok((
                SetTag {
                    name: name.to_owned(),
                    ..old.clone()
                },
                Vec::new(),
            ))
        })
    }

    /// The tag named exactly `name`, if any.
    pub fn by_name(&self, name: &str) -> Result<Option<SetTag>> {
        Ok(self
            .0
            .by_index::<SetTag>(Index::TagName, &Key::new().str(name).build())?
            .into_iter()
            .find(|t| t.name == name))
    }

    /// Up to [`MAX_SUGGESTIONS`] tag names containing `query` (case-insensitive), by name.
    pub fn suggest(&self, query: &str) -> Result<Vec<String>> {
        let q = query.to_lowercase();
        let mut names: Vec<String> = self
            .0
            .all::<SetTag>()?
            .into_iter()
            .map(|t| t.name)
            .filter(|n| n.to_lowercase().contains(&q))
            .collect();
        names.sort();
        names.truncate(MAX_SUGGESTIONS);
        Ok(names)
    }
}

impl Users<'_> {
    /// Up to [`MAX_SUGGESTIONS`] users the actor may see whose name contains `query`
    /// (case-insensitive), by username.
    pub fn suggest(&self, actor: &Actor, query: &str) -> Result<Vec<User>> {
        let q = query.to_lowercase();
        let mut users: Vec<User> = self
            .list(actor)?
            .into_iter()
            .filter(|u| u.username.to_lowercase().contains(&q))
            .collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        users.truncate(MAX_SUGGESTIONS);
        Ok(users)
    }
}

impl Verifications<'_> {
    /// Withdraws a verdict: its giver, a team admin of the set or a superuser. A withdrawn
    /// acceptance takes back the point it gave the annotation's creator.
    pub fn delete(&self, actor: &Actor, id: VerificationId) -> Result<()> {
        let c = self.0;
        let v = self.get(actor, id)?;
        let a = c.annotations().get(actor, v.annotation)?;
        let (_, set, _) = c.readable_image(actor, a.image)?;
        if v.user != actor.user && !actor.admin_of(set.team) && !actor.superuser {
            return Err(Error::denied(format!(
                "only its giver or a team admin withdraws {id}"
            )));
        }
        for attempt in 0..super::RETRIES {
            // The annotation's guard before the annotation (see `verified`).
            let guards = c.verdict_guards(a.image, Some(&[v.annotation.0]))?;
            let a = c.annotations().get(actor, v.annotation)?;
            let current: Verification = c.load(id.0)?;
            let mut tx = Tx::default();
            tx.remove(&current);
            if current.verified
                && let Some(creator) = a.user
                && let Some(old) = c.find::<User>(creator.0)?
            {
                let new = User {
                    points: old.points - 1,
                    ..old.clone()
                };
                tx.replace(&old, &new, Vec::new());
            }
            let lost = -i64::from(current.verified);
            c.stage_verdicts(&mut tx.batch, a.image, &guards, &[(&a, lost)], attempt)?;
            match tx.commit(c) {
                Err(e) if e.kind() == crate::ErrorKind::Conflict => continue,
                other => return other,
            }
        }
        Err(Error::Conflict {
            what: format!("{id}"),
        })
    }
}

impl ScreeningModes<'_> {
    /// Screening progress the actor owns (superusers: any).
    pub fn get(&self, actor: &Actor, id: ScreeningModeId) -> Result<ScreeningMode> {
        let m: ScreeningMode = self.0.load(id.0)?;
        if m.user != actor.user && !actor.superuser {
            return Err(Error::not_found(id));
        }
        self.0.readable_image(actor, m.image)?;
        Ok(m)
    }

    /// The actor's screening progress, on one image or all they may read.
    pub fn list(&self, actor: &Actor, image: Option<ImageId>) -> Result<Vec<ScreeningMode>> {
        let mut all: Vec<ScreeningMode> = match image {
            Some(i) => {
                self.0.readable_image(actor, i)?;
                self.0
                    .by_index(Index::ScreeningPair, &Key::new().u64(i.0).build())?
            }
            None => self.0.all()?,
        };
        all.retain(|m| {
            (m.user == actor.user || actor.superuser)
                && self.0.readable_image(actor, m.image).is_ok()
        });
        Ok(all)
    }

    /// Forgets screening progress the actor owns (starting over).
    pub fn delete(&self, actor: &Actor, id: ScreeningModeId) -> Result<()> {
        let m = self.get(actor, id)?;
        let mut tx = Tx::default();
        tx.remove(&m);
        tx.commit(self.0)
    }
}
