//! `cargo run --example quickstart` really serves: the example binary (built
//! by `cargo test` with the other targets) is started on a free port and
//! driven over HTTP.

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::Browser;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn example_binary() -> PathBuf {
    // target/<profile>/deps/quickstart-<hash> → target/<profile>/examples/quickstart
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    profile_dir
        .join("examples")
        .join(format!("quickstart{}", std::env::consts::EXE_SUFFIX))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn quickstart_serves_incr_get_and_clear() {
    let binary = example_binary();
    assert!(binary.exists(), "{} not built", binary.display());
    let port = free_port();
    let mut child = Command::new(&binary)
        .env("PORT", port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    // Drain everything it prints: a closed pipe would fail its next print.
    let (lines, printed) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let printed = tokio::task::spawn_blocking(move || {
        (0..4)
            .map(|_| {
                printed
                    .recv_timeout(Duration::from_secs(20))
                    .expect("the example prints how to try it")
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
    .await
    .unwrap();
    assert!(
        printed.contains(&format!("http://127.0.0.1:{port}")),
        "{printed}"
    );
    assert!(printed.contains("curl"), "prints how to try it: {printed}");

    let mut browser = Browser::new(SocketAddr::from(([127, 0, 0, 1], port)));
    assert_eq!(browser.get("/get").await.body, "0\n");
    assert_eq!(browser.get("/incr").await.body, "1\n");
    assert_eq!(browser.get("/incr").await.body, "2\n");
    assert_eq!(browser.get("/get").await.body, "2\n");
    assert_eq!(browser.get("/clear").await.body, "cleared\n");
    assert!(browser.jar.is_empty(), "cookie expired");
    assert_eq!(browser.get("/get").await.body, "0\n");
    drop(running);
}
