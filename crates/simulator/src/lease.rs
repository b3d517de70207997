//! The lease server of the controller pair (etcd's lease, as the pair uses it), on the simulator's own
//! clock: the **ground truth** of who holds the lease at each simulated instant. The controllers never
//! read it directly; their requests reach it over a simulated link ([`crate::pair`]).
//!
//! Like etcd: a grant succeeds only while no live lease is held; a keepalive renews a live lease to a
//! full TTL from the moment it *arrives*; a keepalive of an expired or revoked lease fails; a revoke ends
//! the lease at once. What is not modelled: etcd's own replication and leader changes (a leader change
//! only ever extends leases, the safe direction).

use std::time::Duration;
use steward_maintenance::Instant;

/// The lease currently granted (it may have expired: see [`LeaseServer::holder`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLease {
    pub id: u64,
    /// Index of the controller that holds it.
    pub holder: usize,
    /// Simulated time at which it expires unless renewed.
    pub expiry: Instant,
}

/// One controller's time as the lease holder, from grant to expiry or revoke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tenure {
    pub holder: usize,
    pub from: Instant,
    pub until: Instant,
}

#[derive(Clone, Debug)]
pub struct LeaseServer {
    ttl: Duration,
    next_id: u64,
    lease: Option<ServerLease>,
    /// Every finished tenure, oldest first.
    pub history: Vec<Tenure>,
    granted_at: Instant,
}

impl LeaseServer {
    pub fn new(ttl: Duration) -> LeaseServer {
        LeaseServer {
            ttl,
            next_id: 1,
            lease: None,
            history: Vec::new(),
            granted_at: Instant::ZERO,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Who holds a live lease at `now`.
    pub fn holder(&self, now: Instant) -> Option<usize> {
        self.lease.filter(|l| now < l.expiry).map(|l| l.holder)
    }

    /// The lease as granted (live or not).
    pub fn lease(&self) -> Option<ServerLease> {
        self.lease
    }

    /// A grant request from `who` arrives: granted if nobody holds a live lease.
    pub fn grant(&mut self, who: usize, now: Instant) -> Option<u64> {
        if self.holder(now).is_some() {
            return None;
        }
        self.close(now);
        let id = self.next_id;
        self.next_id += 1;
        self.lease = Some(ServerLease {
            id,
            holder: who,
            expiry: now + self.ttl,
        });
        self.granted_at = now;
        Some(id)
    }

    /// A keepalive of lease `id` arrives: renewed to a full TTL from now if it still lives.
    pub fn keepalive(&mut self, id: u64, now: Instant) -> bool {
        match self.lease.as_mut() {
            Some(l) if l.id == id && now < l.expiry => {
                l.expiry = now + self.ttl;
                true
            }
            _ => false,
        }
    }

    /// A revoke of lease `id` arrives: it ends now.
    pub fn revoke(&mut self, id: u64, now: Instant) {
        if let Some(l) = self.lease.as_mut() {
            if l.id == id && now < l.expiry {
                l.expiry = now;
            }
        }
    }

    fn close(&mut self, now: Instant) {
        if let Some(l) = self.lease.take() {
            self.history.push(Tenure {
                holder: l.holder,
                from: self.granted_at,
                until: l.expiry.min(now),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn a_lease_expires_ttl_after_the_last_keepalive_that_arrived() {
        let mut s = LeaseServer::new(Duration::from_secs(6));
        let id = s.grant(0, at(0)).unwrap();
        assert!(s.keepalive(id, at(2_000)));
        assert_eq!(s.holder(at(7_999)), Some(0));
        assert_eq!(s.holder(at(8_000)), None);
        assert!(
            !s.keepalive(id, at(8_000)),
            "an expired lease is not renewed"
        );
    }

    #[test]
    fn only_one_holder_and_a_revoke_frees_it_at_once() {
        let mut s = LeaseServer::new(Duration::from_secs(6));
        let a = s.grant(0, at(0)).unwrap();
        assert_eq!(s.grant(1, at(100)), None);
        s.revoke(a, at(200));
        let b = s.grant(1, at(200)).unwrap();
        assert_ne!(a, b);
        assert_eq!(s.holder(at(300)), Some(1));
        assert!(!s.keepalive(a, at(300)));
        assert_eq!(s.history.len(), 1);
    }
}
