//! The signal that tells every open connection to finish its request in flight and
//! close. A connection checks it on every poll, that is several times a request, so the
//! check is one atomic load; a channel's wait would take a lock on each of them. Each
//! connection leaves its task's waker here once, and stopping wakes them all.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};

/// Whether the server is stopping, and the connections to wake when it does.
#[derive(Debug, Default)]
pub(crate) struct Stopping {
    stopped: AtomicBool,
    waiting: Mutex<Waiting>,
}

#[derive(Debug, Default)]
struct Waiting {
    next: u64,
    wakers: HashMap<u64, Waker>,
}

impl Stopping {
    /// Whether [`Stopping::stop`] has been called.
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Sets the flag, then wakes every watcher so that each sees it.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        let waiting = self.lock();
        for waker in waiting.wakers.values() {
            waker.wake_by_ref();
        }
    }

    /// Keeps `watch` waking `waker` when the server stops: made the first time, and
    /// again if the task's waker changed (a task's waker does not change from poll to
    /// poll, so this is a comparison). Check [`Stopping::is_stopped`] after it: a stop
    /// that came before the watch woke nothing, and its flag is already set.
    pub(crate) fn keep_watching(self: &Arc<Self>, watch: &mut Option<Watch>, waker: &Waker) {
        if !watch.as_ref().is_some_and(|w| w.waker.will_wake(waker)) {
            *watch = Some(self.watch(waker));
        }
    }

    /// Completes once the server stops.
    pub(crate) async fn stopped(self: &Arc<Self>) {
        let mut watch = None;
        std::future::poll_fn(|cx| {
            self.keep_watching(&mut watch, cx.waker());
            if self.is_stopped() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }

    /// Has `waker` woken when the server stops, until the returned watch is dropped.
    fn watch(self: &Arc<Self>, waker: &Waker) -> Watch {
        let mut waiting = self.lock();
        let id = waiting.next;
        waiting.next += 1;
        waiting.wakers.insert(id, waker.clone());
        Watch {
            stopping: Arc::clone(self),
            id,
            waker: waker.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A waker left with [`Stopping`]; taken back when dropped.
#[derive(Debug)]
pub(crate) struct Watch {
    stopping: Arc<Stopping>,
    id: u64,
    waker: Waker,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stopping.lock().wakers.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn stopped_completes_once_stop_is_called() {
        let stopping = Arc::new(Stopping::default());
        let waiting = tokio::spawn({
            let stopping = Arc::clone(&stopping);
            async move { stopping.stopped().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        stopping.stop();
        waiting.await.unwrap();
        stopping.stopped().await;
        assert!(
            stopping.lock().wakers.is_empty(),
            "each watch is taken back"
        );
    }

    #[test]
    fn stopping_wakes_each_watcher_once_and_dropped_watches_not_at_all() {
        let stopping = Arc::new(Stopping::default());
        let (a, b) = (
            Arc::new(Count(AtomicUsize::new(0))),
            Arc::new(Count(AtomicUsize::new(0))),
        );
        let (waker_a, waker_b) = (Waker::from(Arc::clone(&a)), Waker::from(Arc::clone(&b)));
        let (mut watch_a, mut watch_b) = (None, None);
        stopping.keep_watching(&mut watch_a, &waker_a);
        stopping.keep_watching(&mut watch_b, &waker_b);
        stopping.keep_watching(&mut watch_a, &waker_a);
        assert_eq!(
            stopping.lock().wakers.len(),
            2,
            "a kept watch is not made again"
        );
        drop(watch_b);
        assert!(!stopping.is_stopped());
        stopping.stop();
        assert!(stopping.is_stopped());
        assert_eq!(a.0.load(Ordering::SeqCst), 1);
        assert_eq!(b.0.load(Ordering::SeqCst), 0, "its watch was dropped");
        drop(watch_a);
        assert!(stopping.lock().wakers.is_empty());
    }
}
