//! Products, annotation types and image sets.

use super::{Catalog, check_name, check_text};
use crate::ids::{AnnotationTypeId, ImageSetId, ProductId, TeamId, UserId};
use crate::keys::Key;
use crate::model::{
    AnnotationType, CollaborationType, Image, ImageSet, Priority, Product, VectorType,
};
use crate::permissions::Actor;
use crate::store::Index;
use crate::{Error, Result};

/// A product to create.
#[derive(Debug, Clone, Default)]
pub struct NewProduct {
    /// Name, unique within the team.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Owning team; the actor must belong to it.
    pub team: Option<TeamId>,
    /// Sets to attach it to; the actor must be allowed to edit each.
    pub imagesets: Vec<ImageSetId>,
}

/// Changes to a product.
#[derive(Debug, Clone, Default)]
pub struct ProductPatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// The full new list of attached sets.
    pub imagesets: Option<Vec<ImageSetId>>,
}

/// Product use cases.
pub struct Products<'a>(pub(crate) &'a Catalog);

impl Products<'_> {
    /// Creates a product in one of the actor's teams.
    pub fn create(&self, actor: &Actor, new: NewProduct) -> Result<Product> {
        check_name("name", &new.name, 1, 100)?;
        check_text("description", &new.description, 10_000)?;
        let team = new
            .team
            .ok_or_else(|| Error::invalid("team", "a product belongs to a team"))?;
        if !actor.member_of(Some(team)) {
            return Err(Error::not_found(team));
        }
        self.check_sets(actor, &[], &new.imagesets)?;
        self.0.insert(Product {
            id: ProductId(0),
            name: new.name,
            description: new.description,
            time: self.0.now(),
            team: Some(team),
            creator: Some(actor.user),
            imagesets: dedup(new.imagesets),
        })
    }

    /// A product the actor may see: of one of their teams, or attached to a set they read.
    pub fn get(&self, actor: &Actor, id: ProductId) -> Result<Product> {
        let p: Product = self.0.load(id.0)?;
        if self.visible(actor, &p) {
            Ok(p)
        } else {
            Err(Error::not_found(id))
        }
    }

    /// Every product the actor may see, by id.
    pub fn list(&self, actor: &Actor) -> Result<Vec<Product>> {
        Ok(self
            .0
            .all::<Product>()?
            .into_iter()
            .filter(|p| self.visible(actor, p))
            .collect())
    }

    /// The products attached to a set the actor reads.
    pub fn of_set(&self, actor: &Actor, set: ImageSetId) -> Result<Vec<Product>> {
        self.0.readable_set(actor, set)?;
        self.0
            .by_index(Index::ProductBySet, &Key::new().u64(set.0).build())
    }

    /// Changes a product (members of its team).
    pub fn update(&self, actor: &Actor, id: ProductId, patch: ProductPatch) -> Result<Product> {
        let p = self.get(actor, id)?;
        if !actor.member_of(p.team) {
            return Err(Error::denied(format!(
                "only members of its team change {id}"
            )));
        }
        if let Some(n) = &patch.name {
            check_name("name", n, 1, 100)?;
        }
        if let Some(sets) = &patch.imagesets {
            self.check_sets(actor, &p.imagesets, sets)?;
        }
        self.0.modify::<Product>(id.0, |old| {
            let mut p = old.clone();
            if let Some(n) = &patch.name {
                p.name = n.clone();
            }
            if let Some(d) = &patch.description {
                p.description = d.clone();
            }
            if let Some(s) = &patch.imagesets {
                p.imagesets = dedup(s.clone());
            }
            Ok((p, Vec::new()))
        })
    }

    /// Attaches a product to a set (the actor must see the product and edit the set).
    pub fn attach(&self, actor: &Actor, id: ProductId, set: ImageSetId) -> Result<Product> {
        let p = self.get(actor, id)?;
        let mut sets = p.imagesets.clone();
        sets.push(set);
        self.set_sets(actor, &p, sets)
    }

    /// Detaches a product from a set.
    pub fn detach(&self, actor: &Actor, id: ProductId, set: ImageSetId) -> Result<Product> {
        let p = self.get(actor, id)?;
        let sets = p.imagesets.iter().copied().filter(|s| *s != set).collect();
        self.set_sets(actor, &p, sets)
    }

    fn set_sets(&self, actor: &Actor, p: &Product, sets: Vec<ImageSetId>) -> Result<Product> {
        self.check_sets(actor, &p.imagesets, &sets)?;
        self.0.modify::<Product>(p.id.0, |old| {
            Ok((
                Product {
                    imagesets: dedup(sets.clone()),
                    ..old.clone()
                },
                Vec::new(),
            ))
        })
    }

    /// Every set added or removed must be editable by the actor.
    fn check_sets(&self, actor: &Actor, before: &[ImageSetId], after: &[ImageSetId]) -> Result<()> {
        let changed = after
            .iter()
            .filter(|s| !before.contains(s))
            .chain(before.iter().filter(|s| !after.contains(s)));
        for &set in changed {
            let (_, rights) = self.0.readable_set(actor, set)?;
            if !rights.edit_set {
                return Err(Error::denied(format!(
                    "attaching products to {set} needs edit rights on it"
                )));
            }
        }
        Ok(())
    }

    fn visible(&self, actor: &Actor, p: &Product) -> bool {
        actor.member_of(p.team)
            || p.imagesets
                .iter()
                .any(|s| self.0.readable_set(actor, *s).is_ok())
    }
}

fn dedup<T: Ord + Copy>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v.dedup();
    v
}

/// An annotation type to create. Defaults are EXACT's.
#[derive(Debug, Clone)]
pub struct NewAnnotationType {
    /// Name, unique within the product, at most 50 characters.
    pub name: String,
    /// How it is drawn.
    pub vector_type: VectorType,
    /// Exact node count for polygons and multi-lines; 0 = any.
    pub node_count: u32,
    /// Allow the concealed flag.
    pub enable_concealed: bool,
    /// Allow the blurred flag.
    pub enable_blurred: bool,
    /// `#RRGGBB`.
    pub color_code: String,
    /// Size of click-placed boxes and points.
    pub default_width: u32,
    /// Size of click-placed boxes and points.
    pub default_height: u32,
    /// Display and hotkey order.
    pub sort_order: i32,
    /// Drawn closed.
    pub closed: bool,
    /// Selected by area.
    pub area_hit_test: bool,
    /// The product; the actor must belong to its team.
    pub product: Option<ProductId>,
    /// Shown on every frame.
    pub multi_frame: bool,
}

impl NewAnnotationType {
    /// A type named `name` drawn as `vector_type` in `product`, with EXACT's defaults.
    pub fn new(name: impl Into<String>, vector_type: VectorType, product: ProductId) -> Self {
        NewAnnotationType {
            name: name.into(),
            vector_type,
            node_count: 0,
            enable_concealed: false,
            enable_blurred: true,
            color_code: "#CC4444".into(),
            default_width: 50,
            default_height: 50,
            sort_order: 0,
            closed: false,
            area_hit_test: false,
            product: Some(product),
            multi_frame: false,
        }
    }
}

/// Changes to an annotation type; `active: Some(false)` is its soft delete.
#[derive(Debug, Clone, Default)]
#[allow(missing_docs)] // each field changes the model field of the same name
pub struct AnnotationTypePatch {
    pub name: Option<String>,
    pub vector_type: Option<VectorType>,
    pub node_count: Option<u32>,
    pub enable_concealed: Option<bool>,
    pub enable_blurred: Option<bool>,
    pub color_code: Option<String>,
    pub default_width: Option<u32>,
    pub default_height: Option<u32>,
    pub sort_order: Option<i32>,
    pub closed: Option<bool>,
    pub area_hit_test: Option<bool>,
    pub active: Option<bool>,
    pub multi_frame: Option<bool>,
}

/// Annotation type use cases.
pub struct AnnotationTypes<'a>(pub(crate) &'a Catalog);

impl AnnotationTypes<'_> {
    /// Creates a type in a product of one of the actor's teams.
    pub fn create(&self, actor: &Actor, new: NewAnnotationType) -> Result<AnnotationType> {
        let product = new
            .product
            .ok_or_else(|| Error::invalid("product", "a type belongs to a product"))?;
        self.require_product_member(actor, product)?;
        let t = AnnotationType {
            id: AnnotationTypeId(0),
            name: new.name,
            vector_type: new.vector_type,
            node_count: new.node_count,
            enable_concealed: new.enable_concealed,
            enable_blurred: new.enable_blurred,
            color_code: new.color_code,
            default_width: new.default_width,
            default_height: new.default_height,
            sort_order: new.sort_order,
            closed: new.closed,
            area_hit_test: new.area_hit_test,
            product: Some(product),
            active: true,
            multi_frame: new.multi_frame,
        };
        validate_type(&t)?;
        self.0.insert(t)
    }

    /// A type the actor may see (through its product).
    pub fn get(&self, actor: &Actor, id: AnnotationTypeId) -> Result<AnnotationType> {
        let t: AnnotationType = self.0.load(id.0)?;
        match t.product {
            Some(p) if self.0.products().get(actor, p).is_ok() => Ok(t),
            _ if actor.superuser => Ok(t),
            _ => Err(Error::not_found(id)),
        }
    }

    /// Every type the actor may see, inactive ones included, by id.
    pub fn list(&self, actor: &Actor) -> Result<Vec<AnnotationType>> {
        let products: Vec<ProductId> = self
            .0
            .products()
            .list(actor)?
            .into_iter()
            .map(|p| p.id)
            .collect();
        Ok(self
            .0
            .all::<AnnotationType>()?
            .into_iter()
            .filter(|t| actor.superuser || t.product.is_some_and(|p| products.contains(&p)))
            .collect())
    }

    /// The active types offered on a set: those of its products, by sort order.
    pub fn of_set(&self, actor: &Actor, set: ImageSetId) -> Result<Vec<AnnotationType>> {
        let mut out = Vec::new();
        for p in self.0.products().of_set(actor, set)? {
            let types: Vec<AnnotationType> = self
                .0
                .by_index(Index::TypeByProduct, &Key::new().opt(Some(p.id.0)).build())?;
            out.extend(types.into_iter().filter(|t| t.active));
        }
        out.sort_by_key(|t| (t.sort_order, t.id));
        Ok(out)
    }

    /// Changes a type (members of its product's team).
    pub fn update(
        &self,
        actor: &Actor,
        id: AnnotationTypeId,
        patch: AnnotationTypePatch,
    ) -> Result<AnnotationType> {
        let t = self.get(actor, id)?;
        if let Some(p) = t.product {
            self.require_product_member(actor, p)?;
        }
        self.0.modify::<AnnotationType>(id.0, |old| {
            let mut t = old.clone();
            let p = patch.clone();
            t.name = p.name.unwrap_or(t.name);
            t.vector_type = p.vector_type.unwrap_or(t.vector_type);
            t.node_count = p.node_count.unwrap_or(t.node_count);
            t.enable_concealed = p.enable_concealed.unwrap_or(t.enable_concealed);
            t.enable_blurred = p.enable_blurred.unwrap_or(t.enable_blurred);
            t.color_code = p.color_code.unwrap_or(t.color_code);
            t.default_width = p.default_width.unwrap_or(t.default_width);
            t.default_height = p.default_height.unwrap_or(t.default_height);
            t.sort_order = p.sort_order.unwrap_or(t.sort_order);
            t.closed = p.closed.unwrap_or(t.closed);
            t.area_hit_test = p.area_hit_test.unwrap_or(t.area_hit_test);
            t.active = p.active.unwrap_or(t.active);
            t.multi_frame = p.multi_frame.unwrap_or(t.multi_frame);
            validate_type(&t)?;
            Ok((t, Vec::new()))
        })
    }

    fn require_product_member(&self, actor: &Actor, product: ProductId) -> Result<()> {
        let p = self.0.products().get(actor, product)?;
        if !actor.member_of(p.team) {
            return Err(Error::denied(format!(
                "only members of the team of {product} manage its types"
            )));
        }
        Ok(())
    }
}

fn validate_type(t: &AnnotationType) -> Result<()> {
    check_name("name", &t.name, 1, 50)?;
    let c = &t.color_code;
    if c.len() != 7 || !c.starts_with('#') || !c[1..].chars().all(|h| h.is_ascii_hexdigit()) {
        return Err(Error::invalid(
            "color_code",
            format!("{c:?} is not a colour like #CC4444"),
        ));
    }
    if t.default_width == 0 || t.default_height == 0 {
        return Err(Error::invalid(
            "default_width",
            "default sizes must be at least 1 pixel",
        ));
    }
    // EXACT-Sync sends node_count 1 for every type: it only binds polygons and multi-lines.
    let least = match t.vector_type {
        VectorType::Polygon => 3,
        VectorType::MultiLine => 2,
        _ => 0,
    };
    if t.node_count != 0 && t.node_count < least {
        return Err(Error::invalid(
            "node_count",
            format!(
                "a {} needs at least {least} nodes (0 = any)",
                t.vector_type.name()
            ),
        ));
    }
    Ok(())
}

/// An image set to create.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // fields mirror `ImageSet`
pub struct NewImageSet {
    pub name: String,
    pub team: Option<TeamId>,
    pub location: String,
    pub description: String,
    pub public: bool,
    pub public_collaboration: bool,
    pub image_lock: bool,
    pub priority: Priority,
    pub main_annotation_type: Option<AnnotationTypeId>,
    pub collaboration_type: CollaborationType,
}

impl NewImageSet {
    /// A collaborative, private set named `name` in `team`.
    pub fn new(name: impl Into<String>, team: TeamId) -> Self {
        NewImageSet {
            name: name.into(),
            team: Some(team),
            location: String::new(),
            description: String::new(),
            public: false,
            public_collaboration: false,
            image_lock: false,
            priority: Priority::Normal,
            main_annotation_type: None,
            collaboration_type: CollaborationType::Collaborative,
        }
    }
}

/// Changes to an image set.
#[derive(Debug, Clone, Default)]
#[allow(missing_docs)] // fields mirror `ImageSet`
pub struct ImageSetPatch {
    pub name: Option<String>,
    pub location: Option<String>,
    pub description: Option<String>,
    pub public: Option<bool>,
    pub public_collaboration: Option<bool>,
    pub image_lock: Option<bool>,
    pub priority: Option<Priority>,
    pub main_annotation_type: Option<Option<AnnotationTypeId>>,
    pub collaboration_type: Option<CollaborationType>,
    pub creator: Option<Option<UserId>>,
    pub pinned: Option<bool>,
    /// Moves the set to another team (admins of both teams).
    pub team: Option<TeamId>,
}

/// Image set use cases.
pub struct ImageSets<'a>(pub(crate) &'a Catalog);

impl ImageSets<'_> {
    /// Creates a set in one of the actor's teams.
    pub fn create(&self, actor: &Actor, new: NewImageSet) -> Result<ImageSet> {
        check_name("name", &new.name, 1, 256)?;
        check_text("description", &new.description, 1000)?;
        check_text("location", &new.location, 256)?;
        let team = new
            .team
            .ok_or_else(|| Error::invalid("team", "an image set belongs to a team"))?;
        if !actor.member_of(Some(team)) {
            return Err(Error::not_found(team));
        }
        // A member's new public set could take in the team's images (members may move
        // images between their sets): making anything public is the admins' decision.
        if (new.public || new.public_collaboration) && !actor.admin_of(Some(team)) {
            return Err(Error::denied(
                "only team admins make a set public (public, public_collaboration)",
            ));
        }
        if let Some(t) = new.main_annotation_type {
            self.0.annotation_types().get(actor, t)?;
        }
        let set = self.0.insert(ImageSet {
            id: ImageSetId(0),
            name: new.name,
            path: String::new(),
            location: new.location,
            description: new.description,
            time: self.0.now(),
            team: Some(team),
            creator: Some(actor.user),
            public: new.public,
            public_collaboration: new.public_collaboration,
            image_lock: new.image_lock,
            priority: new.priority,
            main_annotation_type: new.main_annotation_type,
            collaboration_type: new.collaboration_type,
            pinned_by: Vec::new(),
        })?;
        // The blob folder is named after the ids, as EXACT names its folders.
        let path = format!("{}_{}", team.0, set.id.0);
        self.0.modify::<ImageSet>(set.id.0, |old| {
            Ok((
                ImageSet {
                    path: path.clone(),
                    ..old.clone()
                },
                Vec::new(),
            ))
        })
    }

    /// A set the actor may read.
    pub fn get(&self, actor: &Actor, id: ImageSetId) -> Result<ImageSet> {
        self.0.readable_set(actor, id).map(|(s, _)| s)
    }

    /// Every set the actor may read, by id.
    pub fn list(&self, actor: &Actor) -> Result<Vec<ImageSet>> {
        Ok(self
            .0
            .all::<ImageSet>()?
            .into_iter()
            .filter(|s| actor.rights(s).read)
            .collect())
    }

    /// The images of a set the actor may read, by id.
    pub fn images(&self, actor: &Actor, id: ImageSetId) -> Result<Vec<Image>> {
        self.0.readable_set(actor, id)?;
        let mut images: Vec<Image> = self
            .0
            .by_index(Index::ImageBySet, &Key::new().u64(id.0).build())?;
        images.retain(|i| !i.deleted);
        Ok(images)
    }

    /// Deletes an empty set (team admins and its creator). A set that still holds images is
    /// refused, so no image or annotation is dropped with it; products and tags let go of it
    /// in the same batch; set versions keep their snapshots.
    pub fn delete(&self, actor: &Actor, id: ImageSetId) -> Result<()> {
        let (set, rights) = self.0.readable_set(actor, id)?;
        if !rights.delete_set {
            return Err(Error::denied(format!("only team admins delete {id}")));
        }
        let c = self.0;
        let images = c
            .by_index::<Image>(Index::ImageBySet, &Key::new().u64(id.0).build())?
            .len();
        if images > 0 {
            return Err(Error::invalid(
                "image_set",
                format!("{id} still holds {images} image(s); delete them first"),
            ));
        }
        let mut tx = super::Tx::default();
        for p in c.by_index::<Product>(Index::ProductBySet, &Key::new().u64(id.0).build())? {
            let mut q = p.clone();
            q.imagesets.retain(|s| *s != id);
            tx.replace(&p, &q, Vec::new());
        }
        for t in
            c.by_index::<crate::model::SetTag>(Index::TagBySet, &Key::new().u64(id.0).build())?
        {
            let mut u = t.clone();
            u.imagesets.retain(|s| *s != id);
            tx.replace(&t, &u, Vec::new());
        }
        tx.remove(&set);
        tx.commit(c)
    }

    /// Creates a set and links the `products` to it, as EXACT's serializer does with a
    /// `product_set`: every product must be visible to the actor; the links are written in one
    /// batch after the set, and a set whose links fail is removed again.
    pub fn create_with_products(
        &self,
        actor: &Actor,
        new: NewImageSet,
        products: &[ProductId],
    ) -> Result<ImageSet> {
        let found = products
            .iter()
            .map(|&p| {
                self.0.products().get(actor, p).map_err(|e| match e {
                    Error::NotFound { what } => Error::invalid("product_set", what),
                    e => e,
                })
            })
            .collect::<Result<Vec<Product>>>()?;
        let set = self.create(actor, new)?;
        let link = || -> Result<()> {
            let (_, rights) = self.0.readable_set(actor, set.id)?;
            if !rights.edit_set {
                return Err(Error::denied(format!(
                    "linking products to {} needs edit rights on it",
                    set.id
                )));
            }
            let mut tx = super::Tx::default();
            for p in &found {
                let mut q = p.clone();
                q.imagesets.push(set.id);
                q.imagesets = dedup(q.imagesets);
                tx.replace(p, &q, Vec::new());
            }
            tx.commit(self.0)
        };
        if let Err(e) = link() {
            let mut tx = super::Tx::default();
            if let Some(made) = self.0.find::<ImageSet>(set.id.0)? {
                tx.remove(&made);
            }
            tx.commit(self.0)?;
            return Err(e);
        }
        Ok(set)
    }

    /// Changes a set (edit rights; the creator only by team admins).
    pub fn update(&self, actor: &Actor, id: ImageSetId, patch: ImageSetPatch) -> Result<ImageSet> {
        let (set, rights) = self.0.readable_set(actor, id)?;
        let only_pin = patch.pinned.is_some()
            && patch.name.is_none()
            && patch.location.is_none()
            && patch.description.is_none()
            && patch.public.is_none()
            && patch.public_collaboration.is_none()
            && patch.image_lock.is_none()
            && patch.priority.is_none()
            && patch.main_annotation_type.is_none()
            && patch.collaboration_type.is_none()
            && patch.creator.is_none()
            && patch.team.is_none();
        if !rights.edit_set && !only_pin {
            return Err(Error::denied(format!("no edit rights on {id}")));
        }
        if patch.creator.is_some() && !actor.admin_of(set.team) {
            return Err(Error::denied("only team admins change a set's creator"));
        }
        // Who sees what (visibility, collaboration type, owning team) is the team admins'
        // decision (EXACT's edit_set rules): a member turning a competitive set collaborative
        // would see everyone's annotations, one making it public would expose the team's
        // slides to every account. Sending the current value (a full PUT) changes nothing.
        let settings = [
            ("public", patch.public.is_some_and(|v| v != set.public)),
            (
                "public_collaboration",
                patch
                    .public_collaboration
                    .is_some_and(|v| v != set.public_collaboration),
            ),
            (
                "collaboration_type",
                patch
                    .collaboration_type
                    .is_some_and(|v| v != set.collaboration_type),
            ),
            ("team", patch.team.is_some_and(|t| Some(t) != set.team)),
        ];
        if let Some((field, _)) = settings.iter().find(|(_, changes)| *changes)
            && !actor.admin_of(set.team)
        {
            return Err(Error::denied(format!(
                "only admins of the set's team change its {field}"
            )));
        }
        if let Some(t) = patch.team.filter(|t| Some(*t) != set.team) {
            if !actor.member_of(Some(t)) {
                return Err(Error::invalid("team", format!("{t} does not exist")));
            }
            if !actor.admin_of(Some(t)) {
                return Err(Error::denied(format!(
                    "only admins of {t} move sets into it"
                )));
            }
        }
        if let Some(n) = &patch.name {
            check_name("name", n, 1, 256)?;
        }
        if let Some(d) = &patch.description {
            check_text("description", d, 1000)?;
        }
        if let Some(Some(t)) = patch.main_annotation_type {
            self.0.annotation_types().get(actor, t)?;
        }
        let me = actor.user;
        self.0.modify::<ImageSet>(id.0, |old| {
            let mut s = old.clone();
            let p = patch.clone();
            s.name = p.name.unwrap_or(s.name);
            s.location = p.location.unwrap_or(s.location);
            s.description = p.description.unwrap_or(s.description);
            s.public = p.public.unwrap_or(s.public);
            s.public_collaboration = p.public_collaboration.unwrap_or(s.public_collaboration);
            s.image_lock = p.image_lock.unwrap_or(s.image_lock);
            s.priority = p.priority.unwrap_or(s.priority);
            s.main_annotation_type = p.main_annotation_type.unwrap_or(s.main_annotation_type);
            s.collaboration_type = p.collaboration_type.unwrap_or(s.collaboration_type);
            s.creator = p.creator.unwrap_or(s.creator);
            s.team = p.team.or(s.team);
            match p.pinned {
                Some(true) if !s.pinned_by.contains(&me) => s.pinned_by.push(me),
                Some(false) => s.pinned_by.retain(|u| *u != me),
                _ => {}
            }
            Ok((s, Vec::new()))
        })
    }
}
