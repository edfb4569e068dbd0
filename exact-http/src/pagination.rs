//! DRF's `LimitOffsetPagination`: `{count, next, previous, results}` with absolute links that
//! carry both `limit` and `offset` (EXACT-Sync regex-parses them out of `next`), default limit
//! 50, no maximum. Callers sort by id first so pages are stable.

use crate::error::ApiResult;
use crate::query::ListQuery;
use serde_json::{Value, json};

/// The default page size.
pub const DEFAULT_LIMIT: u64 = 50;

/// One page of `items` (already filtered and ordered) in the envelope; `finish` runs on the
/// page's results before `fields`/`omit` (expansion).
pub fn page(
    q: &ListQuery,
    mut items: Vec<Value>,
    finish: impl FnOnce(&mut [Value]),
) -> ApiResult<Value> {
    let count = items.len();
    let range = window(q, count)?;
    let results: Vec<Value> = items.drain(range).collect();
    envelope(q, count, results, finish)
}

/// The index range of the page `limit`/`offset` asks for among `count` items.
pub fn window(q: &ListQuery, count: usize) -> ApiResult<std::ops::Range<usize>> {
    let (limit, offset) = limit_offset(q)?;
    let count = count as u64;
    Ok(offset.min(count) as usize..offset.saturating_add(limit).min(count) as usize)
}

/// The `limit` (default [`DEFAULT_LIMIT`]) and `offset` a request asks for.
pub fn limit_offset(q: &ListQuery) -> ApiResult<(u64, u64)> {
    let limit = match q.u64("limit")? {
        Some(0) | None => DEFAULT_LIMIT,
        Some(n) => n,
    };
    Ok((limit, q.u64("offset")?.unwrap_or(0)))
}

/// The envelope around one page's `results` out of `count` items.
pub fn envelope(
    q: &ListQuery,
    count: usize,
    mut results: Vec<Value>,
    finish: impl FnOnce(&mut [Value]),
) -> ApiResult<Value> {
    let count = count as u64;
    finish(&mut results);
    q.shape(&mut results);
    let (next, previous) = links(q, count as usize)?;
    Ok(json!({"count": count, "next": next, "previous": previous, "results": results}))
}

/// The `next` and `previous` links of the page `q` asks for among `count` items.
pub fn links(q: &ListQuery, count: usize) -> ApiResult<(Option<String>, Option<String>)> {
    let (limit, offset) = limit_offset(q)?;
    let next =
        (offset.saturating_add(limit) < count as u64).then(|| link(q, limit, offset + limit));
    let previous = (offset > 0).then(|| link(q, limit, offset.saturating_sub(limit)));
    Ok((next, previous))
}

fn link(q: &ListQuery, limit: u64, offset: u64) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &q.params {
        if k != "limit" && k != "offset" {
            ser.append_pair(k, v);
        }
    }
    ser.append_pair("limit", &limit.to_string());
    ser.append_pair("offset", &offset.to_string());
    format!("{}?{}", q.base, ser.finish())
}
