//! The auditor's commands end to end through the binary: init and key show, checkpoint,
//! verify, prove, export, household --proofs, and the offline `audit verify-*` against
//! good and tampered inputs. Exit codes: 0 ok, 1 not valid, 2 bad input, 3 unavailable.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use fundtrail::export::{verify_export, ExportCheck, EVENTS_FILE};
use fundtrail::model::encoding::encode;
use fundtrail::tlog::checkpoint::open_note;
use fundtrail::tlog::note::VerifierKey;

use crate::support::forge;
use crate::support::{
    audit_verify_export, audit_verify_export_json, binary_without_ledger, run_command, Run,
};

const ORIGIN: &str = "panlong.example/fundtrail";
const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sample");

/// The binary on no ledger but the ones `args` name.
fn fundtrail(args: &[&str]) -> Run {
    run_command(
        binary_without_ledger()
            .args(args)
            .env("FUNDTRAIL_ACTOR", "tester"),
    )
}

fn ok(args: &[&str]) -> Run {
    let run = fundtrail(args);
    assert_eq!(run.code, 0, "{args:?}: {}{}", run.stdout, run.stderr);
    run
}

fn expect(code: i32, args: &[&str]) -> Run {
    let run = fundtrail(args);
    assert_eq!(run.code, code, "{args:?}: {}{}", run.stdout, run.stderr);
    run
}

/// A new ledger in `l` under [`ORIGIN`], holding the sample households.
fn init_with_sample_households(l: &str) {
    ok(&["--ledger", l, "init", "--origin", ORIGIN]);
    ok(&[
        "--ledger",
        l,
        "import",
        "households",
        &format!("{SAMPLE}/households.csv"),
    ]);
}

/// A ledger made through the CLI, once for the whole test binary: the sample households
/// (3) and events (10), then 50 generated payments: 63 events, checkpoints at 3, 13 and
/// 63. Tests share it (each CLI start costs about 0.15 s), take `LEDGER` around commands
/// that open it (one process at a time may), and write their files into a scratch
/// directory of their own.
struct Fixture {
    ledger: PathBuf,
    key: String,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();
static LEDGER: Mutex<()> = Mutex::new(());

fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("audit-fixture");
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        let ledger = root.join("L");
        let l = ledger.to_str().unwrap();
        init_with_sample_households(l);
        ok(&[
            "--ledger",
            l,
            "import",
            "events",
            &format!("{SAMPLE}/events.csv"),
        ]);
        let mut csv =
            String::from("date,type,household_id,program,amount,persons,reference,memo\n");
        for i in 0..50 {
            csv.push_str(&format!(
                "2015-07-31,disbursement,PL-000{},support_allowance,{}.{:02},1,GEN-{i:03},gen\n",
                1 + i % 3,
                100 + i,
                i
            ));
        }
        let generated = root.join("generated.csv");
        fs::write(&generated, csv).unwrap();
        ok(&[
            "--ledger",
            l,
            "import",
            "events",
            generated.to_str().unwrap(),
        ]);
        let key = ok(&["--ledger", l, "key", "show"])
            .stdout
            .trim()
            .to_string();
        Fixture { ledger, key }
    })
}

impl Fixture {
    fn ledger(&self) -> &str {
        self.ledger.to_str().unwrap()
    }

    fn run(&self, args: &[&str]) -> Run {
        let _one_at_a_time = LEDGER.lock().unwrap_or_else(|e| e.into_inner());
        let mut all = vec!["--ledger", self.ledger()];
        all.extend_from_slice(args);
        fundtrail(&all)
    }

    fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(run.code, 0, "{args:?}: {}{}", run.stdout, run.stderr);
        run
    }
}

/// A test's own directory for the files it writes.
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new() -> Scratch {
        Scratch(tempfile::tempdir().unwrap())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.path(name);
        fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

/// A second, unrelated ledger under the same origin: its key and a checkpoint.
struct Other {
    key: String,
    note: String,
}

static OTHER: OnceLock<Other> = OnceLock::new();

fn other_ledger() -> &'static Other {
    OTHER.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("audit-other");
        let _ = fs::remove_dir_all(&root);
        let l = root.join("L");
        let l = l.to_str().unwrap();
        init_with_sample_households(l);
        let key = ok(&["--ledger", l, "key", "show"])
            .stdout
            .trim()
            .to_string();
        let note = ok(&["--ledger", l, "checkpoint"]).stdout;
        Other { key, note }
    })
}

// ---- init, key show, checkpoint, verify --------------------------------------------------

#[test]
fn init_makes_a_private_key_and_key_show_prints_its_public_half() {
    let (f, s) = (fixture(), Scratch::new());
    let mode = fs::metadata(f.ledger.join("signing.key")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(mode.permissions().mode() & 0o777, 0o600);
    let key = VerifierKey::parse(&f.key).unwrap();
    assert_eq!(key.name(), ORIGIN);
    let json = f.ok(&["--json", "key", "show"]).json();
    assert_eq!(json["verifier_key"], f.key.as_str());
    assert_eq!(json["origin"], ORIGIN);

    assert_eq!(f.run(&["init"]).code, 2);
    let bad = s.path("bad");
    let run = expect(
        2,
        &["--ledger", bad.to_str().unwrap(), "init", "--origin", "a b"],
    );
    assert!(run.stderr.contains("origin"), "{}", run.stderr);
    assert!(!bad.exists());
    let missing = s.path("missing");
    expect(3, &["--ledger", missing.to_str().unwrap(), "key", "show"]);
}

#[test]
fn imports_end_with_a_checkpoint_and_checkpoint_is_idempotent() {
    let f = fixture();
    let note = f.ok(&["checkpoint"]).stdout;
    assert!(note.starts_with(&format!("{ORIGIN}\n63\n")), "{note}");
    assert_eq!(f.ok(&["checkpoint"]).stdout, note);
    let json = f.ok(&["--json", "checkpoint"]).json();
    assert_eq!(json["size"], 63);
    assert_eq!(json["note"], note.as_str());
    let import = f.ok(&[
        "--json",
        "import",
        "households",
        &format!("{SAMPLE}/households.csv"),
    ]);
    assert_eq!(import.json()["checkpoint"]["size"], 63);
}

#[test]
fn checkpoint_fails_cleanly_without_the_key() {
    let s = Scratch::new();
    let l = s.path("L");
    let l = l.to_str().unwrap();
    ok(&["--ledger", l, "init"]);
    fs::remove_file(s.path("L/signing.key")).unwrap();
    let run = fundtrail(&[
        "--ledger",
        l,
        "import",
        "households",
        &format!("{SAMPLE}/households.csv"),
    ]);
    // The state is sealed with a key derived from the signing key: without it nothing is
    // appended at all, rather than appended and left unsigned.
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("could not be read"), "{}", run.stderr);
    assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);
    let status = ok(&["--ledger", l, "--json", "status"]);
    assert_eq!(status.json()["events"], 0, "{}", status.stdout);
    assert_eq!(status.json()["writable"], false, "{}", status.stdout);
    let status = ok(&["--ledger", l, "status"]);
    assert!(
        status.stdout.contains("writes:     refused"),
        "{}",
        status.stdout
    );
    let run = fundtrail(&["--ledger", l, "checkpoint"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("signing key"), "{}", run.stderr);
}

#[test]
fn verify_checks_the_tree_and_checkpoints_and_kept_ones() {
    let (f, s) = (fixture(), Scratch::new());
    let run = f.ok(&["verify"]);
    assert!(
        run.stdout.contains("3 signed checkpoint(s) match"),
        "{}",
        run.stdout
    );
    let json = f.ok(&["--json", "verify"]).json();
    assert_eq!(json["checkpoints"], 3);
    // 63 events: no complete subtree of 64 leaves yet, so no stored node or leaf tile
    // (tamper.rs compares them on a larger ledger).
    assert_eq!(json["nodes"], 0);

    let kept = s.file("kept.txt", &f.ok(&["checkpoint"]).stdout);
    f.ok(&["verify", "--checkpoint", &kept]);
    let foreign = s.file("foreign.txt", &other_ledger().note);
    let run = f.run(&["verify", "--checkpoint", &foreign]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let missing = s.path("nope.txt");
    assert_eq!(
        f.run(&["verify", "--checkpoint", missing.to_str().unwrap()])
            .code,
        2
    );
}

// ---- prove and verify-inclusion ----------------------------------------------------------

#[test]
fn inclusion_proofs_verify_offline_in_both_forms() {
    let (f, s) = (fixture(), Scratch::new());
    for seq in ["1", "13", "40", "63"] {
        let text = f.ok(&["prove", "--seq", seq]).stdout;
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra "), "{text}");
        let file = s.file("p.tlog-proof", &text);
        let run = ok(&["audit", "verify-inclusion", &file, "--key", &f.key]);
        assert!(
            run.stdout.contains(&format!("seq {seq} ")),
            "{}",
            run.stdout
        );
        let json = f.ok(&["--json", "prove", "--seq", seq]).stdout;
        let file = s.file("p.json", &json);
        ok(&["audit", "verify-inclusion", &file, "--key", &f.key]);
    }
    // Against an earlier checkpoint, and with the key given as a file.
    let text = f.ok(&["prove", "--seq", "2", "--size", "3"]).stdout;
    assert!(text.contains(&format!("\n\n{ORIGIN}\n3\n")));
    let key_file = s.file("pubkey", &format!("{}\n", f.key));
    let file = s.file("early.tlog-proof", &text);
    ok(&["audit", "verify-inclusion", &file, "--key", &key_file]);
}

#[test]
fn prove_refuses_what_the_ledger_does_not_have() {
    let f = fixture();
    for args in [
        &["prove", "--seq", "0"][..],
        &["prove", "--seq", "64"],
        &["prove", "--seq", "5", "--size", "4"],
        &["prove", "--seq", "5", "--size", "30"],
        &["prove", "--from", "64"],
        &["prove", "--from", "3", "--to", "30"],
        &["prove"],
        &["prove", "--seq", "1", "--from", "1"],
    ] {
        let run = f.run(args);
        assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
    }
    let run = f.run(&["prove", "--seq", "0"]);
    assert!(run.stderr.contains("seqs start at 1"), "{}", run.stderr);
}

#[test]
fn tampered_inclusion_proofs_fail_with_the_seq() {
    let (f, s) = (fixture(), Scratch::new());
    let text = f.ok(&["prove", "--seq", "40"]).stdout;
    let check = |name: &str, text: &str, key: &str| {
        let file = s.file(name, text);
        fundtrail(&["--json", "audit", "verify-inclusion", &file, "--key", key])
    };
    // A proof hash changed.
    let lines: Vec<&str> = text.lines().collect();
    let hash_line = lines[3];
    let changed = hash_line.replacen(
        &hash_line[..2],
        if &hash_line[..2] == "AA" { "BB" } else { "AA" },
        1,
    );
    let run = check("hash", &text.replacen(hash_line, &changed, 1), &f.key);
    assert_eq!(run.code, 1);
    assert_eq!(run.json()["first_bad_seq"], 40);
    // The proof moved to another seq.
    let run = check(
        "moved",
        &text.replacen("index 39\n", "index 38\n", 1),
        &f.key,
    );
    assert_eq!(run.code, 1);
    assert_eq!(run.json()["first_bad_seq"], 39);
    // Another ledger's key, and another ledger's checkpoint under this proof.
    let (other_key, other_note) = (&other_ledger().key, &other_ledger().note);
    assert_eq!(check("key", &text, other_key).code, 1);
    let mine = &text[text.find(&format!("\n\n{ORIGIN}\n")).unwrap() + 2..];
    assert_eq!(
        check("foreign", &text.replacen(mine, other_note, 1), &f.key).code,
        1
    );
    // The JSON form with a changed amount in its fields.
    let json = f.ok(&["--json", "prove", "--seq", "40"]).stdout;
    let mut doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    doc["fields"]["amount"] = "999.00".into();
    let run = check("fields.json", &doc.to_string(), &f.key);
    assert_eq!(run.code, 1);
    assert!(run.json()["reason"].as_str().unwrap().contains("amount"));
    // Unreadable inputs are usage errors.
    assert_eq!(check("k", &text, "not-a-key").code, 2);
    let missing = s.path("missing");
    let run = fundtrail(&[
        "audit",
        "verify-inclusion",
        missing.to_str().unwrap(),
        "--key",
        &f.key,
    ]);
    assert_eq!(run.code, 2);
}

// ---- prove --from and verify-consistency --------------------------------------------------

#[test]
fn consistency_proofs_verify_against_a_kept_checkpoint() {
    let (f, s) = (fixture(), Scratch::new());
    let kept13 = {
        let json = f
            .ok(&["--json", "prove", "--seq", "1", "--size", "13"])
            .json();
        s.file("kept13.txt", json["checkpoint"].as_str().unwrap())
    };
    let text = f.ok(&["prove", "--from", "13"]).stdout;
    assert!(text.starts_with("old 13\n"), "{text}");
    let file = s.file("c.txt", &text);
    let run = ok(&[
        "audit",
        "verify-consistency",
        &file,
        "--old",
        &kept13,
        "--key",
        &f.key,
    ]);
    assert!(
        run.stdout
            .contains("size 63 extends the checkpoint of size 13"),
        "{}",
        run.stdout
    );
    // Without the old checkpoint the text form cannot be checked: a usage error.
    expect(2, &["audit", "verify-consistency", &file, "--key", &f.key]);
    // The JSON form carries the ledger's old checkpoint.
    let json = f
        .ok(&["--json", "prove", "--from", "13", "--to", "63"])
        .stdout;
    let jfile = s.file("c.json", &json);
    ok(&["audit", "verify-consistency", &jfile, "--key", &f.key]);
    // From 0 and between equal sizes.
    let zero = s.file("z.txt", &f.ok(&["prove", "--from", "0"]).stdout);
    ok(&["audit", "verify-consistency", &zero, "--key", &f.key]);
    let same = s.file("s.json", &f.ok(&["--json", "prove", "--from", "63"]).stdout);
    ok(&["audit", "verify-consistency", &same, "--key", &f.key]);
    // A kept checkpoint of another size, or of another ledger, fails.
    let kept3 = {
        let json = f
            .ok(&["--json", "prove", "--seq", "1", "--size", "3"])
            .json();
        s.file("kept3.txt", json["checkpoint"].as_str().unwrap())
    };
    expect(
        1,
        &[
            "audit",
            "verify-consistency",
            &file,
            "--old",
            &kept3,
            "--key",
            &f.key,
        ],
    );
    let foreign = s.file("foreign.txt", &other_ledger().note);
    expect(
        1,
        &[
            "audit",
            "verify-consistency",
            &file,
            "--old",
            &foreign,
            "--key",
            &f.key,
        ],
    );
    // A changed proof hash fails.
    let lines: Vec<&str> = text.lines().collect();
    let bad = text.replacen(lines[1], lines[2], 1);
    let bad = s.file("bad.txt", &bad);
    expect(
        1,
        &[
            "audit",
            "verify-consistency",
            &bad,
            "--old",
            &kept13,
            "--key",
            &f.key,
        ],
    );
}

// ---- export and verify-export -----------------------------------------------------------

fn export(f: &Fixture, s: &Scratch) -> PathBuf {
    let dir = s.path("export");
    let run = f.ok(&["export", "--to", dir.to_str().unwrap()]);
    assert!(run.stdout.contains("exported 63 events"), "{}", run.stdout);
    dir
}

#[test]
fn an_export_verifies_offline_and_holds_every_file() {
    let (f, s) = (fixture(), Scratch::new());
    let dir = export(f, &s);
    for file in ["events.jsonl", "checkpoint.txt", "pubkey", "README.txt"] {
        assert!(dir.join(file).is_file(), "{file}");
    }
    assert_eq!(
        fs::read_to_string(dir.join("pubkey")).unwrap(),
        format!("{}\n", f.key)
    );
    let events = fs::read_to_string(dir.join(EVENTS_FILE)).unwrap();
    assert_eq!(events.lines().count(), 63);
    let first: serde_json::Value = serde_json::from_str(events.lines().next().unwrap()).unwrap();
    assert_eq!(first["prev_hash"], "0".repeat(64));
    assert_eq!(first["fields"]["type"], "household_enrolled");
    let d = dir.to_str().unwrap();
    let run = audit_verify_export_json(&dir, &f.key);
    assert_eq!(run.assert_ok().json()["events"], 63);
    let kept = s.file("kept.txt", &f.ok(&["checkpoint"]).stdout);
    let run = ok(&[
        "audit",
        "verify-export",
        d,
        "--key",
        &f.key,
        "--checkpoint",
        &kept,
    ]);
    assert!(
        run.stdout.contains("1 checkpoint(s) you kept"),
        "{}",
        run.stdout
    );
    // Export refuses a non-empty directory and a ledger without a checkpoint.
    assert_eq!(f.run(&["export", "--to", d]).code, 2);
    let empty = s.path("empty");
    ok(&["--ledger", empty.to_str().unwrap(), "init"]);
    let to = s.path("empty-export");
    let run = expect(
        2,
        &[
            "--ledger",
            empty.to_str().unwrap(),
            "export",
            "--to",
            to.to_str().unwrap(),
        ],
    );
    assert!(
        run.stderr.contains("no signed checkpoint"),
        "{}",
        run.stderr
    );
}

fn edit_line(dir: &Path, seq: usize, edit: impl FnOnce(&str) -> String) {
    let path = dir.join(EVENTS_FILE);
    let text = fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[seq - 1] = edit(&lines[seq - 1]);
    fs::write(&path, lines.join("\n") + "\n").unwrap();
}

fn bad_seq(dir: &Path, key: &str) -> serde_json::Value {
    audit_verify_export_json(dir, key).assert_code(1).json()["first_bad_seq"].clone()
}

#[test]
fn tampered_exports_fail_with_the_first_bad_seq() {
    let (f, s) = (fixture(), Scratch::new());
    let clean = export(f, &s);
    let copy = |name: &str| {
        let to = s.path(name);
        fs::create_dir(&to).unwrap();
        for entry in fs::read_dir(&clean).unwrap() {
            let entry = entry.unwrap();
            fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
        to
    };
    // One changed hex digit of a record.
    let d = copy("record");
    edit_line(&d, 20, |l| {
        let at = l.find("\"record\":\"").unwrap() + 30;
        let mut b = l.as_bytes().to_vec();
        b[at] = if b[at] == b'0' { b'1' } else { b'0' };
        String::from_utf8(b).unwrap()
    });
    assert_eq!(bad_seq(&d, &f.key), 20);
    // The amount in fields changed: the reader would be misled.
    let d = copy("fields");
    edit_line(&d, 30, |l| {
        l.replacen("\"amount\":\"1", "\"amount\":\"9", 1)
    });
    assert_eq!(bad_seq(&d, &f.key), 30);
    // A line deleted; two lines swapped; the last lines cut off.
    let d = copy("deleted");
    let text = fs::read_to_string(d.join(EVENTS_FILE)).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(44);
    fs::write(d.join(EVENTS_FILE), lines.join("\n") + "\n").unwrap();
    assert_eq!(bad_seq(&d, &f.key), 45);
    let d = copy("swapped");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.swap(9, 10);
    fs::write(d.join(EVENTS_FILE), lines.join("\n") + "\n").unwrap();
    assert_eq!(bad_seq(&d, &f.key), 10);
    let d = copy("truncated");
    let lines: Vec<&str> = text.lines().take(60).collect();
    fs::write(d.join(EVENTS_FILE), lines.join("\n") + "\n").unwrap();
    assert_eq!(bad_seq(&d, &f.key), 61);
    // Wrong key; another ledger's checkpoint; a missing file; no such directory.
    let (other_key, other_note) = (&other_ledger().key, &other_ledger().note);
    assert_eq!(bad_seq(&clean, other_key), serde_json::Value::Null);
    let d = copy("foreign");
    fs::write(d.join("checkpoint.txt"), other_note).unwrap();
    let run = audit_verify_export(&d, &f.key);
    assert!(
        run.assert_code(1).stdout.contains("checkpoint.txt"),
        "{run:?}"
    );
    // A missing file is bad input, as README says: there is no export to judge.
    for file in [EVENTS_FILE, "checkpoint.txt"] {
        let d = copy(&format!("missing-{file}"));
        fs::remove_file(d.join(file)).unwrap();
        let run = audit_verify_export(&d, &f.key);
        assert!(run.assert_code(2).stderr.contains(file), "{run:?}");
    }
    let nowhere = s.path("nowhere");
    audit_verify_export(&nowhere, &f.key).assert_code(2);
}

#[test]
fn every_single_byte_change_of_an_export_line_is_caught() {
    let (f, s) = (fixture(), Scratch::new());
    let dir = export(f, &s);
    let key = VerifierKey::parse(&f.key).unwrap();
    assert!(verify_export(&dir, &key, vec![]).unwrap().is_ok());
    let note = fs::read_to_string(dir.join("checkpoint.txt")).unwrap();
    let checkpoint = open_note(&note, &key).unwrap();
    let text = fs::read(dir.join(EVENTS_FILE)).unwrap();
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').take(63).collect();
    // The pure core of verify-export, run up to line 17 once (a payment with Chinese text
    // in its memo); then every byte of line 17 changed two ways, a low bit and the ASCII
    // letter case bit, and the rest of the file checked after it.
    let mut before = ExportCheck::new(checkpoint, vec![]);
    for line in &lines[..16] {
        before.push_line(line).unwrap();
    }
    let target = lines[16];
    for i in 0..target.len() {
        for flip in [0x01u8, 0x20] {
            let mut changed = target.to_vec();
            changed[i] ^= flip;
            let mut check = before.clone();
            let verdict = check
                .push_line(&changed)
                .and_then(|()| lines[17..].iter().try_for_each(|l| check.push_line(l)))
                .and_then(|()| check.finish().map(|_| ()));
            let fault = verdict
                .err()
                .unwrap_or_else(|| panic!("byte {i} ^ {flip:#x} passed"));
            assert!(
                matches!(fault.first_bad_seq(), Some(s) if s.get() == 17 || s.get() == 18),
                "byte {i}: {fault}"
            );
        }
    }
}

// ---- household --proofs and verify-trail ------------------------------------------------------

#[test]
fn a_households_trail_verifies_offline_and_tampering_fails() {
    let (f, s) = (fixture(), Scratch::new());
    let text = f.ok(&["household", "PL-0001", "--proofs"]).stdout;
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["format"], "fundtrail.trail.v1");
    let events = doc["events"].as_array().unwrap();
    assert!(events.len() > 10, "{}", events.len());
    assert!(events
        .iter()
        .all(|e| e["fields"]["household_id"] == "PL-0001"));
    let file = s.file("trail.json", &text);
    let run = ok(&["audit", "verify-trail", &file, "--key", &f.key]);
    assert!(
        run.stdout.contains("of household PL-0001 are in the log"),
        "{}",
        run.stdout
    );
    // Each proof is a standalone tlog-proof.
    let one = s.file("one.tlog-proof", events[2]["proof"].as_str().unwrap());
    ok(&["audit", "verify-inclusion", &one, "--key", &f.key]);

    let check = |name: &str, doc: &serde_json::Value, key: &str| {
        let file = s.file(name, &doc.to_string());
        fundtrail(&["--json", "audit", "verify-trail", &file, "--key", key])
    };
    // The JSON answer carries the same caveat as the text: a trail is not shown complete.
    let json = check("honest", &doc, &f.key);
    assert_eq!(json.code, 0);
    assert_eq!(json.json()["complete"], false);
    assert!(json.json()["note"]
        .as_str()
        .unwrap()
        .contains("cannot prove"));
    let seq2 = events[2]["seq"].as_u64().unwrap();
    let mut bad = doc.clone();
    bad["events"][2]["fields"]["amount"] = "9999.00".into();
    let run = check("amount", &bad, &f.key);
    assert_eq!(
        (run.code, run.json()["first_bad_seq"].as_u64()),
        (1, Some(seq2))
    );
    let mut bad = doc.clone();
    let other_proof = bad["events"][3]["proof"].clone();
    bad["events"][2]["proof"] = other_proof;
    assert_eq!(check("swapped", &bad, &f.key).code, 1);
    let mut bad = doc.clone();
    bad["household_id"] = "PL-0002".into();
    assert_eq!(check("household", &bad, &f.key).code, 1);
    let mut bad = doc.clone();
    bad["events"].as_array_mut().unwrap().swap(1, 2);
    assert_eq!(check("order", &bad, &f.key).code, 1);
    let other_key = &other_ledger().key;
    assert_eq!(check("key", &doc, other_key).code, 1);
    // Not enrolled: bad input.
    assert_eq!(f.run(&["household", "PL-0099", "--proofs"]).code, 2);
}

// ---- a correctly signed log that breaks the write rules ----------------------------------

/// `audit verify-export --json` on a forged export: exit 1, and the first bad seq.
fn refused(dir: &Path) -> serde_json::Value {
    audit_verify_export_json(dir, &forge::verifier_key())
        .assert_code(1)
        .json()
}

#[test]
fn an_honest_forged_export_passes_so_the_forge_is_right() {
    let s = Scratch::new();
    let dir = s.path("honest");
    forge::write_export(&dir, &forge::opening());
    let run = audit_verify_export(&dir, &forge::verifier_key());
    assert!(
        run.assert_ok().stdout.starts_with("ok: 3 events"),
        "{run:?}"
    );
}

#[test]
fn a_signed_export_that_breaks_a_write_rule_is_refused_at_its_seq() {
    let s = Scratch::new();
    for scenario in forge::scenarios() {
        let dir = s.path(scenario.name);
        forge::write_export(&dir, &scenario.events);
        let json = refused(&dir);
        assert_eq!(
            json["first_bad_seq"], scenario.bad_seq,
            "{}: {json}",
            scenario.name
        );
        let reason = json["reason"].as_str().unwrap();
        let expected = format!(
            "seq {} breaks a write rule: {}: ",
            scenario.bad_seq, scenario.field
        );
        assert!(reason.contains(&expected), "{}: {reason}", scenario.name);
    }
}

#[test]
fn the_rule_faults_say_what_rule_was_broken() {
    let s = Scratch::new();
    let reason = |name: &str| {
        let scenario = forge::scenarios()
            .into_iter()
            .find(|sc| sc.name == name)
            .unwrap();
        let dir = s.path(name);
        forge::write_export(&dir, &scenario.events);
        refused(&dir)["reason"].as_str().unwrap().to_owned()
    };
    let r = reason("duplicate-reference");
    assert!(r.contains("BANK-1 is already recorded as seq 3"), "{r}");
    let r = reason("identical-duplicate");
    assert!(r.contains("BANK-1 is already recorded as seq 3"), "{r}");
    let r = reason("negative-budget");
    assert!(
        r.contains("exceeds what is left of program support_allowance"),
        "{r}"
    );
    let r = reason("reversal-before-payment");
    assert!(
        r.contains("before payment BANK-1's own date 2015-01-31"),
        "{r}"
    );
    let r = reason("payment-before-enrollment");
    assert!(r.contains("before household PL-0001 was enrolled"), "{r}");
    let r = reason("value-date-2999");
    assert!(r.contains("2999-01-01 is more than a year after"), "{r}");
}

#[test]
fn a_signed_record_with_a_trailing_byte_or_over_16_kib_is_refused_at_its_seq() {
    let s = Scratch::new();
    let records: Vec<Vec<u8>> = forge::records(&forge::opening())
        .iter()
        .map(encode)
        .collect();
    let mut trailing = records.clone();
    trailing[1].push(0);
    let dir = s.path("trailing");
    forge::write_export_of_records(&dir, &trailing);
    let json = refused(&dir);
    assert_eq!(json["first_bad_seq"], 2, "{json}");
    assert!(
        json["reason"].as_str().unwrap().contains("does not decode"),
        "{json}"
    );

    // One byte over 16 KiB: the most the encoder writes (its limit counts the bytes after
    // the version byte), so only the documented limit refuses it.
    let mut large = forge::records(&forge::opening());
    let set_memo = |record: &mut fundtrail::model::encoding::RecordV1, memo: String| {
        if let fundtrail::model::encoding::Body::Disbursement(p) = &mut record.body {
            p.memo = memo;
        }
    };
    set_memo(&mut large[2], String::new());
    let bare = encode(&large[2]).len();
    set_memo(&mut large[2], "x".repeat(16 * 1024 + 1 - bare));
    let mut records = records;
    records[2] = encode(&large[2]);
    assert_eq!(records[2].len(), 16 * 1024 + 1);
    let dir = s.path("large");
    forge::write_export_of_records(&dir, &records);
    let json = refused(&dir);
    assert_eq!(json["first_bad_seq"], 3, "{json}");
    assert!(
        json["reason"]
            .as_str()
            .unwrap()
            .contains("over the limit of 16384 bytes"),
        "{json}"
    );
}

#[test]
fn a_root_mismatch_names_no_single_seq() {
    let s = Scratch::new();
    // A checkpoint of the same size from a ledger whose events differ: every line chains,
    // only the root tells, and it cannot say which event differs.
    let forged = s.path("forged-root");
    forge::write_export(&forged, &forge::opening());
    let key = forge::verifier_key();
    let other = s.path("other-root");
    forge::write_export(
        &other,
        &[
            forge::enroll("PL-0002", forge::D2014_03_01),
            forge::allocate("ALLOC-2", 100_000),
            forge::pay("BANK-9", "PL-0002", 10_000, forge::D2015_01_31),
        ],
    );
    fs::copy(other.join("checkpoint.txt"), forged.join("checkpoint.txt")).unwrap();
    let json = audit_verify_export_json(&forged, &key)
        .assert_code(1)
        .json();
    assert_eq!(json["first_bad_seq"], serde_json::Value::Null, "{json}");
    let reason = json["reason"].as_str().unwrap();
    assert!(reason.contains("Merkle root"), "{reason}");
    assert!(reason.contains("seq 1..=3"), "{reason}");
    let text = audit_verify_export(&forged, &key);
    assert!(
        text.assert_code(1).stdout.starts_with("FAILED: "),
        "{text:?}"
    );
}
