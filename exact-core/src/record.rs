//! How each model type is stored: its [`Kind`], its bytes, and the index entries it owns.

use crate::codec;
use crate::keys::Key;
use crate::model::*;
use crate::store::{EntryWrite, Expect, Index, Kind, Term};
use crate::{Error, Result};

/// A model type that lives in the metadata store.
pub trait Record: Sized + Clone {
    /// Its table.
    const KIND: Kind;
    /// A human name for messages (`image`).
    const LABEL: &'static str;
    /// Its id.
    fn id(&self) -> u64;
    /// Sets its id (on insert).
    fn set_id(&mut self, id: u64);
    /// The stored bytes.
    fn encode(&self) -> Vec<u8>;
    /// Decodes stored bytes; `what` names the store for errors.
    fn decode(id: u64, bytes: &[u8], what: &str) -> Result<Self>;
    /// The index entries this record owns.
    fn terms(&self) -> Vec<Term>;
    /// Describes the record for "already exists" messages about its unique index `index`.
    fn describe(&self, index: Index) -> String {
        let _ = index;
        format!("{} {}", Self::LABEL, self.id())
    }
}

/// An index entry with no value, keyed by `key`.
pub(crate) fn term(index: Index, key: Key) -> Term {
    Term {
        index,
        key: key.build(),
        value: Vec::new(),
    }
}

macro_rules! json_record {
    ($ty:ty, $kind:expr, $label:literal, |$r:ident| $terms:expr, |$d:ident, $idx:ident| $describe:expr) => {
        impl Record for $ty {
            const KIND: Kind = $kind;
            const LABEL: &'static str = $label;
            fn id(&self) -> u64 {
                self.id.0
            }
            fn set_id(&mut self, id: u64) {
                self.id.0 = id;
            }
            fn encode(&self) -> Vec<u8> {
                serde_json::to_vec(self).unwrap_or_default()
            }
            fn decode(id: u64, bytes: &[u8], what: &str) -> Result<Self> {
                let mut r: Self = serde_json::from_slice(bytes)
                    .map_err(|e| Error::corrupt(what, format!("{} {id}: {e}", $label)))?;
                r.id.0 = id;
                Ok(r)
            }
            fn terms(&self) -> Vec<Term> {
                let $r = self;
                $terms
            }
            fn describe(&self, index: Index) -> String {
                let ($d, $idx) = (self, index);
                $describe
            }
        }
    };
    // Described by label and id (the trait's default).
    ($ty:ty, $kind:expr, $label:literal, |$r:ident| $terms:expr) => {
        json_record!($ty, $kind, $label, |$r| $terms, |d, _i| format!(
            "{} {}",
            $label, d.id.0
        ));
    };
}
/// Records stored as JSON elsewhere in the crate (messages, processing) use the same impl.
pub(crate) use json_record;

json_record!(
    User,
    Kind::User,
    "user",
    |u| vec![term(Index::UserName, Key::new().str(&u.username))],
    |u, _i| format!("user named {:?}", u.username)
);

json_record!(
    Team,
    Kind::Team,
    "team",
    |t| vec![term(Index::TeamName, Key::new().str(&t.name))],
    |t, _i| format!("team named {:?}", t.name)
);

json_record!(
    TeamMembership,
    Kind::Membership,
    "team membership",
    |m| vec![
        term(
            Index::MembershipByUser,
            Key::new().u64(m.user.0).u64(m.team.0)
        ),
        term(
            Index::MembershipByTeam,
            Key::new().u64(m.team.0).u64(m.user.0)
        ),
    ],
    |m, _i| format!("membership of {} in {}", m.user, m.team)
);

json_record!(
    Product,
    Kind::Product,
    "product",
    |p| {
        let mut t = vec![term(
            Index::ProductName,
            Key::new().opt(p.team.map(|t| t.0)).str(&p.name),
        )];
        t.extend(
            p.imagesets
                .iter()
                .map(|s| term(Index::ProductBySet, Key::new().u64(s.0))),
        );
        t
    },
    |p, _i| format!("product named {:?} in this team", p.name)
);

json_record!(
    AnnotationType,
    Kind::AnnotationType,
    "annotation type",
    |a| vec![
        term(
            Index::TypeName,
            Key::new().opt(a.product.map(|p| p.0)).str(&a.name)
        ),
        term(Index::TypeByProduct, Key::new().opt(a.product.map(|p| p.0))),
    ],
    |a, _i| format!("annotation type named {:?} in this product", a.name)
);

json_record!(
    ImageSet,
    Kind::ImageSet,
    "image set",
    |s| vec![
        term(
            Index::SetName,
            Key::new().opt(s.team.map(|t| t.0)).str(&s.name)
        ),
        term(Index::SetByTeam, Key::new().opt(s.team.map(|t| t.0))),
    ],
    |s, _i| format!("image set named {:?} in this team", s.name)
);

json_record!(
    Image,
    Kind::Image,
    "image",
    // A deleted image gives its name back, so the file can be uploaded again.
    |i| {
        let mut terms = vec![term(Index::ImageBySet, Key::new().u64(i.image_set.0))];
        if !i.deleted {
            terms.push(term(
                Index::ImageName,
                Key::new().u64(i.image_set.0).str(&i.name),
            ));
        }
        terms
    },
    |i, _x| format!("image named {:?} in {}", i.name, i.image_set)
);

json_record!(
    SetTag,
    Kind::SetTag,
    "set tag",
    |t| {
        let mut v = vec![term(Index::TagName, Key::new().str(&t.name))];
        v.extend(
            t.imagesets
                .iter()
                .map(|s| term(Index::TagBySet, Key::new().u64(s.0))),
        );
        v
    },
    |t, _i| format!("set tag named {:?}", t.name)
);

json_record!(
    SetVersion,
    Kind::SetVersion,
    "set version",
    |t| {
        let mut v = vec![term(Index::VersionName, Key::new().str(&t.name))];
        v.extend(
            t.imagesets
                .iter()
                .map(|s| term(Index::VersionBySet, Key::new().u64(s.0))),
        );
        v
    },
    |t, _i| format!("set version named {:?}", t.name)
);

json_record!(
    AnnotationVersion,
    Kind::AnnotationVersion,
    "annotation version",
    |a| vec![term(
        Index::AnnotationVersionByVersion,
        Key::new().u64(a.version.0).u64(a.annotation.0)
    )],
    |a, _i| format!("{} in {}", a.annotation, a.version)
);

json_record!(
    Verification,
    Kind::Verification,
    "verification",
    |v| vec![
        term(
            Index::VerificationPair,
            Key::new().u64(v.annotation.0).u64(v.user.0)
        ),
        term(
            Index::VerificationByAnnotation,
            Key::new().u64(v.annotation.0)
        ),
    ],
    |v, _i| format!("verification of {} by {}", v.annotation, v.user)
);

json_record!(
    LogImageAction,
    Kind::LogImageAction,
    "log image action",
    |l| vec![term(Index::LogByImage, Key::new().u64(l.image.0))],
    |l, _i| format!("log entry {}", l.id.0)
);

json_record!(
    ScreeningMode,
    Kind::ScreeningMode,
    "screening mode",
    |s| vec![term(
        Index::ScreeningPair,
        Key::new().u64(s.image.0).u64(s.user.0)
    )],
    |s, _i| format!("screening mode of {} on {}", s.user, s.image)
);

json_record!(
    AnnotationMediaFile,
    Kind::MediaFile,
    "annotation media file",
    |m| vec![term(
        Index::MediaFileName,
        Key::new().u64(m.annotation.0).str(&m.name)
    )],
    |m, _i| format!("media file named {:?} on {}", m.name, m.annotation)
);

json_record!(
    ExportFormat,
    Kind::ExportFormat,
    "export format",
    |f| vec![term(Index::ExportFormatName, Key::new().str(&f.name))],
    |f, _i| format!("export format named {:?}", f.name)
);

json_record!(
    Export,
    Kind::Export,
    "export",
    |e| vec![term(Index::ExportBySet, Key::new().u64(e.image_set.0))],
    |e, _i| format!("export {}", e.id.0)
);

json_record!(
    Credential,
    Kind::Credential,
    "credential",
    |c| vec![term(Index::CredentialByUser, Key::new().u64(c.user.0))],
    |c, _i| format!("password of {}", c.user)
);

json_record!(
    AccessToken,
    Kind::AccessToken,
    "access token",
    |t| vec![
        term(Index::TokenDigest, Key::new().str(&t.digest)),
        term(Index::TokenByUser, Key::new().u64(t.user.0)),
    ],
    |t, _i| format!("access token {}", t.id.0)
);

/// The history entry of a change, as an index entry of the changed annotation: key =
/// `annotation | change id`, so an annotation's entries read back in order. Append-only.
pub fn change_entry(change: &AnnotationChange) -> EntryWrite {
    EntryWrite {
        index: Index::Changes,
        key: Key::new().u64(change.annotation.0).u64(change.id.0).build(),
        id: change.annotation.0,
        value: Some(codec::encode_change(change)),
        expect: Expect::Absent,
    }
}

/// Like [`change_entry`], storing only the fields the change altered (see
/// [`codec::encode_change_delta`]); `after` is the state the change produced.
pub fn change_entry_after(change: &AnnotationChange, after: &Annotation) -> EntryWrite {
    EntryWrite {
        value: Some(codec::encode_change_delta(change, after)),
        ..change_entry(change)
    }
}
