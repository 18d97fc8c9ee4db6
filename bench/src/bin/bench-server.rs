//! `bench-server`: one contender of the session benchmark; see `--help`.

use std::process::ExitCode;

use sessionkit_alloc_count::Counting;
use sessionkit_bench::args::Args;
use sessionkit_bench::server::{self, ServerArgs, USAGE};

/// Counts allocations for `GET /allocs` (scripts/bench/allocs.sh): two
/// relaxed atomic additions per allocation on top of the system allocator.
#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    if raw.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let args = match ServerArgs::parse(Args::new(raw)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench-server: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        let available = match (args.ceiling, args.mode) {
            (Some(store), _) => store.available(),
            (None, Some(mode)) => mode.available(),
            (None, None) => unreachable!("ServerArgs::parse requires one"),
        };
        return match available {
            Ok(()) => ExitCode::SUCCESS,
            Err(why) => {
                println!("{why}");
                ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench-server: cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match (args.ceiling, args.mode) {
            (Some(store), _) => server::run_ceiling(&args, store).await.map(|per_second| {
                println!("ceiling {} {per_second:.0}", store.name());
            }),
            (None, Some(mode)) => server::serve(&args, mode).await,
            (None, None) => unreachable!("ServerArgs::parse requires one"),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-server: {e}");
            ExitCode::FAILURE
        }
    }
}
