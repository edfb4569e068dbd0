//! SlideRunner's SQLite databases, both schemas: the older one (`Annotations` with `slide`,
//! `type`, `agreedClass`; `Annotations_coordinates` with `orderIdx`; `Annotations_label` per
//! person; `Classes`; `Persons`; `Slides` with `filename`, `width`/`height` that may be NULL)
//! and the current one (plus `guid`, `deleted`, `lastModified`, `description`).
//!
//! SlideRunner's types map onto ours: spot (1) and special spot (4) → point (the type's default
//! size), area (2) → box, polygon (3) → polygon, circle (5) → point (its circle's box), image
//! annotation (6) → global. The agreed class is the type (`unclassified` when there is none:
//! such annotations are kept); every person's label is kept in `meta_data.sliderunner.labels`,
//! GUIDs become UUIDs, `coordinateZ` > 0 the frame. Slides are matched by file name, then stem.
//! Exports write the current schema, which SlideRunner opens.

use crate::export::{Head, Row, Sink};
use crate::item::{Item, ResumeAt, Shape};
use exact_core::model::VectorType;
use exact_core::vector::Point;
use exact_core::{Error, Result, Timestamp};
use rusqlite::{Connection, OpenFlags, params};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::io::{Read, Write};
use uuid::Uuid;

/// The first bytes of every SQLite database.
pub const MAGIC: &[u8] = b"SQLite format 3\0";

/// The class name of annotations without an agreed class.
pub const UNCLASSIFIED: &str = "unclassified";

fn db_err(e: rusqlite::Error) -> Error {
    Error::invalid("SlideRunner database", e.to_string())
}

fn columns(db: &Connection, table: &str) -> Result<Vec<String>> {
    let mut st = db
        .prepare(&format!("PRAGMA table_info(`{table}`)"))
        .map_err(db_err)?;
    let cols = st
        .query_map([], |r| r.get::<_, String>(1))
        .map_err(db_err)?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(db_err)?;
    Ok(cols)
}

/// The name of a full (not partial) index of `Annotations_coordinates` whose first column is
/// `annoId`, if the database has one.
fn annoid_index(db: &Connection) -> Result<Option<String>> {
    let mut st = db
        .prepare(
            "SELECT il.name FROM pragma_index_list('Annotations_coordinates') il \
             JOIN pragma_index_info(il.name) ii \
             WHERE il.partial = 0 AND ii.seqno = 0 AND ii.name = 'annoId' COLLATE NOCASE ORDER BY il.name",
        )
        .map_err(db_err)?;
    let mut rows = st.query([]).map_err(db_err)?;
    match rows.next().map_err(db_err)? {
        Some(r) => Ok(Some(r.get(0).map_err(db_err)?)),
        None => Ok(None),
    }
}

type CoordRow = (i64, f64, f64, Option<i64>);

fn coord_row(r: Option<&rusqlite::Row>) -> Result<Option<CoordRow>> {
    let Some(r) = r else { return Ok(None) };
    Ok(Some((
        r.get(0).map_err(db_err)?,
        r.get(1).map_err(db_err)?,
        r.get(2).map_err(db_err)?,
        r.get(3).map_err(db_err)?,
    )))
}

type LabelRow = (i64, Option<i64>, Option<i64>);

fn label_row(r: Option<&rusqlite::Row>) -> Result<Option<LabelRow>> {
    let Some(r) = r else { return Ok(None) };
    Ok(Some((
        r.get(0).map_err(db_err)?,
        r.get(1).map_err(db_err)?,
        r.get(2).map_err(db_err)?,
    )))
}

/// Reads a SlideRunner database (spooled to a temporary file first) and gives its annotations
/// to `f`, slide by slide. A SQLite file without SlideRunner's tables is refused naming the
/// missing table or column.
pub fn read(r: impl Read, f: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
    read_from(r, None, f)
}

/// [`read`], or with `at` (a [`ResumeAt::SlideRunner`] an earlier read of the same database
/// put on an item) only the annotations from that one on: later slides whole, and of `at`'s
/// slide the annotations from its uid on (slides and annotations are read in uid order).
pub fn read_from(
    mut r: impl Read,
    at: Option<ResumeAt>,
    f: &mut dyn FnMut(Item) -> Result<()>,
) -> Result<()> {
    let (from_slide, from_uid, mut row) = match at {
        None => (i64::MIN, i64::MIN, 0u64),
        Some(ResumeAt::SlideRunner { slide, uid, row }) => (slide, uid, row),
        Some(other) => {
            return Err(Error::invalid(
                "resume",
                format!(
                    "a SlideRunner database cannot be read on from {}",
                    other.describe()
                ),
            ));
        }
    };
    let mut tmp = tempfile::NamedTempFile::new().map_err(|e| Error::backend("import spool", e))?;
    std::io::copy(&mut r, &mut tmp).map_err(|e| Error::backend("import spool", e))?;
    // The copy is ours alone, so it is opened for writing (to add indexes, below) and
    // without SQLite's mutex, as rusqlite's default flags have it (a `Connection` is never
    // shared between threads; with the mutex every column read took a lock).
    let db = Connection::open_with_flags(
        tmp.path(),
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db_err)?;
    // Nothing to keep safe across a crash: the file is deleted with the import.
    db.execute_batch("PRAGMA synchronous = OFF")
        .map_err(db_err)?;
    let need: [(&str, &[&str]); 4] = [
        ("Annotations", &["uid", "slide", "type", "agreedClass"]),
        (
            "Annotations_coordinates",
            &["coordinateX", "coordinateY", "annoId", "orderIdx"],
        ),
        ("Classes", &["uid", "name"]),
        ("Slides", &["uid", "filename"]),
    ];
    let mut has: HashMap<&str, Vec<String>> = HashMap::new();
    for (table, cols) in need {
        let got = columns(&db, table)?;
        if got.is_empty() {
            return Err(Error::invalid(
                "SlideRunner database",
                format!("no table {table}: this SQLite file is not a SlideRunner database"),
            ));
        }
        if let Some(c) = cols.iter().find(|c| !got.iter().any(|g| g == *c)) {
            return Err(Error::invalid(
                "SlideRunner database",
                format!("table {table} has no column {c}: not a SlideRunner database"),
            ));
        }
        has.insert(table, got);
    }
    let acols = &has["Annotations"];
    let current = ["guid", "deleted", "lastModified", "description"]
        .iter()
        .all(|c| acols.iter().any(|g| g == c));
    let zcol = columns(&db, "Annotations_coordinates")?
        .iter()
        .any(|c| c == "coordinateZ");
    let class_cols = &has["Classes"];
    let colour = class_cols.iter().any(|c| c == "color");
    let classes: HashMap<i64, (String, Option<String>)> = {
        let sql = if colour {
            "SELECT uid, name, color FROM Classes"
        } else {
            "SELECT uid, name, NULL FROM Classes"
        };
        let mut st = db.prepare(sql).map_err(db_err)?;
        st.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                (
                    r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    r.get::<_, Option<String>>(2)?,
                ),
            ))
        })
        .map_err(db_err)?
        .collect::<std::result::Result<_, _>>()
        .map_err(db_err)?
    };
    let persons: HashMap<i64, String> = if columns(&db, "Persons")?.is_empty() {
        HashMap::new()
    } else {
        let mut st = db
            .prepare("SELECT uid, name FROM Persons")
            .map_err(db_err)?;
        st.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            ))
        })
        .map_err(db_err)?
        .collect::<std::result::Result<_, _>>()
        .map_err(db_err)?
    };
    let labels_exist = !columns(&db, "Annotations_label")?.is_empty();
    let slides: Vec<(i64, String)> = {
        let mut st = db
            .prepare("SELECT uid, filename FROM Slides ORDER BY uid")
            .map_err(db_err)?;
        st.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            ))
        })
        .map_err(db_err)?
        .collect::<std::result::Result<_, _>>()
        .map_err(db_err)?
    };
    let ann_sql = if current {
        "SELECT uid, type, agreedClass, guid, deleted, lastModified, description FROM Annotations WHERE slide = ?1 AND uid >= ?2 ORDER BY uid"
    } else {
        "SELECT uid, type, agreedClass, NULL, 0, NULL, NULL FROM Annotations WHERE slide = ?1 AND uid >= ?2 ORDER BY uid"
    };
    // Coordinates and labels are walked beside the annotations through an index on `annoId`
    // each, read in step by a join (no sort but the few nodes of one annotation). Sorting
    // a whole table instead (`annoId IN (...) ORDER BY annoId`) spilled to temporary files,
    // and with two such cursors open SQLite read the same index pages back for every row
    // (1M annotations: 2M reads, half the import). Databases without an index on
    // `Annotations_coordinates.annoId` get one, and the labels (SlideRunner indexes no
    // `annoId` there) a covering one: a quarter of a second per million rows, bounded memory.
    let coord_index = match annoid_index(&db)? {
        Some(name) => name,
        None => {
            db.execute_batch(
                "CREATE INDEX IF NOT EXISTS exact_rs_coordinates ON Annotations_coordinates (annoId, orderIdx)",
            )
            .map_err(db_err)?;
            "exact_rs_coordinates".to_owned()
        }
    };
    let coord_sql = format!(
        "SELECT c.annoId, c.coordinateX, c.coordinateY, {} FROM Annotations a JOIN Annotations_coordinates c INDEXED BY \"{}\" ON c.annoId = a.uid WHERE a.slide = ?1 AND a.uid >= ?2 ORDER BY a.uid, c.orderIdx",
        if zcol { "c.coordinateZ" } else { "0" },
        coord_index.replace('"', "\"\"")
    );
    let mut ann_st = db.prepare(ann_sql).map_err(db_err)?;
    let mut coord_st = db.prepare(&coord_sql).map_err(db_err)?;
    let mut label_st = if labels_exist {
        db.execute_batch(
            "CREATE INDEX IF NOT EXISTS exact_rs_labels ON Annotations_label (annoId, uid, person, class)",
        )
        .map_err(db_err)?;
        Some(
            db.prepare("SELECT l.annoId, l.person, l.class FROM Annotations a JOIN Annotations_label l INDEXED BY exact_rs_labels ON l.annoId = a.uid WHERE a.slide = ?1 AND a.uid >= ?2 ORDER BY a.uid, l.uid")
                .map_err(db_err)?,
        )
    } else {
        None
    };
    for (slide, filename) in slides.into_iter().filter(|(s, _)| *s >= from_slide) {
        let min_uid = if slide == from_slide {
            from_uid
        } else {
            i64::MIN
        };
        // Annotations, their coordinates and their labels, each ordered by annotation, are
        // walked side by side (a merge join): one annotation's rows are in memory at a time,
        // whatever the database's size.
        let mut coord_rows = coord_st.query(params![slide, min_uid]).map_err(db_err)?;
        let mut next_coord = coord_row(coord_rows.next().map_err(db_err)?)?;
        let mut label_rows = match label_st.as_mut() {
            Some(st) => Some(st.query(params![slide, min_uid]).map_err(db_err)?),
            None => None,
        };
        let mut next_label = match label_rows.as_mut() {
            Some(rows) => label_row(rows.next().map_err(db_err)?)?,
            None => None,
        };
        let mut rows = ann_st.query(params![slide, min_uid]).map_err(db_err)?;
        while let Some(r) = rows.next().map_err(db_err)? {
            let uid: i64 = r.get(0).map_err(db_err)?;
            // The place is written out again only for a refusal, not copied for every row.
            let bad = |reason: String| Error::invalid(format!("annotation uid {uid}"), reason);
            let kind: Option<i64> = r.get(1).map_err(db_err)?;
            let agreed: Option<i64> = r.get(2).map_err(db_err)?;
            let guid: Option<String> = r.get(3).map_err(db_err)?;
            let deleted: Option<i64> = r.get(4).map_err(db_err)?;
            let modified: Option<f64> = r.get(5).map_err(db_err)?;
            let description: Option<String> = r.get(6).map_err(db_err)?;
            let (class, colour) = match agreed.filter(|c| *c > 0) {
                Some(c) => classes
                    .get(&c)
                    .cloned()
                    .ok_or_else(|| bad(format!("agreedClass {c} is not in Classes")))?,
                None => (UNCLASSIFIED.to_owned(), None),
            };
            let mut item = Item::new(format!("annotation uid {uid}"), class);
            item.resume = Some(ResumeAt::SlideRunner { slide, uid, row });
            row += 1;
            item.image = Some(filename.clone());
            item.color = colour.map(|c| c.to_ascii_uppercase());
            item.deleted = deleted.unwrap_or(0) != 0;
            item.description = description.unwrap_or_default();
            if let Some(g) = guid.filter(|g| !g.is_empty()) {
                match Uuid::parse_str(&g) {
                    Ok(u) => item.uuid = Some(u),
                    Err(_) => return Err(bad(format!("guid {g:?} is not a UUID"))),
                }
            }
            if let Some(t) = modified.filter(|t| t.is_finite() && *t > 0.0 && *t < 1.0e11) {
                let ts = Timestamp::from_micros((t * 1.0e6).round() as i64);
                item.time = Some(ts);
                item.last_edit_time = Some(ts);
            }
            let mut pts: Vec<Point> = Vec::new();
            let mut z = 0;
            while let Some((id, x, y, zz)) = next_coord {
                if id > uid {
                    break;
                }
                if id == uid {
                    if pts.len() >= exact_core::vector::MAX_NODES {
                        return Err(bad(format!(
                            "more than {} coordinates",
                            exact_core::vector::MAX_NODES
                        )));
                    }
                    if pts.is_empty() {
                        z = zz.unwrap_or(0);
                    }
                    pts.push(Point::new(x, y));
                }
                next_coord = coord_row(coord_rows.next().map_err(db_err)?)?;
            }
            let mut l: Vec<Value> = Vec::new();
            while let Some((id, person, class)) = next_label {
                if id > uid {
                    break;
                }
                if id == uid {
                    // Built as a map directly: `json!` went through serde's `to_value`.
                    let name =
                        |v: Option<&String>| v.map_or(Value::Null, |n| Value::from(n.as_str()));
                    let mut label = Map::new();
                    label.insert("person".into(), name(person.and_then(|p| persons.get(&p))));
                    label.insert(
                        "class".into(),
                        name(class.and_then(|c| classes.get(&c)).map(|c| &c.0)),
                    );
                    l.push(Value::Object(label));
                }
                next_label = match label_rows.as_mut() {
                    Some(rows) => label_row(rows.next().map_err(db_err)?)?,
                    None => None,
                };
            }
            if z > 0 {
                item.frame = u32::try_from(z + 1).ok();
            }
            let need = |n: usize| {
                if pts.len() < n {
                    Err(bad(format!(
                        "type {} needs {n} coordinates, has {}",
                        kind.unwrap_or(0),
                        pts.len()
                    )))
                } else {
                    Ok(())
                }
            };
            let mut sr = Map::new();
            match kind.unwrap_or(0) {
                t @ (1 | 4) => {
                    need(1)?;
                    item.shape = Shape::Point {
                        at: pts[0],
                        size: None,
                    };
                    item.vector_type = Some(VectorType::Point);
                    if t == 4 {
                        sr.insert("special_spot".into(), Value::from(true));
                    }
                }
                2 => {
                    need(2)?;
                    let (a, b) = (pts[0], pts[1]);
                    item.shape = Shape::Polygon(vec![
                        Point::new(a.x.min(b.x), a.y.min(b.y)),
                        Point::new(a.x.max(b.x), a.y.min(b.y)),
                        Point::new(a.x.max(b.x), a.y.max(b.y)),
                        Point::new(a.x.min(b.x), a.y.max(b.y)),
                    ]);
                    item.vector_type = Some(VectorType::BoundingBox);
                }
                3 => {
                    // Lines exported from exact-rs come back as 2-node "polygons".
                    need(2)?;
                    if pts.len() == 2 {
                        item.shape = Shape::Line(pts);
                    } else {
                        item.shape = Shape::Polygon(pts);
                        item.vector_type = Some(VectorType::Polygon);
                    }
                }
                5 => {
                    need(2)?;
                    let (a, b) = (pts[0], pts[1]);
                    let (w, h) = ((b.x - a.x).abs(), (b.y - a.y).abs());
                    item.shape = Shape::Point {
                        at: Point::new((a.x + b.x) / 2.0, (a.y + b.y) / 2.0),
                        size: Some((w, h)),
                    };
                    item.vector_type = Some(VectorType::Point);
                }
                6 => item.vector_type = Some(VectorType::Global),
                other => return Err(bad(format!("unknown SlideRunner annotation type {other}"))),
            }
            if !l.is_empty() {
                // The first labeller is taken as the creator (SlideRunner keeps no other).
                item.user = l
                    .first()
                    .and_then(|v| v.get("person"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                sr.insert("labels".into(), Value::Array(l));
            }
            if !sr.is_empty() {
                let mut m = Map::new();
                m.insert("sliderunner".into(), Value::Object(sr));
                item.meta_data = Value::Object(m);
            }
            f(item)?;
        }
    }
    drop(tmp);
    Ok(())
}

/// SlideRunner's current schema, as its database module creates it.
const SCHEMA: &str = "
CREATE TABLE `Log` (`uid` INTEGER PRIMARY KEY AUTOINCREMENT,`dateTime` FLOAT,`labelId` INTEGER);
CREATE TABLE `Slides` (`uid` INTEGER PRIMARY KEY AUTOINCREMENT,`filename` TEXT,`width` INTEGER,`EXACTUSER` INTEGER DEFAULT 0 ,`height` INTEGER,`directory` TEXT,`uuid` TEXT,`exactImageID` TEXT);
CREATE TABLE `Annotations` (`uid` INTEGER PRIMARY KEY AUTOINCREMENT,`guid` TEXT,`deleted` INTEGER DEFAULT 0 ,`slide` INTEGER,`type` INTEGER,`agreedClass` INTEGER,`lastModified` REAL DEFAULT 0 ,`description` TEXT);
CREATE TABLE `Annotations_coordinates` (`uid` INTEGER PRIMARY KEY AUTOINCREMENT,`coordinateX` INTEGER,`coordinateY` INTEGER,`coordinateZ` INTEGER DEFAULT 0 ,`slide` INTEGER,`annoId` INTEGER,`orderIdx` INTEGER);
CREATE TABLE `Persons` (`uid` INTEGER PRIMARY KEY AUTOINCREMENT,`name` TEXT,`isExactUser` INTEGER DEFAULT 0 );
CREATE TABLE `Classes` (`uid` INTEGER PRIMARY KEY AUTOINCREMENT,`name` TEXT,`color` TEXT);
CREATE TABLE `Annotations_label` (`uid` INTEGER PRIMARY KEY AUTOINCREMENT,`exact_id` INTEGER,`person` INTEGER DEFAULT 0 ,`class` INTEGER,`annoId` INTEGER);
CREATE INDEX `annoId_coords` ON `Annotations_coordinates` (`annoId`);
CREATE INDEX `slide_annos` ON `Annotations` (`slide`);
";

/// Writes a SlideRunner database into a temporary file, copied to the output at the end.
pub(crate) struct SlideRunnerSink<W: Write> {
    out: W,
    file: Option<tempfile::NamedTempFile>,
    db: Option<Connection>,
    slides: HashMap<u64, i64>,
    classes: HashMap<u64, i64>,
    persons: HashMap<String, i64>,
}

impl<W: Write> SlideRunnerSink<W> {
    pub(crate) fn new(out: W) -> Self {
        SlideRunnerSink {
            out,
            file: None,
            db: None,
            slides: HashMap::new(),
            classes: HashMap::new(),
            persons: HashMap::new(),
        }
    }
}

fn io(e: rusqlite::Error) -> std::io::Error {
    std::io::Error::other(e)
}

impl<W: Write> Sink for SlideRunnerSink<W> {
    fn begin(&mut self, head: &Head) -> std::io::Result<()> {
        let file = tempfile::NamedTempFile::new()?;
        let db = Connection::open(file.path()).map_err(io)?;
        db.execute_batch(SCHEMA).map_err(io)?;
        db.execute_batch("BEGIN").map_err(io)?;
        for i in head.images {
            db.execute(
                "INSERT INTO Slides (filename, width, height, uuid) VALUES (?1, ?2, ?3, ?4)",
                params![
                    i.name,
                    i.width as i64,
                    i.height as i64,
                    Uuid::new_v4().to_string()
                ],
            )
            .map_err(io)?;
            self.slides.insert(i.id.0, db.last_insert_rowid());
        }
        for t in head.types {
            db.execute(
                "INSERT INTO Classes (name, color) VALUES (?1, ?2)",
                params![t.name, t.color_code],
            )
            .map_err(io)?;
            self.classes.insert(t.id.0, db.last_insert_rowid());
        }
        self.db = Some(db);
        self.file = Some(file);
        Ok(())
    }

    fn row(&mut self, r: &Row) -> std::io::Result<()> {
        let db = self
            .db
            .as_ref()
            .ok_or_else(|| std::io::Error::other("not begun"))?;
        let a = r.annotation;
        let class = match self.classes.get(&r.atype.id.0) {
            Some(c) => *c,
            None => {
                db.execute(
                    "INSERT INTO Classes (name, color) VALUES (?1, ?2)",
                    params![r.atype.name, r.atype.color_code],
                )
                .map_err(io)?;
                let c = db.last_insert_rowid();
                self.classes.insert(r.atype.id.0, c);
                c
            }
        };
        let slide = self.slides[&r.image.id.0];
        let pts: &[Point] = a
            .vector
            .as_ref()
            .map(|v| v.points.as_slice())
            .unwrap_or(&[]);
        let special = a
            .meta_data
            .pointer("/sliderunner/special_spot")
            .and_then(Value::as_bool)
            == Some(true);
        let (kind, coords): (i64, Vec<Point>) = match r.atype.vector_type {
            _ if pts.is_empty() => (6, Vec::new()),
            VectorType::BoundingBox | VectorType::FixedSizeBoundingBox => (2, pts.to_vec()),
            VectorType::Point if special => (
                4,
                vec![Point::new(
                    (pts[0].x + pts[1].x) / 2.0,
                    (pts[0].y + pts[1].y) / 2.0,
                )],
            ),
            VectorType::Point => (5, pts.to_vec()),
            _ => (3, pts.to_vec()),
        };
        let modified = a.last_edit_time.micros() as f64 / 1.0e6;
        db.prepare_cached(
            "INSERT INTO Annotations (guid, deleted, slide, type, agreedClass, lastModified, description) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(io)?
        .execute(params![a.unique_identifier.to_string(), a.deleted as i64, slide, kind, class, modified, a.description],
        )
        .map_err(io)?;
        let anno = db.last_insert_rowid();
        let z = a
            .vector
            .as_ref()
            .and_then(|v| v.frame)
            .map(|f| f as i64 - 1)
            .unwrap_or(0);
        let mut st = db
            .prepare_cached("INSERT INTO Annotations_coordinates (coordinateX, coordinateY, coordinateZ, slide, annoId, orderIdx) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            .map_err(io)?;
        for (i, p) in coords.iter().enumerate() {
            st.execute(params![
                p.x.round() as i64,
                p.y.round() as i64,
                z,
                slide,
                anno,
                i as i64 + 1
            ])
            .map_err(io)?;
        }
        let person = r.user.unwrap_or("unknown").to_owned();
        let pid = match self.persons.get(&person) {
            Some(p) => *p,
            None => {
                db.execute("INSERT INTO Persons (name) VALUES (?1)", params![person])
                    .map_err(io)?;
                let p = db.last_insert_rowid();
                self.persons.insert(person, p);
                p
            }
        };
        db.prepare_cached(
            "INSERT INTO Annotations_label (person, class, annoId) VALUES (?1, ?2, ?3)",
        )
        .map_err(io)?
        .execute(params![pid, class, anno])
        .map_err(io)?;
        Ok(())
    }

    fn end(&mut self) -> std::io::Result<()> {
        if let Some(db) = self.db.take() {
            db.execute_batch("COMMIT").map_err(io)?;
            db.close().map_err(|(_, e)| io(e))?;
        }
        if let Some(file) = self.file.take() {
            let mut f = std::fs::File::open(file.path())?;
            std::io::copy(&mut f, &mut self.out)?;
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One annotation read: uid, slide's file, points, label persons.
    type Got = (i64, String, Vec<(f64, f64)>, Vec<String>);

    /// Reads `db` (from `at`).
    fn read_back(db: &Connection, at: Option<ResumeAt>) -> Vec<Got> {
        let file = tempfile::NamedTempFile::new().unwrap();
        db.execute("VACUUM INTO ?1", params![file.path().to_str().unwrap()])
            .unwrap();
        let mut out = Vec::new();
        read_from(std::fs::File::open(file.path()).unwrap(), at, &mut |it| {
            let Some(ResumeAt::SlideRunner { uid, .. }) = it.resume else {
                panic!("no place")
            };
            let pts = match &it.shape {
                Shape::Polygon(p) | Shape::Line(p) => p.iter().map(|p| (p.x, p.y)).collect(),
                Shape::Point { at, .. } => vec![(at.x, at.y)],
                _ => Vec::new(),
            };
            let persons = it.meta_data["sliderunner"]["labels"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .map(|x| x["person"].as_str().unwrap_or("").to_owned())
                        .collect()
                })
                .unwrap_or_default();
            out.push((uid, it.image.unwrap(), pts, persons));
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn rows_come_in_order_with_and_without_sliderunners_indexes() {
        for indexed in [false, true] {
            let db = Connection::open_in_memory().unwrap();
            db.execute_batch(
                "CREATE TABLE Slides (uid INTEGER PRIMARY KEY, filename TEXT);
                 CREATE TABLE Annotations (uid INTEGER PRIMARY KEY, slide INTEGER, type INTEGER, agreedClass INTEGER);
                 CREATE TABLE Annotations_coordinates (uid INTEGER PRIMARY KEY, coordinateX INTEGER, coordinateY INTEGER, slide INTEGER, annoId INTEGER, orderIdx INTEGER);
                 CREATE TABLE Annotations_label (uid INTEGER PRIMARY KEY, person INTEGER, class INTEGER, annoId INTEGER);
                 CREATE TABLE Persons (uid INTEGER PRIMARY KEY, name TEXT);
                 CREATE TABLE Classes (uid INTEGER PRIMARY KEY, name TEXT);
                 INSERT INTO Slides VALUES (1, 'a.svs'), (2, 'b.svs');
                 INSERT INTO Classes VALUES (1, 'c');
                 INSERT INTO Persons VALUES (1, 'p1'), (2, 'p2');
                 -- Slide 2's annotation has the lower uid; slide 1 is still read first.
                 INSERT INTO Annotations VALUES (5, 2, 1, 1), (7, 1, 3, 1), (9, 1, 1, 1);
                 -- Rows out of order: the nodes' orderIdx decides, the labels' uid.
                 INSERT INTO Annotations_coordinates VALUES
                   (1, 30, 3, 1, 7, 3), (2, 9, 9, 1, 9, 1), (3, 10, 1, 1, 7, 1),
                   (4, 5, 5, 2, 5, 1), (5, 20, 2, 1, 7, 2);
                 INSERT INTO Annotations_label VALUES (1, 2, 1, 9), (2, 2, 1, 7), (3, 1, 1, 9), (4, 1, 1, 5);",
            )
            .unwrap();
            if indexed {
                db.execute_batch(
                    "CREATE INDEX annoId_coords ON Annotations_coordinates (annoId);
                     CREATE INDEX slide_annos ON Annotations (slide);",
                )
                .unwrap();
            }
            let all = read_back(&db, None);
            let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
            assert_eq!(
                all,
                vec![
                    (
                        7,
                        "a.svs".into(),
                        vec![(10.0, 1.0), (20.0, 2.0), (30.0, 3.0)],
                        s(&["p2"])
                    ),
                    (9, "a.svs".into(), vec![(9.0, 9.0)], s(&["p2", "p1"])),
                    (5, "b.svs".into(), vec![(5.0, 5.0)], s(&["p1"])),
                ],
                "indexed: {indexed}"
            );
            let at = ResumeAt::SlideRunner {
                slide: 1,
                uid: 9,
                row: 1,
            };
            assert_eq!(read_back(&db, Some(at)), all[1..].to_vec());
        }
    }
}
