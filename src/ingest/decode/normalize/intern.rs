//! A per-batch string interner: every repeated operation name, service name
//! or version of one payload shares one `Arc<str>`.
//!
//! Never does: outlive a batch (the graph stage interns across batches).

use std::collections::HashSet;
use std::sync::Arc;

/// Interned strings of one batch.
#[derive(Debug, Default)]
pub(super) struct Interner {
    set: HashSet<Arc<str>, foldhash::fast::RandomState>,
}

impl Interner {
    /// The shared copy of `text`, allocated on first sight.
    pub(super) fn intern(&mut self, text: &str) -> Arc<str> {
        if let Some(found) = self.set.get(text) {
            return Arc::clone(found);
        }
        let new: Arc<str> = Arc::from(text);
        self.set.insert(Arc::clone(&new));
        new
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
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(&*c, "GET /pay");
    }
}
