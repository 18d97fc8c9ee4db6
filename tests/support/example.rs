//! Runs a built example binary on a free loopback port, the way a user would.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running example, killed when dropped.
pub struct Example {
    child: Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    pub port: u16,
}

impl Example {
    /// Starts `examples/<name>.rs` with `PORT` set to a free port, the
    /// environment variables in `remove` unset and those in `env` set.
    /// `cargo test --all-features` builds the examples with the tests; a run
    /// of only some targets must build them first.
    pub fn start(name: &str, remove: &[&str], env: &[(&str, &str)]) -> Example {
        let exe = std::env::current_exe().unwrap();
        // target/<profile>/deps/<test>-<hash> → target/<profile>/examples/<name>
        let binary: PathBuf = exe
            .parent()
            .and_then(|deps| deps.parent())
            .unwrap()
            .join("examples")
            .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        assert!(
            binary.exists(),
            "{} is not built: run `cargo test --all-features` (it builds the examples) or `cargo build --examples --all-features` first",
            binary.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new(binary);
        for var in remove {
            command.env_remove(var);
        }
        let mut child = command
            .envs(env.iter().copied())
            .env("PORT", port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Drain everything it prints: a closed pipe would fail its next print.
        let (send, lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        Example { child, lines, port }
    }

    /// The next `n` lines it printed (it prints them once it listens).
    pub async fn printed(&mut self, n: usize) -> String {
        let mut out = Vec::new();
        for _ in 0..n {
            let line = tokio::time::timeout(Duration::from_secs(20), self.lines.recv()).await;
            out.push(
                line.ok()
                    .flatten()
                    .expect("the example prints where it listens"),
            );
        }
        out.join("\n")
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
