//! The `postgres://` backend: metadata in PostgreSQL, shared by any number of `exact serve`
//! processes (scale-out). Records, index entries and unique keys live in three tables (schema in
//! `migrations/postgres/`); [`MetaStore::commit`] is one transaction that checks every
//! precondition under row locks, then applies the batch's net effect with one statement per
//! table, so a batch of 10,000 annotations costs a handful of round trips, not 10,000.
//!
//! The port is synchronous and callers may be on any thread (the HTTP server's blocking pool,
//! an async worker, Python), so the store owns a small tokio runtime that drives a connection
//! pool; each call runs there and the caller waits for its answer.

mod commit;

use super::redact;
use exact_core::store::{Batch, EntryVisitor, Expect, Index, IndexEntry, Kind, MetaStore};
use exact_core::{Error, Result};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

/// The schema versions this build knows, in order: (version, SQL).
const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    include_str!("../../../migrations/postgres/0001_init.sql"),
)];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Rows fetched per round trip when visiting an index (viewport queries read pages this way).
const VISIT_PAGE: i64 = 512;

/// Serializes concurrent migrations of one database (any number of servers may start at once).
const MIGRATION_LOCK: i64 = 0x6578_6163_745f_6d67; // "exact_mg"

/// Round trips to the database made by every store of this process (see [`round_trips`]).
static ROUND_TRIPS: AtomicU64 = AtomicU64::new(0);

/// How many round trips to PostgreSQL the stores of this process have made so far (statements,
/// their preparation, transaction begin and commit): benchmarks divide the difference across an
/// operation by its count to show what each use case costs in waits on the network.
pub fn round_trips() -> u64 {
    ROUND_TRIPS.load(Ordering::Relaxed)
}

fn trip(n: u64) {
    ROUND_TRIPS.fetch_add(n, Ordering::Relaxed);
}

/// What to do about the schema when opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// Apply missing migrations (`exact serve`, `exact migrate`).
    Migrate,
    /// Refuse a database that is not at [`SCHEMA_VERSION`].
    Require,
}

/// A PostgreSQL metadata store.
pub struct PgMetaStore {
    /// Always `Some` until dropped (taken there to shut it down without blocking).
    rt: Option<tokio::runtime::Runtime>,
    pool: deadpool_postgres::Pool,
    location: String,
    /// For the LISTEN connection of [`MetaStore::subscribe`] (outside the pool).
    config: tokio_postgres::Config,
    /// The NOTIFY channel of [`MetaStore::publish`] / [`MetaStore::subscribe`]: one per
    /// schema, since notifications are database-wide.
    channel: String,
}

impl Drop for PgMetaStore {
    fn drop(&mut self) {
        // The last handle may go away on an async thread (a server or test ending), where a
        // runtime's blocking shutdown panics; nothing is pending once callers are gone.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl std::fmt::Debug for PgMetaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgMetaStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// Opens the database at `url` (`postgres://user:password@host:port/db?options=…`), checking or
/// migrating its schema as `schema` says.
pub fn open(url: &str, schema: Schema) -> Result<PgMetaStore> {
    let location = redact(url);
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| Error::invalid("meta", format!("{location} is not a PostgreSQL URL: {e}")))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("exact-postgres")
        .enable_all()
        .build()
        .map_err(|e| backend(&location, e))?;
    let manager = deadpool_postgres::Manager::from_config(
        config.clone(),
        tokio_postgres::NoTls,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    let pool = {
        // The pool's timeouts need a runtime in context.
        let _guard = rt.enter();
        deadpool_postgres::Pool::builder(manager)
            .max_size(16)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(std::time::Duration::from_secs(30)))
            .create_timeout(Some(std::time::Duration::from_secs(10)))
            .build()
            .map_err(|e| backend(&location, e))?
    };
    let store = PgMetaStore {
        rt: Some(rt),
        pool,
        location,
        config,
        channel: String::new(),
    };
    store.schema(schema)?;
    let current: String = store.run(|client, location| async move {
        let row = client
            .query_one("SELECT current_schema()", &[])
            .await
            .map_err(|e| db_error(&location, e))?;
        Ok(row.get::<_, Option<String>>(0).unwrap_or_default())
    })?;
    let mut store = store;
    store.channel = format!("exact_changes_{current}")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(63)
        .collect();
    Ok(store)
}

fn backend(location: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Backend {
        backend: location.to_string(),
        source: Box::new(e),
    }
}

/// u64 ids with the sign bit flipped: bigint order is then u64 order.
fn to_db(id: u64) -> i64 {
    (id ^ (1 << 63)) as i64
}

fn from_db(id: i64) -> u64 {
    (id as u64) ^ (1 << 63)
}

fn tag_kind(kind: Kind) -> i16 {
    i16::from(kind.tag())
}

fn tag_index(index: Index) -> i16 {
    i16::from(index.tag())
}

/// `limit` as SQL's bigint (`usize::MAX` means all).
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

impl PgMetaStore {
    /// Runs `f` with a pooled connection on the store's runtime and waits for it.
    fn run<T, F, Fut>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(deadpool_postgres::Object, String) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        let pool = self.pool.clone();
        let location = self.location.clone();
        let Some(rt) = &self.rt else {
            return Err(backend(
                &self.location,
                std::io::Error::other("store closed"),
            ));
        };
        let task = rt.spawn(async move {
            let client = pool.get().await.map_err(|e| backend(&location, e))?;
            f(client, location).await
        });
        // Block on the task from whatever thread the caller is on (never one of ours).
        futures::executor::block_on(task).map_err(|e| backend(&self.location, e))?
    }

    fn schema(&self, schema: Schema) -> Result<()> {
        self.run(move |mut client, location| async move {
            let db = |e| db_error(&location, e);
            let tx = client.transaction().await.map_err(db)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await
                .map_err(db)?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS exact_migrations (
                     version integer PRIMARY KEY,
                     applied_at timestamptz NOT NULL DEFAULT now())",
            )
            .await
            .map_err(db)?;
            let row = tx
                .query_one(
                    "SELECT coalesce(max(version), 0) FROM exact_migrations",
                    &[],
                )
                .await
                .map_err(db)?;
            let current: i32 = row.get(0);
            if current > SCHEMA_VERSION {
                return Err(Error::Unsupported {
                    what: format!(
                        "the database {location} is at schema version {current}, newer than \
                         this exact (which knows up to {SCHEMA_VERSION}); upgrade exact"
                    ),
                });
            }
            if current < SCHEMA_VERSION && schema == Schema::Require {
                return Err(Error::Unsupported {
                    what: format!(
                        "the database {location} is at schema version {current}, this exact \
                         needs {SCHEMA_VERSION}; run `exact migrate --meta <url>`"
                    ),
                });
            }
            for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
                tx.batch_execute(sql).await.map_err(db)?;
                tx.execute(
                    "INSERT INTO exact_migrations (version) VALUES ($1)",
                    &[version],
                )
                .await
                .map_err(db)?;
            }
            tx.commit().await.map_err(db)?;
            Ok(())
        })
    }

    /// The schema version of the database.
    pub fn schema_version(&self) -> Result<i32> {
        self.run(|client, location| async move {
            let row = client
                .query_one(
                    "SELECT coalesce(max(version), 0) FROM exact_migrations",
                    &[],
                )
                .await
                .map_err(|e| db_error(&location, e))?;
            Ok(row.get(0))
        })
    }
}

/// `sql` prepared on this connection: from its cache, or one round trip the first time.
async fn prepared(
    client: &deadpool_postgres::ClientWrapper,
    sql: &str,
) -> std::result::Result<Statement, tokio_postgres::Error> {
    let cached = client.statement_cache.size();
    let statement = client.prepare_cached(sql).await?;
    if client.statement_cache.size() != cached {
        trip(1);
    }
    Ok(statement)
}

/// Runs `sql` as a cached prepared statement: one round trip once it is prepared.
async fn query(
    client: &deadpool_postgres::ClientWrapper,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> std::result::Result<Vec<Row>, tokio_postgres::Error> {
    let statement = prepared(client, sql).await?;
    trip(1);
    client.query(&statement, params).await
}

/// [`query`] of at most one row.
async fn query_opt(
    client: &deadpool_postgres::ClientWrapper,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> std::result::Result<Option<Row>, tokio_postgres::Error> {
    Ok(query(client, sql, params).await?.into_iter().next())
}

/// [`query`] of exactly one row.
async fn query_one(
    client: &deadpool_postgres::ClientWrapper,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> std::result::Result<Row, tokio_postgres::Error> {
    let statement = prepared(client, sql).await?;
    trip(1);
    client.query_one(&statement, params).await
}

/// Maps a database error: lost races to `Conflict`, the rest to `Backend`.
fn db_error(location: &str, e: tokio_postgres::Error) -> Error {
    match e.code() {
        Some(c)
            if *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::UNIQUE_VIOLATION =>
        {
            Error::Conflict {
                what: format!("a batch on {location} (a concurrent writer won)"),
            }
        }
        _ => backend(location, e),
    }
}

/// A batch reduced to its net effect, as columns for `unnest`.
/// The index entry in the columns `at..at + 3` (key, id, value) of `row`.
fn entry(row: &Row, at: usize) -> IndexEntry {
    IndexEntry {
        key: row.get(at),
        id: from_db(row.get(at + 1)),
        value: row.get(at + 2),
    }
}

fn index_of(tag: i16) -> Option<Index> {
    Index::ALL
        .iter()
        .copied()
        .find(|i| i16::from(i.tag()) == tag)
}

impl PgMetaStore {
    /// Many key ranges of `index` in one query (`sql` is [`FIRST_PER_RANGE`] or
    /// [`LAST_PER_RANGE`]): at most `limit` entries of each, tagged with the range's position.
    fn per_range(
        &self,
        sql: &'static str,
        index: Index,
        ranges: &[(Vec<u8>, Vec<u8>)],
        limit: usize,
    ) -> Result<Vec<(usize, IndexEntry)>> {
        let (los, his): (Vec<Vec<u8>>, Vec<Vec<u8>>) = ranges.iter().cloned().unzip();
        let rows: Vec<(i64, IndexEntry)> = self.run(move |client, location| async move {
            let rows = query(
                &client,
                sql,
                &[&tag_index(index), &los, &his, &sql_limit(limit)],
            )
            .await
            .map_err(|e| db_error(&location, e))?;
            Ok(rows.into_iter().map(|r| (r.get(0), entry(&r, 1))).collect())
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(n, e)| Some((usize::try_from(n - 1).ok()?, e)))
            .collect())
    }
}

/// Each range's first entries, in key order (`unnest … WITH ORDINALITY` numbers the ranges).
const FIRST_PER_RANGE: &str = "SELECT r.n, x.key, x.id, x.value
     FROM unnest($2::bytea[], $3::bytea[]) WITH ORDINALITY AS r(lo, hi, n)
     CROSS JOIN LATERAL (
         SELECT key, id, value FROM exact_entries
         WHERE idx = $1 AND key >= r.lo AND key < r.hi
         ORDER BY key, id LIMIT $4) x
     ORDER BY r.n, x.key, x.id";

/// Each range's last entries, in reverse key order.
const LAST_PER_RANGE: &str = "SELECT r.n, x.key, x.id, x.value
     FROM unnest($2::bytea[], $3::bytea[]) WITH ORDINALITY AS r(lo, hi, n)
     CROSS JOIN LATERAL (
         SELECT key, id, value FROM exact_entries
         WHERE idx = $1 AND key >= r.lo AND key < r.hi
         ORDER BY key DESC, id DESC LIMIT $4) x";

impl MetaStore for PgMetaStore {
    fn location(&self) -> &str {
        &self.location
    }

    fn get(&self, kind: Kind, id: u64) -> Result<Option<Vec<u8>>> {
        self.run(move |client, location| async move {
            let row = query_opt(
                &client,
                "SELECT data FROM exact_records WHERE kind = $1 AND id = $2",
                &[&tag_kind(kind), &to_db(id)],
            )
            .await
            .map_err(|e| db_error(&location, e))?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn get_many(&self, kind: Kind, ids: &[u64]) -> Result<Vec<Option<Vec<u8>>>> {
        let keys: Vec<i64> = ids.iter().map(|i| to_db(*i)).collect();
        let found = self.run(move |client, location| async move {
            let rows = query(
                &client,
                "SELECT id, data FROM exact_records WHERE kind = $1 AND id = ANY($2)",
                &[&tag_kind(kind), &keys],
            )
            .await
            .map_err(|e| db_error(&location, e))?;
            Ok(rows
                .into_iter()
                .map(|r| (from_db(r.get(0)), r.get::<_, Vec<u8>>(1)))
                .collect::<HashMap<u64, Vec<u8>>>())
        })?;
        Ok(ids.iter().map(|id| found.get(id).cloned()).collect())
    }

    fn scan(&self, kind: Kind, after: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>> {
        if after == u64::MAX || limit == 0 {
            return Ok(Vec::new());
        }
        self.run(move |client, location| async move {
            let rows = query(
                &client,
                "SELECT id, data FROM exact_records WHERE kind = $1 AND id > $2
                     ORDER BY id LIMIT $3",
                &[&tag_kind(kind), &to_db(after), &sql_limit(limit)],
            )
            .await
            .map_err(|e| db_error(&location, e))?;
            Ok(rows
                .into_iter()
                .map(|r| (from_db(r.get(0)), r.get(1)))
                .collect())
        })
    }

    fn index_range(
        &self,
        index: Index,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<IndexEntry>> {
        if limit == 0 || start >= end {
            return Ok(Vec::new());
        }
        let (start, end) = (start.to_vec(), end.to_vec());
        self.run(move |client, location| async move {
            let rows = query(
                &client,
                "SELECT key, id, value FROM exact_entries
                     WHERE idx = $1 AND key >= $2 AND key < $3
                     ORDER BY key, id LIMIT $4",
                &[&tag_index(index), &start, &end, &sql_limit(limit)],
            )
            .await
            .map_err(|e| db_error(&location, e))?;
            Ok(rows
                .into_iter()
                .map(|r| IndexEntry {
                    key: r.get(0),
                    id: from_db(r.get(1)),
                    value: r.get(2),
                })
                .collect())
        })
    }

    fn index_visit(
        &self,
        index: Index,
        start: &[u8],
        end: &[u8],
        visit: &mut EntryVisitor<'_>,
    ) -> Result<()> {
        self.index_visit_many(index, &[(start.to_vec(), end.to_vec())], visit)
    }

    fn index_visit_many(
        &self,
        index: Index,
        ranges: &[(Vec<u8>, Vec<u8>)],
        visit: &mut EntryVisitor<'_>,
    ) -> Result<()> {
        // Pages of rows across all ranges at once (a viewport's grid rows in one round trip),
        // resumed by keyset: the first range left starts at the last key read, past its id.
        let mut left: Vec<(Vec<u8>, Vec<u8>)> =
            ranges.iter().filter(|(s, e)| s < e).cloned().collect();
        let mut after: Option<i64> = None;
        while !left.is_empty() {
            let (los, his): (Vec<Vec<u8>>, Vec<Vec<u8>>) = left.iter().cloned().unzip();
            let (resume, past) = (after.is_some(), after.unwrap_or(0));
            let rows: Vec<(i64, Vec<u8>, i64, Vec<u8>)> =
                self.run(move |client, location| async move {
                    let rows = query(
                        &client,
                        "SELECT r.n, x.key, x.id, x.value
                         FROM unnest($2::bytea[], $3::bytea[]) WITH ORDINALITY AS r(lo, hi, n)
                         CROSS JOIN LATERAL (
                             SELECT key, id, value FROM exact_entries
                             WHERE idx = $1 AND key >= r.lo AND key < r.hi
                               AND (NOT $4 OR r.n > 1 OR key > r.lo OR id > $5)
                             ORDER BY key, id LIMIT $6) x
                         ORDER BY r.n, x.key, x.id LIMIT $6",
                        &[&tag_index(index), &los, &his, &resume, &past, &VISIT_PAGE],
                    )
                    .await
                    .map_err(|e| db_error(&location, e))?;
                    Ok(rows
                        .into_iter()
                        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                        .collect())
                })?;
            let full = rows.len() as i64 == VISIT_PAGE;
            for (_, key, id, value) in &rows {
                if !visit(key, from_db(*id), value) {
                    return Ok(());
                }
            }
            match rows.into_iter().last() {
                Some((n, key, id, _)) if full => {
                    // Ordinals count from 1 within `left`.
                    let n = usize::try_from(n - 1).unwrap_or(0).min(left.len() - 1);
                    left.drain(..n);
                    left[0].0 = key;
                    after = Some(id);
                }
                _ => return Ok(()),
            }
        }
        Ok(())
    }

    fn index_range_many(
        &self,
        index: Index,
        ranges: &[(Vec<u8>, Vec<u8>)],
        limit: usize,
    ) -> Result<Vec<Vec<IndexEntry>>> {
        let mut out: Vec<Vec<IndexEntry>> = ranges.iter().map(|_| Vec::new()).collect();
        if limit == 0 || ranges.is_empty() {
            return Ok(out);
        }
        for (n, e) in self.per_range(FIRST_PER_RANGE, index, ranges, limit)? {
            if let Some(slot) = out.get_mut(n) {
                slot.push(e);
            }
        }
        Ok(out)
    }

    fn index_last_many(
        &self,
        index: Index,
        ranges: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<Vec<Option<IndexEntry>>> {
        let mut out: Vec<Option<IndexEntry>> = ranges.iter().map(|_| None).collect();
        if ranges.is_empty() {
            return Ok(out);
        }
        for (n, e) in self.per_range(LAST_PER_RANGE, index, ranges, 1)? {
            if let Some(slot) = out.get_mut(n) {
                *slot = Some(e);
            }
        }
        Ok(out)
    }

    fn index_last(&self, index: Index, start: &[u8], end: &[u8]) -> Result<Option<IndexEntry>> {
        if start >= end {
            return Ok(None);
        }
        let (start, end) = (start.to_vec(), end.to_vec());
        self.run(move |client, location| async move {
            let row = query_opt(
                &client,
                "SELECT key, id, value FROM exact_entries
                     WHERE idx = $1 AND key >= $2 AND key < $3
                     ORDER BY key DESC, id DESC LIMIT 1",
                &[&tag_index(index), &start, &end],
            )
            .await
            .map_err(|e| db_error(&location, e))?;
            Ok(row.map(|r| IndexEntry {
                key: r.get(0),
                id: from_db(r.get(1)),
                value: r.get(2),
            }))
        })
    }

    fn allocate_ids(&self, kind: Kind, count: u64) -> Result<u64> {
        let count = i64::try_from(count)
            .ok()
            .filter(|c| *c < i64::MAX / 2)
            .ok_or_else(|| Error::invalid("count", "id space exhausted"))?;
        self.run(move |client, location| async move {
            // One statement: concurrent servers each get their own range.
            let row = query_one(
                &client,
                "INSERT INTO exact_counters (kind, next) VALUES ($1, 1 + $2::int8)
                     ON CONFLICT (kind) DO UPDATE SET next = exact_counters.next + $2::int8
                     RETURNING next - $2::int8",
                &[&tag_kind(kind), &count],
            )
            .await
            .map_err(|e| db_error(&location, e))?;
            let first: i64 = row.get(0);
            u64::try_from(first).map_err(|_| Error::corrupt(location, "negative id counter"))
        })
    }

    fn publish(&self, messages: &[String]) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let (messages, channel) = (messages.to_vec(), self.channel.clone());
        self.run(move |client, location| async move {
            query(
                &client,
                "SELECT pg_notify($1, m) FROM unnest($2::text[]) AS m",
                &[&channel, &messages],
            )
            .await
            .map_err(|e| db_error(&location, e))?;
            Ok(())
        })
    }

    fn subscribe(&self, on_message: Box<dyn Fn(&str) + Send + Sync>) -> Result<bool> {
        let Some(rt) = &self.rt else {
            return Ok(false);
        };
        let (config, location) = (self.config.clone(), self.location.clone());
        let listen = format!("LISTEN \"{}\"", self.channel);
        let on_message: std::sync::Arc<dyn Fn(&str) + Send + Sync> = on_message.into();
        // One LISTEN connection, outside the pool, reconnected whenever it drops.
        rt.spawn(async move {
            use futures::StreamExt;
            loop {
                match config.connect(tokio_postgres::NoTls).await {
                    Ok((client, mut connection)) => {
                        // The connection task delivers notifications (and drives the client).
                        let on = on_message.clone();
                        let pump = tokio::spawn(async move {
                            let mut messages =
                                futures::stream::poll_fn(move |cx| connection.poll_message(cx));
                            while let Some(m) = messages.next().await {
                                match m {
                                    Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                                        on(n.payload())
                                    }
                                    Ok(_) => {}
                                    Err(_) => break,
                                }
                            }
                        });
                        match client.batch_execute(&listen).await {
                            Ok(()) => {
                                let _ = pump.await;
                            }
                            Err(e) => {
                                tracing::warn!(store = %location, error = %e, "LISTEN failed");
                                pump.abort();
                            }
                        }
                        drop(client);
                    }
                    Err(e) => {
                        tracing::warn!(store = %location, error = %e, "cannot LISTEN for changes");
                    }
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
        Ok(true)
    }

    fn commit(&self, batch: Batch) -> Result<()> {
        self.commit_batch(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_their_order() {
        let ids = [0u64, 1, 2, 255, 1 << 40, (1 << 63) - 1, 1 << 63, u64::MAX];
        for w in ids.windows(2) {
            assert!(to_db(w[0]) < to_db(w[1]), "{w:?}");
            assert_eq!(from_db(to_db(w[0])), w[0]);
        }
    }
}
