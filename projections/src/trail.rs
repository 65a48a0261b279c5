//! One household's trail: its events in order, payments linked to reversals.
//!
//! Not maintained state (it grows with events): the main crate scans its log
//! for one household's events and passes them here.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::vocab::{Date, Fact, PaymentKind};

/// One event of the household, as the main crate found it in the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrailInput {
    pub fact: Fact,
    /// Free text the clerk attached to the event; empty if none.
    pub memo: String,
}

/// What a trail entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrailKind {
    Enrolled,
    Payment(PaymentKind),
    Reversal,
    /// Money of a finding's receivable came back (追缴).
    Recovery,
}

impl TrailKind {
    /// `"enrolled"`, `"reversal"`, or the payment kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            TrailKind::Enrolled => "enrolled",
            TrailKind::Payment(kind) => kind.as_str(),
            TrailKind::Reversal => "reversal",
            TrailKind::Recovery => "recovery_received",
        }
    }
}

impl fmt::Display for TrailKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of a household's trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrailEntry {
    pub seq: u64,
    pub kind: TrailKind,
    /// Enrollment date, payment value date, or the day of the reversal.
    pub date: Date,
    /// For a reversal: the value date of the payment it removes.
    pub target_date: Option<Date>,
    pub program: Option<String>,
    /// As recorded (never negative); `kind` says which way the money went.
    pub amount_fen: i64,
    /// Persons covered; for an enrollment, the household's members.
    pub persons: u32,
    /// A payment's external reference (bank transaction, voucher, policy).
    pub reference: Option<String>,
    /// A reversal's reason.
    pub reason: Option<String>,
    pub memo: String,
    /// For a payment: the seq of the reversal that removed it, if it is in
    /// the input.
    pub reversed_by: Option<u64>,
    /// For a reversal: the seq of the payment (or recovery) it removes.
    pub reverses: Option<u64>,
    /// For a recovery and its reversal: the finding whose receivable it reduced.
    pub finding: Option<String>,
}

/// Builds the trail from one household's events in seq order. Allocations
/// belong to no household and are left out. If two reversals name the same
/// payment, `reversed_by` keeps the first (the later one could not have
/// removed a payment that was no longer live).
pub fn trail(events: impl IntoIterator<Item = (u64, TrailInput)>) -> Vec<TrailEntry> {
    let mut entries: Vec<TrailEntry> = events
        .into_iter()
        .filter_map(|(seq, input)| entry(seq, input))
        .collect();
    link_reversals(&mut entries);
    entries
}

fn entry(seq: u64, input: TrailInput) -> Option<TrailEntry> {
    let memo = input.memo;
    match input.fact {
        // A decision is the findings' trail, not the household's money.
        Fact::Allocated { .. } | Fact::ReceivableSet { .. } => None,
        Fact::HouseholdEnrolled {
            members,
            enrolled_on,
            ..
        } => Some(TrailEntry {
            persons: members,
            ..TrailEntry::bare(seq, TrailKind::Enrolled, enrolled_on, memo)
        }),
        Fact::Paid {
            kind,
            program,
            amount_fen,
            persons,
            date,
            reference,
            ..
        } => Some(TrailEntry {
            program: Some(program),
            amount_fen,
            persons,
            reference: Some(reference),
            ..TrailEntry::bare(seq, TrailKind::Payment(kind), date, memo)
        }),
        Fact::Reversed {
            target_seq,
            program,
            amount_fen,
            persons,
            target_date,
            date,
            reason,
            ..
        } => Some(TrailEntry {
            target_date: Some(target_date),
            program: Some(program),
            amount_fen,
            persons,
            reason: Some(reason),
            reverses: Some(target_seq),
            ..TrailEntry::bare(seq, TrailKind::Reversal, date, memo)
        }),
        Fact::Recovered {
            finding,
            program,
            amount_fen,
            date,
            reference,
            ..
        } => Some(TrailEntry {
            program: Some(program),
            amount_fen,
            reference: Some(reference),
            finding: Some(finding),
            ..TrailEntry::bare(seq, TrailKind::Recovery, date, memo)
        }),
        Fact::RecoveryReversed {
            target_seq,
            finding,
            program,
            amount_fen,
            target_date,
            date,
            reason,
            ..
        } => Some(TrailEntry {
            target_date: Some(target_date),
            program: Some(program),
            amount_fen,
            reason: Some(reason),
            reverses: Some(target_seq),
            finding: Some(finding),
            ..TrailEntry::bare(seq, TrailKind::Reversal, date, memo)
        }),
    }
}

impl TrailEntry {
    /// An entry with only what every kind has; the rest is filled per kind.
    fn bare(seq: u64, kind: TrailKind, date: Date, memo: String) -> TrailEntry {
        TrailEntry {
            seq,
            kind,
            date,
            target_date: None,
            program: None,
            amount_fen: 0,
            persons: 0,
            reference: None,
            reason: None,
            memo,
            reversed_by: None,
            reverses: None,
            finding: None,
        }
    }
}

fn link_reversals(entries: &mut [TrailEntry]) {
    let payment_at: BTreeMap<u64, usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e.kind, TrailKind::Payment(_) | TrailKind::Recovery))
        .map(|(index, e)| (e.seq, index))
        .collect();
    let links: Vec<(usize, u64)> = entries
        .iter()
        .filter_map(|e| {
            let target = e.reverses?;
            payment_at.get(&target).map(|&index| (index, e.seq))
        })
        .collect();
    for (index, reversal_seq) in links {
        if let Some(payment) = entries.get_mut(index) {
            payment.reversed_by.get_or_insert(reversal_seq);
        }
    }
}
