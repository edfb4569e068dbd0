//! Images: registering them in a set and changing their metadata. Pixels are the tile engine's
//! business; here an image is its record.

use super::{Catalog, check_name};
use crate::ids::{ImageId, ImageSetId};
use crate::keys::Key;
use crate::model::{ChannelDisplay, FrameDescription, FrameType, Image, ImageType, PixelState};
use crate::permissions::Actor;
use crate::store::Index;
use crate::{Error, Result};

/// Why a file link is refused: the server reads the URL with its own credentials.
const LINKS_NEED_SUPERUSER: &str = "only superusers register slides by URL (image_type 2): the server reads them with its own credentials";

/// An image to register in a set.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // fields mirror `Image`
pub struct NewImage {
    pub image_set: ImageSetId,
    pub name: String,
    pub filename: String,
    pub checksum: String,
    pub mpp: f64,
    pub objective_power: f64,
    pub width: u64,
    pub height: u64,
    pub depth: u32,
    pub frames: u32,
    pub channels: u32,
    pub image_type: ImageType,
    pub default_frame: u32,
    pub state: PixelState,
    pub state_detail: String,
    pub original: String,
    pub frame_descriptions: Vec<FrameDescription>,
    pub frame_sources: Vec<String>,
    /// The image series of the file this image shows (from 0).
    pub series: u32,
}

impl NewImage {
    /// An image `name` of `width` × `height` pixels in `image_set`, served from `name`.
    pub fn new(image_set: ImageSetId, name: impl Into<String>, width: u64, height: u64) -> Self {
        let name = name.into();
        NewImage {
            image_set,
            filename: name.clone(),
            name,
            checksum: String::new(),
            mpp: 0.0,
            objective_power: 1.0,
            width,
            height,
            depth: 1,
            frames: 1,
            channels: 3,
            image_type: ImageType::Default,
            default_frame: 1,
            state: PixelState::Ready,
            state_detail: String::new(),
            original: String::new(),
            frame_descriptions: Vec::new(),
            frame_sources: Vec::new(),
            series: 0,
        }
    }
}

/// What the server learnt about an image's pixels (after probing or converting an upload).
#[derive(Debug, Clone)]
#[allow(missing_docs)] // fields mirror `Image`
pub struct PixelUpdate {
    pub state: PixelState,
    pub state_detail: String,
    /// The file tiles are served from from now on (e.g. the converted pyramid).
    pub filename: Option<String>,
    pub width: Option<u64>,
    pub height: Option<u64>,
    pub mpp: Option<f64>,
    pub objective_power: Option<f64>,
    /// Planes found in the converted file (depth, frames, channels).
    pub planes: Option<(u32, u32, u32)>,
    /// Names of the planes, replacing those recorded (when `Some`).
    pub frame_descriptions: Option<Vec<FrameDescription>>,
}

/// Changes to an image's metadata.
#[derive(Debug, Clone, Default)]
#[allow(missing_docs)] // fields mirror `Image`
pub struct ImagePatch {
    pub name: Option<String>,
    pub filename: Option<String>,
    pub mpp: Option<f64>,
    pub objective_power: Option<f64>,
    pub width: Option<u64>,
    pub height: Option<u64>,
    pub depth: Option<u32>,
    pub frames: Option<u32>,
    pub channels: Option<u32>,
    pub image_type: Option<ImageType>,
    pub default_frame: Option<u32>,
    /// Move to another set (edit rights on both).
    pub image_set: Option<ImageSetId>,
    pub checksum: Option<String>,
    /// Replaces every frame description (EXACT's `FrameDescriptions`).
    pub frame_descriptions: Option<Vec<FrameDescription>>,
    /// Replaces the channel display settings (an empty list restores the defaults).
    pub channel_display: Option<Vec<ChannelDisplay>>,
}

/// Image use cases.
pub struct Images<'a>(pub(crate) &'a Catalog);

impl Images<'_> {
    /// Registers an image in a set the actor may edit and that is not locked.
    pub fn add(&self, actor: &Actor, new: NewImage) -> Result<Image> {
        self.require_upload(actor, new.image_set)?;
        if new.image_type == ImageType::FileLink && !actor.superuser {
            return Err(Error::denied(LINKS_NEED_SUPERUSER));
        }
        let image = Image {
            id: ImageId(0),
            image_set: new.image_set,
            name: new.name,
            filename: new.filename,
            time: self.0.now(),
            checksum: new.checksum,
            mpp: new.mpp,
            objective_power: new.objective_power,
            width: new.width,
            height: new.height,
            depth: new.depth,
            frames: new.frames,
            channels: new.channels,
            image_type: new.image_type,
            default_frame: new.default_frame,
            creator: Some(actor.user),
            state: new.state,
            state_detail: new.state_detail,
            original: new.original,
            deleted: false,
            frame_descriptions: new.frame_descriptions,
            channel_display: Vec::new(),
            frame_sources: new.frame_sources,
            series: new.series,
        };
        validate_image(&image)?;
        self.0.insert(image)
    }

    /// An image the actor may read.
    pub fn get(&self, actor: &Actor, id: ImageId) -> Result<Image> {
        self.0.readable_image(actor, id).map(|(i, _, _)| i)
    }

    /// Every image the actor may read, by id.
    pub fn list(&self, actor: &Actor) -> Result<Vec<Image>> {
        let sets = self.0.image_sets().list(actor)?;
        let mut out = Vec::new();
        for s in sets {
            out.extend(self.0.image_sets().images(actor, s.id)?);
        }
        out.sort_by_key(|i| i.id);
        Ok(out)
    }

    /// Changes an image's metadata (edit rights on its set, and on the target set when moving).
    pub fn update(&self, actor: &Actor, id: ImageId, patch: ImagePatch) -> Result<Image> {
        let (current, _, rights) = self.0.readable_image(actor, id)?;
        if !rights.edit_set {
            return Err(Error::denied(format!("no edit rights on the set of {id}")));
        }
        // Where the pixels come from decides what the server reads on the image's behalf.
        let moves_file = patch
            .filename
            .as_ref()
            .is_some_and(|f| *f != current.filename);
        let links = patch.image_type.is_some_and(|t| {
            t != current.image_type
                && (t == ImageType::FileLink || current.image_type == ImageType::FileLink)
        });
        if (moves_file || links) && !actor.superuser {
            return Err(Error::denied(format!(
                "only superusers change where the pixels of {id} come from (filename, file links)"
            )));
        }
        // A slide's size is what its pixels say (probing sets it); a member resizing it would
        // misplace every annotation and tile request for everyone else.
        let resizes = patch.width.is_some_and(|w| w != current.width)
            || patch.height.is_some_and(|h| h != current.height);
        if resizes && !actor.superuser {
            return Err(Error::denied(format!(
                "only superusers change the width or height of {id}; the server sets them from its pixels"
            )));
        }
        if let Some(target) = patch.image_set.filter(|t| *t != current.image_set) {
            // Moving an image changes who sees its annotations (a competitive set's image
            // moved into a member's collaborative or public set would show everyone's), so
            // it takes the rights to remove images from the source set.
            if !rights.delete_images {
                return Err(Error::denied(format!(
                    "only team admins (or the set's creator) move {id} to another set"
                )));
            }
            self.require_upload(actor, target)?;
        }
        self.0.modify::<Image>(id.0, |old| {
            let mut i = old.clone();
            let p = patch.clone();
            i.name = p.name.unwrap_or(i.name);
            i.filename = p.filename.unwrap_or(i.filename);
            i.mpp = p.mpp.unwrap_or(i.mpp);
            i.objective_power = p.objective_power.unwrap_or(i.objective_power);
            i.width = p.width.unwrap_or(i.width);
            i.height = p.height.unwrap_or(i.height);
            i.depth = p.depth.unwrap_or(i.depth);
            i.frames = p.frames.unwrap_or(i.frames);
            i.channels = p.channels.unwrap_or(i.channels);
            i.image_type = p.image_type.unwrap_or(i.image_type);
            i.default_frame = p.default_frame.unwrap_or(i.default_frame);
            i.image_set = p.image_set.unwrap_or(i.image_set);
            i.checksum = p.checksum.unwrap_or(i.checksum);
            i.frame_descriptions = p.frame_descriptions.unwrap_or(i.frame_descriptions);
            i.channel_display = p.channel_display.unwrap_or(i.channel_display);
            validate_image(&i)?;
            Ok((i, Vec::new()))
        })
    }

    /// The live image named `name` in `set`, if any (duplicate detection on upload).
    pub fn by_name(&self, actor: &Actor, set: ImageSetId, name: &str) -> Result<Option<Image>> {
        self.0.readable_set(actor, set)?;
        let found: Vec<Image> = self
            .0
            .by_index(Index::ImageName, &Key::new().u64(set.0).str(name).build())?;
        Ok(found.into_iter().find(|i| i.name == name && !i.deleted))
    }

    /// Soft-deletes an image (delete rights on its set, which must not be locked): hidden
    /// from every read, its annotations and files kept, its name free for a new upload.
    pub fn delete(&self, actor: &Actor, id: ImageId) -> Result<Image> {
        let (_, set, rights) = self.0.readable_image(actor, id)?;
        if !rights.delete_images {
            return Err(Error::denied(format!(
                "no rights to delete images of {}",
                set.id
            )));
        }
        if set.image_lock {
            return Err(Error::denied(format!(
                "{} is locked against deleting images",
                set.id
            )));
        }
        self.0.modify::<Image>(id.0, |old| {
            let mut i = old.clone();
            i.deleted = true;
            Ok((i, Vec::new()))
        })
    }

    /// Records what the server learnt about an image's pixels. Not a user action: the
    /// server's upload worker calls it after probing or converting a file it accepted
    /// from a user with upload rights.
    pub fn record_pixels(&self, id: ImageId, update: PixelUpdate) -> Result<Image> {
        self.0.modify::<Image>(id.0, |old| {
            let mut i = old.clone();
            let u = update.clone();
            i.state = u.state;
            i.state_detail = u.state_detail;
            i.filename = u.filename.unwrap_or(i.filename);
            i.width = u.width.unwrap_or(i.width);
            i.height = u.height.unwrap_or(i.height);
            i.mpp = u.mpp.unwrap_or(i.mpp);
            i.objective_power = u.objective_power.unwrap_or(i.objective_power);
            if let Some((depth, frames, channels)) = u.planes {
                (i.depth, i.frames, i.channels) = (depth, frames, channels);
            }
            i.frame_descriptions = u.frame_descriptions.unwrap_or(i.frame_descriptions);
            validate_image(&i)?;
            Ok((i, Vec::new()))
        })
    }

    /// Live images whose conversion has not finished (the server resumes them on start).
    pub fn converting(&self) -> Result<Vec<Image>> {
        let mut all: Vec<Image> = self.0.all()?;
        all.retain(|i| i.state == PixelState::Converting && !i.deleted);
        Ok(all)
    }

    /// Fails unless the actor may register slides by URL (superusers only: the server reads
    /// the URL with its own credentials, which no team member should borrow).
    pub fn check_link(&self, actor: &Actor) -> Result<()> {
        if !actor.superuser {
            return Err(Error::denied(LINKS_NEED_SUPERUSER));
        }
        Ok(())
    }

    /// Fails unless the actor may add images to `set` (edit rights, set not locked).
    pub fn check_upload(&self, actor: &Actor, set: ImageSetId) -> Result<()> {
        self.require_upload(actor, set)
    }

    fn require_upload(&self, actor: &Actor, set: ImageSetId) -> Result<()> {
        let (set, rights) = self.0.readable_set(actor, set)?;
        if !rights.edit_set {
            return Err(Error::denied(format!(
                "no rights to add images to {}",
                set.id
            )));
        }
        if set.image_lock {
            return Err(Error::denied(format!(
                "{} is locked against adding images",
                set.id
            )));
        }
        Ok(())
    }
}

fn validate_image(i: &Image) -> Result<()> {
    check_name("name", &i.name, 1, 256)?;
    if i.filename.is_empty() || i.filename.len() > 4096 {
        return Err(Error::invalid("filename", "must be 1 to 4096 bytes"));
    }
    for (field, v) in [("width", i.width), ("height", i.height)] {
        crate::limits::check_image_side(field, v)?;
    }
    for (field, v) in [
        ("depth", i.depth),
        ("frames", i.frames),
        ("channels", i.channels),
        ("defaultFrame", i.default_frame),
    ] {
        if v == 0 {
            return Err(Error::invalid(field, "must be at least 1"));
        }
    }
    if i.default_frame > i.frames.max(i.depth) {
        return Err(Error::invalid("defaultFrame", "beyond the image's frames"));
    }
    validate_frame_descriptions(i)?;
    validate_channel_display(i)?;
    if i.frame_sources.len() > MAX_FRAME_FILES {
        return Err(Error::invalid(
            "files",
            format!("at most {MAX_FRAME_FILES} files make the frames of one image"),
        ));
    }
    if !i.mpp.is_finite() || i.mpp < 0.0 {
        return Err(Error::invalid(
            "mpp",
            format!("{} is not a non-negative number (0 = unknown)", i.mpp),
        ));
    }
    if !i.objective_power.is_finite() || i.objective_power < 0.0 {
        return Err(Error::invalid(
            "objectivePower",
            format!("{} is not a non-negative number", i.objective_power),
        ));
    }
    Ok(())
}

/// Most frame descriptions an image keeps (one per z plane and one per frame).
pub const MAX_FRAME_DESCRIPTIONS: usize = 4096;
/// Longest frame description, in characters (EXACT's `max_length`).
pub const MAX_FRAME_DESCRIPTION_CHARS: usize = 160;
/// Most files uploaded as the frames of one image.
pub const MAX_FRAME_FILES: usize = 1024;
/// Most channels an image has display settings for.
pub const MAX_CHANNELS: usize = 64;

fn validate_frame_descriptions(i: &Image) -> Result<()> {
    const F: &str = "FrameDescriptions";
    if i.frame_descriptions.len() > MAX_FRAME_DESCRIPTIONS {
        return Err(Error::invalid(
            F,
            format!("at most {MAX_FRAME_DESCRIPTIONS} descriptions"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for d in &i.frame_descriptions {
        let (axis, count) = match d.frame_type {
            FrameType::ZStack => ("depth", i.depth),
            FrameType::TimeSeries => ("frames", i.frames),
            FrameType::Undefined => ("frames", i.frames.max(i.depth)),
        };
        if d.frame_id >= count {
            return Err(Error::invalid(
                F,
                format!(
                    "frame_id {} of frame_type {} is beyond the image's {axis} ({count}; frame_id counts from 0)",
                    d.frame_id,
                    d.frame_type.code()
                ),
            ));
        }
        if d.description.chars().count() > MAX_FRAME_DESCRIPTION_CHARS {
            return Err(Error::invalid(
                F,
                format!(
                    "the description of frame_id {} is longer than {MAX_FRAME_DESCRIPTION_CHARS} characters",
                    d.frame_id
                ),
            ));
        }
        if d.description.chars().any(char::is_control) {
            return Err(Error::invalid(
                F,
                format!(
                    "the description of frame_id {} holds control characters",
                    d.frame_id
                ),
            ));
        }
        if !seen.insert((d.frame_type, d.frame_id)) {
            return Err(Error::invalid(
                F,
                format!(
                    "frame_id {} of frame_type {} is described twice",
                    d.frame_id,
                    d.frame_type.code()
                ),
            ));
        }
    }
    Ok(())
}

fn validate_channel_display(i: &Image) -> Result<()> {
    const F: &str = "channels";
    if i.channel_display.len() > MAX_CHANNELS {
        return Err(Error::invalid(
            F,
            format!("at most {MAX_CHANNELS} channels"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for c in &i.channel_display {
        if c.channel >= i.channels {
            return Err(Error::invalid(
                F,
                format!(
                    "channel {} is beyond the image's {} channels (channels count from 0)",
                    c.channel, i.channels
                ),
            ));
        }
        if !seen.insert(c.channel) {
            return Err(Error::invalid(
                F,
                format!("channel {} is set twice", c.channel),
            ));
        }
        if c.color.is_some() && c.rgb().is_none() {
            return Err(Error::invalid(
                F,
                format!(
                    "the color of channel {} is {:?}, not #rrggbb",
                    c.channel,
                    c.color.as_deref().unwrap_or_default()
                ),
            ));
        }
        for (what, v) in [("min", c.min), ("max", c.max)] {
            if v.is_some_and(|v| v > 65535) {
                return Err(Error::invalid(
                    F,
                    format!("the {what} of channel {} is above 65535", c.channel),
                ));
            }
        }
        if let (Some(lo), Some(hi)) = (c.min, c.max)
            && lo >= hi
        {
            return Err(Error::invalid(
                F,
                format!("channel {}: min {lo} is not below max {hi}", c.channel),
            ));
        }
    }
    Ok(())
}
