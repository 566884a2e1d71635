//! A bounded string interner that outlives batches: every repeated service
//! name, operation, version or peer attribute shares one `Arc<str>`, and a
//! string seen before costs one hash lookup on its raw bytes (no UTF-8 check,
//! no allocation).
//!
//! One interner per thread (decoders run on tokio workers and on the blocking
//! pool), lent to each payload's normalizer and given back when it is done.
//! Bounded: strings longer than [`MAX_LEN`] are never cached, and the cache is
//! cleared when it holds [`MAX_ENTRIES`] strings (≈ 2 MiB at most per thread).
//!
//! Never does: decide which strings to keep (that is the normalizer).

use std::borrow::Borrow;
use std::cell::Cell;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::str::Utf8Error;
use std::sync::Arc;

/// Most strings cached at once; the cache is cleared when full.
pub(super) const MAX_ENTRIES: usize = 8192;
/// Longest string cached, in bytes (longer ones are allocated every time).
pub(super) const MAX_LEN: usize = 192;

/// A cached string, looked up by its bytes.
#[derive(Debug, PartialEq, Eq)]
struct Key(Arc<str>);

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must hash exactly like the `[u8]` it borrows as.
        self.0.as_bytes().hash(state);
    }
}

impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Interned strings (see the module docs).
#[derive(Debug, Default)]
pub(super) struct Interner {
    set: HashSet<Key, foldhash::fast::RandomState>,
}

thread_local! {
    static SHARED: Cell<Interner> = Cell::new(Interner::default());
}

impl Interner {
    /// Borrows this thread's interner (an empty one if another decode on this
    /// thread holds it, or during thread exit). Give it back with [`Interner::give_back`].
    pub(super) fn take_shared() -> Self {
        SHARED.try_with(Cell::take).unwrap_or_default()
    }

    /// Returns a borrowed interner to this thread.
    pub(super) fn give_back(self) {
        if self.set.is_empty() {
            return;
        }
        // During thread exit the cache is simply dropped.
        if SHARED.try_with(|shared| shared.set(self)).is_err() {
            tracing::trace!("thread exiting; interner dropped");
        }
    }

    /// The cached copy of `bytes`, if any (it is then valid UTF-8).
    #[inline]
    pub(super) fn get(&self, bytes: &[u8]) -> Option<Arc<str>> {
        self.set.get(bytes).map(|key| Arc::clone(&key.0))
    }

    /// The shared copy of `bytes`, or the UTF-8 error.
    #[inline]
    pub(super) fn intern_bytes(&mut self, bytes: &[u8]) -> Result<Arc<str>, Utf8Error> {
        match self.get(bytes) {
            Some(found) => Ok(found),
            None => Ok(self.insert(std::str::from_utf8(bytes)?)),
        }
    }

    /// The shared copy of `bytes`, invalid UTF-8 repaired with U+FFFD.
    #[inline]
    pub(super) fn intern_lossy(&mut self, bytes: &[u8]) -> Arc<str> {
        match self.intern_bytes(bytes) {
            Ok(found) => found,
            Err(_) => self.intern(&String::from_utf8_lossy(bytes)),
        }
    }

    /// The shared copy of `text`.
    pub(super) fn intern(&mut self, text: &str) -> Arc<str> {
        match self.get(text.as_bytes()) {
            Some(found) => found,
            None => self.insert(text),
        }
    }

    /// Allocates `text` (known to be missing) and caches it if it is short.
    fn insert(&mut self, text: &str) -> Arc<str> {
        let new: Arc<str> = Arc::from(text);
        if text.len() <= MAX_LEN {
            if self.set.len() >= MAX_ENTRIES {
                self.set.clear();
            }
            self.set.insert(Key(Arc::clone(&new)));
        }
        new
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.set.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_share_one_allocation() {
        let mut i = Interner::default();
        let a = i.intern("GET /cart");
        let b = i.intern(&String::from("GET /cart"));
        let c = i.intern("GET /pay");
        let d = i.intern_bytes(b"GET /cart").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(Arc::ptr_eq(&a, &d));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(&*c, "GET /pay");
    }

    #[test]
    fn invalid_utf8_is_refused_or_repaired_and_never_cached_raw() {
        let mut i = Interner::default();
        assert!(i.intern_bytes(b"a\xffb").is_err());
        assert_eq!(&*i.intern_lossy(b"a\xffb"), "a\u{fffd}b");
        // The repaired copy is cached under its own bytes, not the raw ones.
        assert!(i.get(b"a\xffb").is_none());
        assert!(i.intern_bytes(b"a\xffb").is_err());
        assert_eq!(&*i.intern_lossy(b"a\xffb"), "a\u{fffd}b");
    }

    #[test]
    fn the_cache_stays_bounded() {
        let mut i = Interner::default();
        for n in 0..MAX_ENTRIES + 10 {
            i.intern(&format!("op-{n}"));
        }
        assert!(i.len() <= MAX_ENTRIES);
        let long = "x".repeat(MAX_LEN + 1);
        let a = i.intern(&long);
        let b = i.intern(&long);
        assert_eq!(a, b);
        assert!(!Arc::ptr_eq(&a, &b), "long strings are not cached");
    }

    #[test]
    fn the_thread_interner_is_lent_and_given_back() {
        let mut first = Interner::take_shared();
        let a = first.intern("lent-and-returned");
        // While lent, a nested borrower gets an empty interner.
        assert!(Interner::take_shared().get(b"lent-and-returned").is_none());
        first.give_back();
        let again = Interner::take_shared();
        assert!(Arc::ptr_eq(&a, &again.get(b"lent-and-returned").unwrap()));
        again.give_back();
    }
}
