//! Is the node's process monitor running? Every heartbeat answer carries the monitor's flag
//! (docs/node-supervision.md#pmond); a host whose answers go without it for `threshold` management
//! answers in a row is reported as process `pmond` failed (major: alarm 200.006 and degrade), and
//! cleared by the first answer with the flag again.

use std::collections::BTreeMap;
use steward_maintenance::io::PmonEvent;
use steward_maintenance::state::Network;

/// Default answers in a row without the flag before the host is reported.
pub const DEFAULT_PMON_MISSING_THRESHOLD: u32 = 100;

#[derive(Clone, Copy, Debug, Default)]
struct Count {
    missing: u32,
    reported: bool,
}

/// Per-host counts of answers without the process monitor's flag.
#[derive(Debug)]
pub struct PmonWatch {
    threshold: u32,
    hosts: BTreeMap<String, Count>,
}

impl PmonWatch {
    pub fn new(threshold: u32) -> PmonWatch {
        PmonWatch {
            threshold: threshold.max(1),
            hosts: BTreeMap::new(),
        }
    }

    /// An answer from `host` on `network`; the event for the core, if this answer changes the
    /// verdict. Only management answers count, so a host on two networks is judged per round.
    pub fn on_reply(
        &mut self,
        host: &str,
        network: Network,
        pmon_running: bool,
    ) -> Option<PmonEvent> {
        if network != Network::Mgmt {
            return None;
        }
        let c = self.hosts.entry(host.to_string()).or_default();
        if pmon_running {
            c.missing = 0;
            return std::mem::take(&mut c.reported).then_some(PmonEvent::Clear);
        }
        c.missing = c.missing.saturating_add(1);
        if c.missing >= self.threshold && !c.reported {
            c.reported = true;
            return Some(PmonEvent::Major);
        }
        None
    }

    /// The host is no longer monitored: its count starts over when it is again.
    pub fn forget(&mut self, host: &str) {
        self.hosts.remove(host);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_comes_at_the_threshold_once_and_clears_at_the_first_flag() {
        let mut w = PmonWatch::new(100);
        for _ in 0..99 {
            assert_eq!(w.on_reply("w0", Network::Mgmt, false), None);
            assert_eq!(w.on_reply("w0", Network::Cluster, false), None);
        }
        assert_eq!(
            w.on_reply("w0", Network::Mgmt, false),
            Some(PmonEvent::Major)
        );
        assert_eq!(w.on_reply("w0", Network::Mgmt, false), None);
        assert_eq!(
            w.on_reply("w0", Network::Mgmt, true),
            Some(PmonEvent::Clear)
        );
        assert_eq!(w.on_reply("w0", Network::Mgmt, true), None);
    }

    #[test]
    fn one_answer_with_the_flag_starts_the_count_over() {
        let mut w = PmonWatch::new(3);
        w.on_reply("w0", Network::Mgmt, false);
        w.on_reply("w0", Network::Mgmt, false);
        w.on_reply("w0", Network::Mgmt, true);
        w.on_reply("w0", Network::Mgmt, false);
        assert_eq!(w.on_reply("w0", Network::Mgmt, false), None);
        assert_eq!(
            w.on_reply("w0", Network::Mgmt, false),
            Some(PmonEvent::Major)
        );
    }
}
