-- exact-rs metadata on PostgreSQL, schema version 1: the record-level contract of
-- exact_core::store::MetaStore mapped onto three tables (see exact-store/src/meta/postgres.rs).
-- Ids are u64 stored with the sign bit flipped, so bigint order is u64 order.

-- Records of every kind: opaque bytes under (kind, id).
CREATE TABLE exact_records (
    kind smallint NOT NULL,
    id   bigint   NOT NULL,
    data bytea    NOT NULL,
    PRIMARY KEY (kind, id)
);

-- Ordered secondary index entries, (idx, key, id) -> value; bytea compares bytewise, so the
-- primary key's b-tree gives the (key, id) order range scans need.
CREATE TABLE exact_entries (
    idx   smallint NOT NULL,
    key   bytea    NOT NULL,
    id    bigint   NOT NULL,
    value bytea    NOT NULL,
    PRIMARY KEY (idx, key, id)
);

-- Keys of unique indexes: at most one id per (idx, key). Kept by the adapter beside
-- exact_entries, so a new unique index in the core needs no migration.
CREATE TABLE exact_unique (
    idx smallint NOT NULL,
    key bytea    NOT NULL,
    id  bigint   NOT NULL,
    PRIMARY KEY (idx, key)
);

-- Id counters: the next id of each kind, advanced by allocate_ids in its own transaction.
CREATE TABLE exact_counters (
    kind smallint PRIMARY KEY,
    next bigint   NOT NULL
);
