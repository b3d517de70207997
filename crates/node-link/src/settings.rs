//! Config push: keeping every agent on the cluster's node settings.
//!
//! The controller holds one [`NodeSettings`] with a generation; every alive report says which
//! generation its agent runs. The link pushes the settings to an agent that reports an older one —
//! at once when the settings change, then again on its alive reports (at most every
//! [`RETRY_MS`]) until the agent reports the new generation. So an agent that was down, rebooted
//! or missed the datagram catches up by itself, without a retry timer per host.
//!
//! An agent that refuses a generation (a value out of its range: the controller validates the same
//! ranges, so only a newer agent with narrower ones would) is not pushed that generation again; the
//! refusal is shown per host until the operator sets new settings.
//!
//! Push command ids are drawn from the top half of the id space ([`PUSH_ID_BASE`]); the core's
//! own command ids count up from 1 and never get there, so an ack tells which of the two it
//! answers without any shared counter.

use std::collections::HashMap;
use steward_maintenance::io::CommandId;
use steward_maintenance::NodeSettings;
use steward_protocol::AckResult;

/// First id of config pushes.
pub const PUSH_ID_BASE: u64 = 1 << 63;
/// Least time between two pushes of the settings to one host.
pub const RETRY_MS: u64 = 2_000;

/// Where one host stands with the cluster's node settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostSettings {
    /// The generation its agent last reported running (None: no alive report yet).
    pub reported: Option<u64>,
    /// Its agent refused the current generation, with this reason.
    pub refused: Option<String>,
}

impl HostSettings {
    /// The agent runs `generation` (or a newer one).
    pub fn in_sync(&self, generation: u64) -> bool {
        self.reported.is_some_and(|g| g >= generation)
    }
}

#[derive(Default)]
struct HostPush {
    shown: HostSettings,
    last_push_ms: Option<u64>,
    /// The agent runs a newer generation than this controller has: said once.
    warned_newer: bool,
}

/// The push bookkeeping (no IO: the link task asks it whom to push and tells it what came back).
#[derive(Default)]
pub(crate) struct SettingsPush {
    current: NodeSettings,
    hosts: HashMap<String, HostPush>,
    /// Outstanding push ids → (host, generation); at most one per host.
    pending: HashMap<CommandId, (String, u64)>,
    next_id: u64,
}

impl SettingsPush {
    pub(crate) fn current(&self) -> NodeSettings {
        self.current
    }

    pub(crate) fn status(&self, host: &str) -> Option<HostSettings> {
        self.hosts.get(host).map(|h| h.shown.clone())
    }

    pub(crate) fn provision(&mut self, host: &str) {
        self.hosts.entry(host.to_string()).or_default();
    }

    pub(crate) fn forget(&mut self, host: &str) {
        self.hosts.remove(host);
        self.pending.retain(|_, (h, _)| h != host);
    }

    /// New settings: refusals of older ones no longer apply. Returns the hosts to push to now.
    pub(crate) fn set(&mut self, settings: NodeSettings) -> Vec<String> {
        self.current = settings;
        if settings.generation == 0 {
            return Vec::new();
        }
        let mut due = Vec::new();
        for (name, h) in &mut self.hosts {
            h.shown.refused = None;
            h.last_push_ms = None;
            if !h.shown.in_sync(settings.generation) {
                due.push(name.clone());
            }
        }
        due.sort();
        due
    }

    /// An alive report from `host` saying it runs `generation`: should it be pushed now?
    pub(crate) fn alive(&mut self, host: &str, generation: u64, now_ms: u64) -> bool {
        let current = self.current.generation;
        let Some(h) = self.hosts.get_mut(host) else {
            return false;
        };
        h.shown.reported = Some(generation);
        if generation > current {
            if !h.warned_newer {
                h.warned_newer = true;
                tracing::warn!(
                    host,
                    agent_generation = generation,
                    controller_generation = current,
                    "the agent runs newer node settings than this controller holds (a store restored from an older backup?); `steward node-config set` takes over from the next generation above it"
                );
            }
            return false;
        }
        h.warned_newer = false;
        current > 0
            && generation < current
            && h.shown.refused.is_none()
            && h.last_push_ms
                .is_none_or(|t| now_ms.saturating_sub(t) >= RETRY_MS)
    }

    /// The id for a push to `host` now (replacing any outstanding one).
    pub(crate) fn push_id(&mut self, host: &str, now_ms: u64) -> CommandId {
        self.pending.retain(|_, (h, _)| h != host);
        let id = CommandId(PUSH_ID_BASE | (self.next_id & (PUSH_ID_BASE - 1)));
        self.next_id = self.next_id.wrapping_add(1);
        self.pending
            .insert(id, (host.to_string(), self.current.generation));
        if let Some(h) = self.hosts.get_mut(host) {
            h.last_push_ms = Some(now_ms);
        }
        id
    }

    /// Whether `id` is a config push's (its ack is the link's, not the core's).
    pub(crate) fn is_push(id: CommandId) -> bool {
        id.0 & PUSH_ID_BASE != 0
    }

    /// The agent answered a push.
    pub(crate) fn ack(&mut self, from: &str, id: CommandId, result: &AckResult) {
        // A duplicate ack, one for a push replaced since, or one from another host: not ours.
        if self.pending.get(&id).is_none_or(|(host, _)| host != from) {
            return;
        }
        let Some((host, generation)) = self.pending.remove(&id) else {
            return;
        };
        let Some(h) = self.hosts.get_mut(&host) else {
            return;
        };
        match result {
            AckResult::Ok => {
                h.shown.refused = None;
                tracing::info!(host, generation, "node settings applied by the agent");
            }
            AckResult::Failed(why) => {
                tracing::warn!(
                    host,
                    generation,
                    "the agent refused the node settings: {why}"
                );
                h.shown.refused = Some(why.clone());
            }
            AckResult::Unsupported => {
                let why = "the agent does not support config push (older agent version)";
                tracing::warn!(host, generation, "{why}");
                h.shown.refused = Some(why.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen(generation: u64) -> NodeSettings {
        NodeSettings {
            generation,
            alive_period_ms: Some(2_000),
            ..NodeSettings::default()
        }
    }

    #[test]
    fn nothing_is_pushed_before_an_operator_sets_settings() {
        let mut p = SettingsPush::default();
        p.provision("w0");
        assert!(p.set(NodeSettings::default()).is_empty());
        assert!(!p.alive("w0", 0, 0));
    }

    #[test]
    fn a_change_pushes_to_every_host_behind_then_alives_retry_at_most_every_2s() {
        let mut p = SettingsPush::default();
        p.provision("w0");
        p.provision("w1");
        p.alive("w1", 3, 0);
        assert_eq!(p.set(gen(3)), vec!["w0".to_string()]);
        let _ = p.push_id("w0", 0);
        assert!(!p.alive("w0", 0, 1_000), "pushed 1 s ago");
        assert!(p.alive("w0", 0, 2_000));
        assert!(!p.alive("w1", 3, 2_000), "in sync");
        assert!(p.status("w1").is_some_and(|s| s.in_sync(3)));
    }

    #[test]
    fn a_refused_generation_is_not_pushed_again_until_new_settings() {
        let mut p = SettingsPush::default();
        p.provision("w0");
        p.set(gen(1));
        let id = p.push_id("w0", 0);
        p.ack(
            "w0",
            id,
            &AckResult::Failed("alive_period_ms out of range".into()),
        );
        assert!(!p.alive("w0", 0, 60_000));
        assert_eq!(
            p.status("w0").and_then(|s| s.refused).as_deref(),
            Some("alive_period_ms out of range")
        );
        assert_eq!(p.set(gen(2)), vec!["w0".to_string()]);
        assert_eq!(p.status("w0").and_then(|s| s.refused), None);
    }

    #[test]
    fn acks_from_another_host_or_for_replaced_pushes_change_nothing() {
        let mut p = SettingsPush::default();
        p.provision("w0");
        p.set(gen(1));
        let old = p.push_id("w0", 0);
        let new = p.push_id("w0", 5_000);
        p.ack("w0", old, &AckResult::Failed("stale".into()));
        p.ack("w1", new, &AckResult::Failed("forged".into()));
        assert_eq!(p.status("w0").and_then(|s| s.refused), None);
        assert!(SettingsPush::is_push(new));
        assert!(!SettingsPush::is_push(CommandId(42)));
    }

    #[test]
    fn an_agent_ahead_of_the_controller_is_not_pushed_back() {
        let mut p = SettingsPush::default();
        p.provision("w0");
        p.set(gen(2));
        assert!(!p.alive("w0", 5, 0));
    }
}
