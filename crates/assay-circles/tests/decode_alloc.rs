//! A file that claims enormous dimensions must be refused without allocating its pixels.
//! This file holds one test so the counting allocator sees no other thread's allocations.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(live, Ordering::SeqCst);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn a_huge_claimed_image_is_refused_without_allocating_it() {
    let png = common::png_header_only(100_000, 100_000);
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let err = assay_circles::decode(&png, &assay_circles::Limits::default()).expect_err("refused");
    let peak = PEAK.load(Ordering::SeqCst) - before;
    assert_eq!(err.code(), "image_dimensions_exceeded");
    assert!(
        peak < 1024 * 1024,
        "decoding the header allocated {peak} bytes at peak"
    );
}
