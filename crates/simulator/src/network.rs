//! The simulated network: one link per host per network (management, cluster), each with loss, delay,
//! duplication and a cut switch (partition). Every alive report, acknowledgement, go-enabled result and
//! command crosses a link; heartbeat pulses too in pulse mode ([`crate::pulse`]; the default event-level
//! model, [`crate::heartbeat`], does not simulate them one by one).

use crate::prng::Rng;
use std::time::Duration;

/// How a link behaves when it is not cut.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkParams {
    /// Probability that one datagram is lost.
    pub loss: f64,
    /// One-way delay range.
    pub delay_min: Duration,
    pub delay_max: Duration,
    /// Probability that a delivered datagram arrives twice.
    pub duplicate: f64,
}

impl LinkParams {
    /// A perfect link: no loss, 1 ms, no duplicates.
    pub const CLEAN: LinkParams = LinkParams {
        loss: 0.0,
        delay_min: Duration::from_millis(1),
        delay_max: Duration::from_millis(1),
        duplicate: 0.0,
    };
}

impl Default for LinkParams {
    fn default() -> Self {
        LinkParams::CLEAN
    }
}

/// One host's attachment to one network.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Link {
    pub params: LinkParams,
    /// Partitioned: nothing crosses in either direction.
    pub cut: bool,
}

/// What happens to one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    Dropped,
    Once(Duration),
    /// Duplicated: delivered after each delay.
    Twice(Duration, Duration),
}

impl Link {
    /// Decide the fate of one datagram. Draws from `rng` in a fixed order so runs replay.
    pub fn transmit(&self, rng: &mut Rng) -> Delivery {
        if self.cut {
            return Delivery::Dropped;
        }
        if rng.chance(self.params.loss) {
            return Delivery::Dropped;
        }
        let d1 = rng.duration(self.params.delay_min, self.params.delay_max);
        if rng.chance(self.params.duplicate) {
            let d2 = rng.duration(self.params.delay_min, self.params.delay_max);
            return Delivery::Twice(d1, d2);
        }
        Delivery::Once(d1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_link_drops_everything_and_clean_link_delivers() {
        let mut rng = Rng::new(1);
        let cut = Link {
            params: LinkParams::CLEAN,
            cut: true,
        };
        let clean = Link::default();
        for _ in 0..100 {
            assert_eq!(cut.transmit(&mut rng), Delivery::Dropped);
            assert_eq!(
                clean.transmit(&mut rng),
                Delivery::Once(Duration::from_millis(1))
            );
        }
    }

    #[test]
    fn lossy_link_loses_about_the_configured_share_and_duplicates() {
        let mut rng = Rng::new(2);
        let link = Link {
            params: LinkParams {
                loss: 0.25,
                delay_min: Duration::from_millis(2),
                delay_max: Duration::from_millis(9),
                duplicate: 0.1,
            },
            cut: false,
        };
        let (mut lost, mut dup) = (0, 0);
        for _ in 0..10_000 {
            match link.transmit(&mut rng) {
                Delivery::Dropped => lost += 1,
                Delivery::Once(d) => {
                    assert!(d >= Duration::from_millis(2) && d <= Duration::from_millis(9))
                }
                Delivery::Twice(..) => dup += 1,
            }
        }
        assert!((2_200..2_800).contains(&lost), "lost {lost}");
        assert!((500..1_000).contains(&dup), "dup {dup}");
    }
}
