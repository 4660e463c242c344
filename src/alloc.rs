//! The global allocator: the system allocator, except for absurdly large blocks.
//!
//! Why this exists: when tiny_http 0.12 drops a request whose body was not read to
//! the end, it drains the rest by allocating one zeroed buffer the size of what is
//! left (`vec![0; remaining]`). A client that declares `Content-Length:
//! 1000000000000` and is answered 413 therefore makes the drop ask for a terabyte,
//! the allocation fails and Rust aborts the process. Nothing in tiny_http's public
//! API avoids that drop, so the fix lives here: blocks of `HUGE_BYTES_MIN` or more
//! are mapped with `MAP_NORESERVE`, which reserves address space only. The drain
//! touches just the pages it actually reads into (a socket buffer's worth at a
//! time), and the block is unmapped when it is freed.
//!
//! luna2d itself never allocates a block this large; the threshold only catches the
//! drain. A declared length beyond the address space (more than ~100 TiB) still
//! cannot be mapped; the server refuses such a request before any body is read, but
//! the drop still happens, so `server.rs` answers those with `Connection: close` and
//! the remaining hazard is documented in ARCHITECTURE.md.

use std::alloc::{GlobalAlloc, Layout, System};

pub struct Guarded;

/// Allocations of this size and above are mapped lazily.
const HUGE_BYTES_MIN: usize = 1 << 30;

unsafe impl GlobalAlloc for Guarded {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= HUGE_BYTES_MIN && layout.align() <= 4096 {
            return map(layout.size());
        }
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= HUGE_BYTES_MIN && layout.align() <= 4096 {
            // Anonymous mappings are zero-filled by the kernel.
            return map(layout.size());
        }
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.size() >= HUGE_BYTES_MIN && layout.align() <= 4096 {
            libc::munmap(ptr.cast(), layout.size());
            return;
        }
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let huge = |n: usize| n >= HUGE_BYTES_MIN && layout.align() <= 4096;
        if !huge(layout.size()) && !huge(new_size) {
            return System.realloc(ptr, layout, new_size);
        }
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        let new_ptr = self.alloc(new_layout);
        if !new_ptr.is_null() {
            std::ptr::copy_nonoverlapping(ptr, new_ptr, layout.size().min(new_size));
            self.dealloc(ptr, layout);
        }
        new_ptr
    }
}

unsafe fn map(size: usize) -> *mut u8 {
    let p = libc::mmap(
        std::ptr::null_mut(),
        size,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
        -1,
        0,
    );
    if p == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        p.cast()
    }
}

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
