//! A TCP proxy between a store and its real server (Redis or memcached)
//! that injects network faults, switchable while it runs: added latency, a
//! stall (nothing forwarded, new connections accepted and never answered),
//! resets (RST) of every connection, and a server reply cut in half.
//!
//! It listens on a free loopback port and forwards each connection to the
//! server on a connection of its own; it counts the connections it holds
//! open, so that a test can see whether a store leaks them. Its tasks run in
//! the runtime that started it, and end with it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does to the traffic, from the moment it is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forwards everything at once.
    None,
    /// Holds every chunk of bytes, either way, this long before forwarding it.
    Latency(Duration),
    /// Forwards nothing, either way; new connections are accepted and
    /// never answered (not connected to the server until the fault is
    /// lifted). What was held is forwarded once the fault is lifted.
    Stall,
    /// Resets (RST) every open connection to the client, and every new one
    /// as soon as it is accepted.
    Reset,
}

struct Shared {
    fault: watch::Sender<Fault>,
    /// Cut the next chunk the server sends on any connection.
    cut_next: AtomicBool,
    open: AtomicUsize,
    accepted: AtomicUsize,
}

/// A fault-injecting proxy to one server.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            fault: watch::Sender::new(Fault::None),
            cut_next: AtomicBool::new(false),
            open: AtomicUsize::new(0),
            accepted: AtomicUsize::new(0),
        });
        let accepting = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                accepting.accepted.fetch_add(1, Ordering::SeqCst);
                if *accepting.fault.borrow() == Fault::Reset {
                    reset(client);
                    continue;
                }
                let open = Open::new(accepting.clone());
                tokio::spawn(forward(client, upstream, open));
            }
        });
        Proxy { addr, shared, task }
    }

    /// `127.0.0.1:<port>`, where the store connects.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches to `fault` (on open connections too).
    pub fn set(&self, fault: Fault) {
        self.shared.fault.send_replace(fault);
    }

    /// Back to forwarding everything at once.
    pub fn heal(&self) {
        self.set(Fault::None);
    }

    /// Forwards only the first half of the next chunk the server sends (on
    /// whichever connection that is), then closes that connection. Once.
    pub fn cut_next_reply(&self) {
        self.shared.cut_next.store(true, Ordering::SeqCst);
    }

    /// Whether the armed cut has happened (or none was armed).
    pub fn cut_done(&self) -> bool {
        !self.shared.cut_next.load(Ordering::SeqCst)
    }

    /// The connections open now (client side accepted, not yet closed).
    pub fn open(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// Connections accepted since the start.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Waits (up to `within`) until at most `n` connections are open;
    /// returns how many are.
    pub async fn settle(&self, n: usize, within: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + within;
        while self.open() > n && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.open()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        // Connection tasks end as their connections are reset.
        self.set(Fault::Reset);
    }
}

/// Counts one open connection while it lives.
struct Open(Arc<Shared>);

impl Open {
    fn new(shared: Arc<Shared>) -> Open {
        shared.open.fetch_add(1, Ordering::SeqCst);
        Open(shared)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Closes `stream` with a RST rather than a FIN: `SO_LINGER` with a
/// timeout of zero, then close. (tokio deprecates `set_linger` because a
/// non-zero linger blocks the thread on close; a zero one does not.)
#[allow(deprecated)]
fn reset(stream: TcpStream) {
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// Forwards between `client` and a new connection to `upstream` until
/// either side closes, a reply is cut, or the fault says reset.
async fn forward(client: TcpStream, upstream: SocketAddr, open: Open) {
    let shared = open.0.clone();
    let mut faults = shared.fault.subscribe();
    // No connection to the server while stalled: a stalled network
    // answers nothing, not even the handshake.
    if wait_unless_stalled(&mut faults).await == Fault::Reset {
        return reset(client);
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return reset(client);
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let resetting = tokio::select! {
        _ = pump(&mut client_read, &mut server_write, &shared, false) => false,
        _ = pump(&mut server_read, &mut client_write, &shared, true) => false,
        _ = faults.wait_for(|f| *f == Fault::Reset) => true,
    };
    if resetting {
        if let Ok(client) = client_read.reunite(client_write) {
            reset(client);
        }
    }
    // Both connections close here (a FIN unless reset), then `open` counts
    // this one closed.
}

/// Waits while the fault is a stall; returns the fault then.
async fn wait_unless_stalled(faults: &mut watch::Receiver<Fault>) -> Fault {
    match faults.wait_for(|f| *f != Fault::Stall).await {
        Ok(fault) => *fault,
        Err(_) => Fault::Reset,
    }
}

/// Copies chunks from `from` to `to` under the current fault until `from`
/// ends or a write fails. `replies`: this is the server's direction, where
/// an armed cut applies.
async fn pump(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    shared: &Shared,
    replies: bool,
) {
    let mut faults = shared.fault.subscribe();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        match wait_unless_stalled(&mut faults).await {
            Fault::Latency(delay) => tokio::time::sleep(delay).await,
            Fault::Reset => return,
            Fault::None | Fault::Stall => {}
        }
        if replies && shared.cut_next.swap(false, Ordering::SeqCst) {
            let _ = to.write_all(&buf[..n / 2]).await;
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
