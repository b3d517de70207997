//! The link and filesystem monitors against the real kernel (docs/node-monitoring.md): links cut with
//! `ip link set down` in a private network namespace (a veth pair, a bridge and a macvlan, as
//! this kernel has no bonding or VLAN), and a tmpfs remounted read-only in a private mount
//! namespace. Both namespaces belong to the test's own thread, so nothing outside it is touched.
//!
//! Needs root; without it the test says so on stderr and passes without checking anything.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use steward_agent::FsSample;
use steward_node::monitors::{self, MonitorsConfig};
use steward_node::status::NodeStatus;
use steward_types::{LinkNetwork, MonitorEvent};
use tokio::sync::mpsc;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(out.status.success(), "{args:?}: {out:?}");
}

/// Move this thread (and the commands it starts) into fresh namespaces of `flags`.
fn unshare(flags: libc::c_int) {
    // SAFETY: unshare only changes this thread's namespaces; no memory is involved.
    let rc = unsafe { libc::unshare(flags) };
    assert_eq!(rc, 0, "unshare: {}", std::io::Error::last_os_error());
}

/// Reports until the latest one about `network` says `(down, ports)`; every report seen is kept
/// in `latest`. Bounded, so a lost report fails the test with a message instead of hanging it.
async fn wait_link(
    rx: &mut mpsc::Receiver<MonitorEvent>,
    latest: &mut [Option<(u8, u8)>; 3],
    network: LinkNetwork,
    want: (u8, u8),
) {
    while latest[network.index()] != Some(want) {
        let ev = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("{network:?}: no report of {want:?}, last {latest:?}"))
            .unwrap_or_else(|| panic!("the monitors stopped"));
        if let MonitorEvent::Link {
            network: n,
            down,
            ports,
            ..
        } = ev
        {
            latest[n.index()] = Some((down, ports));
        }
    }
}

#[test]
fn links_cut_with_ip_link_set_down_are_reported_at_once() {
    if !is_root() {
        eprintln!(
            "SKIPPED links_cut_with_ip_link_set_down_are_reported_at_once: needs root (namespaces)"
        );
        return;
    }
    unshare(libc::CLONE_NEWNET);
    run(&["ip", "link", "set", "lo", "up"]);
    // cluster: veth0, whose peer we cut; oam: a macvlan on veth0; mgmt: a bridge over veth2.
    run(&[
        "ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
    ]);
    run(&[
        "ip", "link", "add", "veth2", "type", "veth", "peer", "name", "veth3",
    ]);
    // No forwarding delay: the bridge has its carrier as soon as a port does.
    run(&[
        "ip",
        "link",
        "add",
        "br0",
        "type",
        "bridge",
        "forward_delay",
        "0",
    ]);
    run(&["ip", "link", "set", "veth2", "master", "br0"]);
    run(&[
        "ip", "link", "add", "mv0", "link", "veth0", "type", "macvlan", "mode", "bridge",
    ]);
    for dev in ["veth0", "veth1", "veth2", "veth3", "br0", "mv0"] {
        run(&["ip", "link", "set", dev, "up"]);
    }
    let cfg = MonitorsConfig {
        links: vec![
            (LinkNetwork::Mgmt, "br0".into()),
            (LinkNetwork::Cluster, "veth0".into()),
            (LinkNetwork::Oam, "mv0".into()),
        ],
        // This thread's network namespace has no sysfs of its own: resolution falls back to the
        // configured names, which is what these interfaces are.
        sys_root: "/nonexistent".into(),
        ..MonitorsConfig::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(async {
        let board = Arc::new(Mutex::new(NodeStatus::default()));
        let (tx, mut rx) = mpsc::channel(64);
        let task = monitors::spawn(cfg, board.clone(), tx);
        let mut latest = [None; 3];
        for net in LinkNetwork::ALL {
            wait_link(&mut rx, &mut latest, net, (0, 1)).await;
        }
        let started = std::time::Instant::now();
        run(&["ip", "link", "set", "veth1", "down"]);
        wait_link(&mut rx, &mut latest, LinkNetwork::Cluster, (1, 1)).await;
        let latency = started.elapsed();
        // The macvlan follows its lower port.
        wait_link(&mut rx, &mut latest, LinkNetwork::Oam, (1, 1)).await;
        eprintln!("[monitors] cut → report in {latency:?}");
        run(&["ip", "link", "set", "veth1", "up"]);
        wait_link(&mut rx, &mut latest, LinkNetwork::Cluster, (0, 1)).await;
        // The bridge loses its carrier with its last port.
        run(&["ip", "link", "del", "veth2"]);
        wait_link(&mut rx, &mut latest, LinkNetwork::Mgmt, (1, 1)).await;
        let status = board.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(status.links.len(), 3);
        task.abort();
    });
}

#[test]
fn a_tmpfs_remounted_read_only_is_seen_read_only() {
    if !is_root() {
        eprintln!("SKIPPED a_tmpfs_remounted_read_only_is_seen_read_only: needs root (mounts)");
        return;
    }
    unshare(libc::CLONE_NEWNS);
    run(&["mount", "--make-rprivate", "/"]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap_or_else(|e| panic!("{e}"));
    let m = mnt.to_str().unwrap_or_default();
    assert_eq!(
        steward_node::fsmon::sample(&mnt),
        FsSample::Missing,
        "not mounted yet"
    );
    run(&[
        "mount",
        "-t",
        "tmpfs",
        "-o",
        "size=1m,nr_inodes=64",
        "tmpfs",
        m,
    ]);
    match steward_node::fsmon::sample(&mnt) {
        FsSample::Mounted {
            read_only: false,
            free_space_pct,
            free_inodes_pct: Some(inodes),
        } => assert!(
            free_space_pct > 99.0 && inodes > 90.0,
            "{free_space_pct} {inodes}"
        ),
        other => panic!("fresh tmpfs: {other:?}"),
    }
    // Fill it: space low.
    let blob = vec![7u8; 900 * 1024];
    std::fs::write(mnt.join("blob"), &blob).unwrap_or_else(|e| panic!("{e}"));
    match steward_node::fsmon::sample(&mnt) {
        FsSample::Mounted { free_space_pct, .. } => {
            assert!(free_space_pct < 20.0, "{free_space_pct}")
        }
        other => panic!("{other:?}"),
    }
    run(&["mount", "-o", "remount,ro", m]);
    assert!(matches!(
        steward_node::fsmon::sample(&mnt),
        FsSample::Mounted {
            read_only: true,
            ..
        }
    ));
    run(&["umount", m]);
    assert_eq!(steward_node::fsmon::sample(Path::new(m)), FsSample::Missing);
}
