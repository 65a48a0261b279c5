//! Auditors require the witnesses' quorum (`audit verify-* --witness VKEY --quorum K`):
//! two `fundtrail witness serve` processes cosign the ledger's checkpoint, and the proofs,
//! trail, receipt and export the ledger hands out carry the cosigned note. They pass with
//! the witnesses' keys, and fail (exit 1, naming the checkpoint's size) with a cosignature
//! missing, one edited, or only an unlisted witness's key.

use std::path::Path;

use base64::Engine as _;
use fundtrail::ledger::import::ImportKind;

use crate::support::*;
use crate::witness::{log_key, serving_witnesses, Witness};

/// `t` with two serving witnesses (quorum 2 of 2) and a cosigned checkpoint; a third
/// witness that never cosigned.
fn cosigned_ledger() -> (TempLedger, Vec<Witness>, Witness) {
    let t = TempLedger::standard();
    let witnesses = serving_witnesses(&t, 2);
    t.run(&["checkpoint"]).assert_ok();
    let stranger = Witness::new("w3.example/witness", &[&log_key(&t)]);
    (t, witnesses, stranger)
}

fn p(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

/// `audit <command> <file> --key <log key>` and `--witness` for each of `witnesses`.
fn audit(t: &TempLedger, command: &str, file: &Path, witnesses: &[&str]) -> Run {
    let key = log_key(t);
    let mut args = vec!["audit", command, p(file), "--key", &key];
    for w in witnesses {
        args.extend(["--witness", w]);
    }
    t.run(&args)
}

/// The text with one byte of `witness`'s cosignature signature changed.
fn edit_cosignature(text: &str, witness: &Witness) -> String {
    let prefix = format!("\u{2014} {} ", witness.key.name());
    let line = text
        .lines()
        .find(|l| l.starts_with(&prefix))
        .expect("the witness's cosignature line");
    let engine = base64::engine::general_purpose::STANDARD;
    let mut blob = engine.decode(&line[prefix.len()..]).unwrap();
    *blob.last_mut().unwrap() ^= 1;
    text.replace(line, &format!("{prefix}{}", engine.encode(blob)))
}

fn assert_quorum_failed(run: &Run, size: u64) {
    run.assert_code(1);
    assert!(
        run.stdout
            .contains(&format!("the checkpoint of size {size}")),
        "{run:?}"
    );
}

#[test]
fn every_audit_command_passes_with_the_quorum_of_the_carried_cosignatures() {
    let (t, w, _) = cosigned_ledger();
    let keys = [w[0].vkey.as_str(), w[1].vkey.as_str()];
    let files = [
        ("verify-inclusion", t.run(&["prove", "--seq", "3"])),
        ("verify-consistency", t.run(&["prove", "--from", "0"])),
        ("verify-trail", t.run(&["household", "PL-0001", "--proofs"])),
        ("verify-receipt", t.run(&["receipt", "BANK-1"])),
    ];
    for (command, made) in files {
        let file = t.write_file(command, &made.assert_ok().stdout);
        let ok = audit(&t, command, &file, &keys);
        ok.assert_ok();
        assert!(
            ok.stdout.contains(&format!(
                "the checkpoint of size {STANDARD_SIZE} is cosigned by 2 of the 2 witness(es) listed (quorum 2)"
            )),
            "{command}: {ok:?}"
        );
        // Without --witness, nothing changes.
        audit(&t, command, &file, &[]).assert_ok();
    }
    let export = t.file("export");
    t.run(&["export", "--to", p(&export)]).assert_ok();
    let ok = audit(&t, "verify-export", &export, &keys);
    ok.assert_ok();
    assert!(ok.stdout.contains("cosigned by 2 of the 2"), "{ok:?}");
    let json = t
        .run(&[
            "--json",
            "audit",
            "verify-export",
            p(&export),
            "--key",
            &log_key(&t),
            "--witness",
            keys[0],
            "--witness",
            keys[1],
        ])
        .json();
    assert_eq!(json["witnesses"]["quorum"], 2);
    assert_eq!(
        json["witnesses"]["cosigned_by"].as_array().unwrap().len(),
        2
    );
}

#[test]
fn a_missing_edited_or_unlisted_cosignature_fails_the_quorum() {
    let (t, w, stranger) = cosigned_ledger();
    let proof = t.run(&["prove", "--seq", "3"]).assert_ok().stdout.clone();
    let file = t.write_file("proof", &proof);
    let (a, b, c) = (
        w[0].vkey.as_str(),
        w[1].vkey.as_str(),
        stranger.vkey.as_str(),
    );

    // The stranger never cosigned: 1 valid of 2 listed, the default quorum (2) is not met.
    assert_quorum_failed(
        &audit(&t, "verify-inclusion", &file, &[a, c]),
        STANDARD_SIZE,
    );
    // Only an unlisted witness's key: nothing counts.
    let none = audit(&t, "verify-inclusion", &file, &[c]);
    assert_quorum_failed(&none, STANDARD_SIZE);
    assert!(none.stdout.contains("0 valid cosignature(s)"), "{none:?}");
    // A quorum of 1 of those two is met by the one that cosigned.
    let key = log_key(&t);
    t.run(&[
        "audit",
        "verify-inclusion",
        p(&file),
        "--key",
        &key,
        "--witness",
        a,
        "--witness",
        c,
        "--quorum",
        "1",
    ])
    .assert_ok();
    // A quorum above the keys listed is a usage error, not a verdict.
    t.run(&[
        "audit",
        "verify-inclusion",
        p(&file),
        "--key",
        &key,
        "--witness",
        a,
        "--quorum",
        "2",
    ])
    .assert_code(2);

    // One byte of one cosignature changed: refused, even though the other one is valid.
    let edited = t.write_file("edited", &edit_cosignature(&proof, &w[1]));
    let run = t.run(&[
        "audit",
        "verify-inclusion",
        p(&edited),
        "--key",
        &key,
        "--witness",
        a,
        "--witness",
        b,
        "--quorum",
        "1",
    ]);
    assert_quorum_failed(&run, STANDARD_SIZE);
    assert!(run.stdout.contains("does not verify"), "{run:?}");
    // The same edit is not seen without --witness: the log's own signature still holds.
    audit(&t, "verify-inclusion", &edited, &[]).assert_ok();
}

#[test]
fn a_receipt_and_an_export_with_a_cosignature_missing_fail() {
    let (t, w, _) = cosigned_ledger();
    let keys = [w[0].vkey.as_str(), w[1].vkey.as_str()];
    let receipt = t.run(&["receipt", "BANK-1"]).assert_ok().stdout.clone();
    let prefix = format!("\u{2014} {} ", w[1].key.name());
    let dropped: String = receipt
        .split_inclusive('\n')
        .filter(|l| !l.starts_with(&prefix))
        .collect();
    assert_ne!(dropped, receipt);
    let file = t.write_file("receipt", &dropped);
    assert_quorum_failed(&audit(&t, "verify-receipt", &file, &keys), STANDARD_SIZE);

    let export = t.file("export");
    t.run(&["export", "--to", p(&export)]).assert_ok();
    let note_path = export.join("checkpoint.txt");
    let note = std::fs::read_to_string(&note_path).unwrap();
    std::fs::write(&note_path, edit_cosignature(&note, &w[0])).unwrap();
    assert_quorum_failed(&audit(&t, "verify-export", &export, &keys), STANDARD_SIZE);
}

#[test]
fn the_cosigned_note_is_carried_for_its_own_size_only() {
    let (t, w, _) = cosigned_ledger();
    let key = log_key(&t);
    // A newer checkpoint no witness cosigned: proofs at the cosigned size still carry them.
    grow_and_checkpoint_without_witnesses(&t);
    let proof = t.run(&["prove", "--seq", "3", "--size", &STANDARD_SIZE.to_string()]);
    let file = t.write_file("old-proof", &proof.assert_ok().stdout);
    audit(&t, "verify-inclusion", &file, &[&w[0].vkey]).assert_ok();
    let newer = t.run(&["prove", "--seq", "3"]).assert_ok().stdout.clone();
    let newer = t.write_file("newer-proof", &newer);
    let run = t.run(&[
        "audit",
        "verify-inclusion",
        p(&newer),
        "--key",
        &key,
        "--witness",
        &w[0].vkey,
    ]);
    assert_quorum_failed(&run, STANDARD_SIZE + 1);
}

/// One more event and a checkpoint that no witness cosigned (both are stopped).
fn grow_and_checkpoint_without_witnesses(t: &TempLedger) {
    t.append_csv(
        ImportKind::Events,
        &["2015-02-28,disbursement,PL-0001,support_allowance,100.00,2,BANK-3,2015年2月扶助金"],
    );
    // The witnesses are asked but refuse nothing here: stop asking by removing them.
    std::fs::remove_file(t.dir.join("witnesses.json")).unwrap();
    t.run(&["checkpoint"]).assert_ok();
}
