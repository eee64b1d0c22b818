//! Two pieces of work side by side: one on a thread of its own while the caller does the
//! other. Preparing a delivery does its independent parts this way.

use std::sync::{Mutex, PoisonError};

/// Runs `there` on a scoped thread while `here` runs on the caller's, and answers both. Both
/// run here, one after the other, when `worth_a_thread` is false (work too small to pay for
/// starting a thread) or when the system refuses a thread. A panic in either is the caller's.
pub(crate) fn beside<A: Send, B>(
    worth_a_thread: bool,
    there: impl FnOnce() -> A + Send,
    here: impl FnOnce() -> B,
) -> (A, B) {
    if !worth_a_thread {
        let a = there();
        return (a, here());
    }
    let work = Mutex::new(Some(there));
    let take = || work.lock().unwrap_or_else(PoisonError::into_inner).take();
    std::thread::scope(|threads| {
        let started = std::thread::Builder::new().spawn_scoped(threads, || take().map(|w| w()));
        let b = here();
        let a = match started {
            Ok(thread) => thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => None,
        };
        // The work is taken once: by the thread, or here if it did not start.
        match a.or_else(|| take().map(|w| w())) {
            Some(a) => (a, b),
            None => unreachable!("the work is taken by the thread or here"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_pieces_of_work_are_done_once_whether_on_a_thread_or_not() {
        for worth_a_thread in [true, false] {
            let here_thread = std::thread::current().id();
            let (there, here) = beside(
                worth_a_thread,
                || (std::thread::current().id(), 2 + 2),
                || 3 * 3,
            );
            assert_eq!((there.1, here), (4, 9));
            assert_eq!(there.0 != here_thread, worth_a_thread);
        }
    }
}
