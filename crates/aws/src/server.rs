//! Serving the router on a TCP listener so that no client, signed or not, can stop others
//! from being served.
//!
//! - **Time limits.** A connection must deliver a request's head within
//!   [`Limits::header_timeout`], counted from when it opened or its previous response ended,
//!   so idle keep-alive connections and slowly dripped heads are closed. A response the client
//!   does not read is abandoned after [`Limits::write_timeout`] without progress. (Bodies have
//!   their own limits, checked where they are read.)
//! - **A cap on connections.** At most [`Limits::max_connections`] are open at once. When a
//!   new one arrives at the cap, the connection that has waited longest for a request head is
//!   closed to make room: that is an idle or stalled client, while a client with a request
//!   under way is never cut off. When every connection has a request under way, the newcomer
//!   is refused at once with `503`.
//! - **Graceful stop.** On shutdown, connections finish their requests in progress.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tower::ServiceExt as _;

/// Connection limits of [`serve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Time for a request's head, from the connection's start or the previous response's end.
    pub header_timeout: Duration,
    /// Longest a response may wait for the client to take more of it.
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// How long connections may take to finish their requests when the server stops.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` within `limits` until `shutdown` completes.
pub async fn serve<F>(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send,
{
    let tracker = Arc::new(Tracker::new(limits.max_connections.max(1)));
    let refusals = Arc::new(tokio::sync::Semaphore::new(REFUSALS_AT_ONCE));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        // Connections closed to make room close on their own tasks: wait for that, so that
        // open sockets never exceed the cap by more than the one just evicted.
        while tracker.alive() > tracker.max {
            tokio::select! {
                () = tracker.closed.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(&tracker, e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = tracker.admit() else {
            refuse(stream, &refusals);
            continue;
        };
        // Small replies go out at once instead of waiting to fill a segment.
        let _ = stream.set_nodelay(true);
        let activity = slot.state.clone();
        let app = router.clone();
        let service = tower::service_fn(move |request: Request<Incoming>| {
            let app = app.clone();
            let busy = Busy::start(&activity);
            async move {
                let Some(busy) = busy else {
                    // Closed to make room the instant its request arrived.
                    return Ok(unavailable());
                };
                let response = app.oneshot(request.map(axum::body::Body::new)).await;
                drop(busy);
                response
            }
        });
        let io = TokioIo::new(WriteDeadline::new(stream, limits.write_timeout));
        let connection =
            graceful.watch(http.serve_connection(io, TowerToHyperService::new(service)));
        tokio::spawn(async move {
            tokio::select! {
                result = connection => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "Connection closed.");
                    }
                }
                () = slot.state.evict.notified() => {
                    tracing::debug!("Closed a connection waiting for a request, to make room.");
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN) => {
            tracing::warn!("Connections still open after {} s; stopping anyway.", DRAIN.as_secs());
        }
    }
    Ok(())
}

/// Out of file descriptors (or another accept failure): make room by closing the
/// connection that has waited longest for a request, and pause briefly rather than spin.
async fn accept_failed(tracker: &Tracker, e: io::Error) {
    tracing::warn!(error = %e, "Cannot accept a connection.");
    tracker.evict_longest_waiting();
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Refused connections whose request is read and dropped at once, and for how long each: a
/// socket closed with unread data resets the connection, and the client may then lose the
/// `503`. Beyond this many, a refused connection is closed at once.
pub const REFUSALS_AT_ONCE: usize = 16;
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

const UNAVAILABLE: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 1\r\n\r\n";

/// Answers a connection over the cap with `503` and closes it.
fn refuse(stream: TcpStream, refusals: &Arc<tokio::sync::Semaphore>) {
    tracing::debug!("Refused a connection: every connection has a request under way.");
    let _ = stream.try_write(UNAVAILABLE);
    let Ok(permit) = refusals.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut stream = stream;
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 4096];
        let _ = tokio::time::timeout(REFUSAL_LINGER, async {
            let mut read = 0;
            while read < 64 * 1024 {
                match stream.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => read += n,
                }
            }
        })
        .await;
        drop(permit);
    });
}

/// The answer to a request on a connection closed to make room.
fn unavailable() -> axum::response::Response {
    let mut r = axum::response::Response::new(axum::body::Body::empty());
    *r.status_mut() = axum::http::StatusCode::SERVICE_UNAVAILABLE;
    r.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    r
}

/// The connections open, and which of them wait for a request.
struct Tracker {
    max: usize,
    start: Instant,
    open: Mutex<Open>,
    /// Connections whose socket is open, those closed to make room but not yet gone included.
    alive: AtomicUsize,
    /// Signalled when a connection is gone.
    closed: Notify,
}

#[derive(Default)]
struct Open {
    next_id: u64,
    connections: HashMap<u64, Arc<ConnectionState>>,
}

/// [`ConnectionState::busy`] of a connection closed to make room: no request starts on it.
const EVICTED: usize = usize::MAX;

/// What the tracker knows of one connection.
struct ConnectionState {
    /// Requests under way, or [`EVICTED`]. Eviction and a request's start race for it, so
    /// that a request that has started is never cut off.
    busy: AtomicUsize,
    /// When it last started waiting for a request, milliseconds since `epoch`.
    waiting_since_ms: AtomicU64,
    /// The tracker's start.
    epoch: Instant,
    evict: Notify,
}

/// A connection's place under the cap, given back when it closes.
struct Slot {
    tracker: Arc<Tracker>,
    id: u64,
    state: Arc<ConnectionState>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.tracker.lock().connections.remove(&self.id);
        self.tracker.alive.fetch_sub(1, Ordering::AcqRel);
        self.tracker.closed.notify_waiters();
    }
}

impl Tracker {
    fn new(max: usize) -> Tracker {
        Tracker {
            max,
            start: Instant::now(),
            open: Mutex::default(),
            alive: AtomicUsize::new(0),
            closed: Notify::new(),
        }
    }

    fn alive(&self) -> usize {
        self.alive.load(Ordering::Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a new connection, making room if needed; `None` when every connection has
    /// a request under way.
    fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut open = self.lock();
        if open.connections.len() >= self.max && !Self::evict_from(&mut open) {
            return None;
        }
        let state = Arc::new(ConnectionState {
            busy: AtomicUsize::new(0),
            waiting_since_ms: AtomicU64::new(self.start.elapsed().as_millis() as u64),
            epoch: self.start,
            evict: Notify::new(),
        });
        let id = open.next_id;
        open.next_id += 1;
        open.connections.insert(id, state.clone());
        self.alive.fetch_add(1, Ordering::AcqRel);
        Some(Slot {
            tracker: self.clone(),
            id,
            state,
        })
    }

    fn evict_longest_waiting(&self) {
        Self::evict_from(&mut self.lock());
    }

    /// Closes the connection that has waited longest for a request; `false` if none waits.
    fn evict_from(open: &mut Open) -> bool {
        let mut waiting: Vec<(u64, u64)> = open
            .connections
            .iter()
            .filter(|(_, c)| c.busy.load(Ordering::Acquire) == 0)
            .map(|(id, c)| (c.waiting_since_ms.load(Ordering::Acquire), *id))
            .collect();
        waiting.sort_unstable();
        for (_, id) in waiting {
            let Some(c) = open.connections.get(&id) else {
                continue;
            };
            // A request may have started since the look above: then it is not idle.
            if c.busy
                .compare_exchange(0, EVICTED, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                continue;
            }
            // notify_one keeps the wake-up if the connection's task is not yet waiting.
            c.evict.notify_one();
            open.connections.remove(&id);
            return true;
        }
        false
    }
}

/// Marks a connection busy while a request is under way.
struct Busy {
    state: Arc<ConnectionState>,
}

impl Busy {
    /// Marks a request's start; `None` if the connection has just been closed to make room.
    fn start(state: &Arc<ConnectionState>) -> Option<Busy> {
        state
            .busy
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n != EVICTED).then(|| n + 1)
            })
            .ok()?;
        Some(Busy {
            state: state.clone(),
        })
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        // Waiting for the next request starts now.
        let now_ms = self.state.epoch.elapsed().as_millis() as u64;
        self.state.waiting_since_ms.store(now_ms, Ordering::Release);
        self.state.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A stream whose writes fail once they have made no progress for a while, so a client that
/// stops reading its response cannot hold the connection.
struct WriteDeadline<S> {
    inner: S,
    timeout: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> WriteDeadline<S> {
    fn new(inner: S, timeout: Duration) -> Self {
        WriteDeadline {
            inner,
            timeout,
            stalled: None,
        }
    }

    fn pending<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let timeout = self.timeout;
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading the response",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.pending(cx),
            ready => {
                self.stalled = None;
                ready
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending => self.pending(cx),
            ready => {
                self.stalled = None;
                ready
            }
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_shutdown(cx) {
            Poll::Pending => self.pending(cx),
            ready => ready,
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.pending(cx),
            ready => {
                self.stalled = None;
                ready
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(tracker: &Tracker) -> usize {
        tracker.lock().connections.len()
    }

    #[test]
    fn at_the_cap_the_longest_waiting_connection_makes_room() {
        let tracker = Arc::new(Tracker::new(2));
        let first = tracker.admit().expect("room");
        let second = tracker.admit().expect("room");
        let _busy = Busy::start(&second.state).expect("not evicted");
        let third = tracker.admit().expect("the idle first makes room");
        assert_eq!(waiting(&tracker), 2);
        assert!(
            !tracker.lock().connections.contains_key(&first.id),
            "the idle connection was closed"
        );
        // Now the third waits and the second is busy: the third goes next.
        let _fourth = tracker.admit().expect("room");
        assert!(!tracker.lock().connections.contains_key(&third.id));
        assert!(tracker.lock().connections.contains_key(&second.id));
    }

    #[test]
    fn at_the_cap_with_every_request_under_way_newcomers_are_refused() {
        let tracker = Arc::new(Tracker::new(1));
        let only = tracker.admit().expect("room");
        let busy = Busy::start(&only.state).expect("not evicted");
        assert!(tracker.admit().is_none());
        drop(busy);
        assert!(tracker.admit().is_some(), "idle again, so it makes room");
    }

    #[test]
    fn no_request_starts_on_a_connection_closed_to_make_room() {
        let tracker = Arc::new(Tracker::new(1));
        let first = tracker.admit().expect("room");
        let _second = tracker.admit().expect("the idle first makes room");
        assert!(Busy::start(&first.state).is_none());
    }

    #[test]
    fn a_closed_connection_gives_its_place_back() {
        let tracker = Arc::new(Tracker::new(1));
        let only = tracker.admit().expect("room");
        let busy = Busy::start(&only.state).expect("not evicted");
        drop(busy);
        drop(only);
        assert_eq!(waiting(&tracker), 0);
    }
}
