//! [`ModuleCache`]: what a backend loaded for each kernel (a CUDA module, a
//! wgpu pipeline, a decoded program), keyed by [`KernelSpec::key`].

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use super::{KernelSpec, Result};

/// The loaded form `V` of every kernel launched on one device, one per
/// [`KernelSpec::key`]. Shared by every backend; the key is copied in, so
/// specs need not be `'static`.
pub struct ModuleCache<V> {
    map: Mutex<HashMap<Box<str>, Arc<V>>>,
}

impl<V> Default for ModuleCache<V> {
    fn default() -> Self {
        Self {
            map: Mutex::default(),
        }
    }
}

impl<V> fmt::Debug for ModuleCache<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModuleCache")
            .field("modules", &self.len())
            .finish()
    }
}

impl<V> ModuleCache<V> {
    /// An empty cache.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The cached module of `spec`, or the one `load` makes, cached. The
    /// cache stays locked while `load` runs, so a kernel is loaded once
    /// even when launched from several threads at once; a failed load
    /// caches nothing.
    ///
    /// # Errors
    /// `load`'s error.
    pub fn get_or_try_insert(
        &self,
        spec: &KernelSpec<'_>,
        load: impl FnOnce() -> Result<V>,
    ) -> Result<Arc<V>> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = map.get(spec.key) {
            return Ok(Arc::clone(v));
        }
        let v = Arc::new(load()?);
        map.insert(spec.key.into(), Arc::clone(&v));
        Ok(v)
    }

    /// Number of cached modules.
    #[must_use]
    pub fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether nothing is cached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empty the cache, returning what it held (a backend unloading its
    /// modules when dropped).
    pub fn drain(&mut self) -> Vec<Arc<V>> {
        self.map
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .map(|(_, v)| v)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::ModuleCache;
    use crate::runtime::{Error, KernelSpec};

    fn spec(key: &str) -> KernelSpec<'_> {
        KernelSpec {
            name: "k",
            key,
            params: &[],
            workgroup_size: [1, 1, 1],
            unchecked: false,
            artifacts: &[],
            debug: &[],
            tensor_maps: &[],
        }
    }

    #[test]
    fn loads_once_per_key_and_caches_no_failure() {
        let cache = ModuleCache::<u32>::new();
        let fail = || {
            Err(Error::Backend {
                backend: "test".to_string(),
                message: "no".to_string(),
            })
        };
        assert!(cache.get_or_try_insert(&spec("a"), fail).is_err());
        assert!(cache.is_empty());
        // The key is copied: a spec built from a dropped String still hits.
        let key = String::from("a");
        assert_eq!(*cache.get_or_try_insert(&spec(&key), || Ok(1)).unwrap(), 1);
        drop(key);
        let again = String::from("a");
        let v = cache
            .get_or_try_insert(&spec(&again), || panic!("loaded twice"))
            .unwrap();
        assert_eq!(*v, 1);
        assert_eq!(*cache.get_or_try_insert(&spec("b"), || Ok(2)).unwrap(), 2);
        assert_eq!(cache.len(), 2);
        let mut cache = cache;
        let mut drained: Vec<u32> = cache.drain().iter().map(|v| **v).collect();
        drained.sort_unstable();
        assert_eq!(drained, [1, 2]);
        assert!(cache.is_empty());
    }
}
