//! Issue 16 in the namespace tier: the pxeboot network as a third network, and the node's safety
//! nets (the failsafe reboot, wipe-disk on loop devices), with the real controller, the real
//! simhost and its real agent, over real UDP.
//!
//! One more machine, worker-3, is added to the lab the heartbeat cases left: it alone has a
//! pxeboot address (10.255.2.0/24 on a third bridge, `brp`; the controller is restarted with
//! `--pxeboot-bind` and a 1 s pxeboot check period), two loop devices as install disks (one GPT,
//! one MBR label) and a failsafe whose SysRq trigger is a plain file. Cases, in order:
//!
//! 1. reinstall of the locked worker-3 (no BMC: the agent method) → both loop devices carry no
//!    signature (`wipefs -n`), the machine came back as a fresh install, still locked;
//! 2. its reboot command hangs (simhost fault `reboot-hang`) → the agent writes the SysRq reboot to
//!    its trigger file after the configured delay, while the machine is still on the same boot;
//! 3. the locked worker-3's management and cluster links down, pxeboot up → `steward host reboot`
//!    still reaches it over pxeboot (a new boot id; the agent logs where the command came from);
//!    as docs/protocol.md#the-pxeboot-network says, a report on pxeboot does not count as the host
//!    answering, so the controller sees it offline until the links are back;
//! 4. worker-3 unlocked, fresh labels on its disks: `steward host reinstall` is refused and the
//!    disks are untouched (checked again after case 5);
//! 5. its pxeboot link down while management is up → alarm 200.003 for worker-3 and nothing else
//!    (no other alarm, no state change); link back → cleared;
//! 6. the unlocked worker-3's management and cluster links down → heartbeat loss, failed, and the
//!    graceful recovery's reboot reaches it over pxeboot (a host without a BMC, rebooted all the
//!    same); links back → in service again.
//!
//! Order is judged from files, boot ids, alarms and logs; durations are printed, never asserted.

use crate::lab::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use steward_testpeers::disk_images::{gpt_image, mbr_image, put_ext_magic, put_xfs_magic, SECTOR};

const CTL_PXEBOOT: &str = "10.255.2.1";
/// A guard against a hung case, not a measure of anything.
const GUARD: Duration = Duration::from_secs(60);

/// A loop device over an image file; detached on drop (also when a case fails).
struct LoopDev {
    dev: PathBuf,
    /// The labels written at setup, to check the disk was left alone.
    image: Vec<u8>,
}

impl LoopDev {
    fn attach(file: &Path, image: Vec<u8>) -> LoopDev {
        std::fs::write(file, &image).unwrap();
        let out = sh(&["losetup", "-f", "--show", file.to_str().unwrap()]);
        assert!(out.status.success(), "losetup -f --show: {out:?}");
        let dev = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        LoopDev { dev, image }
    }

    fn path(&self) -> &str {
        self.dev.to_str().unwrap()
    }

    /// Write the setup labels again, through the device (not the file behind it: the loop
    /// device's page cache would not see that).
    fn relabel(&self) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.dev)
            .unwrap();
        f.write_all(&self.image).unwrap();
        f.sync_all().unwrap();
    }

    /// The device's bytes as they are now.
    fn contents(&self) -> Vec<u8> {
        std::fs::read(&self.dev).unwrap()
    }
}

impl Drop for LoopDev {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
    }
}

/// `wipefs -n` (util-linux): the signatures libblkid sees, one line each; "" when none.
fn wipefs(dev: &LoopDev) -> String {
    let o = sh(&["wipefs", "-n", dev.path()]);
    assert!(o.status.success(), "wipefs -n {}: {o:?}", dev.path());
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// A GPT disk (protective MBR, both GPT headers) with an ext and an XFS signature in its two
/// partitions, and an MBR disk with an ext signature in its first.
fn disk_images() -> (Vec<u8>, Vec<u8>) {
    let mut gpt = gpt_image(8 << 20, &[(2048, 4095), (4096, 6143)]);
    put_ext_magic(&mut gpt, 2048 * SECTOR);
    put_xfs_magic(&mut gpt, 4096 * SECTOR);
    let mut mbr = mbr_image(4 << 20, &[(0x83, 2048, 2048), (0x82, 4096, 2048)]);
    put_ext_magic(&mut mbr, 2048 * SECTOR);
    (gpt, mbr)
}

fn control(lab: &Lab, i: usize, command: &str) -> String {
    let reply = steward_simhost::control_blocking(&lab.hosts[i].dir, command)
        .unwrap_or_else(|e| panic!("control socket of {}: {e}", lab.hosts[i].name));
    assert!(reply.starts_with("ok"), "{command}: {reply}");
    reply
}

fn set_link(ns: &str, dev: &str, up: bool) {
    let state = if up { "up" } else { "down" };
    ok(&["ip", "-n", ns, "link", "set", dev, state]);
}

fn events_since(lab: &Lab, mark: usize) -> Vec<String> {
    let events = lab.events();
    events[mark.min(events.len())..]
        .iter()
        .map(|e| e.text.clone())
        .collect()
}

fn pxeboot_alarm(lab: &Lab, host: &str) -> Option<Alarm> {
    let entity = format!("host={host}");
    lab.alarms()
        .into_iter()
        .find(|a| a.id == "200.003" && a.entity == entity)
}

/// The boot count of the machine's boot record (`persistent/boot.json`; 1 after a fresh install).
fn boot_count(lab: &Lab, i: usize) -> u64 {
    let text = std::fs::read_to_string(lab.hosts[i].dir.join("persistent/boot.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["boot_count"].as_u64().unwrap()
}

/// The controller again, with its pxeboot socket and a 1 s pxeboot check (the default 10 s would
/// take a minute to raise 200.003 and another to clear it; `--time-scale` leaves it alone).
fn restart_controller_with_pxeboot(lab: &mut Lab) {
    let defaults = sh(&[STEWARD, "config", "defaults"]);
    let text = String::from_utf8_lossy(&defaults.stdout).into_owned();
    let at = text
        .find("[pxeboot]")
        .expect("a [pxeboot] section in the defaults");
    let (head, tail) = text.split_at(at);
    let mut replaced = false;
    let tail: Vec<String> = tail
        .lines()
        .map(|l| {
            if !replaced && l.starts_with("check_period = ") {
                replaced = true;
                "check_period = 1".to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(replaced, "no pxeboot check_period in the defaults:\n{text}");
    let file = lab.dir.join("pxeboot.toml");
    std::fs::write(&file, format!("{head}{}\n", tail.join("\n"))).unwrap();
    lab.stop_controller();
    lab.controller_config = Some(file);
    lab.controller_extra_args = vec!["--pxeboot-bind".into(), format!("{CTL_PXEBOOT}:2102")];
    lab.start_controller();
}

pub fn run(lab: &mut Lab) {
    let started = Instant::now();
    for bin in ["losetup", "wipefs"] {
        assert!(
            steward_testpeers::require(bin, "--version", "apt-get install util-linux"),
            "the namespace tier needs {bin} (scripts/setup installs util-linux)"
        );
    }
    // The third network: a bridge, the controller's namespace on it.
    lab.add_bridge("brp");
    let ctl_ns = lab.ctl_ns.clone();
    lab.plug(&ctl_ns, "p", 0, "brp", CTL_PXEBOOT);
    restart_controller_with_pxeboot(lab);

    // worker-3: pxeboot, two install disks, a failsafe into a plain file.
    let (gpt, mbr) = disk_images();
    let disks = [
        LoopDev::attach(&lab.dir.join("worker-3-gpt.img"), gpt),
        LoopDev::attach(&lab.dir.join("worker-3-mbr.img"), mbr),
    ];
    let i = lab.add_worker("worker-3");
    let ns = lab.hosts[i].ns.clone();
    let pxeboot_ip = format!("10.255.2.{}", i + 1);
    lab.plug(&ns, "p", i, "brp", &pxeboot_ip);
    let trigger = lab.dir.join("worker-3-sysrq-trigger");
    std::fs::write(&trigger, "").unwrap();
    let mut extra = vec![
        "--pxeboot-ip".to_string(),
        pxeboot_ip.clone(),
        "--controller-pxeboot".into(),
        format!("{CTL_PXEBOOT}:2102"),
        "--failsafe-reboot-delay-ms".into(),
        "1500".into(),
        "--sysrq-trigger-path".into(),
        trigger.to_str().unwrap().into(),
    ];
    for d in &disks {
        extra.extend(["--install-disk".to_string(), d.path().to_string()]);
    }
    lab.hosts[i].extra_args = extra;
    let (mgmt_ip, cluster_ip) = (
        lab.hosts[i].mgmt_ip.clone(),
        lab.hosts[i].cluster_ip.clone(),
    );
    lab.cli_ok(&[
        "host",
        "add",
        "worker-3",
        "--personality",
        "worker",
        "--mgmt-ip",
        &mgmt_ip,
        "--cluster-ip",
        &cluster_ip,
        "--pxeboot-ip",
        &pxeboot_ip,
    ]);
    lab.start_host(i);
    lab.wait_state("worker-3", LOCKED, BOOT);
    lab.wait_flags(i, true, AUDIT);
    eprintln!("[netns/16] worker-3 up after {:?}", started.elapsed());

    reinstall_wipes_the_loop_devices(lab, i, &disks, &trigger);
    failsafe_reboot(lab, i, &trigger);
    reboot_over_pxeboot(lab, i);
    reinstall_refused_when_unlocked(lab, i, &disks);
    pxeboot_alarm_raised_and_cleared(lab, i);
    recovery_reboots_over_pxeboot(lab, i);
    for d in &disks {
        assert!(
            d.contents() == d.image,
            "{}: the unlocked host's disk was touched",
            d.path()
        );
    }
    eprintln!(
        "[netns/16] pxeboot and safety-net cases passed in {:?}",
        started.elapsed()
    );
}

/// Case 1: `steward host reinstall` of the locked worker-3, which has no BMC: the agent erases the
/// labels of its install disks, the machine wipes its disk and boots as a fresh install.
fn reinstall_wipes_the_loop_devices(lab: &mut Lab, i: usize, disks: &[LoopDev; 2], trigger: &Path) {
    let t = Instant::now();
    let seen = wipefs(&disks[0]);
    assert!(
        seen.contains("gpt") && seen.contains("PMBR"),
        "before: wipefs -n {}:\n{seen}",
        disks[0].path()
    );
    let seen = wipefs(&disks[1]);
    assert!(
        seen.contains("dos"),
        "before: wipefs -n {}:\n{seen}",
        disks[1].path()
    );
    assert!(boot_count(lab, i) >= 1);
    let before = lab.boot_id(i);
    let mark = lab.events().len();
    let out = lab.cli_ok(&[
        "host",
        "reinstall",
        "worker-3",
        "--wait",
        "--timeout",
        "120",
    ]);
    for d in disks {
        assert_eq!(
            wipefs(d),
            "",
            "after the reinstall, {} still labelled",
            d.path()
        );
    }
    let after = lab.boot_id(i);
    assert!(
        after.is_some() && after != before,
        "reinstalled without a new boot"
    );
    assert_eq!(
        boot_count(lab, i),
        1,
        "not a fresh install: the disk was not wiped"
    );
    lab.wait_state("worker-3", LOCKED, BOOT);
    lab.wait_flags(i, true, AUDIT);
    let log = lab.log(i);
    for d in disks {
        assert!(
            log.contains(&format!("wipe-disk: {}: ", d.path())) && log.contains("nothing left"),
            "the agent logs each disk's wipe:\n{log}"
        );
    }
    assert!(
        events_since(lab, mark)
            .iter()
            .any(|e| e == "worker-3 reinstall completed successfully"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(trigger).unwrap(),
        "",
        "a reboot that worked left the failsafe alone"
    );
    eprintln!(
        "[netns/16] case 1: reinstall through the agent wiped both loop devices in {:?}",
        t.elapsed()
    );
}

/// Case 2: the agent's reboot command returns without rebooting: the failsafe writes `b` to the
/// SysRq trigger after its delay, the machine still on the boot the command found.
fn failsafe_reboot(lab: &mut Lab, i: usize, trigger: &Path) {
    let t = Instant::now();
    control(lab, i, "reboot-hang");
    let before = lab.boot_id(i);
    // Followed to its end in the background: the action completes once the machine is back.
    let mut waiting = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ctl_ns,
            STEWARD,
            "host",
            "reboot",
            "worker-3",
        ])
        .args(["--wait", "--timeout", "120"])
        .args(["--url", &format!("http://127.0.0.1:{API_PORT}")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(GUARD, "the failsafe's SysRq reboot", || {
        !std::fs::read_to_string(trigger).unwrap().is_empty()
    });
    let fired = t.elapsed();
    assert_eq!(
        std::fs::read_to_string(trigger).unwrap(),
        "b",
        "SysRq b: reboot"
    );
    assert_eq!(lab.boot_id(i), before, "the machine had not rebooted");
    let log = lab.log(i);
    assert!(log.contains("failsafe armed"), "{log}");
    assert!(log.contains("FAILSAFE REBOOT"), "{log}");
    // What the kernel would have done with that `b`: the machine resets.
    control(lab, i, "reboot-ok");
    control(lab, i, "reset");
    wait_until(BOOT, "worker-3 back from its reset", || {
        let b = lab.boot_id(i);
        b.is_some() && b != before
    });
    let out = wait_child(&mut waiting);
    assert!(
        out.status.success(),
        "the reboot action did not complete: {out:?}"
    );
    lab.wait_state("worker-3", LOCKED, BOOT);
    lab.wait_flags(i, true, AUDIT);
    std::fs::write(trigger, "").unwrap();
    eprintln!("[netns/16] case 2: failsafe SysRq written {fired:?} after the reboot request (delay 1.5 s)");
}

/// The output of a child this test started, once it exited (killed after [`GUARD`]: a guard,
/// not a measure).
fn wait_child(child: &mut std::process::Child) -> std::process::Output {
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > GUARD {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut out = std::process::Output {
        status: child.wait().unwrap(),
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    use std::io::Read;
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_end(&mut out.stdout);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_end(&mut out.stderr);
    }
    out
}

/// Case 3: management and cluster down, pxeboot up: a reboot still reaches the locked host.
fn reboot_over_pxeboot(lab: &mut Lab, i: usize) {
    let t = Instant::now();
    let ns = lab.hosts[i].ns.clone();
    let before = lab.boot_id(i);
    let said = "arrived on the pxeboot network first";
    let said_before = lab.log(i).matches(said).count();
    set_link(&ns, "ethm", false);
    set_link(&ns, "ethc", false);
    // The action ends once the host is seen offline: it then reports on pxeboot alone.
    lab.cli_ok(&["host", "reboot", "worker-3", "--wait", "--timeout", "60"]);
    wait_until(GUARD, "worker-3 rebooted over pxeboot", || {
        let b = lab.boot_id(i);
        b.is_some() && b != before
    });
    let rebooted = t.elapsed();
    assert!(
        lab.log(i).matches(said).count() > said_before,
        "the agent says the reboot came over pxeboot"
    );
    // Reports on pxeboot do not count as the host answering: without management and cluster the
    // host is offline (docs/protocol.md#the-pxeboot-network), not failed: it is locked.
    lab.wait_state("worker-3", ("locked", "disabled", "offline"), GUARD);
    set_link(&ns, "ethm", true);
    set_link(&ns, "ethc", true);
    lab.wait_state("worker-3", LOCKED, BOOT);
    lab.wait_flags(i, true, AUDIT);
    assert!(
        pxeboot_alarm(lab, "worker-3").is_none(),
        "pxeboot was up throughout"
    );
    eprintln!(
        "[netns/16] case 3: rebooted over pxeboot {rebooted:?} after the request, back in {:?}",
        t.elapsed()
    );
}

/// Case 4: an unlocked host's reinstall is refused, and its disks keep their labels.
fn reinstall_refused_when_unlocked(lab: &mut Lab, i: usize, disks: &[LoopDev; 2]) {
    let t = Instant::now();
    lab.cli_ok(&["host", "unlock", "worker-3", "--wait", "--timeout", "120"]);
    lab.wait_state("worker-3", AVAILABLE, BOOT);
    lab.wait_flags(i, false, AUDIT);
    for d in disks {
        d.relabel();
        assert_ne!(wipefs(d), "", "{} labelled again", d.path());
    }
    let before = lab.boot_id(i);
    let o = lab.cli(&["host", "reinstall", "worker-3"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        !o.status.success(),
        "an unlocked host's reinstall was accepted: {said}"
    );
    assert!(said.contains("lock"), "the refusal names the lock: {said}");
    for d in disks {
        assert!(d.contents() == d.image, "{} touched", d.path());
    }
    assert_eq!(lab.boot_id(i), before);
    assert_eq!(
        lab.state("worker-3"),
        ("unlocked".into(), "enabled".into(), "available".into())
    );
    eprintln!(
        "[netns/16] case 4: unlocked, reinstall refused ({}), disks untouched ({:?})",
        said.trim(),
        t.elapsed()
    );
}

/// Case 5: worker-3's pxeboot link down, management and cluster up: 200.003 and nothing else.
fn pxeboot_alarm_raised_and_cleared(lab: &mut Lab, i: usize) {
    let ns = lab.hosts[i].ns.clone();
    let others = |lab: &Lab| -> Vec<String> {
        lab.alarms()
            .into_iter()
            .filter(|a| a.id != "200.003")
            .map(|a| format!("{} {} {}", a.id, a.entity, a.severity))
            .collect()
    };
    let alarms_before = others(lab);
    let boots: Vec<Option<String>> = (0..lab.hosts.len()).map(|h| lab.boot_id(h)).collect();
    let mark = lab.events().len();
    let mut changes = Vec::new();
    let states = |lab: &Lab| -> Vec<(String, String, String)> {
        lab.hosts.iter().map(|h| lab.state(&h.name)).collect()
    };
    let states_before = states(lab);
    let mut sample = |lab: &Lab| {
        let now = states(lab);
        if now != states_before {
            changes.push(format!("states {now:?}, were {states_before:?}"));
        }
        let now = others(lab);
        if now != alarms_before {
            changes.push(format!("alarms {now:?}"));
        }
    };
    let t = Instant::now();
    set_link(&ns, "ethp", false);
    wait_until(GUARD, "alarm 200.003 for worker-3", || {
        sample(lab);
        pxeboot_alarm(lab, "worker-3").is_some()
    });
    let raised = t.elapsed();
    let a = pxeboot_alarm(lab, "worker-3").unwrap();
    assert_eq!(a.severity, "minor", "{a:?}");
    let t = Instant::now();
    set_link(&ns, "ethp", true);
    wait_until(GUARD, "alarm 200.003 cleared", || {
        sample(lab);
        pxeboot_alarm(lab, "worker-3").is_none()
    });
    let cleared = t.elapsed();
    sample(lab);
    assert!(changes.is_empty(), "only the pxeboot alarm: {changes:?}");
    let boots_after: Vec<Option<String>> = (0..lab.hosts.len()).map(|h| lab.boot_id(h)).collect();
    assert_eq!(boots_after, boots, "nobody rebooted");
    let texts = events_since(lab, mark);
    assert!(
        texts
            .iter()
            .any(|e| e == "worker-3 pxeboot network communication failure")
            && texts
                .iter()
                .any(|e| e == "worker-3 pxeboot network communication recovered"),
        "{texts:?}"
    );
    assert!(
        !texts
            .iter()
            .any(|e| e.contains("failed") || e.contains("heartbeat loss")),
        "{texts:?}"
    );
    eprintln!("[netns/16] case 5: 200.003 raised {raised:?} after the pxeboot link went down, cleared {cleared:?} after it came back");
}

/// Case 6: the unlocked worker-3 loses management and cluster: failed, and graceful recovery's
/// reboot (docs/recovery.md) goes over pxeboot, the only way left to a host without a BMC.
fn recovery_reboots_over_pxeboot(lab: &mut Lab, i: usize) {
    let t = Instant::now();
    let ns = lab.hosts[i].ns.clone();
    let before = lab.boot_id(i);
    let said = "arrived on the pxeboot network first";
    let said_before = lab.log(i).matches(said).count();
    let mark = lab.events().len();
    set_link(&ns, "ethm", false);
    set_link(&ns, "ethc", false);
    wait_until(GUARD, "worker-3 rebooted by its recovery", || {
        let b = lab.boot_id(i);
        b.is_some() && b != before
    });
    let rebooted = t.elapsed();
    assert!(
        lab.log(i).matches(said).count() > said_before,
        "the agent says the recovery reboot came over pxeboot"
    );
    assert!(
        events_since(lab, mark)
            .iter()
            .any(|e| e == "worker-3 failed"),
        "failed before its recovery"
    );
    let down = lab.state("worker-3");
    assert!(
        down.0 == "unlocked" && down.1 == "disabled" && down.2 != "available",
        "reports on pxeboot alone do not bring it back: {down:?}"
    );
    set_link(&ns, "ethm", true);
    set_link(&ns, "ethc", true);
    lab.wait_state("worker-3", AVAILABLE, BOOT);
    lab.wait_flags(i, false, AUDIT);
    eprintln!(
        "[netns/16] case 6: management and cluster down, recovery rebooted worker-3 over pxeboot {rebooted:?} after the cut, back in service after {:?} (while cut: {down:?})",
        t.elapsed()
    );
}
