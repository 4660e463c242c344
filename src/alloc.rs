//! Allocator tuning for glibc: few arenas, fixed mmap and trim thresholds, and
//! a trim after large replies, which keeps the resident size small under load.
//!
//! (Until the HTTP layer was ours, this module also mapped huge blocks lazily,
//! because tiny_http drained an unread body into a buffer of its declared size.
//! `src/http/` never allocates from a declared length, so that guard is gone.)

#[cfg(target_env = "gnu")]
const MMAP_THRESHOLD_BYTES: libc::c_int = 256 * 1024;
#[cfg(target_env = "gnu")]
const TRIM_THRESHOLD_BYTES: libc::c_int = 1024 * 1024;

/// glibc keeps one heap arena per thread that ever allocated and rarely gives
/// their free pages back, so a few large replies on many workers leave the
/// process hundreds of megabytes bigger. Two arenas are plenty for a pool that
/// spends its time in SQLite and JSON on a 2-core head node.
pub fn limit_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes allocator tuning.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        // Fixed thresholds: glibc otherwise raises the mmap threshold after
        // each large free, so later big buffers (a node listing) land in the
        // heap and stay there.
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES);
    }
}

/// Returns freed heap pages to the kernel; called after large replies.
pub fn trim() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim is thread-safe and only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}
