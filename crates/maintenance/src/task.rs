//! User-visible task strings (docs/lifecycle.md#task-strings). They are kept word for word so that
//! an operator who knows StarlingX reads them without a table.

pub const DISABLING_CONTROLLER: &str = "Disabling Controller";
pub const DISABLING_SERVICES: &str = "Disabling Services";
pub const FORCE_LOCK_RESET: &str = "Force Lock Reset in Progress";
pub const UNLOCK_FAILED: &str = "Unlock Operation Failed";
pub const BOOTING: &str = "Booting";
pub const BOOT_FAILED_REBOOTING: &str = "Boot Failed, rebooting";
pub const TESTING: &str = "Testing";
pub const INITIALIZING: &str = "Initializing";
pub const ENABLING: &str = "Enabling";
pub const CONFIG_FAILED_REENABLING: &str = "Configuration Failed, re-enabling";
pub const INTEST_FAILED_REENABLING: &str = "In-Test Failed, re-enabling";
pub const INTEST_TIMEOUT_REENABLING: &str = "In-Test Timeout, re-enabling";
pub const START_SERVICES_FAILED: &str = "Start Services Failed, re-enabling";
pub const ENABLE_HEARTBEAT_FAILURE: &str = "Enable Heartbeat Failure, re-enabling";
pub const ENABLING_WORKER: &str = "Enabling Worker Service";
pub const WORKER_CONFIG_FAILED: &str = "Worker Configuration Failed, re-enabling";
pub const WORKER_CONFIG_TIMEOUT: &str = "Worker Configuration Timeout, re-enabling";
pub const WORKER_INTEST_FAILED: &str = "Worker In-Test Failed, re-enabling";
pub const WORKER_INTEST_TIMEOUT: &str = "Worker In-Test Timeout, re-enabling";

pub const AR_CONFIG: &str = "Configuration failure, threshold reached, Lock/Unlock to retry";
pub const AR_GOENABLE: &str = "In-Test Failure, threshold reached, Lock/Unlock to retry";
pub const AR_SERVICES: &str = "Service Failure, threshold reached, Lock/Unlock to retry";
pub const AR_ENABLE: &str = "Enable Failure, threshold reached, Lock/Unlock to retry";
pub const AR_HEARTBEAT: &str = "Heartbeat Failure, threshold reached, Lock/Unlock to retry";
pub const AR_LUKS: &str = "LUKS volume failure, threshold reached, Lock/Unlock to retry";

pub const GRACEFUL_RECOVERY: &str = "Graceful Recovery";
pub const GRACEFUL_RECOVERY_RETRY: &str = "Graceful Recovery Retry";
pub const GRACEFUL_RECOVERY_WAIT: &str = "Graceful Recovery Wait";
pub const GRACEFUL_RECOVERY_FAILED: &str = "Graceful Recovery Failed";
pub const GRACEFULLY_RECOVERED: &str = "Gracefully Recovered";

pub const REBOOT_REQUEST: &str = "Reboot Request";
pub const REBOOTING: &str = "Rebooting";
pub const REBOOT_FAILED: &str = "Reboot Failed";
pub const RESET_REQUEST: &str = "Reset Request";
pub const RESETTING: &str = "Resetting";
pub const REBOOT_RESET_TIMEOUT: &str = "Reboot/Reset Timeout";
pub const REBOOTING_RESETTING_HOST: &str = "Rebooting/Resetting Host";
pub const REBOOT_FAILED_TRY_ONLINE: &str = "Reboot Failed, try again when host is 'online'";

pub const RESET_REQUESTED: &str = "Reset Requested";
pub const RESET_WAIT_OFFLINE: &str = "Resetting: waiting for offline";
pub const RESET_FAILED_NOT_PROVISIONED: &str = "Reset Failed - BMC is not provisioned";
pub const RESET_FAILED_NOT_ACCESSIBLE: &str = "Reset Failed - BMC is not accessible";
pub const RESET_COMPLETED: &str = "Reset Completed";

pub const POWER_ON_REQUESTED: &str = "Power-On Requested";
pub const POWERING_ON: &str = "Powering On";
pub const POWER_IS_ON: &str = "Power Is On";
pub const POWER_ON_FAILED: &str = "Power-On Failed";
pub const POWER_ON_COMPLETED: &str = "Power-On Completed";
pub const POWER_OFF_REQUESTED: &str = "Power-Off Requested";
pub const POWERING_OFF: &str = "Powering Off";
pub const POWER_OFF_FAILED: &str = "Power-Off Failed";
pub const POWER_OFF_COMPLETED: &str = "Power-Off Completed";

pub const CRITICAL_POWER_DOWN: &str =
    "Critical Event Power-Down ; due to persistent critical sensor";

pub const REINSTALLING: &str = "Reinstalling";
pub const REINSTALL_WAIT_BMC: &str = "Reinstall Wait ; BMC not accessible";
pub const REINSTALL_EJECTING: &str = "Reinstalling ; ejecting virtual media";
pub const REINSTALL_POWERING_OFF: &str = "Reinstalling ; powering off";
pub const REINSTALL_INSERTING: &str = "Reinstalling ; inserting install image";
pub const REINSTALL_MOUNT_WAIT: &str = "Reinstalling ; waiting for the image to mount";
pub const REINSTALL_BOOT_OVERRIDE: &str = "Reinstalling ; one-time boot from virtual CD";
pub const REINSTALL_NETBOOT: &str = "Reinstalling ; one-time network boot";
pub const REINSTALL_POWERING_ON: &str = "Reinstalling ; powering on";
pub const REINSTALL_WIPING: &str = "Reinstalling ; wiping disk";
pub const REINSTALL_INSTALLING: &str = "Reinstalling ; installing";
pub const REINSTALL_EJECT_AFTER: &str = "Reinstalling ; ejecting install image";
pub const REINSTALL_CLEANUP: &str = "Reinstall Failing ; ejecting media, powering off";
pub const REINSTALL_FAILED: &str = "Reinstall Failed";
pub const REINSTALL_SUCCEEDED: &str = "Reinstall Succeeded";

pub const SWACT_REQUEST: &str = "Swact: Request";
pub const SWACT_IN_PROGRESS: &str = "Swact: In-Progress";
pub const SWACT_COMPLETE: &str = "Swact: Complete";
pub const SWACT_FAILED: &str = "Swact: Failed";
pub const SWACT_TIMEOUT: &str = "Swact: Timeout";

pub const SELF_REBOOT_STANDBY: &str =
    "Please stand-by while the active controller gracefully reboots";
pub const SELF_UNLOCK: &str = "Unlocking active controller, please stand-by while it reboots";
pub const CRITICAL_REQUEST_SWACT: &str =
    "Critical failure.Requesting SWACT to enabled standby controller";
pub const CRITICAL_NO_STANDBY: &str = "Critical failure.Please provision/enable standby controller";

/// Powercycle task lines carry counters.
pub fn powercycle(attempt: u32, detail: &str) -> String {
    format!("Critical Event Power-Cycle {attempt}; {detail}")
}

pub fn reboot_retrying(n: u32, of: u32) -> String {
    format!("Reboot Failed, retrying ({n} of {of})")
}

pub fn reset_retrying(n: u32, of: u32) -> String {
    format!("Reset Failed, retrying ({n} of {of})")
}

pub fn power_retrying(on: bool, n: u32, of: u32) -> String {
    let what = if on { "Power-On" } else { "Power-Off" };
    format!("{what} Failed, retrying ({n} of {of})")
}

pub fn reinstall_failed(why: &str) -> String {
    format!("Reinstall Failed ; {why}")
}
