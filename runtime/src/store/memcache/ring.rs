//! Ketama consistent hashing: which server holds a key.
//!
//! The points of last.fm's libketama (also used by libmemcached's and
//! twemproxy's ketama modes for servers of equal weight): for server `s`
//! (its `host:port` as given) and `i` in `0..40`, the MD5 digest of
//! `"{s}-{i}"` gives four 32-bit points (little-endian words of the digest),
//! 160 points per server. A key goes to the first point at or after the
//! first little-endian word of the key's MD5, wrapping around. Adding a
//! server to `n` moves about `1/(n+1)` of the keys, all of them to the new
//! server.
//!
//! Written here rather than taken from a crate: the ketama crates on
//! crates.io are either pre-releases (`ketama` 0.0.x, which ships its own
//! MD5) or use another point scheme (`hashring`: SipHash with points you
//! add yourself; `conhash`: unmaintained). The ring is forty lines over
//! RustCrypto's `md-5`.

use md5::{Digest, Md5};

/// Points per server: 40 digests of 4 points each, libketama's count for
/// servers of equal weight.
const DIGESTS_PER_SERVER: usize = 40;

/// An immutable ring over servers `0..n`.
#[derive(Debug)]
pub(super) struct Ring {
    /// `(point, server index)`, sorted by point then index.
    points: Box<[(u32, usize)]>,
}

impl Ring {
    /// The ring over `servers` (their `host:port` names), in that order.
    pub(super) fn new<S: AsRef<str>>(servers: &[S]) -> Ring {
        let mut points = Vec::with_capacity(servers.len() * DIGESTS_PER_SERVER * 4);
        for (index, server) in servers.iter().enumerate() {
            for i in 0..DIGESTS_PER_SERVER {
                let digest = Md5::digest(format!("{}-{i}", server.as_ref()).as_bytes());
                for word in digest.chunks_exact(4) {
                    let point = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
                    points.push((point, index));
                }
            }
        }
        points.sort_unstable();
        Ring {
            points: points.into_boxed_slice(),
        }
    }

    /// The index of the server that holds `key`.
    pub(super) fn server_for(&self, key: &[u8]) -> usize {
        if self.points.len() <= DIGESTS_PER_SERVER * 4 {
            return 0; // one server (or none: the store refuses an empty list)
        }
        let digest = Md5::digest(key);
        let hash = u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]]);
        let at = self.points.partition_point(|&(point, _)| point < hash);
        self.points.get(at).unwrap_or(&self.points[0]).1
    }
}
