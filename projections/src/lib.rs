//! Read models of the fundtrail ledger: pure folds over a small vocabulary of
//! [`Fact`]s, with no IO and no dependency on the ledger crate.
//!
//! The ledger maps each of its events to at most one fact (an enrollment, an
//! allocation, a payment, a reversal) and feeds them in seq order to
//! [`ReadModels::apply`]; other events go to [`ReadModels::skip`]. Seqs must
//! be dense from 1, and any error leaves the models exactly as they were.
//!
//! Three models are maintained:
//! - **household balances** ([`ReadModels::household`]): per household and
//!   program the net amount, live payments and person-times, plus the
//!   household's total and its enrollment;
//! - **district totals** ([`ReadModels::totals`]): net amount, live payments,
//!   distinct households reached and person-times, grouped by any mix of
//!   sub-district, community, program, year and month, optionally filtered;
//! - **fund balances** ([`ReadModels::funds`]): per program, allocated,
//!   disbursed and remaining.
//!
//! Beside them, [`findings`] folds its own facts ([`FindingFact`]) into the audit
//! findings of issue 13, and [`eligibility`] says who is due the support allowance in a
//! month (the main crate delegates to it).
//!
//! The rule for corrections: **a reversal removes the target payment from the
//! target's cell.** Reporting treats a reversed payment as never paid, so the
//! reversal subtracts the target's amount, one payment and its persons from
//! the year/month (and household, program, place) of the *target's* value
//! date, whatever day the reversal itself happens. A reversal carries copies
//! of the target's fields, so no model keeps per-event data; the fold checks
//! that they fit what is live and rejects them otherwise.
//!
//! State grows with households, programs, places and months, never with the
//! number of events: totals are kept as a small data cube (see the `cells`
//! module) whose every shape answers a family of queries directly.
//! A household's one-household history is not state but the pure function
//! [`trail`].
//!
//! ```
//! use fundtrail_projections::{Date, Fact, GroupKey, PaymentKind, ReadModels, TotalsQuery};
//!
//! let on = |month, day| Date { year: 2019, month, day };
//! let paid = Fact::Paid {
//!     kind: PaymentKind::Disbursement,
//!     household: "H1".into(),
//!     program: "support_allowance".into(),
//!     amount_fen: 30_000,
//!     persons: 2,
//!     date: on(1, 15),
//!     reference: "bank-0001".into(),
//! };
//! let facts = [
//!     Fact::HouseholdEnrolled {
//!         household: "H1".into(),
//!         subdistrict: "拓东".into(),
//!         community: "A".into(),
//!         category: "bereaved".into(),
//!         members: 2,
//!         enrolled_on: on(1, 2),
//!     },
//!     paid,
//!     // seq 3 reverses seq 2 in February: January loses the payment.
//!     Fact::Reversed {
//!         target_seq: 2,
//!         household: "H1".into(),
//!         program: "support_allowance".into(),
//!         amount_fen: 30_000,
//!         persons: 2,
//!         target_date: on(1, 15),
//!         date: on(2, 3),
//!         reason: "paid to the wrong account".into(),
//!     },
//! ];
//! let mut models = ReadModels::new();
//! for (seq, fact) in (1..).zip(&facts) {
//!     models.apply(seq, [0; 32], fact)?;
//! }
//! let by_month = TotalsQuery { by: vec![GroupKey::Month], ..TotalsQuery::default() };
//! assert!(models.totals(&by_month).is_empty());
//! assert_eq!(models.household("H1").map(|h| h.total.payments), Some(0));
//! # Ok::<(), fundtrail_projections::ProjectionError>(())
//! ```
//!
//! Money is `i64` fen (1 yuan = 100 fen) with checked arithmetic throughout;
//! [`format_fen`] prints it as yuan. The hot indexes are `rustc-hash` maps:
//! their keys are short ids, dates and names the ledger already validated, so
//! SipHash's flooding resistance buys nothing and would cost more than the
//! lookup. Nothing is ever serialized or reported in hash order: snapshots
//! write maps sorted by key and queries sort their rows, so serialized bytes
//! and answers are deterministic and do not depend on the hasher.

mod cells;
pub mod eligibility;
mod error;
pub mod findings;
mod funds;
mod grid;
mod households;
mod intern;
mod models;
mod money;
pub mod receivables;
pub mod snapshot;
mod tally;
mod totals;
mod trail;
mod vocab;

pub use error::ProjectionError;
pub use findings::{
    Decision, DecisionError, Finding, FindingFact, Findings, FindingsError, FindingsSize,
    LoggedPayment, PaymentLookup, Payments, Resolution, Rule, Status,
};
pub use funds::FundRow;
pub use grid::prefetch;
pub use households::{Enrollment, HouseholdBalance, ProgramTally};
pub use intern::HouseholdNumbers;
pub use models::{Applied, Prepared, ReadModels, StateSize, FIRST_SEQ};
pub use money::{format_fen, FEN_PER_YUAN};
pub use receivables::{Receivable, ReceivableError, ReceivableRow, Receivables};
pub use snapshot::{
    household_shard, ChangedParts, CoreData, CubeData, Parts, PartsError, ShardData,
    HOUSEHOLD_SHARDS,
};
pub use tally::Tally;
pub use totals::{CubeRecords, GroupKey, TotalsQuery, TotalsRow};
pub use trail::{trail, TrailEntry, TrailInput, TrailKind};
pub use vocab::{Date, Fact, PaymentKind, YearMonth, MONTHS_PER_YEAR};
