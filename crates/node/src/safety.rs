//! The safety nets around going down (docs/protocol.md#going-down): carries out the steps
//! [`steward_agent::reboot::plan`] decides for a reboot or a wipe-disk, with this host's
//! configuration.
//!
//! - **Failsafe reboot**: armed before the reboot command runs; if the agent is still alive
//!   `failsafe_reboot_delay` later, the command failed or hangs, and the agent writes `b` to the
//!   SysRq trigger: the kernel reboots at once (no sync, no unmount: the last resort before a BMC
//!   reset). Root may always write the trigger file, whatever `/proc/sys/kernel/sysrq` says (that
//!   setting governs the keyboard only), so nothing is enabled first.
//! - **Lazy reboot** of the active controller: the pre-reboot hook (e.g. a pod drain) runs first,
//!   within its timeout; its failure is logged and the reboot goes on; the reboot then waits until
//!   `lazy_reboot_delay` has passed since the command.
//! - **Wipe-disk**: the partition tables and boot and filesystem signatures of `install_disks` are
//!   erased ([`crate::wipe`]) before the machine's own wipe command and reboot.
//!
//! The steps run in one task of the agent: a simulated machine that "reboots" by aborting its
//! agent ends them, and a real host that reboots ends them with the process.

use crate::machine::Machine;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use steward_agent::reboot::{plan, GoingDown, RebootPolicy, Step};
use tokio::time::Instant;

/// The node's safety nets (docs/config.md#node-safety-nets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafetyNets {
    /// How long after the reboot command starts the failsafe fires; None: no failsafe.
    pub failsafe_reboot_delay: Option<Duration>,
    /// The kernel's SysRq trigger (`/proc/sysrq-trigger`); tests give a plain file.
    pub sysrq_trigger_path: PathBuf,
    /// This host runs the active controller: its reboots are lazy.
    pub active_controller: bool,
    /// Least time from a reboot command to the reboot of the active controller.
    pub lazy_reboot_delay: Duration,
    /// Program and arguments run before the active controller reboots; None: none.
    pub pre_reboot_hook: Option<Vec<String>>,
    /// The hook is killed after this long.
    pub pre_reboot_hook_timeout: Duration,
    /// Disks (block devices or image files) whose labels wipe-disk erases.
    pub install_disks: Vec<PathBuf>,
}

impl SafetyNets {
    /// None of them: what [`crate::NodeConfig::new`] starts with. Simulated machines share the
    /// real kernel, so the failsafe is never on unless asked for.
    pub fn off() -> Self {
        SafetyNets {
            failsafe_reboot_delay: None,
            sysrq_trigger_path: PathBuf::from("/proc/sysrq-trigger"),
            active_controller: false,
            lazy_reboot_delay: Duration::ZERO,
            pre_reboot_hook: None,
            pre_reboot_hook_timeout: Duration::from_secs(180),
            install_disks: Vec::new(),
        }
    }

    /// What `steward node` runs with unless told otherwise: failsafe after 120 s, a lazy reboot
    /// waits 15 s, a hook gets 180 s.
    pub fn host_defaults() -> Self {
        SafetyNets {
            failsafe_reboot_delay: Some(Duration::from_secs(120)),
            lazy_reboot_delay: Duration::from_secs(15),
            ..SafetyNets::off()
        }
    }

    /// Check what [`go_down`] relies on; the message names the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.failsafe_reboot_delay.is_some_and(|d| d.is_zero()) {
            return Err("failsafe_reboot_delay must be > 0 (or off)".into());
        }
        if self.pre_reboot_hook.as_ref().is_some_and(|h| h.is_empty()) {
            return Err("pre_reboot_hook must name a program".into());
        }
        if self.pre_reboot_hook.is_some() && self.pre_reboot_hook_timeout.is_zero() {
            return Err("pre_reboot_hook_timeout must be > 0".into());
        }
        if let Some(d) = self.install_disks.iter().find(|d| !d.is_absolute()) {
            return Err(format!(
                "install disk {} must be an absolute path",
                d.display()
            ));
        }
        Ok(())
    }

    /// The sans-IO view the plan is made from.
    pub fn policy(&self) -> RebootPolicy {
        let ms = |d: Duration| d.as_millis().min(u64::MAX as u128) as u64;
        RebootPolicy {
            active_controller: self.active_controller,
            lazy_delay_ms: ms(self.lazy_reboot_delay),
            hook_timeout_ms: self
                .pre_reboot_hook
                .as_ref()
                .map(|_| ms(self.pre_reboot_hook_timeout)),
            failsafe_delay_ms: self.failsafe_reboot_delay.map(ms),
            install_disks: !self.install_disks.is_empty(),
        }
    }
}

/// Go down as the agent ordered at `ordered_at`: the plan's steps, then (if armed) wait for the
/// failsafe. Returns only if the host is still up after the failsafe fired (or with no failsafe,
/// once the reboot has been started).
pub async fn go_down(
    what: GoingDown,
    nets: SafetyNets,
    machine: Arc<dyn Machine>,
    host: String,
    ordered_at: Instant,
) {
    let mut failsafe_at = None;
    for step in plan(what, &nets.policy()) {
        match step {
            Step::RunHook { timeout_ms } => {
                if let Some(hook) = &nets.pre_reboot_hook {
                    run_hook(&host, hook, Duration::from_millis(timeout_ms)).await;
                }
            }
            Step::WaitSinceCommand { ms } => {
                let until = ordered_at + Duration::from_millis(ms);
                let left = until.saturating_duration_since(Instant::now());
                tracing::warn!(host = %host,
                    "active controller: rebooting in {:.1} s (lazy reboot)", left.as_secs_f64());
                tokio::time::sleep_until(until).await;
            }
            Step::WipeInstallDisks => {
                let disks = nets.install_disks.clone();
                let h = host.clone();
                let _ = tokio::task::spawn_blocking(move || wipe_all(&h, &disks)).await;
            }
            Step::ArmFailsafe { ms } => {
                let delay = Duration::from_millis(ms);
                tracing::warn!(host = %host,
                    "failsafe armed: a SysRq reboot through {} if the host is still up in {} s",
                    nets.sysrq_trigger_path.display(), delay.as_secs_f64());
                failsafe_at = Some((Instant::now() + delay, delay));
            }
            // On a blocking thread, not awaited: the command may never return, and the failsafe
            // must fire all the same.
            Step::Reboot => {
                let m = machine.clone();
                tokio::task::spawn_blocking(move || m.reboot());
            }
            Step::MachineWipeThenReboot => {
                let m = machine.clone();
                tokio::task::spawn_blocking(move || m.wipe_disk());
            }
        }
    }
    if let Some((at, delay)) = failsafe_at {
        tokio::time::sleep_until(at).await;
        fire_failsafe(&host, &nets.sysrq_trigger_path, delay);
    }
}

async fn run_hook(host: &str, hook: &[String], timeout: Duration) {
    let Some((prog, args)) = hook.split_first() else {
        return;
    };
    tracing::warn!(host = %host, "pre-reboot hook {hook:?} (at most {} s)", timeout.as_secs_f64());
    let child = tokio::process::Command::new(prog)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(host = %host, "cannot run the pre-reboot hook {hook:?}: {e}; rebooting anyway");
            return;
        }
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(s)) if s.success() => {
            tracing::info!(host = %host, "pre-reboot hook done");
        }
        Ok(Ok(s)) => {
            tracing::error!(host = %host, "pre-reboot hook {hook:?} failed ({s}); rebooting anyway")
        }
        Ok(Err(e)) => {
            tracing::error!(host = %host, "pre-reboot hook {hook:?}: {e}; rebooting anyway")
        }
        Err(_) => {
            let _ = child.kill().await;
            tracing::error!(host = %host,
                "pre-reboot hook {hook:?} still running after {} s: killed; rebooting anyway",
                timeout.as_secs_f64());
        }
    }
}

fn wipe_all(host: &str, disks: &[PathBuf]) {
    for d in disks {
        tracing::warn!(host = %host, "wipe-disk: erasing the partition tables and signatures of {}", d.display());
        match crate::wipe::wipe_labels(d) {
            Ok(r) if r.left.is_empty() => tracing::warn!(host = %host,
                "wipe-disk: {}: {} signatures erased ({} bytes zeroed); nothing left",
                d.display(), r.found.len(), r.zeroed),
            Ok(r) => tracing::error!(host = %host,
                "wipe-disk: {}: still found after erasing: {:?}", d.display(), r.left),
            Err(e) => tracing::error!(host = %host, "wipe-disk: {e}"),
        }
    }
}

/// The last resort: the kernel reboots at once. Logged first, loudly: if it works, nothing
/// after it is.
fn fire_failsafe(host: &str, trigger: &std::path::Path, delay: Duration) {
    tracing::error!(host = %host,
        "FAILSAFE REBOOT: the host is still up {} s after its reboot command; forcing a kernel \
         reboot (SysRq b) through {}", delay.as_secs_f64(), trigger.display());
    let written = std::fs::OpenOptions::new()
        .write(true)
        .open(trigger)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"b"));
    if let Err(e) = written {
        tracing::error!(host = %host,
            "FAILSAFE REBOOT failed: cannot write {}: {e}; the host stays up until it is reset \
             (BMC)", trigger.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_off_means_off() {
        assert_eq!(SafetyNets::off().validate(), Ok(()));
        assert_eq!(SafetyNets::host_defaults().validate(), Ok(()));
        let off = SafetyNets::off().policy();
        assert_eq!(off.failsafe_delay_ms, None);
        assert_eq!(off.hook_timeout_ms, None);
        assert!(!off.install_disks);
        assert_eq!(
            SafetyNets::host_defaults().policy().failsafe_delay_ms,
            Some(120_000)
        );
    }

    #[test]
    fn bad_settings_are_named() {
        let bad = |f: fn(&mut SafetyNets)| {
            let mut n = SafetyNets::off();
            f(&mut n);
            n.validate().err().unwrap_or_default()
        };
        assert!(bad(|n| n.failsafe_reboot_delay = Some(Duration::ZERO)).contains("failsafe"));
        assert!(bad(|n| n.pre_reboot_hook = Some(vec![])).contains("pre_reboot_hook"));
        assert!(bad(|n| n.install_disks = vec!["sda".into()]).contains("absolute"));
    }
}
