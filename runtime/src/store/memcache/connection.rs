//! One pooled connection to one server, and the three commands the store
//! sends on it, each acknowledged: `gat`, `set`, `delete`.
//!
//! `memcache-async` 0.10 sends `set` and `delete` with `noreply` (and
//! memcached then stays silent on errors too, so a refused write is lost),
//! has no `gat` or `touch`, and keeps its stream private, so these three
//! commands are framed here (memcached's text protocol,
//! `doc/protocol.txt`). `memcache-async` is used for what it does fully:
//! the `version` handshake on each new connection.

use std::io::{self, Write as _};
use std::sync::Arc;

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use memcache_async::ascii::Protocol;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::error::{escaped, MemcacheStoreError};

/// An answer line longer than this is not memcached's (the longest is a
/// `VALUE` header with a 250-byte key).
const MAX_LINE: usize = 1024;

/// Writing a command into a `Vec` cannot fail.
const IN_MEMORY: &str = "writing to a Vec cannot fail";

/// The first memcached release with `gat` (get and touch).
const GAT_SINCE: (u32, u32, u32) = (1, 5, 3);

/// Opens connections to one server for its pool, and checks idle ones
/// before they are handed out again.
#[derive(Debug)]
pub(super) struct Manager {
    pub(super) server: Arc<str>,
}

impl managed::Manager for Manager {
    type Type = Connection;
    type Error = MemcacheStoreError;

    async fn create(&self) -> Result<Connection, MemcacheStoreError> {
        let connect_error = |source| MemcacheStoreError::Connect {
            server: self.server.to_string(),
            source,
        };
        let mut stream = TcpStream::connect(&*self.server)
            .await
            .map_err(connect_error)?;
        // Each command is one write; don't let Nagle hold it back.
        stream.set_nodelay(true).map_err(connect_error)?;
        let version = Protocol::new(&mut stream)
            .version()
            .await
            .map_err(|source| match source.kind() {
                io::ErrorKind::Other => MemcacheStoreError::Protocol {
                    server: self.server.to_string(),
                    command: "version",
                    detail: format!("not a memcached server? it answered {source}"),
                },
                _ => MemcacheStoreError::Io {
                    server: self.server.to_string(),
                    command: "version",
                    source,
                },
            })?;
        if parse_version(&version).is_some_and(|v| v < GAT_SINCE) {
            return Err(MemcacheStoreError::Protocol {
                server: self.server.to_string(),
                command: "version",
                detail: format!(
                    "memcached {version} has no `gat` command; sessions need memcached 1.5.3 or later"
                ),
            });
        }
        Ok(Connection {
            server: self.server.clone(),
            stream: BufReader::new(stream),
            out: Vec::new(),
            line: Vec::new(),
            busy: false,
        })
    }

    async fn recycle(
        &self,
        connection: &mut Connection,
        _: &Metrics,
    ) -> RecycleResult<MemcacheStoreError> {
        connection.check_idle().map_err(RecycleError::message)
    }
}

/// `major.minor.patch` of a `version` answer such as `1.6.18`.
fn parse_version(version: &str) -> Option<(u32, u32, u32)> {
    let mut numbers = version.split(|c: char| !c.is_ascii_digit());
    let mut next = || numbers.next()?.parse::<u32>().ok();
    Some((next()?, next()?, next().unwrap_or(0)))
}

/// A connection to one server, between two commands or in one.
#[derive(Debug)]
pub(super) struct Connection {
    server: Arc<str>,
    stream: BufReader<TcpStream>,
    /// The command being sent (reused).
    out: Vec<u8>,
    /// The answer line being read, without `\r\n` once read (reused).
    line: Vec<u8>,
    /// A command was sent and its answer not read in full, so the next byte
    /// on the stream is not the start of an answer to a new command. Set
    /// when a command starts and cleared only when its answer was read in
    /// full, so a command cut short by an error, a timeout or a dropped
    /// future leaves the connection marked: the pool discards it.
    busy: bool,
}

impl Connection {
    /// `gat exptime key`: the value under `key`, its expiry set to
    /// `exptime`, in one round trip.
    pub(super) async fn gat(
        &mut self,
        key: &str,
        exptime: u32,
    ) -> Result<Option<Vec<u8>>, MemcacheStoreError> {
        const COMMAND: &str = "gat";
        self.out.clear();
        write!(self.out, "gat {exptime} {key}\r\n").expect(IN_MEMORY);
        self.send(COMMAND).await?;
        self.read_line(COMMAND).await?;
        if self.line == b"END" {
            self.busy = false;
            return Ok(None);
        }
        let len = self.value_header(COMMAND, key)?;
        let mut value = vec![0; len + 2];
        self.stream
            .read_exact(&mut value)
            .await
            .map_err(|source| self.io_error(COMMAND, source))?;
        if !value.ends_with(b"\r\n") {
            return Err(self.protocol_error(COMMAND, "the value does not end with \\r\\n"));
        }
        value.truncate(len);
        self.read_line(COMMAND).await?;
        if self.line != b"END" {
            return Err(self.protocol_error(COMMAND, "expected END after the value"));
        }
        self.busy = false;
        Ok(Some(value))
    }

    /// `set key 0 exptime len` and the value: flags 0, like sanic-session.
    /// Returns once the server answered `STORED`.
    pub(super) async fn set(
        &mut self,
        key: &str,
        value: &[u8],
        exptime: u32,
    ) -> Result<(), MemcacheStoreError> {
        const COMMAND: &str = "set";
        self.out.clear();
        write!(self.out, "set {key} 0 {exptime} {}\r\n", value.len()).expect(IN_MEMORY);
        self.out.extend_from_slice(value);
        self.out.extend_from_slice(b"\r\n");
        self.send(COMMAND).await?;
        self.read_line(COMMAND).await?;
        match self.line.as_slice() {
            b"STORED" => {
                self.busy = false;
                Ok(())
            }
            _ => Err(self.unexpected(COMMAND)),
        }
    }

    /// `delete key`; `DELETED` and `NOT_FOUND` are both success.
    pub(super) async fn delete(&mut self, key: &str) -> Result<(), MemcacheStoreError> {
        const COMMAND: &str = "delete";
        self.out.clear();
        write!(self.out, "delete {key}\r\n").expect(IN_MEMORY);
        self.send(COMMAND).await?;
        self.read_line(COMMAND).await?;
        match self.line.as_slice() {
            b"DELETED" | b"NOT_FOUND" => {
                self.busy = false;
                Ok(())
            }
            _ => Err(self.unexpected(COMMAND)),
        }
    }

    /// Whether an idle connection can carry a new command: no command cut
    /// short, nothing unread, and the server has not closed it (a restarted
    /// memcached closed every connection; finding that out here costs no
    /// round trip and keeps a stale connection from failing a request).
    fn check_idle(&mut self) -> Result<(), &'static str> {
        if self.busy {
            return Err("a command was cut short; the connection is mid-answer");
        }
        if !self.stream.buffer().is_empty() {
            return Err("the server sent bytes nobody asked for");
        }
        match self.stream.get_ref().try_read(&mut [0; 1]) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Ok(0) => Err("the server closed the connection"),
            Ok(_) => Err("the server sent bytes nobody asked for"),
            Err(_) => Err("the connection failed"),
        }
    }

    /// Writes `self.out` in one go.
    async fn send(&mut self, command: &'static str) -> Result<(), MemcacheStoreError> {
        self.busy = true;
        let stream = self.stream.get_mut();
        let written = stream.write_all(&self.out).await;
        written.map_err(|source| self.io_error(command, source))
    }

    /// Reads one answer line into `self.line`, without its `\r\n`.
    async fn read_line(&mut self, command: &'static str) -> Result<(), MemcacheStoreError> {
        self.line.clear();
        loop {
            let buf = match self.stream.fill_buf().await {
                Ok(buf) => buf,
                Err(source) => return Err(self.io_error(command, source)),
            };
            if buf.is_empty() {
                let eof = io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                );
                return Err(self.io_error(command, eof));
            }
            let (take, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(at) => (at + 1, true),
                None => (buf.len(), false),
            };
            self.line.extend_from_slice(&buf[..take]);
            self.stream.consume(take);
            if self.line.len() > MAX_LINE {
                return Err(self.protocol_error(command, "an answer line is too long"));
            }
            if done {
                break;
            }
        }
        if !self.line.ends_with(b"\r\n") {
            return Err(self.protocol_error(command, "an answer line does not end with \\r\\n"));
        }
        self.line.truncate(self.line.len() - 2);
        Ok(())
    }

    /// The length announced by `VALUE <key> <flags> <bytes>` in `self.line`.
    fn value_header(&self, command: &'static str, key: &str) -> Result<usize, MemcacheStoreError> {
        let mut parts = self.line.split(|&b| b == b' ');
        let parsed = (|| {
            if parts.next()? != b"VALUE" || parts.next()? != key.as_bytes() {
                return None;
            }
            std::str::from_utf8(parts.next()?)
                .ok()?
                .parse::<u32>()
                .ok()?; // flags
            let len = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
            parts.next().is_none().then_some(len)
        })();
        parsed.ok_or_else(|| self.unexpected(command))
    }

    /// The error for an answer line that is not the command's success.
    fn unexpected(&self, command: &'static str) -> MemcacheStoreError {
        let line = self.line.as_slice();
        let is_error = line == b"ERROR"
            || line.starts_with(b"CLIENT_ERROR ")
            || line.starts_with(b"SERVER_ERROR ")
            || line == b"NOT_STORED";
        if is_error {
            MemcacheStoreError::Refused {
                server: self.server.to_string(),
                command,
                reply: String::from_utf8_lossy(line).into_owned(),
            }
        } else {
            self.protocol_error(command, "unexpected answer")
        }
    }

    fn protocol_error(&self, command: &'static str, what: &str) -> MemcacheStoreError {
        MemcacheStoreError::Protocol {
            server: self.server.to_string(),
            command,
            detail: format!("{what}: {}", escaped(&self.line, 80)),
        }
    }

    fn io_error(&self, command: &'static str, source: io::Error) -> MemcacheStoreError {
        MemcacheStoreError::Io {
            server: self.server.to_string(),
            command,
            source,
        }
    }
}
