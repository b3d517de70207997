//! A bounded reading history per sensor, for trends and the dashboard.

use std::collections::VecDeque;
use steward_maintenance::Instant;

use crate::severity::Severity;

/// The default number of samples kept per sensor (an hour at a 60 s audit interval).
pub const DEFAULT_HISTORY_LEN: usize = 60;
/// The most samples kept per sensor, whatever the configuration asks.
pub const MAX_HISTORY_LEN: usize = 1024;

/// One sample as read, before debounce. Kept small (16 bytes): a thousand hosts keep a ring per
/// sensor, so the value is stored as `f32` (sensor readings carry far fewer significant digits).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub at: Instant,
    /// NaN for none.
    value: f32,
    /// The severity this reading alone stands for.
    pub severity: Severity,
}

impl Sample {
    pub fn new(at: Instant, value: Option<f64>, severity: Severity) -> Sample {
        Sample {
            at,
            value: value
                .filter(|v| v.is_finite())
                .map_or(f32::NAN, |v| v as f32),
            severity,
        }
    }

    /// The value, if the reading had a finite one.
    pub fn value(&self) -> Option<f64> {
        (!self.value.is_nan()).then_some(f64::from(self.value))
    }
}

/// A ring of the last `capacity` samples, oldest first.
#[derive(Clone, Debug)]
pub struct History {
    samples: VecDeque<Sample>,
    capacity: usize,
}

impl History {
    /// `capacity` is clamped to 1..=[`MAX_HISTORY_LEN`].
    pub fn new(capacity: usize) -> History {
        let capacity = capacity.clamp(1, MAX_HISTORY_LEN);
        History {
            samples: VecDeque::with_capacity(capacity.min(64)),
            capacity,
        }
    }

    pub fn push(&mut self, sample: Sample) {
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Sample> {
        self.samples.iter()
    }

    pub fn last(&self) -> Option<&Sample> {
        self.samples.back()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_newest_samples() {
        let mut h = History::new(3);
        for i in 0..10u64 {
            h.push(Sample::new(
                Instant::from_millis(i),
                Some(i as f64),
                Severity::Ok,
            ));
        }
        assert_eq!(h.len(), 3);
        let values: Vec<_> = h.iter().filter_map(|s| s.value()).collect();
        assert_eq!(values, vec![7.0, 8.0, 9.0]);
        assert_eq!(History::new(0).capacity, 1);
        assert_eq!(History::new(usize::MAX).capacity, MAX_HISTORY_LEN);
        assert_eq!(std::mem::size_of::<Sample>(), 16);
        assert_eq!(
            Sample::new(Instant::ZERO, Some(f64::NAN), Severity::Ok).value(),
            None
        );
        assert_eq!(Sample::new(Instant::ZERO, None, Severity::Ok).value(), None);
    }
}
