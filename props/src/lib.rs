//! Property tests of sessionkit's input handling: the hooks the fuzz
//! targets run (`sessionkit::fuzzing`), each over a million generated
//! inputs, seeded and reproducible.
//!
//! The generators mix well-formed inputs (cookies, ids, JSON objects,
//! memcached and Redis answers, configurations) with the mutations that
//! find bugs: truncation, byte flips, huge announced lengths, deep
//! nesting, non-ASCII text.
//!
//! Environment:
//!
//! | variable | default | what it sets |
//! |---|---|---|
//! | `SESSIONKIT_PROPS_CASES` | 1000000 | inputs per target |
//! | `SESSIONKIT_PROPS_SEED` | `0x5e55_10c1_7f00_d5e5` | the seed (decimal or `0x` hex) |
//! | `SESSIONKIT_PROPS_CASE` | none | runs only this case (as a failure names it) |
//!
//! Case `i` of a target depends only on the seed, the target's name and
//! `i`, so a failure reported as case `i` reruns alone.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::Write as _;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Instant;

use sessionkit::fuzzing::Outcome;

pub mod gen;

/// The default number of inputs per target.
pub const DEFAULT_CASES: u64 = 1_000_000;

/// The default seed.
pub const DEFAULT_SEED: u64 = 0x5e55_10c1_7f00_d5e5;

/// A small, fast, seeded generator (SplitMix64): the same seed gives the
/// same numbers on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The generator of case `case` of `target` under `seed`.
    pub fn for_case(seed: u64, target: &str, case: u64) -> Rng {
        // FNV-1a of the name, so targets draw different inputs.
        let name = target.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let mut rng = Rng(seed ^ name);
        rng.0 ^= rng
            .next_u64()
            .wrapping_add(case.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        rng
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: usize, high: usize) -> usize {
        low + self.below(high - low + 1)
    }

    /// True once in `n` times.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// One of `items`.
    pub fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let text = text.trim().replace('_', "");
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={text:?} is not a number")))
}

/// Inputs per target: `SESSIONKIT_PROPS_CASES`, by default [`DEFAULT_CASES`].
pub fn cases() -> u64 {
    env_u64("SESSIONKIT_PROPS_CASES").unwrap_or(DEFAULT_CASES)
}

/// The seed: `SESSIONKIT_PROPS_SEED`, by default [`DEFAULT_SEED`].
pub fn seed() -> u64 {
    env_u64("SESSIONKIT_PROPS_SEED").unwrap_or(DEFAULT_SEED)
}

/// Runs `hook` on [`cases`] inputs made by `generate`, each from its own
/// [`Rng::for_case`]. On a panic, names the case and how to rerun it, shows
/// the input (cut to 2,000 characters), and fails. Prints the count, the
/// time taken and how many inputs had each outcome (straight to stderr, so
/// that it shows under `cargo test`).
pub fn check<T: Debug>(
    target: &str,
    generate: impl Fn(&mut Rng) -> T,
    hook: impl Fn(&T) -> Outcome,
) {
    let range = match env_u64("SESSIONKIT_PROPS_CASE") {
        Some(case) => case..case.saturating_add(1),
        None => 0..cases(),
    };
    let seed = seed();
    let count = range.end - range.start;
    let start = Instant::now();
    let outcomes = run(target, seed, range, generate, hook);
    let secs = start.elapsed().as_secs_f64();
    let outcomes: Vec<String> = outcomes.iter().map(|(o, n)| format!("{o}: {n}")).collect();
    let _ = writeln!(
        std::io::stderr(),
        "props {target}: {count} inputs in {secs:.1} s ({:.0} inputs/s, seed {seed:#x}); {}",
        count as f64 / secs.max(1e-9),
        outcomes.join(", ")
    );
}

/// Runs `hook` on the inputs `range` of `target` under `seed`, see
/// [`check`]; how many inputs had each outcome.
pub fn run<T: Debug>(
    target: &str,
    seed: u64,
    range: std::ops::Range<u64>,
    generate: impl Fn(&mut Rng) -> T,
    hook: impl Fn(&T) -> Outcome,
) -> BTreeMap<Outcome, u64> {
    let mut outcomes = BTreeMap::new();
    for case in range {
        let mut rng = Rng::for_case(seed, target, case);
        let input = generate(&mut rng);
        match catch_unwind(AssertUnwindSafe(|| hook(&input))) {
            Ok(outcome) => *outcomes.entry(outcome).or_insert(0) += 1,
            Err(panic) => {
                let mut shown = format!("{input:?}");
                if let Some((at, _)) = shown.char_indices().nth(2000) {
                    shown.truncate(at);
                    shown.push('…');
                }
                let _ = writeln!(
                    std::io::stderr(),
                    "\n{target}: case {case} failed (seed {seed:#x}); rerun it alone with \
                 SESSIONKIT_PROPS_SEED={seed:#x} SESSIONKIT_PROPS_CASE={case}\ninput: {shown}\n"
                );
                resume_unwind(panic);
            }
        }
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;
    use sessionkit::fuzzing;

    #[test]
    fn cases_depend_only_on_seed_target_and_index() {
        let draw = |target, case| Rng::for_case(7, target, case).next_u64();
        assert_eq!(draw("id", 5), draw("id", 5));
        assert_ne!(draw("id", 5), draw("id", 6));
        assert_ne!(draw("id", 5), draw("cookie", 5));
        assert_eq!(gen::stored(&mut Rng::new(3)), gen::stored(&mut Rng::new(3)));
    }

    /// A few hundred inputs per target, so that a plain `cargo test` runs
    /// the generators and hooks (scripts/test.sh runs a million each).
    #[test]
    fn smoke() {
        let cases = 0..300;
        run("id", DEFAULT_SEED, cases.clone(), gen::id, |id| {
            fuzzing::id_bytes(id)
        });
        run(
            "cookie",
            DEFAULT_SEED,
            cases.clone(),
            gen::cookie,
            |(name, headers)| {
                let headers: Vec<&[u8]> = headers.iter().map(Vec::as_slice).collect();
                fuzzing::cookie_headers(name, &headers)
            },
        );
        run("decode", DEFAULT_SEED, cases.clone(), gen::stored, |b| {
            fuzzing::decode_bytes(b)
        });
        run(
            "merge",
            DEFAULT_SEED,
            cases.clone(),
            gen::merge,
            |(b, o, t)| fuzzing::merge3(b, o, t),
        );
        run(
            "rules",
            DEFAULT_SEED,
            cases.clone(),
            gen::config,
            gen::check_config,
        );
        run(
            "redis",
            DEFAULT_SEED,
            cases.clone(),
            gen::redis,
            |(call, value, replies)| fuzzing::redis_replies(*call, value, replies.clone()),
        );
        run(
            "memcache",
            DEFAULT_SEED,
            cases.clone(),
            gen::memcache,
            |(command, max, reply)| fuzzing::memcache_reply(*command, *max, reply),
        );
        run(
            "roundtrip",
            DEFAULT_SEED,
            cases,
            |rng| (gen::probe(rng), gen::extras(rng)),
            |(probe, extras)| {
                fuzzing::roundtrip_untyped(extras);
                fuzzing::roundtrip(probe, extras)
            },
        );
        // The byte hooks, as the fuzz targets call them.
        run(
            "bytes",
            DEFAULT_SEED,
            0..300,
            |rng| {
                let n = rng.below(200);
                rng.bytes(n)
            },
            |data| {
                fuzzing::id_bytes(data);
                fuzzing::cookie_bytes(data);
                fuzzing::decode_bytes(data);
                fuzzing::roundtrip_bytes(data);
                fuzzing::merge_bytes(data);
                fuzzing::memcache_bytes(data);
                fuzzing::redis_bytes(data);
                fuzzing::rules_bytes(data)
            },
        );
    }
}
