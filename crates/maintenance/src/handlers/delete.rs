//! Delete handler (docs/handlers.md#delete): wipe the disk so the host reinstalls if it ever boots,
//! stop monitoring, clear every alarm of the host, and drop it.

use super::HostRt;
use crate::action::ActionOutcome;
use crate::alarm::LogId;
use crate::core::Maintenance;
use crate::io::*;
use crate::state::Network;

impl Maintenance {
    pub(crate) fn delete_handler(&mut self, h: &mut HostRt) {
        let name = h.name().to_string();
        let cause = self.cause(h);
        self.send(h, NodeCommand::WipeDisk, vec![Network::Mgmt], cause);
        self.heartbeat(h, HeartbeatControl::Stop);
        for c in self.alarms.clear_host(&name) {
            self.emit(Effect::Alarm(c));
        }
        self.mnfa_forget(h);
        if let Some(d) = self.dor.as_mut() {
            d.checked_in.remove(&name);
        }
        self.log(&name, LogId::Command, format!("{name} deleted"));
        self.end_action(h, ActionOutcome::Completed);
        h.removed = true;
    }
}
