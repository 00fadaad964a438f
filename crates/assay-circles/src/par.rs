//! Two-way data parallelism with scoped threads. The work is always cut into the same two
//! parts, so results never depend on the machine's core count or on scheduling.

/// Runs `a` on a second thread and `b` on this one; returns both results.
pub(crate) fn join<A: Send, B>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B) -> (A, B) {
    std::thread::scope(|s| {
        let handle = s.spawn(a);
        let b = b();
        (
            handle
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e)),
            b,
        )
    })
}

/// Runs `work` on the two halves of `items` on two threads; returns both results in order.
pub(crate) fn halves<T: Sync, R: Send>(items: &[T], work: impl Fn(&[T]) -> R + Sync) -> (R, R) {
    let (first, second) = items.split_at(items.len() / 2);
    join(|| work(first), || work(second))
}
