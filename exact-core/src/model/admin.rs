//! Products: labelling schemas (groups of annotation types) attachable to many image sets.

use crate::ids::{ImageSetId, ProductId, TeamId, UserId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// A labelling schema: its annotation types are offered on every image set it is attached to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    /// Id.
    pub id: ProductId,
    /// Name, unique within the team.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Creation time.
    pub time: Timestamp,
    /// Owning team.
    pub team: Option<TeamId>,
    /// Who made it.
    pub creator: Option<UserId>,
    /// The image sets it is attached to.
    #[serde(default)]
    pub imagesets: Vec<ImageSetId>,
}
