//! Admission over every combination of its inputs (issue: "tested over every combination, enumerated").
//! Each rule an operator relies on is checked against the whole space, and every refusal must carry a
//! message that says what to do.

use steward_maintenance::action::{Action, OperatorAction};
use steward_maintenance::admission::{admit, admit_add, AdmissionInput};
use steward_maintenance::host::{BmcProtocol, BmcSpec, HostSpec};
use steward_maintenance::state::*;

const IN_PROGRESS: [Action; 10] = [
    Action::None,
    Action::Add,
    Action::Recover,
    Action::Unlock,
    Action::Lock,
    Action::ForceLock,
    Action::PowerOff,
    Action::Reinstall,
    Action::Swact,
    Action::Delete,
];

fn every_input() -> impl Iterator<Item = AdmissionInput> {
    let mut all = Vec::new();
    for &action in OperatorAction::ALL.iter() {
        for &admin in AdminState::ALL {
            for &oper in OperState::ALL {
                for &avail in Availability::ALL {
                    for &personality in Personality::ALL {
                        for &system in SystemType::ALL {
                            for bits in 0..16u8 {
                                for &in_progress in IN_PROGRESS.iter() {
                                    all.push(AdmissionInput {
                                        action,
                                        states: HostStates::new(admin, oper, avail),
                                        personality,
                                        system,
                                        is_active_controller: bits & 1 != 0,
                                        standby_enabled: bits & 2 != 0,
                                        bmc_provisioned: bits & 4 != 0,
                                        swact_in_progress: bits & 8 != 0,
                                        in_progress,
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    all.into_iter()
}

#[test]
fn every_combination_obeys_the_rules() {
    let mut accepted = 0usize;
    let mut total = 0usize;
    for i in every_input() {
        total += 1;
        let r = admit(&i);
        let locked = i.states.admin == AdminState::Locked;
        if let Err(refusal) = &r {
            assert!(
                refusal.0.len() > 10 && refusal.0.ends_with('.'),
                "vague refusal {refusal:?} for {i:?}"
            );
            continue;
        }
        accepted += 1;
        let ctx = format!("accepted {i:?}");
        assert!(
            !i.swact_in_progress,
            "a running swact blocks everything: {ctx}"
        );
        assert_ne!(i.in_progress, Action::Delete, "{ctx}");
        use OperatorAction as Op;
        match i.action {
            Op::Lock | Op::ForceLock => {
                assert!(!locked, "{ctx}");
                if i.is_active_controller {
                    assert!(
                        i.system == SystemType::AioSimplex && i.action == Op::Lock,
                        "{ctx}"
                    );
                }
            }
            Op::Unlock => assert!(locked, "{ctx}"),
            Op::Delete | Op::Reinstall | Op::PowerOff | Op::Reset | Op::Reboot | Op::PowerOn => {
                assert!(locked, "destructive actions need a locked host: {ctx}");
                if i.action != Op::PowerOn && i.action != Op::Reboot {
                    assert!(!i.is_active_controller, "{ctx}");
                }
                if matches!(i.action, Op::Reset | Op::PowerOff | Op::PowerOn) {
                    assert!(i.bmc_provisioned, "{ctx}");
                }
            }
            Op::Swact | Op::ForceSwact => {
                assert_eq!(i.personality, Personality::Controller, "{ctx}");
                assert!(i.standby_enabled && i.is_active_controller, "{ctx}");
                assert_ne!(i.system, SystemType::AioSimplex, "{ctx}");
            }
        }
        // An operator action in progress is only ever superseded by the listed pairs.
        let running = i.in_progress;
        let internal = matches!(running, Action::None | Action::Add | Action::Recover);
        if !internal {
            let ok = matches!(
                (i.action, running),
                (Op::ForceLock, _) | (Op::Lock, Action::Unlock) | (Op::PowerOn, Action::PowerOff)
            );
            assert!(ok, "{ctx}");
            assert!(
                !matches!(running, Action::Swact | Action::ForceLock),
                "{ctx}"
            );
        }
    }
    assert!(
        total > 500_000,
        "the enumeration covers the space ({total})"
    );
    assert!(accepted > 1000);
}

#[test]
fn operator_messages_match_the_documented_refusals() {
    let base = AdmissionInput {
        action: OperatorAction::Lock,
        states: HostStates::new(
            AdminState::Unlocked,
            OperState::Enabled,
            Availability::Available,
        ),
        personality: Personality::Controller,
        system: SystemType::Standard,
        is_active_controller: true,
        standby_enabled: true,
        in_progress: Action::None,
        bmc_provisioned: true,
        swact_in_progress: false,
    };
    assert!(admit(&base)
        .unwrap_err()
        .0
        .starts_with("Cannot lock the active controller"));
    let unlocked_delete = AdmissionInput {
        action: OperatorAction::Delete,
        is_active_controller: false,
        ..base
    };
    assert!(admit(&unlocked_delete)
        .unwrap_err()
        .0
        .contains("lock it first"));
    let no_bmc = AdmissionInput {
        action: OperatorAction::Reset,
        is_active_controller: false,
        bmc_provisioned: false,
        states: HostStates::new(
            AdminState::Locked,
            OperState::Disabled,
            Availability::Online,
        ),
        ..base
    };
    assert!(admit(&no_bmc)
        .unwrap_err()
        .0
        .contains("BMC is not provisioned"));
    let no_standby = AdmissionInput {
        action: OperatorAction::Swact,
        standby_enabled: false,
        ..base
    };
    assert!(admit(&no_standby)
        .unwrap_err()
        .0
        .contains("No enabled standby"));
}

fn spec(name: &str, p: Personality, ip: &str) -> HostSpec {
    HostSpec {
        name: name.into(),
        uuid: format!("uuid-{name}"),
        personality: p,
        mgmt_ip: Some(ip.into()),
        mgmt_mac: Some(format!("mac-{ip}")),
        pxeboot_ip: None,
        cluster_ip: None,
        bmc: Some(BmcSpec {
            protocol: BmcProtocol::Redfish,
            address: format!("bmc-{ip}"),
            username: "root".into(),
        }),
        install: Default::default(),
    }
}

#[test]
fn add_refuses_duplicates_reserved_names_and_a_third_controller() {
    let c0 = spec("controller-0", Personality::Controller, "10.0.0.1");
    let c1 = spec("controller-1", Personality::Controller, "10.0.0.2");
    let existing = [&c0, &c1];
    let sys = SystemType::Standard;
    let third = spec("controller-2", Personality::Controller, "10.0.0.3");
    assert!(admit_add(&third, &existing, sys)
        .unwrap_err()
        .0
        .contains("third"));
    let second_sx = admit_add(&c1, &[&c0], SystemType::AioSimplex).unwrap_err();
    assert!(second_sx.0.contains("second"), "{second_sx}");
    let reserved = spec("storage-0", Personality::Worker, "10.0.0.4");
    assert!(admit_add(&reserved, &existing, sys)
        .unwrap_err()
        .0
        .contains("reserved"));
    let dup_name = spec("controller-1", Personality::Controller, "10.0.0.9");
    assert!(
        admit_add(&dup_name, &[&c0], sys).is_ok(),
        "one controller so far"
    );
    let w = spec("worker-0", Personality::Worker, "10.0.0.5");
    assert!(admit_add(&w, &existing, sys).is_ok());
    let dup_ip = spec("worker-1", Personality::Worker, "10.0.0.1");
    assert!(admit_add(&dup_ip, &existing, sys)
        .unwrap_err()
        .0
        .contains("already used"));
    let mut dup_mac = spec("worker-2", Personality::Worker, "10.0.0.6");
    dup_mac.mgmt_mac = c0.mgmt_mac.clone();
    assert!(admit_add(&dup_mac, &existing, sys)
        .unwrap_err()
        .0
        .contains("MAC"));
    let mut none = spec("none", Personality::Worker, "10.0.0.7");
    assert!(admit_add(&none, &existing, sys).is_err());
    none.name = "bad name!".into();
    assert!(admit_add(&none, &existing, sys)
        .unwrap_err()
        .0
        .contains("not a valid hostname"));
    let storage_aio = spec("storage-1", Personality::Storage, "10.0.0.8");
    assert!(admit_add(&storage_aio, &[&c0], SystemType::AioDuplex).is_err());
}
