//! The allocator of the binaries, [`MiMalloc`], and its purge delay.
//!
//! mimalloc keeps memory that the program freed resident for a while (its *purge delay*,
//! 1 s by default in mimalloc 3) so that the next allocation of that size is cheap. Where large
//! blocks come and go many times a second (decoded pictures), about a second's worth of them
//! stays resident: the service held 145 MiB during uploads that need 10 MiB each
//! (`docs/benchmarks.md`). [`set_purge_delay`] shortens the delay for this process alone,
//! without the `MIMALLOC_PURGE_DELAY` environment variable (which still wins when it is set,
//! for experiments).

pub use mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the same index in mimalloc 2 and 3).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The environment variable that sets the delay from outside; [`set_purge_delay`] leaves a
/// delay set through it alone.
pub const PURGE_DELAY_VAR: &str = "MIMALLOC_PURGE_DELAY";

/// Sets how long, in milliseconds, freed memory stays resident before it goes back to the
/// system (0: at once). Does nothing when `MIMALLOC_PURGE_DELAY` is set. mimalloc reads the
/// option each time it purges, so it takes effect from the next purge on.
pub fn set_purge_delay(millis: u32) {
    if std::env::var_os(PURGE_DELAY_VAR).is_some() {
        return;
    }
    #[allow(unsafe_code)]
    // SAFETY: `mi_option_set` takes a valid option index (`PURGE_DELAY`, checked by the test
    // below against mimalloc's default) and any value; it only writes mimalloc's option table,
    // which mimalloc reads without further synchronisation by design (options are plain words).
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, std::ffi::c_long::from(millis));
    }
}

/// Gives the memory this process freed back to the system now, whatever the purge delay (and
/// tidies the calling thread's heap). For a process that has gone idle after holding large
/// blocks for reuse, such as the hashing worker between floods of logins.
pub fn collect() {
    #[allow(unsafe_code)]
    // SAFETY: `mi_collect` takes no pointer; mimalloc allows it from any thread at any time.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
}

/// The purge delay in milliseconds now in force.
#[must_use]
pub fn purge_delay() -> i64 {
    #[allow(unsafe_code)]
    // SAFETY: reads mimalloc's option table at a valid index.
    let value = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
    // `c_long` is `i64` here but `i32` on other targets.
    #[allow(clippy::useless_conversion)]
    i64::from(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_is_the_option_that_is_set() {
        if std::env::var_os(PURGE_DELAY_VAR).is_some() {
            return;
        }
        // mimalloc 3's default: the index is the purge delay's.
        assert_eq!(purge_delay(), 1000);
        set_purge_delay(0);
        assert_eq!(purge_delay(), 0);
        set_purge_delay(25);
        assert_eq!(purge_delay(), 25);
    }
}
