use super::*;

fn on(year: i32, month: u8, day: u8) -> Date {
    Date { year, month, day }
}

fn ym(year: i32, month: u8) -> YearMonth {
    YearMonth { year, month }
}

/// Per member and month, from 2019-01-01, for bereaved households.
const RATE: i64 = 50_000;

/// Facts with seqs from 1, folded on demand.
#[derive(Default)]
struct Log {
    facts: Vec<FindingFact>,
}

impl Log {
    /// A ledger with the allowance rate and households H1..H5, each with two parents of
    /// 69 (M1/F1 in H1, M2/F2 in H2, ...).
    fn district() -> Log {
        let mut log = Log::default();
        log.push(FindingFact::RateSet {
            program: SUPPORT_ALLOWANCE.into(),
            category: "bereaved".into(),
            per_member_fen: RATE,
            valid_from: on(2019, 1, 1),
            valid_to: None,
        });
        for h in 1..=5 {
            log.push(FindingFact::HouseholdEnrolled {
                household: format!("H{h}"),
                category: "bereaved".into(),
            });
            for role in ["M", "F"] {
                log.add_person(&format!("{role}{h}"), &format!("H{h}"), on(1950, 1, 1));
            }
        }
        log
    }

    fn push(&mut self, fact: FindingFact) -> u64 {
        self.facts.push(fact);
        self.facts.len() as u64
    }

    fn add_person(&mut self, person: &str, household: &str, birth_date: Date) -> u64 {
        self.push(FindingFact::PersonAdded {
            person: person.into(),
            household: household.into(),
            parent: true,
            birth_date,
            joined_on: on(2000, 1, 1),
        })
    }

    fn died(&mut self, person: &str, date: Date) -> u64 {
        self.push(FindingFact::PersonDied {
            person: person.into(),
            date,
        })
    }

    fn ended(&mut self, household: &str, date: Date) -> u64 {
        self.push(FindingFact::HouseholdEnded {
            household: household.into(),
            date,
        })
    }

    fn pay(
        &mut self,
        household: &str,
        program: &str,
        amount_fen: i64,
        persons: u32,
        date: Date,
    ) -> u64 {
        self.pay_to(household, program, amount_fen, persons, date, None)
    }

    #[allow(clippy::too_many_arguments)]
    fn pay_to(
        &mut self,
        household: &str,
        program: &str,
        amount_fen: i64,
        persons: u32,
        date: Date,
        account: Option<u8>,
    ) -> u64 {
        self.push(FindingFact::Paid {
            kind: PaymentKind::Disbursement,
            household: household.into(),
            program: program.into(),
            amount_fen,
            persons,
            date,
            account: account.map(|a| Account {
                hash: [a; 32],
                last4: "1234".into(),
            }),
        })
    }

    fn allowance(&mut self, household: &str, persons: u32, month: u8) -> u64 {
        let amount = RATE * i64::from(persons);
        self.pay(
            household,
            SUPPORT_ALLOWANCE,
            amount,
            persons,
            on(2019, month, 15),
        )
    }

    fn fold(&self) -> Findings {
        let mut findings = Findings::new();
        for (seq, fact) in (1..).zip(&self.facts) {
            findings.apply(seq, fact).expect("a well-formed test log");
        }
        findings
    }

    fn found(&self) -> Vec<Finding> {
        self.fold().all().to_vec()
    }
}

fn of_rule(findings: &[Finding], rule: Rule) -> Vec<&Finding> {
    findings.iter().filter(|f| f.rule == rule).collect()
}

#[test]
fn rule_ids_are_pinned() {
    let ids: Vec<&str> = Rule::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        ids,
        [
            "paid_after_death",
            "paid_after_exit",
            "allowance_over_due",
            "duplicate_payment",
            "shared_account",
            "outlier_amount"
        ]
    );
}

#[test]
fn finding_ids_are_pinned_and_differ_by_rule_subject_and_seq() {
    let id = finding_id(Rule::PaidAfterDeath, "P1", 7);
    assert_eq!(id.len(), FINDING_ID_HEX_DIGITS);
    assert!(id
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_eq!(id, PINNED_ID, "the id bytes are a format (FORMAT.md)");
    assert_ne!(id, finding_id(Rule::PaidAfterExit, "P1", 7));
    assert_ne!(id, finding_id(Rule::PaidAfterDeath, "P2", 7));
    assert_ne!(id, finding_id(Rule::PaidAfterDeath, "P1", 8));
}

/// `finding_id(PaidAfterDeath, "P1", 7)`, as FORMAT.md documents it.
const PINNED_ID: &str = "fac2ab877149dbc8";

#[test]
fn a_payment_counting_a_person_dead_the_month_before_is_raised() {
    let mut log = Log::district();
    log.died("F1", on(2019, 3, 10));
    let paid = log.allowance("H1", 2, 4);
    let found = log.found();
    assert_eq!(found.len(), 1, "{found:?}");
    let f = &found[0];
    assert_eq!(f.rule, Rule::PaidAfterDeath);
    assert_eq!(f.person.as_deref(), Some("F1"));
    assert_eq!(f.household, "H1");
    assert_eq!(f.seqs, [paid]);
    assert_eq!(f.amount_at_risk_fen, RATE);
    assert_eq!(f.months, [ym(2019, 4)]);
    assert_eq!(f.status, Status::Open);
    assert_eq!(f.id, finding_id(Rule::PaidAfterDeath, "F1", paid));
}

#[test]
fn the_allowance_of_the_month_of_death_itself_is_not_raised() {
    let mut log = Log::district();
    log.died("F1", on(2019, 3, 1));
    log.allowance("H1", 2, 3);
    log.allowance("H1", 1, 4);
    assert!(log.found().is_empty());
}

#[test]
fn a_death_recorded_after_the_payments_raises_them_in_one_finding() {
    let mut log = Log::district();
    log.allowance("H1", 2, 3);
    let april = log.allowance("H1", 2, 4);
    let may = log.allowance("H1", 2, 5);
    let death = log.died("F1", on(2019, 3, 10));
    let found = log.found();
    assert_eq!(found.len(), 1, "{found:?}");
    let f = &found[0];
    assert_eq!((f.rule, f.raised_by), (Rule::PaidAfterDeath, death));
    assert_eq!(f.seqs, [april, may, death]);
    assert_eq!(f.months, [ym(2019, 4), ym(2019, 5)]);
    assert_eq!(f.amount_at_risk_fen, 2 * RATE);
}

#[test]
fn a_later_death_does_not_raise_a_payment_again_for_the_same_person() {
    let mut log = Log::district();
    log.died("F1", on(2019, 3, 10));
    log.allowance("H1", 2, 4);
    let second = log.died("M1", on(2019, 3, 20));
    let found = log.found();
    let raised_by_second: Vec<_> = found.iter().filter(|f| f.raised_by == second).collect();
    assert_eq!(found.len(), 2, "{found:?}");
    // The payment counted two persons: both were dead, each is named once.
    assert_eq!(raised_by_second[0].person.as_deref(), Some("M1"));
}

#[test]
fn a_payment_of_another_program_after_every_member_died_names_the_last() {
    let mut log = Log::district();
    log.died("M1", on(2019, 2, 1));
    log.died("F1", on(2019, 5, 1));
    let paid = log.pay("H1", "holiday_condolence", 80_000, 2, on(2019, 9, 1));
    log.pay("H2", "holiday_condolence", 80_000, 2, on(2019, 9, 1));
    log.died("M2", on(2019, 2, 1));
    let found = log.found();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].person.as_deref(), Some("F1"));
    assert_eq!(
        (found[0].seqs.clone(), found[0].amount_at_risk_fen),
        (vec![paid], 80_000)
    );
}

#[test]
fn a_payment_after_the_households_end_is_raised_when_either_comes_second() {
    let mut log = Log::district();
    log.allowance("H1", 2, 6);
    let july = log.allowance("H1", 2, 7);
    let end = log.ended("H1", on(2019, 6, 15));
    let august = log.allowance("H1", 2, 8);
    let found = log.found();
    let exits = of_rule(&found, Rule::PaidAfterExit);
    assert_eq!(found.len(), 2, "the June allowance is due: {found:?}");
    assert_eq!(
        (exits[0].raised_by, exits[0].seqs.clone()),
        (end, vec![july, end])
    );
    assert_eq!(
        (exits[1].raised_by, exits[1].seqs.clone()),
        (august, vec![august])
    );
    assert_eq!(exits[1].amount_at_risk_fen, 2 * RATE);
}

#[test]
fn an_exit_explains_the_whole_payment_and_no_other_life_rule_raises_it() {
    let mut log = Log::district();
    log.ended("H1", on(2019, 1, 31));
    log.died("F1", on(2019, 1, 5));
    log.pay("H1", SUPPORT_ALLOWANCE, 3 * RATE, 3, on(2019, 4, 15));
    let rules: Vec<Rule> = log.found().iter().map(|f| f.rule).collect();
    assert_eq!(rules, [Rule::PaidAfterExit]);
}

#[test]
fn an_under_49_parent_counted_is_over_the_due() {
    let mut log = Log::district();
    log.add_person("M6", "H6", on(1975, 1, 1));
    log.add_person("F6", "H6", on(1950, 1, 1));
    log.push(FindingFact::HouseholdEnrolled {
        household: "H6".into(),
        category: "bereaved".into(),
    });
    let paid = log.allowance("H6", 2, 4);
    let found = log.found();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule, Rule::AllowanceOverDue);
    assert_eq!(
        (found[0].seqs.clone(), found[0].amount_at_risk_fen),
        (vec![paid], RATE)
    );
}

#[test]
fn a_wrong_rate_is_over_the_due_and_the_exact_due_is_not() {
    let mut log = Log::district();
    log.pay("H1", SUPPORT_ALLOWANCE, 2 * RATE + 1, 2, on(2019, 4, 15));
    log.pay("H2", SUPPORT_ALLOWANCE, 2 * RATE, 2, on(2019, 4, 15));
    let found = log.found();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].household.as_str(), found[0].amount_at_risk_fen),
        ("H1", 1)
    );
}

#[test]
fn no_rate_in_effect_or_no_persons_on_record_judges_nothing() {
    let mut log = Log::district();
    // Before the rate's first day.
    log.pay("H1", SUPPORT_ALLOWANCE, 9 * RATE, 2, on(2018, 12, 15));
    // A household without persons: its members count, which this fold does not know.
    log.pay("H9", SUPPORT_ALLOWANCE, 9 * RATE, 9, on(2019, 4, 15));
    assert!(log.found().is_empty());
}

#[test]
fn two_payments_alike_under_different_references_are_duplicates() {
    let mut log = Log::district();
    let first = log.pay_to("H1", "micro_wish", 30_000, 1, on(2019, 5, 2), None);
    let second = log.pay_to("H1", "micro_wish", 30_000, 1, on(2019, 5, 28), None);
    let found = log.found();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule, Rule::DuplicatePayment);
    assert_eq!(found[0].seqs, [first, second]);
    assert_eq!(found[0].raised_by, second);
}

#[test]
fn payments_differing_in_amount_month_program_or_household_are_not_duplicates() {
    let mut log = Log::district();
    log.pay("H1", "micro_wish", 30_000, 1, on(2019, 5, 2));
    log.pay("H1", "micro_wish", 30_001, 1, on(2019, 5, 3));
    log.pay("H1", "micro_wish", 30_000, 1, on(2019, 6, 2));
    log.pay("H1", "transit_card", 30_000, 1, on(2019, 5, 2));
    log.pay("H2", "micro_wish", 30_000, 1, on(2019, 5, 2));
    assert!(log.found().is_empty());
}

#[test]
fn a_reversed_payment_is_no_twin_for_a_later_one() {
    let mut log = Log::district();
    let first = log.pay("H1", "micro_wish", 30_000, 1, on(2019, 5, 2));
    log.push(FindingFact::Reversed { target_seq: first });
    log.pay("H1", "micro_wish", 30_000, 1, on(2019, 5, 20));
    assert!(log.found().is_empty());
}

#[test]
fn a_reversal_of_evidence_keeps_the_finding_open_and_marks_it() {
    let mut log = Log::district();
    log.pay("H1", "micro_wish", 30_000, 1, on(2019, 5, 2));
    let second = log.pay("H1", "micro_wish", 30_000, 1, on(2019, 5, 28));
    log.push(FindingFact::Reversed { target_seq: second });
    let found = log.found();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].status, Status::Open);
    assert_eq!(found[0].reversed_evidence, [second]);
}

#[test]
fn an_account_paid_for_three_households_in_a_year_is_shared() {
    let mut log = Log::district();
    let a = log.pay_to("H1", "micro_wish", 10_000, 1, on(2019, 1, 2), Some(7));
    log.pay_to("H1", "micro_wish", 10_000, 1, on(2019, 2, 2), Some(7));
    let b = log.pay_to("H2", "micro_wish", 20_000, 1, on(2019, 3, 2), Some(7));
    let c = log.pay_to("H3", "micro_wish", 30_000, 1, on(2019, 4, 2), Some(7));
    let found = log.found();
    assert_eq!(found.len(), 1, "{found:?}");
    let f = &found[0];
    assert_eq!((f.rule, f.household.as_str()), (Rule::SharedAccount, "H3"));
    assert_eq!(f.account_last4.as_deref(), Some("1234"));
    assert_eq!(f.seqs, [a, b, c]);
    assert_eq!(f.amount_at_risk_fen, 60_000);
    assert_eq!(f.id, finding_id(Rule::SharedAccount, &hex(&[7; 32]), c));
}

#[test]
fn two_households_on_one_account_or_three_over_two_years_are_not_shared() {
    let mut log = Log::district();
    log.pay_to("H1", "micro_wish", 10_000, 1, on(2019, 1, 2), Some(7));
    log.pay_to("H2", "micro_wish", 20_000, 1, on(2019, 3, 2), Some(7));
    log.pay_to("H3", "micro_wish", 30_000, 1, on(2020, 1, 2), Some(7));
    log.pay_to("H3", "micro_wish", 30_000, 1, on(2019, 6, 2), Some(8));
    assert!(log.found().is_empty());
}

/// `n` payments of `amount` under `program` in 2019, one per household H100.., each in
/// its own month so none is a duplicate.
fn peers(log: &mut Log, program: &str, n: u32, amount: i64) {
    for i in 0..n {
        let month = u8::try_from(i % 12 + 1).expect("a month");
        log.pay(
            &format!("H{}", 100 + i),
            program,
            amount,
            1,
            on(2019, month, 1),
        );
    }
}

#[test]
fn more_than_five_times_the_median_is_an_outlier_once_the_group_has_twenty() {
    let mut log = Log::district();
    // The outlier arrives early: it is judged when the group reaches 20 payments.
    let high = log.pay("H1", "transit_card", 50_001, 1, on(2019, 3, 1));
    peers(&mut log, "transit_card", 19, 10_000);
    let late = log.pay("H2", "transit_card", 60_000, 1, on(2019, 4, 1));
    let found = log.found();
    let outliers = of_rule(&found, Rule::OutlierAmount);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(
        (outliers[0].household.as_str(), outliers[0].seqs.clone()),
        ("H1", vec![high])
    );
    assert_eq!(
        (outliers[1].household.as_str(), outliers[1].seqs.clone()),
        ("H2", vec![late])
    );
}

#[test]
fn four_point_nine_times_the_median_or_a_group_under_twenty_is_no_outlier() {
    let mut log = Log::district();
    peers(&mut log, "transit_card", 19, 10_000);
    log.pay("H1", "transit_card", 49_000, 1, on(2019, 3, 1));
    peers(&mut log, "micro_wish", 18, 10_000);
    log.pay("H1", "micro_wish", 900_000, 1, on(2019, 3, 1));
    // The allowance is judged by its due, never by its peers (H9 has no persons on
    // record, so no due either).
    peers(&mut log, SUPPORT_ALLOWANCE, 20, RATE);
    log.pay("H9", SUPPORT_ALLOWANCE, 10 * RATE, 10, on(2019, 3, 1));
    assert!(log.found().is_empty());
}

/// A log with a case of every rule, deaths and ends recorded late, and reversals.
fn mixed() -> Log {
    let mut log = Log::district();
    log.allowance("H1", 2, 3);
    log.allowance("H1", 2, 4);
    log.died("F1", on(2019, 3, 10));
    log.allowance("H2", 2, 7);
    log.ended("H2", on(2019, 6, 15));
    log.pay("H3", SUPPORT_ALLOWANCE, 3 * RATE, 3, on(2019, 4, 15));
    let dup = log.pay_to("H4", "micro_wish", 30_000, 1, on(2019, 5, 2), Some(7));
    log.pay_to("H4", "micro_wish", 30_000, 1, on(2019, 5, 9), Some(7));
    log.pay_to("H5", "micro_wish", 30_000, 1, on(2019, 5, 9), Some(7));
    log.pay_to("H3", "micro_wish", 30_000, 1, on(2019, 5, 9), Some(7));
    peers(&mut log, "transit_card", 20, 10_000);
    log.pay("H5", "transit_card", 90_000, 1, on(2019, 8, 1));
    log.push(FindingFact::Reversed { target_seq: dup });
    log
}

#[test]
fn the_mixed_log_raises_every_rule() {
    let found = mixed().found();
    for rule in Rule::ALL {
        assert!(!of_rule(&found, rule).is_empty(), "{rule:?} in {found:?}");
    }
    let raised: Vec<u64> = found.iter().map(|f| f.raised_by).collect();
    assert!(
        raised.windows(2).all(|w| w[0] <= w[1]),
        "in the order raised"
    );
    assert!(found.iter().any(|f| !f.reversed_evidence.is_empty()));
}

#[test]
fn folding_in_two_halves_through_a_snapshot_equals_one_go() {
    let log = mixed();
    let whole = log.fold();
    for cut in [1, log.facts.len() / 2, log.facts.len() - 1] {
        let mut first = Findings::new();
        for (seq, fact) in (1..).zip(&log.facts[..cut]) {
            first.apply(seq, fact).expect("a well-formed test log");
        }
        let bytes = bincode::serialize(&first).expect("findings serialize");
        let mut second: Findings = bincode::deserialize(&bytes).expect("and load back");
        for (seq, fact) in (1..).zip(&log.facts).skip(cut) {
            second.apply(seq, fact).expect("a well-formed test log");
        }
        assert_eq!(second, whole, "cut at {cut}");
        let again = bincode::serialize(&second).expect("findings serialize");
        assert_eq!(
            again,
            bincode::serialize(&whole).expect("findings serialize")
        );
    }
}

#[test]
fn refused_facts_leave_the_state_unchanged() {
    let log = mixed();
    let mut findings = log.fold();
    let before = findings.clone();
    let next = log.facts.len() as u64 + 1;
    let cases = [
        (next - 1, FindingFact::Reversed { target_seq: 1 }),
        (next, FindingFact::Reversed { target_seq: 1 }),
        (
            next,
            FindingFact::PersonDied {
                person: "nobody".into(),
                date: on(2019, 1, 1),
            },
        ),
        (
            next,
            FindingFact::PersonLeft {
                person: "F1".into(),
                date: on(2019, 2, 30),
            },
        ),
        (
            next,
            FindingFact::PersonAdded {
                person: "F1".into(),
                household: "H1".into(),
                parent: true,
                birth_date: on(1950, 1, 1),
                joined_on: on(2000, 1, 1),
            },
        ),
    ];
    let errors: Vec<FindingsError> = cases
        .iter()
        .map(|(seq, fact)| findings.apply(*seq, fact).expect_err("refused"))
        .collect();
    assert_eq!(
        errors,
        [
            FindingsError::OutOfOrder {
                last: next - 1,
                found: next - 1
            },
            FindingsError::UnknownPayment { target_seq: 1 },
            FindingsError::UnknownPerson {
                person: "nobody".into()
            },
            FindingsError::InvalidDate {
                date: on(2019, 2, 30)
            },
            FindingsError::PersonExists {
                person: "F1".into()
            },
        ]
    );
    let negative = FindingFact::Paid {
        kind: PaymentKind::Disbursement,
        household: "H1".into(),
        program: "micro_wish".into(),
        amount_fen: -1,
        persons: 1,
        date: on(2019, 1, 1),
        account: None,
    };
    assert_eq!(
        findings.apply(next, &negative),
        Err(FindingsError::NegativeAmount { amount_fen: -1 })
    );
    assert_eq!(findings, before);
}

#[test]
fn a_reversed_payment_no_longer_counts_a_household_on_an_account() {
    let mut log = Log::district();
    log.pay_to("H1", "micro_wish", 10_000, 1, on(2019, 1, 2), Some(7));
    let second = log.pay_to("H2", "micro_wish", 20_000, 1, on(2019, 3, 2), Some(7));
    log.push(FindingFact::Reversed { target_seq: second });
    log.pay_to("H3", "micro_wish", 30_000, 1, on(2019, 4, 2), Some(7));
    assert!(log.found().is_empty());
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// One drawn step of a small district's life: few households, persons, programs,
    /// amounts and accounts, so that every rule's case appears by chance.
    #[derive(Clone, Debug)]
    enum Step {
        Pay {
            household: u8,
            program: u8,
            amount: u8,
            persons: u8,
            month: u8,
            account: Option<u8>,
        },
        Die {
            person: u8,
            month: u8,
        },
        End {
            household: u8,
            month: u8,
        },
        Reverse {
            nth: u8,
        },
    }

    const PROGRAMS: [&str; 3] = [SUPPORT_ALLOWANCE, "micro_wish", "transit_card"];

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            8 => (1u8..=5, 0u8..3, 0u8..4, 0u8..4, 1u8..=12, prop::option::of(0u8..2)).prop_map(
                |(household, program, amount, persons, month, account)| Step::Pay {
                    household,
                    program,
                    amount,
                    persons,
                    month,
                    account,
                }
            ),
            1 => (0u8..10, 1u8..=12).prop_map(|(person, month)| Step::Die { person, month }),
            1 => (1u8..=5, 1u8..=12).prop_map(|(household, month)| Step::End { household, month }),
            1 => any::<u8>().prop_map(|nth| Step::Reverse { nth }),
        ]
    }

    /// The drawn steps as a log; a reversal targets the nth live payment, if any.
    fn log_of(steps: &[Step]) -> Log {
        let mut log = Log::district();
        extend(&mut log, &mut Vec::new(), steps);
        log
    }

    /// Appends the drawn steps to `log`, whose live payments are `live`.
    fn extend(log: &mut Log, live: &mut Vec<u64>, steps: &[Step]) {
        for step in steps {
            match step {
                Step::Pay {
                    household,
                    program,
                    amount,
                    persons,
                    month,
                    account,
                } => {
                    let amount_fen = [RATE, 2 * RATE, 10_000, 90_000][usize::from(*amount)];
                    live.push(log.pay_to(
                        &format!("H{household}"),
                        PROGRAMS[usize::from(*program)],
                        amount_fen,
                        u32::from(*persons),
                        on(2019, *month, 10),
                        *account,
                    ));
                }
                Step::Die { person, month } => {
                    let role = if person % 2 == 0 { "M" } else { "F" };
                    log.died(&format!("{role}{}", person / 2 + 1), on(2019, *month, 5));
                }
                Step::End { household, month } => {
                    log.ended(&format!("H{household}"), on(2019, *month, 20));
                }
                Step::Reverse { nth } => {
                    if !live.is_empty() {
                        let target_seq = live.remove(usize::from(*nth) % live.len());
                        log.push(FindingFact::Reversed { target_seq });
                    }
                }
            }
        }
    }

    /// Every payment of the log before `before` that `keep` keeps, by seq: a lookup that
    /// reads the log, as the ledger's does.
    fn logged(log: &Log, before: u64, keep: impl Fn(&LoggedPayment) -> bool) -> Vec<LoggedPayment> {
        (1..)
            .zip(&log.facts)
            .take_while(|(seq, _)| *seq < before)
            .filter_map(|(seq, fact)| LoggedPayment::of(seq, fact))
            .filter(keep)
            .collect()
    }

    /// A [`PaymentLookup`] that scans the log for each question.
    struct LogLookup<'a>(&'a Log);

    impl PaymentLookup for LogLookup<'_> {
        fn visit_household(
            &mut self,
            household: &str,
            before: u64,
            visit: &mut dyn FnMut(LoggedPayment) -> std::ops::ControlFlow<()>,
        ) -> Result<(), String> {
            for p in logged(self.0, before, |p| p.household == household) {
                if visit(p).is_break() {
                    break;
                }
            }
            Ok(())
        }

        fn payment(&mut self, seq: u64, before: u64) -> Result<Option<LoggedPayment>, String> {
            Ok(logged(self.0, before, |p| p.seq == seq).pop())
        }

        fn program_payments(
            &mut self,
            program: &str,
            year: i32,
            before: u64,
        ) -> Result<Vec<LoggedPayment>, String> {
            Ok(logged(self.0, before, |p| {
                p.program == program && p.date.year == year
            }))
        }
    }

    fn is_payment(log: &Log, seq: u64) -> bool {
        let index = usize::try_from(seq - 1).expect("a small log");
        matches!(log.facts.get(index), Some(FindingFact::Paid { .. }))
    }

    proptest! {
        /// The group's median cursor is the lower median of its amounts after any
        /// sequence of payments and reversals, and depends on the amounts alone; until the
        /// group outgrows the outlier rule's minimum, its members are its live payments.
        #[test]
        fn the_median_cursor_is_the_lower_median(
            ops in prop::collection::vec((any::<bool>(), 0i64..12), 0..200),
        ) {
            let mut group = Group::default();
            let mut held: Vec<(u64, i64)> = Vec::new();
            for (seq, (insert, amount)) in (1..).zip(ops) {
                if insert || held.is_empty() {
                    group.insert(seq, amount);
                    held.push((seq, amount));
                } else {
                    let (victim, amount) = held.remove(amount as usize % held.len());
                    group.remove(victim, amount);
                }
                prop_assert_eq!(group.median.map(|(m, _)| m), rules::lower_median(&group.amounts));
                let mut fresh = Group::default();
                for (seq, amount) in &held {
                    fresh.insert(*seq, *amount);
                }
                prop_assert_eq!(&fresh.median, &group.median);
                prop_assert_eq!(&fresh.amounts, &group.amounts);
                if !group.outgrown {
                    let live: Vec<u64> = held.iter().map(|(seq, _)| *seq).collect();
                    prop_assert_eq!(&group.members, &live);
                }
            }
        }

        #[test]
        fn any_split_through_a_snapshot_folds_to_the_same_findings(
            steps in prop::collection::vec(step(), 0..120),
            cut in any::<prop::sample::Index>(),
        ) {
            let log = log_of(&steps);
            let whole = log.fold();
            let cut = cut.index(log.facts.len() + 1);
            let mut first = Findings::new();
            for (seq, fact) in (1..).zip(&log.facts[..cut]) {
                first.apply(seq, fact).expect("a well-formed log");
            }
            let bytes = bincode::serialize(&first).expect("findings serialize");
            let mut second: Findings = bincode::deserialize(&bytes).expect("and load back");
            for (seq, fact) in (1..).zip(&log.facts).skip(cut) {
                second.apply(seq, fact).expect("a well-formed log");
            }
            prop_assert_eq!(&second, &whole);
        }

        /// The fold that asks the log for its payments equals the one that keeps them
        /// in memory: the same findings and the same state but for the payments kept.
        #[test]
        fn a_fold_through_a_lookup_of_the_log_equals_the_fold_in_memory(
            steps in prop::collection::vec(step(), 0..160),
        ) {
            let log = log_of(&steps);
            let mut memory = log.fold();
            let mut through = Findings::new();
            for (seq, fact) in (1..).zip(&log.facts) {
                through
                    .apply_with(seq, fact, &mut LogLookup(&log))
                    .expect("a well-formed log");
            }
            prop_assert_eq!(through.all(), memory.all());
            prop_assert_eq!(through.size(), memory.size());
            prop_assert_eq!(&through.payments, &Payments::default());
            memory.payments = Payments::default();
            prop_assert_eq!(&through, &memory);
        }

        /// Households found by the numbers their payments carry fold as those found by
        /// name: the same findings and the same state.
        #[test]
        fn a_fold_of_numbered_households_equals_the_fold_by_name(
            steps in prop::collection::vec(step(), 0..160),
        ) {
            let log = log_of(&steps);
            let mut by_name = Findings::new();
            let mut numbered = Findings::new();
            let mut numbers = HouseholdNumbers::new();
            for (seq, fact) in (1..).zip(&log.facts) {
                by_name
                    .apply_with(seq, fact, &mut LogLookup(&log))
                    .expect("a well-formed log");
                // The number a replay would give: the household's own, from its id.
                let number = match fact {
                    FindingFact::Paid { household, .. } => household[1..].parse::<u32>().ok(),
                    _ => None,
                };
                let hinted = number.map(|number| (number, &mut numbers));
                numbered
                    .apply_numbered(seq, fact, hinted, &mut LogLookup(&log))
                    .expect("a well-formed log");
            }
            prop_assert_eq!(numbered.all(), by_name.all());
            prop_assert_eq!(&numbered, &by_name);
        }

        #[test]
        fn findings_are_well_formed_and_cite_a_payment_once_per_rule_and_subject(
            steps in prop::collection::vec(step(), 0..120),
        ) {
            let log = log_of(&steps);
            let found = log.found();
            let mut ids = BTreeSet::new();
            let mut cited = BTreeSet::new();
            for f in &found {
                prop_assert!(ids.insert(f.id.clone()), "ids are unique: {:?}", f);
                prop_assert!(f.seqs.windows(2).all(|w| w[0] < w[1]));
                prop_assert!(f.months.windows(2).all(|w| w[0] < w[1]));
                prop_assert!(f.seqs.iter().all(|s| *s <= f.raised_by));
                prop_assert!(f.amount_at_risk_fen >= 0);
                prop_assert!(f.reversed_evidence.iter().all(|s| f.seqs.contains(s)));
                let subject = f.person.clone().unwrap_or_else(|| f.household.clone());
                // A duplicate and a shared account cite earlier payments as context; the
                // other rules cite each payment once per subject, beside the death or end.
                let per_payment = !matches!(f.rule, Rule::DuplicatePayment | Rule::SharedAccount);
                let payments = f.seqs.iter().filter(|s| is_payment(&log, **s));
                for s in payments.filter(|_| per_payment) {
                    prop_assert!(cited.insert((f.rule, subject.clone(), *s)), "{:?}", f);
                }
            }
        }
    }
    /// A fixed generator, so the golden logs below are the same on every run.
    struct SplitMix(u64);

    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u8 {
            (self.next() % n) as u8
        }

        fn step(&mut self) -> Step {
            match self.below(11) {
                0..=7 => Step::Pay {
                    household: 1 + self.below(5),
                    program: self.below(3),
                    amount: self.below(4),
                    persons: self.below(4),
                    month: 1 + self.below(12),
                    account: [None, Some(0), Some(1)][usize::from(self.below(3))],
                },
                8 => Step::Die {
                    person: self.below(10),
                    month: 1 + self.below(12),
                },
                9 => Step::End {
                    household: 1 + self.below(5),
                    month: 1 + self.below(12),
                },
                _ => Step::Reverse {
                    nth: self.below(256),
                },
            }
        }

        fn steps(&mut self, n: u64) -> Vec<Step> {
            (0..self.below(n)).map(|_| self.step()).collect()
        }
    }

    /// A drawn log: steps, then decisions about some of its findings (two about some,
    /// with a recovery when one program was paid), then more steps, whose reversals
    /// reach evidence after the decisions.
    fn decided_log(rng: &mut SplitMix) -> Log {
        let mut log = Log::district();
        let mut live = Vec::new();
        extend(&mut log, &mut live, &rng.steps(120));
        for (i, f) in log.found().iter().enumerate() {
            if i % 3 == 0 {
                let recover = f.default_program().filter(|_| f.amount_at_risk_fen > 0);
                let (fen, program) = recover.map_or((0, ""), |p| (1, p));
                log.push(decided(f, "auditor-1", Decision::Confirmed, fen, program));
            }
            if i % 5 == 0 {
                log.push(decided(f, "auditor-2", Decision::Dismissed, 0, ""));
            }
        }
        extend(&mut log, &mut live, &rng.steps(60));
        log
    }

    /// Every field of every finding of 300 drawn logs (every rule, shared accounts,
    /// reversed evidence, decisions), read through `all()` and `finding(id)`, as the
    /// findings were kept before the kept form was made compact: the BLAKE3 of their
    /// bincode, recorded from that fold.
    #[test]
    fn every_field_of_every_finding_reads_back_as_the_fold_kept_it_before() {
        let mut rng = SplitMix(14);
        let mut hasher = blake3::Hasher::new();
        let mut rules = BTreeSet::new();
        let (mut reversed, mut decided, mut findings) = (0, 0, 0);
        for _ in 0..300 {
            let fold = decided_log(&mut rng).fold();
            let all = fold.all().to_vec();
            for f in &all {
                assert_eq!(fold.finding(&f.id).as_ref(), Some(f));
                rules.insert(f.rule);
                reversed += usize::from(!f.reversed_evidence.is_empty());
                decided += usize::from(!f.resolutions.is_empty());
            }
            findings += all.len();
            hasher.update(&bincode::serialize(&all).expect("findings serialize"));
        }
        assert_eq!(rules.len(), Rule::ALL.len(), "every rule raised");
        assert!(
            reversed > 50 && decided > 50,
            "{reversed} reversed, {decided} decided"
        );
        assert_eq!(
            (findings, hasher.finalize().to_hex().to_string()),
            (
                10_751,
                "2f291bae0b4b34d1ef7fc9d046a14e4b68d76422cdf1e448e273b023de6a9958".to_string()
            ),
        );
    }
}

#[test]
fn the_size_counts_live_payments_and_forgets_reversed_ones() {
    let mut log = Log::district();
    let first = log.pay_to("H1", "micro_wish", 10_000, 1, on(2019, 1, 2), Some(7));
    log.pay("H1", "micro_wish", 20_000, 1, on(2019, 1, 2));
    log.pay("H2", "micro_wish", 20_000, 1, on(2019, 1, 2));
    assert_eq!(log.fold().size().live_payments, 3);
    assert_eq!(log.fold().size().distinct_amounts, 2);
    log.push(FindingFact::Reversed { target_seq: first });
    let size = log.fold().size();
    assert_eq!((size.persons, size.live_payments), (10, 2));
    assert_eq!((size.account_years, size.distinct_amounts), (0, 1));
}

/// A decision about `finding` by `actor`.
fn decided(
    finding: &Finding,
    actor: &str,
    decision: Decision,
    recover_fen: i64,
    program: &str,
) -> FindingFact {
    FindingFact::Resolved {
        finding: finding.id.clone(),
        household: finding.household.clone(),
        decision,
        reason: "case 1".into(),
        actor: actor.into(),
        recover_fen,
        program: program.into(),
        date: on(2020, 1, 1),
    }
}

/// A duplicate in micro_wish, 300.00 at risk, and its finding.
fn duplicate() -> (Log, Finding) {
    let mut log = Log::district();
    log.pay_to("H1", "micro_wish", 30_000, 1, on(2019, 5, 2), None);
    log.pay_to("H1", "micro_wish", 30_000, 1, on(2019, 5, 28), None);
    let finding = log.found().remove(0);
    (log, finding)
}

#[test]
fn a_finding_is_open_until_decided_and_then_as_its_latest_decision() {
    let (mut log, finding) = duplicate();
    assert_eq!(finding.status, Status::Open);
    assert_eq!(finding.resolution(), None);
    assert_eq!(finding.programs, ["micro_wish"]);
    assert_eq!(finding.default_program(), Some("micro_wish"));
    let first = log.push(decided(
        &finding,
        "li",
        Decision::Confirmed,
        30_000,
        "micro_wish",
    ));
    let found = log.found();
    assert_eq!(found[0].status, Status::Confirmed);
    let r = found[0].resolution().unwrap();
    assert_eq!(
        (r.seq, r.actor.as_str(), r.recover_fen),
        (first, "li", 30_000)
    );
    let second = log.push(decided(&finding, "zhao", Decision::Dismissed, 0, ""));
    let found = log.found();
    assert_eq!(found[0].status, Status::Dismissed);
    let seqs: Vec<u64> = found[0].resolutions.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [first, second], "the superseded decision stays");
}

#[test]
fn a_decision_that_breaks_the_rules_is_refused_and_changes_nothing() {
    let (mut log, finding) = duplicate();
    log.push(decided(
        &finding,
        "li",
        Decision::Confirmed,
        100,
        "micro_wish",
    ));
    let mut findings = log.fold();
    let before = findings.clone();
    let next = log.facts.len() as u64 + 1;
    let unknown = Finding {
        id: "0000000000000000".into(),
        ..finding.clone()
    };
    let unknown = decided(&unknown, "wu", Decision::Dismissed, 0, "");
    let other_household = Finding {
        household: "H2".into(),
        ..finding.clone()
    };
    let other_household = decided(&other_household, "wu", Decision::Dismissed, 0, "");
    let cases = [
        (unknown, "no finding"),
        (other_household, "household"),
        (
            decided(&finding, "li", Decision::Dismissed, 0, ""),
            "already decided",
        ),
        (
            decided(&finding, "wu", Decision::Dismissed, 100, "micro_wish"),
            "confirmed",
        ),
        (
            decided(&finding, "wu", Decision::Confirmed, 30_001, "micro_wish"),
            "amount at risk",
        ),
        (
            decided(&finding, "wu", Decision::Confirmed, -1, "micro_wish"),
            "negative",
        ),
        (
            decided(&finding, "wu", Decision::Confirmed, 100, ""),
            "needs a program",
        ),
        (
            decided(&finding, "wu", Decision::Confirmed, 100, "transit_card"),
            "paid from micro_wish",
        ),
        (
            decided(&finding, "wu", Decision::Dismissed, 0, "micro_wish"),
            "only with an amount",
        ),
    ];
    for (fact, says) in cases {
        let err = findings.apply(next, &fact).unwrap_err();
        assert!(err.to_string().contains(says), "{says}: {err}");
        assert_eq!(findings, before, "{says}");
    }
    let fine = decided(&finding, "wu", Decision::Dismissed, 0, "");
    findings.apply(next, &fine).unwrap();
    assert_eq!(findings.all()[0].status, Status::Dismissed);
}

#[test]
fn four_eyes_against_the_evidence_is_checked_with_the_callers_actors() {
    let (log, finding) = duplicate();
    let findings = log.fold();
    let fact = decided(&finding, "li", Decision::Dismissed, 0, "");
    let evidence = finding.seqs[1];
    let recorded_by_li = |seq: u64| (seq == evidence).then(|| "li".to_string());
    let err = findings
        .check_evidence_actors(&fact, recorded_by_li)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("li recorded seq {evidence}")),
        "{err}"
    );
    findings
        .check_evidence_actors(&fact, |_| Some("clerk".to_string()))
        .unwrap();
    // Facts other than decisions pass whoever recorded what.
    let reversal = FindingFact::Reversed {
        target_seq: evidence,
    };
    findings
        .check_evidence_actors(&reversal, recorded_by_li)
        .unwrap();
}

#[test]
fn a_finding_over_several_programs_has_no_default_program() {
    let mut log = Log::district();
    log.pay_to("H1", "micro_wish", 10_000, 1, on(2019, 1, 2), Some(7));
    log.pay_to("H2", "transit_card", 20_000, 1, on(2019, 3, 2), Some(7));
    log.pay_to("H3", "micro_wish", 30_000, 1, on(2019, 4, 2), Some(7));
    let found = log.found();
    assert_eq!(found[0].programs, ["micro_wish", "transit_card"]);
    assert_eq!(found[0].default_program(), None);
}

#[test]
fn decisions_fold_the_same_through_a_snapshot() {
    let (mut log, finding) = duplicate();
    log.push(decided(
        &finding,
        "li",
        Decision::Confirmed,
        30_000,
        "micro_wish",
    ));
    log.push(decided(&finding, "zhao", Decision::Dismissed, 0, ""));
    let whole = log.fold();
    let half = log.facts.len() - 1;
    let mut first = Findings::new();
    for (seq, fact) in (1..).zip(&log.facts[..half]) {
        first.apply(seq, fact).unwrap();
    }
    let bytes = bincode::serialize(&first).unwrap();
    let mut second: Findings = bincode::deserialize(&bytes).unwrap();
    for (seq, fact) in (half as u64 + 1..).zip(&log.facts[half..]) {
        second.apply(seq, fact).unwrap();
    }
    assert_eq!(second, whole);
}

/// A payment fact with the fields the compact record keeps, to one account or none.
fn paid(
    household: &str,
    program: &str,
    persons: u32,
    date: Date,
    account: Option<([u8; 32], &str)>,
) -> FindingFact {
    FindingFact::Paid {
        kind: PaymentKind::Disbursement,
        household: household.into(),
        program: program.into(),
        amount_fen: 10_000,
        persons,
        date,
        account: account.map(|(hash, last4)| Account {
            hash,
            last4: last4.into(),
        }),
    }
}

#[test]
fn a_payment_the_compact_record_cannot_hold_as_it_is_is_refused_and_changes_nothing() {
    let mut log = Log::district();
    log.pay_to("H1", "micro_wish", 10_000, 1, on(2019, 1, 2), Some(7));
    let mut findings = log.fold();
    let before = findings.clone();
    let next = log.facts.len() as u64 + 1;
    let far = on(*PAYMENT_YEARS.end() + 1, 1, 1);
    let cases = [
        (
            paid(
                "H1",
                "micro_wish",
                MAX_PAYMENT_PERSONS + 1,
                on(2019, 1, 3),
                None,
            ),
            FindingsError::TooManyPersons {
                persons: MAX_PAYMENT_PERSONS + 1,
            },
        ),
        (
            paid("H1", "micro_wish", 1, far, None),
            FindingsError::InvalidDate { date: far },
        ),
        (
            paid(
                "H2",
                "micro_wish",
                1,
                on(2019, 1, 3),
                Some(([7; 32], "9999")),
            ),
            FindingsError::AccountDigits {
                account: hex(&[7; 32]),
                first: "1234".into(),
                found: "9999".into(),
            },
        ),
    ];
    for (fact, error) in cases {
        assert_eq!(findings.apply(next, &fact), Err(error));
        assert_eq!(findings, before);
    }
    let most = paid(
        "H1",
        "micro_wish",
        MAX_PAYMENT_PERSONS,
        on(2019, 1, 3),
        None,
    );
    findings.apply(next, &most).unwrap();
    assert_eq!(findings.size().live_payments, 2);
}

#[test]
fn a_program_beyond_what_the_fold_tells_apart_is_refused() {
    let mut findings = Findings::new();
    let mut seq = 0;
    for program in 0..MAX_PROGRAMS {
        seq += 1;
        let fact = paid("H1", &format!("p{program}"), 1, on(2019, 1, 2), None);
        findings.apply(seq, &fact).unwrap();
    }
    let before = findings.clone();
    let known = paid("H1", "p0", 1, on(2019, 1, 2), None);
    let new = paid("H1", "one_more", 1, on(2019, 1, 2), None);
    assert_eq!(
        findings.apply(seq + 1, &new),
        Err(FindingsError::TooManyPrograms {
            program: "one_more".into()
        })
    );
    assert_eq!(findings, before);
    findings.apply(seq + 1, &known).unwrap();
}

#[test]
fn names_are_interned_once_each_in_the_order_first_seen() {
    let mut log = Log::district();
    let before = log.fold().size().households;
    assert_eq!(before, 5);
    for _ in 0..3 {
        log.pay("H9", "micro_wish", 10_000, 1, on(2019, 1, 2));
        log.pay("H1", "transit_card", 10_000, 1, on(2019, 1, 2));
    }
    let findings = log.fold();
    assert_eq!(findings.size().households, 6, "H9 once");
    assert_eq!(findings.household_ids.names()[5], "H9");
    assert_eq!(findings.program_ids.names(), ["micro_wish", "transit_card"]);
    assert_eq!(findings.person_ids.names().len(), 10);
}

#[test]
fn a_reversed_payment_is_gone_from_a_snapshot_and_stays_reversed_after_it() {
    let mut log = Log::district();
    let first = log.pay_to("H1", "micro_wish", 30_000, 1, on(2019, 5, 2), Some(7));
    let second = log.pay_to("H1", "micro_wish", 30_000, 1, on(2019, 5, 9), Some(7));
    log.push(FindingFact::Reversed { target_seq: first });
    let findings = log.fold();
    let bytes = bincode::serialize(&findings).unwrap();
    let mut back: Findings = bincode::deserialize(&bytes).unwrap();
    assert_eq!(back, findings);
    assert_eq!(back.size().live_payments, 1);
    let next = log.facts.len() as u64 + 1;
    let again = FindingFact::Reversed { target_seq: first };
    assert_eq!(
        back.apply(next, &again),
        Err(FindingsError::UnknownPayment { target_seq: first })
    );
    // The payment left after the reversal is still found by a later twin and an account.
    let mut third = paid(
        "H1",
        "micro_wish",
        1,
        on(2019, 5, 20),
        Some(([7; 32], "1234")),
    );
    if let FindingFact::Paid { amount_fen, .. } = &mut third {
        *amount_fen = 30_000;
    }
    back.apply(next, &third).unwrap();
    let all = back.all();
    let found = of_rule(&all, Rule::DuplicatePayment);
    let seqs: Vec<&[u64]> = found.iter().map(|f| f.seqs.as_slice()).collect();
    assert_eq!(seqs, [&[first, second][..], &[second, next][..]]);
    let household = back.payments.get(second).unwrap().household;
    let account = AccountId::from_index(0);
    assert_eq!(back.accounts.payments(account, 2019, household), 2);
    assert_eq!(back.size().account_years, 1);
}

/// A lookup that answers with what it was not asked for.
enum Lying {
    OtherHousehold,
    NotBefore,
    NeverFolded,
    Fails,
}

impl PaymentLookup for Lying {
    fn visit_household(
        &mut self,
        household: &str,
        before: u64,
        visit: &mut dyn FnMut(LoggedPayment) -> std::ops::ControlFlow<()>,
    ) -> Result<(), String> {
        self.household_payments(household, before)?
            .into_iter()
            .for_each(|p| {
                let _ = visit(p);
            });
        Ok(())
    }

    fn household_payments(
        &mut self,
        household: &str,
        before: u64,
    ) -> Result<Vec<LoggedPayment>, String> {
        let mut p = LoggedPayment {
            seq: 1,
            household: household.into(),
            program: "micro_wish".into(),
            amount_fen: 30_000,
            persons: 1,
            date: on(2019, 5, 2),
            account: None,
        };
        match self {
            Lying::OtherHousehold => p.household = "H2".into(),
            Lying::NotBefore => p.seq = before,
            Lying::NeverFolded => p.program = "never_paid".into(),
            Lying::Fails => return Err("the log cannot be read".into()),
        }
        Ok(vec![p])
    }

    fn payment(&mut self, _: u64, _: u64) -> Result<Option<LoggedPayment>, String> {
        Ok(None)
    }

    fn program_payments(&mut self, _: &str, _: i32, _: u64) -> Result<Vec<LoggedPayment>, String> {
        Ok(Vec::new())
    }
}

#[test]
fn a_lookup_that_answers_with_what_was_not_asked_is_an_error() {
    let paid = |seq| FindingFact::Paid {
        kind: PaymentKind::Disbursement,
        household: "H1".into(),
        program: "micro_wish".into(),
        amount_fen: 30_000,
        persons: 1,
        date: on(2019, 5, 2 + seq as u8),
        account: None,
    };
    let cases = [
        (Lying::OtherHousehold, "household \"H2\""),
        (Lying::NotBefore, "not one asked for before seq 2"),
        (
            Lying::NeverFolded,
            "program \"never_paid\" was never folded",
        ),
        (Lying::Fails, "the log cannot be read"),
    ];
    for (mut lookup, says) in cases {
        let mut findings = Findings::new();
        findings.apply_with(1, &paid(1), &mut lookup).unwrap();
        // The second payment is alike the first: the filter has seen its digest, so the
        // household's payments are looked up.
        let error = findings.apply_with(2, &paid(2), &mut lookup).unwrap_err();
        assert!(matches!(error, FindingsError::Lookup { .. }), "{error}");
        assert!(error.to_string().contains(says), "{error}");
    }
}
