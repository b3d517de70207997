//! The BMC's event log (served as the manager's `SEL` LogService): what was done through this
//! BMC, so `steward bmc sel` in the lab shows the power actions steward took. A ring buffer —
//! real SELs are small and wrap too — so a long lab run cannot grow it without limit.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// Entries kept; the oldest is dropped first.
pub(crate) const CAPACITY: usize = 256;

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub id: u64,
    /// RFC 3339, UTC.
    pub created: String,
    /// `OK`, `Warning` or `Critical`, as in Redfish `LogEntry.Severity`.
    pub severity: &'static str,
    pub message: String,
}

#[derive(Debug, Default)]
pub(crate) struct EventLog {
    entries: VecDeque<Entry>,
    next_id: u64,
}

impl EventLog {
    /// Record an event now.
    pub fn record(&mut self, severity: &'static str, message: String) {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.record_at(secs, severity, message);
    }

    pub fn record_at(&mut self, unix_secs: u64, severity: &'static str, message: String) {
        self.next_id += 1;
        if self.entries.len() >= CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(Entry {
            id: self.next_id,
            created: rfc3339(unix_secs),
            severity,
            message,
        });
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }
}

impl Entry {
    pub fn doc(&self, entries_path: &str) -> Value {
        json!({
            "@odata.id": format!("{entries_path}/{}", self.id),
            "@odata.type": "#LogEntry.v1_15_0.LogEntry",
            "Id": self.id.to_string(),
            "Name": "BMC Event",
            "EntryType": "Event",
            "Created": self.created,
            "Severity": self.severity,
            "Message": self.message,
        })
    }
}

/// Seconds since 1970 as `YYYY-MM-DDThh:mm:ssZ` (proleptic Gregorian, UTC), without a date
/// crate: days to civil date by the era/day-of-era method.
pub(crate) fn rfc3339(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let rem = unix_secs % 86_400;
    // Shift the epoch to 0000-03-01 so leap days fall at the end of each year.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(rfc3339(1_798_761_600), "2027-01-01T00:00:00Z");
    }

    #[test]
    fn ring_drops_oldest() {
        let mut log = EventLog::default();
        for i in 0..(CAPACITY as u64 + 10) {
            log.record_at(i, "OK", format!("event {i}"));
        }
        assert_eq!(log.entries().count(), CAPACITY);
        let first = log.entries().next().expect("first");
        assert_eq!((first.id, first.message.as_str()), (11, "event 10"));
    }
}
