//! Which Open Session answers steward accepts. Pure, no I/O.
//!
//! The console proposes one cipher suite's algorithms; the BMC answers with the ones
//! it will use, which some BMCs pick differently from the proposal. ipmitool carries on
//! with whatever it supports, and so do we, with one guard against a downgrade: every
//! algorithm the BMC chose must be one steward speaks *and* at least as strong as the
//! weakest suite the operator configured (so with suites 17 and 3, an answer of
//! RAKP-HMAC-SHA1 to a suite-17 proposal is accepted — it is what suite 3 would give
//! anyway — but with suite 17 alone it is refused). "None" algorithms are never
//! accepted: no suite steward proposes allows them.

use std::fmt;

use crate::crypto::{
    auth_alg_name, conf_alg_name, integrity_alg_name, AlgorithmIds, Algorithms, AuthAlg,
    CipherSuite, ConfAlg, IntegrityAlg,
};

/// An acceptable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The BMC chose exactly what was proposed.
    AsProposed(Algorithms),
    /// The BMC chose other algorithms steward speaks and the configuration allows.
    /// `weaker` names the components weaker than proposed (worth a warning).
    Different {
        chosen: Algorithms,
        weaker: Vec<&'static str>,
    },
}

impl Verdict {
    pub fn algorithms(&self) -> Algorithms {
        match self {
            Verdict::AsProposed(a) => *a,
            Verdict::Different { chosen, .. } => *chosen,
        }
    }
}

/// Why an answer was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalReason {
    /// Steward does not speak this algorithm ("none" included).
    Unsupported {
        component: &'static str,
        name: String,
    },
    /// Steward speaks it, but it is weaker than every configured suite.
    Downgrade {
        component: &'static str,
        chosen: &'static str,
        weakest_allowed: &'static str,
    },
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefusalReason::Unsupported { component, name } => {
                write!(f, "steward does not support {component} {name}")
            }
            RefusalReason::Downgrade {
                component,
                chosen,
                weakest_allowed,
            } => write!(
                f,
                "{component} {chosen} is weaker than the configured cipher suites allow \
                 (weakest allowed: {weakest_allowed})"
            ),
        }
    }
}

/// One refused Open Session answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub proposed: CipherSuite,
    pub chosen: AlgorithmIds,
    pub reason: RefusalReason,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "to cipher suite {} the BMC answered {} ({})",
            self.proposed.id(),
            self.chosen,
            self.reason
        )
    }
}

/// The weakest algorithm of each kind the configured suites allow.
struct Floor {
    auth: AuthAlg,
    integrity: IntegrityAlg,
    confidentiality: ConfAlg,
}

fn floor(configured: &[CipherSuite], proposed: CipherSuite) -> Floor {
    let all = configured
        .iter()
        .chain(std::iter::once(&proposed))
        .map(|s| s.algorithms());
    let p = proposed.algorithms();
    let mut f = Floor {
        auth: p.auth,
        integrity: p.integrity,
        confidentiality: p.confidentiality,
    };
    for a in all {
        f.auth = f.auth.min(a.auth);
        f.integrity = f.integrity.min(a.integrity);
        f.confidentiality = f.confidentiality.min(a.confidentiality);
    }
    f
}

/// Judge the BMC's answer `chosen` to a proposal of `proposed`, given the suites
/// the operator configured.
pub fn judge(
    proposed: CipherSuite,
    configured: &[CipherSuite],
    chosen: AlgorithmIds,
) -> Result<Verdict, Refusal> {
    let refuse = |reason| Refusal {
        proposed,
        chosen,
        reason,
    };
    let unsupported = |component, name: &str, id: u8| {
        refuse(RefusalReason::Unsupported {
            component,
            name: format!("{name} (0x{id:02X})"),
        })
    };
    let auth = AuthAlg::from_id(chosen.auth)
        .ok_or_else(|| unsupported("authentication", auth_alg_name(chosen.auth), chosen.auth))?;
    let integrity = IntegrityAlg::from_id(chosen.integrity).ok_or_else(|| {
        unsupported(
            "integrity",
            integrity_alg_name(chosen.integrity),
            chosen.integrity,
        )
    })?;
    let confidentiality = ConfAlg::from_id(chosen.confidentiality).ok_or_else(|| {
        unsupported(
            "confidentiality",
            conf_alg_name(chosen.confidentiality),
            chosen.confidentiality,
        )
    })?;
    let f = floor(configured, proposed);
    let downgrade = |component, chosen: u8, weakest: u8, name: fn(u8) -> &'static str| {
        refuse(RefusalReason::Downgrade {
            component,
            chosen: name(chosen),
            weakest_allowed: name(weakest),
        })
    };
    if auth < f.auth {
        return Err(downgrade(
            "authentication",
            auth.id(),
            f.auth.id(),
            auth_alg_name,
        ));
    }
    if integrity < f.integrity {
        return Err(downgrade(
            "integrity",
            integrity.id(),
            f.integrity.id(),
            integrity_alg_name,
        ));
    }
    if confidentiality < f.confidentiality {
        return Err(downgrade(
            "confidentiality",
            confidentiality.id(),
            f.confidentiality.id(),
            conf_alg_name,
        ));
    }
    let algs = Algorithms {
        auth,
        integrity,
        confidentiality,
    };
    let p = proposed.algorithms();
    if algs == p {
        return Ok(Verdict::AsProposed(algs));
    }
    let mut weaker = Vec::new();
    if auth < p.auth {
        weaker.push("authentication");
    }
    if integrity < p.integrity {
        weaker.push("integrity");
    }
    if confidentiality < p.confidentiality {
        weaker.push("confidentiality");
    }
    Ok(Verdict::Different {
        chosen: algs,
        weaker,
    })
}

/// What steward accepts with `configured` suites, for error messages:
/// "authentication RAKP-HMAC-SHA256 or RAKP-HMAC-SHA1, integrity …".
pub fn accepted_summary(configured: &[CipherSuite]) -> String {
    let Some(&first) = configured.first() else {
        return "nothing (no cipher suite configured)".into();
    };
    let f = floor(configured, first);
    let names = |ids: Vec<u8>, name: fn(u8) -> &'static str| {
        ids.into_iter().map(name).collect::<Vec<_>>().join(" or ")
    };
    let auth = [AuthAlg::RakpHmacSha256, AuthAlg::RakpHmacSha1]
        .into_iter()
        .filter(|a| *a >= f.auth)
        .map(AuthAlg::id)
        .collect();
    let integrity = [IntegrityAlg::HmacSha256_128, IntegrityAlg::HmacSha1_96]
        .into_iter()
        .filter(|a| *a >= f.integrity)
        .map(IntegrityAlg::id)
        .collect();
    let suites = configured
        .iter()
        .map(|s| s.id().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "authentication {}, integrity {}, confidentiality {} (cipher suites {suites} configured)",
        names(auth, auth_alg_name),
        names(integrity, integrity_alg_name),
        conf_alg_name(f.confidentiality.id()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: &[CipherSuite] = &[CipherSuite::Suite17, CipherSuite::Suite3];
    const ONLY_17: &[CipherSuite] = &[CipherSuite::Suite17];

    fn ids(auth: u8, integrity: u8, confidentiality: u8) -> AlgorithmIds {
        AlgorithmIds {
            auth,
            integrity,
            confidentiality,
        }
    }

    #[test]
    fn the_proposal_itself_is_accepted() {
        let v = judge(CipherSuite::Suite17, BOTH, ids(3, 4, 1)).unwrap();
        assert_eq!(v, Verdict::AsProposed(CipherSuite::Suite17.algorithms()));
    }

    #[test]
    fn a_mixed_answer_is_accepted_and_its_weaker_part_named() {
        let v = judge(CipherSuite::Suite17, BOTH, ids(3, 1, 1)).unwrap();
        match v {
            Verdict::Different { chosen, weaker } => {
                assert_eq!(chosen.auth, AuthAlg::RakpHmacSha256);
                assert_eq!(chosen.integrity, IntegrityAlg::HmacSha1_96);
                assert_eq!(weaker, vec!["integrity"]);
            }
            other => panic!("expected Different, got {other:?}"),
        }
    }

    #[test]
    fn a_stronger_answer_is_accepted_without_a_weaker_part() {
        let v = judge(CipherSuite::Suite3, &[CipherSuite::Suite3], ids(3, 4, 1)).unwrap();
        assert!(matches!(v, Verdict::Different { ref weaker, .. } if weaker.is_empty()));
    }

    #[test]
    fn a_downgrade_below_every_configured_suite_is_refused() {
        let r = judge(CipherSuite::Suite17, ONLY_17, ids(1, 1, 1)).unwrap_err();
        assert!(matches!(
            r.reason,
            RefusalReason::Downgrade {
                component: "authentication",
                ..
            }
        ));
        let text = r.to_string();
        assert!(text.contains("RAKP-HMAC-SHA1"), "{text}");
        assert!(text.contains("RAKP-HMAC-SHA256"), "{text}");
        // Integrity alone weaker is refused too.
        let r = judge(CipherSuite::Suite17, ONLY_17, ids(3, 1, 1)).unwrap_err();
        assert!(r.to_string().contains("integrity HMAC-SHA1-96 is weaker"));
    }

    #[test]
    fn none_algorithms_are_never_accepted() {
        for (a, i, c) in [(0, 4, 1), (3, 0, 1), (3, 4, 0), (0, 0, 0)] {
            let r = judge(CipherSuite::Suite17, BOTH, ids(a, i, c)).unwrap_err();
            assert!(matches!(r.reason, RefusalReason::Unsupported { .. }));
            assert!(r.to_string().contains("none"), "{r}");
        }
        // MD5 and OEM numbers are not spoken either.
        let r = judge(CipherSuite::Suite3, BOTH, ids(2, 2, 1)).unwrap_err();
        assert!(r.to_string().contains("RAKP-HMAC-MD5"), "{r}");
    }

    #[test]
    fn the_accepted_summary_follows_the_configuration() {
        let both = accepted_summary(BOTH);
        assert!(
            both.contains("RAKP-HMAC-SHA256 or RAKP-HMAC-SHA1"),
            "{both}"
        );
        assert!(both.contains("suites 17, 3"), "{both}");
        let only = accepted_summary(ONLY_17);
        assert!(!only.contains("SHA1"), "{only}");
    }
}
