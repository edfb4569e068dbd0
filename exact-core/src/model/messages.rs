//! Team and global messages (EXACT's tagger_messages): announcements shown while
//! `start_time <= now < expire_time`, each user marking them read.

use crate::ids::{MessageId, MessageReadId, TeamId, UserId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// A message to a team's members (`team` set) or to everybody (`team` none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Id.
    pub id: MessageId,
    /// Title, 1 to 100 characters.
    pub title: String,
    /// Body text.
    #[serde(default)]
    pub content: String,
    /// Who wrote it.
    pub creator: Option<UserId>,
    /// When it was written.
    pub creation_time: Timestamp,
    /// Shown from.
    pub start_time: Timestamp,
    /// Shown until (exclusive).
    pub expire_time: Timestamp,
    /// The team it is for; `None` for a global message.
    pub team: Option<TeamId>,
    /// Team message: only the team's admins see it. Global message: only admins of some team
    /// see it (EXACT's `team_admins_only`).
    #[serde(default)]
    pub admins_only: bool,
    /// Global message for staff (superusers) only.
    #[serde(default)]
    pub staff_only: bool,
}

/// That `user` read `message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRead {
    /// Id.
    pub id: MessageReadId,
    /// The message.
    pub message: MessageId,
    /// The reader.
    pub user: UserId,
    /// When.
    pub time: Timestamp,
}
