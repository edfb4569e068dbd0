//! Users, teams and memberships.

use super::{Catalog, Tx, check_name, check_text};
use crate::ids::{TeamId, UserId};
use crate::keys::Key;
use crate::model::{Team, TeamMembership, User};
use crate::permissions::Actor;
use crate::store::Index;
use crate::{Error, Result};

/// A user to register.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    /// Unique login name: letters, digits and `@.+-_`, at most 150 characters.
    pub username: String,
    /// Contact address.
    pub email: String,
    /// Grants every right everywhere.
    pub is_superuser: bool,
    /// Django's staff flag.
    pub is_staff: bool,
}

impl NewUser {
    /// A plain user named `username`.
    pub fn new(username: impl Into<String>) -> Self {
        NewUser {
            username: username.into(),
            ..Default::default()
        }
    }
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// New address.
    pub email: Option<String>,
    /// Activate or deactivate (superusers only).
    pub is_active: Option<bool>,
    /// Grant or revoke superuser (superusers only).
    pub is_superuser: Option<bool>,
    /// Staff flag (superusers only).
    pub is_staff: Option<bool>,
}

/// Checks a user to register: the username's characters and length, the email's length.
pub(crate) fn check_new_user(new: &NewUser) -> Result<()> {
    check_name("username", &new.username, 1, 150)?;
    if let Some(c) = new
        .username
        .chars()
        .find(|c| !(c.is_alphanumeric() || "@.+-_".contains(*c)))
    {
        return Err(Error::invalid(
            "username",
            format!("{c:?} is not allowed: use letters, digits and @.+-_"),
        ));
    }
    check_text("email", &new.email, 254)
}

/// The record of a new, active user.
pub(crate) fn user_record(new: NewUser) -> User {
    User {
        id: UserId(0),
        username: new.username,
        is_superuser: new.is_superuser,
        is_staff: new.is_staff,
        is_active: true,
        last_login: None,
        email: new.email,
        points: 0,
    }
}

/// User use cases.
pub struct Users<'a>(pub(crate) &'a Catalog);

impl Users<'_> {
    /// Registers a user without an acting user or password (tests, embedders; the admin CLI
    /// and first start go through [`super::TrustedAccounts::register`]).
    pub fn register(&self, new: NewUser) -> Result<User> {
        check_new_user(&new)?;
        self.0.insert(user_record(new))
    }

    /// Creates a user on behalf of `actor`, who must be a superuser.
    pub fn create(&self, actor: &Actor, new: NewUser) -> Result<User> {
        if !actor.superuser {
            return Err(Error::denied("only superusers create users"));
        }
        self.register(new)
    }

    /// The user named `username`, if any (for authentication; no permission check).
    pub fn by_username(&self, username: &str) -> Result<Option<User>> {
        Ok(self
            .0
            .by_index::<User>(Index::UserName, &Key::new().str(username).build())?
            .into_iter()
            .next())
    }

    /// A user the actor may see: themself, or someone sharing a team.
    pub fn get(&self, actor: &Actor, id: UserId) -> Result<User> {
        let user: User = self.0.load(id.0)?;
        if self.visible(actor, id)? {
            Ok(user)
        } else {
            Err(Error::not_found(id))
        }
    }

    /// Every user the actor may see, by id.
    pub fn list(&self, actor: &Actor) -> Result<Vec<User>> {
        let mut out = Vec::new();
        for u in self.0.all::<User>()? {
            if self.visible(actor, u.id)? {
                out.push(u);
            }
        }
        Ok(out)
    }

    fn visible(&self, actor: &Actor, id: UserId) -> Result<bool> {
        if actor.superuser || actor.user == id {
            return Ok(true);
        }
        let other = self.0.actor_teams(id)?;
        Ok(other.iter().any(|t| actor.teams.contains_key(t)))
    }

    /// Changes a user: themself (email) or a superuser (everything).
    pub fn update(&self, actor: &Actor, id: UserId, patch: UserPatch) -> Result<User> {
        self.get(actor, id)?;
        let privileged =
            patch.is_active.is_some() || patch.is_superuser.is_some() || patch.is_staff.is_some();
        if !(actor.superuser || (actor.user == id && !privileged)) {
            return Err(Error::denied(
                "only superusers change other users or their flags",
            ));
        }
        // Nobody locks themself out: the last way back in would be the admin CLI.
        if actor.user == id && (patch.is_active == Some(false) || patch.is_superuser == Some(false))
        {
            return Err(Error::invalid(
                "is_active",
                "you cannot deactivate yourself or drop your own superuser flag",
            ));
        }
        if let Some(e) = &patch.email {
            check_text("email", e, 254)?;
        }
        self.0.modify::<User>(id.0, |old| {
            let mut u = old.clone();
            if let Some(e) = &patch.email {
                u.email = e.clone();
            }
            u.is_active = patch.is_active.unwrap_or(u.is_active);
            u.is_superuser = patch.is_superuser.unwrap_or(u.is_superuser);
            u.is_staff = patch.is_staff.unwrap_or(u.is_staff);
            Ok((u, Vec::new()))
        })
    }

    /// Records a successful login (no permission check; called by authentication).
    pub fn touch_login(&self, id: UserId) -> Result<User> {
        let now = self.0.now();
        self.0.modify::<User>(id.0, |old| {
            let mut u = old.clone();
            u.last_login = Some(now);
            Ok((u, Vec::new()))
        })
    }
}

impl Catalog {
    pub(crate) fn actor_teams(&self, user: UserId) -> Result<Vec<TeamId>> {
        Ok(self
            .by_index::<TeamMembership>(Index::MembershipByUser, &Key::new().u64(user.0).build())?
            .into_iter()
            .map(|m| m.team)
            .collect())
    }
}

/// A team to create.
#[derive(Debug, Clone, Default)]
pub struct NewTeam {
    /// Unique name, 3 to 30 characters.
    pub name: String,
    /// Optional web site.
    pub website: String,
}

impl NewTeam {
    /// A team named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        NewTeam {
            name: name.into(),
            website: String::new(),
        }
    }
}

/// Changes to a team.
#[derive(Debug, Clone, Default)]
pub struct TeamPatch {
    /// New name.
    pub name: Option<String>,
    /// New web site.
    pub website: Option<String>,
}

/// Team use cases.
pub struct Teams<'a>(pub(crate) &'a Catalog);

impl Teams<'_> {
    /// Creates a team with the actor as its first admin.
    pub fn create(&self, actor: &Actor, new: NewTeam) -> Result<Team> {
        check_name("name", &new.name, 3, 30)?;
        check_text("website", &new.website, 100)?;
        let c = self.0;
        let mut tx = Tx::default();
        let team = tx.insert(
            c,
            Team {
                id: TeamId(0),
                name: new.name,
                website: new.website,
            },
        )?;
        tx.insert(
            c,
            TeamMembership {
                id: Default::default(),
                team: team.id,
                user: actor.user,
                is_admin: true,
            },
        )?;
        tx.commit(c)?;
        Ok(team)
    }

    /// A team the actor belongs to.
    pub fn get(&self, actor: &Actor, id: TeamId) -> Result<Team> {
        if !actor.member_of(Some(id)) {
            return Err(Error::not_found(id));
        }
        self.0.load(id.0)
    }

    /// The actor's teams (all teams for superusers), by id.
    pub fn list(&self, actor: &Actor) -> Result<Vec<Team>> {
        Ok(self
            .0
            .all::<Team>()?
            .into_iter()
            .filter(|t| actor.member_of(Some(t.id)))
            .collect())
    }

    /// Renames a team or changes its web site (team admins).
    pub fn update(&self, actor: &Actor, id: TeamId, patch: TeamPatch) -> Result<Team> {
        self.require_admin(actor, id)?;
        if let Some(n) = &patch.name {
            check_name("name", n, 3, 30)?;
        }
        if let Some(w) = &patch.website {
            check_text("website", w, 100)?;
        }
        self.0.modify::<Team>(id.0, |old| {
            let mut t = old.clone();
            if let Some(n) = &patch.name {
                t.name = n.clone();
            }
            if let Some(w) = &patch.website {
                t.website = w.clone();
            }
            Ok((t, Vec::new()))
        })
    }

    /// The memberships of a team the actor belongs to.
    pub fn members(&self, actor: &Actor, id: TeamId) -> Result<Vec<TeamMembership>> {
        self.get(actor, id)?;
        self.0
            .by_index(Index::MembershipByTeam, &Key::new().u64(id.0).build())
    }

    /// Every membership of every team the actor belongs to.
    pub fn memberships(&self, actor: &Actor) -> Result<Vec<TeamMembership>> {
        let mut out = Vec::new();
        for t in self.list(actor)? {
            out.extend(self.members(actor, t.id)?);
        }
        out.sort_by_key(|m| m.id);
        Ok(out)
    }

    /// Adds `user` to the team (team admins).
    pub fn add_member(
        &self,
        actor: &Actor,
        team: TeamId,
        user: UserId,
        is_admin: bool,
    ) -> Result<TeamMembership> {
        self.require_admin(actor, team)?;
        let _: User = self.0.load(user.0)?;
        self.0.insert(TeamMembership {
            id: Default::default(),
            team,
            user,
            is_admin,
        })
    }

    /// Grants or revokes admin rights (team admins); the last admin stays.
    pub fn set_admin(
        &self,
        actor: &Actor,
        team: TeamId,
        user: UserId,
        is_admin: bool,
    ) -> Result<TeamMembership> {
        self.require_admin(actor, team)?;
        let m = self.membership(team, user)?;
        if !is_admin {
            self.keep_an_admin(team, user)?;
        }
        self.0.modify::<TeamMembership>(m.id.0, |old| {
            Ok((
                TeamMembership {
                    is_admin,
                    ..old.clone()
                },
                Vec::new(),
            ))
        })
    }

    /// Removes `user` from the team: team admins remove anyone, members remove themselves.
    /// The last admin cannot leave.
    pub fn remove_member(&self, actor: &Actor, team: TeamId, user: UserId) -> Result<()> {
        if actor.user != user {
            self.require_admin(actor, team)?;
        } else if !actor.member_of(Some(team)) {
            return Err(Error::not_found(team));
        }
        let m = self.membership(team, user)?;
        self.keep_an_admin(team, user)?;
        let mut tx = Tx::default();
        tx.remove(&m);
        tx.commit(self.0)
    }

    /// Deletes a team (its admins). A team that still owns image sets or products is refused:
    /// nothing a user made is dropped along with it. Its memberships go with it.
    pub fn delete(&self, actor: &Actor, id: TeamId) -> Result<()> {
        self.require_admin(actor, id)?;
        let c = self.0;
        let sets = c
            .by_index::<crate::model::ImageSet>(Index::SetByTeam, &Key::new().u64(id.0).build())?
            .len();
        let products = c
            .all::<crate::model::Product>()?
            .iter()
            .filter(|p| p.team == Some(id))
            .count();
        if sets + products > 0 {
            return Err(Error::invalid(
                "team",
                format!(
                    "{id} still owns {sets} image set(s) and {products} product(s); delete those first"
                ),
            ));
        }
        let team: Team = c.load(id.0)?;
        let mut tx = Tx::default();
        for m in
            c.by_index::<TeamMembership>(Index::MembershipByTeam, &Key::new().u64(id.0).build())?
        {
            tx.remove(&m);
        }
        tx.remove(&team);
        tx.commit(c)
    }

    fn membership(&self, team: TeamId, user: UserId) -> Result<TeamMembership> {
        self.0
            .by_index::<TeamMembership>(
                Index::MembershipByUser,
                &Key::new().u64(user.0).u64(team.0).build(),
            )?
            .into_iter()
            .next()
            .ok_or_else(|| Error::not_found(format!("membership of {user} in {team}")))
    }

    fn keep_an_admin(&self, team: TeamId, leaving: UserId) -> Result<()> {
        let admins = self
            .0
            .by_index::<TeamMembership>(Index::MembershipByTeam, &Key::new().u64(team.0).build())?
            .into_iter()
            .filter(|m| m.is_admin && m.user != leaving)
            .count();
        if admins == 0 {
            return Err(Error::invalid(
                "is_admin",
                format!("{team} must keep at least one admin"),
            ));
        }
        Ok(())
    }

    fn require_admin(&self, actor: &Actor, team: TeamId) -> Result<()> {
        if !actor.member_of(Some(team)) {
            return Err(Error::not_found(team));
        }
        if !actor.admin_of(Some(team)) {
            return Err(Error::denied(format!("only admins of {team} manage it")));
        }
        Ok(())
    }
}
