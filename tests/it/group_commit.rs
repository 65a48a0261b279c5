//! `Ledger::append_group`: many requests, one durable commit, each request all or nothing.

use chrono::NaiveDate;
use fundtrail::ledger::{AppendContext, GroupRequest, Ledger, LedgerError};
use fundtrail::model::domain::{
    Allocation, Category, Command, Enrollment, HouseholdId, Money, Payment, PaymentKind,
    ProgramCode, Rate, Reference, Seq,
};

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("test dates are valid")
}

fn enroll(id: &str) -> Command {
    Command::Enroll(Enrollment {
        household: HouseholdId::parse(id).unwrap(),
        subdistrict: "拓东街道".into(),
        community: "拓东第一社区".into(),
        category: Category::Bereaved,
        members: 2,
        enrolled_on: date("2015-01-01"),
    })
}

fn allocate(amount: &str, reference: &str) -> Command {
    Command::Allocate(Allocation {
        program: ProgramCode::parse("support_allowance").unwrap(),
        amount: Money::parse(amount).unwrap(),
        date: date("2015-01-02"),
        reference: Reference::parse(reference).unwrap(),
        source: "区财政".into(),
    })
}

fn pay(id: &str, amount: &str, reference: &str) -> Command {
    Command::Pay(Payment {
        kind: PaymentKind::Disbursement,
        household: HouseholdId::parse(id).unwrap(),
        program: ProgramCode::parse("support_allowance").unwrap(),
        amount: Money::parse(amount).unwrap(),
        persons: 1,
        date: date("2015-02-01"),
        reference: Reference::parse(reference).unwrap(),
        memo: String::new(),
        account: None,
    })
}

fn request(actor: &str, commands: Vec<Command>) -> GroupRequest {
    GroupRequest::commands(
        AppendContext {
            actor: actor.into(),
            now_us: 1_700_000_000_000_000,
        },
        commands,
    )
}

#[test]
fn a_rejected_request_leaves_the_others_appended_with_dense_seqs() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::init(dir.path()).unwrap();
    let requests = vec![
        request("clerk-a", vec![enroll("H1"), allocate("100.00", "A1")]),
        // Enrolls H2, then overspends: the whole request goes, H2 included.
        request("clerk-b", vec![enroll("H2"), pay("H1", "500.00", "P-big")]),
        // H2 is unknown here: the rejected request left no trace in the plan.
        request("clerk-c", vec![pay("H2", "1.00", "P-h2")]),
        request(
            "clerk-d",
            vec![pay("H1", "60.00", "P1"), pay("H1", "60.00", "P1")],
        ),
    ];
    let outcomes = ledger.append_group(&requests).unwrap();
    assert_eq!(outcomes.len(), 4);

    let first = outcomes[0].as_ref().unwrap();
    assert_eq!(first.seqs, vec![Seq::new(1), Seq::new(2)]);
    match &outcomes[1] {
        Err(LedgerError::Rejected { rejections, total }) => {
            assert_eq!(*total, 1);
            assert_eq!(rejections[0].line, 2);
            assert_eq!(rejections[0].field, "amount");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    match &outcomes[2] {
        Err(LedgerError::Rejected { rejections, .. }) => {
            assert_eq!(rejections[0].field, "household_id")
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    let last = outcomes[3].as_ref().unwrap();
    assert_eq!(last.seqs, vec![Seq::new(3), Seq::new(3)]);
    assert_eq!((last.appended, last.duplicates), (1, 1));
    assert_eq!(last.head.size, 3);

    let actors: Vec<String> = ledger
        .view()
        .records(Seq::FIRST, Seq::new(10))
        .map(|item| item.unwrap().2.actor)
        .collect();
    assert_eq!(actors, ["clerk-a", "clerk-a", "clerk-d"]);
    assert!(!ledger.households().contains_key("H2"));
    assert_eq!(ledger.budgets()["support_allowance"].disbursed_fen, 6000);
    assert!(ledger.view().verify(|_| {}).unwrap().fault.is_none());
}

#[test]
fn a_group_survives_a_reopen_and_later_groups_extend_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut ledger = Ledger::init(dir.path()).unwrap();
        let outcomes = ledger
            .append_group(&[
                request("a", vec![enroll("H1")]),
                request("b", vec![allocate("10.00", "A1")]),
            ])
            .unwrap();
        assert!(outcomes.iter().all(Result::is_ok));
    }
    let mut ledger = Ledger::open(dir.path()).unwrap();
    assert_eq!(ledger.view().head().size, 2);
    let view = ledger.view().clone();
    let outcomes = ledger
        .append_group(&[request("c", vec![pay("H1", "10.00", "P1")])])
        .unwrap();
    assert_eq!(outcomes[0].as_ref().unwrap().seqs, vec![Seq::new(3)]);
    // A view taken earlier keeps its head; its snapshot check ignores what came after.
    assert_eq!(view.head().size, 2);
    let report = view.verify_snapshot(|_| {}).unwrap();
    assert_eq!((report.checked, report.fault), (2, None));
    assert!(ledger.view().verify(|_| {}).unwrap().fault.is_none());
}

#[test]
fn an_all_rejected_or_empty_group_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::init(dir.path()).unwrap();
    let outcomes = ledger
        .append_group(&[request("a", vec![pay("H9", "1.00", "P1")])])
        .unwrap();
    assert!(outcomes[0].is_err());
    assert_eq!(ledger.append_group(&[]).unwrap().len(), 0);
    assert_eq!(ledger.view().head().size, 0);
}

fn rate(yuan: &str) -> Command {
    Command::SetRate(Rate {
        program: ProgramCode::parse("support_allowance").unwrap(),
        category: Category::Bereaved,
        per_member: Money::parse(yuan).unwrap(),
        valid_from: date("2015-01-01"),
        valid_to: None,
    })
}

#[test]
fn a_rate_planned_by_a_rejected_request_does_not_block_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::init(dir.path()).unwrap();
    let outcomes = ledger
        .append_group(&[
            // The rate would overlap the next request's; the bad payment rejects it all.
            request("a", vec![rate("340.00"), pay("H9", "1.00", "P1")]),
            request("b", vec![rate("400.00")]),
        ])
        .unwrap();
    assert!(outcomes[0].is_err());
    assert_eq!(outcomes[1].as_ref().unwrap().seqs, vec![Seq::new(1)]);
    let rates = ledger.view().rates().unwrap();
    assert_eq!(rates.len(), 1);
    assert_eq!(rates[0].per_member_fen, 40_000);
}

/// A request made against a head (`if_head`) is appended only if nothing was committed or
/// planned before it since: a run records its outcome right after the log it read.
#[test]
fn a_request_made_against_a_moved_head_is_refused_and_the_others_go_in() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::init(dir.path()).unwrap();
    ledger
        .append_group(&[request(
            "a",
            vec![enroll("PL-1"), allocate("100.00", "A-1")],
        )])
        .unwrap();
    let read_at = ledger.view().head().size;
    let mut stale = request("run", vec![pay("PL-1", "1.00", "RUN-1")]);
    stale.if_head = Some(read_at);
    let mut fresh = request("run", vec![pay("PL-1", "1.00", "RUN-2")]);
    fresh.if_head = Some(read_at);
    // Another clerk's payment comes first in the group: the head has moved for both.
    let outcomes = ledger
        .append_group(&[request("b", vec![pay("PL-1", "2.00", "B-1")]), stale])
        .unwrap();
    assert!(outcomes[0].is_ok());
    match &outcomes[1] {
        Err(LedgerError::HeadMoved { expected, found }) => {
            assert_eq!((*expected, *found), (read_at, read_at + 1));
        }
        other => panic!("expected HeadMoved, got {other:?}"),
    }
    assert_eq!(ledger.view().lookup_reference("RUN-1").unwrap(), None);
    // Against the current head it goes in, right after it.
    fresh.if_head = Some(ledger.view().head().size);
    let outcomes = ledger.append_group(&[fresh]).unwrap();
    let summary = outcomes[0].as_ref().expect("appended");
    assert_eq!(summary.seqs, vec![Seq::new(read_at + 2)]);
}
