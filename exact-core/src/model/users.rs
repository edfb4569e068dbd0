//! Users, teams and team memberships.

use crate::ids::{MembershipId, TeamId, UserId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// A person using the system. Credentials live elsewhere and are never serialized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Unique login name.
    pub username: String,
    /// May do everything, everywhere.
    #[serde(default)]
    pub is_superuser: bool,
    /// Django's staff flag, kept for API compatibility.
    #[serde(default)]
    pub is_staff: bool,
    /// Inactive users cannot log in.
    #[serde(default = "yes")]
    pub is_active: bool,
    /// Last successful login.
    #[serde(default)]
    pub last_login: Option<Timestamp>,
    /// Contact address (may be empty).
    #[serde(default)]
    pub email: String,
    /// Points earned by positive verifications of this user's annotations.
    #[serde(default)]
    pub points: i64,
}

fn yes() -> bool {
    true
}

/// A group of users that owns image sets, products and export formats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Team {
    /// Id.
    pub id: TeamId,
    /// Unique name, 3 to 30 characters.
    pub name: String,
    /// Optional web site.
    #[serde(default)]
    pub website: String,
}

/// A user's membership in a team; admins manage members and may delete sets and images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamMembership {
    /// Id.
    pub id: MembershipId,
    /// The team.
    pub team: TeamId,
    /// The member.
    pub user: UserId,
    /// Whether the member administers the team.
    #[serde(default)]
    pub is_admin: bool,
}
