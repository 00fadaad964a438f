//! Two-way data parallelism. The work is always cut into the same two parts, so results
//! never depend on the machine's core count or on scheduling. The second part runs on one
//! helper thread kept for the life of the process: spawning and joining a thread for each
//! step cost 0.1 to 0.2 ms on a loaded machine, several times per image. A caller that finds
//! the helper busy with another image spawns a scoped thread instead.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Barrier, Mutex, OnceLock};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The helper thread's queue, or `None` if the thread could not be started.
fn helper() -> Option<&'static Mutex<Sender<Job>>> {
    static HELPER: OnceLock<Option<Mutex<Sender<Job>>>> = OnceLock::new();
    HELPER
        .get_or_init(|| {
            let (tx, rx) = channel::<Job>();
            std::thread::Builder::new()
                .name("assay-circles".into())
                .spawn(move || {
                    for job in rx {
                        job();
                    }
                })
                .ok()
                .map(|_| Mutex::new(tx))
        })
        .as_ref()
}

/// Runs `a` on a second thread and `b` on this one; returns both results.
pub(crate) fn join<A: Send, B>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B) -> (A, B) {
    let Some(queue) = helper().and_then(|h| h.try_lock().ok()) else {
        return std::thread::scope(|s| {
            let handle = s.spawn(a);
            let b = b();
            (handle.join().unwrap_or_else(|e| resume_unwind(e)), b)
        });
    };
    let (done, result) = channel();
    let job: Box<dyn FnOnce() + Send + '_> = Box::new(move || {
        let _ = done.send(catch_unwind(AssertUnwindSafe(a)));
    });
    // SAFETY: the job borrows from this call's caller; this function does not return or
    // unwind before the job has sent its result (or been dropped unrun, which closes
    // `result`), so no borrow outlives its referent.
    let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + '_>, Job>(job) };
    if let Err(unsent) = queue.send(job) {
        // The helper has stopped; run the job on a thread of its own.
        drop(queue);
        return std::thread::scope(|s| {
            let handle = s.spawn(unsent.0);
            let b = b();
            let _ = handle.join();
            match result.recv() {
                Ok(Ok(a)) => (a, b),
                Ok(Err(panic)) => resume_unwind(panic),
                Err(_) => resume_unwind(Box::new("a circle worker thread stopped")),
            }
        });
    }
    let b = catch_unwind(AssertUnwindSafe(b));
    let a = result.recv();
    drop(queue);
    match (a, b) {
        (Ok(Ok(a)), Ok(b)) => (a, b),
        (Ok(Err(panic)), _) | (_, Err(panic)) => resume_unwind(panic),
        (Err(_), Ok(_)) => resume_unwind(Box::new("the circle helper thread stopped")),
    }
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
