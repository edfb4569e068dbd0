//! Image registrations (EXACT's `ImageRegistration`): a homography mapping level-0 pixel
//! coordinates of a source image onto a target image (e.g. an H&E slide onto its IHC
//! neighbour), with the estimate's error and runtime.

use crate::ids::{ImageId, RegistrationId, UserId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A 3 × 3 homography, row-major; serialized as EXACT does: `{"t_00": …, …, "t_22": …}`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Homography(pub [f64; 9]);

impl Homography {
    /// The identity.
    pub const IDENTITY: Homography = Homography([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);

    /// EXACT's key of entry (`row`, `col`).
    pub fn key(row: usize, col: usize) -> String {
        format!("t_{row}{col}")
    }

    /// The determinant.
    pub fn det(&self) -> f64 {
        let m = &self.0;
        m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6])
            + m[2] * (m[3] * m[7] - m[4] * m[6])
    }

    /// The inverse, or `None` when the matrix is singular (or not finite).
    pub fn inverse(&self) -> Option<Homography> {
        let m = &self.0;
        let d = self.det();
        if !d.is_finite() || d.abs() < 1e-12 {
            return None;
        }
        let inv = [
            (m[4] * m[8] - m[5] * m[7]) / d,
            (m[2] * m[7] - m[1] * m[8]) / d,
            (m[1] * m[5] - m[2] * m[4]) / d,
            (m[5] * m[6] - m[3] * m[8]) / d,
            (m[0] * m[8] - m[2] * m[6]) / d,
            (m[2] * m[3] - m[0] * m[5]) / d,
            (m[3] * m[7] - m[4] * m[6]) / d,
            (m[1] * m[6] - m[0] * m[7]) / d,
            (m[0] * m[4] - m[1] * m[3]) / d,
        ];
        inv.iter().all(|v| v.is_finite()).then_some(Homography(inv))
    }

    /// Where `(x, y)` goes, or `None` where the projection has no finite image (a point on
    /// the homography's line at infinity).
    pub fn apply(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let m = &self.0;
        let w = m[6] * x + m[7] * y + m[8];
        if !w.is_finite() || w.abs() < 1e-12 {
            return None;
        }
        let (px, py) = (
            (m[0] * x + m[1] * y + m[2]) / w,
            (m[3] * x + m[4] * y + m[5]) / w,
        );
        (px.is_finite() && py.is_finite()).then_some((px, py))
    }
}

impl Serialize for Homography {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = BTreeMap::new();
        for r in 0..3 {
            for c in 0..3 {
                m.insert(Homography::key(r, c), self.0[r * 3 + c]);
            }
        }
        m.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Homography {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = BTreeMap::<String, f64>::deserialize(d)?;
        let mut out = [0.0; 9];
        for r in 0..3 {
            for c in 0..3 {
                let k = Homography::key(r, c);
                out[r * 3 + c] = *m
                    .get(&k)
                    .ok_or_else(|| serde::de::Error::custom(format!("missing {k}")))?;
            }
        }
        Ok(Homography(out))
    }
}

/// A registration of `source_image` onto `target_image`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRegistration {
    /// Id.
    pub id: RegistrationId,
    /// The image whose coordinates are mapped.
    pub source_image: ImageId,
    /// The image they are mapped onto.
    pub target_image: ImageId,
    /// Source → target, level-0 pixels.
    pub transformation_matrix: Homography,
    /// The estimate's error (EXACT: -1 = unknown).
    pub registration_error: f64,
    /// Seconds the estimate took (EXACT: -1 = unknown).
    pub runtime: f64,
    /// Who stored it.
    #[serde(default)]
    pub creator: Option<UserId>,
    /// When it was stored or last changed.
    pub time: Timestamp,
}
