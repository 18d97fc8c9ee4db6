//! What the examples in `examples/` share that is not about sessions: the
//! port they listen on (`PORT`, default 3000), on the loopback interface,
//! and the base URL they print in their instructions. Their sessions, routes
//! and handlers stay in each example, where a reader looks for them.

use std::io;

use tokio::net::TcpListener;

/// The port an example listens on when `PORT` is not set.
pub const DEFAULT_PORT: u16 = 3000;

/// Listens on `127.0.0.1`, port `PORT` (default [`DEFAULT_PORT`]), and
/// returns the listener with its base URL (`http://127.0.0.1:3000`).
///
/// A `PORT` that is not a port number is an [`io::ErrorKind::InvalidInput`]
/// error naming the value.
pub async fn listen() -> io::Result<(TcpListener, String)> {
    let port = port(std::env::var_os("PORT").as_deref())?;
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let base = format!("http://{}", listener.local_addr()?);
    Ok((listener, base))
}

fn port(value: Option<&std::ffi::OsStr>) -> io::Result<u16> {
    let Some(value) = value else {
        return Ok(DEFAULT_PORT);
    };
    value.to_str().and_then(|v| v.parse().ok()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("PORT={value:?} is not a port number"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn port_is_3000_unless_set() {
        assert_eq!(port(None).unwrap(), 3000);
        assert_eq!(port(Some(OsStr::new("8080"))).unwrap(), 8080);
        assert_eq!(port(Some(OsStr::new("0"))).unwrap(), 0);
    }

    #[test]
    fn a_port_that_is_not_a_number_is_an_error_naming_it() {
        for bad in ["", "http", "65536", "-1", " 80"] {
            let error = port(Some(OsStr::new(bad))).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
            assert_eq!(
                error.to_string(),
                format!("PORT={bad:?} is not a port number")
            );
        }
    }
}
