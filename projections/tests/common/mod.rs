//! Builders shared by the integration tests.
#![allow(dead_code)]

use fundtrail_projections::{Date, Fact, PaymentKind, ReadModels, YearMonth};

pub const HASH: [u8; 32] = [7; 32];

pub fn date(year: i32, month: u8, day: u8) -> Date {
    Date { year, month, day }
}

pub fn ym(year: i32, month: u8) -> YearMonth {
    YearMonth { year, month }
}

pub fn enroll(household: &str, subdistrict: &str, community: &str, members: u32) -> Fact {
    Fact::HouseholdEnrolled {
        household: household.into(),
        subdistrict: subdistrict.into(),
        community: community.into(),
        category: "bereaved".into(),
        members,
        enrolled_on: date(2017, 12, 1),
    }
}

pub fn allocate(program: &str, amount_fen: i64) -> Fact {
    Fact::Allocated {
        program: program.into(),
        amount_fen,
        date: date(2018, 1, 1),
        source: "district budget".into(),
    }
}

pub fn pay(household: &str, program: &str, amount_fen: i64, persons: u32, on: Date) -> Fact {
    Fact::Paid {
        kind: PaymentKind::Disbursement,
        household: household.into(),
        program: program.into(),
        amount_fen,
        persons,
        date: on,
        reference: format!("ref-{household}-{program}-{on}"),
    }
}

/// A reversal of `target` (which must be a `Fact::Paid`) at seq `target_seq`.
pub fn reverse(target_seq: u64, target: &Fact, on: Date) -> Fact {
    let Fact::Paid {
        household,
        program,
        amount_fen,
        persons,
        date,
        ..
    } = target
    else {
        panic!("only payments can be reversed, got {target:?}");
    };
    Fact::Reversed {
        target_seq,
        household: household.clone(),
        program: program.clone(),
        amount_fen: *amount_fen,
        persons: *persons,
        target_date: *date,
        date: on,
        reason: "entered twice".into(),
    }
}

/// Applies facts with seqs following the model's last one.
pub fn apply_all(models: &mut ReadModels, facts: &[Fact]) {
    for fact in facts {
        let seq = models.next_seq().expect("seq fits");
        models
            .apply(seq, HASH, fact)
            .unwrap_or_else(|e| panic!("seq {seq} {fact:?}: {e}"));
    }
}
