//! The body of `bench-server`'s `GET /allocs`, written by the server and
//! read by `bench-client send --allocs`.

use sessionkit_alloc_count::Counts;

/// `allocs=<n> bytes=<n>`.
pub fn format(c: Counts) -> String {
    format!("allocs={} bytes={}", c.allocs, c.bytes)
}

/// Reads what [`format()`] wrote.
pub fn parse(body: &str) -> Result<Counts, String> {
    let mut allocs = None;
    let mut bytes = None;
    for pair in body.split_whitespace() {
        match pair.split_once('=') {
            Some(("allocs", v)) => allocs = v.parse().ok(),
            Some(("bytes", v)) => bytes = v.parse().ok(),
            _ => {}
        }
    }
    match (allocs, bytes) {
        (Some(allocs), Some(bytes)) => Ok(Counts { allocs, bytes }),
        _ => Err(format!(
            "GET /allocs answered {body:?}, expected `allocs=<n> bytes=<n>` (is this bench-server?)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_what_format_writes() {
        let c = Counts {
            allocs: 12,
            bytes: 3456,
        };
        assert_eq!(format(c), "allocs=12 bytes=3456");
        assert_eq!(parse(&format(c)), Ok(c));
        assert_eq!(
            parse("allocs=1 bytes=2\n"),
            Ok(Counts {
                allocs: 1,
                bytes: 2
            })
        );
        assert!(parse("Not Found").unwrap_err().contains("allocs=<n>"));
        assert!(parse("allocs=x bytes=2").is_err());
    }
}
