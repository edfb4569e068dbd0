//! The shared test kit: the world every suite starts from (store conformance and permissions,
//! the HTTP server's in-process tests, the benches), built once here instead of copied.
//!
//! [`World`] is two teams, each with an admin, a set, a product and an image; the first team
//! has a member and annotation types of every vector type; an outsider belongs to no team.

use exact_core::catalog::{NewAnnotationType, NewImage, NewImageSet, NewProduct, NewTeam, NewUser};
use exact_core::model::{AnnotationType, CollaborationType, Image, ImageSet, Product, Team, User};
use exact_core::store::MetaStore;
use exact_core::{Actor, Catalog, ImageSetId, TeamId, VectorType};
use std::sync::Arc;
use tempfile::TempDir;

/// A metadata backend under test; keeps its directory alive.
pub struct Backend {
    /// The store.
    pub store: Arc<dyn MetaStore>,
    /// Its directory, removed when the backend is dropped.
    pub _dir: Option<TempDir>,
}

/// The in-memory backend.
pub fn memory() -> Backend {
    Backend {
        store: Arc::new(exact_store::meta::memory::open()),
        _dir: None,
    }
}

/// A sled backend in a fresh temporary directory.
pub fn sled() -> Backend {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = exact_store::meta::sled::open(dir.path().join("db")).expect("open sled");
    Backend {
        store: Arc::new(store),
        _dir: Some(dir),
    }
}

/// A PostgreSQL backend in a fresh schema of the database `EXACT_TEST_POSTGRES` names (a URL
/// whose user may create schemas); `None`, with a note on stderr, when the variable is unset.
/// `scripts/test` starts a PostgreSQL server and sets it, so CI runs every suite on it.
pub fn postgres() -> Option<Backend> {
    let Ok(base) = std::env::var("EXACT_TEST_POSTGRES") else {
        eprintln!("EXACT_TEST_POSTGRES is not set: PostgreSQL backend not tested");
        return None;
    };
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let schema = format!(
        "t{}_{}_{}",
        std::process::id(),
        nanos,
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
            .await
            .expect("connect to EXACT_TEST_POSTGRES");
        let conn = tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .expect("create schema");
        drop(client);
        let _ = conn.await;
    });
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
    let store =
        exact_store::meta::postgres::open(&url, exact_store::meta::postgres::Schema::Migrate)
            .expect("open the PostgreSQL store");
    Some(Backend {
        store: Arc::new(store),
        _dir: None,
    })
}

/// See the crate docs.
pub struct World {
    /// The catalog everything was made through.
    pub c: Catalog,
    /// Admin of `team`.
    pub admin: User,
    /// Member (not admin) of `team`.
    pub member: User,
    /// Admin of `other_team`.
    pub other_admin: User,
    /// In no team.
    pub outsider: User,
    /// "pathology".
    pub team: Team,
    /// "radiology".
    pub other_team: Team,
    /// "mitoses", in `team`.
    pub set: ImageSet,
    /// "lungs", in `other_team`.
    pub other_set: ImageSet,
    /// "cells", linked to `set`, with one type per vector type.
    pub product: Product,
    /// `slide.svs`, 100,000 × 80,000, in `set`.
    pub image: Image,
    /// `lung.svs`, 50,000 × 40,000, in `other_set`.
    pub other_image: Image,
    /// One type per [`VectorType`], in `VectorType::ALL` order.
    pub types: Vec<AnnotationType>,
    /// A box type of `other_team`'s product.
    pub other_box: AnnotationType,
    /// The backend, when the world owns it.
    pub _backend: Option<Backend>,
}

impl World {
    /// A collaborative world on `backend`.
    pub fn new(backend: Backend) -> World {
        Self::with(backend, CollaborationType::Collaborative)
    }

    /// A world on `backend` whose `set` has the given collaboration type.
    pub fn with(backend: Backend, collaboration: CollaborationType) -> World {
        let mut w = Self::build(Catalog::new(backend.store.clone()), collaboration);
        w._backend = Some(backend);
        w
    }

    /// A world made through `c` (e.g. `exact.catalog().clone()` of an open handle).
    pub fn build(c: Catalog, collaboration: CollaborationType) -> World {
        // As `Exact::open` does: a new store gets its (empty) annotation counts marked built.
        c.build_counts().unwrap();
        c.build_by_id().unwrap();
        let users = c.users();
        let admin = users.register(NewUser::new("admin")).unwrap();
        let member = users.register(NewUser::new("member")).unwrap();
        let other_admin = users.register(NewUser::new("other")).unwrap();
        let outsider = users.register(NewUser::new("outsider")).unwrap();
        let a = c.actor(admin.id).unwrap();
        let team = c.teams().create(&a, NewTeam::new("pathology")).unwrap();
        // Re-read: the actor's memberships changed.
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
        let product = product_of(&c, &a, "cells", team.id, set.id);
        let other_product = product_of(&c, &o, "nodules", other_team.id, other_set.id);
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
            product,
            image,
            other_image,
            types,
            other_box,
            _backend: None,
        }
    }

    /// The raw metadata store (tests that damage or inspect records); only for a world built
    /// on a [`Backend`].
    pub fn store(&self) -> &Arc<dyn MetaStore> {
        &self
            ._backend
            .as_ref()
            .expect("a world built on a Backend")
            .store
    }

    /// The actor of `u`, with its current memberships.
    pub fn actor(&self, u: &User) -> Actor {
        self.c.actor(u.id).unwrap()
    }

    /// The world's type of vector type `vt`.
    pub fn ty(&self, vt: VectorType) -> &AnnotationType {
        self.types.iter().find(|t| t.vector_type == vt).unwrap()
    }
}

fn product_of(c: &Catalog, a: &Actor, name: &str, team: TeamId, set: ImageSetId) -> Product {
    c.products()
        .create(
            a,
            NewProduct {
                name: name.into(),
                team: Some(team),
                imagesets: vec![set],
                ..Default::default()
            },
        )
        .unwrap()
}
