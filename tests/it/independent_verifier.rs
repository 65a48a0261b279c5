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
fn python_ready() -> bool {
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
