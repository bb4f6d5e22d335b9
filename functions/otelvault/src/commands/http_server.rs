//! The local server's HTTP/1 listener, with limits a hostile client cannot
//! get around: a request head must arrive within the header timeout, a
//! body within the service's body timeout, and open connections are
//! capped below the process's descriptor limit. At the cap, the oldest
//! connection that is not serving a request (a client that connected and
//! sent nothing, or an idle keep-alive) is closed to make room, so a flood
//! of slow or idle connections cannot keep real requests out.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;

/// How the listener treats connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Answer only requests addressed to a loopback name.
    pub loopback_only: bool,
    /// Longest a client may take to send a request head.
    pub header_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
}

/// One open connection, as the cap sees it.
#[derive(Debug, Default)]
struct Conn {
    /// Requests it is serving now.
    in_flight: AtomicUsize,
    /// Told to close, to make room.
    evict: tokio::sync::Notify,
}

/// The open connections, oldest first.
#[derive(Debug, Default)]
struct Conns {
    open: Mutex<VecDeque<Arc<Conn>>>,
}

impl Conns {
    fn len(&self) -> usize {
        self.open.lock().map_or(0, |open| open.len())
    }

    fn add(&self, conn: Arc<Conn>) {
        if let Ok(mut open) = self.open.lock() {
            open.push_back(conn);
        }
    }

    fn remove(&self, conn: &Arc<Conn>) {
        if let Ok(mut open) = self.open.lock() {
            open.retain(|c| !Arc::ptr_eq(c, conn));
        }
    }

    /// Closes the oldest connection serving no request; false when every
    /// connection is busy.
    fn evict_oldest_idle(&self) -> bool {
        let Ok(mut open) = self.open.lock() else {
            return false;
        };
        let Some(i) = open
            .iter()
            .position(|c| c.in_flight.load(Ordering::Acquire) == 0)
        else {
            return false;
        };
        if let Some(conn) = open.remove(i) {
            conn.evict.notify_one();
        }
        true
    }
}

/// Serves `app` on `listener` until `stopped` resolves, then lets the
/// requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    limits: Limits,
    stopped: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let conns = Arc::new(Conns::default());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(stopped);
    loop {
        let (stream, _) = tokio::select! {
            () = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it
                    // was accepted: make room and go on.
                    tracing::warn!(error = %e, "Could not accept a connection.");
                    conns.evict_oldest_idle();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if conns.len() >= limits.max_connections && !conns.evict_oldest_idle() {
            // Every connection is serving a request: this one is closed (a
            // client sees that and retries).
            tracing::warn!(
                max = limits.max_connections,
                "Refused a connection: every connection is serving a request."
            );
            drop(stream);
            continue;
        }
        let conn = Arc::new(Conn::default());
        conns.add(Arc::clone(&conn));
        // A request counts as in flight from its head to its response (the
        // body of the answer streams after): only then is the connection
        // busy, and never closed to make room.
        let counted = {
            let conn = Arc::clone(&conn);
            tower::ServiceBuilder::new()
                .map_future(move |response: axum::routing::future::RouteFuture<_>| {
                    let guard = InFlight::new(Arc::clone(&conn));
                    async move {
                        let response = response.await;
                        drop(guard);
                        response
                    }
                })
                .map_request(|request: axum::extract::Request<hyper::body::Incoming>| {
                    request.map(axum::body::Body::new)
                })
                .service(app.clone())
        };
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout);
        let connection = graceful
            .watch(http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(counted)));
        let conns = Arc::clone(&conns);
        tokio::spawn(async move {
            tokio::select! {
                result = connection => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "A connection ended with an error.");
                    }
                }
                () = conn.evict.notified() => {
                    tracing::debug!("Closed an idle connection to make room.");
                }
            }
            conns.remove(&conn);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Counts a request as in flight on its connection while it lives.
#[derive(Debug)]
struct InFlight(Arc<Conn>);

impl InFlight {
    fn new(conn: Arc<Conn>) -> Self {
        conn.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(conn)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Open connections allowed by default: the process's descriptor limit,
/// less a reserve for the store's files and sockets.
pub fn default_max_connections() -> usize {
    const RESERVE: usize = 128;
    descriptor_limit()
        .map_or(1024, |limit| limit.saturating_sub(RESERVE))
        .clamp(64, 65_536)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn descriptor_limit() -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    #[allow(unsafe_code)]
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    ok.then(|| usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX))
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn descriptor_limit() -> Option<usize> {
    None
}
