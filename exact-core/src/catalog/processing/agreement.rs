//! Agreement statistics (issue 16): how well each annotator — a user, or a model through its
//! proposals — agrees with the humans, or with one chosen reference user, on an image or a
//! whole set.
//!
//! Objects are matched one-to-one, greedily by best score: boxes and polygons by
//! intersection over union (≥ `iou`, default 0.5), points by centre distance (≤ `distance`,
//! default half the reference annotation's type's `default_width`). Only objects on the same
//! frame match; lines, multi-lines and global labels are not compared. A match is a true
//! positive whatever the two classes are; Cohen's kappa then measures how well the classes
//! of the matched pairs agree.
//!
//! Without a reference user every human is a reference on the images they annotated (an
//! image a human never touched counts neither for nor against anyone there); with one, on
//! every image.
//!
//! An annotation is a model's when its `meta_data` says `generated: true` or names a `model`
//! (accepted proposals keep the name): its annotator is `model:<name>`. Every other
//! annotation is its creator's.

use super::*;
use crate::model::{Annotation, AnnotationType, User, VectorType};
use crate::vector::Point;
use serde::Serialize;

/// What to compare, and how.
#[derive(Debug, Clone)]
pub struct AgreementOptions {
    /// Boxes and polygons match when their intersection over union is at least this (0–1].
    pub iou: f64,
    /// Points match when their centres are at most this far apart (level-0 pixels); `None`:
    /// half the reference annotation's type's default width.
    pub distance: Option<f64>,
    /// Compare everyone with this user only; `None`: with every human annotator.
    pub reference: Option<UserId>,
}

impl Default for AgreementOptions {
    fn default() -> Self {
        AgreementOptions {
            iou: 0.5,
            distance: None,
            reference: None,
        }
    }
}

/// One annotator compared with one reference, over the images asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairAgreement {
    /// The annotator: a username, or `model:<name>`.
    pub annotator: String,
    /// Whether the annotator is a model.
    pub model: bool,
    /// The reference user's username.
    pub reference: String,
    /// The annotator's objects matched to a reference object.
    pub true_positives: u64,
    /// The annotator's objects without a match.
    pub false_positives: u64,
    /// The reference's objects without a match.
    pub false_negatives: u64,
    /// TP / (TP + FP); `None` when the annotator has no objects.
    pub precision: Option<f64>,
    /// TP / (TP + FN); `None` when the reference has no objects.
    pub recall: Option<f64>,
    /// 2 TP / (2 TP + FP + FN); `None` when neither has objects.
    pub f1: Option<f64>,
    /// Cohen's kappa of the classes of the matched pairs; `None` without matches or when
    /// chance agreement is total (one class only on both sides).
    pub kappa: Option<f64>,
}

/// The agreement report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agreement {
    /// The images compared.
    pub images: u64,
    /// The IoU threshold used.
    pub iou: f64,
    /// The point distance used, when one was given.
    pub distance: Option<f64>,
    /// The reference user, when one was given.
    pub reference: Option<String>,
    /// Every annotator against every reference (never against itself), sorted by annotator
    /// then reference.
    pub pairs: Vec<PairAgreement>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Who {
    User(UserId),
    Model(String),
}

/// An object as matching sees it.
#[derive(Debug, Clone)]
struct Obj2 {
    class: AnnotationTypeId,
    frame: Option<u32>,
    shape: Shape,
    /// Half the default width of its type (points' matching distance as a reference).
    radius: f64,
}

#[derive(Debug, Clone)]
enum Shape {
    Region {
        ring: Vec<Point>,
        area: f64,
        bbox: crate::geometry::BBox,
    },
    Point(Point),
}

fn who(a: &Annotation) -> Option<Who> {
    let m = &a.meta_data;
    let generated = m.get("generated").and_then(Value::as_bool) == Some(true);
    let model = m.get("model").and_then(Value::as_str);
    if generated || model.is_some() {
        return Some(Who::Model(model.unwrap_or("model").to_owned()));
    }
    a.user.map(Who::User)
}

fn object(a: &Annotation, ty: &AnnotationType) -> Option<Obj2> {
    let v = a.vector.as_ref()?;
    let bbox = v.bbox()?;
    let shape = match ty.vector_type {
        VectorType::BoundingBox | VectorType::FixedSizeBoundingBox => Shape::Region {
            ring: vec![
                Point::new(bbox.min_x, bbox.min_y),
                Point::new(bbox.max_x, bbox.min_y),
                Point::new(bbox.max_x, bbox.max_y),
                Point::new(bbox.min_x, bbox.max_y),
            ],
            area: bbox.width() * bbox.height(),
            bbox,
        },
        VectorType::Polygon if v.points.len() >= 3 => Shape::Region {
            area: crate::geometry::polygon_area(&v.points),
            ring: v.points.clone(),
            bbox,
        },
        VectorType::Point => Shape::Point(bbox.centre()),
        _ => return None,
    };
    Some(Obj2 {
        class: a.annotation_type,
        frame: v.frame,
        shape,
        radius: f64::from(ty.default_width) / 2.0,
    })
}

/// The cross-section of a polygon (even-odd rule) at height `y`: sorted interval ends.
fn crossings(ring: &[Point], y: f64, out: &mut Vec<f64>) {
    out.clear();
    for (i, p) in ring.iter().enumerate() {
        let q = ring[(i + 1) % ring.len()];
        if (p.y > y) != (q.y > y) {
            out.push(p.x + (y - p.y) * (q.x - p.x) / (q.y - p.y));
        }
    }
    out.sort_by(f64::total_cmp);
}

/// Length of the overlap of two sorted interval lists `[a0, a1, a2, a3, …]`.
fn overlap(a: &[f64], b: &[f64]) -> f64 {
    let (mut i, mut j, mut len) = (0, 0, 0.0);
    while i + 1 < a.len() && j + 1 < b.len() {
        let lo = a[i].max(b[j]);
        let hi = a[i + 1].min(b[j + 1]);
        if hi > lo {
            len += hi - lo;
        }
        if a[i + 1] < b[j + 1] {
            i += 2;
        } else {
            j += 2;
        }
    }
    len
}

/// Polygons with more nodes than this together are measured on [`COARSE_STRIPS`] strips.
const EXACT_NODES: usize = 4_000;
const COARSE_STRIPS: usize = 512;

/// The area of the intersection of two polygons (even-odd rule). Between consecutive
/// heights where a node lies or two edges cross, both cross-sections change linearly, so
/// the overlap's length at the strip's middle times its height is exact there. Polygons
/// with more than [`EXACT_NODES`] nodes together are measured on a fixed number of strips
/// (approximate), which bounds the work.
fn intersection_area(a: &[Point], b: &[Point], lo: f64, hi: f64) -> f64 {
    let mut ys: Vec<f64> = Vec::new();
    if a.len() + b.len() <= EXACT_NODES {
        ys.extend(
            a.iter()
                .chain(b)
                .map(|p| p.y)
                .filter(|y| *y > lo && *y < hi),
        );
        for (i, p) in a.iter().enumerate() {
            let q = a[(i + 1) % a.len()];
            for (j, r) in b.iter().enumerate() {
                let s = b[(j + 1) % b.len()];
                if let Some(y) = cross_y(*p, q, *r, s).filter(|y| *y > lo && *y < hi) {
                    ys.push(y);
                }
            }
        }
    } else {
        let step = (hi - lo) / COARSE_STRIPS as f64;
        ys.extend((1..COARSE_STRIPS).map(|k| lo + step * k as f64));
    }
    ys.push(lo);
    ys.push(hi);
    ys.sort_by(f64::total_cmp);
    ys.dedup();
    let (mut xa, mut xb) = (Vec::new(), Vec::new());
    let mut area = 0.0;
    for w in ys.windows(2) {
        let mid = (w[0] + w[1]) / 2.0;
        crossings(a, mid, &mut xa);
        crossings(b, mid, &mut xb);
        area += overlap(&xa, &xb) * (w[1] - w[0]);
    }
    area
}

/// The height at which segments `p–q` and `r–s` cross, if they properly do.
fn cross_y(p: Point, q: Point, r: Point, s: Point) -> Option<f64> {
    let d = (q.x - p.x) * (s.y - r.y) - (q.y - p.y) * (s.x - r.x);
    if d == 0.0 {
        return None;
    }
    let t = ((r.x - p.x) * (s.y - r.y) - (r.y - p.y) * (s.x - r.x)) / d;
    let u = ((r.x - p.x) * (q.y - p.y) - (r.y - p.y) * (q.x - p.x)) / d;
    ((0.0..=1.0).contains(&t) && (0.0..=1.0).contains(&u)).then_some(p.y + t * (q.y - p.y))
}

/// How well `a` matches reference object `r`: a score to sort by (higher is better), or
/// `None` when they do not match.
fn match_score(a: &Obj2, r: &Obj2, opt: &AgreementOptions) -> Option<f64> {
    if a.frame != r.frame {
        return None;
    }
    match (&a.shape, &r.shape) {
        (
            Shape::Region {
                ring: ra,
                area: aa,
                bbox: ba,
            },
            Shape::Region {
                ring: rb,
                area: ab,
                bbox: bb,
            },
        ) => {
            let lo = ba.min_y.max(bb.min_y);
            let hi = ba.max_y.min(bb.max_y);
            if !ba.intersects(bb) || hi <= lo {
                return None;
            }
            let inter = intersection_area(ra, rb, lo, hi);
            let union = aa + ab - inter;
            let iou = if union > 0.0 { inter / union } else { 0.0 };
            (iou > 0.0 && iou >= opt.iou).then_some(iou)
        }
        (Shape::Point(p), Shape::Point(q)) => {
            let d = (p.x - q.x).hypot(p.y - q.y);
            let max = opt.distance.unwrap_or(r.radius);
            (d <= max).then_some(-d)
        }
        _ => None,
    }
}

/// Greedy one-to-one matching by best score: the matched `(annotator, reference)` index
/// pairs.
fn greedy(a: &[Obj2], r: &[Obj2], opt: &AgreementOptions) -> Vec<(usize, usize)> {
    // Reference objects by the left edge of their box, so each annotator object only looks
    // at those that can reach it.
    let left = |o: &Obj2| match &o.shape {
        Shape::Region { bbox, .. } => (bbox.min_x, bbox.max_x),
        Shape::Point(p) => (p.x, p.x),
    };
    let mut order: Vec<usize> = (0..r.len()).collect();
    order.sort_by(|x, y| left(&r[*x]).0.total_cmp(&left(&r[*y]).0));
    let starts: Vec<f64> = order.iter().map(|i| left(&r[*i]).0).collect();
    let reach = r
        .iter()
        .map(|o| {
            let (x0, x1) = left(o);
            (x1 - x0).max(opt.distance.unwrap_or(o.radius))
        })
        .fold(0.0f64, f64::max);
    let mut cands = Vec::new();
    for (i, o) in a.iter().enumerate() {
        let (x0, x1) = left(o);
        let from = starts.partition_point(|s| *s < x0 - reach);
        let to = starts.partition_point(|s| *s <= x1 + reach);
        for k in &order[from..to] {
            if let Some(s) = match_score(o, &r[*k], opt) {
                cands.push((s, i, *k));
            }
        }
    }
    cands.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    let (mut used_a, mut used_r) = (vec![false; a.len()], vec![false; r.len()]);
    let mut out = Vec::new();
    for (_, i, k) in cands {
        if !used_a[i] && !used_r[k] {
            used_a[i] = true;
            used_r[k] = true;
            out.push((i, k));
        }
    }
    out
}

/// Sums over images for one (annotator, reference) pair.
#[derive(Debug, Default, Clone)]
struct Tally {
    tp: u64,
    fp: u64,
    fn_: u64,
    classes: Vec<(AnnotationTypeId, AnnotationTypeId)>,
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// Cohen's kappa of paired labels; `None` without pairs or when chance agreement is 1.
pub(crate) fn cohen_kappa<T: Ord + Clone>(pairs: &[(T, T)]) -> Option<f64> {
    if pairs.is_empty() {
        return None;
    }
    let n = pairs.len() as f64;
    let mut rows: BTreeMap<T, f64> = BTreeMap::new();
    let mut cols: BTreeMap<T, f64> = BTreeMap::new();
    let mut agree = 0.0;
    for (a, b) in pairs {
        *rows.entry(a.clone()).or_default() += 1.0;
        *cols.entry(b.clone()).or_default() += 1.0;
        if a == b {
            agree += 1.0;
        }
    }
    let po = agree / n;
    let pe: f64 = rows
        .iter()
        .map(|(k, r)| r / n * cols.get(k).copied().unwrap_or(0.0) / n)
        .sum();
    (pe < 1.0).then(|| (po - pe) / (1.0 - pe))
}

/// Most objects one agreement run compares (all images together), bounding its memory.
pub const MAX_AGREEMENT_OBJECTS: usize = 2_000_000;

impl Processing<'_> {
    /// Agreement statistics over `image` (when given, which must be in `set`), or over every
    /// image of `set`, as the actor sees its annotations (read rights on the set required).
    pub fn agreement(
        &self,
        actor: &Actor,
        set: ImageSetId,
        image: Option<ImageId>,
        opt: &AgreementOptions,
    ) -> Result<Agreement> {
        if !(opt.iou > 0.0 && opt.iou <= 1.0) {
            return Err(Error::invalid("iou", "must be above 0 and at most 1"));
        }
        if opt.distance.is_some_and(|d| !(d.is_finite() && d >= 0.0)) {
            return Err(Error::invalid("distance", "must be a number ≥ 0"));
        }
        let images = match image {
            Some(i) => {
                let (img, _, _) = self.0.readable_image(actor, i)?;
                if img.image_set != set {
                    return Err(Error::invalid("image", format!("{i} is not in {set}")));
                }
                vec![i]
            }
            None => self.images_of_set(actor, set)?,
        };
        let reference_name = match opt.reference {
            Some(u) => Some(
                self.0
                    .find::<User>(u.0)?
                    .ok_or_else(|| Error::invalid("reference", format!("no {u}")))?
                    .username,
            ),
            None => None,
        };
        let mut types: BTreeMap<AnnotationTypeId, Option<AnnotationType>> = BTreeMap::new();
        let mut tallies: BTreeMap<(Who, UserId), Tally> = BTreeMap::new();
        let mut seen = 0usize;
        let query = crate::catalog::AnnotationQuery::default();
        for img in &images {
            let mut by: BTreeMap<Who, Vec<Obj2>> = BTreeMap::new();
            for a in self.0.annotations().query(actor, *img, &query)? {
                let Some(w) = who(&a) else { continue };
                if let std::collections::btree_map::Entry::Vacant(e) =
                    types.entry(a.annotation_type)
                {
                    e.insert(self.0.find::<AnnotationType>(a.annotation_type.0)?);
                }
                let Some(Some(ty)) = types.get(&a.annotation_type) else {
                    continue;
                };
                if let Some(o) = object(&a, ty) {
                    seen += 1;
                    if seen > MAX_AGREEMENT_OBJECTS {
                        return Err(Error::invalid(
                            "image_set",
                            format!(
                                "more than {MAX_AGREEMENT_OBJECTS} objects: ask per image instead"
                            ),
                        ));
                    }
                    by.entry(w).or_default().push(o);
                }
            }
            let refs: Vec<UserId> = match opt.reference {
                Some(u) => vec![u],
                None => by
                    .keys()
                    .filter_map(|w| match w {
                        Who::User(u) => Some(*u),
                        Who::Model(_) => None,
                    })
                    .collect(),
            };
            let empty = Vec::new();
            for r in &refs {
                let robjs = by.get(&Who::User(*r)).unwrap_or(&empty);
                for (w, aobjs) in &by {
                    if *w == Who::User(*r) {
                        continue;
                    }
                    let m = greedy(aobjs, robjs, opt);
                    let t = tallies.entry((w.clone(), *r)).or_default();
                    t.tp += m.len() as u64;
                    t.fp += (aobjs.len() - m.len()) as u64;
                    t.fn_ += (robjs.len() - m.len()) as u64;
                    t.classes
                        .extend(m.iter().map(|(i, k)| (aobjs[*i].class, robjs[*k].class)));
                }
            }
        }
        let mut names: BTreeMap<UserId, String> = BTreeMap::new();
        let mut name_of = |u: UserId| -> Result<String> {
            if let Some(n) = names.get(&u) {
                return Ok(n.clone());
            }
            let n = self
                .0
                .find::<User>(u.0)?
                .map(|x| x.username)
                .unwrap_or_else(|| u.to_string());
            names.insert(u, n.clone());
            Ok(n)
        };
        let mut pairs = Vec::new();
        for ((w, r), t) in tallies {
            let (annotator, model) = match &w {
                Who::User(u) => (name_of(*u)?, false),
                Who::Model(m) => (format!("model:{m}"), true),
            };
            pairs.push(PairAgreement {
                annotator,
                model,
                reference: name_of(r)?,
                true_positives: t.tp,
                false_positives: t.fp,
                false_negatives: t.fn_,
                precision: ratio(t.tp, t.tp + t.fp),
                recall: ratio(t.tp, t.tp + t.fn_),
                f1: ratio(2 * t.tp, 2 * t.tp + t.fp + t.fn_),
                kappa: cohen_kappa(&t.classes),
            });
        }
        pairs.sort_by(|a, b| {
            (a.annotator.as_str(), a.reference.as_str())
                .cmp(&(b.annotator.as_str(), b.reference.as_str()))
        });
        Ok(Agreement {
            images: images.len() as u64,
            iou: opt.iou,
            distance: opt.distance,
            reference: reference_name,
            pairs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(points: &[(f64, f64)]) -> Vec<Point> {
        points.iter().map(|(x, y)| Point::new(*x, *y)).collect()
    }

    fn iou(a: &[(f64, f64)], b: &[(f64, f64)]) -> f64 {
        let (a, b) = (ring(a), ring(b));
        let inter = intersection_area(&a, &b, -1e9, 1e9);
        inter / (crate::geometry::polygon_area(&a) + crate::geometry::polygon_area(&b) - inter)
    }

    const SQUARE: [(f64, f64); 4] = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)];

    #[test]
    fn intersection_over_union_by_hand() {
        // Half-shifted square: 50 shared of 150.
        let shifted = [(5.0, 0.0), (15.0, 0.0), (15.0, 10.0), (5.0, 10.0)];
        assert!((iou(&SQUARE, &shifted) - 1.0 / 3.0).abs() < 1e-12);
        // A triangle covering half the square: 50 of 100.
        let tri = [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)];
        assert!((iou(&SQUARE, &tri) - 0.5).abs() < 1e-12);
        // The diamond |x-5| + |y-5| <= 7 (area 98) cuts four corner triangles of 4.5 off the
        // square: 82 shared, union 116. Edges cross between nodes here.
        let diamond = [(5.0, -2.0), (12.0, 5.0), (5.0, 12.0), (-2.0, 5.0)];
        assert!((iou(&SQUARE, &diamond) - 82.0 / 116.0).abs() < 1e-12);
        // Disjoint.
        let far = [(20.0, 0.0), (30.0, 0.0), (30.0, 10.0), (20.0, 10.0)];
        assert_eq!(iou(&SQUARE, &far), 0.0);
    }

    #[test]
    fn kappa_by_hand() {
        // po = 3/4; pe = 3/4 * 2/4 + 1/4 * 2/4 = 1/2; kappa = (3/4 - 1/2) / (1/2) = 1/2.
        let pairs = [('a', 'a'), ('a', 'a'), ('a', 'b'), ('b', 'b')];
        assert_eq!(cohen_kappa(&pairs), Some(0.5));
        assert_eq!(
            cohen_kappa(&[('a', 'a'), ('a', 'a')]),
            None,
            "one class only"
        );
        assert_eq!(cohen_kappa::<char>(&[]), None);
    }
}
