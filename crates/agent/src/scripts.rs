//! Script sets the agent asks the runtime to run (go-enabled tests, host services), one at a
//! time, and what comes back.

/// A directory of executables run in parallel with one argument, each with a timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScriptSet {
    /// Main go-enabled self tests (`start`).
    MainGoEnabled,
    /// Subfunction go-enabled self tests (`start`).
    SubfGoEnabled,
    /// Host services `start` (automatically, after a main go-enabled pass on an unlocked host).
    ServicesStart,
    /// Host services `stop` (command 14).
    ServicesStop,
}

impl ScriptSet {
    /// The argument every script of the set gets.
    pub fn arg(self) -> &'static str {
        match self {
            ScriptSet::ServicesStop => "stop",
            _ => "start",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ScriptSet::MainGoEnabled => "main go-enabled",
            ScriptSet::SubfGoEnabled => "subfunction go-enabled",
            ScriptSet::ServicesStart => "host services start",
            ScriptSet::ServicesStop => "host services stop",
        }
    }
}

/// Identifies one run, so a late result of an earlier run is not taken for the current one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(pub u64);

/// How one script set ended. `detail` names the failing script(s) on failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    pub passed: bool,
    pub detail: String,
}

/// How one script ended (the runtime reports these; [`summarize`] folds them into a
/// [`RunOutcome`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScriptExit {
    /// Exit status 0.
    Passed,
    /// Non-zero exit status or killed by a signal (`code` None).
    Failed { code: Option<i32> },
    /// Did not finish within the timeout and was killed.
    TimedOut,
    /// Could not be started.
    NotStarted { error: String },
}

/// Fold per-script results (name, exit) into one outcome. Failing scripts are named in a stable
/// (sorted) order so the controller's alarm text does not flap between runs.
pub fn summarize(mut results: Vec<(String, ScriptExit)>) -> RunOutcome {
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(name, exit)| match exit {
            ScriptExit::Passed => None,
            ScriptExit::Failed { code: Some(c) } => Some(format!("{name} failed (rc:{c})")),
            ScriptExit::Failed { code: None } => Some(format!("{name} failed (killed)")),
            ScriptExit::TimedOut => Some(format!("{name} timeout")),
            ScriptExit::NotStarted { error } => Some(format!("{name} failed to start ({error})")),
        })
        .collect();
    if failures.is_empty() {
        RunOutcome {
            passed: true,
            detail: format!("{} script(s) passed", results.len()),
        }
    } else {
        RunOutcome {
            passed: false,
            detail: failures.join("; "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_failing_scripts_in_order() {
        let o = summarize(vec![
            ("zz".into(), ScriptExit::TimedOut),
            ("ok".into(), ScriptExit::Passed),
            ("aa".into(), ScriptExit::Failed { code: Some(3) }),
        ]);
        assert!(!o.passed);
        assert_eq!(o.detail, "aa failed (rc:3); zz timeout");
        let o = summarize(vec![]);
        assert!(o.passed);
    }
}
