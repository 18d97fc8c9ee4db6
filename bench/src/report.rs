//! Turns the raw results `scripts/bench.sh` collects into markdown tables.
//!
//! Input files are tab-separated, one record a line, `#` starts a comment:
//!
//! * runs: `rep workload mode rps requests cpu_us_per_request p99_us errors`
//! * ceilings: `name requests_per_second description` (`redis`, `memcache`, ...)
//! * memory: `mode sessions rss_start_kib rss_full_kib rss_expired_kib left expiry_secs`
//!   (`left`: sessions the store still held after expiry, `-` if unknown)

use std::collections::BTreeMap;
use std::fmt::Write;

/// One wrk run of one mode on one workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Repetition number (1-based).
    pub rep: u32,
    /// `reuse`, `readonly` or `new`.
    pub workload: String,
    /// Server mode, e.g. `sessionkit-memory`.
    pub mode: String,
    /// Requests per second wrk measured.
    pub rps: f64,
    /// Requests wrk completed.
    pub requests: u64,
    /// Server CPU time (user + system) per request, microseconds.
    pub cpu_us: f64,
    /// 99th percentile latency, microseconds.
    pub p99_us: f64,
    /// Socket errors plus non-2xx responses.
    pub errors: u64,
}

/// A throughput bound of a store measured without the web server.
#[derive(Debug, Clone, PartialEq)]
pub struct Ceiling {
    /// `redis` (redis-benchmark), `memcache`, `redis-sessionkit`, ...
    pub name: String,
    /// One read plus one write per unit, units per second.
    pub per_second: f64,
    /// How it was measured.
    pub description: String,
}

/// Resident memory of a memory-store server around 100,000 new sessions.
#[derive(Debug, Clone, PartialEq)]
pub struct Memory {
    /// Server mode.
    pub mode: String,
    /// Sessions created.
    pub sessions: u64,
    /// RSS before creating them, KiB.
    pub rss_start_kib: u64,
    /// RSS once they exist, KiB.
    pub rss_full_kib: u64,
    /// RSS after they all expired (and the wait), KiB.
    pub rss_expired_kib: u64,
    /// Sessions the store still held then, if the mode can tell.
    pub left: Option<u64>,
    /// The sessions' expiry, seconds.
    pub expiry_secs: u64,
}

fn records(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.lines().enumerate().filter_map(|(i, l)| {
        let l = l.trim_end();
        (!l.is_empty() && !l.starts_with('#')).then(|| (i + 1, l.split('\t').collect()))
    })
}

fn field<T: std::str::FromStr>(fields: &[&str], i: usize, line: usize) -> Result<T, String> {
    fields
        .get(i)
        .and_then(|f| f.trim().parse().ok())
        .ok_or_else(|| format!("line {line}: field {} missing or malformed", i + 1))
}

/// Parses the runs file.
pub fn parse_runs(text: &str) -> Result<Vec<Run>, String> {
    records(text)
        .map(|(n, f)| {
            Ok(Run {
                rep: field(&f, 0, n)?,
                workload: field(&f, 1, n)?,
                mode: field(&f, 2, n)?,
                rps: field(&f, 3, n)?,
                requests: field(&f, 4, n)?,
                cpu_us: field(&f, 5, n)?,
                p99_us: field(&f, 6, n)?,
                errors: field(&f, 7, n)?,
            })
        })
        .collect()
}

/// Parses the ceilings file.
pub fn parse_ceilings(text: &str) -> Result<Vec<Ceiling>, String> {
    records(text)
        .map(|(n, f)| {
            Ok(Ceiling {
                name: field(&f, 0, n)?,
                per_second: field(&f, 1, n)?,
                description: f.get(2).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

/// Parses the memory file.
pub fn parse_memory(text: &str) -> Result<Vec<Memory>, String> {
    records(text)
        .map(|(n, f)| {
            Ok(Memory {
                mode: field(&f, 0, n)?,
                sessions: field(&f, 1, n)?,
                rss_start_kib: field(&f, 2, n)?,
                rss_full_kib: field(&f, 3, n)?,
                rss_expired_kib: field(&f, 4, n)?,
                left: f.get(5).and_then(|v| v.trim().parse().ok()),
                expiry_secs: field(&f, 6, n)?,
            })
        })
        .collect()
}

/// The median (mean of the middle two for an even count); `None` if empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// The tower-sessions mode a sessionkit mode is compared with.
pub fn tower_counterpart(mode: &str) -> Option<&'static str> {
    match mode {
        "sessionkit-memory" | "sessionkit-memory-around" => Some("tower-sessions-memory"),
        "sessionkit-redis" => Some("tower-sessions-redis"),
        _ => None,
    }
}

/// The store ceiling a mode's throughput is set against.
pub fn ceiling_for(mode: &str) -> Option<&'static str> {
    match mode {
        "sessionkit-redis" | "tower-sessions-redis" => Some("redis"),
        "sessionkit-memcache" => Some("memcache"),
        _ => None,
    }
}

fn workload_title(w: &str) -> String {
    match w {
        "reuse" => "Reused session, read + write (`GET /incr` with the connection's cookie)".into(),
        "readonly" => "Reused session, read-only (`GET /get` with the connection's cookie)".into(),
        "new" => "New visitor every request (`GET /incr`, no cookie ever sent)".into(),
        "contend" => {
            "One session on every connection, half the requests writing (`GET /put/k<i>` and `GET /get`)"
                .into()
        }
        other => format!("Workload `{other}`"),
    }
}

/// Median over repetitions of `metric(run of mode) / metric(run of other)`
/// in the same repetition.
fn paired_ratio_by(
    runs: &[&Run],
    mode: &str,
    other: &str,
    metric: impl Fn(&Run) -> f64,
) -> Option<f64> {
    let mut by_rep: BTreeMap<u32, (Option<f64>, Option<f64>)> = BTreeMap::new();
    for r in runs {
        if r.mode == mode {
            by_rep.entry(r.rep).or_default().0 = Some(metric(r));
        }
        if r.mode == other {
            by_rep.entry(r.rep).or_default().1 = Some(metric(r));
        }
    }
    let ratios: Vec<f64> = by_rep
        .values()
        .filter_map(|pair| match *pair {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        })
        .collect();
    median(&ratios)
}

/// Median over repetitions of requests/s of `mode` ÷ requests/s of `other`.
fn paired_ratio(runs: &[&Run], mode: &str, other: &str) -> Option<f64> {
    paired_ratio_by(runs, mode, other, |r| r.rps)
}

/// Median over repetitions of CPU/request of `other` ÷ CPU/request of
/// `mode`: the throughput ratio if the server were CPU-bound, which other
/// load on the machine disturbs far less than requests/s.
fn paired_cpu_ratio(runs: &[&Run], mode: &str, other: &str) -> Option<f64> {
    paired_ratio_by(runs, mode, other, |r| {
        if r.cpu_us > 0.0 {
            1.0 / r.cpu_us
        } else {
            f64::NAN
        }
    })
}

fn first_seen<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// The throughput tables, one per workload, followed by the ceilings and
/// any runs that saw errors.
pub fn throughput_tables(runs: &[Run], ceilings: &[Ceiling]) -> String {
    let mut out = String::new();
    let ceiling = |name: &str| ceilings.iter().find(|c| c.name == name);
    for workload in first_seen(runs.iter().map(|r| r.workload.as_str())) {
        let wruns: Vec<&Run> = runs.iter().filter(|r| r.workload == workload).collect();
        // The ceilings are one read + one write: the reused-session
        // read + write workload's work, not the others'.
        let any_ceiling_mode =
            workload == "reuse" && wruns.iter().any(|r| ceiling_for(&r.mode).is_some());
        let reps = first_seen(wruns.iter().map(|r| r.mode.as_str()))
            .first()
            .map(|m| wruns.iter().filter(|r| r.mode == *m).count())
            .unwrap_or(0);
        // `bare-const` is a second baseline when it ran: `bare` without
        // its counter, axum + hyper + tokio alone.
        let any_const = wruns.iter().any(|r| r.mode == "bare-const");
        let _ = writeln!(out, "### {} — {reps} rep(s)\n", workload_title(workload));
        let mut columns = vec![
            "mode",
            "req/s median (min–max)",
            "server CPU µs/req",
            "× bare",
            "× bare by CPU",
        ];
        if any_const {
            columns.push("× bare-const");
        }
        columns.extend(["× tower-sessions", "p99 ms"]);
        if any_ceiling_mode {
            columns.push("of store ceiling");
        }
        let _ = writeln!(out, "| {} |", columns.join(" | "));
        let _ = writeln!(out, "|---|{}", "---:|".repeat(columns.len() - 1));
        for mode in first_seen(wruns.iter().map(|r| r.mode.as_str())) {
            let mruns: Vec<&Run> = wruns.iter().copied().filter(|r| r.mode == mode).collect();
            let rps: Vec<f64> = mruns.iter().map(|r| r.rps).collect();
            let min = rps.iter().copied().fold(f64::INFINITY, f64::min);
            let max = rps.iter().copied().fold(0.0, f64::max);
            let med = median(&rps).unwrap_or(0.0);
            let cpu = median(&mruns.iter().map(|r| r.cpu_us).collect::<Vec<_>>());
            let p99 = median(&mruns.iter().map(|r| r.p99_us).collect::<Vec<_>>());
            let vs_bare = if mode == "bare" {
                Some(1.0)
            } else {
                paired_ratio(&wruns, mode, "bare")
            };
            let cpu_vs_bare = if mode == "bare" {
                Some(1.0)
            } else {
                paired_cpu_ratio(&wruns, mode, "bare")
            };
            let vs_tower = tower_counterpart(mode).and_then(|t| paired_ratio(&wruns, mode, t));
            let _ = write!(
                out,
                "| {mode} | {med:.0} ({min:.0}–{max:.0}) | {} | {} | {} |",
                opt(cpu, |v| format!("{v:.1}")),
                opt(vs_bare, |v| format!("{v:.2}×")),
                opt(cpu_vs_bare, |v| format!("{v:.2}×")),
            );
            if any_const {
                let vs_const = if mode == "bare-const" {
                    Some(1.0)
                } else {
                    paired_ratio(&wruns, mode, "bare-const")
                };
                let _ = write!(out, " {} |", opt(vs_const, |v| format!("{v:.2}×")));
            }
            let _ = write!(
                out,
                " {} | {} |",
                opt(vs_tower, |v| format!("{v:.2}×")),
                opt(p99, |v| format!("{:.2}", v / 1000.0)),
            );
            if any_ceiling_mode {
                let c = ceiling_for(mode).map(|name| match ceiling(name) {
                    Some(c) if c.per_second > 0.0 => {
                        format!(
                            "{:.0} % of {:.0}/s",
                            100.0 * med / c.per_second,
                            c.per_second
                        )
                    }
                    _ => "not measured".to_string(),
                });
                let _ = write!(out, " {} |", c.unwrap_or_default());
            }
            out.push('\n');
        }
        out.push('\n');
    }
    if !ceilings.is_empty() {
        out.push_str(
            "Store ceilings (one read + one write per unit, measured without the web server):\n\n",
        );
        for c in ceilings {
            let _ = writeln!(
                out,
                "* `{}`: {:.0}/s — {}",
                c.name, c.per_second, c.description
            );
        }
        out.push('\n');
    }
    let bad: Vec<&Run> = runs.iter().filter(|r| r.errors > 0).collect();
    if !bad.is_empty() {
        out.push_str("**Runs with errors** (socket errors or non-2xx responses; their figures are suspect):\n\n");
        for r in bad {
            let _ = writeln!(
                out,
                "* rep {} `{}` `{}`: {} errors in {} requests",
                r.rep, r.workload, r.mode, r.errors, r.requests
            );
        }
        out.push('\n');
    }
    out
}

/// The memory table: RSS per stored session and after expiry.
pub fn memory_table(rows: &[Memory]) -> String {
    let mut out = String::new();
    out.push_str("| mode | sessions | RSS before | RSS with sessions | bytes/session | RSS after expiry | after expiry vs before | sessions still held |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for m in rows {
        let per = if m.sessions > 0 {
            (m.rss_full_kib as f64 - m.rss_start_kib as f64) * 1024.0 / m.sessions as f64
        } else {
            f64::NAN
        };
        let back = if m.rss_start_kib > 0 {
            100.0 * (m.rss_expired_kib as f64 - m.rss_start_kib as f64) / m.rss_start_kib as f64
        } else {
            f64::NAN
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} MiB | {:.1} MiB | {per:.0} | {:.1} MiB | {back:+.0} % | {} |",
            m.mode,
            m.sessions,
            m.rss_start_kib as f64 / 1024.0,
            m.rss_full_kib as f64 / 1024.0,
            m.rss_expired_kib as f64 / 1024.0,
            m.left
                .map_or_else(|| "not known".to_string(), |n| n.to_string()),
        );
    }
    out
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map(f).unwrap_or_else(|| "—".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn ratios_pair_runs_of_the_same_repetition() {
        let runs = parse_runs(
            "# rep workload mode rps requests cpu p99 errors\n\
             1\treuse\tbare\t100\t1000\t10\t900\t0\n\
             1\treuse\tsessionkit-memory\t80\t800\t12\t1000\t0\n\
             1\treuse\ttower-sessions-memory\t50\t500\t20\t2000\t0\n\
             2\treuse\tbare\t50\t500\t10\t900\t0\n\
             2\treuse\tsessionkit-memory\t45\t450\t12\t1000\t0\n\
             2\treuse\ttower-sessions-memory\t30\t300\t20\t2000\t3\n\
             3\treuse\tbare\t200\t2000\t10\t900\t0\n\
             3\treuse\tsessionkit-memory\t100\t1000\t12\t1000\t0\n\
             3\treuse\ttower-sessions-memory\t100\t1000\t20\t2000\t0\n",
        )
        .unwrap();
        let refs: Vec<&Run> = runs.iter().collect();
        // Per rep: 0.8, 0.9, 0.5 -> median 0.8 (not 80/100 of the medians).
        assert_eq!(paired_ratio(&refs, "sessionkit-memory", "bare"), Some(0.8));
        // 1.6, 1.5, 1.0 -> 1.5
        assert_eq!(
            paired_ratio(&refs, "sessionkit-memory", "tower-sessions-memory"),
            Some(1.5)
        );
        let table = throughput_tables(&runs, &[]);
        assert!(
            table.contains(
                "| sessionkit-memory | 80 (45–100) | 12.0 | 0.80× | 0.83× | 1.50× | 1.00 |"
            ),
            "{table}"
        );
        assert!(
            table.contains("| bare | 100 (50–200) | 10.0 | 1.00× | 1.00× | — |"),
            "{table}"
        );
        assert!(
            table.contains("rep 2 `reuse` `tower-sessions-memory`: 3 errors"),
            "{table}"
        );
        assert!(!table.contains("ceiling"), "{table}");
    }

    #[test]
    fn bare_const_adds_its_column_where_it_ran() {
        let runs = parse_runs(
            "1\treuse\tbare\t100\t1000\t10\t900\t0\n\
             1\treuse\tbare-const\t125\t1250\t8\t800\t0\n\
             1\treuse\tsessionkit-memory\t50\t500\t20\t1000\t0\n\
             1\treuse\ttower-sessions-memory\t25\t250\t40\t2000\t0\n\
             1\tnew\tbare\t100\t1000\t10\t900\t0\n\
             1\tnew\tsessionkit-memory\t50\t500\t20\t1000\t0\n",
        )
        .unwrap();
        let table = throughput_tables(&runs, &[]);
        let (reuse, new) = table.split_once("### New visitor").unwrap();
        assert!(
            reuse.contains(
                "| mode | req/s median (min–max) | server CPU µs/req | × bare | × bare by CPU | × bare-const | × tower-sessions | p99 ms |\n|---|---:|---:|---:|---:|---:|---:|---:|\n"
            ),
            "{table}"
        );
        assert!(
            reuse.contains("| bare | 100 (100–100) | 10.0 | 1.00× | 1.00× | 0.80× | — | 0.90 |"),
            "{table}"
        );
        assert!(
            reuse.contains(
                "| bare-const | 125 (125–125) | 8.0 | 1.25× | 1.25× | 1.00× | — | 0.80 |"
            ),
            "{table}"
        );
        assert!(
            reuse.contains(
                "| sessionkit-memory | 50 (50–50) | 20.0 | 0.50× | 0.50× | 0.40× | 2.00× | 1.00 |"
            ),
            "{table}"
        );
        // Where bare-const did not run, the table is as before.
        assert!(
            new.contains(
                "| mode | req/s median (min–max) | server CPU µs/req | × bare | × bare by CPU | × tower-sessions | p99 ms |\n|---|---:|---:|---:|---:|---:|---:|\n"
            ),
            "{table}"
        );
        assert!(
            new.contains("| sessionkit-memory | 50 (50–50) | 20.0 | 0.50× | 0.50× | — | 1.00 |"),
            "{table}"
        );
    }

    #[test]
    fn ceilings_and_memory() {
        let runs = parse_runs(
            "1\treuse\tsessionkit-redis\t20000\t1\t1\t1\t0\n\
             1\treadonly\tsessionkit-redis\t30000\t1\t1\t1\t0\n",
        )
        .unwrap();
        let c = parse_ceilings("redis\t25000\tredis-benchmark GET 50000/s, SET 50000/s\n").unwrap();
        let t = throughput_tables(&runs, &c);
        assert!(t.contains("80 % of 25000/s"), "{t}");
        assert!(!t.contains("120 %"), "{t}");
        let m = parse_memory(
            "sessionkit-memory\t100000\t10240\t24890\t10300\t0\t5\n\
             tower-sessions-memory\t100000\t10240\t51200\t51200\t-\t5\n",
        )
        .unwrap();
        let t = memory_table(&m);
        assert!(t.contains("| 150 |"), "{t}");
        assert!(t.contains("+1 % | 0 |"), "{t}");
        assert!(t.contains("| not known |"), "{t}");
        assert!(parse_runs("1\treuse\n").unwrap_err().contains("line 1"));
    }
}
