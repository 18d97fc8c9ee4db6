//! `bench-client`: the benchmark's helpers that are not wrk; see `--help`.

use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use sessionkit_alloc_count::Counts;
use sessionkit_bench::allocs;
use sessionkit_bench::args::{ArgError, Args};
use sessionkit_bench::client::{wait_for_port, Connection};
use sessionkit_bench::report;

const USAGE: &str = "\
usage: bench-client free-port [--count N]
         print N distinct free loopback ports (held together while chosen)
       bench-client wait-port --port P [--timeout S] [--pid PID]
         wait until 127.0.0.1:P accepts connections (default 10 s); with
         --pid, give up as soon as that process is gone
       bench-client send --port P --path PATH --requests N [--session reuse|fixed|none]
                         [--other-cookies K] [--allocs]
         N sequential GETs on one keep-alive connection; `reuse` (default)
         first creates a session with one GET /incr and sends its cookie on
         every request, `fixed` sends the same well-formed session cookie a
         session mode would get (for modes that set none: the same request
         bytes), `none` never sends a cookie; --other-cookies K sends K
         other cookies (shaped like a site's analytics cookies, about 36
         bytes each) before the session cookie, as a browser
         does on a busy site; with --allocs, also GET /allocs
         on the same connection just before and after the N requests and
         print what the server counted in between (`allocs=<n> bytes=<n>`)
       bench-client sessions --port P --pid PID [--count 100000] [--connections 4]
                             [--wait S] [--warmup 2000]
         memory of a session store: VmRSS of PID before and after COUNT
         cookie-less GET /incr (one new session each), and again after
         waiting S seconds (expiry); prints `sessions rss_start rss_full
         rss_expired left` (KiB, tab-separated; `left`: what GET /len
         answers, the sessions the store still holds, or `-`)
       bench-client table --runs FILE [--ceilings FILE] [--memory FILE]
         render the markdown tables of scripts/bench.sh's raw results";

type Error = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    if raw.is_empty() || raw.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return if raw.is_empty() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    let mut args = Args::new(raw);
    let result = match args.subcommand().as_deref() {
        Some("free-port") => free_port(args),
        Some("wait-port") => wait_port(args),
        Some("send") => send(args),
        Some("sessions") => sessions(args),
        Some("table") => table(args),
        Some(other) => Err(ArgError(format!("unknown subcommand `{other}`")).into()),
        None => Err(ArgError("a subcommand is required".into()).into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-client: {e}");
            if e.is::<ArgError>() {
                eprintln!("\n{USAGE}");
                return ExitCode::from(2);
            }
            ExitCode::FAILURE
        }
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn required<T: std::str::FromStr>(args: &mut Args, name: &str) -> Result<T, ArgError>
where
    T::Err: std::fmt::Display,
{
    args.value(name)?
        .ok_or_else(|| ArgError(format!("`--{name}` is required")))
}

fn free_port(mut args: Args) -> Result<(), Error> {
    let count: usize = args.value_or("count", 1)?;
    args.finish()?;
    let listeners = (0..count)
        .map(|_| TcpListener::bind(loopback(0)))
        .collect::<Result<Vec<_>, _>>()?;
    for l in &listeners {
        println!("{}", l.local_addr()?.port());
    }
    Ok(())
}

fn wait_port(mut args: Args) -> Result<(), Error> {
    let port: u16 = required(&mut args, "port")?;
    let timeout: f64 = args.value_or("timeout", 10.0)?;
    let pid: Option<u32> = args.value("pid")?;
    args.finish()?;
    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    loop {
        let step = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(500));
        match wait_for_port(loopback(port), step) {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(e.into()),
            Err(_) => {}
        }
        if let Some(pid) = pid {
            // Gone, or a zombie its parent has not reaped yet.
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.get(..1));
            if matches!(state, None | Some("Z" | "X")) {
                return Err(format!("process {pid} exited before listening on port {port}").into());
            }
        }
    }
}

fn expect_ok(
    r: &sessionkit_bench::client::Response,
    c: &Connection,
    what: &str,
) -> Result<(), Error> {
    if r.status != 200 {
        return Err(format!(
            "{what}: status {} ({})",
            r.status,
            String::from_utf8_lossy(c.body()).trim()
        )
        .into());
    }
    Ok(())
}

/// What `--session fixed` sends: shaped like the cookie of a session mode
/// (sanic-session's name, a 32-hex id), so that a mode which sets no cookie
/// parses the same request as one that does.
const FIXED_COOKIE: &str = "session=0123456789abcdef0123456789abcdef";

fn send(mut args: Args) -> Result<(), Error> {
    let port: u16 = required(&mut args, "port")?;
    let path: String = required(&mut args, "path")?;
    let requests: u64 = required(&mut args, "requests")?;
    let session: String = args.value_or("session", "reuse".to_string())?;
    let others: usize = args.value_or("other-cookies", 0)?;
    let count_allocs = args.flag("allocs");
    args.finish()?;
    let others = other_cookies(others);
    let mut c = Connection::open(loopback(port))?;
    let mut cookie = match session.as_str() {
        "reuse" => {
            let r = c.get("/incr", None)?;
            expect_ok(&r, &c, "creating the session")?;
            Some(
                r.set_cookie
                    .ok_or("GET /incr set no cookie: is this a session mode?")?,
            )
        }
        "fixed" => Some(FIXED_COOKIE.to_owned()),
        "none" => None,
        other => {
            return Err(ArgError(format!(
                "`--session {other}`: expected reuse, fixed or none"
            ))
            .into())
        }
    };
    let allocs_before = if count_allocs {
        Some(server_allocs(&mut c)?)
    } else {
        None
    };
    let start = Instant::now();
    let mut header = String::new();
    for _ in 0..requests {
        let sent = match &cookie {
            Some(cookie) if !others.is_empty() => {
                header.clear();
                header.push_str(&others);
                header.push_str(cookie);
                Some(header.as_str())
            }
            cookie => cookie.as_deref(),
        };
        let r = c.get(&path, sent)?;
        expect_ok(&r, &c, &path)?;
        if let (Some(new), Some(_)) = (r.set_cookie, cookie.as_ref()) {
            cookie = Some(new);
        }
    }
    eprintln!(
        "sent {requests} × GET {path} in {:.2} s (last body {:?})",
        start.elapsed().as_secs_f64(),
        String::from_utf8_lossy(c.body())
    );
    if let Some(before) = allocs_before {
        let used = server_allocs(&mut c)?.since(before);
        println!("{}", allocs::format(used));
    }
    Ok(())
}

/// `count` cookies shaped like a site's analytics cookies (about 36 bytes each),
/// each followed by `; `, to go before the session cookie.
fn other_cookies(count: usize) -> String {
    (0..count)
        .map(|i| {
            format!(
                "_ga_{i:02}=GA1.1.{:010}.{:010}; ",
                1_000_003 * i,
                1_700_000_000 + i
            )
        })
        .collect()
}

/// What the server's `GET /allocs` says it counted so far.
fn server_allocs(c: &mut Connection) -> Result<Counts, Error> {
    let r = c.get("/allocs", None)?;
    expect_ok(&r, c, "GET /allocs")?;
    Ok(allocs::parse(&String::from_utf8_lossy(c.body()))?)
}

fn rss_kib(pid: u32) -> Result<u64, Error> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status").into())
}

fn sessions(mut args: Args) -> Result<(), Error> {
    let port: u16 = required(&mut args, "port")?;
    let pid: u32 = required(&mut args, "pid")?;
    let count: u64 = args.value_or("count", 100_000)?;
    let connections: u64 = args.value_or("connections", 4)?;
    let wait: f64 = args.value_or("wait", 0.0)?;
    let warmup: u64 = args.value_or("warmup", 2000)?;
    args.finish()?;
    if connections == 0 {
        return Err(ArgError("`--connections` must be at least 1".into()).into());
    }
    let mut conns = (0..connections)
        .map(|_| Connection::open(loopback(port)))
        .collect::<Result<Vec<_>, _>>()?;
    // Warm the server up (threads, buffers, allocator arenas) without
    // storing anything: a cookie-less read creates no session.
    for i in 0..warmup {
        let c = &mut conns[(i % connections) as usize];
        let r = c.get("/get", None)?;
        expect_ok(&r, c, "warm-up GET /get")?;
    }
    std::thread::sleep(Duration::from_millis(500));
    let start_kib = rss_kib(pid)?;
    let started = Instant::now();
    let created: Vec<Result<u64, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = conns
            .iter_mut()
            .enumerate()
            .map(|(i, c)| {
                let share = count / connections + u64::from((i as u64) < count % connections);
                s.spawn(move || -> Result<u64, String> {
                    let mut with_cookie = 0;
                    for _ in 0..share {
                        let r = c.get("/incr", None).map_err(|e| e.to_string())?;
                        if r.status != 200 {
                            return Err(format!("GET /incr: status {}", r.status));
                        }
                        with_cookie += u64::from(r.set_cookie.is_some());
                    }
                    Ok(with_cookie)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("loader thread panicked".into()))
            })
            .collect()
    });
    let mut sessions = 0;
    for c in created {
        sessions += c?;
    }
    let took = started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let full_kib = rss_kib(pid)?;
    eprintln!(
        "created {sessions} sessions in {:.1} s; VmRSS {start_kib} -> {full_kib} KiB ({:.0} bytes/session)",
        took.as_secs_f64(),
        (full_kib as f64 - start_kib as f64) * 1024.0 / sessions.max(1) as f64
    );
    let waited = Instant::now();
    let mut next_report = 0.0;
    while waited.elapsed().as_secs_f64() < wait {
        if waited.elapsed().as_secs_f64() >= next_report {
            eprintln!("  after {next_report:>4.0} s: VmRSS {} KiB", rss_kib(pid)?);
            next_report += 5.0;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let expired_kib = rss_kib(pid)?;
    // Modes that can tell how many sessions their store still holds serve /len.
    let left = match conns[0].get("/len", None)? {
        r if r.status == 200 => String::from_utf8_lossy(conns[0].body()).trim().to_owned(),
        _ => "-".to_owned(),
    };
    eprintln!(
        "after waiting {wait} s: VmRSS {expired_kib} KiB, sessions left in the store: {left}"
    );
    println!("{sessions}\t{start_kib}\t{full_kib}\t{expired_kib}\t{left}");
    Ok(())
}

fn table(mut args: Args) -> Result<(), Error> {
    let runs: String = required(&mut args, "runs")?;
    let ceilings: Option<String> = args.value("ceilings")?;
    let memory: Option<String> = args.value("memory")?;
    args.finish()?;
    let read =
        |path: &str| std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"));
    let runs = report::parse_runs(&read(&runs)?).map_err(|e| format!("{runs}: {e}"))?;
    let ceilings = match ceilings {
        Some(p) => report::parse_ceilings(&read(&p)?).map_err(|e| format!("{p}: {e}"))?,
        None => Vec::new(),
    };
    print!("{}", report::throughput_tables(&runs, &ceilings));
    if let Some(p) = memory {
        let rows = report::parse_memory(&read(&p)?).map_err(|e| format!("{p}: {e}"))?;
        if !rows.is_empty() {
            let expiry = rows[0].expiry_secs;
            println!(
                "### Memory: {} new sessions, expiry {expiry} s\n",
                rows[0].sessions
            );
            print!("{}", report::memory_table(&rows));
        }
    }
    Ok(())
}
