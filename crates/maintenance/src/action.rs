//! Administrative actions and their journal (docs/lifecycle.md#admin-actions, #journal).
//!
//! StarlingX silently abandons an action when another replaces it. steward keeps the replacement
//! semantics but makes it visible: every accepted action gets an [`ActionId`] and ends in the journal as
//! completed, failed, or superseded by a named later action.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What is being done to a host right now. Operator actions plus the internal ones the core starts itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    None,
    Lock,
    Unlock,
    Reset,
    Reboot,
    Reinstall,
    PowerOff,
    PowerOn,
    #[serde(rename = "recovery")]
    Recover,
    Delete,
    #[serde(rename = "powercycle")]
    PowerCycle,
    Add,
    Swact,
    ForceLock,
    ForceSwact,
    Enable,
    #[serde(rename = "enable-subf")]
    EnableSubf,
}

impl Action {
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::None => "none",
            Action::Lock => "lock",
            Action::Unlock => "unlock",
            Action::Reset => "reset",
            Action::Reboot => "reboot",
            Action::Reinstall => "reinstall",
            Action::PowerOff => "power-off",
            Action::PowerOn => "power-on",
            Action::Recover => "recovery",
            Action::Delete => "delete",
            Action::PowerCycle => "powercycle",
            Action::Add => "add",
            Action::Swact => "swact",
            Action::ForceLock => "force-lock",
            Action::ForceSwact => "force-swact",
            Action::Enable => "enable",
            Action::EnableSubf => "enable-subf",
        }
    }

    /// Actions that destroy the running software on a host (a reboot, reset or power interruption).
    pub fn is_destructive(self) -> bool {
        matches!(
            self,
            Action::Reset
                | Action::Reboot
                | Action::Reinstall
                | Action::PowerOff
                | Action::PowerCycle
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The actions an operator may request through the API (`PATCH /action`, `DELETE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperatorAction {
    Unlock,
    Lock,
    ForceLock,
    Swact,
    ForceSwact,
    Reboot,
    Reset,
    PowerOn,
    PowerOff,
    Reinstall,
    Delete,
}

impl OperatorAction {
    pub const ALL: [OperatorAction; 11] = [
        OperatorAction::Unlock,
        OperatorAction::Lock,
        OperatorAction::ForceLock,
        OperatorAction::Swact,
        OperatorAction::ForceSwact,
        OperatorAction::Reboot,
        OperatorAction::Reset,
        OperatorAction::PowerOn,
        OperatorAction::PowerOff,
        OperatorAction::Reinstall,
        OperatorAction::Delete,
    ];

    pub const fn action(self) -> Action {
        match self {
            OperatorAction::Unlock => Action::Unlock,
            OperatorAction::Lock => Action::Lock,
            OperatorAction::ForceLock => Action::ForceLock,
            OperatorAction::Swact => Action::Swact,
            OperatorAction::ForceSwact => Action::ForceSwact,
            OperatorAction::Reboot => Action::Reboot,
            OperatorAction::Reset => Action::Reset,
            OperatorAction::PowerOn => Action::PowerOn,
            OperatorAction::PowerOff => Action::PowerOff,
            OperatorAction::Reinstall => Action::Reinstall,
            OperatorAction::Delete => Action::Delete,
        }
    }

    pub fn parse(s: &str) -> Option<OperatorAction> {
        OperatorAction::ALL
            .into_iter()
            .find(|a| a.action().as_str() == s)
    }
}

impl fmt::Display for OperatorAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.action().as_str())
    }
}

/// Identity of one accepted action, unique for the life of the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ActionId(pub u64);

impl fmt::Display for ActionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a{}", self.0)
    }
}

/// How an accepted action ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum ActionOutcome {
    Completed,
    Failed { reason: String },
    SupersededBy { action: ActionId },
}

/// One line of the action journal. The store persists these; the API shows them as progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "entry")]
pub enum JournalEntry {
    Accepted {
        id: ActionId,
        host: String,
        action: Action,
    },
    Ended {
        id: ActionId,
        host: String,
        outcome: ActionOutcome,
    },
}
