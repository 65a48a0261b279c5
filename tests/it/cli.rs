//! The binary end to end: exit codes (0 ok, 1 verification failed, 2 bad input or usage,
//! 3 ledger unavailable), the "in use" error of a second process, and the text and JSON
//! output of `status`, `verify` and `log`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::support::*;
use fundtrail::ledger::{Ledger, LedgerError};
use fundtrail::store::StoreError;

/// Names the ledger a holder child opens; unset, the holder test does nothing.
const HOLD_DIR_ENV: &str = "FUNDTRAIL_TEST_HOLD_DIR";

/// Run by the two-process tests as a child: opens the ledger, says `HELD`, and keeps it
/// open until its stdin is closed.
#[test]
#[ignore = "a child process of the two-process tests; does nothing when run directly"]
fn holder_child() {
    let Some(dir) = std::env::var_os(HOLD_DIR_ENV) else {
        return;
    };
    let ledger = Ledger::open(Path::new(&dir)).expect("the holder opens the ledger");
    let mut out = std::io::stdout().lock();
    // The test harness has printed "test cli::holder_child ... " without a newline.
    writeln!(out, "\nHELD").expect("the parent reads stdout");
    out.flush().expect("flush stdout");
    let mut rest = String::new();
    let _ = std::io::stdin().read_line(&mut rest);
    drop(ledger);
}

/// A child process holding the ledger open; it lets go when dropped.
struct Holder(Child);

impl Holder {
    fn start(dir: &Path) -> Holder {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut child = spawn(
            Command::new(exe)
                .args(["--exact", "cli::holder_child", "--ignored", "--nocapture"])
                .env(HOLD_DIR_ENV, dir)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        );
        let stdout = child.stdout.take().expect("piped stdout");
        let held = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line == "HELD");
        assert!(held, "the holder child did not open the ledger");
        Holder(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

#[test]
fn a_second_process_gets_in_use_and_exit_3() {
    let t = TempLedger::standard();
    let head = t.open().view().head();
    let events = t.write_csv(
        "more.csv",
        fundtrail::ledger::import::ImportKind::Events,
        &payment_rows("BUSY", 3),
    );
    let holder = Holder::start(&t.dir);
    let in_use = format!("is in use by process {}", holder.pid());

    for args in [&["status"][..], &["verify"], &["log"]] {
        let run = t.run(args);
        run.assert_code(3);
        assert!(run.stderr.contains(&in_use), "{args:?}: {run:#?}");
    }
    let run = t.import("events", &events);
    run.assert_code(3);
    assert!(run.stderr.contains(&in_use), "{run:#?}");
    let run = t.run(&["--json", "status"]);
    run.assert_code(3);
    let error = run.json()["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains(&in_use), "{run:#?}");

    drop(holder);
    // Once the holder has exited the ledger is free again, and the refused import left
    // nothing behind.
    let run = t.run(&["--json", "status"]);
    run.assert_ok();
    assert_eq!(run.json()["events"], head.size);
    assert_eq!(run.json()["damaged"], serde_json::Value::Null);
    t.import("events", &events).assert_ok();
}

#[test]
fn a_second_opener_in_one_process_gets_in_use() {
    let t = TempLedger::standard();
    let _first = t.open();
    match Ledger::open(&t.dir) {
        Err(LedgerError::Store(StoreError::InUse { pid, .. })) => {
            assert_eq!(pid, Some(std::process::id()));
        }
        Err(other) => panic!("expected 'in use', got {other}"),
        Ok(_) => panic!("a second opener got the ledger"),
    }
}

#[test]
fn a_missing_ledger_is_unavailable() {
    let t = TempLedger::uninitialized();
    let events = t.write_csv(
        "e.csv",
        fundtrail::ledger::import::ImportKind::Events,
        STANDARD_EVENTS,
    );
    for args in [&["status"][..], &["verify"], &["log"]] {
        let run = t.run(args);
        run.assert_code(3);
        assert!(run.stderr.contains("no ledger at"), "{args:?}: {run:#?}");
    }
    t.import("events", &events).assert_code(3);
    assert!(
        !t.dir.join("sled").exists(),
        "a failed command created a ledger"
    );
}

/// `--ledger` naming a file is a usage mistake, said as such, and the file is untouched.
#[test]
fn a_ledger_path_that_is_a_file_is_bad_input() {
    let t = TempLedger::uninitialized();
    std::fs::write(&t.dir, "not a ledger").expect("write a file where the ledger would be");
    for args in [&["init"][..], &["status"], &["verify"]] {
        let run = t.run(args);
        run.assert_code(2);
        assert!(
            run.stderr.contains("is a file, not a ledger directory"),
            "{args:?}: {run:#?}"
        );
    }
    assert_eq!(std::fs::read_to_string(&t.dir).unwrap(), "not a ledger");
}

#[test]
fn init_creates_an_empty_ledger_once() {
    let t = TempLedger::uninitialized();
    let run = t.run(&["init"]);
    run.assert_ok();
    assert!(run.stdout.contains("created an empty ledger"), "{run:#?}");
    let status = t.run(&["--json", "status"]);
    status.assert_ok();
    assert_eq!(status.json()["events"], 0);

    let before = t.dump();
    let again = t.run(&["init"]);
    again.assert_code(2);
    assert!(again.stderr.contains("already exists"), "{again:#?}");
    assert_eq!(t.dump(), before);
}

#[test]
fn usage_errors_exit_2() {
    let t = TempLedger::new();
    t.run(&["frobnicate"]).assert_code(2);
    t.run(&["import", "events"]).assert_code(2);
    t.run(&["log", "--limit", "many"]).assert_code(2);
}

#[test]
fn an_import_needs_a_named_actor() {
    let t = TempLedger::standard();
    let before = t.dump();
    let file = t.write_csv(
        "e.csv",
        fundtrail::ledger::import::ImportKind::Events,
        &payment_rows("ANON", 1),
    );
    let file = file.to_str().expect("UTF-8");
    let run = t.run(&["--actor", "  ", "import", "events", file]);
    run.assert_code(2);
    assert!(run.stderr.contains("say who records"), "{run:#?}");
    assert_eq!(t.dump(), before);

    t.run(&["--actor", "李四", "import", "events", file])
        .assert_ok();
    let log = t.run(&["--json", "log", "--limit", "1"]);
    assert_eq!(log.json()[0]["actor"], "李四");
}

/// The account name `id -un` gives for this process's user, if it has one.
fn account_name() -> Option<String> {
    let out = Command::new("id").arg("-un").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn without_user_the_actor_is_the_os_account_name() {
    let t = TempLedger::standard();
    let Some(account) = account_name() else {
        eprintln!("skipped: this uid has no account name (`id -un` fails)");
        return;
    };
    let file = t.write_csv(
        "e.csv",
        fundtrail::ledger::import::ImportKind::Events,
        &payment_rows("NOUSER", 1),
    );
    let mut cmd = binary(&t.dir);
    cmd.env_remove("FUNDTRAIL_ACTOR")
        .env_remove("USER")
        .args(["import", "events"])
        .arg(&file);
    run_command(&mut cmd).assert_ok();
    let log = t.run(&["--json", "log", "--limit", "1"]);
    assert_eq!(log.json()[0]["actor"], account.as_str());
    assert_eq!(log.json()[0]["reference"], "NOUSER-0");

    // An empty $USER says nothing either.
    let file = t.write_csv(
        "e2.csv",
        fundtrail::ledger::import::ImportKind::Events,
        &payment_rows("EMPTYUSER", 1),
    );
    let mut cmd = binary(&t.dir);
    cmd.env_remove("FUNDTRAIL_ACTOR")
        .env("USER", "")
        .args(["import", "events"])
        .arg(&file);
    run_command(&mut cmd).assert_ok();
    let log = t.run(&["--json", "log", "--limit", "1"]);
    assert_eq!(log.json()[0]["actor"], account.as_str());
}

/// A user id that no account database of a test machine names.
const UNNAMED_UID: u32 = 4_194_301;

/// Whether the tests run as root, who may start a child under another uid and mount.
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn without_user_or_an_account_name_a_write_says_how_to_name_the_actor() {
    use std::os::unix::process::CommandExt;
    let t = TempLedger::standard();
    let before = t.dump();
    let file = t.write_csv(
        "e.csv",
        fundtrail::ledger::import::ImportKind::Events,
        &payment_rows("NOBODY", 1),
    );
    // Only root may start a process under another uid; elsewhere this test cannot run.
    if !is_root() {
        eprintln!("skipped: starting a process as uid {UNNAMED_UID} needs root");
        return;
    }
    let mut cmd = binary(&t.dir);
    cmd.env_remove("FUNDTRAIL_ACTOR")
        .env_remove("USER")
        .args(["import", "events"])
        .arg(&file)
        .uid(UNNAMED_UID);
    let run = run_command(&mut cmd);
    run.assert_code(2);
    assert!(
        run.stderr.contains("--actor NAME or FUNDTRAIL_ACTOR=NAME"),
        "{run:#?}"
    );
    assert!(run.stderr.contains("$USER is not set"), "{run:#?}");
    assert_eq!(t.dump(), before);
}

/// Runs `mount` with `args`; whether it worked.
fn mount(args: &[&str]) -> bool {
    Command::new("mount")
        .args(args)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A read-only bind mount of a directory, unmounted when dropped.
struct ReadOnlyMount(std::path::PathBuf);

impl ReadOnlyMount {
    /// `None` where this process may not mount (not root, or no mount in a container).
    fn of(dir: &Path, at: &Path) -> Option<ReadOnlyMount> {
        std::fs::create_dir_all(at).expect("create the mount point");
        let (dir, at_text) = (dir.to_str()?, at.to_str()?);
        if !mount(&["--bind", dir, at_text]) {
            return None;
        }
        let mounted = ReadOnlyMount(at.to_owned());
        mount(&["-o", "remount,ro,bind", at_text]).then_some(mounted)
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Every file of a directory tree with its bytes, in path order.
fn tree(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).expect("list a directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read a file");
                files.push((path, bytes));
            }
        }
    }
    files.sort();
    files
}

/// `verify` and `status` read a ledger that `cmd`'s user may not write, through a copy in
/// `tmpdir` that is gone afterwards; an import is refused and changes nothing.
fn reads_a_ledger_it_may_not_write(ledger: &Path, tmpdir: &Path, cmd: impl Fn() -> Command) {
    let before = tree(ledger);
    let run = run_command(cmd().env("TMPDIR", tmpdir).arg("verify"));
    run.assert_ok();
    assert!(run.stdout.contains("ok: 8 events verified"), "{run:#?}");
    assert!(
        run.stderr.contains("cannot be written") && run.stderr.contains("private copy"),
        "{run:#?}"
    );
    let run = run_command(cmd().env("TMPDIR", tmpdir).args(["--json", "status"]));
    run.assert_ok();
    let status = run.json();
    assert_eq!(status["events"], 8);
    assert_eq!(status["read_only_copy"], true);
    assert_eq!(status["ledger"], ledger.to_str().unwrap());
    let leftovers: Vec<_> = std::fs::read_dir(tmpdir).unwrap().collect();
    assert!(
        leftovers.is_empty(),
        "the copies were not removed: {leftovers:?}"
    );

    let events = tmpdir.join("more.csv");
    let rows = [EVENTS_HEADER.to_string(), payment_rows("RO", 1)[0].clone()];
    std::fs::write(&events, rows.join("\n") + "\n").unwrap();
    let run = run_command(cmd().args(["import", "events"]).arg(&events));
    run.assert_code(3);
    assert_eq!(tree(ledger), before);
}

#[test]
fn verify_and_status_read_a_ledger_on_a_read_only_mount() {
    let t = TempLedger::standard();
    let at = t.file("read-only");
    let Some(_mounted) = ReadOnlyMount::of(&t.dir, &at) else {
        eprintln!("skipped: cannot make a read-only bind mount here (needs root and mount)");
        return;
    };
    let tmpdir = t.file("tmp");
    std::fs::create_dir(&tmpdir).unwrap();
    reads_a_ledger_it_may_not_write(&at, &tmpdir, || {
        let mut cmd = binary(&at);
        cmd.env_remove("FUNDTRAIL_LEDGER").arg("--ledger").arg(&at);
        cmd
    });
}

#[test]
fn verify_and_status_read_a_ledger_without_write_permission() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let t = TempLedger::standard();
    // Root writes whatever the modes say: as root, the commands run as another user, which
    // needs to reach the ledger and a temporary directory of its own.
    let root = is_root();
    let tmpdir = t.file("tmp");
    std::fs::create_dir(&tmpdir).unwrap();
    let open_to_all = std::fs::Permissions::from_mode(0o777);
    std::fs::set_permissions(&tmpdir, open_to_all).unwrap();
    std::fs::set_permissions(t.tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let chmod = Command::new("chmod")
        .args(["-R", "a+rX,a-w"])
        .arg(&t.dir)
        .status()
        .unwrap();
    assert!(chmod.success());
    reads_a_ledger_it_may_not_write(&t.dir, &tmpdir, || {
        let mut cmd = binary(&t.dir);
        if root {
            cmd.uid(UNNAMED_UID);
        }
        cmd
    });
    // Writable again, the ledger opens as it always did, with no copy.
    let chmod = Command::new("chmod")
        .args(["-R", "u+w"])
        .arg(&t.dir)
        .status()
        .unwrap();
    assert!(chmod.success());
    let run = t.run(&["--json", "status"]);
    run.assert_ok();
    assert_eq!(run.json()["read_only_copy"], false);
    assert!(!run.stderr.contains("private copy"), "{run:#?}");
}

#[test]
fn status_reports_the_head() {
    let t = TempLedger::standard();
    let head = t.open().view().head();
    let run = t.run(&["status"]);
    run.assert_ok();
    assert!(run.stdout.contains("events:     8\n"), "{run:#?}");
    assert!(run.stdout.contains("households: 3\n"), "{run:#?}");
    assert!(run.stdout.contains(&head.hash.to_hex()), "{run:#?}");

    let json = t.run(&["--json", "status"]).json();
    assert_eq!(json["events"], 8);
    assert_eq!(json["households"], 3);
    assert_eq!(json["head"]["seq"], 8);
    assert_eq!(json["head"]["hash"], head.hash.to_hex());
    assert!(json["size_on_disk"].as_u64().is_some_and(|n| n > 0));
}

#[test]
fn verify_passes_an_intact_ledger() {
    let t = TempLedger::standard();
    let run = t.run(&["verify"]);
    run.assert_ok();
    assert!(run.stdout.contains("ok: 8 events verified"), "{run:#?}");
    let json = t.run(&["--json", "verify"]).json();
    assert_eq!(json["ok"], true);
    assert_eq!(json["events"], 8);
}

#[test]
fn verify_names_the_seq_of_a_tampered_event() {
    let t = TempLedger::standard();
    // Change BANK-2's amount (seq 7) from 50.00 to 5000.00 in the stored record.
    let mut value = t.raw_event(7);
    let needle = 5_000i64.to_le_bytes();
    let at = 32
        + value[32..]
            .windows(8)
            .position(|w| w == needle)
            .expect("the amount is in the record");
    value[at..at + 8].copy_from_slice(&500_000i64.to_le_bytes());
    t.put_raw_event(7, &value);

    let run = t.run(&["verify"]);
    run.assert_code(1);
    assert!(run.stdout.starts_with("FAILED at seq 7: "), "{run:#?}");
    let run = t.run(&["--json", "verify"]);
    run.assert_code(1);
    let json = run.json();
    assert_eq!(json["ok"], false);
    assert_eq!(json["first_bad_seq"], 7);
    assert_eq!(json["checked"], 6);
}

#[test]
fn verify_names_the_seq_of_a_damaged_enrollment() {
    let t = TempLedger::standard();
    // Truncate enrollment seq 2 so that it no longer decodes (the hash stays).
    let value = t.raw_event(2);
    t.put_raw_event(2, &value[..value.len() - 3]);
    let run = t.run(&["verify"]);
    run.assert_code(1);
    assert!(run.stdout.starts_with("FAILED at seq 2: "), "{run:#?}");

    // Appending is refused with the reason, and changes nothing.
    let before = t.dump();
    let file = t.write_csv(
        "e.csv",
        fundtrail::ledger::import::ImportKind::Events,
        &payment_rows("X", 1),
    );
    let run = t.import("events", &file);
    run.assert_code(1);
    // Its block (from seq 1) no longer matches its seal.
    assert!(
        run.stderr
            .contains("block at seq 1 does not match its seal"),
        "{run:#?}"
    );
    assert!(run.stderr.contains("nothing was appended"), "{run:#?}");
    assert_eq!(t.dump(), before);

    // status says the ledger is damaged, not that it has no households, and exits 1.
    let run = t.run(&["status"]);
    run.assert_code(1);
    assert!(
        run.stdout
            .contains("households: unknown (the ledger is damaged)"),
        "{run:#?}"
    );
    assert!(
        run.stdout
            .contains("\ndamaged:    the event block at seq 1 does not match its seal"),
        "{run:#?}"
    );
    let run = t.run(&["--json", "status"]);
    run.assert_code(1);
    let damaged = run.json()["damaged"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        damaged.starts_with("the event block at seq 1 does not match its seal"),
        "{run:#?}"
    );
}

/// A household index entry that names no enrollment: `verify` reports it (as `status`
/// and `import` advise), and `serve` refuses to start on the damaged ledger instead of
/// taking writes it would plan against a wrong household list.
#[test]
fn a_stray_household_entry_fails_verify_and_serve() {
    let t = TempLedger::standard();
    t.sled()
        .insert(b"hPL-FAKE", &6u64.to_be_bytes())
        .expect("insert a stray entry");
    let run = t.run(&["status"]);
    run.assert_code(1);
    assert!(run.stdout.contains("households: unknown"), "{run:#?}");

    let run = t.run(&["verify"]);
    run.assert_code(1);
    assert!(
        run.stdout.starts_with(
            "FAILED: household PL-FAKE: the household index lists seq 6, \
             but the log enrolls no such household"
        ),
        "{run:#?}"
    );

    // Nothing that relies on the household list takes the empty one for the truth.
    for args in [
        &["run", "allowance", "--month", "2018-07", "--dry-run"][..],
        &["entitlement", "PL-0001", "--through", "2018-07"],
    ] {
        let run = t.run(args);
        run.assert_code(1);
        assert!(
            run.stderr.contains("the enrolled households are not known"),
            "{run:#?}"
        );
    }

    let before = t.dump();
    let mut serve = spawn(
        binary(&t.dir)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = serve.try_wait().expect("poll serve") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = serve.kill();
            panic!("serve started on a damaged ledger");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let output = serve.wait_with_output().expect("serve's output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the server was not started"), "{stderr}");
    assert!(stderr.contains("PL-FAKE"), "{stderr}");
    assert_eq!(t.dump(), before);
}

/// `log` filters name a known type or program: a typo is an error, not "no matching
/// events". Every type `log` shows is one `--type` accepts.
#[test]
fn log_filters_refuse_unknown_types_and_programs() {
    let t = TempLedger::standard();
    let run = t.run(&["log", "--type", "disbursment"]);
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("not an event type; one of: household_enrolled"),
        "{run:#?}"
    );
    let run = t.run(&["log", "--program", "allowance"]);
    run.assert_code(2);
    assert!(run.stderr.contains("is not a known program"), "{run:#?}");

    let run = t.run(&["--json", "log", "--limit", "100"]);
    run.assert_ok();
    let json = run.json();
    let events = json.as_array().expect("a list of events");
    assert_eq!(events.len() as u64, STANDARD_SIZE);
    for event in events {
        let kind = event["type"].as_str().expect("a type");
        assert!(
            fundtrail::model::encoding::EVENT_TYPES.contains(&kind),
            "{kind}"
        );
        t.run(&["log", "--type", kind]).assert_ok();
    }
}

/// `--csv` and `--json` conflict wherever `--json` is written.
#[test]
fn csv_and_json_output_conflict_in_either_order() {
    let t = TempLedger::standard();
    for args in [
        &["--json", "totals", "--csv"][..],
        &["totals", "--csv", "--json"],
        &["--json", "funds", "--csv"],
    ] {
        let run = t.run(args);
        run.assert_code(2);
        assert!(
            run.stderr.contains("--csv") && run.stderr.contains("--json"),
            "{run:#?}"
        );
        assert!(run.stdout.is_empty(), "{run:#?}");
    }
}

#[test]
fn log_shows_the_latest_events_oldest_first() {
    let t = TempLedger::standard();
    let run = t.run(&["log"]);
    run.assert_ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1 + 8, "{run:#?}");
    assert!(lines[0].starts_with("seq"), "{run:#?}");
    assert!(lines[1].trim_start().starts_with("1 "), "{run:#?}");
    assert!(lines[8].contains("reversal"), "{run:#?}");
    assert!(lines[8].contains("-50.00"), "{run:#?}");

    let json = t.run(&["--json", "log", "--limit", "3"]).json();
    let seqs: Vec<u64> = json
        .as_array()
        .expect("an array")
        .iter()
        .map(|e| e["seq"].as_u64().expect("a seq"))
        .collect();
    assert_eq!(seqs, [6, 7, 8]);
    assert_eq!(json[0]["reference"], "BANK-1");
    assert_eq!(json[0]["amount"], "100.00");
    assert_eq!(json[0]["actor"], ACTOR);
    assert_eq!(json[2]["target_seq"], 7);
}

#[test]
fn log_filters_by_household_program_and_type() {
    let t = TempLedger::standard();
    let seqs = |args: &[&str]| -> Vec<u64> {
        let mut all = vec!["--json", "log"];
        all.extend_from_slice(args);
        let run = t.run(&all);
        run.assert_ok();
        run.json()
            .as_array()
            .expect("an array")
            .iter()
            .map(|e| e["seq"].as_u64().expect("a seq"))
            .collect()
    };
    assert_eq!(seqs(&["--household", "PL-0002"]), [2, 7, 8]);
    assert_eq!(seqs(&["--program", "holiday_condolence"]), [5]);
    assert_eq!(seqs(&["--type", "disbursement"]), [6, 7]);
    assert_eq!(
        seqs(&["--type", "reversal", "--household", "PL-0001"]),
        [0u64; 0]
    );
    assert_eq!(seqs(&["--limit", "0"]), [0u64; 0]);
    assert_eq!(seqs(&["--limit", "1", "--household", "PL-0001"]), [6]);
    let run = t.run(&["log", "--limit", "0"]);
    run.assert_ok();
    assert_eq!(run.stdout, "no matching events\n");
    let run = t.run(&["log", "--household", "PL-4040"]);
    run.assert_ok();
    assert_eq!(run.stdout, "no matching events\n");
}

/// A ledger of layout 3 (before the household trail index) is refused on open with what
/// to do, exit 3, and left as it was.
#[test]
fn a_layout_3_ledger_is_refused_with_what_to_do() {
    let t = TempLedger::standard();
    {
        let db = t.sled();
        db.insert(b"mlayout", 3u32.to_le_bytes().to_vec())
            .expect("write the layout record");
        db.flush().expect("flush");
    }
    let before = t.dump();
    let run = t.run(&["household", "PL-0001"]);
    run.assert_code(3);
    assert!(
        run.stderr.contains("store layout 3") && run.stderr.contains("fundtrail upgrade"),
        "{run:#?}"
    );
    assert_eq!(t.dump(), before, "nothing was written");
}

/// A ledger written in another store layout (here: one without the layout record, as
/// layout 1 ledgers are) is refused with the layouts named and exit 3, and left as it was.
#[test]
fn a_ledger_of_another_store_layout_is_refused_and_untouched() {
    let t = TempLedger::standard();
    {
        let db = t.sled();
        db.remove(b"mlayout").expect("remove the layout record");
        db.flush().expect("flush");
    }
    let before = t.dump();
    for args in [&["status"][..], &["verify"], &["log"]] {
        let run = t.run(args);
        run.assert_code(3);
        assert!(
            run.stderr
                .contains("this ledger is in store layout 1, and this fundtrail reads layout 7"),
            "{args:?}: {run:#?}"
        );
    }
    // The demo, pointed at such a ledger, also says how to rebuild it.
    let dir = t.dir.to_str().expect("a UTF-8 temp path");
    let run = t.run(&["demo", dir]);
    run.assert_code(3);
    assert!(
        run.stderr
            .contains(&format!("remove {dir} and run `fundtrail demo` again")),
        "{run:#?}"
    );
    assert_eq!(t.dump(), before);
}
