//! A cache prefetch hint for the pairing store's cold slab entries.
//!
//! The store reuses a freed slot long after it was last touched (a TTL of
//! event time), and expires halves in time order, which is not memory order;
//! both read an entry that is no longer in any cache. Asking for the lines a
//! few operations ahead hides that miss (the commit that added this has the
//! measurement).
//!
//! The only `unsafe` in the crate, and it cannot misbehave: a prefetch is a
//! hint that never faults, never reads into the program, and changes no
//! result. Never does: anything on other architectures (a no-op there).

/// Asks the CPU to bring the cache lines of `value` (up to 192 bytes, what a
/// slab entry spans) into the cache.
#[inline(always)]
pub(crate) fn read<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let p = (value as *const T).cast::<i8>();
        let lines = std::mem::size_of::<T>().div_ceil(64).min(3);
        for line in 0..lines {
            #[allow(unsafe_code)]
            // SAFETY: `_mm_prefetch` only needs SSE (baseline on x86_64) and
            // never dereferences its argument: any address is allowed.
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(line * 64));
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
