//! The SessionService's session table. Pure bookkeeping with `now` passed in, so idle expiry
//! and the session limit are tested without clocks or sockets.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::fault::Fault;

/// One live session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Session {
    /// Resource id (`…/Sessions/{id}`); public, unlike the token.
    pub id: String,
    pub user: String,
    last_used: Instant,
}

/// Live sessions keyed by token. Bounded: a BMC has a handful of session slots and a client
/// that never logs out must not grow this without limit.
#[derive(Debug)]
pub(crate) struct Sessions {
    by_token: HashMap<String, Session>,
    idle_timeout: Duration,
    max: usize,
    next_id: u64,
}

impl Sessions {
    pub fn new(idle_timeout: Duration, max: usize) -> Self {
        Sessions {
            by_token: HashMap::new(),
            idle_timeout,
            max: max.max(1),
            next_id: 1,
        }
    }

    fn expired(&self, s: &Session, now: Instant) -> bool {
        now.saturating_duration_since(s.last_used) > self.idle_timeout
    }

    /// Forget sessions idle for longer than the timeout.
    fn prune(&mut self, now: Instant) {
        let timeout = self.idle_timeout;
        self.by_token
            .retain(|_, s| now.saturating_duration_since(s.last_used) <= timeout);
    }

    /// Open a session for `user` under `token` (the caller makes the token unguessable).
    pub fn create(&mut self, user: &str, token: String, now: Instant) -> Result<Session, Fault> {
        self.prune(now);
        if self.by_token.len() >= self.max {
            return Err(Fault::SessionLimit);
        }
        let session = Session {
            id: self.next_id.to_string(),
            user: user.to_owned(),
            last_used: now,
        };
        self.next_id += 1;
        self.by_token.insert(token, session.clone());
        Ok(session)
    }

    /// The session a token belongs to, refreshing its idle timer; `None` when the token is
    /// unknown or its session has expired (an expired session is dropped here).
    pub fn touch(&mut self, token: &str, now: Instant) -> Option<Session> {
        let expired = match self.by_token.get(token) {
            None => return None,
            Some(s) => self.expired(s, now),
        };
        if expired {
            self.by_token.remove(token);
            return None;
        }
        let s = self.by_token.get_mut(token)?;
        s.last_used = now;
        Some(s.clone())
    }

    /// The live session with resource id `id`.
    pub fn get(&mut self, id: &str, now: Instant) -> Option<Session> {
        self.prune(now);
        self.by_token.values().find(|s| s.id == id).cloned()
    }

    /// Ids of all live sessions, in creation order.
    pub fn ids(&mut self, now: Instant) -> Vec<String> {
        self.prune(now);
        let mut ids: Vec<u64> = self
            .by_token
            .values()
            .filter_map(|s| s.id.parse().ok())
            .collect();
        ids.sort_unstable();
        ids.into_iter().map(|i| i.to_string()).collect()
    }

    /// Log out the session with resource id `id`; false when there is none.
    pub fn remove(&mut self, id: &str) -> bool {
        let before = self.by_token.len();
        self.by_token.retain(|_, s| s.id != id);
        self.by_token.len() != before
    }

    /// Drop every session (a BMC reboot): clients must log in again.
    pub fn clear(&mut self) {
        self.by_token.clear();
    }

    pub fn len(&mut self, now: Instant) -> usize {
        self.prune(now);
        self.by_token.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_touch_expire() {
        let t0 = Instant::now();
        let mut s = Sessions::new(Duration::from_secs(60), 4);
        let a = s.create("root", "tok-a".into(), t0).expect("create");
        assert_eq!(a.id, "1");
        // Use within the timeout keeps the session alive past its first deadline.
        assert!(s.touch("tok-a", t0 + Duration::from_secs(50)).is_some());
        assert!(s.touch("tok-a", t0 + Duration::from_secs(100)).is_some());
        // Idle for longer than the timeout: gone.
        assert!(s.touch("tok-a", t0 + Duration::from_secs(161)).is_none());
        assert!(s.touch("tok-a", t0 + Duration::from_secs(161)).is_none());
        assert!(s.touch("unknown", t0).is_none());
        assert_eq!(s.len(t0 + Duration::from_secs(161)), 0);
    }

    #[test]
    fn limit_counts_only_live_sessions() {
        let t0 = Instant::now();
        let mut s = Sessions::new(Duration::from_secs(10), 2);
        s.create("u", "a".into(), t0).expect("a");
        s.create("u", "b".into(), t0).expect("b");
        assert!(matches!(
            s.create("u", "c".into(), t0),
            Err(Fault::SessionLimit)
        ));
        // Once the first two expire their slots are free again.
        let later = t0 + Duration::from_secs(11);
        let c = s.create("u", "c".into(), later).expect("c");
        assert_eq!(c.id, "3");
        assert_eq!(s.ids(later), vec!["3".to_owned()]);
    }

    #[test]
    fn remove_and_clear() {
        let t0 = Instant::now();
        let mut s = Sessions::new(Duration::from_secs(10), 8);
        let a = s.create("u", "a".into(), t0).expect("a");
        s.create("u", "b".into(), t0).expect("b");
        assert!(s.get(&a.id, t0).is_some());
        assert!(s.remove(&a.id));
        assert!(!s.remove(&a.id));
        assert!(s.touch("a", t0).is_none());
        assert_eq!(s.ids(t0), vec!["2".to_owned()]);
        s.clear();
        assert_eq!(s.len(t0), 0);
    }
}
