//! [`MetaStore::commit`] for PostgreSQL: a batch reduced to its net effect, its preconditions
//! checked under row locks and its writes sent as one `unnest` statement per table, all in one
//! pipelined transaction.

use super::*;

#[derive(Default)]
struct Net {
    // Precondition checks.
    rec_check: Vec<(Kind, u64, Expect)>,
    ent_check: Vec<(Index, Vec<u8>, u64, Expect)>,
    // Final state per key, last write wins (as the key-value backends apply them in order).
    records: BTreeMap<(i16, i64), Option<Vec<u8>>>,
    entries: BTreeMap<(i16, Vec<u8>, i64), Option<Vec<u8>>>,
    /// Records that must not exist before the batch: inserted without upsert, so a concurrent
    /// insert of the same id fails the batch instead of being overwritten.
    fresh_records: std::collections::BTreeSet<(i16, i64)>,
    fresh_entries: std::collections::BTreeSet<(i16, Vec<u8>, i64)>,
}

impl Net {
    fn of(batch: Batch) -> Net {
        let mut net = Net::default();
        for w in batch.writes {
            let rk = (tag_kind(w.kind), to_db(w.id));
            match &w.expect {
                Expect::Anything => {}
                Expect::Absent => {
                    net.fresh_records.insert(rk);
                    net.rec_check.push((w.kind, w.id, w.expect.clone()));
                }
                Expect::Exactly(_) => net.rec_check.push((w.kind, w.id, w.expect.clone())),
            }
            for t in w.remove {
                net.entries
                    .insert((tag_index(t.index), t.key, to_db(w.id)), None);
            }
            for t in w.add {
                net.entries
                    .insert((tag_index(t.index), t.key, to_db(w.id)), Some(t.value));
            }
            net.records.insert(rk, w.data);
        }
        for e in batch.entries {
            let ek = (tag_index(e.index), e.key.clone(), to_db(e.id));
            match &e.expect {
                Expect::Anything => {}
                Expect::Absent => {
                    net.fresh_entries.insert(ek.clone());
                    net.ent_check.push((e.index, e.key, e.id, e.expect.clone()));
                }
                Expect::Exactly(_) => net.ent_check.push((e.index, e.key, e.id, e.expect.clone())),
            }
            net.entries.insert(ek, e.value);
        }
        net
    }
}

impl PgMetaStore {
    /// [`MetaStore::commit`]: the batch's net effect, checked and written in one pipelined
    /// transaction.
    pub(super) fn commit_batch(&self, batch: Batch) -> Result<()> {
        let net = Net::of(batch);
        // One unique key claimed by two ids inside the batch (the table would catch it too, but
        // one INSERT cannot claim a key twice).
        let mut claimed: HashMap<(i16, &[u8]), i64> = HashMap::new();
        for ((x, key, id), value) in &net.entries {
            if value.is_some()
                && index_of(*x).is_some_and(Index::unique)
                && let Some(other) = claimed.insert((*x, key), *id).filter(|o| o != id)
            {
                return Err(Error::exists(format!(
                    "{:?} key shared by ids {} and {}",
                    index_of(*x),
                    from_db(other),
                    from_db(*id)
                )));
            }
        }
        drop(claimed);
        self.run(move |client, location| async move {
            // Records: deletions, fresh inserts (fail on a concurrent insert), upserts.
            let (mut del_k, mut del_i) = (Vec::new(), Vec::new());
            let (mut new_k, mut new_i, mut new_d) = (Vec::new(), Vec::new(), Vec::new());
            let (mut up_k, mut up_i, mut up_d) = (Vec::new(), Vec::new(), Vec::new());
            for ((k, i), data) in &net.records {
                match data {
                    None => {
                        del_k.push(*k);
                        del_i.push(*i);
                    }
                    Some(d) if net.fresh_records.contains(&(*k, *i)) => {
                        new_k.push(*k);
                        new_i.push(*i);
                        new_d.push(d.as_slice());
                    }
                    Some(d) => {
                        up_k.push(*k);
                        up_i.push(*i);
                        up_d.push(d.as_slice());
                    }
                }
            }
            // Index entries, and the unique keys of unique indexes beside them.
            let (mut del_x, mut del_key, mut del_id) = (Vec::new(), Vec::new(), Vec::new());
            let (mut new_x, mut new_key, mut new_id, mut new_v) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let (mut up_x, mut up_key, mut up_id, mut up_v) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let (mut uq_x, mut uq_key, mut uq_id) = (Vec::new(), Vec::new(), Vec::new());
            for ((x, key, id), value) in &net.entries {
                let unique = index_of(*x).is_some_and(Index::unique);
                match value {
                    None => {
                        del_x.push(*x);
                        del_key.push(key.as_slice());
                        del_id.push(*id);
                    }
                    Some(v) => {
                        if unique {
                            uq_x.push(*x);
                            uq_key.push(key.as_slice());
                            uq_id.push(*id);
                        }
                        if net.fresh_entries.contains(&(*x, key.clone(), *id)) {
                            new_x.push(*x);
                            new_key.push(key.as_slice());
                            new_id.push(*id);
                            new_v.push(v.as_slice());
                        } else {
                            up_x.push(*x);
                            up_key.push(key.as_slice());
                            up_id.push(*id);
                            up_v.push(v.as_slice());
                        }
                    }
                }
            }
            let (rc_k, rc_i): (Vec<i16>, Vec<i64>) = net
                .rec_check
                .iter()
                .map(|(k, i, _)| (tag_kind(*k), to_db(*i)))
                .unzip();
            let ec_x: Vec<i16> = net.ent_check.iter().map(|c| tag_index(c.0)).collect();
            let ec_key: Vec<&[u8]> = net.ent_check.iter().map(|c| c.1.as_slice()).collect();
            let ec_id: Vec<i64> = net.ent_check.iter().map(|c| to_db(c.2)).collect();

            // The steps that have something to do, in order: precondition checks (locking the
            // rows they read, in key order, so two batches cannot deadlock), then the writes.
            let steps: [(Step, &str, Vec<&(dyn ToSql + Sync)>, bool); 10] = [
                (
                    Step::CheckRecords,
                    CHECK_RECORDS,
                    vec![&rc_k, &rc_i],
                    !rc_k.is_empty(),
                ),
                (
                    Step::CheckEntries,
                    CHECK_ENTRIES,
                    vec![&ec_x, &ec_key, &ec_id],
                    !ec_x.is_empty(),
                ),
                (
                    Step::Write,
                    DELETE_RECORDS,
                    vec![&del_k, &del_i],
                    !del_k.is_empty(),
                ),
                (
                    Step::Write,
                    INSERT_RECORDS,
                    vec![&new_k, &new_i, &new_d],
                    !new_k.is_empty(),
                ),
                (
                    Step::Write,
                    UPSERT_RECORDS,
                    vec![&up_k, &up_i, &up_d],
                    !up_k.is_empty(),
                ),
                (
                    Step::Write,
                    DELETE_ENTRIES,
                    vec![&del_x, &del_key, &del_id],
                    !del_x.is_empty(),
                ),
                (
                    Step::Write,
                    DELETE_UNIQUE,
                    vec![&del_x, &del_key, &del_id],
                    !del_x.is_empty(),
                ),
                (
                    Step::Write,
                    INSERT_ENTRIES,
                    vec![&new_x, &new_key, &new_id, &new_v],
                    !new_x.is_empty(),
                ),
                (
                    Step::Write,
                    UPSERT_ENTRIES,
                    vec![&up_x, &up_key, &up_id, &up_v],
                    !up_x.is_empty(),
                ),
                (
                    Step::ClaimUnique,
                    CLAIM_UNIQUE,
                    vec![&uq_x, &uq_key, &uq_id],
                    !uq_x.is_empty(),
                ),
            ];
            let steps: Vec<_> = steps.into_iter().filter(|s| s.3).collect();
            let db = |e| db_error(&location, e);
            // Prepared once per connection (cached), all at once.
            let statements = futures::future::try_join_all(
                steps.iter().map(|(_, sql, _, _)| prepared(&client, sql)),
            )
            .await
            .map_err(db)?;
            // One pipeline: BEGIN and every step go out together and are answered in order
            // (each request is sent when its future is first polled, and `join_all` of this
            // few polls them in order), so a batch costs two round trips with COMMIT.
            trip(2);
            let begin = async {
                client.batch_execute("BEGIN").await?;
                Ok(Vec::new())
            };
            let mut pipeline: Vec<Pending<'_>> = vec![Box::pin(begin)];
            for ((_, _, params, _), statement) in steps.iter().zip(&statements) {
                pipeline.push(Box::pin(client.query(statement, params)));
            }
            let mut answers = futures::future::join_all(pipeline).await.into_iter();
            let outcome = (|| {
                answers.next().unwrap_or(Ok(Vec::new())).map_err(db)?;
                let mut failed = None;
                for ((step, _, _, _), answer) in steps.iter().zip(answers) {
                    let rows = match answer {
                        Ok(rows) => rows,
                        Err(e) => {
                            // The first failure is the cause; later ones only say the
                            // transaction is aborted.
                            failed.get_or_insert(e);
                            continue;
                        }
                    };
                    match step {
                        Step::CheckRecords => check_records(&rows, &net.rec_check)?,
                        Step::CheckEntries => check_entries(&rows, &net.ent_check)?,
                        Step::Write => {}
                        Step::ClaimUnique => check_claims(&rows, &uq_x, &uq_key)?,
                    }
                }
                match failed {
                    Some(e) => Err(db(e)),
                    None => Ok(()),
                }
            })();
            trip(1);
            match outcome {
                Ok(()) => client.batch_execute("COMMIT").await.map_err(db),
                Err(e) => {
                    if client.batch_execute("ROLLBACK").await.is_err() {
                        // Never hand a connection in an unknown transaction state back.
                        drop(deadpool_postgres::Object::take(client));
                    }
                    Err(e)
                }
            }
        })
    }
}

/// A statement sent in [`MetaStore::commit`]'s pipeline, waiting for its answer.
type Pending<'a> = std::pin::Pin<
    Box<dyn Future<Output = std::result::Result<Vec<Row>, tokio_postgres::Error>> + Send + 'a>,
>;

/// What a step of [`MetaStore::commit`]'s pipeline answers.
#[derive(Clone, Copy)]
enum Step {
    CheckRecords,
    CheckEntries,
    Write,
    ClaimUnique,
}

const CHECK_RECORDS: &str = "SELECT r.kind, r.id, r.data FROM exact_records r
     JOIN unnest($1::int2[], $2::int8[]) AS c(kind, id) ON r.kind = c.kind AND r.id = c.id
     ORDER BY r.kind, r.id FOR UPDATE OF r";
const CHECK_ENTRIES: &str = "SELECT e.idx, e.key, e.id, e.value FROM exact_entries e
     JOIN unnest($1::int2[], $2::bytea[], $3::int8[]) AS c(idx, key, id)
       ON e.idx = c.idx AND e.key = c.key AND e.id = c.id
     ORDER BY e.idx, e.key, e.id FOR UPDATE OF e";
const DELETE_RECORDS: &str =
    "DELETE FROM exact_records r USING unnest($1::int2[], $2::int8[]) AS d(kind, id)
     WHERE r.kind = d.kind AND r.id = d.id";
const INSERT_RECORDS: &str = "INSERT INTO exact_records (kind, id, data)
     SELECT * FROM unnest($1::int2[], $2::int8[], $3::bytea[])";
const UPSERT_RECORDS: &str = "INSERT INTO exact_records (kind, id, data)
     SELECT * FROM unnest($1::int2[], $2::int8[], $3::bytea[])
     ON CONFLICT (kind, id) DO UPDATE SET data = EXCLUDED.data";
const DELETE_ENTRIES: &str = "DELETE FROM exact_entries e
     USING unnest($1::int2[], $2::bytea[], $3::int8[]) AS d(idx, key, id)
     WHERE e.idx = d.idx AND e.key = d.key AND e.id = d.id";
const DELETE_UNIQUE: &str = "DELETE FROM exact_unique u
     USING unnest($1::int2[], $2::bytea[], $3::int8[]) AS d(idx, key, id)
     WHERE u.idx = d.idx AND u.key = d.key AND u.id = d.id";
const INSERT_ENTRIES: &str = "INSERT INTO exact_entries (idx, key, id, value)
     SELECT * FROM unnest($1::int2[], $2::bytea[], $3::int8[], $4::bytea[])";
const UPSERT_ENTRIES: &str = "INSERT INTO exact_entries (idx, key, id, value)
     SELECT * FROM unnest($1::int2[], $2::bytea[], $3::int8[], $4::bytea[])
     ON CONFLICT (idx, key, id) DO UPDATE SET value = EXCLUDED.value";
/// A key already held by another id is not returned: that is a duplicate.
const CLAIM_UNIQUE: &str = "INSERT INTO exact_unique (idx, key, id)
     SELECT * FROM unnest($1::int2[], $2::bytea[], $3::int8[])
     ON CONFLICT (idx, key) DO UPDATE SET id = EXCLUDED.id
     WHERE exact_unique.id = EXCLUDED.id
     RETURNING idx, key";

/// Fails with `AlreadyExists` when a unique key the batch claims (`xs`, `keys`) is not among
/// those `rows` returned (another id holds it).
fn check_claims(rows: &[Row], xs: &[i16], keys: &[&[u8]]) -> Result<()> {
    if rows.len() == xs.len() {
        return Ok(());
    }
    let got: std::collections::HashSet<(i16, Vec<u8>)> =
        rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let taken = xs
        .iter()
        .zip(keys)
        .find(|(x, k)| !got.contains(&(**x, k.to_vec())))
        .and_then(|(x, _)| index_of(*x));
    Err(Error::exists(format!(
        "{} key",
        taken.map(|i| format!("{i:?}")).unwrap_or_default()
    )))
}

/// Checks the records' preconditions against their current bytes (`rows` of CHECK_RECORDS).
fn check_records(rows: &[Row], checks: &[(Kind, u64, Expect)]) -> Result<()> {
    let now: HashMap<(i16, i64), Vec<u8>> = rows
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect();
    for (kind, id, expect) in checks {
        let current = now.get(&(tag_kind(*kind), to_db(*id)));
        let ok = match expect {
            Expect::Anything => true,
            Expect::Absent => current.is_none(),
            Expect::Exactly(bytes) => current == Some(bytes),
        };
        if !ok {
            return Err(Error::Conflict {
                what: format!("{kind:?} {id}"),
            });
        }
    }
    Ok(())
}

/// Checks the entries' preconditions against their current values (`rows` of CHECK_ENTRIES).
fn check_entries(rows: &[Row], checks: &[(Index, Vec<u8>, u64, Expect)]) -> Result<()> {
    let now: HashMap<(i16, Vec<u8>, i64), Vec<u8>> = rows
        .iter()
        .map(|r| ((r.get(0), r.get(1), r.get(2)), r.get(3)))
        .collect();
    for (index, key, id, expect) in checks {
        let current = now.get(&(tag_index(*index), key.clone(), to_db(*id)));
        let ok = match expect {
            Expect::Anything => true,
            Expect::Absent => current.is_none(),
            Expect::Exactly(bytes) => current == Some(bytes),
        };
        if !ok {
            return Err(Error::Conflict {
                what: format!("{index:?} entry of id {id}"),
            });
        }
    }
    Ok(())
}
