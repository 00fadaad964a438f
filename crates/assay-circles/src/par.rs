//! Two-way data parallelism with scoped threads. The work is always cut into the same two
//! parts, so results never depend on the machine's core count or on scheduling.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Barrier, OnceLock};

/// Runs `a` on a second thread and `b` on this one; returns both results.
pub(crate) fn join<A: Send, B>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B) -> (A, B) {
    std::thread::scope(|s| {
        let handle = s.spawn(a);
        let b = b();
        (handle.join().unwrap_or_else(|e| resume_unwind(e)), b)
    })
}

/// Runs `work` on the two halves of `items` on two threads; returns both results in order.
pub(crate) fn halves<T: Sync, R: Send>(items: &[T], work: impl Fn(&[T]) -> R + Sync) -> (R, R) {
    let (first, second) = items.split_at(items.len() / 2);
    join(|| work(first), || work(second))
}

/// Runs `first(side)` for sides 0 and 1 on two threads and then, once both are done,
/// `second(side, first_0, first_1)` on the same threads: two parallel steps for one thread
/// spawn. Returns the results of both steps by side, or `None` if a step panicked on the
/// other thread (that panic then propagates).
pub(crate) fn two_steps<A: Send + Sync, B: Send>(
    first: impl Fn(usize) -> A + Sync,
    second: impl Fn(usize, &A, &A) -> B + Sync,
) -> Option<([A; 2], [B; 2])> {
    let done: [OnceLock<A>; 2] = [OnceLock::new(), OnceLock::new()];
    let barrier = Barrier::new(2);
    let side = |i: usize| {
        // The barrier is passed even after a panic, so the other side never waits forever.
        match catch_unwind(AssertUnwindSafe(|| first(i))) {
            Ok(a) => {
                let _ = done[i].set(a);
                barrier.wait();
            }
            Err(panic) => {
                barrier.wait();
                resume_unwind(panic);
            }
        }
        match (done[0].get(), done[1].get()) {
            (Some(a0), Some(a1)) => Some(second(i, a0, a1)),
            _ => None,
        }
    };
    let (b1, b0) = join(|| side(1), || side(0));
    let [a0, a1] = done.map(OnceLock::into_inner);
    Some(([a0?, a1?], [b0?, b1?]))
}
