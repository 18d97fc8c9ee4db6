//! A Redis Cluster whose masters each have a replica, for the failover
//! tests, and what those tests read and change of a cluster's layout (which
//! node holds a key's slot; moving a slot). Every node is a real
//! `redis-server` on free loopback ports (a [`Server`]). A node that does
//! not answer for a second (`cluster-node-timeout 1000`) is failed over.

use std::time::Duration;

use super::servers::{redis_cli, start_cluster, Server};

/// Masters, each with one replica.
pub struct ReplicatedCluster {
    pub nodes: Vec<Server>,
}

impl ReplicatedCluster {
    /// Starts `2 × masters` cluster-enabled servers, joins them with
    /// `redis-cli --cluster create … --cluster-replicas 1`, and waits until
    /// every node reports `cluster_state:ok` and every replica is in sync.
    pub fn start(masters: usize) -> ReplicatedCluster {
        ReplicatedCluster {
            nodes: start_cluster(masters, 1, 1000),
        }
    }

    /// `redis://127.0.0.1:<port>` of every node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port()))
            .collect()
    }

    /// The node listening on `port`.
    pub fn node(&mut self, port: u16) -> &mut Server {
        self.nodes
            .iter_mut()
            .find(|n| n.port() == port)
            .unwrap_or_else(|| panic!("no node on {port}"))
    }

    /// Waits until every master's replica has acknowledged every write the
    /// master took so far (`WAIT 1` on each master).
    pub fn wait_replicated(&self, ask: u16) {
        for node in layout(ask).iter().filter(|n| n.master) {
            let acked = redis_cli(node.port, &["wait", "1", "5000"]);
            assert_eq!(acked.trim(), "1", "{}: the replica did not ack", node.port);
        }
    }
}

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    pub port: u16,
    pub master: bool,
    /// `fail` or `fail?` among its flags.
    pub failing: bool,
    /// The slot ranges it serves (a master), start and end included.
    pub slots: Vec<(u16, u16)>,
}

impl Node {
    /// Whether it serves `slot`.
    pub fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(a, b)| (a..=b).contains(&slot))
    }
}

/// The cluster's nodes as the node on `port` sees them (`CLUSTER NODES`).
pub fn layout(port: u16) -> Vec<Node> {
    redis_cli(port, &["cluster", "nodes"])
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (id, address, flags) = (fields.first()?, fields.get(1)?, fields.get(2)?);
            let port = address
                .split('@')
                .next()?
                .rsplit(':')
                .next()?
                .parse()
                .ok()?;
            let slots = fields[8.min(fields.len())..]
                .iter()
                .filter(|s| !s.starts_with('['))
                .filter_map(|s| match s.split_once('-') {
                    Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                    None => s.parse().ok().map(|a| (a, a)),
                })
                .collect();
            Some(Node {
                id: id.to_string(),
                port,
                master: flags.contains("master"),
                failing: flags.contains("fail"),
                slots,
            })
        })
        .collect()
}

/// The slot of `key` (`CLUSTER KEYSLOT`, asked of the node on `port`).
pub fn key_slot(port: u16, key: &str) -> u16 {
    redis_cli(port, &["cluster", "keyslot", key])
        .trim()
        .parse()
        .expect("a slot number")
}

/// The master that serves `slot`, as the node on `port` sees it.
pub fn master_of(port: u16, slot: u16) -> Node {
    layout(port)
        .into_iter()
        .find(|n| n.master && !n.failing && n.serves(slot))
        .unwrap_or_else(|| panic!("no master serves slot {slot}"))
}

/// Moves `slot` from the master on `from` to the master on `to`, the way
/// `redis-cli --cluster reshard` does: `IMPORTING` on the target,
/// `MIGRATING` on the source, the keys one `MIGRATE` at a time, then the new
/// owner announced to every master. `pause` is waited after each step, so
/// that requests meet the slot in each of its states.
pub fn move_slot(masters: &[u16], slot: u16, from: &Node, to: &Node, pause: Duration) {
    let slot_arg = slot.to_string();
    let ok = |port: u16, args: &[&str]| {
        let out = redis_cli(port, args);
        assert!(out.trim() == "OK", "{port} {args:?}: {out}");
    };
    ok(
        to.port,
        &["cluster", "setslot", &slot_arg, "importing", &from.id],
    );
    ok(
        from.port,
        &["cluster", "setslot", &slot_arg, "migrating", &to.id],
    );
    std::thread::sleep(pause);
    loop {
        let keys = redis_cli(from.port, &["cluster", "getkeysinslot", &slot_arg, "100"]);
        let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
        if keys.is_empty() {
            break;
        }
        for key in keys {
            let port = to.port.to_string();
            let out = redis_cli(
                from.port,
                &["migrate", "127.0.0.1", &port, key, "0", "5000"],
            );
            // NOKEY: it expired or was deleted in the meantime.
            assert!(matches!(out.trim(), "OK" | "NOKEY"), "MIGRATE {key}: {out}");
            std::thread::sleep(pause);
        }
    }
    ok(to.port, &["cluster", "setslot", &slot_arg, "node", &to.id]);
    ok(
        from.port,
        &["cluster", "setslot", &slot_arg, "node", &to.id],
    );
    for &port in masters {
        if port != to.port && port != from.port {
            ok(port, &["cluster", "setslot", &slot_arg, "node", &to.id]);
        }
    }
}
