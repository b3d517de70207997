//! The network-namespace end-to-end tier (issue 5, points 4 and 6; issue 6, point 6): a small cluster where every
//! machine is a `steward simhost` process in its own network namespace, wired to a management and a
//! cluster bridge in a "switch" namespace, driven through the real `steward host` CLI.
//!
//! Needs root (it creates namespaces); fails loudly otherwise. All cases run serially in one test:
//! the lifecycle cases here, then the heartbeat cases of issue 6 (`heartbeat.rs`), then the pxeboot
//! network and the node's safety nets of issue 16 (`pxeboot_safety.rs`) on the same lab (`lab.rs`).
//! Addresses: 10.255.0.0/24 (management), 10.255.1.0/24 (cluster) and 10.255.2.0/24 (pxeboot, from
//! `pxeboot_safety.rs` on), only inside the namespaces;
//! the root namespace's interfaces and routes are never touched.

mod heartbeat;
mod lab;
mod pxeboot_safety;

use lab::*;
use std::time::Instant;

#[test]
fn netns_cluster() {
    // The effective uid, read from /proc (no libc dependency).
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let euid = uid_line.split_whitespace().nth(2).unwrap();
    assert_eq!(
        euid, "0",
        "the namespace tier needs root: run as root or `sudo -E cargo test -p steward --test netns`"
    );
    let started = Instant::now();
    sweep_stale_namespaces();
    let mut lab = Lab::new();
    lab.start_controller();

    // Hosts are added locked (new installs), then their machines start.
    for i in 0..lab.hosts.len() {
        let h = &lab.hosts[i];
        lab.cli_ok(&[
            "host",
            "add",
            &h.name,
            "--personality",
            h.personality,
            "--mgmt-ip",
            &h.mgmt_ip,
            "--cluster-ip",
            &h.cluster_ip,
        ]);
    }
    for i in 0..lab.hosts.len() {
        lab.start_host(i);
    }

    // (1) + (2): a newly installed host comes up locked with both flags.
    for i in 0..lab.hosts.len() {
        let name = lab.hosts[i].name.clone();
        lab.wait_state(&name, LOCKED, BOOT);
        lab.wait_flags(i, true, AUDIT);
    }
    eprintln!("[netns] up after {:?}", started.elapsed());

    // (3) unlock: flags go before the unlock reboot (while the boot id is still the old one).
    for i in 0..lab.hosts.len() {
        let name = lab.hosts[i].name.clone();
        let before = lab.boot_id(i);
        let mut seen_old_boot_without_flags = false;
        let o = lab.cli(&["host", "unlock", &name]);
        assert!(o.status.success(), "unlock {name}: {o:?}");
        wait_until(BOOT, &format!("{name}: flags removed"), || {
            let gone = lab.flags(i) == (false, false);
            if gone && lab.boot_id(i) == before {
                seen_old_boot_without_flags = true;
            }
            gone
        });
        assert!(
            seen_old_boot_without_flags,
            "{name}: the flags were not removed before the unlock reboot"
        );
        lab.wait_state(&name, AVAILABLE, BOOT);
        assert_ne!(lab.boot_id(i), before, "{name}: unlock did not reboot");
        lab.wait_flags(i, false, AUDIT);
    }
    for i in 0..lab.hosts.len() {
        assert!(
            lab.log(i).contains("host unlocked by the controller"),
            "{}: the agent logs the unlock",
            lab.hosts[i].name
        );
    }

    // (1) lock/unlock a worker with --wait.
    lab.cli_ok(&["host", "lock", "worker-0", "--wait", "--timeout", "60"]);
    lab.wait_state("worker-0", LOCKED, BOOT);
    lab.wait_flags(1, true, AUDIT);
    assert!(
        lab.log(1).contains("host locked by the controller"),
        "worker-0: the agent logs the lock"
    );
    lab.cli_ok(&["host", "unlock", "worker-0", "--wait", "--timeout", "120"]);
    lab.wait_state("worker-0", AVAILABLE, BOOT);
    lab.wait_flags(1, false, AUDIT);

    // (4) auto-correction. worker-1 locked, worker-0 unlocked.
    lab.cli_ok(&["host", "lock", "worker-1", "--wait", "--timeout", "60"]);
    lab.wait_flags(2, true, AUDIT);
    for f in ["volatile/node_locked", "persistent/node_locked"] {
        std::fs::remove_file(lab.hosts[2].dir.join(f)).unwrap();
        lab.wait_flags(2, true, AUDIT);
        std::fs::write(lab.hosts[1].dir.join(f), b"").unwrap();
        lab.wait_flags(1, false, AUDIT);
    }

    // (5) managed over the other network while one link is down (worker-2 unlocked).
    for (net, ifname) in [("management", "ethm"), ("cluster", "ethc")] {
        let ns = lab.hosts[3].ns.clone();
        ok(&["ip", "-n", &ns, "link", "set", ifname, "down"]);
        lab.cli_ok(&["host", "lock", "worker-2", "--wait", "--timeout", "60"]);
        lab.wait_flags(3, true, AUDIT);
        lab.wait_state("worker-2", LOCKED, BOOT);
        ok(&["ip", "-n", &ns, "link", "set", ifname, "up"]);
        lab.cli_ok(&["host", "unlock", "worker-2", "--wait", "--timeout", "120"]);
        lab.wait_state("worker-2", AVAILABLE, BOOT);
        eprintln!("[netns] managed with the {net} link down");
    }

    // (6) reboot of a locked host: new boot id, still locked with both flags.
    let before = lab.boot_id(2);
    lab.cli_ok(&["host", "reboot", "worker-1", "--wait", "--timeout", "120"]);
    wait_until(BOOT, "worker-1 new boot id", || {
        let b = lab.boot_id(2);
        b.is_some() && b != before
    });
    lab.wait_state("worker-1", LOCKED, BOOT);
    lab.wait_flags(2, true, AUDIT);

    // (7) SIGKILL a locked host's machine, restart it: back locked with both flags.
    lab.kill_host(2);
    lab.start_host(2);
    lab.wait_state("worker-1", LOCKED, BOOT);
    lab.wait_flags(2, true, AUDIT);

    // (8) an unlocked host goes down on its own and is force-locked while down: back with both.
    lab.kill_host(3);
    lab.cli_ok(&["host", "force-lock", "worker-2"]);
    lab.start_host(3);
    lab.wait_state("worker-2", LOCKED, BOOT);
    lab.wait_flags(3, true, AUDIT);

    // (9) full-site power loss: every machine and the controller at once.
    for i in 0..lab.hosts.len() {
        lab.kill_host(i);
    }
    if let Some(mut c) = lab.controller.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
    lab.start_controller();
    for i in 0..lab.hosts.len() {
        lab.start_host(i);
    }
    lab.wait_state("worker-1", LOCKED, BOOT);
    lab.wait_state("worker-2", LOCKED, BOOT);
    lab.wait_state("worker-0", AVAILABLE, BOOT);
    lab.wait_state("controller-0", AVAILABLE, BOOT);
    lab.wait_flags(2, true, AUDIT);
    lab.wait_flags(3, true, AUDIT);
    lab.wait_flags(1, false, AUDIT);
    lab.wait_flags(0, false, AUDIT);
    eprintln!("[netns] lifecycle cases passed in {:?}", started.elapsed());

    heartbeat::run(&mut lab);
    pxeboot_safety::run(&mut lab);
    eprintln!("[netns] all cases passed in {:?}", started.elapsed());
}
