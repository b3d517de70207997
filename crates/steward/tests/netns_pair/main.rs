//! The controller pair in the network-namespace tier (issue 14, docs/controller-pair.md): a real
//! 3-member etcd cluster, two `steward controller --store etcd://…` processes (controller-0 and
//! controller-1) and four machines (`steward simhost`: both controllers' hosts and two workers)
//! whose agents know both controllers, each in its own namespace; the layout is in `pair_lab.rs`.
//! Driven through the real `steward` CLI from an operator's namespace.
//!
//! Cases, one after the other on the same lab (each ends with every action ended and nobody
//! failed; "failed" is judged from the machines' own boot records and from the customer log and
//! alarms, never from a controller's view of itself):
//!
//! 1. swact there and back with a lock and an unlock of the workers in flight: both end;
//! 2. SIGKILL of the active mid-unlock: the standby takes over and the unlock ends;
//! 3. the active cut from etcd (its store link down) mid-unlock: no node command from it after its
//!    acting deadline (counted on the nodes' side), the other takes over and the unlock ends;
//! 4. one etcd member lost (quorum kept): no role changes and an action runs to its end; a second
//!    one lost mid-unlock (no quorum): no controller acts; both back: one acts and the unlock ends.
//!
//! Timings (swact, takeover) are printed, never asserted; the waits are generous bounds on the
//! rig. `STEWARD_NETNS_BIN` runs another steward binary (the release build, for BENCHMARKS.md).
//!
//! Needs root (it creates namespaces); fails loudly otherwise, as the `netns` tier does. Separate
//! from that tier's binary so its single-controller cases are untouched; namespaces are named
//! `stw<pid>-…`, so either tier's sweep removes what a killed run left.

#[allow(dead_code)]
#[path = "../netns/lab.rs"]
mod lab;
mod pair_lab;

use lab::{ok, sweep_stale_namespaces, unix_ms_now, wait_until};
use pair_lab::*;
use std::time::{Duration, Instant};

const LOCKED: (&str, &str, &str) = ("locked", "disabled", "online");
const AVAILABLE: (&str, &str, &str) = ("unlocked", "enabled", "available");
const CONTROLLER_0: usize = 0;
const CONTROLLER_1: usize = 1;
const WORKER_0: usize = 2;
const WORKER_1: usize = 3;
/// Past the acting deadline bound, for an effect decided just before it to have left (a guard on
/// the rig's scheduling, not a measurement).
const IN_FLIGHT: Duration = Duration::from_millis(500);

#[test]
fn netns_controller_pair() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let euid = uid_line.split_whitespace().nth(2).unwrap();
    assert_eq!(
        euid, "0",
        "the namespace tier needs root: run as root or `sudo -E cargo test -p steward --test netns_pair`"
    );
    let started = Instant::now();
    sweep_stale_namespaces();
    let mut lab = PairLab::new();
    for i in 0..lab.members.len() {
        lab.start_member(i);
    }
    lab.wait_etcd_healthy();
    lab.start_ctl(CONTROLLER_0);
    wait_until(BOOT, "controller-0 active", || {
        lab.says_active(CONTROLLER_0)
    });
    lab.share_secrets();
    lab.start_ctl(CONTROLLER_1);
    wait_until(BOOT, "controller-1 standby of controller-0", || {
        lab.standby_of(CONTROLLER_1, CONTROLLER_0)
    });

    // New installs: added locked, the machines start, then every host is unlocked.
    for i in 0..lab.machines.len() {
        let m = &lab.machines[i];
        let (name, personality, ip) = (m.name.clone(), m.personality, m.mgmt_ip.clone());
        lab.cli(&[
            "host",
            "add",
            &name,
            "--personality",
            personality,
            "--mgmt-ip",
            &ip,
        ]);
        lab.start_machine(i);
    }
    for name in lab.machine_names() {
        lab.wait_state(&name, LOCKED);
    }
    for name in lab.machine_names() {
        lab.cli(&["host", "unlock", &name]);
    }
    for name in lab.machine_names() {
        lab.wait_state(&name, AVAILABLE);
    }
    eprintln!("[netns-pair] cluster up after {:?}", started.elapsed());

    let swacts = swact_under_load(&mut lab);
    let takeover = sigkill_mid_unlock(&mut lab);
    let (step_down, partition_takeover) = partitioned_from_etcd(&mut lab);
    let quorum_back = etcd_member_and_quorum_loss(&mut lab);
    eprintln!(
        "[netns-pair] figures (lease TTL {TTL:?}, 3 etcd members, binary {}): swact {swacts:?}; \
         takeover after SIGKILL {takeover:?}; cut from etcd: stepped down {step_down:?}, taken over \
         {partition_takeover:?} after the cut; active again {quorum_back:?} after quorum returned",
        lab.bin
    );
    eprintln!("[netns-pair] all cases passed in {:?}", started.elapsed());
}

/// Where the case started in the customer log, and every machine's boot count then.
struct Mark {
    events: usize,
    boots: Vec<u64>,
}

fn mark(lab: &PairLab) -> Mark {
    Mark {
        events: lab.event_texts().len(),
        boots: lab.all_boots(),
    }
}

/// Since `m`: no failure or heartbeat loss logged, no failure or heartbeat alarm raised, and no
/// machine rebooted, reset or power-cycled (its own boot count) except the ones the case unlocked.
/// Those reboot exactly once for the unlock, even when the new active resumed it after the old one
/// had rebooted the host (docs/lifecycle.md#action-queue): returns their reboot counts.
fn assert_no_false_failure(lab: &PairLab, m: &Mark, unlocked: &[usize], case: &str) -> Vec<u64> {
    let events = lab.event_texts();
    let bad: Vec<&String> = events[m.events.min(events.len())..]
        .iter()
        .filter(|t| t.contains("failed") || t.contains("heartbeat loss"))
        .collect();
    assert!(bad.is_empty(), "{case}: logged {bad:?}");
    let alarms: Vec<String> = lab
        .alarm_list()
        .into_iter()
        .filter(|a| {
            ["200.004", "200.005", "200.009"]
                .iter()
                .any(|id| a.starts_with(id))
        })
        .collect();
    assert!(alarms.is_empty(), "{case}: alarms {alarms:?}");
    let boots = lab.all_boots();
    let mut reboots = Vec::new();
    for (i, (before, now)) in m.boots.iter().zip(&boots).enumerate() {
        let name = &lab.machines[i].name;
        let n = now - before;
        if unlocked.contains(&i) {
            // Once: a controller that resumes the unlock after the other one's reboot does not
            // reboot it again (docs/lifecycle.md#action-queue).
            assert_eq!(n, 1, "{case}: {name} booted {n} times for one unlock");
            reboots.push(n);
        } else {
            assert_eq!(n, 0, "{case}: {name} booted {n} times, nobody asked it to");
        }
    }
    reboots
}

/// The moment `f` first holds, polled every 20 ms from `from`; `None` past `within`.
fn first_time(from: Instant, within: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    while from.elapsed() < within {
        if f() {
            return Some(from.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn sleep_until(t: Instant) {
    if let Some(d) = t.checked_duration_since(Instant::now()) {
        std::thread::sleep(d);
    }
}

/// Case 1: `host swact` from controller-0 to controller-1 and back, each time with an unlock of
/// one worker and a lock of the other sent just before. Returns both swact times (the CLI's
/// swact → the other controller answers writes as active).
fn swact_under_load(lab: &mut PairLab) -> Vec<Duration> {
    lab.cli(&["host", "lock", "worker-1", "--wait", "--timeout", "60"]);
    let mut times = Vec::new();
    for (from, to, unlocked, locked) in [
        (CONTROLLER_0, CONTROLLER_1, WORKER_1, WORKER_0),
        (CONTROLLER_1, CONTROLLER_0, WORKER_0, WORKER_1),
    ] {
        let m = mark(lab);
        let unlock = lab.machines[unlocked].name.clone();
        let lock = lab.machines[locked].name.clone();
        lab.cli(&["host", "unlock", &unlock]);
        lab.cli(&["host", "lock", &lock]);
        let in_flight = [
            lab.action_running(&unlock, "unlock"),
            lab.action_running(&lock, "lock"),
        ];
        let swact = Instant::now();
        lab.cli(&["host", "swact", &format!("controller-{from}")]);
        let took = first_time(swact, BOOT, || lab.answers_writes(to))
            .unwrap_or_else(|| panic!("controller-{to} never answered writes after the swact"));
        wait_until(BOOT, &format!("controller-{from} standby"), || {
            lab.standby_of(from, to)
        });
        assert!(
            in_flight[0],
            "the unlock of {unlock} had ended before the swact"
        );
        lab.wait_state(&unlock, AVAILABLE);
        lab.wait_state(&lock, LOCKED);
        let reboots = assert_no_false_failure(lab, &m, &[unlocked], "swact under load");
        eprintln!(
            "[netns-pair] case 1: swact controller-{from} → controller-{to} in {took:?} \
             (in flight at the swact: unlock {unlock} {}, lock {lock} {}); both ended, {unlock} \
             booted {reboots:?} time(s) for its unlock",
            in_flight[0], in_flight[1]
        );
        times.push(took);
    }
    times
}

/// Case 2: the active (controller-0) SIGKILLed while it unlocks worker-1.
fn sigkill_mid_unlock(lab: &mut PairLab) -> Duration {
    assert!(lab.says_active(CONTROLLER_0));
    let m = mark(lab);
    lab.cli(&["host", "unlock", "worker-1"]);
    wait_until(BOOT, "worker-1's unlock runs", || {
        lab.action_running("worker-1", "unlock")
    });
    let killed = Instant::now();
    lab.kill_ctl(CONTROLLER_0);
    let took = first_time(killed, BOOT, || lab.answers_writes(CONTROLLER_1))
        .expect("controller-1 never took over");
    lab.wait_state("worker-1", AVAILABLE);
    let reboots = assert_no_false_failure(lab, &m, &[WORKER_1], "SIGKILL of the active mid-unlock");
    // controller-0 returns, as standby.
    lab.start_ctl(CONTROLLER_0);
    wait_until(BOOT, "controller-0 standby of controller-1", || {
        lab.standby_of(CONTROLLER_0, CONTROLLER_1)
    });
    eprintln!(
        "[netns-pair] case 2: SIGKILL of the active mid-unlock, controller-1 answers writes {took:?} \
         later; the unlock ended (worker-1 booted {reboots:?} time(s)), nobody failed, no other \
         machine rebooted"
    );
    took
}

/// Case 3: the active (controller-1) cut from etcd while it unlocks worker-0: it stops acting at
/// its acting deadline (no node command reaches any machine from it after that), controller-0
/// takes over and ends the unlock. Returns (step-down, takeover) after the cut.
fn partitioned_from_etcd(lab: &mut PairLab) -> (Duration, Duration) {
    assert!(lab.says_active(CONTROLLER_1));
    lab.cli(&["host", "lock", "worker-0", "--wait", "--timeout", "60"]);
    let m = mark(lab);
    let before_unlock = lab.node_datagrams_from(CONTROLLER_1);
    lab.cli(&["host", "unlock", "worker-0"]);
    wait_until(BOOT, "worker-0's unlock runs", || {
        lab.action_running("worker-0", "unlock")
    });
    let store_link = lab.ctl[CONTROLLER_1].ns.clone();
    ok(&["ip", "-n", &store_link, "link", "set", "eths", "down"]);
    let cut = Instant::now();
    let cut_ms = unix_ms_now();
    let at_cut = lab.node_datagrams_from(CONTROLLER_1);
    let from_new_before = lab.node_datagrams_from(CONTROLLER_0);
    assert!(
        at_cut > before_unlock,
        "controller-1 sent the unlock's node commands before the cut"
    );
    // Its last acknowledged keepalive was sent before the cut: its acting deadline falls at most
    // TTL − margin after it.
    let fence = cut + TTL - MARGIN + IN_FLIGHT;
    let mut takeover = None;
    let mut at_deadline = None;
    while takeover.is_none() || at_deadline.is_none() {
        assert!(cut.elapsed() < BOOT, "no takeover after the cut");
        if takeover.is_none() && lab.answers_writes(CONTROLLER_0) {
            takeover = Some(cut.elapsed());
        }
        if at_deadline.is_none() && Instant::now() >= fence {
            at_deadline = Some(lab.node_datagrams_from(CONTROLLER_1));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (takeover, at_deadline) = (takeover.unwrap(), at_deadline.unwrap());
    // The safety check is on the nodes' side (below): the acting gate is asked at every send
    // against the deadline on the controller's own clock. The step-down itself (the controller
    // stopped, logged) can come later than the deadline: it is reported, not asserted.
    let mut gate_closed = None;
    wait_until(BOOT, "controller-1 logs its step-down", || {
        gate_closed = lab
            .step_down_logged_at(CONTROLLER_1)
            .filter(|&t| t + 1000 >= cut_ms);
        gate_closed.is_some()
    });
    let gate_closed = gate_closed.unwrap();
    let step_down = Duration::from_millis(gate_closed.saturating_sub(cut_ms));
    wait_until(BOOT, "controller-1 no longer says active", || {
        !lab.says_active(CONTROLLER_1)
    });
    lab.wait_state("worker-0", AVAILABLE);
    let from_new = lab.node_datagrams_from(CONTROLLER_0);
    let after = lab.node_datagrams_from(CONTROLLER_1);
    assert_eq!(
        after,
        at_deadline,
        "node datagrams from controller-1 after its acting deadline ({} more, {:?} after the cut)",
        after - at_deadline,
        cut.elapsed()
    );
    assert!(
        from_new > from_new_before,
        "controller-0 ended the unlock with node commands of its own"
    );
    ok(&["ip", "-n", &store_link, "link", "set", "eths", "up"]);
    wait_until(BOOT, "controller-1 standby of controller-0", || {
        lab.standby_of(CONTROLLER_1, CONTROLLER_0)
    });
    let reboots = assert_no_false_failure(lab, &m, &[WORKER_0], "active cut from etcd");
    eprintln!(
        "[netns-pair] case 3: controller-1 cut from etcd mid-unlock: logged its step-down {step_down:?} \
         after the cut, controller-0 answered writes {takeover:?} after it; {} node datagrams from \
         controller-1 before its deadline, none after; the unlock ended (worker-0 booted \
         {reboots:?} time(s))",
        at_deadline - before_unlock
    );
    (step_down, takeover)
}

/// Case 4: an etcd member lost (a follower; quorum kept: nothing changes), then a second one
/// mid-unlock (no quorum: nobody acts), then both back (one controller acts again and the unlock ends). Returns how long
/// after quorum came back a controller answered writes.
fn etcd_member_and_quorum_loss(lab: &mut PairLab) -> Duration {
    assert!(lab.says_active(CONTROLLER_0));
    let m = mark(lab);
    let roles = [lab.roles(0).len(), lab.roles(1).len()];
    // A follower: losing etcd's leader makes a write in flight fail with "leader changed"; the
    // active's controller then stops and its runtime resigns — a role change
    // (docs/controller-pair.md, "Found by the namespace tier").
    let leader = lab.etcd_leader().expect("etcd names its leader");
    let first = (leader + 1) % lab.members.len();
    let second = (leader + 2) % lab.members.len();
    lab.kill_member(first);
    let lost_one = Instant::now();
    lab.cli(&["host", "lock", "worker-1", "--wait", "--timeout", "60"]);
    lab.wait_state("worker-1", LOCKED);
    sleep_until(lost_one + TTL * 3);
    assert_eq!(
        [lab.roles(0).len(), lab.roles(1).len()],
        roles,
        "a role changed with one etcd member of three lost: {:?} / {:?}",
        lab.roles(0),
        lab.roles(1)
    );
    assert!(lab.says_active(CONTROLLER_0));
    eprintln!("[netns-pair] case 4: one etcd member (a follower) lost for {TTL:?} × 3: no role change, a lock ran to its end");

    lab.cli(&["host", "unlock", "worker-1"]);
    wait_until(BOOT, "worker-1's unlock runs", || {
        lab.action_running("worker-1", "unlock")
    });
    lab.kill_member(second);
    let no_quorum = Instant::now();
    let no_quorum_ms = unix_ms_now();
    // Its acting gate closes when it logs the step-down; its role line follows once its
    // controller has stopped.
    let mut gate_closed = None;
    wait_until(BOOT, "controller-0 logs its step-down", || {
        gate_closed = lab
            .step_down_logged_at(CONTROLLER_0)
            .filter(|&t| t + 1000 >= no_quorum_ms);
        gate_closed.is_some()
    });
    let step_down = Duration::from_millis(gate_closed.unwrap().saturating_sub(no_quorum_ms));
    wait_until(BOOT, "controller-0 no longer says active", || {
        !lab.says_active(CONTROLLER_0)
    });
    sleep_until((no_quorum + TTL - MARGIN + IN_FLIGHT).max(Instant::now()));
    let quiet_from = [
        lab.node_datagrams_from(CONTROLLER_0),
        lab.node_datagrams_from(CONTROLLER_1),
    ];
    let roles = [lab.roles(0).len(), lab.roles(1).len()];
    // Two TTLs more without quorum: nobody takes the role, no node command from either.
    std::thread::sleep(TTL * 2);
    let active_lines = |i: usize| {
        lab.roles(i)[roles[i]..]
            .iter()
            .filter(|r| r.starts_with("role: active"))
            .count()
    };
    assert_eq!(
        (active_lines(0), active_lines(1)),
        (0, 0),
        "a controller became active without quorum"
    );
    assert_eq!(
        [
            lab.node_datagrams_from(CONTROLLER_0),
            lab.node_datagrams_from(CONTROLLER_1)
        ],
        quiet_from,
        "node datagrams from a controller without quorum"
    );
    lab.start_member(second);
    lab.start_member(first);
    let back = Instant::now();
    let took = first_time(back, BOOT, || {
        lab.answers_writes(CONTROLLER_0) || lab.answers_writes(CONTROLLER_1)
    })
    .expect("no controller active after quorum returned");
    lab.wait_etcd_healthy();
    lab.wait_state("worker-1", AVAILABLE);
    let reboots = assert_no_false_failure(lab, &m, &[WORKER_1], "etcd member and quorum loss");
    eprintln!(
        "[netns-pair] case 4: quorum lost mid-unlock: controller-0 stepped down {step_down:?} later, \
         nobody acted for {:?}; quorum back: controller-{} answered writes {took:?} later; the \
         unlock ended (worker-1 booted {reboots:?} time(s))",
        TTL * 2,
        lab.active().map_or("?".into(), |a| a.to_string())
    );
    took
}
