//! Receipts (issue 15, item 4): `fundtrail receipt REFERENCE`, its QR code, `audit
//! verify-receipt`, and the allowance run's `--receipts DIR`, end to end through the binary.

use std::path::{Path, PathBuf};

use fundtrail::ledger::import::ImportKind;
use fundtrail::receipt::{compact, qr};

use crate::support::*;

/// A payee account planted in an account payment: its digits before the last four must
/// appear in no receipt.
const ACCOUNT: &str = "6222020200112233445";

/// The standard ledger with a signed checkpoint of its head.
fn signed_standard() -> TempLedger {
    let t = TempLedger::standard();
    t.run(&["checkpoint"]).assert_ok();
    t
}

fn key(t: &TempLedger) -> String {
    t.run(&["key", "show"])
        .assert_ok()
        .stdout
        .trim()
        .to_string()
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// `audit verify-receipt FILE --key KEY`, without a ledger.
fn verify_receipt(file: &Path, key: &str) -> Run {
    run_command(binary_without_ledger().args([
        "audit",
        "verify-receipt",
        path_arg(file),
        "--key",
        key,
    ]))
}

/// Writes the receipt of `reference` to a file and returns its path and text.
fn receipt_file(t: &TempLedger, reference: &str) -> (PathBuf, String) {
    let path = t.file(&format!("{reference}.receipt"));
    t.run(&["receipt", reference, "--out", path_arg(&path)])
        .assert_ok();
    let text = std::fs::read_to_string(&path).expect("the receipt file");
    (path, text)
}

#[test]
fn a_receipt_verifies_in_its_text_compact_and_qr_forms() {
    let t = signed_standard();
    let key = key(&t);
    let png = t.file("BANK-1.png");
    let printed = t.run(&["--json", "receipt", "BANK-1", "--qr", path_arg(&png)]);
    let json = printed.assert_ok().json();
    assert_eq!(json["seq"], 6);
    assert_eq!(json["fields"]["amount"], "100.00");
    assert_eq!(json["fields"]["household_id"], "PL-0001");
    let text = json["receipt"].as_str().expect("the receipt text");
    assert!(text.starts_with("fundtrail.receipt.v1\ntype: disbursement\n"));
    assert!(text.contains("\nreference: BANK-1\n"));
    assert!(text.contains("\n\nc2sp.org/tlog-proof@v1\nextra "));

    let (file, written) = receipt_file(&t, "BANK-1");
    assert_eq!(written, text, "--out writes what is printed");
    let ok = verify_receipt(&file, &key);
    assert!(
        ok.assert_ok()
            .stdout
            .starts_with("ok: payment BANK-1 (seq 6) is in the log "),
        "{ok:?}"
    );
    assert!(ok.stdout.contains("  amount: 100.00\n"));

    // The compact form and the QR code hold the same proof.
    let compact_text = json["compact"].as_str().expect("the compact form");
    assert!(compact_text.starts_with(compact::PREFIX));
    let from_png = qr::read_png(&std::fs::read(&png).expect("the PNG")).expect("a QR code");
    assert_eq!(from_png, compact_text);
    let compact_file = t.write_file("BANK-1.compact", compact_text);
    for path in [&compact_file, &png] {
        let run = verify_receipt(path, &key);
        assert!(
            run.assert_ok().stdout.contains("payment BANK-1 (seq 6)"),
            "{run:?}"
        );
        assert!(run.stdout.contains("  amount: 100.00\n"));
    }

    // The proof part alone is a tlog-proof that `audit verify-inclusion` accepts too.
    let tail = &text[text.find("c2sp.org/tlog-proof@v1").expect("the proof")..];
    let proof = t.write_file("BANK-1.proof", tail);
    run_command(binary_without_ledger().args([
        "audit",
        "verify-inclusion",
        path_arg(&proof),
        "--key",
        &key,
    ]))
    .assert_ok();
}

/// The receipt with line `i` replaced by `line`.
fn with_line(text: &str, i: usize, line: &str) -> String {
    let mut lines: Vec<&str> = text.split('\n').collect();
    lines[i] = line;
    lines.join("\n")
}

/// One character of base64 changed to another that keeps it valid base64.
fn flip_base64(line: &str, at: usize) -> String {
    let mut chars: Vec<char> = line.chars().collect();
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[track_caller]
fn assert_fails(t: &TempLedger, key: &str, text: &str, expected: &str) {
    let file = t.write_file("edited.receipt", text);
    let run = verify_receipt(&file, key);
    run.assert_code(1);
    assert!(
        run.stdout.contains(expected),
        "expected {expected:?} in {run:#?}"
    );
}

#[test]
fn every_edit_of_a_receipt_makes_it_fail_naming_what() {
    let t = signed_standard();
    let key = key(&t);
    let (_, text) = receipt_file(&t, "BANK-1");
    let lines: Vec<&str> = text.split('\n').collect();
    let blank = lines
        .iter()
        .position(|l| l.is_empty())
        .expect("a blank line");

    // Each field shown, changed, is named.
    for (i, line) in lines.iter().enumerate().take(blank).skip(1) {
        let (name, value) = line.split_once(": ").expect("a field line");
        let edited = with_line(&text, i, &format!("{name}: {value}X"));
        assert_fails(
            &t,
            &key,
            &edited,
            &format!("field {name}: the receipt shows"),
        );
    }
    // A field left out, or one added.
    assert!(lines[2].starts_with("recorded_at: "));
    let without = text.replacen(&format!("{}\n", lines[2]), "", 1);
    assert_fails(
        &t,
        &key,
        &without,
        "field recorded_at: the receipt shows nothing",
    );
    let added = text.replacen("\n\n", "\nbonus: 500.00\n\n", 1);
    assert_fails(&t, &key, &added, "field bonus: the receipt shows");

    // The record bytes (the extra line), a proof hash, the index.
    let extra = blank + 2;
    assert!(lines[extra].starts_with("extra "));
    let record_edit = with_line(
        &text,
        extra,
        &flip_base64(lines[extra], lines[extra].len() - 12),
    );
    assert_fails(&t, &key, &record_edit, "FAILED at seq 6");
    let hash_line = blank + 4;
    let hash_edit = with_line(&text, hash_line, &flip_base64(lines[hash_line], 3));
    assert_fails(
        &t,
        &key,
        &hash_edit,
        "the inclusion proof do not lead to the checkpoint's root",
    );
    let moved = with_line(&text, blank + 3, "index 4");
    assert_fails(&t, &key, &moved, "FAILED at seq 5");

    // The checkpoint: its signature, its root, and another log's key.
    let signature = lines.len() - 2;
    assert!(lines[signature].starts_with('\u{2014}'));
    let sig_edit = with_line(
        &text,
        signature,
        &flip_base64(lines[signature], lines[signature].len() - 6),
    );
    assert_fails(&t, &key, &sig_edit, "the checkpoint: ");
    let root = signature - 2;
    let root_edit = with_line(&text, root, &flip_base64(lines[root], 0));
    assert_fails(&t, &key, &root_edit, "the checkpoint: ");
    let other = TempLedger::new();
    assert_fails(&t, &self::key(&other), &text, "the checkpoint: ");

    // Not a receipt at all.
    assert_fails(&t, &key, "hello\n", "not a receipt");
    let cut = &text[..text.len() / 2];
    assert_fails(&t, &key, cut, "not a receipt");
}

#[test]
fn a_reference_without_a_receipt_is_refused_with_exit_2() {
    let t = signed_standard();
    let cases = [
        ("NO-SUCH-REF", "no event has reference NO-SUCH-REF"),
        (
            "ALLOC-SA",
            "ALLOC-SA (seq 4) is a fund_allocation, not a payment",
        ),
        ("enroll:PL-0001", "is a household_enrolled, not a payment"),
        ("BANK-2", "payment BANK-2 (seq 7) was reversed by seq 8"),
        ("reversal:BANK-2", "is a reversal, not a payment"),
    ];
    for (reference, message) in cases {
        let run = t.run(&["receipt", reference]);
        run.assert_code(2);
        assert!(run.stderr.contains(message), "{reference}: {run:#?}");
        assert!(run.stdout.is_empty(), "{reference}: {run:#?}");
    }
    // A payment beyond the latest checkpoint: the message names `fundtrail checkpoint`.
    t.append_csv(ImportKind::Events, &payment_rows("LATE", 1));
    let late = t.run(&["receipt", "LATE-0"]);
    late.assert_code(2);
    assert!(
        late.stderr
            .contains("payment LATE-0 (seq 9) is beyond the latest signed checkpoint (size 8); run `fundtrail checkpoint` first"),
        "{late:#?}"
    );
    t.run(&["checkpoint"]).assert_ok();
    t.run(&["receipt", "LATE-0"]).assert_ok();
}

#[test]
fn verify_receipt_bad_input_is_exit_2() {
    let t = signed_standard();
    let key = key(&t);
    let missing = verify_receipt(&t.file("missing.receipt"), &key);
    missing.assert_code(2);
    assert!(missing.stderr.contains("missing.receipt"), "{missing:#?}");
    let (file, _) = receipt_file(&t, "BANK-1");
    let bad_key = verify_receipt(&file, "not-a-key");
    bad_key.assert_code(2);
    assert!(bad_key.stderr.contains("--key"), "{bad_key:#?}");
    // A PNG holding no QR code at all: 8 by 8 white pixels.
    let blank = t.file("blank.png");
    std::fs::write(&blank, white_png()).expect("write");
    let run = verify_receipt(&blank, &key);
    run.assert_code(2);
    assert!(run.stderr.contains("no readable QR code"), "{run:#?}");
    // A QR code that holds something else than a receipt fails verification.
    let other = t.file("other.png");
    std::fs::write(&other, qr::png("FTR1:BB8").expect("a small code")).expect("write");
    verify_receipt(&other, &key).assert_code(1);
}

fn white_png() -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, 8, 8);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("a PNG header");
    writer.write_image_data(&[u8::MAX; 64]).expect("the pixels");
    writer.finish().expect("the PNG's end");
    out
}

#[test]
fn an_account_payment_receipt_shows_only_the_masked_account() {
    let t = signed_standard();
    let events = t.write_file(
        "account.csv",
        &format!(
            "date,type,household_id,program,amount,persons,reference,memo,account\n\
             2015-03-01,disbursement,PL-0001,support_allowance,10.00,2,ACC-1,扶助金,{ACCOUNT}\n"
        ),
    );
    t.import("events", &events).assert_ok();
    let png = t.file("ACC-1.png");
    let run = t.run(&["--json", "receipt", "ACC-1", "--qr", path_arg(&png)]);
    let json = run.assert_ok().json();
    assert_eq!(json["fields"]["account"], "************3445");
    let clear = &ACCOUNT[..ACCOUNT.len() - 4];
    let compact_text = json["compact"].as_str().expect("compact");
    let decoded = qr::read_png(&std::fs::read(&png).expect("png")).expect("a code");
    for shown in [&run.stdout, &decoded] {
        assert!(!shown.contains(ACCOUNT));
        for window in 0..=clear.len() - 7 {
            assert!(
                !shown.contains(&clear[window..window + 7]),
                "digits of the account in {shown}"
            );
        }
    }
    assert_eq!(decoded, compact_text);
    let file = t.write_file("ACC-1.receipt", json["receipt"].as_str().expect("text"));
    let ok = verify_receipt(&file, &key(&t));
    assert!(ok
        .assert_ok()
        .stdout
        .contains("  account: ************3445\n"));
    assert!(!ok.stdout.contains(clear));
}

#[test]
fn run_allowance_writes_a_verifying_receipt_per_payment_of_the_month() {
    let t = signed_standard();
    t.append_csv(
        ImportKind::Rates,
        &[
            "support_allowance,bereaved,340.00,2015-01-01,",
            "support_allowance,disabled,300.00,2015-01-01,",
        ],
    );
    t.append_csv(
        ImportKind::Events,
        &["2019-01-05,fund_allocation,,support_allowance,100000.00,,ALLOC-2019,区财政"],
    );
    let dir = t.file("receipts");
    let pay = t.file("allowance-2019-04.csv");
    let run = t.run(&[
        "--json",
        "run",
        "allowance",
        "--month",
        "2019-04",
        "--out",
        path_arg(&pay),
        "--receipts",
        path_arg(&dir),
    ]);
    let json = run.assert_ok().json();
    let paid: Vec<String> = json["to_pay"]
        .as_array()
        .expect("to_pay")
        .iter()
        .map(|d| d["reference"].as_str().expect("a reference").to_string())
        .collect();
    assert_eq!(paid.len(), 3, "{json}");
    assert_eq!(json["receipts"]["written"], 3);
    assert_eq!(json["receipts"]["checkpoint_size"], json["head"]["seq"]);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("the receipts directory")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .into_string()
                .expect("UTF-8")
        })
        .collect();
    names.sort();
    let mut expected: Vec<String> = paid.iter().map(|r| format!("{r}.receipt")).collect();
    expected.sort();
    assert_eq!(names, expected);
    let key = key(&t);
    for reference in &paid {
        let ok = verify_receipt(&dir.join(format!("{reference}.receipt")), &key);
        assert!(
            ok.assert_ok()
                .stdout
                .contains(&format!("payment {reference} ")),
            "{ok:?}"
        );
        assert!(ok.stdout.contains("  program: support_allowance\n"));
    }

    // Re-running the month pays nothing and writes the month's receipts again.
    std::fs::remove_dir_all(&dir).expect("remove the receipts");
    let again = t.run(&[
        "run",
        "allowance",
        "--month",
        "2019-04",
        "--out",
        path_arg(&t.file("again.csv")),
        "--receipts",
        path_arg(&dir),
    ]);
    assert!(
        again.assert_ok().stdout.contains("receipts: 3 written to "),
        "{again:?}"
    );
    // --receipts with --dry-run is a usage error.
    t.run(&[
        "run",
        "allowance",
        "--month",
        "2019-04",
        "--dry-run",
        "--receipts",
        path_arg(&dir),
    ])
    .assert_code(2);
}

#[test]
fn a_reference_naming_a_path_stays_one_file_in_the_directory() {
    use fundtrail::receipt::issue::file_name;
    assert_eq!(
        file_name("ALW-201904-PL-0001"),
        "ALW-201904-PL-0001.receipt"
    );
    assert_eq!(file_name("a/../b"), "a%2F%2E%2E%2Fb.receipt");
    assert_eq!(file_name("税.1"), "%E7%A8%8E%2E1.receipt");
}

/// The receipt verifier of examples/independent-verifier, written from FORMAT.md §14.
const PYTHON_VERIFIER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/independent-verifier/verify_receipt.py"
);

fn python_verify_receipt(file: &Path, key: &str) -> Run {
    run_command(
        std::process::Command::new("python3")
            .arg(PYTHON_VERIFIER)
            .arg(file)
            .arg(key),
    )
}

#[test]
fn the_independent_python_verifier_agrees_on_receipts() {
    if !crate::independent_verifier::python_ready() {
        return;
    }
    let t = signed_standard();
    let key = key(&t);
    let events = t.write_file(
        "account.csv",
        &format!(
            "date,type,household_id,program,amount,persons,reference,memo,account\n\
             2015-03-01,disbursement,PL-0001,support_allowance,10.00,2,ACC-1,\"扶助金 \"\"三月\"\"\",{ACCOUNT}\n"
        ),
    );
    t.import("events", &events).assert_ok();
    for reference in ["BANK-1", "ACC-1"] {
        let (file, text) = receipt_file(&t, reference);
        let ours = verify_receipt(&file, &key);
        let theirs = python_verify_receipt(&file, &key);
        assert_eq!(theirs.code, 0, "{reference}: {theirs:#?}");
        // Both print the same field lines (the order is not part of the format).
        let fields = |out: &str| -> Vec<String> {
            let mut lines: Vec<String> = out
                .lines()
                .filter(|l| l.starts_with("  "))
                .map(str::to_string)
                .collect();
            lines.sort();
            lines
        };
        assert_eq!(fields(&theirs.stdout), fields(&ours.assert_ok().stdout));
        let json = t.run(&["--json", "receipt", reference]).json();
        let compact_file = t.write_file("r.compact", json["compact"].as_str().expect("compact"));
        python_verify_receipt(&compact_file, &key).assert_ok();

        let edited = t.write_file("edited.receipt", &text.replacen("amount: ", "amount: 1", 1));
        let refused = python_verify_receipt(&edited, &key);
        refused.assert_code(1);
        assert!(refused.stdout.contains("field amount"), "{refused:#?}");
        verify_receipt(&edited, &key).assert_code(1);
    }
    let other = TempLedger::new();
    let (file, _) = receipt_file(&t, "BANK-1");
    python_verify_receipt(&file, &self::key(&other)).assert_code(1);
}
