//! Property test of the pure state machine: any sequence of operations keeps the
//! controller invariants, and refusals are only the documented statuses.

use m365backup_emulator::lifecycle::{
    Actor, BillingProfile, InitialController, ServiceAppStatus, Tenant,
};
use proptest::prelude::*;
use time::{Duration, OffsetDateTime, macros::datetime};

const APPS: [&str; 3] = ["a", "b", "c"];
const T0: OffsetDateTime = datetime!(2026-03-01 00:00:00 UTC);

#[derive(Debug, Clone)]
enum Op {
    Register(usize),
    Activate(usize, i64),
    Deactivate(usize),
    Delete(usize),
    Enable(usize),
    Advance(i64),
    Cancel,
    Takeover(usize, i64),
    Billing(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize).prop_map(Op::Register),
        // effective date offset in hours: past, now, inside and outside the window
        (0..3usize, -48i64..900).prop_map(|(i, h)| Op::Activate(i, h)),
        (0..3usize).prop_map(Op::Deactivate),
        (0..3usize).prop_map(Op::Delete),
        (0..3usize).prop_map(Op::Enable),
        (0i64..400).prop_map(Op::Advance),
        Just(Op::Cancel),
        (0..3usize, 0i64..400).prop_map(|(i, h)| Op::Takeover(i, h)),
        (0u8..3).prop_map(Op::Billing),
    ]
}

fn actor(i: usize) -> Actor {
    Actor {
        app_id: APPS[i].to_string(),
        app_display_name: None,
        user_id: Some("admin".to_string()),
    }
}

fn check(t: &Tenant, now: OffsetDateTime) -> Result<(), TestCaseError> {
    let count = |s: ServiceAppStatus| t.apps.iter().filter(|a| a.status == s).count();
    let controllers = count(ServiceAppStatus::Active) + count(ServiceAppStatus::PendingInactive);
    prop_assert!(controllers <= 1, "two controllers: {:?}", t.apps);
    prop_assert!(count(ServiceAppStatus::PendingActive) <= 1);
    prop_assert!(
        count(ServiceAppStatus::PendingInactive) <= count(ServiceAppStatus::PendingActive)
    );
    match &t.pending {
        Some(p) => {
            let new = t.app(&p.new_app).expect("pending app registered");
            prop_assert_eq!(new.status, ServiceAppStatus::PendingActive);
            prop_assert_eq!(new.effective_date_time, Some(p.effective));
            prop_assert!(p.effective > now, "a due change was not applied");
            if let Some(old) = &p.old_app {
                let old = t.app(old).expect("old app registered");
                prop_assert_eq!(old.status, ServiceAppStatus::PendingInactive);
                prop_assert_eq!(old.effective_date_time, Some(p.effective));
            }
        }
        None => {
            prop_assert_eq!(count(ServiceAppStatus::PendingActive), 0);
            prop_assert_eq!(count(ServiceAppStatus::PendingInactive), 0);
        }
    }
    for a in &t.apps {
        if a.status == ServiceAppStatus::Inactive {
            prop_assert!(a.effective_date_time.is_none());
        }
    }
    if let Some(g) = t.grace_ends {
        prop_assert!(g > now);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn invariants_hold(first_party in any::<bool>(), ops in proptest::collection::vec(op(), 1..40)) {
        let start = if first_party { InitialController::FirstParty } else { InitialController::None };
        let mut t = Tenant::new("t", start, T0);
        let mut now = T0;
        for op in ops {
            let r = match op {
                Op::Register(i) => t.register(&actor(i), now).map(|_| ()),
                Op::Activate(i, h) => t.activate(APPS[i], now + Duration::hours(h), &actor(i), now).map(|_| ()),
                Op::Deactivate(i) => t.deactivate(APPS[i], &actor(i), now).map(|_| ()),
                Op::Delete(i) => t.delete(APPS[i], now),
                Op::Enable(i) => t.enable(&actor(i), "23014d8c-71fe-4d00-a01a-31850bc5b42a", now).map(|_| ()),
                Op::Advance(h) => { now += Duration::hours(h); t.advance(now); Ok(()) }
                Op::Cancel => t.cancel_pending_change(now),
                Op::Takeover(i, h) => t.takeover(&actor(i), Duration::hours(h), now).map(|_| ()),
                Op::Billing(b) => {
                    t.set_billing([BillingProfile::Valid, BillingProfile::Invalid, BillingProfile::Unreadable][b as usize]);
                    Ok(())
                }
            };
            if let Err(e) = r {
                prop_assert!([400, 402, 403, 404, 409].contains(&e.status), "unexpected {e}");
            }
            t.advance(now);
            check(&t, now)?;
        }
    }
}
