//! Permission rules, applied inside the use cases (never in the HTTP layer).
//!
//! - Everything is scoped to the requester's teams, for reads *and* writes: an image set is seen
//!   through its team (or its `public` flag); images, annotations and their children through
//!   their set. EXACT accepts foreign image ids on create; we refuse them.
//! - Team members may create sets, products and annotation types and annotate; team admins also
//!   manage members and delete sets and images. A set's creator has admin rights on it while a
//!   member of its team. Superusers may do everything.
//! - Collaboration types decide whose annotations one sees: collaborative — all; competitive —
//!   one's own (team admins of the set see all, as they run the study); second opinion — all,
//!   but one edits only one's own and verifies the others'.

use crate::ids::{TeamId, UserId};
use crate::model::{Annotation, CollaborationType, ImageSet};
use std::collections::HashMap;

/// Who is acting: a user and their team roles, loaded once per request.
#[derive(Debug, Clone, PartialEq)]
pub struct Actor {
    /// The user.
    pub user: UserId,
    /// May do everything.
    pub superuser: bool,
    /// Team → whether the user administers it.
    pub teams: HashMap<TeamId, bool>,
}

/// Rights on one image set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetRights {
    /// See the set, its images and (subject to the collaboration type) annotations.
    pub read: bool,
    /// Create annotations.
    pub annotate: bool,
    /// Verify annotations.
    pub verify: bool,
    /// Edit and soft-delete annotations.
    pub edit_annotations: bool,
    /// Change the set's fields, add images, attach products, snapshot versions.
    pub edit_set: bool,
    /// Delete images.
    pub delete_images: bool,
    /// Delete the set.
    pub delete_set: bool,
    /// See every annotation regardless of the collaboration type (team admins).
    pub see_all: bool,
}

impl Actor {
    /// A user with no team (sees only public sets).
    pub fn new(user: UserId) -> Self {
        Actor {
            user,
            superuser: false,
            teams: HashMap::new(),
        }
    }

    /// Whether the actor is a member (or admin) of `team`.
    pub fn member_of(&self, team: Option<TeamId>) -> bool {
        self.superuser || team.is_some_and(|t| self.teams.contains_key(&t))
    }

    /// Whether the actor administers `team`.
    pub fn admin_of(&self, team: Option<TeamId>) -> bool {
        self.superuser || team.is_some_and(|t| self.teams.get(&t) == Some(&true))
    }

    /// The actor's rights on `set`.
    pub fn rights(&self, set: &ImageSet) -> SetRights {
        if self.member_of(set.team) {
            let admin = self.admin_of(set.team) || set.creator == Some(self.user);
            return SetRights {
                read: true,
                annotate: true,
                verify: true,
                edit_annotations: true,
                edit_set: true,
                delete_images: admin,
                delete_set: admin,
                see_all: admin,
            };
        }
        if set.public {
            let collab = set.public_collaboration;
            return SetRights {
                read: true,
                annotate: collab,
                verify: collab,
                edit_annotations: collab,
                ..SetRights::default()
            };
        }
        SetRights::default()
    }

    /// Whether the actor may see `annotation` in `set`.
    pub fn sees(&self, set: &ImageSet, rights: &SetRights, annotation: &Annotation) -> bool {
        self.sees_made_by(set, rights, annotation.user)
    }

    /// [`Actor::sees`] for an annotation known only by its creator (counts read no more).
    pub fn sees_made_by(
        &self,
        set: &ImageSet,
        rights: &SetRights,
        creator: Option<UserId>,
    ) -> bool {
        if !rights.read {
            return false;
        }
        match set.collaboration_type {
            CollaborationType::Competitive => rights.see_all || creator == Some(self.user),
            CollaborationType::Collaborative | CollaborationType::SecondOpinion => true,
        }
    }

    /// Whether the actor may edit or delete `annotation` in `set`.
    pub fn may_edit(&self, set: &ImageSet, rights: &SetRights, annotation: &Annotation) -> bool {
        if !rights.edit_annotations || !self.sees(set, rights, annotation) {
            return false;
        }
        match set.collaboration_type {
            CollaborationType::Collaborative => true,
            CollaborationType::Competitive | CollaborationType::SecondOpinion => {
                rights.see_all || self.owns(annotation)
            }
        }
    }

    fn owns(&self, annotation: &Annotation) -> bool {
        annotation.user == Some(self.user)
    }
}
