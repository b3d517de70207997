//! Issue 6, point 6: the heartbeat over real UDP between namespaces, with the real controller and
//! the real responders (in each `steward simhost`), at the default period (100 ms; the
//! `--time-scale` only shortens the maintenance timers, not the pulse period or the thresholds).
//!
//! Cases, run one after the other on the lab the lifecycle cases left (every case starts and ends
//! with a clean cluster: every host unlocked-enabled-available, no heartbeat alarm):
//!
//! 1. a host's machine SIGKILLed: loss after exactly 10 missed pulse sequence numbers, within 3 s;
//! 2. 5 % random loss on every worker link, both ways, for 60 s: no loss;
//! 3. the controller SIGSTOPped for 2 s: no loss (the self-lateness guard);
//! 4. the controller pinned to one CPU with busy loops on it for 30 s: no loss;
//! 5. one worker's cluster link down: failed by default, only degraded with
//!    `cluster_degrade_only = true` (and back when the link is);
//! 6. the cluster bridge down for everyone: MNFA entered, nobody rebooted, MNFA left.

use crate::lab::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WORKERS: [usize; 3] = [1, 2, 3];
const CLEAN: Duration = Duration::from_secs(90);

/// A heartbeat loss as the controller logged it (`… heartbeat loss (management network): 10 pulses
/// in a row unanswered, up to pulse 1243 (last answered: 1233)`).
#[derive(Debug)]
struct Loss {
    at_ms: u64,
    host: String,
    network: String,
    misses: u64,
    round: u64,
    last_answered: Option<u64>,
}

fn parse_loss(e: &LogEntry) -> Option<Loss> {
    let rest = e
        .text
        .strip_prefix(&format!("{} heartbeat loss (", e.host))?;
    let (network, rest) = rest.split_once(" network)")?;
    let num_after = |key: &str| -> Option<u64> {
        let i = rest.find(key)? + key.len();
        let digits: String = rest[i..].chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    Some(Loss {
        at_ms: e.at_ms,
        host: e.host.clone(),
        network: network.to_string(),
        misses: num_after(": ")?,
        round: num_after("up to pulse ")?,
        last_answered: num_after("last answered: "),
    })
}

fn losses(events: &[LogEntry]) -> Vec<Loss> {
    events.iter().filter_map(parse_loss).collect()
}

/// Every host unlocked-enabled-available, no heartbeat alarm left, and pulses being answered: at
/// least ten rounds' worth of replies from every host on both networks (a restarted controller shows
/// its hosts available from its store before its heartbeat has heard from any of them).
fn wait_clean(lab: &Lab, what: &str) {
    let names: Vec<String> = lab.hosts.iter().map(|h| h.name.clone()).collect();
    for n in &names {
        lab.wait_state(n, AVAILABLE, CLEAN);
    }
    wait_until(
        CLEAN,
        &format!("no heartbeat or link alarm after {what}"),
        || {
            !lab.alarms()
                .iter()
                .any(|a| a.id == "200.005" || a.id == "200.009" || a.id.starts_with("100.1"))
        },
    );
    let from = lab.heartbeat_replies();
    let want = from + 10 * 2 * names.len() as u64;
    wait_until(CLEAN, &format!("pulses answered after {what}"), || {
        lab.heartbeat_replies() >= want
    });
}

/// What happened to the cluster during a case that must not accuse anyone.
#[derive(Default)]
struct Watch {
    /// Critical heartbeat alarms or failed/degraded hosts seen while sampling.
    seen: Vec<String>,
}

impl Watch {
    /// Sample alarms and states once; anything but a quiet cluster is remembered.
    fn sample(&mut self, lab: &Lab) {
        for a in lab.alarms() {
            if (a.id == "200.005" || a.id == "200.009") && a.severity == "critical" {
                self.seen.push(format!("critical {} on {}", a.id, a.entity));
            }
        }
        for h in &lab.hosts {
            let s = lab.state(&h.name);
            if s.1 == "disabled" || s.2 == "failed" {
                self.seen.push(format!("{} was {s:?}", h.name));
            }
        }
    }

    /// Sample for `d`, once every ~500 ms (each sample is a few CLI calls).
    fn watch_for(&mut self, lab: &Lab, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.sample(lab);
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// No loss logged and no host failed since `mark` (an index into the event list), nothing seen.
fn assert_quiet(lab: &Lab, mark: usize, watch: &Watch, case: &str) {
    let events = lab.events();
    let new = &events[mark.min(events.len())..];
    let lost = losses(new);
    let failed: Vec<&LogEntry> = new
        .iter()
        .filter(|e| e.text == format!("{} failed", e.host))
        .collect();
    assert!(
        lost.is_empty() && failed.is_empty() && watch.seen.is_empty(),
        "{case}: false accusations: losses {lost:?}, failed {failed:?}, seen {:?}",
        watch.seen
    );
}

/// Heartbeat events of each kind in the controller's log (its `heartbeat` tracing lines), for the
/// report: minor and degrade are allowed under packet loss, loss is not.
fn heartbeat_counts(lab: &Lab) -> [usize; 3] {
    let log = lab.controller_log();
    let count = |ev: &str| {
        log.lines()
            .filter(|l| l.contains("heartbeat") && l.contains(&format!("event={ev} ")))
            .count()
    };
    [count("MinorSet"), count("DegradeSet"), count("Loss")]
}

/// Busy loops; killed on drop, also when an assertion fails mid-case.
struct Hogs(Vec<Child>);

impl Drop for Hogs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// iptables rules in the worker namespaces; flushed on drop.
struct LossRules<'a>(&'a Lab);

impl Drop for LossRules<'_> {
    fn drop(&mut self) {
        for i in WORKERS {
            let _ = Command::new("ip")
                .args(["netns", "exec", &self.0.hosts[i].ns, "iptables", "-F"])
                .status();
        }
    }
}

/// Set a link of the switch or of a host up or down (the Drop guard deletes the namespaces, so a
/// failed case leaves nothing behind).
fn set_link(ns: &str, dev: &str, up: bool) {
    ok(&[
        "ip",
        "-n",
        ns,
        "link",
        "set",
        dev,
        if up { "up" } else { "down" },
    ]);
}

pub fn run(lab: &mut Lab) {
    let started = Instant::now();
    // The lifecycle cases leave worker-1 and worker-2 locked: heartbeat watches unlocked hosts.
    for name in ["worker-1", "worker-2"] {
        lab.cli_ok(&["host", "unlock", name, "--wait", "--timeout", "120"]);
    }
    wait_clean(lab, "unlocking every worker");
    eprintln!("[netns/hb] clean after {:?}", started.elapsed());

    kill_a_host(lab);
    controller_stopped_for_2s(lab);
    controller_cpu_hog(lab);
    random_loss_5_percent(lab);
    cluster_link_down_fails_the_host(lab);
    cluster_bridge_down_enters_mnfa(lab);
    cluster_degrade_only(lab);
    let [minor, degrade, loss] = heartbeat_counts(lab);
    eprintln!(
        "[netns/hb] all heartbeat cases passed in {:?} (controller log: {minor} minor, {degrade} degrade, {loss} loss events)",
        started.elapsed()
    );
}

/// Case 1: SIGKILL the simhost of worker-0 (its agent and its pulse responder).
fn kill_a_host(lab: &mut Lab) {
    let mark = lab.events().len();
    let killed_at = unix_ms_now();
    lab.kill_host(1);
    wait_until(Duration::from_secs(10), "worker-0's heartbeat loss", || {
        losses(&lab.events()[mark..])
            .iter()
            .filter(|l| l.host == "worker-0")
            .count()
            == 2
    });
    let lost = losses(&lab.events()[mark..]);
    for l in &lost {
        assert_eq!(l.host, "worker-0", "only the killed host is lost: {lost:?}");
        let last = l
            .last_answered
            .unwrap_or_else(|| panic!("worker-0 answered before it was killed: {l:?}"));
        assert_eq!(l.misses, 10, "loss after 10 misses: {l:?}");
        assert_eq!(
            l.round - last,
            10,
            "exactly 10 pulse sequence numbers missed, none voided: {l:?}"
        );
        let detection = Duration::from_millis(l.at_ms.saturating_sub(killed_at));
        assert!(
            detection <= Duration::from_secs(3),
            "loss within 3 s of the kill, was {detection:?}: {l:?}"
        );
        eprintln!(
            "[netns/hb] case 1: {} network loss {detection:?} after SIGKILL, {} misses (pulses {}..={}, last answered {last})",
            l.network,
            l.misses,
            last + 1,
            l.round
        );
    }
    let networks: Vec<&str> = lost.iter().map(|l| l.network.as_str()).collect();
    assert!(
        networks.contains(&"management") && networks.contains(&"cluster-host"),
        "lost on both networks: {lost:?}"
    );
    lab.wait_state("worker-0", ("unlocked", "disabled", "failed"), BOOT);
    // The machine comes back (new boot); graceful recovery brings it back in service.
    lab.start_host(1);
    wait_clean(lab, "case 1");
}

/// Case 3: the whole controller process stopped for 2 s, then continued.
fn controller_stopped_for_2s(lab: &mut Lab) {
    let mark = lab.events().len();
    let pid = lab.controller_pid();
    signal(pid, libc::SIGSTOP);
    std::thread::sleep(Duration::from_secs(2));
    signal(pid, libc::SIGCONT);
    // Three times what a loss takes to be declared, at the normal period.
    let mut w = Watch::default();
    w.watch_for(lab, Duration::from_secs(3));
    assert_quiet(lab, mark, &w, "controller SIGSTOPped for 2 s");
    eprintln!("[netns/hb] case 3: SIGSTOP 2 s, no loss");
}

/// Case 4: the controller shares one CPU with busy loops for 30 s.
fn controller_cpu_hog(lab: &mut Lab) {
    let mark = lab.events().len();
    let pid = lab.controller_pid().to_string();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = (cpus - 1).to_string();
    // Every thread of the controller on one CPU, then two busy loops on the same CPU: the
    // controller gets at most a third of it and waits behind the loops for its time slices.
    ok(&["taskset", "-a", "-p", "-c", &cpu, &pid]);
    let hogs = Hogs(
        (0..2)
            .map(|_| {
                Command::new("taskset")
                    .args(["-c", &cpu, "sh", "-c", "while :; do :; done"])
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect(),
    );
    let waited_before = run_queue_wait(lab.controller_pid());
    let mut w = Watch::default();
    w.watch_for(lab, Duration::from_secs(30));
    // How long the controller's threads were runnable but waiting for the CPU: shows the loops
    // really competed with it.
    let waited = run_queue_wait(lab.controller_pid()).saturating_sub(waited_before);
    drop(hogs);
    ok(&[
        "taskset",
        "-a",
        "-p",
        "-c",
        &format!("0-{}", cpus - 1),
        &pid,
    ]);
    assert_quiet(lab, mark, &w, "controller sharing its CPU with busy loops");
    eprintln!(
        "[netns/hb] case 4: 30 s on CPU {cpu} with two busy loops (controller threads waited {waited:?} for the CPU), no loss"
    );
}

/// Time all threads of `pid` spent runnable but not running (`/proc/PID/task/*/schedstat`, 2nd
/// field, ns); threads that ended meanwhile are not counted.
fn run_queue_wait(pid: i32) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    let ns: u64 = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(ns)
}

/// Case 2: every worker drops 5 % of what it receives and 5 % of what it sends, for 60 s.
fn random_loss_5_percent(lab: &mut Lab) {
    let mark = lab.events().len();
    let before = heartbeat_counts(lab);
    let rules = LossRules(lab);
    for i in WORKERS {
        let ns = &lab.hosts[i].ns;
        for (chain, dir) in [("INPUT", "-i"), ("OUTPUT", "-o")] {
            ok(&[
                "ip",
                "netns",
                "exec",
                ns,
                "iptables",
                "-A",
                chain,
                dir,
                "eth+",
                "-m",
                "statistic",
                "--mode",
                "random",
                "--probability",
                "0.05",
                "-j",
                "DROP",
            ]);
        }
    }
    let mut w = Watch::default();
    w.watch_for(lab, Duration::from_secs(60));
    let dropped: u64 = WORKERS
        .iter()
        .map(|&i| {
            let o = sh(&[
                "ip",
                "netns",
                "exec",
                &lab.hosts[i].ns,
                "iptables",
                "-L",
                "-v",
                "-n",
                "-x",
            ]);
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| l.contains("DROP") && l.contains("statistic"))
                .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum();
    drop(rules);
    assert!(dropped > 0, "the loss rules dropped nothing");
    assert_quiet(lab, mark, &w, "5 % random loss");
    let after = heartbeat_counts(lab);
    eprintln!(
        "[netns/hb] case 2: 60 s at 5 % loss each way, {dropped} datagrams dropped, {} minor and {} degrade events, no loss",
        after[0] - before[0],
        after[1] - before[1]
    );
    wait_clean(lab, "case 2");
}

/// The link monitor's alarms for worker-2's cluster link (its only port down): the interface
/// alarm critical and the port alarm, well before the heartbeat can call the link lost. Returns
/// how long the cut took to show in the controller's alarm list (CLI polling included).
fn cluster_link_alarm(lab: &Lab, cut: Instant) -> Duration {
    wait_until(
        Duration::from_secs(10),
        "worker-2's cluster link alarm",
        || {
            let alarms = lab.alarms();
            let has = |id: &str, severity: &str| {
                alarms
                    .iter()
                    .any(|a| a.id == id && a.entity == "host=worker-2" && a.severity == severity)
            };
            has("100.111", "critical") && has("100.110", "major")
        },
    );
    cut.elapsed()
}

/// Case 5, default policy: worker-2's cluster link down, management up.
fn cluster_link_down_fails_the_host(lab: &mut Lab) {
    let mark = lab.events().len();
    let ns = lab.hosts[3].ns.clone();
    let cut = Instant::now();
    set_link(&ns, "ethc", false);
    let seen = cluster_link_alarm(lab, cut);
    wait_until(Duration::from_secs(10), "worker-2 failed", || {
        lab.events()[mark..]
            .iter()
            .any(|e| e.text == "worker-2 failed")
    });
    set_link(&ns, "ethc", true);
    let lost = losses(&lab.events()[mark..]);
    assert!(
        lost.iter()
            .all(|l| l.host == "worker-2" && l.network == "cluster-host")
            && !lost.is_empty(),
        "a cluster-host loss of worker-2 only: {lost:?}"
    );
    assert!(
        lost.iter()
            .all(|l| l.misses == 10 && l.last_answered.is_some()),
        "lost after answering, at 10 misses: {lost:?}"
    );
    wait_clean(lab, "case 5 (default)");
    eprintln!(
        "[netns/hb] case 5: cluster link down, link alarm after {seen:?}, worker-2 failed and recovered"
    );
}

/// Case 6: the cluster bridge down: every worker loses the cluster heartbeat at once.
fn cluster_bridge_down_enters_mnfa(lab: &mut Lab) {
    let mark = lab.events().len();
    let boots: Vec<Option<String>> = WORKERS.iter().map(|&i| lab.boot_id(i)).collect();
    let sw = lab.switch.clone();
    set_link(&sw, "brc", false);
    wait_until(Duration::from_secs(10), "MNFA entered", || {
        lab.events()[mark..]
            .iter()
            .any(|e| e.text == "multi-node failure avoidance entered")
    });
    // With the backoff (×4 period) the losses come 4 s after the degrade that entered MNFA; then
    // longer than a failed host takes to be sent its recovery reboot at this time scale.
    let mut w = Watch::default();
    w.watch_for(lab, Duration::from_secs(8));
    let lost = losses(&lab.events()[mark..]);
    assert!(
        !lost.is_empty() && lost.iter().all(|l| l.network == "cluster-host"),
        "cluster-host losses while pooled: {lost:?}"
    );
    // Critical cluster-host alarms are expected here; a disabled or failed host is not.
    let failed: Vec<String> = w
        .seen
        .iter()
        .filter(|s| s.contains(" was "))
        .cloned()
        .collect();
    assert!(failed.is_empty(), "nobody failed while pooled: {failed:?}");
    set_link(&sw, "brc", true);
    wait_until(Duration::from_secs(30), "MNFA left", || {
        lab.events()[mark..]
            .iter()
            .any(|e| e.text.starts_with("multi-node failure avoidance exited"))
    });
    wait_clean(lab, "case 6");
    let after: Vec<Option<String>> = WORKERS.iter().map(|&i| lab.boot_id(i)).collect();
    assert_eq!(after, boots, "nobody was rebooted or reset through MNFA");
    eprintln!(
        "[netns/hb] case 6: cluster bridge down, MNFA entered with {} losses pooled, left, no reboot",
        lost.len()
    );
}

/// Case 5, `cluster_degrade_only = true`: the controller restarted with that policy.
fn cluster_degrade_only(lab: &mut Lab) {
    let defaults = sh(&[STEWARD, "config", "defaults"]);
    let text = String::from_utf8_lossy(&defaults.stdout).replace(
        "cluster_degrade_only = false",
        "cluster_degrade_only = true",
    );
    assert!(text.contains("cluster_degrade_only = true"), "{text}");
    let file = lab.dir.join("degrade-only.toml");
    std::fs::write(&file, text).unwrap();
    lab.stop_controller();
    lab.controller_config = Some(file);
    lab.start_controller();
    wait_clean(lab, "the controller restart");

    let mark = lab.events().len();
    let ns = lab.hosts[3].ns.clone();
    let cut = Instant::now();
    set_link(&ns, "ethc", false);
    let seen = cluster_link_alarm(lab, cut);
    wait_until(Duration::from_secs(10), "worker-2's cluster loss", || {
        !losses(&lab.events()[mark..]).is_empty()
    });
    let lost = losses(&lab.events()[mark..]);
    assert!(
        lost.iter().all(|l| l.host == "worker-2"
            && l.network == "cluster-host"
            && l.misses == 10
            && l.last_answered.is_some()),
        "a cluster-host loss of worker-2, which answered before: {lost:?}"
    );
    lab.wait_state(
        "worker-2",
        ("unlocked", "enabled", "degraded"),
        Duration::from_secs(10),
    );
    // Degraded it stays: never failed while the link is down.
    let mut w = Watch::default();
    w.watch_for(lab, Duration::from_secs(3));
    let failed: Vec<String> = w
        .seen
        .iter()
        .filter(|s| s.contains("worker-2 was"))
        .cloned()
        .collect();
    assert!(failed.is_empty(), "degraded only: {failed:?}");
    assert_eq!(
        lab.state("worker-2"),
        ("unlocked".into(), "enabled".into(), "degraded".into())
    );
    set_link(&ns, "ethc", true);
    wait_clean(lab, "case 5 (cluster_degrade_only)");
    assert!(
        !lab.events()[mark..]
            .iter()
            .any(|e| e.text == "worker-2 failed"),
        "never failed"
    );
    eprintln!(
        "[netns/hb] case 5: cluster_degrade_only, link alarm after {seen:?}, worker-2 degraded and back"
    );
}
