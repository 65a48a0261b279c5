//! The independent export verifier (examples/independent-verifier, Python, written from
//! FORMAT.md alone) agrees with `fundtrail audit verify-export`: it accepts an honest
//! export, and it rejects forged ones with exit 1 and a reason, never a traceback.
//!
//! It needs python3 with the modules `blake3` and `cryptography`. When they are missing
//! the test runs scripts/install-test-deps itself. If they still cannot be had the test
//! fails, loudly, unless FUNDTRAIL_SKIP_PYTHON_TESTS=1 says to skip it.

use crate::support::forge;

use std::path::Path;
use std::process::{Command, Output};

use crate::support::*;

const VERIFIER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/independent-verifier/verify_export.py"
);

fn modules_present() -> bool {
    Command::new("python3")
        .args(["-c", "import blake3, cryptography"])
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Whether the verifier can run here, installing its modules if they are missing.
pub(crate) fn python_ready() -> bool {
    if std::env::var("FUNDTRAIL_SKIP_PYTHON_TESTS").as_deref() == Ok("1") {
        eprintln!("skipped: FUNDTRAIL_SKIP_PYTHON_TESTS=1");
        return false;
    }
    if !modules_present() {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/install-test-deps");
        let _ = Command::new("bash")
            .arg(script)
            .env("FUNDTRAIL_SKIP_BROWSER_TESTS", "1")
            .status();
    }
    assert!(
        modules_present(),
        "python3 with blake3 and cryptography is missing: run scripts/install-test-deps, \
         or set FUNDTRAIL_SKIP_PYTHON_TESTS=1 to skip this test"
    );
    true
}

fn python_verify(dir: &Path, key: &str) -> Output {
    Command::new("python3")
        .arg(VERIFIER)
        .arg(dir)
        .arg(key)
        .output()
        .expect("run python3")
}

/// The Python verifier's report on `dir` (`what` names the case), once it has exited with
/// `code` and said why in a line of its own, not in a traceback.
#[track_caller]
fn python_refuses(dir: &Path, key: &str, code: i32, what: &str) -> String {
    let theirs = python_verify(dir, key);
    let stdout = String::from_utf8_lossy(&theirs.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&theirs.stderr);
    assert_eq!(theirs.status.code(), Some(code), "{what}: {stdout}{stderr}");
    assert!(!stderr.contains("Traceback"), "{what}: {stderr}");
    stdout
}

/// An export of the standard ledger, and its verifier key.
fn honest_export(t: &TempLedger) -> (std::path::PathBuf, String) {
    let dir = t.file("export");
    t.run(&["checkpoint"]).assert_ok();
    t.run(&["export", "--to", dir.to_str().unwrap()])
        .assert_ok();
    let key = std::fs::read_to_string(dir.join("pubkey")).unwrap();
    (dir, key.trim().to_owned())
}

/// A copy of the export with `edit` applied to one of its files.
fn forged(
    t: &TempLedger,
    export: &Path,
    name: &str,
    file: &str,
    edit: impl Fn(&[u8]) -> Vec<u8>,
) -> std::path::PathBuf {
    let dir = t.file(name);
    std::fs::create_dir(&dir).unwrap();
    for entry in std::fs::read_dir(export).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    let bytes = std::fs::read(dir.join(file)).unwrap();
    std::fs::write(dir.join(file), edit(&bytes)).unwrap();
    dir
}

fn replace(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(text.contains(from), "{from:?} is in the file");
    text.replacen(from, to, 1).into_bytes()
}

/// A payment naming the payee's account (variant 16) verifies with both verifiers, its
/// `fields` show the account masked, and an edited mask is refused by both.
#[test]
fn both_verifiers_read_a_payment_that_names_an_account() {
    if !python_ready() {
        return;
    }
    let t = TempLedger::standard();
    let header = "date,type,household_id,program,amount,persons,reference,memo,account";
    let row =
        "2015-02-28,disbursement,PL-0001,support_allowance,10.00,1,ACC-1,,6222021234567891234";
    let path = t.write_file("accounts.csv", &format!("{header}\n{row}\n"));
    t.import("events", &path).assert_ok();
    let (export, key) = honest_export(&t);
    audit_verify_export(&export, &key).assert_ok();
    let ours = python_verify(&export, &key);
    assert!(
        ours.status.success(),
        "{}",
        String::from_utf8_lossy(&ours.stdout)
    );
    let events = std::fs::read_to_string(export.join("events.jsonl")).unwrap();
    assert!(
        events.contains("\"account\":\"************1234\""),
        "{events}"
    );
    let shown = forged(&t, &export, "shown", "events.jsonl", |b| {
        replace(b, "************1234", "*******91234")
    });
    audit_verify_export(&shown, &key).assert_code(1);
    python_refuses(&shown, &key, 1, "an account shown beyond its mask");
}

#[test]
fn the_independent_verifier_agrees_with_fundtrail() {
    if !python_ready() {
        return;
    }
    let t = TempLedger::standard();
    let (export, key) = honest_export(&t);
    let out = python_verify(&export, &key);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: 8 events"));

    let forgeries = [
        // A decoded field that is not what the record says.
        forged(&t, &export, "amount", "events.jsonl", |b| {
            replace(b, "\"amount\":\"100.00\"", "\"amount\":\"100.01\"")
        }),
        // The same value as another JSON type.
        forged(&t, &export, "float", "events.jsonl", |b| {
            replace(b, "\"persons\":2", "\"persons\":2.0")
        }),
        // CR line ends in the checkpoint, as a Windows editor would save it.
        forged(&t, &export, "crlf", "checkpoint.txt", |b| {
            replace(b, "\n", "\r\n")
        }),
        // Another key's signature line that is not base64.
        forged(&t, &export, "badsig", "checkpoint.txt", |b| {
            [b, "\u{2014} other !!!!\n".as_bytes()].concat()
        }),
        // A checkpoint that is not a signed note at all.
        forged(&t, &export, "nonote", "checkpoint.txt", |_| b"x\n".to_vec()),
        // A line with a byte order mark.
        forged(&t, &export, "bom", "events.jsonl", |b| {
            [&b"\xef\xbb\xbf"[..], b].concat()
        }),
    ];
    for dir in forgeries {
        audit_verify_export(&dir, &key).assert_code(1);
        let what = dir.display().to_string();
        let stdout = python_refuses(&dir, &key, 1, &what);
        assert!(stdout.starts_with("FAILED"), "{what}: {stdout}");
    }
}

/// Both verifiers refuse a correctly signed export whose log breaks a write rule, at the
/// same seq; both accept the same log when it keeps the rules.
#[test]
fn both_verifiers_refuse_a_signed_log_that_breaks_a_write_rule() {
    if !python_ready() {
        return;
    }
    let t = TempLedger::uninitialized();
    let key = forge::verifier_key();
    let honest = t.file("honest");
    forge::write_export(&honest, &forge::opening());
    let theirs = python_verify(&honest, &key);
    assert!(theirs.status.success(), "{theirs:?}");
    for scenario in forge::scenarios() {
        let dir = t.file(scenario.name);
        forge::write_export(&dir, &scenario.events);
        let ours = audit_verify_export_json(&dir, &key);
        assert_eq!(
            ours.assert_code(1).json()["first_bad_seq"],
            scenario.bad_seq,
            "{}",
            scenario.name
        );
        let stdout = python_refuses(&dir, &key, 1, scenario.name);
        let expected = format!("FAILED at seq {}: breaks a write rule", scenario.bad_seq);
        assert!(stdout.starts_with(&expected), "{}: {stdout}", scenario.name);
    }
}

/// A record over 16 KiB, and an origin with DEL or a C1 control character, are refused by
/// both; a missing file is bad input (exit 2) for both.
#[test]
fn both_verifiers_refuse_large_records_control_characters_and_missing_files() {
    if !python_ready() {
        return;
    }
    let t = TempLedger::uninitialized();
    let key = forge::verifier_key();
    // A record of 16 KiB and one byte: its memo fills it.
    let mut records = forge::records(&forge::opening());
    let memo = |r: &mut fundtrail::model::encoding::RecordV1, text: String| {
        if let fundtrail::model::encoding::Body::Disbursement(p) = &mut r.body {
            p.memo = text;
        }
    };
    let bare = fundtrail::model::encoding::encode(&records[2]).len() - "扶助金".len();
    memo(&mut records[2], "x".repeat(16 * 1024 + 1 - bare));
    let bytes: Vec<Vec<u8>> = records
        .iter()
        .map(fundtrail::model::encoding::encode)
        .collect();
    assert_eq!(bytes[2].len(), 16 * 1024 + 1);
    let large = t.file("large");
    forge::write_export_of_records(&large, &bytes);
    audit_verify_export(&large, &key).assert_code(1);
    let stdout = python_refuses(&large, &key, 1, "a record over 16 KiB");
    assert!(stdout.starts_with("FAILED at seq 3"), "{stdout}");

    // A verifier key whose name holds DEL or a C1 control: both refuse the key itself.
    let public = fundtrail::tlog::note::VerifierKey::parse(&key)
        .unwrap()
        .public_key();
    for name in [
        "forger\u{7f}.example",
        "forger\u{85}.example",
        "forger\u{9f}.example",
    ] {
        let id = fundtrail::tlog::note::key_id(name, &public);
        let mut encoded = vec![1u8];
        encoded.extend_from_slice(&public);
        use base64::Engine as _;
        let bad_key = format!(
            "{name}+{id:08x}+{}",
            base64::engine::general_purpose::STANDARD.encode(&encoded)
        );
        audit_verify_export(&large, &bad_key).assert_code(2);
        python_refuses(&large, &bad_key, 2, &format!("{name:?}"));
    }

    for file in ["events.jsonl", "checkpoint.txt"] {
        let dir = t.file(&format!("missing-{file}"));
        forge::write_export(&dir, &forge::opening());
        std::fs::remove_file(dir.join(file)).unwrap();
        audit_verify_export(&dir, &key).assert_code(2);
        python_refuses(&dir, &key, 2, file);
    }
}

// ---- persons, life events, reveals and erasures (FORMAT.md §1.6, §9.1 rules 11 to 15) ----

mod people {
    use super::*;

    use chrono::NaiveDate;
    use fundtrail::keys::identity::IdentityHash;
    use fundtrail::model::domain::{
        date_to_days, HouseholdId, LifeEvent, LifeEventKind, Money, Month, Payment, PaymentKind,
        PersonAccess, PersonEntry, ProgramCode, Reference,
    };
    use fundtrail::model::encoding::{
        AllocationV1, Body, LifeEventV1, PaymentV1, PersonAccessV1, PersonV1,
    };
    use fundtrail::model::person::{PersonId, Role};
    use fundtrail::Command as Cmd;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn days(text: &str) -> i32 {
        date_to_days(day(text))
    }

    fn add_person(id: &str, household: &str, identity: u8, role: Role, born: &str) -> Cmd {
        Cmd::AddPerson(PersonEntry {
            person: PersonId::parse(id).unwrap(),
            household: HouseholdId::parse(household).unwrap(),
            identity: IdentityHash::from_bytes([identity; 32]),
            role,
            birth_date: day(born),
            joined_on: day("2015-06-01"),
            personal: None,
        })
    }

    fn life(kind: LifeEventKind, who: &str, on: &str, reference: &str) -> Cmd {
        let (person, household) = if kind.is_personal() {
            (Some(PersonId::parse(who).unwrap()), None)
        } else {
            (None, Some(HouseholdId::parse(who).unwrap()))
        };
        Cmd::RecordLifeEvent(LifeEvent {
            kind,
            person,
            household,
            date: day(on),
            reference: Reference::parse(reference).unwrap(),
            memo: "证明".into(),
        })
    }

    fn allowance(household: &str, on: &str, reference: Reference, persons: u32) -> Cmd {
        Cmd::Pay(Payment {
            kind: PaymentKind::Disbursement,
            household: HouseholdId::parse(household).unwrap(),
            program: ProgramCode::parse("support_allowance").unwrap(),
            amount: Money::parse("10.00").unwrap(),
            persons,
            date: day(on),
            reference,
            memo: String::new(),
            account: None,
        })
    }

    fn access(person: &str, reason: &str) -> PersonAccess {
        PersonAccess {
            person: PersonId::parse(person).unwrap(),
            reason: reason.into(),
            at_us: NOW_US,
        }
    }

    /// The standard ledger, then persons of PL-0001 and PL-0003, a death, a departure and
    /// the identity of the one who left enrolled elsewhere, allowances counted by person,
    /// an exit with the allowance of its month, an end of eligibility, a reveal and an
    /// erasure: every event type of FORMAT.md §1.6, each kept to its rules.
    fn people_ledger() -> TempLedger {
        let t = TempLedger::standard();
        let clerk = |r: &str| Reference::parse(r).unwrap();
        let september = Month::parse("2019-09").unwrap();
        let pl_0001 = HouseholdId::parse("PL-0001").unwrap();
        let commands = vec![
            add_person("P-1", "PL-0001", 1, Role::Mother, "1960-05-10"),
            add_person("P-2", "PL-0001", 2, Role::Father, "1970-08-01"),
            add_person("P-4", "PL-0001", 4, Role::Child, "1990-02-02"),
            add_person("P-3", "PL-0003", 3, Role::Mother, "1962-01-15"),
            allowance("PL-0001", "2019-03-31", clerk("BANK-3"), 1),
            life(LifeEventKind::PersonDied, "P-1", "2019-03-20", "DEATH-1"),
            // The month of death is still due.
            allowance("PL-0001", "2019-03-31", clerk("BANK-4"), 1),
            life(LifeEventKind::PersonLeft, "P-4", "2019-05-01", "LEFT-1"),
            add_person("P-5", "PL-0002", 4, Role::Other, "1990-02-02"),
            life(
                LifeEventKind::HouseholdExited,
                "PL-0001",
                "2019-09-15",
                "EXIT-1",
            ),
            // The father turned 49 in August; September began before the exit.
            allowance(
                "PL-0001",
                "2019-09-30",
                Reference::for_allowance(september, &pl_0001),
                1,
            ),
            life(
                LifeEventKind::EligibilityEnded,
                "PL-0003",
                "2020-01-01",
                "END-1",
            ),
            Cmd::RevealPerson(access("P-2", "case 2026-17")),
            Cmd::ErasePerson(access("P-1", "request 2026-3")),
        ];
        let mut ledger = t.open();
        let summary = ledger
            .append(commands, &ctx())
            .expect("the people events keep the rules");
        assert_eq!(summary.appended, 14);
        drop(ledger);
        assert_eq!(t.verify().fault, None);
        t
    }

    #[test]
    fn an_export_with_persons_deaths_exits_reveals_and_erasures_verifies_with_both() {
        let t = people_ledger();
        let (export, key) = honest_export(&t);
        let lines = std::fs::read_to_string(export.join("events.jsonl")).unwrap();
        for kind in [
            "person_added",
            "person_died",
            "person_left",
            "household_exited",
            "eligibility_ended",
            "person_revealed",
            "person_erased",
        ] {
            assert!(lines.contains(&format!("\"type\":\"{kind}\"")), "{kind}");
        }
        let ours = audit_verify_export(&export, &key);
        assert!(
            ours.assert_ok().stdout.starts_with("ok: 22 events"),
            "{ours:?}"
        );
        if !python_ready() {
            return;
        }
        let theirs = python_verify(&export, &key);
        let stdout = String::from_utf8_lossy(&theirs.stdout);
        assert!(theirs.status.success(), "{theirs:?}");
        assert!(stdout.starts_with("ok: 22 events"), "{stdout}");
        // A decoded person field that is not what the record says is refused by both.
        let forged = forged(&t, &export, "role", "events.jsonl", |b| {
            replace(b, "\"role\":\"father\"", "\"role\":\"mother\"")
        });
        audit_verify_export(&forged, &key).assert_code(1);
        let stdout = python_refuses(&forged, &key, 1, "a person's role");
        assert!(
            stdout.contains("fields differ from the decoded record"),
            "{stdout}"
        );
    }

    // -- forged logs, signed with the test's key ------------------------------------------

    /// 2026-01-01T00:00:00Z in microseconds: the recording time of every forged event.
    const AT_US: i64 = forge::RECORDED_AT_US;

    fn enroll(household: &str) -> forge::Event {
        forge::enroll(household, days("2014-03-01"))
    }

    fn person(id: &str, household: &str, identity: u8, role: u8, born: &str) -> forge::Event {
        person_joined(id, household, identity, role, days(born), "2014-03-01")
    }

    fn person_joined(
        id: &str,
        household: &str,
        identity: u8,
        role: u8,
        birth_date: i32,
        joined: &str,
    ) -> forge::Event {
        (
            format!("person:{id}"),
            Body::PersonAdded(PersonV1 {
                person: id.into(),
                household: household.into(),
                identity: [identity; 32],
                role,
                birth_date,
                joined_on: days(joined),
            }),
        )
    }

    fn event(
        reference: &str,
        kind: LifeEventKind,
        person: &str,
        household: &str,
        on: &str,
    ) -> forge::Event {
        let body = LifeEventV1 {
            person: person.into(),
            household: household.into(),
            value_date: days(on),
            memo: "证明".into(),
        };
        (reference.into(), Body::from_life_event(kind, body))
    }

    fn died(reference: &str, person: &str, household: &str, on: &str) -> forge::Event {
        event(reference, LifeEventKind::PersonDied, person, household, on)
    }

    fn paid(reference: &str, household: &str, persons: u32, on: &str) -> forge::Event {
        (
            reference.into(),
            Body::Disbursement(PaymentV1 {
                household: household.into(),
                program: "support_allowance".into(),
                amount_fen: 1_000,
                persons,
                value_date: days(on),
                memo: String::new(),
            }),
        )
    }

    fn revealed(reference: &str, person: &str, reason: &str) -> forge::Event {
        let body = PersonAccessV1 {
            person: person.into(),
            reason: reason.into(),
        };
        (reference.into(), Body::PersonRevealed(body))
    }

    fn erased(person: &str) -> forge::Event {
        let body = PersonAccessV1 {
            person: person.into(),
            reason: "request 2026-3".into(),
        };
        (format!("erase:{person}"), Body::PersonErased(body))
    }

    /// A log that keeps every rule, seqs 1 to 15: PL-0001 with a mother (P-1, dead since
    /// seq 8, erased at seq 15), a father (P-2, 49 in 2019-08) and a child (P-4, left at
    /// seq 10, whose identity P-5 of PL-0002 holds since); PL-0003 exited at seq 12.
    fn opening() -> Vec<forge::Event> {
        vec![
            enroll("PL-0001"),
            enroll("PL-0002"),
            enroll("PL-0003"),
            (
                "ALLOC-1".into(),
                Body::FundAllocation(AllocationV1 {
                    program: "support_allowance".into(),
                    amount_fen: 100_000,
                    value_date: days("2015-01-05"),
                    source: "区财政".into(),
                }),
            ),
            person("P-1", "PL-0001", 1, 0, "1960-05-10"),
            person("P-2", "PL-0001", 2, 1, "1970-08-01"),
            person("P-4", "PL-0001", 4, 2, "1990-02-02"),
            died("DEATH-1", "P-1", "PL-0001", "2019-03-20"),
            paid("BANK-2", "PL-0001", 1, "2019-03-31"),
            event(
                "LEFT-1",
                LifeEventKind::PersonLeft,
                "P-4",
                "PL-0001",
                "2019-05-01",
            ),
            person_joined("P-5", "PL-0002", 4, 3, days("1990-02-02"), "2019-06-01"),
            event(
                "EXIT-1",
                LifeEventKind::HouseholdExited,
                "",
                "PL-0003",
                "2019-09-15",
            ),
            paid("ALW-201909-PL-0003", "PL-0003", 2, "2019-09-30"),
            revealed(&format!("reveal:P-2:{AT_US}"), "P-2", "case 2026-17"),
            erased("P-1"),
        ]
    }

    /// A forged log: the opening and events whose last breaks a rule, the field and words
    /// `audit verify-export` names, and those of the independent verifier.
    struct Forgery {
        name: &'static str,
        extra: Vec<forge::Event>,
        field: &'static str,
        words: &'static str,
        py_field: &'static str,
        py_words: &'static str,
    }

    #[rustfmt::skip]
    fn forgeries() -> Vec<Forgery> {
        let many = |name, extra, field, words, py_field, py_words| Forgery {
            name, extra, field, words, py_field, py_words,
        };
        let f = |name, last, field, words, py_field, py_words| {
            many(name, vec![last], field, words, py_field, py_words)
        };
        let other = person_joined("P-6", "PL-0002", 6, 0, days("1962-01-15"), "2015-01-01");
        let with = |edit: &dyn Fn(&mut PersonV1)| {
            let mut e = other.clone();
            if let Body::PersonAdded(p) = &mut e.1 {
                edit(p);
            }
            e
        };
        vec![
            f("person-reference-not-derived", ("P-6".into(), other.1.clone()),
              "reference", "is not the reference a person_added gets",
              "reference", "'P-6' should be 'person:P-6'"),
            f("clerk-reference-with-person-prefix", paid("person:P-9", "PL-0002", 1, "2015-01-31"),
              "reference", "the prefix \"person:\" is reserved",
              "reference", "'person:P-9' is not a clerk's reference"),
            f("life-event-with-erase-prefix", died("erase:P-2", "P-2", "PL-0001", "2019-10-01"),
              "reference", "the prefix \"erase:\" is reserved",
              "reference", "'erase:P-2' is not a clerk's reference"),
            f("payment-with-reveal-prefix", paid("reveal:P-2:1", "PL-0002", 1, "2015-01-31"),
              "reference", "the prefix \"reveal:\" is reserved",
              "reference", "'reveal:P-2:1' is not a clerk's reference"),
            f("reveal-time-with-a-plus", revealed("reveal:P-2:+5", "P-2", "x"),
              "reference", "is not the reference a person_revealed gets",
              "reference", "is not reveal:P-2:<microseconds since the epoch>"),
            f("person-added-twice", person("P-2", "PL-0001", 2, 1, "1970-08-01"),
              "reference", "person:P-2 is already recorded as seq 6",
              "reference", "person:P-2 is already recorded"),
            f("person-before-enrollment", with(&|p| p.joined_on = days("2014-01-01")),
              "joined_on", "is before household PL-0002 was enrolled",
              "joined_on", "is before household PL-0002 was enrolled"),
            f("person-of-a-household-not-enrolled", with(&|p| p.household = "PL-0404".into()),
              "household_id", "PL-0404 is not enrolled",
              "household_id", "PL-0404 is not enrolled"),
            f("born-after-joining", with(&|p| p.birth_date = days("2016-01-01")),
              "joined_on", "is before the birth date 2016-01-01",
              "joined_on", "is before the birth date 2016-01-01"),
            f("born-in-year-minus-one", with(&|p| p.birth_date = days("0000-01-01") - 1),
              "birth_date", "is not a date YYYY-MM-DD",
              "birth_date", "is not a date YYYY-MM-DD"),
            f("unknown-role", with(&|p| p.role = 7),
              "role", "role 7",
              "role", "role 7"),
            f("identity-in-two-households", with(&|p| p.identity = [2; 32]),
              "id_number", "already person P-2 of household PL-0001 (seq 6)",
              "identity", "already person P-2 of household PL-0001 (seq 6)"),
            f("dead-identity-added-again", with(&|p| p.identity = [1; 32]),
              "id_number", "recorded dead on 2019-03-20 (seq 8)",
              "identity", "recorded dead on 2019-03-20 (seq 8)"),
            f("person-of-an-exited-household", with(&|p| p.household = "PL-0003".into()),
              "household_id", "PL-0003 exited the scheme on 2019-09-15 (seq 12)",
              "household_id", "PL-0003 exited the scheme on 2019-09-15 (seq 12)"),
            f("death-of-an-unknown-person", died("DEATH-2", "P-404", "PL-0001", "2019-10-01"),
              "person_id", "P-404 is not recorded",
              "person_id", "P-404 is not recorded"),
            f("death-in-another-household", died("DEATH-2", "P-2", "PL-0002", "2019-10-01"),
              "household_id", "P-2 is a person of household PL-0001",
              "household_id", "P-2 is a person of household PL-0001"),
            f("died-twice", died("DEATH-2", "P-1", "PL-0001", "2019-04-01"),
              "type", "already recorded dead on 2019-03-20 (seq 8)",
              "type", "already recorded dead on 2019-03-20 (seq 8)"),
            f("left-after-death",
              event("LEFT-2", LifeEventKind::PersonLeft, "P-1", "PL-0001", "2019-04-01"),
              "type", "already recorded dead on 2019-03-20 (seq 8)",
              "type", "already recorded dead on 2019-03-20 (seq 8)"),
            f("left-twice",
              event("LEFT-2", LifeEventKind::PersonLeft, "P-4", "PL-0001", "2019-06-01"),
              "type", "already left on 2019-05-01 (seq 10)",
              "type", "already left on 2019-05-01 (seq 10)"),
            f("household-ends-twice",
              event("END-1", LifeEventKind::EligibilityEnded, "", "PL-0003", "2019-10-01"),
              "type", "already exited the scheme on 2019-09-15 (seq 12)",
              "type", "already exited the scheme on 2019-09-15 (seq 12)"),
            f("household-event-naming-a-person",
              event("EXIT-2", LifeEventKind::HouseholdExited, "P-2", "PL-0001", "2019-10-01"),
              "record", "is not what its command records",
              "person_id", "a household's household_exited names no person"),
            f("payment-after-exit", paid("BANK-9", "PL-0003", 1, "2019-09-16"),
              "date", "after household PL-0003 exited the scheme on 2019-09-15 (seq 12)",
              "date", "after household PL-0003 exited the scheme on 2019-09-15 (seq 12)"),
            f("allowance-of-a-month-after-exit", paid("ALW-201910-PL-0003", "PL-0003", 1, "2019-10-31"),
              "date", "after household PL-0003 exited the scheme on 2019-09-15 (seq 12)",
              "date", "after household PL-0003 exited the scheme on 2019-09-15 (seq 12)"),
            f("allowance-after-a-death", paid("BANK-9", "PL-0001", 1, "2019-04-30"),
              "persons", "1 persons exceed the 0 of household PL-0001 eligible in 2019-04",
              "persons", "1 persons exceed the 0 of household PL-0001 eligible in 2019-04"),
            f("allowance-for-more-than-are-eligible", paid("BANK-9", "PL-0001", 2, "2019-08-31"),
              "persons", "2 persons exceed the 1 of household PL-0001 eligible in 2019-08",
              "persons", "2 persons exceed the 1 of household PL-0001 eligible in 2019-08"),
            f("reveal-of-an-unknown-person", revealed("reveal:P-404:5", "P-404", "x"),
              "person_id", "P-404 is not recorded",
              "person_id", "P-404 is not recorded"),
            f("reveal-after-erasure", revealed("reveal:P-1:5", "P-1", "x"),
              "person_id", "P-1's personal data was erased (seq 15)",
              "person_id", "P-1's personal data was erased (seq 15)"),
            f("reveal-without-a-reason", revealed("reveal:P-2:5", "P-2", " "),
              "reason", "is empty",
              "reason", "is empty"),
            f("erased-twice", erased("P-1"),
              "reference", "erase:P-1 is already recorded",
              "reference", "erase:P-1 is already recorded"),
            f("end-before-enrollment",
              event("END-1", LifeEventKind::EligibilityEnded, "", "PL-0002", "2014-01-01"),
              "date", "2014-01-01 is before household PL-0002 was enrolled",
              "date", "2014-01-01 is before household PL-0002 was enrolled"),
            f("end-of-a-household-not-enrolled",
              event("END-1", LifeEventKind::EligibilityEnded, "", "PL-0404", "2019-10-01"),
              "household_id", "PL-0404 is not enrolled",
              "household_id", "PL-0404 is not enrolled"),
            f("death-before-birth", died("DEATH-2", "P-2", "PL-0001", "1969-01-01"),
              "date", "1969-01-01 is before P-2 was born (1970-08-01)",
              "date", "1969-01-01 is before P-2 was born (1970-08-01)"),
            f("death-before-enrollment", died("DEATH-2", "P-2", "PL-0001", "2000-01-01"),
              "date", "2000-01-01 is before household PL-0001 was enrolled",
              "date", "2000-01-01 is before household PL-0001 was enrolled"),
            f("departure-before-joining",
              event("LEFT-2", LifeEventKind::PersonLeft, "P-2", "PL-0001", "2014-01-01"),
              "date", "2014-01-01 is before P-2 joined (2014-03-01)",
              "date", "2014-01-01 is before P-2 joined (2014-03-01)"),
            f("death-dated-ahead", died("DEATH-2", "P-2", "PL-0001", "2027-06-01"),
              "date", "2027-06-01 is more than",
              "date", "2027-06-01 is more than"),
            f("person-joining-ahead", with(&|p| p.joined_on = days("2027-06-01")),
              "joined_on", "2027-06-01 is more than",
              "joined_on", "2027-06-01 is more than"),
            // A parent who left on the first day of a month does not count in it.
            many("allowance-after-leaving-on-the-first",
              vec![
                  event("LEFT-2", LifeEventKind::PersonLeft, "P-2", "PL-0001", "2019-10-01"),
                  paid("BANK-9", "PL-0001", 1, "2019-10-31"),
              ],
              "persons", "1 persons exceed the 0 of household PL-0001 eligible in 2019-10",
              "persons", "1 persons exceed the 0 of household PL-0001 eligible in 2019-10"),
            // A parent who joined after the first day of a month does not count in it.
            many("allowance-of-the-month-of-joining",
              vec![
                  person_joined("P-6", "PL-0002", 6, 0, days("1960-01-15"), "2019-10-02"),
                  paid("BANK-9", "PL-0002", 1, "2019-10-31"),
              ],
              "persons", "1 persons exceed the 0 of household PL-0002 eligible in 2019-10",
              "persons", "1 persons exceed the 0 of household PL-0002 eligible in 2019-10"),
        ]
    }

    /// Logs that keep the rules at their edges: both verifiers accept them.
    fn kept() -> Vec<(&'static str, Vec<forge::Event>)> {
        vec![
            (
                "allowance-in-the-month-of-the-49th-birthday",
                vec![paid("BANK-9", "PL-0001", 1, "2019-08-31")],
            ),
            (
                "payment-on-the-day-of-exit",
                vec![paid("BANK-9", "PL-0003", 1, "2019-09-15")],
            ),
            (
                "allowance-in-the-month-of-leaving-after-the-first",
                vec![
                    event(
                        "LEFT-2",
                        LifeEventKind::PersonLeft,
                        "P-2",
                        "PL-0001",
                        "2019-10-02",
                    ),
                    paid("BANK-9", "PL-0001", 1, "2019-10-31"),
                ],
            ),
            (
                "allowance-the-month-after-joining",
                vec![
                    person_joined("P-6", "PL-0002", 6, 0, days("1960-01-15"), "2019-10-02"),
                    paid("BANK-9", "PL-0002", 1, "2019-11-30"),
                ],
            ),
            (
                "allowance-in-the-month-of-the-end",
                vec![
                    event(
                        "END-1",
                        LifeEventKind::EligibilityEnded,
                        "",
                        "PL-0001",
                        "2019-10-01",
                    ),
                    paid("ALW-201910-PL-0001", "PL-0001", 1, "2019-10-31"),
                ],
            ),
        ]
    }

    /// The Python verifier's exit code and output for each export in `dirs`, from one
    /// interpreter that runs the script's `main` once per export as its command line
    /// would: starting python3 with its cryptography module costs more than verifying
    /// one of these small exports. An exception in the script fails the whole run.
    pub(super) fn python_verify_each(dirs: &[std::path::PathBuf], key: &str) -> Vec<(i32, String)> {
        const DRIVER: &str = r#"
import contextlib, io, json, os, sys
script, key, dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.path.insert(0, os.path.dirname(script))
import verify_export
results = []
for directory in dirs:
    out = io.StringIO()
    sys.argv = [script, directory, key]
    with contextlib.redirect_stdout(out):
        code = verify_export.main()
    results.append([code, out.getvalue()])
print(json.dumps(results))
"#;
        // -B: no __pycache__ beside the script in the source tree.
        let output = Command::new("python3")
            .args(["-B", "-c", DRIVER, VERIFIER, key])
            .args(dirs)
            .output()
            .expect("run python3");
        assert!(output.status.success(), "{output:?}");
        serde_json::from_slice(&output.stdout).expect("the driver prints its results as JSON")
    }

    /// Both verifiers accept the opening and the logs that keep the rules at their edges,
    /// and refuse each forgery at its last event, naming the rule it breaks.
    #[test]
    fn both_verifiers_refuse_signed_logs_that_break_the_people_rules() {
        let t = TempLedger::uninitialized();
        let key = forge::verifier_key();
        let mut kept_dirs = Vec::new();
        for (name, extra) in [("opening", Vec::new())].into_iter().chain(kept()) {
            let dir = t.file(name);
            forge::write_export(&dir, &[opening(), extra].concat());
            let ours = audit_verify_export(&dir, &key);
            assert_eq!(ours.code, 0, "{name}: {ours:?}");
            kept_dirs.push(dir);
        }
        let forgeries = forgeries();
        let mut forged_dirs = Vec::new();
        for forgery in &forgeries {
            let dir = t.file(forgery.name);
            let seq = opening().len() + forgery.extra.len();
            forge::write_export(&dir, &[opening(), forgery.extra.clone()].concat());
            let ours = audit_verify_export_json(&dir, &key);
            assert_eq!(ours.code, 1, "{}: {ours:?}", forgery.name);
            let json = ours.json();
            assert_eq!(json["first_bad_seq"], seq, "{}: {json}", forgery.name);
            let reason = json["reason"].as_str().unwrap();
            let expected = format!("seq {seq} breaks a write rule: {}: ", forgery.field);
            assert!(reason.contains(&expected), "{}: {reason}", forgery.name);
            assert!(reason.contains(forgery.words), "{}: {reason}", forgery.name);
            forged_dirs.push(dir);
        }
        if !python_ready() {
            return;
        }
        for (dir, (code, stdout)) in kept_dirs.iter().zip(python_verify_each(&kept_dirs, &key)) {
            assert_eq!(code, 0, "{}: {stdout}", dir.display());
            assert!(stdout.starts_with("ok: "), "{}: {stdout}", dir.display());
        }
        let theirs = python_verify_each(&forged_dirs, &key);
        for (forgery, (code, stdout)) in forgeries.iter().zip(theirs) {
            let seq = opening().len() + forgery.extra.len();
            assert_eq!(code, 1, "{}: {stdout}", forgery.name);
            let expected = format!(
                "FAILED at seq {seq}: breaks a write rule: {}: ",
                forgery.py_field
            );
            assert!(stdout.starts_with(&expected), "{}: {stdout}", forgery.name);
            assert!(
                stdout.contains(forgery.py_words),
                "{}: {stdout}",
                forgery.name
            );
        }
    }
}

/// Recoveries (variant 18) and releases of held households (variant 19): both verifiers
/// read them, keep the receivables and the four eyes of a release, and agree on the
/// record that breaks a rule.
mod recoveries_and_releases {
    use super::*;

    use fundtrail::model::encoding::{
        encode, Body, FindingResolvedV1, HoldReleasedV1, RecordV1, RecoveryV1, ReversalV1,
    };
    use fundtrail_projections::findings::finding_id;
    use fundtrail_projections::Rule;

    const D2015_02_28: i32 = 16_494;
    const D2015_03_02: i32 = 16_496;
    const RUNNER: &str = "runner";
    const CASHIER: &str = "cashier";
    const SUPERVISOR: &str = "supervisor";

    /// The open duplicate_payment finding of `household`, raised by its second payment.
    fn duplicate(household: &str, seq: u64) -> String {
        finding_id(Rule::DuplicatePayment, household, seq)
    }

    fn decision(finding: &str, recover_fen: i64) -> forge::Event {
        (
            format!("resolve:{finding}:{recover_fen}"),
            Body::FindingResolved(FindingResolvedV1 {
                finding: finding.into(),
                decision: 1,
                reason: "case 4: paid twice".into(),
                household: "PL-0001".into(),
                program: "support_allowance".into(),
                recover_fen,
                value_date: forge::D2015_02_02,
            }),
        )
    }

    fn recovery(reference: &str, finding: &str, fen: i64) -> forge::Event {
        (
            reference.into(),
            Body::RecoveryReceived(RecoveryV1 {
                finding: finding.into(),
                household: "PL-0001".into(),
                program: "support_allowance".into(),
                amount_fen: fen,
                value_date: forge::D2015_02_02,
                memo: "退回".into(),
            }),
        )
    }

    /// A reversal of the recovery at `seq`: a bounced transfer, `persons` 0.
    fn bounced(reference: &str, seq: u64, fen: i64) -> forge::Event {
        (
            format!("reversal:{reference}"),
            Body::Reversal(ReversalV1 {
                target_seq: seq,
                target_reference: reference.into(),
                household: "PL-0001".into(),
                program: "support_allowance".into(),
                amount_fen: fen,
                persons: 0,
                value_date: forge::D2015_02_02,
                reason: "退票".into(),
            }),
        )
    }

    fn release(household: &str, findings: &[&str]) -> forge::Event {
        (
            format!("release:201502:{household}"),
            Body::HoldReleased(HoldReleasedV1 {
                household: household.into(),
                period: "2015-02".into(),
                reason: "bank confirmed the account".into(),
                findings: findings.iter().map(|f| f.to_string()).collect(),
                value_date: D2015_03_02,
            }),
        )
    }

    /// Seqs 1 to 8: PL-0001 and PL-0002 each paid 100.00 twice in January 2015
    /// (duplicate_payment findings raised at seqs 5 and 7), 1000.00 allocated.
    fn opening() -> Vec<forge::Event> {
        let mut events = forge::opening();
        events.push(forge::enroll("PL-0002", forge::D2014_03_01));
        events.push(forge::pay("BANK-2", "PL-0001", 10_000, forge::D2015_01_31));
        events.push(forge::pay("BANK-3", "PL-0002", 10_000, forge::D2015_01_31));
        events.push(forge::pay("BANK-4", "PL-0002", 10_000, forge::D2015_01_31));
        events.push(forge::pay("BANK-5", "PL-0001", 1, forge::D2015_01_31));
        events
    }

    /// After the opening: PL-0001's finding confirmed with 100.00 to recover (seq 9),
    /// 60.00 and 40.00 recovered (10, 11), the 40.00 bounced (12) and paid again (13);
    /// February run for PL-0001 only (14): PL-0002 is held by its open finding, released by
    /// another actor (15) and paid (16).
    fn honest() -> Vec<forge::Event> {
        let id = duplicate("PL-0001", 5);
        let held = duplicate("PL-0002", 7);
        let mut events = opening();
        events.push(decision(&id, 10_000));
        events.push(recovery("REC-1", &id, 6_000));
        events.push(recovery("REC-2", &id, 4_000));
        events.push(bounced("REC-2", 11, 4_000));
        events.push(recovery("REC-3", &id, 4_000));
        events.push(forge::pay(
            "ALW-201502-PL-0001",
            "PL-0001",
            10_000,
            D2015_02_28,
        ));
        events.push(release("PL-0002", &[&held]));
        events.push(forge::pay(
            "ALW-201502-PL-0002",
            "PL-0002",
            10_000,
            D2015_02_28,
        ));
        events
    }

    /// Who recorded each event: the decision a supervisor, recoveries the cashier, the run
    /// the runner, the release and the released payment a supervisor.
    fn actor(reference: &str, body: &Body) -> &'static str {
        match body {
            Body::FindingResolved(_) | Body::HoldReleased(_) => SUPERVISOR,
            Body::RecoveryReceived(_) | Body::Reversal(_) => CASHIER,
            _ if reference == "ALW-201502-PL-0001" => RUNNER,
            _ if reference == "ALW-201502-PL-0002" => SUPERVISOR,
            _ => "forger",
        }
    }

    /// Writes `events` into `dir`, each recorded by its [`actor`], or by `last_actor` for
    /// the last one when given.
    fn write(dir: &Path, events: &[forge::Event], last_actor: Option<&str>) {
        let mut records: Vec<RecordV1> = forge::records(events);
        for record in &mut records {
            record.actor = actor(&record.reference, &record.body).into();
        }
        if let Some(last) = last_actor {
            records.last_mut().expect("a log").actor = last.into();
        }
        let bytes: Vec<Vec<u8>> = records.iter().map(encode).collect();
        forge::write_export_of_records(dir, &bytes);
    }

    /// A doctored log: its name, events, who recorded the last, and what both verifiers
    /// say of its last event (the field, and words of the reason).
    struct Doctored {
        name: &'static str,
        events: Vec<forge::Event>,
        last_actor: Option<&'static str>,
        field: &'static str,
        words: &'static str,
        /// The Python verifier's field and words where they differ (which rule a message
        /// names first is not part of the format).
        python: Option<(&'static str, &'static str)>,
    }

    fn doctored() -> Vec<Doctored> {
        let id = duplicate("PL-0001", 5);
        let held = duplicate("PL-0002", 7);
        let confirmed = [opening(), vec![decision(&id, 10_000)]].concat();
        let recovered = [
            confirmed.clone(),
            vec![recovery("REC-1", &id, 6_000), recovery("REC-2", &id, 4_000)],
        ]
        .concat();
        let run = [
            opening(),
            vec![forge::pay(
                "ALW-201502-PL-0001",
                "PL-0001",
                10_000,
                D2015_02_28,
            )],
        ]
        .concat();
        vec![
            Doctored {
                name: "a recovery beyond the receivable",
                events: [
                    confirmed.clone(),
                    vec![recovery("REC-1", &id, 6_000), recovery("REC-2", &id, 4_001)],
                ]
                .concat(),
                last_actor: None,
                field: "amount",
                words: "below zero",
                python: None,
            },
            Doctored {
                name: "a recovery without a decision",
                events: [opening(), vec![recovery("REC-1", &id, 1)]].concat(),
                last_actor: None,
                field: "finding",
                words: "no receivable",
                python: None,
            },
            Doctored {
                name: "a recovery from another household",
                events: [confirmed.clone(), {
                    let (reference, mut body) = recovery("REC-1", &id, 1);
                    if let Body::RecoveryReceived(r) = &mut body {
                        r.household = "PL-0002".into();
                    }
                    vec![(reference, body)]
                }]
                .concat(),
                last_actor: None,
                field: "household_id",
                words: "is about household PL-0001",
                python: None,
            },
            Doctored {
                name: "a decision below what was recovered",
                events: [recovered.clone(), vec![decision(&id, 9_999)]].concat(),
                last_actor: Some("zhao"),
                field: "recover",
                words: "already had 100.00 yuan recovered",
                python: None,
            },
            Doctored {
                name: "a dismissal once money came back",
                events: [recovered.clone(), {
                    let (reference, mut body) = decision(&id, 0);
                    if let Body::FindingResolved(d) = &mut body {
                        d.decision = 2;
                        d.program = String::new();
                    }
                    vec![(reference, body)]
                }]
                .concat(),
                last_actor: Some("zhao"),
                field: "program",
                words: "receivable is in program support_allowance, not ",
                python: None,
            },
            Doctored {
                name: "a reversal of a recovery twice",
                events: [
                    recovered.clone(),
                    vec![bounced("REC-2", 11, 4_000), bounced("REC-2", 11, 4_000)],
                ]
                .concat(),
                last_actor: None,
                field: "reference",
                words: "already reversed",
                python: Some(("reference", "already recorded")),
            },
            Doctored {
                name: "a recovery's reversal counting persons",
                events: [recovered.clone(), {
                    let (reference, mut body) = bounced("REC-2", 11, 4_000);
                    if let Body::Reversal(r) = &mut body {
                        r.persons = 2;
                    }
                    vec![(reference, body)]
                }]
                .concat(),
                last_actor: None,
                field: "record",
                words: "persons: 0",
                python: Some(("reference", "persons (0 for a recovery)")),
            },
            Doctored {
                name: "a release by the month's runner",
                events: [run.clone(), vec![release("PL-0002", &[&held])]].concat(),
                last_actor: Some(RUNNER),
                field: "actor",
                words: "four eyes",
                python: None,
            },
            Doctored {
                name: "a release of a month not run",
                events: [opening(), vec![release("PL-0002", &[&held])]].concat(),
                last_actor: None,
                field: "period",
                words: "has not been run",
                python: None,
            },
            Doctored {
                name: "a release of a month already paid",
                events: [run.clone(), vec![release("PL-0001", &[&id])]].concat(),
                last_actor: None,
                field: "household_id",
                words: "already paid",
                python: None,
            },
            Doctored {
                name: "a release naming findings out of order",
                events: [run, vec![release("PL-0002", &[&held, &id])]]
                    .concat()
                    .into_iter()
                    .map(|(reference, mut body)| {
                        if let Body::HoldReleased(r) = &mut body {
                            r.findings.sort_by(|a, b| b.cmp(a));
                            r.findings.push(r.findings[0].clone());
                        }
                        (reference, body)
                    })
                    .collect(),
                last_actor: None,
                field: "findings",
                words: "ascending",
                python: None,
            },
        ]
    }

    /// An export with a confirmed decision, recoveries, a bounced recovery and a release
    /// by another actor than the month's runner passes both verifiers; each doctored log
    /// is refused by both at its last event, naming the field and the rule's reason.
    #[test]
    fn both_verifiers_read_recoveries_and_releases_and_refuse_doctored_ones() {
        let t = TempLedger::uninitialized();
        let key = forge::verifier_key();
        let kept = t.file("kept");
        write(&kept, &honest(), None);
        audit_verify_export(&kept, &key).assert_ok();
        let cases = doctored();
        let mut dirs = vec![kept];
        for (i, case) in cases.iter().enumerate() {
            let dir = t.file(&format!("doctored-{i}"));
            write(&dir, &case.events, case.last_actor);
            let json = audit_verify_export_json(&dir, &key).assert_code(1).json();
            assert_eq!(
                json["first_bad_seq"],
                case.events.len(),
                "{}: {json}",
                case.name
            );
            let reason = json["reason"].as_str().unwrap();
            let expected = format!("breaks a write rule: {}: ", case.field);
            assert!(reason.contains(&expected), "{}: {reason}", case.name);
            assert!(reason.contains(case.words), "{}: {reason}", case.name);
            dirs.push(dir);
        }
        if !python_ready() {
            return;
        }
        let results = people::python_verify_each(&dirs, &key);
        let (code, stdout) = &results[0];
        assert_eq!(*code, 0, "the honest log: {stdout}");
        assert_eq!(stdout.trim(), "ok: 16 events match the signed checkpoint");
        for (case, (code, stdout)) in cases.iter().zip(&results[1..]) {
            assert_eq!(*code, 1, "{}: {stdout}", case.name);
            let (field, words) = case.python.unwrap_or((case.field, case.words));
            let expected = format!(
                "FAILED at seq {}: breaks a write rule: {field}: ",
                case.events.len(),
            );
            assert!(stdout.starts_with(&expected), "{}: {stdout}", case.name);
            assert!(stdout.contains(words), "{}: {stdout}", case.name);
        }
    }
}

/// A real ledger, not a forged log: the independent verifier reads what the ledger itself
/// records for a confirmed finding, recoveries, a bounced recovery and a release.
mod ledger_recoveries_and_releases {
    use super::*;

    use fundtrail::keys::identity::AccountHash;
    use fundtrail::ledger::{AppendContext, Ledger};
    use fundtrail::model::domain::{
        parse_date, Allocation, Category, Command as Cmd, Decision, Enrollment, FindingDecision,
        HouseholdId, Money, Month, PayeeAccount, Payment, PaymentKind, ProgramCode, Rate,
        Reference, ReversalRequest,
    };
    use fundtrail::model::recovery::{FindingId, Recovery};
    use fundtrail::runs::batch::{release_hold, run_allowance, RunMode};
    use fundtrail::runs::findings::findings;

    fn as_actor(actor: &str) -> AppendContext {
        AppendContext {
            actor: actor.into(),
            now_us: NOW_US,
        }
    }

    fn enroll(id: &str) -> Cmd {
        Cmd::Enroll(Enrollment {
            household: HouseholdId::parse(id).unwrap(),
            subdistrict: "拓东".into(),
            community: "金碧".into(),
            category: Category::Bereaved,
            members: 1,
            enrolled_on: parse_date("2015-03-01").unwrap(),
        })
    }

    fn allocate(program: &str, reference: &str) -> Cmd {
        Cmd::Allocate(Allocation {
            program: ProgramCode::parse(program).unwrap(),
            amount: Money::parse("100000.00").unwrap(),
            date: parse_date("2015-01-01").unwrap(),
            reference: Reference::parse(reference).unwrap(),
            source: "区财政".into(),
        })
    }

    fn payment(household: &str, program: &str, date: &str, reference: &str) -> Cmd {
        let account = (program == "holiday_condolence").then(|| PayeeAccount {
            hash: AccountHash::from_bytes([7; 32]),
            last4: "1234".into(),
        });
        Cmd::Pay(Payment {
            kind: PaymentKind::Disbursement,
            household: HouseholdId::parse(household).unwrap(),
            program: ProgramCode::parse(program).unwrap(),
            amount: Money::from_fen(34_000),
            persons: 1,
            date: parse_date(date).unwrap(),
            reference: Reference::parse(reference).unwrap(),
            memo: String::new(),
            account,
        })
    }

    fn recovery(finding: &str, yuan: &str, reference: &str) -> Cmd {
        Cmd::RecordRecovery(Recovery {
            finding: FindingId::parse(finding).unwrap(),
            household: HouseholdId::parse("PL-0001").unwrap(),
            program: ProgramCode::parse("support_allowance").unwrap(),
            amount: Money::parse(yuan).unwrap(),
            date: parse_date("2018-07-10").unwrap(),
            reference: Reference::parse(reference).unwrap(),
            memo: "退回".into(),
        })
    }

    /// PL-0001 paid June twice (a duplicate_payment, confirmed with 340.00 to recover,
    /// recovered as 200.00 and 140.00, the 140.00 bounced); PL-0002 to PL-0004 paid a
    /// condolence to one account (a shared_account, which holds them in July's run);
    /// PL-0002 released by a supervisor.
    fn build(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("ledger");
        let mut ledger = Ledger::init(&path).unwrap();
        let mut commands = vec![
            enroll("PL-0001"),
            enroll("PL-0002"),
            enroll("PL-0003"),
            enroll("PL-0004"),
            allocate("support_allowance", "ZJ-1"),
            allocate("holiday_condolence", "ZJ-2"),
            Cmd::SetRate(Rate {
                program: ProgramCode::parse("support_allowance").unwrap(),
                category: Category::Bereaved,
                per_member: Money::parse("340.00").unwrap(),
                valid_from: parse_date("2015-01-01").unwrap(),
                valid_to: None,
            }),
            payment("PL-0001", "support_allowance", "2018-06-30", "BANK-1"),
            payment("PL-0001", "support_allowance", "2018-06-30", "BANK-2"),
        ];
        for (i, household) in ["PL-0002", "PL-0003", "PL-0004"].iter().enumerate() {
            let reference = format!("CJ-{i}");
            commands.push(payment(
                household,
                "holiday_condolence",
                "2018-02-14",
                &reference,
            ));
        }
        ledger.append(commands, &ctx()).unwrap();
        let duplicate = findings(ledger.view())
            .unwrap()
            .into_iter()
            .find(|f| f.rule.as_str() == "duplicate_payment")
            .expect("the June payments raise a duplicate_payment")
            .id;
        let decision = Cmd::ResolveFinding(FindingDecision {
            finding: duplicate.clone(),
            decision: Decision::Confirmed,
            reason: "case 2018-6: paid twice".into(),
            household: HouseholdId::parse("PL-0001").unwrap(),
            program: Some(ProgramCode::parse("support_allowance").unwrap()),
            recover: Money::parse("340.00").unwrap(),
            date: parse_date("2018-07-01").unwrap(),
            actor: "supervisor-li".into(),
            at_us: NOW_US,
        });
        ledger
            .append(vec![decision], &as_actor("supervisor-li"))
            .unwrap();
        let cash = vec![
            recovery(&duplicate, "200.00", "HK-1"),
            recovery(&duplicate, "140.00", "HK-2"),
            Cmd::Reverse(ReversalRequest {
                target: Reference::parse("HK-2").unwrap(),
                household: HouseholdId::parse("PL-0001").unwrap(),
                program: None,
                amount: Money::parse("140.00").unwrap(),
                date: parse_date("2018-07-12").unwrap(),
                reason: "退票".into(),
            }),
        ];
        ledger.append(cash, &as_actor("cashier-zhao")).unwrap();
        let july = Month::parse("2018-07").unwrap();
        let pay = RunMode::Pay {
            payment_file: dir.join("july.csv"),
        };
        let run = run_allowance(&mut ledger, july, &pay, &ctx()).unwrap();
        assert_eq!(
            run.held.len(),
            3,
            "the shared account holds three households"
        );
        let file = dir.join("release.csv");
        release_hold(
            &mut ledger,
            july,
            "PL-0002",
            "bank confirmed",
            &file,
            &as_actor("supervisor-li"),
        )
        .unwrap();
        ledger.close().unwrap();
        path
    }

    #[test]
    fn the_independent_verifier_reads_a_ledgers_recoveries_and_release() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = build(dir.path());
        let export = dir.path().join("export");
        run_command(binary(&ledger).arg("checkpoint")).assert_ok();
        run_command(binary(&ledger).args(["export", "--to", export.to_str().unwrap()])).assert_ok();
        let key = std::fs::read_to_string(export.join("pubkey")).unwrap();
        let key = key.trim();
        audit_verify_export(&export, key).assert_ok();
        let events = std::fs::read_to_string(export.join("events.jsonl")).unwrap();
        for kind in ["recovery_received", "hold_released", "finding_resolved"] {
            assert!(
                events.contains(&format!("\"type\":\"{kind}\"")),
                "no {kind}"
            );
        }
        if !python_ready() {
            return;
        }
        let theirs = python_verify(&export, key);
        let stdout = String::from_utf8_lossy(&theirs.stdout);
        assert_eq!(theirs.status.code(), Some(0), "{stdout}{theirs:?}");
        assert!(stdout.starts_with("ok: "), "{stdout}");
    }
}
