//! The ledger asks its witnesses (`fundtrail witness add`, `fundtrail checkpoint`), three
//! `fundtrail witness serve` processes on loopback: the quorum is met, one witness down
//! still meets 2 of 3, two down do not (exit 3, the last cosigned checkpoint kept), and a
//! forked ledger (the same key, another history) is refused by every witness and
//! reported as an alarm (exit 1).

use fundtrail::tlog::checkpoint::{open_note, Checkpoint};

use crate::support::*;
use crate::witness::{fork, grow, log_key, serving_witnesses, Witness};

/// Three serving witnesses that trust `t`, added to `t` with the default quorum (2 of 3).
fn three_witnesses(t: &TempLedger) -> Vec<Witness> {
    serving_witnesses(t, 3)
}

/// The size of the cosigned note the ledger keeps.
fn kept_size(t: &TempLedger) -> u64 {
    let note = std::fs::read_to_string(t.dir.join("cosigned-checkpoint.txt")).unwrap();
    Checkpoint::parse_body(&note[..=note.rfind("\n\n").unwrap()])
        .unwrap()
        .size
}

/// How many of `witnesses` cosigned the note `checkpoint` printed.
fn cosigned_by(note: &str, witnesses: &[Witness]) -> usize {
    witnesses
        .iter()
        .filter(|w| w.key.verify_note(note).is_ok())
        .count()
}

#[test]
fn the_quorum_is_met_with_one_witness_down_and_missed_with_two() {
    let t = TempLedger::standard();
    let mut witnesses = three_witnesses(&t);
    let listed = t.run(&["--json", "witness", "list"]);
    assert_eq!(listed.assert_ok().json()["quorum"], 2);

    let all = t.run(&["checkpoint"]);
    all.assert_ok();
    assert_eq!(cosigned_by(&all.stdout, &witnesses), 3, "{all:?}");
    open_note(&all.stdout, t.open().view().verifier_key()).expect("still the log's note");
    assert_eq!(kept_size(&t), STANDARD_SIZE);

    witnesses[2].kill();
    let size = grow(&t, "P", 5);
    let two = t.run(&["checkpoint"]);
    two.assert_ok();
    assert_eq!(cosigned_by(&two.stdout, &witnesses), 2, "{two:?}");
    assert!(
        two.stderr.contains("w3.example/witness: no cosignature"),
        "{two:?}"
    );
    assert_eq!(kept_size(&t), size);

    witnesses[1].kill();
    let later = grow(&t, "Q", 2);
    let one = t.run(&["checkpoint"]);
    one.assert_code(3);
    assert!(
        one.stderr.contains("only 1 of the 2 cosignatures"),
        "{one:?}"
    );
    assert_eq!(
        kept_size(&t),
        size,
        "the last checkpoint with its quorum is kept"
    );

    // A witness back at another address catches up from the size it cosigned last.
    let addr = witnesses[2].start();
    let url = format!("http://{addr}");
    t.run(&["witness", "add", &url, "--key", &witnesses[2].vkey])
        .assert_ok();
    let back = t.run(&["checkpoint"]);
    back.assert_ok();
    assert_eq!(cosigned_by(&back.stdout, &witnesses), 2, "{back:?}");
    assert_eq!(kept_size(&t), later);
    let list = t.run(&["--json", "witness", "list"]).json();
    let sizes: Vec<u64> = list["witnesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["cosigned_size"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [later, size, later]);
    assert_eq!(list["cosigned_size"], later);

    // `status` says how far the head is beyond the last checkpoint with its quorum.
    let beyond = grow(&t, "R", 3);
    let status = t.run(&["status"]);
    status.assert_ok();
    assert!(
        status.stdout.contains(&format!(
            "witnesses:  quorum 2 of 3; size {later} reached it, the head is {} beyond",
            beyond - later
        )),
        "{status:?}"
    );
    let json = t.run(&["--json", "status"]).json();
    assert_eq!(json["witnesses"]["cosigned_size"], later);
    assert_eq!(json["witnesses"]["beyond"], beyond - later);
}

#[test]
fn a_forked_ledger_is_refused_by_every_witness_and_raises_the_alarm() {
    let a = TempLedger::standard();
    let witnesses = three_witnesses(&a);
    a.run(&["checkpoint"]).assert_ok();
    // The copy knows the witnesses and what they cosigned: the same key, so far the same
    // history.
    let b = fork(&a);
    assert_eq!(grow(&a, "A", 4), grow(&b, "B", 4));
    a.run(&["checkpoint"]).assert_ok();

    let forked = b.run(&["checkpoint"]);
    forked.assert_code(1);
    assert!(forked.stderr.contains("ALARM"), "{forked:?}");
    for i in 1..=3 {
        assert!(
            forked
                .stderr
                .contains(&format!("witness w{i}.example/witness: ALARM")),
            "{forked:?}"
        );
    }
    assert!(forked.stderr.contains("answered 422"), "{forked:?}");
    let listed = b.run(&["witness", "list"]);
    listed.assert_code(1);
    assert!(listed.stdout.contains("ALARM"), "{listed:?}");
    let status = b.run(&["status"]);
    status.assert_code(1);
    assert!(
        status
            .stdout
            .contains("ALARM:      a witness holds another history"),
        "{status:?}"
    );
    // The honest ledger goes on.
    grow(&a, "A2", 1);
    let next = a.run(&["checkpoint"]);
    next.assert_ok();
    assert_eq!(cosigned_by(&next.stdout, &witnesses), 3);
}

#[test]
fn witness_add_refuses_bad_urls_keys_and_quorums() {
    let t = TempLedger::new();
    let w = Witness::new("w.example/witness", &[]);
    t.run(&["witness", "add", "https://w.example:443", "--key", &w.vkey])
        .assert_code(2);
    t.run(&[
        "witness",
        "add",
        "http://127.0.0.1:9",
        "--key",
        &log_key(&t),
    ])
    .assert_code(2);
    t.run(&[
        "witness",
        "add",
        "http://127.0.0.1:9",
        "--key",
        &w.vkey,
        "--quorum",
        "2",
    ])
    .assert_code(2);
    t.run(&["witness", "add", "http://127.0.0.1:9", "--key", &w.vkey])
        .assert_ok();
    // With no witness answering, the checkpoint is signed but misses its quorum.
    let missed = t.run(&["checkpoint"]);
    missed.assert_code(3);
    assert!(
        missed
            .stderr
            .contains("size 0 is signed, but only 0 of the 1 cosignatures"),
        "{missed:?}"
    );
    assert!(
        missed.stderr.contains("w.example/witness: no cosignature"),
        "{missed:?}"
    );
}
