//! Team and global messages (EXACT's tagger_messages): team admins write to their team,
//! superusers to everybody; each user lists the messages showing now that they have not read,
//! and marks them read.

use super::{Catalog, Tx, check_name, check_text};
use crate::Result;
use crate::error::Error;
use crate::ids::{MessageId, MessageReadId, TeamId};
use crate::keys::Key;
use crate::model::{Message, MessageRead};
use crate::permissions::Actor;
use crate::record::{Record, json_record, term};
use crate::store::{Index, Kind, Term};
use crate::time::Timestamp;

/// Longest message body, in characters.
pub const MAX_MESSAGE_CHARS: usize = 10_000;

json_record!(Message, Kind::Message, "message", |m| vec![term(
    Index::MessageByTeam,
    Key::new().opt(m.team.map(|t| t.0))
)]);

json_record!(
    MessageRead,
    Kind::MessageRead,
    "message read mark",
    |r| vec![
        term(
            Index::MessageReadPair,
            Key::new().u64(r.message.0).u64(r.user.0)
        ),
        term(Index::MessageReadByUser, Key::new().u64(r.user.0)),
    ]
);

/// A message to write.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Title, 1 to 100 characters.
    pub title: String,
    /// Body, at most [`MAX_MESSAGE_CHARS`].
    pub content: String,
    /// Shown from (default: now).
    pub start_time: Option<Timestamp>,
    /// Shown until (default: a week after the start).
    pub expire_time: Option<Timestamp>,
    /// The team (a team message) or `None` (a global message).
    pub team: Option<TeamId>,
    /// See [`Message::admins_only`].
    pub admins_only: bool,
    /// See [`Message::staff_only`].
    pub staff_only: bool,
}

impl NewMessage {
    /// A message `title` to `team` (or everybody), shown from now for a week.
    pub fn new(title: impl Into<String>, content: impl Into<String>, team: Option<TeamId>) -> Self {
        NewMessage {
            title: title.into(),
            content: content.into(),
            start_time: None,
            expire_time: None,
            team,
            admins_only: false,
            staff_only: false,
        }
    }
}

/// Message use cases.
pub struct Messages<'a>(pub(crate) &'a Catalog);

const WEEK_MICROS: i64 = 7 * 24 * 3600 * 1_000_000;

impl Messages<'_> {
    /// Writes a message: to a team, by its admins; global, by superusers.
    pub fn create(&self, actor: &Actor, new: NewMessage) -> Result<Message> {
        check_name("title", &new.title, 1, 100)?;
        check_text("content", &new.content, MAX_MESSAGE_CHARS)?;
        match new.team {
            Some(t) => {
                self.0.teams().get(actor, t)?;
                if !actor.admin_of(Some(t)) {
                    return Err(Error::denied(format!("only admins of {t} write to it")));
                }
                if new.staff_only {
                    return Err(Error::invalid(
                        "staff_only",
                        "only global messages are for staff only",
                    ));
                }
            }
            None if !actor.superuser => {
                return Err(Error::denied("only superusers write global messages"));
            }
            None => {}
        }
        let now = self.0.now();
        let start = new.start_time.unwrap_or(now);
        let expire = new
            .expire_time
            .unwrap_or(Timestamp(start.0.saturating_add(WEEK_MICROS)));
        if expire <= start {
            return Err(Error::invalid(
                "expire_time",
                "must be later than start_time",
            ));
        }
        self.0.insert(Message {
            id: MessageId(0),
            title: new.title,
            content: new.content,
            creator: Some(actor.user),
            creation_time: now,
            start_time: start,
            expire_time: expire,
            team: new.team,
            admins_only: new.admins_only,
            staff_only: new.staff_only,
        })
    }

    /// Whether the actor is among a message's readers.
    fn addressed(actor: &Actor, m: &Message) -> bool {
        match m.team {
            Some(t) if m.admins_only => actor.admin_of(Some(t)),
            Some(t) => actor.member_of(Some(t)),
            None if m.staff_only => actor.superuser,
            None if m.admins_only => actor.superuser || actor.teams.values().any(|a| *a),
            None => true,
        }
    }

    /// Messages addressed to the actor that show now, newest first; with `unread_only`,
    /// those they have not marked read.
    pub fn current(&self, actor: &Actor, unread_only: bool) -> Result<Vec<Message>> {
        let c = self.0;
        let now = c.now();
        let mut out = Vec::new();
        let mut keys: Vec<Option<u64>> = vec![None];
        keys.extend(actor.teams.keys().map(|t| Some(t.0)));
        for k in keys {
            for m in c.by_index::<Message>(Index::MessageByTeam, &Key::new().opt(k).build())? {
                if Self::addressed(actor, &m) && m.start_time <= now && now < m.expire_time {
                    out.push(m);
                }
            }
        }
        if unread_only {
            let read: std::collections::HashSet<_> = c
                .by_index::<MessageRead>(
                    Index::MessageReadByUser,
                    &Key::new().u64(actor.user.0).build(),
                )?
                .into_iter()
                .map(|r| r.message)
                .collect();
            out.retain(|m| !read.contains(&m.id));
        }
        out.sort_by(|a, b| b.start_time.cmp(&a.start_time).then(b.id.cmp(&a.id)));
        Ok(out)
    }

    /// A message addressed to the actor (others are not found).
    pub fn get(&self, actor: &Actor, id: MessageId) -> Result<Message> {
        let m: Message = self.0.load(id.0)?;
        if !Self::addressed(actor, &m) {
            return Err(Error::not_found(id));
        }
        Ok(m)
    }

    /// Marks a message addressed to the actor read (idempotent).
    pub fn mark_read(&self, actor: &Actor, id: MessageId) -> Result<MessageRead> {
        self.get(actor, id)?;
        let key = Key::new().u64(id.0).u64(actor.user.0).build();
        if let Some(r) = self
            .0
            .by_index::<MessageRead>(Index::MessageReadPair, &key)?
            .into_iter()
            .next()
        {
            return Ok(r);
        }
        self.0.insert(MessageRead {
            id: MessageReadId(0),
            message: id,
            user: actor.user,
            time: self.0.now(),
        })
    }

    /// Deletes a message: its writer, an admin of its team, or a superuser. Its read marks
    /// go with it, in the same batch.
    pub fn delete(&self, actor: &Actor, id: MessageId) -> Result<()> {
        let c = self.0;
        let m = self.get(actor, id)?;
        let allowed = actor.superuser
            || m.creator == Some(actor.user)
            || (m.team.is_some() && actor.admin_of(m.team));
        if !allowed {
            return Err(Error::denied(format!(
                "only its writer or an admin deletes {id}"
            )));
        }
        let mut tx = Tx::default();
        for r in c.by_index::<MessageRead>(Index::MessageReadPair, &Key::new().u64(id.0).build())? {
            tx.remove(&r);
        }
        tx.remove(&m);
        tx.commit(c)
    }
}
