//! A minimal blocking HTTP/1.1 client: `GET` on one keep-alive connection,
//! with an optional cookie, reading `Content-Length` bodies.
//!
//! Used where wrk does not fit: a fixed number of requests (the memory
//! measurement, callgrind's instruction counts). It allocates nothing per
//! request beyond its reused buffers, so it stays out of the way.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// One keep-alive connection to the bench server.
pub struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    request: Vec<u8>,
    line: String,
    /// The last response's body.
    body: Vec<u8>,
}

/// What the client keeps of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The `name=value` part of the last `Set-Cookie` header, if any.
    pub set_cookie: Option<String>,
}

impl Connection {
    /// Connects to `addr` (no Nagle delay: one small request at a time).
    pub fn open(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Connection {
            writer: stream.try_clone()?,
            reader: BufReader::with_capacity(16 * 1024, stream),
            request: Vec::with_capacity(256),
            line: String::with_capacity(256),
            body: Vec::with_capacity(64),
        })
    }

    /// Sends `GET path` (with `Cookie: cookie` when given) and reads the response.
    pub fn get(&mut self, path: &str, cookie: Option<&str>) -> io::Result<Response> {
        self.request.clear();
        self.request.extend_from_slice(b"GET ");
        self.request.extend_from_slice(path.as_bytes());
        self.request
            .extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        if let Some(c) = cookie {
            self.request.extend_from_slice(b"Cookie: ");
            self.request.extend_from_slice(c.as_bytes());
            self.request.extend_from_slice(b"\r\n");
        }
        self.request.extend_from_slice(b"\r\n");
        self.writer.write_all(&self.request)?;
        self.read_response()
    }

    /// The body of the last response.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    fn read_line(&mut self) -> io::Result<&str> {
        self.line.clear();
        if self.reader.read_line(&mut self.line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        Ok(self.line.trim_end_matches(['\r', '\n']))
    }

    fn read_response(&mut self) -> io::Result<Response> {
        let status_line = self.read_line()?;
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
        let mut length = None;
        let mut set_cookie = None;
        loop {
            let line = self.read_line()?;
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(bad(format!("bad header line {line:?}")));
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| bad(format!("bad content-length {value:?}")))?,
                );
            } else if name.eq_ignore_ascii_case("set-cookie") {
                let pair = value.split(';').next().unwrap_or_default().trim();
                set_cookie = Some(pair.to_owned());
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(bad(format!("unsupported transfer-encoding {value:?}")));
            }
        }
        let length = length.ok_or_else(|| bad("response without content-length".into()))?;
        self.body.resize(length, 0);
        self.reader.read_exact(&mut self.body)?;
        Ok(Response { status, set_cookie })
    }
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Waits until something accepts connections on `addr`, up to `timeout`.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) -> io::Result<()> {
    let start = Instant::now();
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(_) => return Ok(()),
            Err(e) if start.elapsed() >= timeout => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("nothing listens on {addr} after {timeout:?}: {e}"),
                ))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn reads_status_cookie_and_body_on_one_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let mut seen = Vec::new();
            for reply in [
                "HTTP/1.1 200 OK\r\nset-cookie: session=abc; Path=/; HttpOnly\r\ncontent-length: 1\r\n\r\n1",
                "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\ndown",
            ] {
                let n = s.read(&mut buf).unwrap();
                seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                s.write_all(reply.as_bytes()).unwrap();
            }
            seen
        });
        let mut c = Connection::open(addr).unwrap();
        let r = c.get("/incr", None).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.set_cookie.as_deref(), Some("session=abc"));
        assert_eq!(c.body(), b"1");
        let r = c.get("/get", Some("session=abc")).unwrap();
        assert_eq!((r.status, r.set_cookie), (503, None));
        assert_eq!(c.body(), b"down");
        let seen = server.join().unwrap();
        assert!(seen[0].starts_with("GET /incr HTTP/1.1\r\n"));
        assert!(!seen[0].contains("Cookie"));
        assert!(seen[1].contains("\r\nCookie: session=abc\r\n"));
    }
}
