//! A TCP proxy in front of the test server that breaks one connection at a chosen point of the
//! wire protocol, so a test can lose a round trip deterministically.
//!
//! It forwards whole protocol messages (type byte, length, body; the client's first message
//! has no type byte). Once armed, the first simple query (`Q`) whose text contains a given
//! marker (or, started with [`FaultProxy::start_exact`], is exactly that text) is lost, once:
//! * [`Lose::Query`]: the query is never forwarded and both sockets are closed — the server
//!   never sees it;
//! * [`Lose::Reply`]: the query is forwarded, the server's reply is swallowed up to its
//!   `ReadyForQuery` (so everything the query did, `COMMIT` included, has happened), then both
//!   sockets are closed — the client never learns the outcome.
//!
//! Plain TCP only: the store URL it gives out says `sslmode=disable`.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

/// Which half of the chosen round trip is lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lose {
    Query,
    Reply,
}

struct Shared {
    marker: String,
    /// The query must be the marker, not merely contain it.
    exact: bool,
    lose: Lose,
    armed: AtomicBool,
    fired: AtomicUsize,
    stop: AtomicBool,
    /// Once a round trip was lost, new connections are closed at once (the server seems gone).
    refuse_after_loss: AtomicBool,
}

/// The running proxy; stops accepting when dropped (open connections end with either side).
pub struct FaultProxy {
    port: u16,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Listens on a free local port and forwards to `upstream` (`host:port`).
    pub fn start(upstream: String, marker: &str, lose: Lose) -> Result<FaultProxy, String> {
        FaultProxy::listen(upstream, marker, false, lose)
    }

    /// As [`FaultProxy::start`], losing a query whose text is exactly `query`.
    pub fn start_exact(upstream: String, query: &str, lose: Lose) -> Result<FaultProxy, String> {
        FaultProxy::listen(upstream, query, true, lose)
    }

    fn listen(upstream: String, marker: &str, exact: bool, lose: Lose) -> Result<FaultProxy, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let shared = Arc::new(Shared {
            marker: marker.to_owned(),
            exact,
            lose,
            armed: AtomicBool::new(false),
            fired: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            refuse_after_loss: AtomicBool::new(false),
        });
        let accepting = shared.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                if accepting.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                if accepting.refuse_after_loss.load(Ordering::SeqCst)
                    && accepting.fired.load(Ordering::SeqCst) > 0
                {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else { continue };
                connect_pair(client, server, accepting.clone());
            }
        });
        Ok(FaultProxy { port, shared })
    }

    /// The local port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Loses the next query that contains the marker.
    pub fn arm(&self) {
        self.shared.armed.store(true, Ordering::SeqCst);
    }

    /// From the lost round trip on, closes every new connection at once, as if the server had
    /// gone away (connections already open go on).
    pub fn refuse_after_loss(&self) {
        self.shared.refuse_after_loss.store(true, Ordering::SeqCst);
    }

    /// How many round trips were lost so far.
    pub fn fired(&self) -> usize {
        self.shared.fired.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Starts the two pumps of one proxied connection.
fn connect_pair(client: TcpStream, server: TcpStream, shared: Arc<Shared>) {
    // Messages are forwarded one by one: without this, Nagle's algorithm holds each small
    // write back until the previous one is acknowledged.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let doomed = Arc::new(AtomicBool::new(false));
    let (Ok(mut client_up), Ok(mut server_down)) = (client.try_clone(), server.try_clone()) else { return };
    let (mut server_up, mut client_down) = (server, client);
    let up_doomed = doomed.clone();
    // Whichever direction ends (EOF, error, a lost round trip), both connections end with it.
    thread::spawn(move || {
        let _ = pump_up(&mut client_up, &mut server_up, &shared, &up_doomed);
        close(&client_up, &server_up);
    });
    thread::spawn(move || {
        let _ = pump_down(&mut server_down, &mut client_down, &doomed);
        close(&client_down, &server_down);
    });
}

fn close(a: &TcpStream, b: &TcpStream) {
    let _ = a.shutdown(Shutdown::Both);
    let _ = b.shutdown(Shutdown::Both);
}

/// Reads one message: `typed` ones start with a type byte; the length counts itself.
fn read_message(from: &mut TcpStream, typed: bool) -> std::io::Result<Vec<u8>> {
    let head_len = if typed { 5 } else { 4 };
    let mut message = vec![0u8; head_len];
    from.read_exact(&mut message)?;
    let len_bytes: [u8; 4] = message[head_len - 4..].try_into().map_err(std::io::Error::other)?;
    let len = usize::try_from(u32::from_be_bytes(len_bytes)).map_err(std::io::Error::other)?;
    let body = len.checked_sub(4).ok_or_else(|| std::io::Error::other("bad message length"))?;
    let start = message.len();
    message.resize(start + body, 0);
    from.read_exact(&mut message[start..])?;
    Ok(message)
}

/// Client to server: loses the armed query, or dooms its reply.
fn pump_up(
    client: &mut TcpStream,
    server: &mut TcpStream,
    shared: &Shared,
    doomed: &AtomicBool,
) -> std::io::Result<()> {
    let startup = read_message(client, false)?;
    server.write_all(&startup)?;
    loop {
        let message = read_message(client, true)?;
        // The query text follows the type byte and length, and ends with a NUL.
        let text = String::from_utf8_lossy(&message[5..]);
        let text = text.strip_suffix('\0').unwrap_or(&text);
        let matches = if shared.exact { text == shared.marker } else { text.contains(&shared.marker) };
        let chosen = message[0] == b'Q'
            && matches
            && shared.armed.compare_exchange(true, false, Ordering::SeqCst, Ordering::SeqCst).is_ok();
        if chosen {
            shared.fired.fetch_add(1, Ordering::SeqCst);
            match shared.lose {
                Lose::Query => {
                    close(client, server);
                    return Ok(());
                }
                Lose::Reply => doomed.store(true, Ordering::SeqCst),
            }
        }
        server.write_all(&message)?;
    }
}

/// Server to client: forwards, except a doomed reply, which ends the connection once the
/// server is ready for the next query.
fn pump_down(server: &mut TcpStream, client: &mut TcpStream, doomed: &AtomicBool) -> std::io::Result<()> {
    loop {
        let message = read_message(server, true)?;
        if doomed.load(Ordering::SeqCst) {
            if message[0] == b'Z' {
                close(client, server);
                return Ok(());
            }
            continue;
        }
        client.write_all(&message)?;
    }
}
