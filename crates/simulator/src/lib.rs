//! # steward-simulator — deterministic simulation of the maintenance core
//!
//! Runs the **real** [`steward_maintenance::Maintenance`] core, the real write-ahead step of the
//! controller and the **real** node agent ([`steward_agent::Agent`]) on every host against a
//! simulated cluster, in the
//! style of TigerBeetle's VOPR: one seed fixes every random choice, time is simulated, faults are
//! injected, and invariants are checked after every step. A failing seed prints a one-line replay
//! command.
//!
//! ## World model
//!
//! - **Clock** ([`world`]): simulated milliseconds. The world jumps to the earlier of the core's
//!   `poll_timeout()` and the head of its own event queue (a binary heap ordered by time, then by
//!   insertion sequence, so that ties replay identically). After every core call all effects are drained,
//!   checked, and turned into scheduled events.
//! - **Hosts** ([`node`]): each simulated machine is powered, booting, up or hung. A boot takes a
//!   random time and gets a new random boot id; uptime counts from the boot. While up, the machine
//!   runs the real [`steward_agent::Agent`], started on its **simulated disk** ([`node::SimDisk`]):
//!   the volatile lock flag (a tmpfs: gone at every power cycle), the backup flag, the admin state
//!   the controller last confirmed, the pushed settings and the highest controller epoch accepted
//!   (kept across boots; all gone with a wipe, which makes the next boot a fresh install). The world
//!   carries out the agent's effects as the node runtime does: `Send` crosses the host's link and
//!   reaches the core through the controller's own message translation; `SetFlag` /
//!   `PersistLockState` write the disk; `RunScripts` finishes after simulated time (go-enabled runs
//!   fail as injected); `Reboot` / `WipeDisk` reboot the machine. The agent's timers run at its
//!   `poll_timeout()` through the world's event heap (one pending timer per agent). Core commands
//!   reach the agent as verified commands of the controller's current session; a frame of an older
//!   controller epoch than one already accepted is dropped, as the real verifier does.
//! - **Controller and store** ([`store`]): every core step goes through
//!   [`steward_store::writeahead`] into the real in-memory store, wrapped with fault injection.
//!   [`Fault::Storage`] arms a crash before the commit, a crash after it (before any effect), or a
//!   failed write (the real actor stops on one; here it restarts); [`Fault::ControllerCrash`] kills
//!   the process between steps. A restart takes the store's next epoch, rebuilds the core with
//!   `Maintenance::restore` from what is durable (hosts, alarms, next action id), speaks to the
//!   agents in a new session (command ids from 1 again), and loses what was in flight: node
//!   messages, BMC answers and swact results addressed to the dead process; the heartbeat service
//!   restarts with nothing monitored and every BMC is probed again. An operator request whose step
//!   was struck gets no answer ([`world::RequestRecord::answered`]).
//! - **BMCs**: most hosts have one (Redfish, address `sim`). Operations take 1–11 s (scaled); power
//!   operations act on the simulated host and report the power read back; an unreachable BMC fails every
//!   operation and its access changes reach the core as `BmcAccess` events. Each has a virtual CD and a
//!   one-time boot override ([`vmedia`]); a machine powered on with both set boots the installer, as
//!   does one netbooted once or wiped by its agent, and comes back as a fresh install
//!   ([`node::SimNode::installs`] counts them).
//! - **Reinstall**: random seeds give a share of BMC hosts an install image (virtual media; the other
//!   BMC hosts reinstall by PXE, hosts without a BMC through the agent) and aim most reinstall requests
//!   at locked hosts; `FaultWeights::reinstall_fault` arms, at a host being reinstalled when there is
//!   one, an insert never mounted, a boot override read back differently, a refused eject or power-on,
//!   an unreachable BMC or an installer that never boots.
//! - **Networks** ([`network`]): one link per host per network with loss, delay, duplication and a cut
//!   switch; alive reports, acks, test results and commands all cross them. Hosts with a pxeboot
//!   address (a share of the seed tier's, `Scenario::pxeboot`) have a third link: their agent's alive
//!   reports and the core's reboots cross it too (docs/protocol.md#the-pxeboot-network), so a reboot
//!   reaches a host whose management link is cut; [`Fault::Pxeboot`] cuts it alone.
//! - **Heartbeat**, two models. By default ([`heartbeat`]) at event level, not per pulse: a monitored host
//!   that becomes unreachable on a network yields minor (management only) at +400 ms, degrade at +600 ms
//!   and loss at +1000 ms; once reachable again, what was raised clears after one second of good pulses.
//!   Cheap, so the seed tier uses it. **Pulse level** ([`pulse`], [`WorldConfig::pulses`],
//!   `Scenario::pulse_heartbeat()`, `steward-sim --pulses`): the real [`steward_heartbeat::Monitor`]
//!   ticks at its own deadlines, every 100 ms pulse and every answer crosses the host's link on that
//!   network (loss, delay, duplication, cut), a running node answers each pulse, the Monitor's events
//!   go to the core and the core's `HeartbeatControl` effects (start, stop, MNFA backoff ×4, recover)
//!   drive the Monitor. This is what shows that random loss, delay or a late controller accuse no one.
//!   About half the speed of the event model at 1,000 hosts (BENCHMARKS.md).
//! - **Faults** ([`Fault`]): crash (power loss), hang, boot failure, go-enabled failures, partitions of
//!   one host or of many (to drive multi-node failure avoidance), lossy links, unreachable BMCs,
//!   critical sensor readings (a hardware monitor's reset or power-cycle request), a
//!   lock flag file created or removed behind the agent's back ([`Fault::TamperFlag`]), controller
//!   crashes and storage faults, heal. The seed runner also restarts the controller every
//!   `SimConfig::restart_interval` on average (100–400 s in four runs of five; crash between
//!   steps, crash before or after the commit, failed write); `STEWARD_SIM_RESTARTS=0` turns that
//!   off, to tell a restart bug from another one. With restarts on, the seeds found four core bugs
//!   (each now has a core test in `crates/maintenance/tests/recovery.rs`).
//!   `tests/restarts.rs` runs restarts and every storage fault in scripted scenarios that pass.
//!   The active controller (the host the core runs on) is never faulted, but its loop can be stalled
//!   ([`Fault::ControllerStall`]: no heartbeat ticks, replies, core events or timers for a while, then
//!   everything queued in arrival order, the heartbeat tick, the overdue timers) to exercise the
//!   Monitor's lateness guard.
//! - **Controller pair** ([`pair`], [`lease`]; docs/controller-pair.md#what-the-simulator-models): in
//!   about a third of the seeds with two controllers ([`SimConfig::pair`]; `STEWARD_SIM_PAIR=0` turns
//!   it off), controller-0 and controller-1 run as an active/standby pair over a simulated lease server,
//!   each with a `steward_leadership::LeaseClock` on its own skewed, rate-off clock; the world's core
//!   is the active's. An active whose deadline has passed has its step dropped and steps down; the
//!   standby takes over through the restart path (store, new epoch) on its own host. Pauses, crashes,
//!   lease-link partitions and delays, swacts ([`PairFault`]); random restarts are left out of pair
//!   seeds (the pair's crashes take their place), and so are host faults and operator requests on the
//!   two controllers.
//!
//! ## Invariants ([`Invariant`])
//!
//! The invariants judge from the simulator's own ground truth ([`truth`]): what its operator had
//! accepted, what it injected, what its nodes said and what crossed its wire. They never ask the
//! core whether a host is locked or MNFA is active, and they check the `Cause` the core puts on an
//! effect instead of trusting it. What each reads:
//!
//! - `no_auto_destruction_of_locked_or_pooled`: no reboot, wipe, power-off or reset labelled automatic
//!   recovery against a host whose last accepted lock, force-lock or unlock was a lock (a lock the
//!   core then failed or that an action other than lock/unlock superseded leaves the host as it was).
//! - `multi_node_outage_spared`: from the heartbeat events the simulator handed the core it counts,
//!   per network, the unlocked hosts (not the active controller) out with minor, degrade or loss not
//!   yet cleared, as `mnfa_threshold` defines it in the core's configuration; while the count holds at
//!   least the threshold, no automatic destructive effect against any host that was in service when
//!   its outage began (heartbeat monitored for a full soak, nothing lost or destroyed since) and was
//!   not declared lost before the outage reached the threshold; after the outage ends, none of them
//!   that was back on all its networks is reset or rebooted unless the simulator troubled it again.
//! - `cause_matches_ground_truth`: `Operator { action }` names a request the simulator's operator
//!   had accepted for that host, of a kind that may do that (unlock, force-lock, reboot: reboot or
//!   BMC reset; reset; power-off; reinstall: wipe, reboot, reset or power-off; delete: wipe);
//!   `CriticalSensor` follows a critical sensor reading ([`Fault::Sensor`]) handed to the core for that
//!   host since it was last in service; `AutoRecovery` targets a host the simulator gave trouble
//!   (a fault, a dropped datagram, a sensor reading, an operator request, going down) since it was
//!   last in service.
//! - `auto_recovery_threshold`: when the core parks a host for go-enabled failures (auto-recovery
//!   disabled), the simulated node must have failed more tests than `ar_goenable_threshold` since
//!   the counts last restarted (operator lock or unlock, or back in service): tests it reported
//!   failed (or failed results handed to the core, if more: a duplicate counts again) plus tests
//!   it never answered within the go-enabled timeout. Parking one failure early is caught; parking
//!   late is not judged (a test the core asked for during graceful recovery does not count toward
//!   the threshold, and nothing on the wire tells the two apart).
//! - `lock_reaches_node`: a lock or force-lock that ends completed in the journal has put a
//!   `Locked` command on the simulated wire to its host since the operator's request.
//! - `active_controller_self_protection`: nothing destructive against the host the simulator runs the
//!   core on (`WorldConfig::own_host`) except an operator's lazy reboot.
//! - `actions_journaled_and_ended`: every request the simulator's operator had accepted is journaled as
//!   accepted and ends exactly once (checked at the end); no end without acceptance, no double end.
//! - `legal_steady_state_after_quiescence`: after healing and settling every host has no action and
//!   rests in a legal steady state (`dispatch::is_legal_steady_state`).
//! - `alarm_raised_once_cleared_once`: no raise of an alarm already active at the same severity, no
//!   clear of an inactive one (both from the alarm effects); after settling no 200.004 or heartbeat
//!   alarm on an available host, 200.001 active exactly on the hosts the operator last locked,
//!   nothing left for deleted hosts, and the core's alarm book matches the effects.
//! - `admin_state_only_by_operator`: the administrative state only moves to what an accepted lock,
//!   force-lock or unlock asked for, and after settling it is what the operator last asked for.
//! - `deadlines_make_progress`: after `handle_timeout(t)` the core never asks for `t` (or earlier)
//!   again forever; a real driver would spin.
//! - `heartbeat_models_agree` (`tests/heartbeat_models.rs`): the event-level and the pulse-level
//!   heartbeat, given the same fault script over clean links, hand the core the same losses per host
//!   and network.
//!
//! Node side ([`checks::node_side`]), judged from the simulated disks and from the commands that
//! crossed the wire:
//!
//! - `lock_flags_follow_confirmed_state`: one flag-audit period after the last LOCKED/UNLOCKED the
//!   node accepted (or a tampering, or an agent start), both flag files match that admin state.
//! - `locked_host_boots_locked`: a node whose last accepted state is locked has its volatile flag
//!   as soon as its agent is up again, after a reboot or a power loss.
//! - `command_runs_once_per_session`: a reboot or wipe is carried out at most once per (controller
//!   session, command id), counting the machine's real reboots.
//!
//! Restarts ([`checks::restart`]), judged from the durable store:
//!
//! - `no_acknowledged_change_lost`: a request the controller answered is durably journaled, at
//!   every restart and at the end.
//! - `actions_end_across_restarts`: every durably accepted action durably ends.
//! - (within `cause_matches_ground_truth`) no destructive effect in the name of an operator action
//!   whose end the journal already holds: a restarted controller never repeats a finished one.
//! - `durable_state_matches_core`: after settling the store's alarms and host records are the
//!   core's (the alarms themselves are held to the host states by the quiescence checks).
//!
//! Reinstall ([`checks::reinstall`]), judged from the simulated machines and BMCs (fresh installs
//! booted, power, the virtual CD, what the BMC carried out) and the operator's record of the lock:
//!
//! - `reinstall_only_locked_hosts`: nothing destructive in a reinstall's name against a host the
//!   operator did not leave locked.
//! - `reinstall_ends_in_time`: every accepted reinstall ends within the sum of its stages' timeouts.
//! - `reinstall_outcome_matches_machine`: completed ⇒ a fresh install booted and the CD is empty;
//!   failed ⇒ a critical 200.022 with a reason, still locked, powered off, ejected (unless the reason
//!   names the failed power-off or eject).
//!
//! Pxeboot ([`checks::pxeboot`]), judged from what crossed the pxeboot links:
//!
//! - `pxeboot_alarm_follows_reports`: 200.003 never raised within `miss_threshold - 1` checks of a
//!   pxeboot report; raised after a longer outage of a host otherwise up; cleared once
//!   reports resume.
//!
//! Controller pair ([`pair`]), judged from the lease server's record of who held the lease when:
//!
//! - `one_active_at_a_time`: every step that acts (node command, BMC operation or store write) comes
//!   from the lease server's live holder at that simulated instant.
//! - `no_false_failure_across_takeover`: within 30 s of a takeover, no failure or heartbeat alarm and
//!   no automatic reboot or reset of a host that was in service at the takeover and untroubled since.
//! - The restart checks above hold across takeovers (a takeover goes through the restart path).
//!
//! ## Deliberate bugs (mutations)
//!
//! `STEWARD_MUTATION=NAME` at build time compiles one planted bug into the core alone (its
//! `build.rs` emits `--cfg mutation="NAME"`; not a cargo feature, so `--all-features` cannot ship
//! one). The two `pair-…` names plant theirs in the simulator's pair driver instead, which stands in
//! for the pair runtime and reads the name from `steward_maintenance::MUTATION`. `tests/mutations.rs` names, for each, the invariant that must catch it and searches the seed
//! tier's random runs for the first seed that does; `scripts/test-all` runs every one.
//!
//! ## Running and replaying
//!
//! ```text
//! cargo test --release -p steward-simulator --test seeds            # the seed tier (1,000 small + 20 large)
//! STEWARD_SIM_SEED=1234 STEWARD_SIM_HOSTS=20 cargo test -p steward-simulator --test seeds replay -- --nocapture
//! cargo test -p steward-simulator --test scenarios                  # scripted scenarios
//! cargo test -p steward-simulator --test pulses                     # heartbeat scenarios, 1,000 hosts, pulse level
//! cargo run --release -p steward-simulator --bin steward-sim -- --pulses --hosts 1000 --seed 1000000
//! STEWARD_MUTATION=never-enter-mnfa cargo test -p steward-simulator --release --test mutations
//! cargo test -p steward-simulator --test heartbeat_models           # both heartbeat models agree
//! cargo test -p steward-simulator --test processes                  # the process monitor policy, random deaths
//! cargo test -p steward-simulator --test pair                       # controller pair: random runs, scripted takeovers
//! STEWARD_SIM_SEED=7 STEWARD_SIM_HOSTS=9 cargo test -p steward-simulator --test pair replay -- --nocapture
//! ```
//!
//! The tests: `tests/seeds.rs` (the tier), `tests/scenarios.rs`, `tests/pulses.rs`,
//! `tests/agents.rs` (the real agent: tampering, power loss, the AIO subfunction),
//! `tests/restarts.rs` (each storage fault, a restart in the middle of an action, and an agent
//! without the controller-session reset caught by the node-side invariants), `tests/reinstall.rs`
//! (every method and BMC fault), `tests/pxeboot.rs` (200.003 and reboots over pxeboot).
//!
//! Environment: `STEWARD_SIM_RESTARTS=0` leaves random controller restarts and storage faults out
//! of the seeds; `STEWARD_SIM_PAIR=0` leaves the controller pair out (a failing seed's replay line
//! carries both); `STEWARD_SIM_SEEDS`, `STEWARD_SIM_FIRST_SEED`, `STEWARD_SIM_LARGE_SEEDS`,
//! `STEWARD_SIM_LARGE_HOSTS`, `STEWARD_SIM_THREADS` size the tier; `STEWARD_SIM_VERBOSE=1` prints the
//! trace as it happens. Two model switches exist to look past known core issues (a failing seed's replay
//! line carries them): `STEWARD_SIM_LENIENT_DEADLINES=1` defers a deadline the core asks for again
//! instead of failing, and `STEWARD_SIM_HB_CLEAR_AFTER_RESTART=1` makes the heartbeat model report
//! losses raised before a monitoring stop as cleared once monitoring restarts on a reachable host.
//!
//! ## Entry points
//!
//! - [`Simulation`] with [`SimConfig::for_seed`]: the randomized runner used by `tests/seeds.rs`.
//! - [`processes::run`]: the node's process monitor policy under random deaths, failed starts and
//!   failed health checks, judged from the simulator's own record of each process
//!   (`tests/processes.rs`).
//! - [`Scenario`]: scripted timelines with assertions, used by `tests/scenarios.rs` and, with
//!   `.pulse_heartbeat()`, by `tests/pulses.rs` (the heartbeat scenarios of issue 6 at 1,000 hosts:
//!   a hung agent lost after exactly 10 missed rounds, 5% loss for 60 s, a 2 s controller stall
//!   (also with a host really dead), 30 s of a starved controller under 2% loss,
//!   cluster cuts of one host and of all hosts). [`Scenario::pulse`] and
//!   [`Scenario::heartbeat_log`] show the Monitor's rounds and every event with the round that raised
//!   it.

pub mod checks;
pub mod heartbeat;
pub mod invariants;
pub mod lease;
pub mod network;
pub mod node;
pub mod pair;
pub mod prng;
pub mod processes;
pub mod pulse;
pub mod runner;
pub mod scenario;
pub mod store;
pub mod truth;
pub mod vmedia;
pub mod world;

pub use invariants::{Destructive, Invariant, Violation};
pub use network::LinkParams;
pub use pair::{PairFault, PairStats};
pub use prng::Rng;
pub use pulse::{HbRecord, PulseConfig, PulseStats};
pub use runner::{replay_command, FaultWeights, OperatorWeights, Report, SimConfig, Simulation};
pub use scenario::Scenario;
pub use truth::{Truth, TruthConfig};
pub use world::{request, Fault, HostSetup, Step, Timing, World, WorldConfig};
