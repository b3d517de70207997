//! The node's safety nets on a real `steward-node` process, commanded over real UDP by an in-test
//! controller: the failsafe SysRq reboot (the trigger is a plain file: this kernel has no SysRq),
//! the active controller's lazy reboot with its pre-reboot hook, and wipe-disk on image files
//! (checked by steward's parser and by util-linux's `wipefs -n` and `blkid -p`) and on a loop
//! device (root only). Reboot commands and hooks are shell scripts that leave marks in files;
//! order is asserted from those files, never from how long anything took.

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use steward_agent::disklabels::Kind;
use steward_protocol::{
    Ack, AckResult, ClusterSecret, Direction, MacKey, Message, Sealer, Verifier, WireCommand,
};
use steward_testpeers::disk_images::{gpt_image, mbr_image, put_ext_magic, put_xfs_magic, SECTOR};
use steward_testpeers::notify::Daemon;
use steward_types::{CommandId, Network, NodeCommand};

const HOST: &str = "worker-0";
const CTRL: &str = "controller-0";
/// A guard against a hung test, not a measure of anything.
const GUARD: Duration = Duration::from_secs(60);

/// A running `steward-node` and the in-test controller that commands it.
struct Node {
    daemon: Daemon,
    sock: UdpSocket,
    node: SocketAddr,
    key: MacKey,
    sealer: Sealer,
    verifier: Verifier,
    next_id: u64,
    dir: PathBuf,
    log: PathBuf,
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p
}

/// A reboot command that only appends `reboot` to `<dir>/marks`: the marks file and the script.
fn marking_reboot(dir: &Path) -> (PathBuf, PathBuf) {
    let marks = dir.join("marks");
    let reboot = script(
        dir,
        "reboot",
        &format!("echo reboot >> {}", marks.display()),
    );
    (marks, reboot)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Wait (polling) until `done` holds; panics naming `what` if the guard runs out or the agent
/// exited while it was wanted alive.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < GUARD, "{what}: not within {GUARD:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Node {
    /// Start the agent in `dir` with `extra` arguments; returns once it has reported alive.
    fn start(dir: &Path, extra: &[&std::ffi::OsStr]) -> Node {
        let secret = ClusterSecret::new(&[9u8; 32]).expect("secret");
        let keys = dir.join("node-keys.json");
        steward_node::keyfile::provision(&keys, &secret, HOST).expect("key file");
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind the controller socket");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let ctrl = sock.local_addr().expect("addr");
        let log = dir.join("agent.log");
        let child = Command::new(env!("CARGO_BIN_EXE_steward-node"))
            .arg("--keys")
            .arg(&keys)
            .args(["--mgmt-bind", "127.0.0.1:0", "--heartbeat-port", "0"])
            .arg("--controller")
            .arg(format!("{CTRL}={ctrl}"))
            .args(["--status-socket", "none", "--no-goenabled-at-start"])
            .arg("--lock-flag")
            .arg(dir.join("node_locked"))
            .arg("--lock-flag-backup")
            .arg(dir.join("node_locked.backup"))
            .arg("--state-dir")
            .arg(dir)
            .arg("--goenabled-dir")
            .arg(dir.join("goenabled.d"))
            .arg("--services-dir")
            .arg(dir.join("services.d"))
            .args(extra)
            .env("STEWARD_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start steward-node");
        let mut verifier = Verifier::controller(secret.clone());
        verifier.allow(HOST, Network::Mgmt, [ctrl.ip()]);
        let mut node = Node {
            daemon: Daemon(child),
            sock,
            node: ctrl, // replaced by the alive report's source below
            key: secret.controller_key(HOST),
            sealer: Sealer::new(CTRL, Direction::ControllerToNode, 1).expect("sealer"),
            verifier,
            next_id: 0,
            dir: dir.to_path_buf(),
            log,
        };
        // The agent reports alive at start: its source address is where commands go.
        node.node = node.recv_until(|m| matches!(m, Message::Alive(_)).then_some(()));
        node
    }

    /// The next verified message `pick` accepts; returns the sender's address with it.
    fn recv_until<T>(&mut self, mut pick: impl FnMut(&Message) -> Option<T>) -> SocketAddr {
        let start = Instant::now();
        let mut buf = [0u8; 2048];
        loop {
            assert!(start.elapsed() < GUARD, "no answer from the agent");
            if let Ok(Some(status)) = self.daemon.0.try_wait() {
                panic!("the agent exited ({status}); log:\n{}", read(&self.log));
            }
            let Ok((n, src)) = self.sock.recv_from(&mut buf) else {
                continue;
            };
            if let Ok(acc) = self.verifier.accept(&buf[..n], src.ip(), 0) {
                if pick(&acc.message).is_some() {
                    return src;
                }
            }
        }
    }

    /// Send `c` and wait for its ack.
    fn command(&mut self, c: NodeCommand) -> AckResult {
        self.next_id += 1;
        let id = CommandId(self.next_id);
        let msg = Message::Command(steward_protocol::Command {
            id,
            command: WireCommand::Known(c),
        });
        let frame = self
            .sealer
            .seal(&self.key, Network::Mgmt, 1, &msg)
            .expect("seal");
        self.sock.send_to(&frame, self.node).expect("send");
        let mut result = None;
        self.recv_until(|m| match m {
            Message::Ack(Ack { id: i, result: r }) if *i == id => {
                result = Some(r.clone());
                Some(())
            }
            _ => None,
        });
        result.expect("an ack")
    }

    /// Wait for the agent process to end (killed by its own reboot command).
    fn wait_exit(&mut self) {
        wait_for("the agent's exit", || {
            matches!(self.daemon.0.try_wait(), Ok(Some(_)))
        });
    }
}

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

#[test]
fn a_reboot_command_that_does_not_reboot_is_followed_by_a_sysrq_reboot() {
    let d = temp();
    let trigger = d.path().join("sysrq-trigger");
    std::fs::write(&trigger, "").expect("trigger file");
    let mut node = Node::start(
        d.path(),
        &[
            os("--reboot-command"),
            os("true"),
            os("--failsafe-reboot-delay"),
            os("300ms"),
            os("--sysrq-trigger-path"),
            trigger.as_os_str(),
        ],
    );
    let sent = Instant::now();
    assert_eq!(node.command(NodeCommand::Reboot), AckResult::Ok);
    wait_for("the SysRq trigger", || !read(&trigger).is_empty());
    assert_eq!(read(&trigger), "b", "exactly one SysRq command: reboot");
    // Not before its delay (a lower bound only: it cannot come early, however loaded the host).
    assert!(sent.elapsed() >= Duration::from_millis(300));
    let log = read(&node.log);
    assert!(
        log.contains("FAILSAFE REBOOT"),
        "loud log line missing:\n{log}"
    );
    assert!(log.contains("failsafe armed"), "{log}");
}

#[test]
fn a_reboot_command_that_works_leaves_the_sysrq_trigger_alone() {
    let d = temp();
    let trigger = d.path().join("sysrq-trigger");
    std::fs::write(&trigger, "").expect("trigger file");
    // The "reboot" ends the agent, as a real one does: its parent is the agent.
    let reboot = script(d.path(), "reboot", "kill -KILL $PPID");
    let mut node = Node::start(
        d.path(),
        &[
            os("--reboot-command"),
            reboot.as_os_str(),
            os("--failsafe-reboot-delay"),
            os("20s"),
            os("--sysrq-trigger-path"),
            trigger.as_os_str(),
        ],
    );
    assert_eq!(node.command(NodeCommand::Reboot), AckResult::Ok);
    node.wait_exit();
    assert_eq!(read(&trigger), "", "the failsafe died with the agent");
    assert!(read(&node.log).contains("failsafe armed"));
}

/// An agent whose hook and reboot command both append to `marks`.
fn lazy_node(d: &Path, active: bool, hook_body: &str, hook_timeout: &str) -> (Node, PathBuf) {
    let hook = script(d, "hook", hook_body);
    let (marks, reboot) = marking_reboot(d);
    let mut args = vec![
        os("--reboot-command"),
        reboot.as_os_str(),
        os("--failsafe-reboot-delay"),
        os("off"),
        os("--lazy-reboot-delay"),
        os("1s"),
        os("--pre-reboot-hook"),
        hook.as_os_str(),
        os("--pre-reboot-hook-timeout"),
        os(hook_timeout),
    ];
    if active {
        args.push(os("--active-controller"));
    }
    // The scripts are written before the agent starts; `args` borrows their paths.
    let node = Node::start(d, &args);
    (node, marks)
}

#[test]
fn the_active_controller_runs_its_hook_then_reboots_after_the_lazy_delay() {
    let d = temp();
    let marks = d.path().join("marks");
    let (mut node, _) = lazy_node(
        d.path(),
        true,
        &format!("echo hook >> {}", marks.display()),
        "30s",
    );
    let sent = Instant::now();
    assert_eq!(node.command(NodeCommand::Reboot), AckResult::Ok);
    wait_for("the reboot", || read(&marks).contains("reboot"));
    assert_eq!(read(&marks), "hook\nreboot\n");
    assert!(
        sent.elapsed() >= Duration::from_secs(1),
        "lazy delay not kept"
    );
}

#[test]
fn a_failing_or_hanging_hook_does_not_stop_the_reboot() {
    for (body, timeout) in [("exit 3", "30s"), ("exec sleep 600", "300ms")] {
        let d = temp();
        let marks = d.path().join("marks");
        let (mut node, _) = lazy_node(
            d.path(),
            true,
            &format!("echo hook >> {}\n{body}", marks.display()),
            timeout,
        );
        assert_eq!(node.command(NodeCommand::LazyReboot), AckResult::Ok);
        wait_for("the reboot", || read(&marks).contains("reboot"));
        assert_eq!(read(&marks), "hook\nreboot\n", "hook {body:?}");
        let log = read(&node.log);
        assert!(log.contains("rebooting anyway"), "hook {body:?}:\n{log}");
    }
}

#[test]
fn a_host_that_is_not_the_active_controller_reboots_without_the_hook() {
    let d = temp();
    let marks = d.path().join("marks");
    let (mut node, _) = lazy_node(
        d.path(),
        false,
        &format!("echo hook >> {}", marks.display()),
        "30s",
    );
    assert_eq!(node.command(NodeCommand::Reboot), AckResult::Ok);
    wait_for("the reboot", || read(&marks).contains("reboot"));
    assert_eq!(read(&marks), "reboot\n");
}

/// `wipefs -n` (util-linux): the signatures libblkid sees on `disk`, one line each.
fn wipefs(disk: &Path) -> String {
    let out = Command::new("wipefs")
        .arg("-n")
        .arg(disk)
        .output()
        .expect("run wipefs");
    assert!(
        out.status.success(),
        "wipefs -n {}: {out:?}",
        disk.display()
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `blkid -p -O OFFSET`: the filesystem type libblkid finds at `offset`, if any.
fn blkid_at(disk: &Path, offset: u64) -> Option<String> {
    let out = Command::new("blkid")
        .args(["-p", "-s", "TYPE", "-o", "value", "-O", &offset.to_string()])
        .arg(disk)
        .output()
        .expect("run blkid");
    let t = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !t.is_empty()).then_some(t)
}

fn have(bin: &str, install: &str) -> bool {
    steward_testpeers::require(bin, "--version", install)
}

const PART1: (u64, u64) = (2048, 4095); // 1 MiB
const PART2: (u64, u64) = (4096, 6143);

/// A GPT image with two partitions: a real ext4 (mkfs.ext4 at the partition's offset) when
/// e2fsprogs is there, else steward's ext magic; XFS's magic in the second.
fn gpt_disk(path: &Path) -> bool {
    let mut img = gpt_image(8 * 1024 * 1024, &[PART1, PART2]);
    put_xfs_magic(&mut img, PART2.0 * SECTOR);
    let real_ext4 = Command::new("mkfs.ext4")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !real_ext4 {
        put_ext_magic(&mut img, PART1.0 * SECTOR);
    }
    std::fs::write(path, &img).expect("write image");
    if real_ext4 {
        let st = Command::new("mkfs.ext4")
            .args(["-q", "-F", "-E"])
            .arg(format!("offset={}", PART1.0 * SECTOR))
            .arg(path)
            .arg("1024k")
            .stderr(Stdio::null())
            .status()
            .expect("mkfs.ext4");
        assert!(st.success());
        assert_eq!(
            std::fs::metadata(path).map(|m| m.len()).ok(),
            Some(8 * 1024 * 1024),
            "mkfs.ext4 kept the image's size"
        );
    }
    real_ext4
}

fn kinds(path: &Path) -> Vec<Kind> {
    let l = steward_node::wipe::inspect(path).expect("inspect");
    l.signatures.iter().map(|s| s.kind).collect()
}

#[test]
fn wipe_disk_erases_the_install_disks_labels() {
    if !have("wipefs", "apt-get install util-linux") || !have("blkid", "apt-get install util-linux")
    {
        return;
    }
    let d = temp();
    let gpt = d.path().join("gpt.img");
    let real_ext4 = gpt_disk(&gpt);
    let mbr = d.path().join("mbr.img");
    let mut img = mbr_image(4 * 1024 * 1024, &[(0x83, 2048, 2048), (0x82, 4096, 2048)]);
    put_ext_magic(&mut img, 2048 * SECTOR);
    std::fs::write(&mbr, &img).expect("write image");

    // What is there before: steward's parser and libblkid agree.
    let before = kinds(&gpt);
    for k in [
        Kind::ProtectiveMbr,
        Kind::GptPrimary,
        Kind::GptBackup,
        Kind::Ext,
        Kind::Xfs,
    ] {
        assert!(before.contains(&k), "{k:?} not in {before:?}");
    }
    let seen = wipefs(&gpt);
    assert!(
        seen.contains("gpt") && seen.contains("PMBR"),
        "wipefs -n:\n{seen}"
    );
    if real_ext4 {
        assert_eq!(blkid_at(&gpt, PART1.0 * SECTOR).as_deref(), Some("ext4"));
    }
    assert!(wipefs(&mbr).contains("dos"));
    assert!(kinds(&mbr).contains(&Kind::Ext));

    let (marks, reboot) = marking_reboot(d.path());
    let mut node = Node::start(
        d.path(),
        &[
            os("--reboot-command"),
            reboot.as_os_str(),
            os("--failsafe-reboot-delay"),
            os("off"),
            os("--install-disk"),
            gpt.as_os_str(),
            os("--install-disk"),
            mbr.as_os_str(),
        ],
    );
    // A new install is locked: the wipe is allowed.
    assert_eq!(node.command(NodeCommand::WipeDisk), AckResult::Ok);
    // The labels are erased before the reboot command runs.
    wait_for("the reboot after the wipe", || {
        read(&marks).contains("reboot")
    });
    for disk in [&gpt, &mbr] {
        assert_eq!(kinds(disk), vec![], "{} still labelled", disk.display());
        assert_eq!(
            wipefs(disk),
            "",
            "wipefs still sees signatures on {}",
            disk.display()
        );
    }
    assert_eq!(blkid_at(&gpt, PART1.0 * SECTOR), None, "ext4 still found");
    assert_eq!(blkid_at(&gpt, PART2.0 * SECTOR), None, "xfs still found");
    assert_eq!(std::fs::metadata(&gpt).map(|m| m.len()).ok(), Some(8 << 20));
    let log = read(&node.log);
    assert!(log.contains("nothing left"), "{log}");
    drop(node);
}

#[test]
fn wipe_disk_on_an_unlocked_host_is_refused_and_touches_nothing() {
    let d = temp();
    let gpt = d.path().join("gpt.img");
    let mut img = gpt_image(4 * 1024 * 1024, &[(2048, 4095)]);
    put_ext_magic(&mut img, 2048 * SECTOR);
    std::fs::write(&gpt, &img).expect("write image");
    let (marks, reboot) = marking_reboot(d.path());
    let mut node = Node::start(
        d.path(),
        &[
            os("--reboot-command"),
            reboot.as_os_str(),
            os("--install-disk"),
            gpt.as_os_str(),
        ],
    );
    assert_eq!(node.command(NodeCommand::Unlocked), AckResult::Ok);
    let refused = node.command(NodeCommand::WipeDisk);
    assert!(
        matches!(&refused, AckResult::Failed(why) if why.contains("unlocked")),
        "{refused:?}"
    );
    // The refusal and the decision not to go down are one step of the agent: by the ack, nothing
    // was started. An alive request answered afterwards shows the agent carried on.
    assert_eq!(node.command(NodeCommand::RequestAlive), AckResult::Ok);
    assert_eq!(std::fs::read(&gpt).ok(), Some(img), "the image was touched");
    assert_eq!(read(&marks), "", "the host went down");
    assert_eq!(node.dir, d.path());
}

/// A loop device over an image file, detached on drop.
struct Loop(String);

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

#[test]
fn wipe_disk_erases_a_loop_device() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED wipe_disk_erases_a_loop_device: needs root (losetup)"
        );
        return;
    }
    if !have("wipefs", "apt-get install util-linux")
        || !have("losetup", "apt-get install util-linux")
    {
        return;
    }
    let d = temp();
    let img = d.path().join("loop.img");
    let real_ext4 = gpt_disk(&img);
    let out = Command::new("losetup")
        .args(["-f", "--show"])
        .arg(&img)
        .output()
        .expect("run losetup");
    assert!(out.status.success(), "losetup -f --show: {out:?}");
    let dev = Loop(String::from_utf8_lossy(&out.stdout).trim().to_string());
    let path = PathBuf::from(&dev.0);
    let seen = wipefs(&path);
    assert!(seen.contains("gpt"), "wipefs -n {}:\n{seen}", dev.0);
    if real_ext4 {
        assert_eq!(blkid_at(&path, PART1.0 * SECTOR).as_deref(), Some("ext4"));
    }
    let report = steward_node::wipe::wipe_labels(&path).expect("wipe the loop device");
    assert!(report.left.is_empty(), "{:?}", report.left);
    assert!(report.found.iter().any(|s| s.kind == Kind::Xfs));
    assert_eq!(
        wipefs(&path),
        "",
        "wipefs still sees signatures on {}",
        dev.0
    );
    assert_eq!(blkid_at(&path, PART1.0 * SECTOR), None);
    assert_eq!(kinds(&path), vec![]);
    drop(dev);
    // Through the loop device to the file: the writes were synced.
    assert_eq!(kinds(&img), vec![]);
}
