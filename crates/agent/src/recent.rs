//! Command idempotency: the acks of the most recent command ids (bounded).
//!
//! The controller retries a command it saw no ack for and sends some commands on two networks
//! with one id (docs/protocol.md#acks-and-idempotency). A repeated id must get the same ack again
//! and must not run the command twice (a second reboot would reboot the fresh boot). The set is
//! bounded so a flood of distinct ids cannot grow memory; ids older than the newest `capacity` are
//! forgotten, which is safe because the controller's retries of one command are seconds apart, not
//! hundreds of ids.

use std::collections::{HashMap, VecDeque};
use steward_types::{AckResult, CommandId};

/// Default number of command ids remembered.
pub const RECENT_COMMANDS: usize = 256;

#[derive(Clone, Debug)]
pub struct RecentCommands {
    capacity: usize,
    order: VecDeque<CommandId>,
    acks: HashMap<CommandId, AckResult>,
}

impl RecentCommands {
    pub fn new(capacity: usize) -> Self {
        RecentCommands {
            capacity: capacity.max(1),
            order: VecDeque::new(),
            acks: HashMap::new(),
        }
    }

    /// The ack already given for `id`, if it is still remembered.
    pub fn get(&self, id: CommandId) -> Option<&AckResult> {
        self.acks.get(&id)
    }

    /// Remember the ack given for `id`, forgetting the oldest id beyond the capacity.
    pub fn insert(&mut self, id: CommandId, ack: AckResult) {
        if self.acks.insert(id, ack).is_some() {
            return;
        }
        self.order.push_back(id);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.acks.remove(&old);
            }
        }
    }

    /// Forget every id (a controller restarted and numbers its commands afresh).
    pub fn clear(&mut self) {
        self.order.clear();
        self.acks.clear();
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_remembers_the_newest() {
        let mut r = RecentCommands::new(3);
        for i in 0..10 {
            r.insert(CommandId(i), AckResult::Ok);
        }
        assert_eq!(r.len(), 3);
        assert!(r.get(CommandId(6)).is_none());
        for i in 7..10 {
            assert_eq!(r.get(CommandId(i)), Some(&AckResult::Ok));
        }
    }
}
