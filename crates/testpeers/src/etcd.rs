//! A real etcd (Debian's `etcd-server`, 3.4) on loopback for tests: one member ([`EtcdPeer`]) or a
//! cluster of several ([`EtcdCluster`]) whose members a test can SIGKILL and restart to take away a
//! member or the quorum. Every member gets free loopback ports and its own data dir under a private
//! temp dir; everything is killed and removed on Drop.
//!
//! etcd is a required peer (the etcd store backend cannot be tested without it): a missing binary
//! fails the test with a message naming `scripts/setup`, it is never skipped.

use std::fs::File;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{free_tcp_port, http_status};

/// Where the etcd binary is looked for; `STEWARD_ETCD_BIN` overrides it.
pub const DEFAULT_ETCD_BIN: &str = "/usr/bin/etcd";

/// How often and how long readiness is polled. A bound on *starting a peer*, not on the code under
/// test: a member that never becomes healthy fails with its log instead of hanging the test run.
const POLL: Duration = Duration::from_millis(100);
const READY_POLLS: u32 = 1200; // 2 minutes on a loaded machine

/// How many times a cluster is started afresh when a member lost a port race (a free port picked
/// by binding port 0 can be taken by another test before etcd binds it).
const START_ATTEMPTS: u32 = 4;

/// The etcd binary, or a panic that says how to install it.
pub fn etcd_bin() -> PathBuf {
    let bin = std::env::var_os("STEWARD_ETCD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_ETCD_BIN));
    if !bin.is_file() {
        panic!(
            "etcd is a required test peer but {} does not exist: run scripts/setup \
             (installs Debian's etcd-server) or set STEWARD_ETCD_BIN",
            bin.display()
        );
    }
    bin
}

/// One member's fixed identity: it keeps its name, ports and data dir across restarts, as a real
/// member that reboots does.
struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    data_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Member {
    fn client_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    fn spawn(&mut self, bin: &Path, initial_cluster: &str, token: &str) -> std::io::Result<()> {
        let out = File::options().create(true).append(true).open(&self.log)?;
        let err = out.try_clone()?;
        let child = Command::new(bin)
            .arg("--name")
            .arg(&self.name)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen-client-urls")
            .arg(self.client_url())
            .arg("--advertise-client-urls")
            .arg(self.client_url())
            .arg("--listen-peer-urls")
            .arg(self.peer_url())
            .arg("--initial-advertise-peer-urls")
            .arg(self.peer_url())
            .arg("--initial-cluster")
            .arg(initial_cluster)
            // Ignored by etcd once the data dir holds a member (a restart): it rejoins as itself.
            .arg("--initial-cluster-state")
            .arg("new")
            .arg("--initial-cluster-token")
            .arg(token)
            .args(["--logger", "zap", "--log-outputs", "stderr"])
            // No metrics/pprof listeners beyond the client port, and no stray environment config.
            .env_remove("ETCD_DATA_DIR")
            .env_remove("ETCD_NAME")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL, then reap.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => !matches!(child.try_wait(), Ok(None)),
            None => true,
        }
    }

    fn healthy(&self) -> bool {
        http_status(self.client_port, "/health") == Some(200)
    }

    fn listening(&self) -> bool {
        TcpStream::connect(("127.0.0.1", self.client_port)).is_ok()
    }

    fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut start = s.len().saturating_sub(4000);
        while !s.is_char_boundary(start) {
            start += 1;
        }
        s[start..].to_owned()
    }
}

/// An etcd cluster of N members on loopback.
pub struct EtcdCluster {
    bin: PathBuf,
    members: Vec<Member>,
    initial_cluster: String,
    token: String,
    dir: tempfile::TempDir,
}

impl EtcdCluster {
    /// Start `size` members and wait until every one reports healthy (a leader is elected).
    pub fn start(size: usize) -> EtcdCluster {
        assert!(size >= 1, "an etcd cluster needs at least one member");
        let bin = etcd_bin();
        let mut last_logs = String::new();
        for attempt in 0..START_ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix("steward-etcd-")
                .tempdir()
                .expect("etcd temp dir");
            let mut cluster = EtcdCluster::prepare(bin.clone(), size, attempt, dir);
            match cluster.boot() {
                Ok(()) => return cluster,
                Err(logs) => last_logs = logs, // a port race: try again with new ports
            }
        }
        panic!(
            "etcd ({}) did not start a healthy {size}-member cluster in {START_ATTEMPTS} attempts; \
             member logs:\n{last_logs}",
            bin.display()
        );
    }

    fn prepare(bin: PathBuf, size: usize, attempt: u32, dir: tempfile::TempDir) -> EtcdCluster {
        let members: Vec<Member> = (0..size)
            .map(|i| Member {
                name: format!("m{i}"),
                client_port: free_tcp_port(),
                peer_port: free_tcp_port(),
                data_dir: dir.path().join(format!("m{i}.etcd")),
                log: dir.path().join(format!("m{i}.log")),
                child: None,
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url()))
            .collect::<Vec<_>>()
            .join(",");
        // A distinct token per cluster: members of two tests' clusters never talk to each other
        // even if one reuses a port the other just freed.
        let token = format!(
            "steward-test-{}-{attempt}-{}",
            std::process::id(),
            dir.path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        EtcdCluster {
            bin,
            members,
            initial_cluster,
            token,
            dir,
        }
    }

    /// Spawn every member and wait for all to be healthy; on failure kill them all and return
    /// their logs.
    fn boot(&mut self) -> Result<(), String> {
        for m in &mut self.members {
            if let Err(e) = m.spawn(&self.bin, &self.initial_cluster, &self.token) {
                panic!("spawn {}: {e}", self.bin.display());
            }
        }
        for _ in 0..READY_POLLS {
            if self.members.iter_mut().any(Member::exited) {
                break; // most likely a port another process took first
            }
            if self.members.iter().all(Member::healthy) {
                return Ok(());
            }
            std::thread::sleep(POLL);
        }
        let logs = self.logs();
        for m in &mut self.members {
            m.kill();
        }
        Err(logs)
    }

    /// The client URLs of all members (`http://127.0.0.1:PORT`), running or not, in member order.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(Member::client_url).collect()
    }

    /// `host:port` of every member, in member order (the form `etcd://` URLs list).
    pub fn host_ports(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.client_port))
            .collect()
    }

    pub fn size(&self) -> usize {
        self.members.len()
    }

    /// How many members are running (spawned and not exited).
    pub fn running(&mut self) -> usize {
        self.members
            .iter_mut()
            .map(|m| !m.exited())
            .filter(|running| *running)
            .count()
    }

    /// SIGKILL member `i` (no graceful leave: a crash or a power loss). Its data dir stays.
    pub fn kill_member(&mut self, i: usize) {
        self.members[i].kill();
    }

    /// Start member `i` again on its data dir and ports. When a quorum is running with it, waits
    /// until it is healthy (caught up with a leader); without a quorum there is no leader to be
    /// healthy with, so it only waits until the member listens.
    pub fn restart_member(&mut self, i: usize) {
        if !self.members[i].exited() {
            return;
        }
        self.members[i].kill(); // reap an exited child
        let (bin, cluster, token) = (&self.bin, &self.initial_cluster, &self.token);
        if let Err(e) = self.members[i].spawn(bin, cluster, token) {
            panic!("respawn {}: {e}", bin.display());
        }
        let quorum = self.members.len() / 2 + 1;
        let wait_healthy = self.running() >= quorum;
        for _ in 0..READY_POLLS {
            let m = &mut self.members[i];
            if m.exited() {
                panic!(
                    "etcd member {} exited on restart; log:\n{}",
                    m.name,
                    m.log_tail()
                );
            }
            if (wait_healthy && m.healthy()) || (!wait_healthy && m.listening()) {
                return;
            }
            std::thread::sleep(POLL);
        }
        panic!(
            "etcd member {} did not become {} after restart; log:\n{}",
            self.members[i].name,
            if wait_healthy { "healthy" } else { "reachable" },
            self.members[i].log_tail()
        );
    }

    /// Wait until every running member reports healthy (e.g. after quorum came back).
    pub fn wait_healthy(&mut self) {
        for _ in 0..READY_POLLS {
            let all = self.members.iter_mut().all(|m| m.exited() || m.healthy());
            if all {
                return;
            }
            std::thread::sleep(POLL);
        }
        panic!(
            "etcd cluster did not become healthy; logs:\n{}",
            self.logs()
        );
    }

    /// The last lines of every member's log, for a failing test's message.
    pub fn logs(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("--- {} ---\n{}", m.name, m.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The temp dir holding every member's data dir and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            m.kill();
        }
        // The TempDir field removes the data dirs after this.
    }
}

/// A single etcd member on loopback.
pub struct EtcdPeer {
    cluster: EtcdCluster,
}

impl EtcdPeer {
    pub fn start() -> EtcdPeer {
        EtcdPeer {
            cluster: EtcdCluster::start(1),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        self.cluster.endpoints().remove(0)
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.cluster.endpoints()
    }

    /// `127.0.0.1:PORT` (the form an `etcd://` URL lists).
    pub fn host_port(&self) -> String {
        self.cluster.host_ports().remove(0)
    }

    /// SIGKILL the member (its data stays) and start it again with [`EtcdPeer::restart`].
    pub fn kill(&mut self) {
        self.cluster.kill_member(0);
    }

    pub fn restart(&mut self) {
        self.cluster.restart_member(0);
    }

    pub fn log_tail(&self) -> String {
        self.cluster.logs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put_get(endpoint: &str) -> Option<u16> {
        // The v3 JSON gateway: keys and values are base64 ("a2V5" = "key", "dmFs" = "val").
        let port: u16 = endpoint.rsplit(':').next()?.parse().ok()?;
        let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        let body = r#"{"key":"a2V5","value":"dmFs"}"#;
        use std::io::{Read, Write};
        write!(
            s,
            "POST /v3/kv/put HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .ok()?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).ok()?;
        let head = std::str::from_utf8(&buf[..n]).ok()?;
        head.split_whitespace().nth(1)?.parse().ok()
    }

    #[test]
    fn single_member_starts_answers_and_is_removed_on_drop() {
        let peer = EtcdPeer::start();
        assert_eq!(put_get(&peer.endpoint()), Some(200), "{}", peer.log_tail());
        let dir = peer.cluster.dir().to_owned();
        assert!(dir.exists());
        drop(peer);
        assert!(!dir.exists(), "data dir removed on drop");
    }

    #[test]
    fn cluster_survives_a_member_and_recovers_quorum_after_restart() {
        let mut c = EtcdCluster::start(3);
        assert_eq!(c.endpoints().len(), 3);
        c.kill_member(2);
        assert_eq!(c.running(), 2);
        c.wait_healthy();
        assert_eq!(put_get(&c.endpoints()[0]), Some(200), "{}", c.logs());
        c.kill_member(1);
        // One of three: no leader, the survivor is not healthy.
        assert_ne!(http_status(c.members[0].client_port, "/health"), Some(200));
        c.restart_member(1);
        c.restart_member(2);
        c.wait_healthy();
        assert_eq!(put_get(&c.endpoints()[2]), Some(200), "{}", c.logs());
    }
}
