//! One pooled connection to one server, and the commands the store sends
//! on it, each read in full and acknowledged: `version` (once, when the
//! connection opens), `gat`, `gats`, `gets`, `replace` with `add`, `add`,
//! `cas`, `delete`.
//!
//! `memcache-async` 0.10 sends `set` and `delete` with `noreply` (and
//! memcached then stays silent on errors too, so a refused write is lost),
//! has no `gat` or `gats`, reads memcached's `NOT_FOUND` answer to `cas` as
//! an error (it looks for `NOT FOUND`), keeps its stream private, and reads
//! an answer line for as long as the server sends bytes without a newline,
//! so every command is framed here (memcached's text protocol,
//! `doc/protocol.txt`).
//!
//! Nothing read from the server sizes an allocation beyond a bound: an
//! answer line is at most [`MAX_LINE`] bytes, and a value at most the
//! store's maximum value size, whatever its `VALUE` line announces. A
//! connection that saw an answer over either bound is closed.

use std::io::{self, Write as _};
use std::sync::Arc;

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::error::{printable, quoted, MemcacheStoreError};

/// An answer line longer than this (without its `\r\n`) is not
/// memcached's: the longest is a `VALUE` header with a 250-byte key, about
/// 310 bytes.
pub(crate) const MAX_LINE: usize = 1024;

/// Characters of a server's line an error message shows.
const SHOWN_LINE: usize = 120;

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
        let stream = TcpStream::connect(&*self.server)
            .await
            .map_err(connect_error)?;
        // Each command is one write; don't let Nagle hold it back.
        stream.set_nodelay(true).map_err(connect_error)?;
        let mut connection = Connection {
            server: self.server.clone(),
            stream: BufReader::new(stream),
            out: Vec::new(),
            line: Vec::new(),
            busy: false,
        };
        let version = connection.version().await?;
        if parse_version(&version).is_some_and(|v| v < GAT_SINCE) {
            return Err(MemcacheStoreError::Protocol {
                server: self.server.to_string(),
                command: "version",
                detail: format!(
                    "memcached {version} has no `gat` command; sessions need memcached 1.5.3 or later"
                ),
            });
        }
        Ok(connection)
    }

    async fn recycle(
        &self,
        connection: &mut Connection,
        _: &Metrics,
    ) -> RecycleResult<MemcacheStoreError> {
        connection.check_idle().map_err(RecycleError::message)
    }
}

/// A decimal field of an answer line.
fn number<T: std::str::FromStr>(field: &[u8]) -> Option<T> {
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// `major.minor.patch` of a `version` answer such as `1.6.18`.
pub(crate) fn parse_version(version: &str) -> Option<(u32, u32, u32)> {
    let mut numbers = version.split(|c: char| !c.is_ascii_digit());
    let mut next = || numbers.next()?.parse::<u32>().ok();
    Some((next()?, next()?, next().unwrap_or(0)))
}

/// A connection to one server, between two commands or in one.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) server: Arc<str>,
    pub(crate) stream: BufReader<TcpStream>,
    /// The command being sent (reused).
    pub(crate) out: Vec<u8>,
    /// The answer line being read, without `\r\n` once read (reused).
    pub(crate) line: Vec<u8>,
    /// A command was sent and its answer not read in full, so the next byte
    /// on the stream is not the start of an answer to a new command. Set
    /// when a command starts and cleared only when its answer was read in
    /// full, so a command cut short by an error, a timeout or a dropped
    /// future leaves the connection marked: the pool discards it.
    pub(crate) busy: bool,
}

/// The answer to `add`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Added {
    /// `STORED`: the key was free and now holds the value.
    Stored,
    /// `NOT_STORED`: the key holds a value; nothing was written.
    NotStored,
}

/// The answer to `cas`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Swapped {
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
    /// `version`: what the server says it is, once per connection.
    pub(crate) async fn version(&mut self) -> Result<String, MemcacheStoreError> {
        const COMMAND: &str = "version";
        self.out.clear();
        self.out.extend_from_slice(b"version\r\n");
        self.send(COMMAND).await?;
        self.read_line(COMMAND).await?;
        match self.line.strip_prefix(b"VERSION ") {
            Some(version) => {
                let version = printable(version, 40);
                self.busy = false;
                Ok(version)
            }
            None => Err(self.protocol_error(COMMAND, "not a memcached server? it answered")),
        }
    }

    /// `gat exptime key`: the value under `key`, its expiry set to
    /// `exptime`, in one round trip. A value over `max` bytes is an error.
    pub(crate) async fn gat(
        &mut self,
        key: &str,
        exptime: u32,
        max: usize,
    ) -> Result<Option<Vec<u8>>, MemcacheStoreError> {
        self.out.clear();
        write!(self.out, "gat {exptime} {key}\r\n").expect(IN_MEMORY);
        let found = self.retrieve::<()>("gat", key, max).await?;
        Ok(found.map(|(value, ())| value))
    }

    /// `gats exptime key`: like [`gat`](Self::gat), and also the value's
    /// CAS unique for a later `cas`.
    pub(crate) async fn gats(
        &mut self,
        key: &str,
        exptime: u32,
        max: usize,
    ) -> Result<Option<(Vec<u8>, u64)>, MemcacheStoreError> {
        self.out.clear();
        write!(self.out, "gats {exptime} {key}\r\n").expect(IN_MEMORY);
        self.retrieve("gats", key, max).await
    }

    /// `gets key`: the value under `key` and its CAS unique, leaving its
    /// expiry alone. A value over `max` bytes is an error.
    pub(crate) async fn gets(
        &mut self,
        key: &str,
        max: usize,
    ) -> Result<Option<(Vec<u8>, u64)>, MemcacheStoreError> {
        self.out.clear();
        write!(self.out, "gets {key}\r\n").expect(IN_MEMORY);
        self.retrieve("gets", key, max).await
    }

    /// Writes the value under `key` whether or not the key holds one:
    /// `replace key 0 exptime len` and `add key 0 exptime len`, each with
    /// the value, flags 0 like sanic-session, sent together in one write
    /// (one round trip; the value travels twice). `replace` writes over a
    /// value that is there, `add` writes where none is, and the other one
    /// answers `NOT_STORED`.
    ///
    /// Not `set`: after refusing a `set` (a value over the item size limit,
    /// or no memory), memcached also deletes what the key held, which
    /// logs the visitor out; after refusing `replace` or `add` it keeps it.
    /// When both answer `NOT_STORED`, another client created the key between
    /// the two: its value stays, as if the two writes had crossed.
    pub(crate) async fn put(
        &mut self,
        key: &str,
        value: &[u8],
        exptime: u32,
    ) -> Result<(), MemcacheStoreError> {
        self.out.clear();
        self.push_storage("replace", key, value, exptime, None);
        self.push_storage("add", key, value, exptime, None);
        self.send("replace").await?;
        self.read_line("replace").await?;
        let replaced = self.stored_or_not("replace");
        // memcached reads (and drops) the value of a storage command it
        // refuses with `SERVER_ERROR`, then runs the next command; after
        // any other answer the rest of the stream is not to be trusted.
        if replaced.is_err() && !self.line.starts_with(b"SERVER_ERROR ") {
            return replaced.map(drop);
        }
        self.read_line("add").await?;
        let added = self.stored_or_not("add");
        self.busy = false;
        match (replaced, added) {
            (Ok(true), _) | (_, Ok(true)) | (Ok(false), Ok(false)) => Ok(()),
            (Err(error), _) | (_, Err(error)) => Err(error),
        }
    }

    /// Whether the answer line of a storage command is `STORED` (true) or
    /// `NOT_STORED` (false); any other line is an error.
    fn stored_or_not(&self, command: &'static str) -> Result<bool, MemcacheStoreError> {
        match self.line.as_slice() {
            b"STORED" => Ok(true),
            b"NOT_STORED" => Ok(false),
            _ => Err(self.unexpected(command)),
        }
    }

    /// `add key 0 exptime len` and the value: writes only if nothing is
    /// stored under `key`.
    pub(crate) async fn add(
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
    pub(crate) async fn cas(
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
    pub(crate) async fn delete(&mut self, key: &str) -> Result<(), MemcacheStoreError> {
        const COMMAND: &str = "delete";
        self.out.clear();
        write!(self.out, "delete {key}\r\n").expect(IN_MEMORY);
        self.send(COMMAND).await?;
        self.answer(COMMAND, &[(b"DELETED", ()), (b"NOT_FOUND", ())])
            .await
    }

    /// Sends the retrieval command in `self.out` (one key) and reads its
    /// answer in full: `END`, or one `VALUE` header naming `key`, the value
    /// and `END`. `U` is what the header carries after the length. A value
    /// announced longer than `max` is an error, and nothing of it is read.
    async fn retrieve<U: CasField>(
        &mut self,
        command: &'static str,
        key: &str,
        max: usize,
    ) -> Result<Option<(Vec<u8>, U)>, MemcacheStoreError> {
        self.send(command).await?;
        self.read_line(command).await?;
        if self.line == b"END" {
            self.busy = false;
            return Ok(None);
        }
        let (len, unique) = self.value_header::<U>(command, key, max)?;
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
        self.push_storage(command, key, value, exptime, unique);
        self.send(command).await?;
        self.answer(command, answers).await
    }

    /// Appends the storage command `command key 0 exptime len [unique]` and
    /// the value to `self.out`.
    fn push_storage(
        &mut self,
        command: &str,
        key: &str,
        value: &[u8],
        exptime: u32,
        unique: Option<u64>,
    ) {
        write!(self.out, "{command} {key} 0 {exptime} {}", value.len()).expect(IN_MEMORY);
        if let Some(unique) = unique {
            write!(self.out, " {unique}").expect(IN_MEMORY);
        }
        self.out.extend_from_slice(b"\r\n");
        self.out.extend_from_slice(value);
        self.out.extend_from_slice(b"\r\n");
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

    /// Reads one answer line into `self.line`, without its `\r\n`. A line
    /// over [`MAX_LINE`] bytes is an error, and no more of it is read.
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
            // `MAX_LINE` and its `\r\n`.
            let room = MAX_LINE + 2 - self.line.len();
            if take > room {
                self.line.extend_from_slice(&buf[..room]);
                return Err(self.protocol_error(command, "an answer line is over 1024 bytes"));
            }
            self.line.extend_from_slice(&buf[..take]);
            self.stream.consume(take);
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
    /// `self.line`, at most `max`, and what follows it (`U`).
    fn value_header<U: CasField>(
        &self,
        command: &'static str,
        key: &str,
        max: usize,
    ) -> Result<(usize, U), MemcacheStoreError> {
        let mut parts = self.line.split(|&b| b == b' ');
        if parts.next() != Some(&b"VALUE"[..]) {
            return Err(self.unexpected(command));
        }
        if parts.next() != Some(key.as_bytes()) {
            return Err(self.protocol_error(command, "a value for another key"));
        }
        let flags = parts.next().and_then(number::<u32>);
        let len = match parts.next().and_then(number::<u64>) {
            Some(len) if len > max as u64 => {
                let what = format!(
                    "a value of {len} bytes announced, over the store's maximum value size of {max}"
                );
                return Err(self.protocol_error(command, &what));
            }
            Some(len) => len as usize,
            None => return Err(self.unexpected(command)),
        };
        match (flags, U::parse(parts.next()), parts.next()) {
            (Some(_), Some(unique), None) => Ok((len, unique)),
            _ => Err(self.unexpected(command)),
        }
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
                reply: printable(line, SHOWN_LINE),
            }
        } else {
            self.protocol_error(command, "unexpected answer")
        }
    }

    /// A [`Protocol`](MemcacheStoreError::Protocol) error quoting the line
    /// read, its ids redacted.
    fn protocol_error(&self, command: &'static str, what: &str) -> MemcacheStoreError {
        MemcacheStoreError::Protocol {
            server: self.server.to_string(),
            command,
            detail: format!("{what}: {}", quoted(&self.line, SHOWN_LINE)),
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
