//! Every command that appends and signs asks the ledger's witnesses, as `fundtrail
//! checkpoint` does (`fundtrail witness serve` processes on loopback): an import leaves a
//! quorum note for its new head, kept per size, that an auditor's `--witness` accepts; a
//! witness down costs a warning, not the import; a forked ledger's import commits and
//! then exits 1 with the alarm; evidence for an older size carries that size's note; a
//! ledger without witnesses writes no witness file.

use std::path::Path;

use fundtrail::ledger::import::ImportKind;

use crate::support::*;
use crate::witness::{fork, log_key, serving_witnesses, Witness};

fn p(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

/// `fundtrail import events` of `n` payments tagged `tag`, through the CLI.
fn import(t: &TempLedger, tag: &str, n: usize) -> Run {
    let file = t.write_csv(
        &format!("{tag}.csv"),
        ImportKind::Events,
        &payment_rows(tag, n),
    );
    t.run(&["import", "events", p(&file)])
}

/// The quorum note the ledger keeps for `size`, if any.
fn kept(t: &TempLedger, size: u64) -> Option<String> {
    std::fs::read_to_string(t.dir.join("cosigned").join(format!("{size}.txt"))).ok()
}

fn head(t: &TempLedger) -> u64 {
    t.open().view().head().size
}

/// Asserts that `audit <command> FILE` with both `witnesses` passes and says the checkpoint
/// of `size` is cosigned by both.
fn assert_cosigned_by_both(
    t: &TempLedger,
    command: &str,
    file: &Path,
    witnesses: &[Witness],
    size: u64,
) {
    let ok = audit(t, command, file, &[&witnesses[0], &witnesses[1]]);
    ok.assert_ok();
    assert!(
        ok.stdout.contains(&format!(
            "the checkpoint of size {size} is cosigned by 2 of the 2"
        )),
        "{ok:?}"
    );
}

/// `audit <command> FILE --key <log key> --witness ...` for each of `witnesses`.
fn audit(t: &TempLedger, command: &str, file: &Path, witnesses: &[&Witness]) -> Run {
    let key = log_key(t);
    let mut args = vec!["audit", command, p(file), "--key", &key];
    for w in witnesses {
        args.extend(["--witness", &w.vkey]);
    }
    t.run(&args)
}

#[test]
fn an_import_leaves_a_quorum_note_for_its_head_that_auditors_accept() {
    let t = TempLedger::standard();
    let witnesses = serving_witnesses(&t, 2);
    let run = import(&t, "A", 5);
    run.assert_ok();
    let size = head(&t);
    assert_eq!(size, STANDARD_SIZE + 5);
    let note = kept(&t, size).expect("a quorum note for the new head");
    for w in &witnesses {
        w.key.verify_note(&note).expect("each witness cosigned");
        assert!(
            run.stderr
                .contains(&format!("witness {}: cosigned", w.key.name())),
            "{run:?}"
        );
    }
    let export = t.file("export");
    t.run(&["export", "--to", p(&export)]).assert_ok();
    assert_cosigned_by_both(&t, "verify-export", &export, &witnesses, size);
    // The JSON output says what the witnesses did.
    let json = t
        .run(&[
            "--json",
            "import",
            "events",
            p(&t.write_csv("B.csv", ImportKind::Events, &payment_rows("B", 1))),
        ])
        .json();
    assert_eq!(json["witnesses"]["cosignatures"], 2);
    assert_eq!(json["witnesses"]["reached_quorum"], true);
    assert!(kept(&t, size + 1).is_some());
}

#[test]
fn an_import_with_a_witness_down_commits_and_warns() {
    let t = TempLedger::standard();
    let mut witnesses = serving_witnesses(&t, 2);
    witnesses[1].kill();
    let run = import(&t, "A", 3);
    run.assert_ok();
    assert!(
        run.stderr.contains("w2.example/witness: no cosignature"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains(&format!(
            "warning: the checkpoint of size {} is signed, but only 1 of the 2 cosignatures",
            STANDARD_SIZE + 3
        )),
        "{run:?}"
    );
    assert_eq!(head(&t), STANDARD_SIZE + 3, "the rows are committed");
    assert_eq!(kept(&t, STANDARD_SIZE + 3), None);
    // The witness back, the next signing command asks again and reaches the quorum.
    let addr = witnesses[1].start();
    t.run(&[
        "witness",
        "add",
        &format!("http://{addr}"),
        "--key",
        &witnesses[1].vkey,
    ])
    .assert_ok();
    import(&t, "B", 1).assert_ok();
    assert!(kept(&t, STANDARD_SIZE + 4).is_some());
}

#[test]
fn a_forked_ledgers_import_commits_then_exits_1_with_the_alarm() {
    let a = TempLedger::standard();
    let _witnesses = serving_witnesses(&a, 2);
    a.run(&["checkpoint"]).assert_ok();
    let b = fork(&a);
    import(&a, "A", 4).assert_ok();
    let forked = import(&b, "B", 6);
    forked.assert_code(1);
    assert!(
        forked
            .stderr
            .contains("ALARM: a witness was shown another history"),
        "{forked:?}"
    );
    assert!(
        forked.stdout.contains("appended 6 event(s)"),
        "the import's own report is printed: {forked:?}"
    );
    assert_eq!(head(&b), STANDARD_SIZE + 6, "the rows are committed");
    b.run(&["status"]).assert_code(1);
}

#[test]
fn a_proof_against_an_older_size_carries_that_sizes_cosigned_note() {
    let t = TempLedger::standard();
    let witnesses = serving_witnesses(&t, 2);
    import(&t, "A", 2).assert_ok();
    let old = head(&t);
    import(&t, "B", 2).assert_ok();
    assert!(head(&t) > old);
    let proof = t.run(&["prove", "--seq", "3", "--size", &old.to_string()]);
    let file = t.write_file("proof", &proof.assert_ok().stdout);
    assert_cosigned_by_both(&t, "verify-inclusion", &file, &witnesses, old);
}

#[test]
fn a_ledger_without_witnesses_writes_no_witness_file_and_prints_the_same() {
    let t = TempLedger::standard();
    let run = import(&t, "A", 2);
    run.assert_ok();
    assert_eq!(run.stderr, "", "{run:?}");
    assert!(!run.stdout.contains("witness"), "{run:?}");
    for name in ["witnesses.json", "cosigned", "cosigned-checkpoint.txt"] {
        assert!(!t.dir.join(name).exists(), "{name}");
    }
    let json = t
        .run(&[
            "--json",
            "import",
            "events",
            p(&t.write_csv("B.csv", ImportKind::Events, &payment_rows("B", 1))),
        ])
        .json();
    assert!(json.get("witnesses").is_none(), "{json}");
}

#[test]
fn audit_findings_requires_the_witnesses_quorum_when_asked() {
    let t = TempLedger::standard();
    let witnesses = serving_witnesses(&t, 2);
    import(&t, "A", 2).assert_ok();
    let export = t.file("export");
    t.run(&["export", "--to", p(&export)]).assert_ok();
    let plain = audit(&t, "findings", &export, &[]);
    plain.assert_ok();
    let ok = audit(&t, "findings", &export, &[&witnesses[0], &witnesses[1]]);
    ok.assert_ok();
    assert!(
        ok.stdout.starts_with(&plain.stdout),
        "the same list: {ok:?}"
    );
    assert!(
        ok.stdout.contains(&format!(
            "the checkpoint of size {} is cosigned by 2 of the 2",
            head(&t)
        )),
        "{ok:?}"
    );
    let stranger = Witness::new("w9.example/witness", &[&log_key(&t)]);
    let refused = audit(&t, "findings", &export, &[&stranger]);
    refused.assert_code(1);
    assert!(
        refused.stdout.contains("0 valid cosignature(s)"),
        "{refused:?}"
    );
}
