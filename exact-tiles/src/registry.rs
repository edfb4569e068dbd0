//! [`SlideCache`]: open slides (IFDs parsed once) and their Deep Zoom generators (with their
//! rendered-tile caches), shared by URL across requests. Concurrent first requests for one URL
//! open it once; failures are not cached; the least recently used entries are dropped beyond
//! the capacity.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::budget::RenderBudget;
use crate::deepzoom::{DeepZoomGenerator, DeepZoomOptions};
use crate::error::Result;
use crate::slide::Slide;

type Cell<T> = Arc<OnceCell<Arc<T>>>;

/// A generator's key: the slide, the grid (`None`: native) and the plane (z, frame).
type GeneratorKey = (String, Option<DeepZoomOptions>, (u32, u32));

#[derive(Debug, Default)]
struct Entries {
    slides: HashMap<String, (Cell<Slide>, u64)>,
    generators: HashMap<GeneratorKey, (Cell<DeepZoomGenerator>, u64)>,
    clock: u64,
}

/// A bounded, shared cache of open slides and Deep Zoom generators, keyed by URL.
#[derive(Debug)]
pub struct SlideCache {
    capacity: usize,
    entries: Mutex<Entries>,
    budget: Option<Arc<RenderBudget>>,
}

fn evict<K: Clone + Eq + std::hash::Hash, V>(map: &mut HashMap<K, (V, u64)>, capacity: usize) {
    while map.len() > capacity {
        let Some(oldest) = map
            .iter()
            .min_by_key(|(_, (_, t))| *t)
            .map(|(k, _)| k.clone())
        else {
            return;
        };
        map.remove(&oldest);
    }
}

/// The cell of `key` in `map`, marked used at `now`; the map is trimmed to `capacity` (the
/// entry just touched is the newest, so it stays).
fn touch<K: Clone + Eq + std::hash::Hash, T>(
    map: &mut HashMap<K, (Cell<T>, u64)>,
    key: K,
    now: u64,
    capacity: usize,
) -> Cell<T> {
    let e = map.entry(key).or_insert_with(|| (Arc::default(), now));
    e.1 = now;
    let cell = e.0.clone();
    evict(map, capacity);
    cell
}

impl SlideCache {
    /// A cache holding up to `capacity` slides (and as many generators).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: Mutex::default(),
            budget: None,
        }
    }

    /// Every slide this cache opens renders within `budget` (see [`Slide::with_budget`]).
    pub fn with_budget(mut self, budget: Arc<RenderBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The render budget of the slides this cache opens, if any.
    pub fn budget(&self) -> Option<&Arc<RenderBudget>> {
        self.budget.as_ref()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The open slide for `url`, opening it on first use.
    pub async fn slide(&self, url: &str) -> Result<Arc<Slide>> {
        self.slide_with(url, || Slide::open(url)).await
    }

    /// The open slide cached under `key`, opened by `open` on first use (for slides that
    /// no URL names, e.g. objects of an in-memory store).
    pub async fn slide_with<F, Fut>(&self, key: &str, open: F) -> Result<Arc<Slide>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Slide>>,
    {
        let url = key;
        let cell = {
            let mut guard = self.lock();
            let g = &mut *guard;
            g.clock += 1;
            touch(&mut g.slides, url.to_string(), g.clock, self.capacity)
        };
        let r = cell
            .get_or_try_init(|| async {
                let slide = open().await?;
                Ok(Arc::new(match &self.budget {
                    Some(b) => slide.with_budget(b.clone()),
                    None => slide,
                }))
            })
            .await
            .cloned();
        if r.is_err() {
            self.lock().slides.remove(url);
        }
        r
    }

    /// The Deep Zoom generator for `url`: `None` for the native grid, else OpenSlide's.
    pub async fn deepzoom(
        &self,
        url: &str,
        opts: Option<DeepZoomOptions>,
    ) -> Result<Arc<DeepZoomGenerator>> {
        self.deepzoom_with(url, opts, || Slide::open(url)).await
    }

    /// The Deep Zoom generator of the slide cached under `key` (see [`SlideCache::slide_with`]).
    pub async fn deepzoom_with<F, Fut>(
        &self,
        url: &str,
        opts: Option<DeepZoomOptions>,
        open: F,
    ) -> Result<Arc<DeepZoomGenerator>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Slide>>,
    {
        self.plane_deepzoom_with(url, opts, (1, 1), open).await
    }

    /// The Deep Zoom generator of one plane (`z`, `frame`, 1-based; see [`Slide::plane`]) of
    /// the slide cached under `url`; a plane the slide lacks is [`crate::Error::NotFound`].
    pub async fn plane_deepzoom_with<F, Fut>(
        &self,
        url: &str,
        opts: Option<DeepZoomOptions>,
        plane: (u32, u32),
        open: F,
    ) -> Result<Arc<DeepZoomGenerator>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Slide>>,
    {
        let key = (url.to_string(), opts, plane);
        let cell = {
            let mut guard = self.lock();
            let g = &mut *guard;
            g.clock += 1;
            touch(&mut g.generators, key.clone(), g.clock, self.capacity)
        };
        let r = cell
            .get_or_try_init(|| async {
                let slide = self.slide_with(url, open).await?.plane(plane.0, plane.1)?;
                let g = match opts {
                    None => DeepZoomGenerator::native(slide)?,
                    Some(o) => DeepZoomGenerator::new(slide, o)?,
                };
                Ok(Arc::new(g))
            })
            .await
            .cloned();
        if r.is_err() {
            self.lock().generators.remove(&key);
        }
        r
    }

    /// Forget `url` (after the object changed).
    pub fn invalidate(&self, url: &str) {
        let mut g = self.lock();
        g.slides.remove(url);
        g.generators.retain(|(u, _, _), _| u != url);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmu() -> String {
        format!(
            "{}/../tests/fixtures/data/CMU-1-Small-Region.svs",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    #[tokio::test]
    async fn opens_once_shares_and_evicts() {
        let cache = SlideCache::new(1);
        let a = cache.slide(&cmu()).await.unwrap();
        let b = cache.slide(&cmu()).await.unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let g1 = cache.deepzoom(&cmu(), None).await.unwrap();
        let g2 = cache.deepzoom(&cmu(), None).await.unwrap();
        assert!(Arc::ptr_eq(&g1, &g2));
        assert!(Arc::ptr_eq(g1.slide(), &a));
        assert!(cache.slide("/nonexistent.svs").await.is_err());
        // the failure evicted nothing it should not have, and was not cached
        assert!(cache.lock().slides.len() <= 1);
        cache.invalidate(&cmu());
        let c = cache.slide(&cmu()).await.unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
    }
}
