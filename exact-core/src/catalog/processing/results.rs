//! Results, their entries, result annotations and bitmaps.

use super::*;

impl Processing<'_> {
    // ---- results ----

    /// Creates a result (`image`, `plugin`, `job`, `default_alpha`, `completed_time`).
    pub fn create_result(&self, actor: &Actor, o: &Obj) -> Result<PluginResult> {
        let image: ImageId = req_id(o, "image")?;
        self.writable_image(actor, image, "add results")?;
        let plugin: PluginId = req_id(o, "plugin")?;
        self.plugin(actor, plugin)
            .map_err(|e| field_of(e, "plugin"))?;
        let job: Option<PluginJobId> = opt_id(o, "job")?;
        if let Some(j) = job {
            let jr = self.job(actor, j).map_err(|e| field_of(e, "job"))?;
            if jr.image != image {
                return Err(Error::invalid("job", format!("{j} is not on {image}")));
            }
        }
        let now = self.0.now();
        self.0.insert(PluginResult {
            id: PluginResultId(0),
            image,
            job,
            plugin,
            default_alpha: o.f64("default_alpha")?.unwrap_or(0.0),
            completed_time: o.time("completed_time")?,
            created_time: o.time("created_time")?.unwrap_or(now),
        })
    }

    /// Results on images the actor reads.
    pub fn results(&self, actor: &Actor) -> Result<Vec<PluginResult>> {
        self.readable(actor, self.0.all::<PluginResult>()?, |r| r.image)
    }

    /// A result on an image the actor reads.
    pub fn result(&self, actor: &Actor, id: PluginResultId) -> Result<PluginResult> {
        let r: PluginResult = self.0.load(id.0)?;
        self.image_rights(actor, r.image)
            .map_err(|_| Error::not_found(id))?;
        Ok(r)
    }

    /// Changes a result's `default_alpha` / `completed_time`.
    pub fn update_result(
        &self,
        actor: &Actor,
        id: PluginResultId,
        o: &Obj,
    ) -> Result<PluginResult> {
        let r = self.result(actor, id)?;
        self.writable_image(actor, r.image, "change results")?;
        let alpha = o.f64("default_alpha")?;
        let completed = o.time("completed_time")?;
        self.0.modify(id.0, |r: &PluginResult| {
            let mut r = r.clone();
            if let Some(a) = alpha {
                r.default_alpha = a;
            }
            if completed.is_some() {
                r.completed_time = completed;
            }
            Ok((r, Vec::new()))
        })
    }

    /// The ids of the results of a plugin.
    pub fn results_of_plugin(&self, plugin: PluginId) -> Result<Vec<u64>> {
        self.ids_by(Index::PluginResultByPlugin, plugin.0)
    }

    pub(super) fn ids_by(&self, index: Index, key: u64) -> Result<Vec<u64>> {
        let prefix = Key::new().u64(key).build();
        Ok(self
            .0
            .store()
            .index_range(
                index,
                &prefix,
                &crate::keys::prefix_end(&prefix),
                usize::MAX,
            )?
            .into_iter()
            .map(|e| e.id)
            .collect())
    }

    // ---- entries ----

    /// Creates an entry (`pluginresult`, `name`, `visible`, `default_threshold`).
    pub fn create_entry(&self, actor: &Actor, o: &Obj) -> Result<PluginResultEntry> {
        let result: PluginResultId = req_id(o, "pluginresult")?;
        let r = self
            .result(actor, result)
            .map_err(|e| field_of(e, "pluginresult"))?;
        self.writable_image(actor, r.image, "add result entries")?;
        let name = o.req_str("name")?;
        check_name("name", &name, 1, 200)?;
        let now = self.0.now();
        self.0.insert(PluginResultEntry {
            id: PluginResultEntryId(0),
            pluginresult: result,
            created_time: o.time("created_time")?.unwrap_or(now),
            name,
            visible: o.bool("visible")?.unwrap_or(true),
            default_threshold: o.f64("default_threshold")?.unwrap_or(0.0),
        })
    }

    /// Entries of results the actor reads.
    pub fn entries(&self, actor: &Actor) -> Result<Vec<PluginResultEntry>> {
        let images = self.result_images()?;
        self.readable(actor, self.0.all::<PluginResultEntry>()?, |e| {
            images.get(&e.pluginresult).copied().unwrap_or_default()
        })
    }

    pub(super) fn result_images(&self) -> Result<BTreeMap<PluginResultId, ImageId>> {
        Ok(self
            .0
            .all::<PluginResult>()?
            .into_iter()
            .map(|r| (r.id, r.image))
            .collect())
    }

    /// An entry the actor reads, with its result's image.
    pub fn entry(
        &self,
        actor: &Actor,
        id: PluginResultEntryId,
    ) -> Result<(PluginResultEntry, ImageId)> {
        let e: PluginResultEntry = self.0.load(id.0)?;
        let r = self
            .result(actor, e.pluginresult)
            .map_err(|_| Error::not_found(id))?;
        Ok((e, r.image))
    }

    /// Changes an entry's `name`, `visible`, `default_threshold`.
    pub fn update_entry(
        &self,
        actor: &Actor,
        id: PluginResultEntryId,
        o: &Obj,
    ) -> Result<PluginResultEntry> {
        let (_, image) = self.entry(actor, id)?;
        self.writable_image(actor, image, "change result entries")?;
        let name = o.str("name")?;
        if let Some(n) = &name {
            check_name("name", n, 1, 200)?;
        }
        let visible = o.bool("visible")?;
        let threshold = o.f64("default_threshold")?;
        self.0.modify(id.0, |e: &PluginResultEntry| {
            let mut e = e.clone();
            if let Some(n) = &name {
                e.name = n.clone();
            }
            if let Some(v) = visible {
                e.visible = v;
            }
            if let Some(t) = threshold {
                e.default_threshold = t;
            }
            Ok((e, Vec::new()))
        })
    }

    /// Ids of the entries of a result.
    pub fn entries_of(&self, result: PluginResultId) -> Result<Vec<u64>> {
        self.ids_by(Index::PluginEntryByResult, result.0)
    }

    /// Ids of the annotations and bitmaps of an entry.
    pub fn contents_of(&self, entry: PluginResultEntryId) -> Result<(Vec<u64>, Vec<u64>)> {
        Ok((
            self.ids_by(Index::PluginAnnotationByEntry, entry.0)?,
            self.ids_by(Index::PluginBitmapByEntry, entry.0)?,
        ))
    }

    // ---- result annotations ----

    /// Creates a proposed object (`pluginresultentry`, `image`, `annotation_type`, `vector`,
    /// `score`, `meta_data`, `unique_identifier`, `generated` — true unless sent false).
    pub fn create_result_annotation(
        &self,
        actor: &Actor,
        o: &Obj,
    ) -> Result<PluginResultAnnotation> {
        let entry: PluginResultEntryId = req_id(o, "pluginresultentry")?;
        let (_, entry_image) = self
            .entry(actor, entry)
            .map_err(|e| field_of(e, "pluginresultentry"))?;
        let image: ImageId = opt_id(o, "image")?.unwrap_or(entry_image);
        if image != entry_image {
            return Err(Error::invalid(
                "image",
                format!("{entry} belongs to {entry_image}"),
            ));
        }
        self.writable_image(actor, image, "add result annotations")?;
        let a = self.result_annotation_fields(
            o,
            PluginResultAnnotation {
                id: PluginResultAnnotationId(0),
                annotation_type: None,
                pluginresultentry: entry,
                image,
                meta_data: Value::Null,
                vector: Value::Null,
                score: None,
                unique_identifier: uuid::Uuid::new_v4().to_string(),
                generated: true,
                time: self.0.now(),
            },
        )?;
        self.0.insert(a)
    }

    fn result_annotation_fields(
        &self,
        o: &Obj,
        mut a: PluginResultAnnotation,
    ) -> Result<PluginResultAnnotation> {
        if let Some(t) = opt_id::<AnnotationTypeId>(o, "annotation_type")? {
            if self.0.find::<crate::model::AnnotationType>(t.0)?.is_none() {
                return Err(Error::invalid("annotation_type", format!("no {t}")));
            }
            a.annotation_type = Some(t);
        }
        if let Some(v) = json_field(o, "vector")? {
            if !matches!(v, Value::Object(_) | Value::Null) {
                return Err(Error::invalid("vector", "expected an object {x1, y1, …}"));
            }
            a.vector = v;
        }
        if let Some(m) = json_field(o, "meta_data")? {
            a.meta_data = m;
        }
        if let Some(s) = o.f64("score")? {
            a.score = Some(s);
        }
        if let Some(u) = o.str("unique_identifier")? {
            check_text("unique_identifier", &u, 100)?;
            a.unique_identifier = u;
        }
        if let Some(g) = o.bool("generated")? {
            a.generated = g;
        }
        if let Some(t) = o.time("time")? {
            a.time = t;
        }
        Ok(a)
    }

    /// Result annotations on images the actor reads.
    pub fn result_annotations(&self, actor: &Actor) -> Result<Vec<PluginResultAnnotation>> {
        self.readable(actor, self.0.all::<PluginResultAnnotation>()?, |a| a.image)
    }

    /// One result annotation the actor reads.
    pub fn result_annotation(
        &self,
        actor: &Actor,
        id: PluginResultAnnotationId,
    ) -> Result<PluginResultAnnotation> {
        let a: PluginResultAnnotation = self.0.load(id.0)?;
        self.image_rights(actor, a.image)
            .map_err(|_| Error::not_found(id))?;
        Ok(a)
    }

    /// Changes a result annotation's fields.
    pub fn update_result_annotation(
        &self,
        actor: &Actor,
        id: PluginResultAnnotationId,
        o: &Obj,
    ) -> Result<PluginResultAnnotation> {
        let old = self.result_annotation(actor, id)?;
        self.writable_image(actor, old.image, "change result annotations")?;
        let new = self.result_annotation_fields(o, old.clone())?;
        self.0.modify(id.0, |cur: &PluginResultAnnotation| {
            if cur != &old {
                return Err(Error::Conflict {
                    what: format!("{id}"),
                });
            }
            Ok((new.clone(), Vec::new()))
        })
    }

    // ---- bitmaps ----

    /// Checks that the actor may add a bitmap to `entry` (before its file is stored); returns
    /// the entry's image.
    pub fn check_bitmap(&self, actor: &Actor, o: &Obj) -> Result<ImageId> {
        let entry: PluginResultEntryId = req_id(o, "pluginresultentry")?;
        let (_, image) = self
            .entry(actor, entry)
            .map_err(|e| field_of(e, "pluginresultentry"))?;
        if let Some(i) = opt_id::<ImageId>(o, "image")?
            && i != image
        {
            return Err(Error::invalid(
                "image",
                format!("{entry} belongs to {image}"),
            ));
        }
        self.writable_image(actor, image, "add result bitmaps")?;
        Ok(image)
    }

    /// Records a stored bitmap file (`bitmap` = its blob key) with EXACT's fields (`name`,
    /// `channels`, `default_alpha`, `default_threshold`, `scale_min`, `scale_max`,
    /// `meta_data`, `location_rect`, `transformation_matrix`, `frame`).
    pub fn create_bitmap(
        &self,
        actor: &Actor,
        o: &Obj,
        bitmap: &str,
    ) -> Result<PluginResultBitmap> {
        let image = self.check_bitmap(actor, o)?;
        let entry: PluginResultEntryId = req_id(o, "pluginresultentry")?;
        let b = self.bitmap_fields(
            o,
            PluginResultBitmap {
                id: PluginResultBitmapId(0),
                bitmap: bitmap.to_owned(),
                name: String::new(),
                channels: 3,
                default_alpha: 1.0,
                default_threshold: 0.0,
                scale_min: 0.0,
                scale_max: 1.0,
                meta_data: Value::Null,
                location_rect: Value::Null,
                transformation_matrix: Value::Null,
                frame: 1,
                pluginresultentry: entry,
                image,
            },
        )?;
        if b.name.is_empty() {
            return Err(Error::invalid("name", "This field is required."));
        }
        self.0.insert(b)
    }

    fn bitmap_fields(&self, o: &Obj, mut b: PluginResultBitmap) -> Result<PluginResultBitmap> {
        if let Some(n) = o.str("name")? {
            check_name("name", &n, 1, 200)?;
            b.name = n;
        }
        if let Some(c) = o.u32("channels")? {
            if !(1..=4).contains(&c) {
                return Err(Error::invalid("channels", "must be 1 to 4"));
            }
            b.channels = c;
        }
        for (k, f) in [
            ("default_alpha", &mut b.default_alpha),
            ("default_threshold", &mut b.default_threshold),
            ("scale_min", &mut b.scale_min),
            ("scale_max", &mut b.scale_max),
        ] {
            if let Some(v) = o.f64(k)? {
                *f = v;
            }
        }
        if let Some(v) = json_field(o, "meta_data")? {
            b.meta_data = v;
        }
        if let Some(v) = json_field(o, "location_rect")? {
            b.location_rect = v;
        }
        if let Some(v) = json_field(o, "transformation_matrix")? {
            let ok = match &v {
                Value::Null => true,
                Value::Array(rows) => rows
                    .iter()
                    .flat_map(|r| match r {
                        Value::Array(c) => c.iter().collect::<Vec<_>>(),
                        other => vec![other],
                    })
                    .all(Value::is_number),
                _ => false,
            };
            if !ok {
                return Err(Error::invalid(
                    "transformation_matrix",
                    "expected a matrix of numbers",
                ));
            }
            b.transformation_matrix = v;
        }
        if let Some(f) = o.u32("frame")? {
            b.frame = f;
        }
        Ok(b)
    }

    /// Bitmaps on images the actor reads.
    pub fn bitmaps(&self, actor: &Actor) -> Result<Vec<PluginResultBitmap>> {
        self.readable(actor, self.0.all::<PluginResultBitmap>()?, |b| b.image)
    }

    /// One bitmap the actor reads.
    pub fn bitmap(&self, actor: &Actor, id: PluginResultBitmapId) -> Result<PluginResultBitmap> {
        let b: PluginResultBitmap = self.0.load(id.0)?;
        self.image_rights(actor, b.image)
            .map_err(|_| Error::not_found(id))?;
        Ok(b)
    }

    /// Changes a bitmap's fields (and its file, when `file` is given).
    pub fn update_bitmap(
        &self,
        actor: &Actor,
        id: PluginResultBitmapId,
        o: &Obj,
        file: Option<&str>,
    ) -> Result<PluginResultBitmap> {
        let old = self.bitmap(actor, id)?;
        self.writable_image(actor, old.image, "change result bitmaps")?;
        let mut new = self.bitmap_fields(o, old.clone())?;
        if let Some(f) = file {
            new.bitmap = f.to_owned();
        }
        self.0.modify(id.0, |cur: &PluginResultBitmap| {
            if cur != &old {
                return Err(Error::Conflict {
                    what: format!("{id}"),
                });
            }
            Ok((new.clone(), Vec::new()))
        })
    }
}
