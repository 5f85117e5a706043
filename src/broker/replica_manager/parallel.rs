//! Blocking per-partition work on a bounded number of scoped threads: closing logs at
//! shutdown waits mostly on fsyncs, which overlap when issued concurrently (on the 2-core
//! benchmark machine, directory + file fsyncs went from 69 partitions/s on one thread to
//! 1,230/s on 16); creating logs (`image_apply`) is a `mkdir` and an `open` each, whose cost
//! is the file system allocating inodes, which threads spread over every core.

use std::sync::Mutex;

/// Most threads working at once.
const THREADS_MAX: usize = 16;
/// Fewest items per thread (fewer are not worth a thread).
const PER_THREAD_MIN: usize = 4;

/// What [`map_on_threads`] returns.
#[derive(Debug)]
pub(super) enum Mapped<R> {
    /// Every item's result.
    All(Vec<R>),
    /// A thread panicked (logged): the results of the items it had taken are missing.
    Partial(Vec<R>),
}

/// Applies `f` to every item, on up to [`THREADS_MAX`] threads taking items from a shared
/// queue (on the calling thread when there are few). Results come in no particular order.
pub(super) fn map_on_threads<T: Send, R: Send>(
    items: Vec<T>,
    f: impl Fn(T) -> R + Sync,
) -> Mapped<R> {
    let threads = (items.len() / PER_THREAD_MIN).clamp(1, THREADS_MAX);
    if threads == 1 {
        return Mapped::All(items.into_iter().map(f).collect());
    }
    let queue = Mutex::new(items.into_iter());
    let worker = || {
        let mut done = Vec::new();
        loop {
            // The item is taken under the queue's lock, and `f` runs after releasing it.
            let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
            let Some(item) = next else { break };
            done.push(f(item));
        }
        done
    };
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads).map(|_| s.spawn(worker)).collect();
        let mut results = Vec::new();
        let mut panicked = false;
        for w in workers {
            match w.join() {
                Ok(done) => results.extend(done),
                Err(_) => {
                    tracing::error!("a partition worker thread panicked");
                    panicked = true;
                }
            }
        }
        if panicked {
            Mapped::Partial(results)
        } else {
            Mapped::All(results)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_every_item_once_on_several_threads() {
        let items: Vec<u32> = (0..1000).collect();
        let threads = Mutex::new(std::collections::HashSet::new());
        // Items 0 and 1 meet: a second thread must take item 1 while the first holds item 0.
        let meet = std::sync::Barrier::new(2);
        let Mapped::All(mut out) = map_on_threads(items, |i| {
            if i < 2 {
                meet.wait();
            }
            threads
                .lock()
                .expect("lock")
                .insert(std::thread::current().id());
            i * 2
        }) else {
            panic!("no worker panicked")
        };
        out.sort_unstable();
        assert_eq!(out, (0..1000).map(|i| i * 2).collect::<Vec<_>>());
        assert!(threads.lock().expect("lock").len() > 1);
    }

    #[test]
    fn a_panicking_worker_yields_partial_results() {
        let items: Vec<u32> = (0..100).collect();
        let mapped = map_on_threads(items, |i| {
            assert_ne!(i, 50, "deliberate test panic");
            i
        });
        let Mapped::Partial(out) = mapped else {
            panic!("a worker panicked: {mapped:?}")
        };
        assert!(!out.contains(&50) && out.len() < 100);
    }
}
