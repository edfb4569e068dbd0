//! exact-store integration tests: the metadata-store conformance suite run against every
//! backend, the permission matrix, history and versions, durability, viewport queries.

mod agreement;
mod byid;
mod common;
mod conformance;
mod counts;
mod durability;
mod files;
mod history;
mod integrity;
mod leases;
mod listing;
mod maps;
mod migrate;
mod overviews;
mod permissions;
mod resources;
mod s3;
mod set_jobs;
mod verified;
mod versions;
mod viewport;
