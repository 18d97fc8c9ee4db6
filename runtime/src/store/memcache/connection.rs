//! One pooled connection to one server, and the commands the store sends
//! on it, each read in full and acknowledged: `gat`, `gats`, `gets`, `set`,
//! `add`, `cas`, `delete`.
//!
//! `memcache-async` 0.10 sends `set` and `delete` with `noreply` (and
//! memcached then stays silent on errors too, so a refused write is lost),
//! has no `gat` or `gats`, reads memcached's `NOT_FOUND` answer to `cas` as
//! an error (it looks for `NOT FOUND`), and keeps its stream private, so
//! these commands are framed here (memcached's text protocol,
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

/// The answer to `add`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Added {
    /// `STORED`: the key was free and now holds the value.
    Stored,
    /// `NOT_STORED`: the key holds a value; nothing was written.
    NotStored,
}

/// The answer to `cas`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Swapped {
    /// `STORED`: the item was unchanged and now holds the value.
    Stored,
    /// `EXISTS`: the item changed since its unique was read; nothing was
    /// written.
    Exists,
    /// `NOT_FOUND`: no item under the key; nothing was written.
    NotFound,
}

/// What a `VALUE` header holds after `<bytes>`: nothing (`gat`), or the
/// CAS unique (`gats`, `gets`).
trait CasField: Sized {
    /// The field after `<bytes>`, if any; `None` when it is not what the
    /// command answers.
    fn parse(field: Option<&[u8]>) -> Option<Self>;
}

impl CasField for () {
    fn parse(field: Option<&[u8]>) -> Option<()> {
        field.is_none().then_some(())
    }
}

impl CasField for u64 {
    fn parse(field: Option<&[u8]>) -> Option<u64> {
        std::str::from_utf8(field?).ok()?.parse().ok()
    }
}

impl Connection {
    /// `gat exptime key`: the value under `key`, its expiry set to
    /// `exptime`, in one round trip.
    pub(super) async fn gat(
        &mut self,
        key: &str,
        exptime: u32,
    ) -> Result<Option<Vec<u8>>, MemcacheStoreError> {
        self.out.clear();
        write!(self.out, "gat {exptime} {key}\r\n").expect(IN_MEMORY);
        let found = self.retrieve::<()>("gat", key).await?;
        Ok(found.map(|(value, ())| value))
    }

    /// `gats exptime key`: like [`gat`](Self::gat), and also the value's
    /// CAS unique for a later `cas`.
    pub(super) async fn gats(
        &mut self,
        key: &str,
        exptime: u32,
    ) -> Result<Option<(Vec<u8>, u64)>, MemcacheStoreError> {
        self.out.clear();
        write!(self.out, "gats {exptime} {key}\r\n").expect(IN_MEMORY);
        self.retrieve("gats", key).await
    }

    /// `gets key`: the value under `key` and its CAS unique, leaving its
    /// expiry alone.
    pub(super) async fn gets(
        &mut self,
        key: &str,
    ) -> Result<Option<(Vec<u8>, u64)>, MemcacheStoreError> {
        self.out.clear();
        write!(self.out, "gets {key}\r\n").expect(IN_MEMORY);
        self.retrieve("gets", key).await
    }

    /// `set key 0 exptime len` and the value: flags 0, like sanic-session.
    /// Returns once the server answered `STORED`.
    pub(super) async fn set(
        &mut self,
        key: &str,
        value: &[u8],
        exptime: u32,
    ) -> Result<(), MemcacheStoreError> {
        let stored: &[(&[u8], ())] = &[(b"STORED", ())];
        self.store("set", key, value, exptime, None, stored).await
    }

    /// `add key 0 exptime len` and the value: writes only if nothing is
    /// stored under `key`.
    pub(super) async fn add(
        &mut self,
        key: &str,
        value: &[u8],
        exptime: u32,
    ) -> Result<Added, MemcacheStoreError> {
        let answers: &[(&[u8], Added)] = &[
            (b"STORED", Added::Stored),
            (b"NOT_STORED", Added::NotStored),
        ];
        self.store("add", key, value, exptime, None, answers).await
    }

    /// `cas key 0 exptime len unique` and the value: writes only if the
    /// item under `key` still has CAS unique `unique`.
    pub(super) async fn cas(
        &mut self,
        key: &str,
        value: &[u8],
        exptime: u32,
        unique: u64,
    ) -> Result<Swapped, MemcacheStoreError> {
        let answers: &[(&[u8], Swapped)] = &[
            (b"STORED", Swapped::Stored),
            (b"EXISTS", Swapped::Exists),
            (b"NOT_FOUND", Swapped::NotFound),
        ];
        self.store("cas", key, value, exptime, Some(unique), answers)
            .await
    }

    /// `delete key`; `DELETED` and `NOT_FOUND` are both success.
    pub(super) async fn delete(&mut self, key: &str) -> Result<(), MemcacheStoreError> {
        const COMMAND: &str = "delete";
        self.out.clear();
        write!(self.out, "delete {key}\r\n").expect(IN_MEMORY);
        self.send(COMMAND).await?;
        self.answer(COMMAND, &[(b"DELETED", ()), (b"NOT_FOUND", ())])
            .await
    }

    /// Sends the retrieval command in `self.out` (one key) and reads its
    /// answer in full: `END`, or one `VALUE` header naming `key`, the value
    /// and `END`. `U` is what the header carries after the length.
    async fn retrieve<U: CasField>(
        &mut self,
        command: &'static str,
        key: &str,
    ) -> Result<Option<(Vec<u8>, U)>, MemcacheStoreError> {
        self.send(command).await?;
        self.read_line(command).await?;
        if self.line == b"END" {
            self.busy = false;
            return Ok(None);
        }
        let (len, unique) = self.value_header::<U>(command, key)?;
        let mut value = vec![0; len + 2];
        self.stream
            .read_exact(&mut value)
            .await
            .map_err(|source| self.io_error(command, source))?;
        if !value.ends_with(b"\r\n") {
            return Err(self.protocol_error(command, "the value does not end with \\r\\n"));
        }
        value.truncate(len);
        self.read_line(command).await?;
        if self.line != b"END" {
            return Err(self.protocol_error(command, "expected END after the value"));
        }
        self.busy = false;
        Ok(Some((value, unique)))
    }

    /// Sends the storage command `command key 0 exptime len [unique]` and
    /// the value, flags 0 like sanic-session, and returns which of
    /// `answers` the server gave.
    async fn store<T: Copy>(
        &mut self,
        command: &'static str,
        key: &str,
        value: &[u8],
        exptime: u32,
        unique: Option<u64>,
        answers: &[(&[u8], T)],
    ) -> Result<T, MemcacheStoreError> {
        self.out.clear();
        write!(self.out, "{command} {key} 0 {exptime} {}", value.len()).expect(IN_MEMORY);
        if let Some(unique) = unique {
            write!(self.out, " {unique}").expect(IN_MEMORY);
        }
        self.out.extend_from_slice(b"\r\n");
        self.out.extend_from_slice(value);
        self.out.extend_from_slice(b"\r\n");
        self.send(command).await?;
        self.answer(command, answers).await
    }

    /// Reads a one-line answer and returns the meaning `answers` gives it;
    /// any other line is an error.
    async fn answer<T: Copy>(
        &mut self,
        command: &'static str,
        answers: &[(&[u8], T)],
    ) -> Result<T, MemcacheStoreError> {
        self.read_line(command).await?;
        match answers
            .iter()
            .find(|(line, _)| *line == self.line.as_slice())
        {
            Some(&(_, answer)) => {
                self.busy = false;
                Ok(answer)
            }
            None => Err(self.unexpected(command)),
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

    /// The length announced by `VALUE <key> <flags> <bytes>` in
    /// `self.line`, and what follows it (`U`).
    fn value_header<U: CasField>(
        &self,
        command: &'static str,
        key: &str,
    ) -> Result<(usize, U), MemcacheStoreError> {
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
            let unique = U::parse(parts.next())?;
            parts.next().is_none().then_some((len, unique))
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
