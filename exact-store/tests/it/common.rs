//! Fixtures: backends to run the suites against, and a small populated world.

use exact_core::catalog::{NewAnnotationType, NewImage, NewImageSet, NewProduct, NewTeam, NewUser};
use exact_core::model::{AnnotationType, CollaborationType, Image, ImageSet, Team, User};
use exact_core::store::MetaStore;
use exact_core::{Actor, Catalog, VectorType};
use std::sync::Arc;
use tempfile::TempDir;

/// A backend under test; keeps its directory alive.
pub struct Backend {
    pub store: Arc<dyn MetaStore>,
    pub _dir: Option<TempDir>,
}

pub fn memory() -> Backend {
    Backend {
        store: Arc::new(exact_store::meta::memory::open()),
        _dir: None,
    }
}

pub fn sled() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let store = exact_store::meta::sled::open(dir.path().join("db")).unwrap();
    Backend {
        store: Arc::new(store),
        _dir: Some(dir),
    }
}

/// Two teams, each with an admin and a member, a set, a product with every vector type, and
/// an image; plus an outsider in no team.
pub struct World {
    pub c: Catalog,
    pub admin: User,
    pub member: User,
    pub other_admin: User,
    pub outsider: User,
    pub team: Team,
    pub other_team: Team,
    pub set: ImageSet,
    pub other_set: ImageSet,
    pub image: Image,
    pub other_image: Image,
    pub types: Vec<AnnotationType>,
    pub other_box: AnnotationType,
    pub _backend: Backend,
}

impl World {
    /// The raw metadata store (tests that damage or inspect records).
    pub fn store(&self) -> &Arc<dyn MetaStore> {
        &self._backend.store
    }

    pub fn new(backend: Backend) -> World {
        Self::with(backend, CollaborationType::Collaborative)
    }

    pub fn with(backend: Backend, collaboration: CollaborationType) -> World {
        let c = Catalog::new(backend.store.clone());
        let users = c.users();
        let admin = users.register(NewUser::new("admin")).unwrap();
        let member = users.register(NewUser::new("member")).unwrap();
        let other_admin = users.register(NewUser::new("other")).unwrap();
        let outsider = users.register(NewUser::new("outsider")).unwrap();
        let a = c.actor(admin.id).unwrap();
        let team = c.teams().create(&a, NewTeam::new("pathology")).unwrap();
        let a = c.actor(admin.id).unwrap();
        c.teams().add_member(&a, team.id, member.id, false).unwrap();
        let o = c.actor(other_admin.id).unwrap();
        let other_team = c.teams().create(&o, NewTeam::new("radiology")).unwrap();
        let o = c.actor(other_admin.id).unwrap();

        let mut new_set = NewImageSet::new("mitoses", team.id);
        new_set.collaboration_type = collaboration;
        let set = c.image_sets().create(&a, new_set).unwrap();
        let other_set = c
            .image_sets()
            .create(&o, NewImageSet::new("lungs", other_team.id))
            .unwrap();
        let product = c
            .products()
            .create(
                &a,
                NewProduct {
                    name: "cells".into(),
                    team: Some(team.id),
                    imagesets: vec![set.id],
                    ..Default::default()
                },
            )
            .unwrap();
        let other_product = c
            .products()
            .create(
                &o,
                NewProduct {
                    name: "nodules".into(),
                    team: Some(other_team.id),
                    imagesets: vec![other_set.id],
                    ..Default::default()
                },
            )
            .unwrap();
        let types = VectorType::ALL
            .iter()
            .map(|vt| {
                let name = format!("{} type", vt.name());
                c.annotation_types()
                    .create(&a, NewAnnotationType::new(name, *vt, product.id))
                    .unwrap()
            })
            .collect();
        let other_box = c
            .annotation_types()
            .create(
                &o,
                NewAnnotationType::new("nodule", VectorType::BoundingBox, other_product.id),
            )
            .unwrap();
        let image = c
            .images()
            .add(&a, NewImage::new(set.id, "slide.svs", 100_000, 80_000))
            .unwrap();
        let other_image = c
            .images()
            .add(&o, NewImage::new(other_set.id, "lung.svs", 50_000, 40_000))
            .unwrap();
        World {
            c,
            admin,
            member,
            other_admin,
            outsider,
            team,
            other_team,
            set,
            other_set,
            image,
            other_image,
            types,
            other_box,
            _backend: backend,
        }
    }

    pub fn actor(&self, u: &User) -> Actor {
        self.c.actor(u.id).unwrap()
    }

    pub fn ty(&self, vt: VectorType) -> &AnnotationType {
        self.types.iter().find(|t| t.vector_type == vt).unwrap()
    }
}

/// Runs `$body` (a fn taking a `Backend`) once per backend, as separate tests.
#[macro_export]
macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        mod memory_backend {
            $(#[test] fn $name() { super::$name($crate::common::memory()) })*
        }
        mod sled_backend {
            $(#[test] fn $name() { super::$name($crate::common::sled()) })*
        }
    };
}
