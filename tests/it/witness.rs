//! `fundtrail witness serve` as a separate process, asked by real ledgers: it cosigns a
//! checkpoint that extends the last one it cosigned, answers each refusal of the C2SP
//! tlog-witness protocol with its status, refuses a forked ledger (the same key, another
//! history), and, killed with SIGKILL again and again while it cosigns, never cosigns
//! two inconsistent checkpoints. Its cosignatures verify in Rust and in a Python
//! verifier written from the C2SP text (examples/independent-verifier).
//!
//! The Python check needs python3 with `cryptography`; see independent_verifier.rs for
//! how a missing module is installed, or the test skipped with
//! FUNDTRAIL_SKIP_PYTHON_TESTS=1.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use fundtrail::export::evidence as ev;
use fundtrail::ledger::import::ImportKind;
use fundtrail::tlog::checkpoint::Checkpoint;
use fundtrail::witness::cosign::CosignerKey;

use crate::support::client::{Client, Reply};
use crate::support::*;

const VERIFIER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/independent-verifier/verify_cosignature.py"
);

/// A witness directory made by `fundtrail witness init`, and its serving process.
pub(crate) struct Witness {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) key: CosignerKey,
    pub(crate) vkey: String,
    child: Option<Child>,
    addr: Option<SocketAddr>,
}

impl Witness {
    /// A new witness that trusts each of `logs` (verifier keys).
    pub(crate) fn new(name: &str, logs: &[&str]) -> Witness {
        let dir = tempfile::tempdir().unwrap();
        let init = witness_command(&["init", path(dir.path()), "--name", name]);
        init.assert_ok();
        let vkey = init.stdout.trim().to_owned();
        for log in logs {
            witness_command(&["trust", path(dir.path()), "--log", log]).assert_ok();
        }
        let key = CosignerKey::parse(&vkey).unwrap();
        Witness {
            dir,
            key,
            vkey,
            child: None,
            addr: None,
        }
    }

    /// Starts `witness serve` on a free loopback port and waits until it listens.
    pub(crate) fn start(&mut self) -> SocketAddr {
        let mut child = binary_without_ledger()
            .args(["witness", "serve", path(self.dir.path())])
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("fundtrail witness serve starts");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped");
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        self.child = Some(child);
        self.addr = Some(addr);
        addr
    }

    /// SIGKILL: no chance to finish anything.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn client(&self) -> Client {
        Client::new(self.addr.expect("started"), None)
    }

    fn add(&self, body: &str) -> Reply {
        self.client()
            .post("/add-checkpoint", body, "text/plain")
            .expect("the witness answers")
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        self.kill();
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn witness_command(args: &[&str]) -> Run {
    run_command(binary_without_ledger().arg("witness").args(args))
}

/// The ledger's verifier key.
pub(crate) fn log_key(t: &TempLedger) -> String {
    t.run(&["key", "show"]).assert_ok().stdout.trim().to_owned()
}

/// `n` serving witnesses (`w1.example/witness`, ...) that trust `t`, added to `t` with the
/// default quorum (a majority).
pub(crate) fn serving_witnesses(t: &TempLedger, n: usize) -> Vec<Witness> {
    let key = log_key(t);
    (1..=n)
        .map(|i| {
            let mut w = Witness::new(&format!("w{i}.example/witness"), &[&key]);
            let addr = w.start();
            t.run(&[
                "witness",
                "add",
                &format!("http://{addr}"),
                "--key",
                &w.vkey,
            ])
            .assert_ok();
            w
        })
        .collect()
}

/// Appends `n` payments tagged `tag` and signs a checkpoint of the new head.
pub(crate) fn grow(t: &TempLedger, tag: &str, n: usize) -> u64 {
    t.append_csv(ImportKind::Events, &payment_rows(tag, n));
    sign(t)
}

fn sign(t: &TempLedger) -> u64 {
    t.open().checkpoint().unwrap().checkpoint.size
}

/// The add-checkpoint body from `old` to the signed checkpoint of size `new`.
fn body(t: &TempLedger, old: u64, new: u64) -> String {
    ev::consistency(t.open().view(), old, Some(new))
        .unwrap()
        .text()
}

/// The checkpoint note a body carries.
fn note_of(body: &str) -> &str {
    &body[body.find("\n\n").unwrap() + 2..]
}

/// A copy of a closed ledger: the same key, so far the same history.
pub(crate) fn fork(t: &TempLedger) -> TempLedger {
    let copy = TempLedger::uninitialized();
    copy_dir(&t.dir, &copy.dir);
    copy
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[track_caller]
fn assert_status(reply: &Reply, status: u16, reason: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert!(reply.body.contains(reason), "{status}: {}", reply.body);
}

/// What a 200 must be: one cosignature line that verifies on the checkpoint; its time.
#[track_caller]
fn assert_cosigned(w: &Witness, sent: &str, reply: &Reply) -> u64 {
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body.lines().count(), 1, "{}", reply.body);
    let cosigned = format!("{}{}", note_of(sent), reply.body);
    w.key
        .verify_note(&cosigned)
        .expect("the cosignature verifies")
}

#[test]
fn a_witness_cosigns_a_real_ledgers_checkpoints_and_serves_the_latest() {
    let t = TempLedger::standard();
    assert_eq!(sign(&t), STANDARD_SIZE);
    let mut w = Witness::new("audit.example/witness", &[&log_key(&t)]);
    w.start();

    let first = body(&t, 0, STANDARD_SIZE);
    let time = assert_cosigned(&w, &first, &w.add(&first));
    assert!(time > 1_700_000_000, "a real clock's seconds: {time}");

    let size = grow(&t, "P", 5);
    let second = body(&t, STANDARD_SIZE, size);
    assert!(
        second.lines().nth(1).unwrap().len() == 44,
        "a proof line: {second}"
    );
    assert_cosigned(&w, &second, &w.add(&second));
    // The same checkpoint again, from its own size: cosigned again.
    let again = body(&t, size, size);
    assert_cosigned(&w, &again, &w.add(&again));

    let origin = t.open().view().verifier_key().name().to_owned();
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(origin.as_bytes()));
    let latest = w.client().get(&format!("/{hash}/checkpoint")).unwrap();
    assert_eq!(latest.status, 200);
    let stored =
        Checkpoint::parse_body(&latest.body[..=latest.body.rfind("\n\n").unwrap()]).unwrap();
    assert_eq!(stored.size, size);
    w.key.verify_note(&latest.body).unwrap();
    fundtrail::tlog::checkpoint::open_note(&latest.body, t.open().view().verifier_key())
        .expect("the log's signature is kept beside the cosignature");
    let none = w
        .client()
        .get(&format!("/{}/checkpoint", "0".repeat(64)))
        .unwrap();
    assert_eq!(none.status, 404);
}

#[test]
fn each_refusal_has_the_protocols_status() {
    let t = TempLedger::standard();
    sign(&t);
    let other = TempLedger::uninitialized();
    run(&other.dir, &["init", "--origin", "other.example/log"]).assert_ok();
    // Same origin, another key: the origin is known, the key is not.
    let impostor = TempLedger::uninitialized();
    let origin = t.open().view().verifier_key().name().to_owned();
    run(&impostor.dir, &["init", "--origin", &origin]).assert_ok();
    impostor.append_csv(ImportKind::Households, STANDARD_HOUSEHOLDS);
    sign(&impostor);
    assert_eq!(sign(&other), 0);
    let mut w = Witness::new("audit.example/witness", &[&log_key(&t)]);
    w.start();

    let first = body(&t, 0, STANDARD_SIZE);
    assert_status(&w.add("hello"), 400, "line 1 does not end in a newline");
    assert_status(
        &w.add("old 1\n\n"),
        400,
        "no checkpoint after the empty line",
    );
    let too_far = first.replacen("old 0", "old 9", 1);
    assert_status(&w.add(&too_far), 400, "larger than the checkpoint's size 8");
    let unknown = body(&other, 0, 0);
    assert_status(&w.add(&unknown), 404, "unknown log");
    let wrong_key = body(&impostor, 0, 3);
    assert_status(&w.add(&wrong_key), 403, "no signature by a key trusted");
    // Flip one character of the log's signature (past its key id).
    let at = first.rfind(' ').unwrap() + 20;
    let mut forged = first.clone().into_bytes();
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert_status(&w.add(&forged), 403, "does not verify");
    let with_proof = first.replacen("old 0\n", &format!("old 0\n{}\n", "A".repeat(43) + "="), 1);
    assert_status(&w.add(&with_proof), 422, "no consistency from size 0 to 8");

    // One byte over the limit: refused once that byte is read, not parsed.
    let mut stream = TcpStream::connect(w.addr.unwrap()).unwrap();
    write!(
        stream,
        "POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: 265006\r\nConnection: close\r\n\r\n{}",
        "x".repeat(265_006)
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    assert_cosigned(&w, &first, &w.add(&first));
    let stale = w.add(&first);
    assert_status(&stale, 409, "8\n");
    assert_eq!(stale.body, "8\n");
    assert_eq!(stale.header("content-type"), Some("text/x.tlog.size"));

    let size = grow(&t, "P", 5);
    let next = body(&t, STANDARD_SIZE, size);
    let mut lines: Vec<String> = next.split_inclusive('\n').map(str::to_owned).collect();
    let flipped = if lines[1].starts_with('A') { "B" } else { "A" };
    lines[1].replace_range(0..1, flipped);
    assert_status(
        &w.add(&lines.concat()),
        422,
        "no consistency from size 8 to 13",
    );
    // None of the refusals moved the witness.
    assert_cosigned(&w, &next, &w.add(&next));
}

#[test]
fn a_forked_ledger_is_refused_with_409_then_422() {
    let a = TempLedger::standard();
    sign(&a);
    let b = fork(&a);
    let mut w = Witness::new("audit.example/witness", &[&log_key(&a)]);
    w.start();
    assert_eq!(log_key(&a), log_key(&b), "the fork has the same key");

    let first = body(&a, 0, STANDARD_SIZE);
    assert_cosigned(&w, &first, &w.add(&first));
    let size = grow(&a, "A", 4);
    assert_eq!(grow(&b, "B", 4), size);
    assert_cosigned(
        &w,
        &body(&a, STANDARD_SIZE, size),
        &w.add(&body(&a, STANDARD_SIZE, size)),
    );

    // The fork believes the witness is still at 8: 409 says where it is.
    let stale = w.add(&body(&b, STANDARD_SIZE, size));
    assert_eq!((stale.status, stale.body.as_str()), (409, "12\n"));
    // From there, its own tree of that size is not the one the witness cosigned.
    assert_status(
        &w.add(&body(&b, size, size)),
        422,
        "trees of equal size 12 have different roots",
    );
    let longer = grow(&b, "B2", 3);
    assert_status(
        &w.add(&body(&b, size, longer)),
        422,
        "no consistency from size 12 to 15",
    );
    // The honest history still extends.
    let longer_a = grow(&a, "A2", 3);
    let next = body(&a, size, longer_a);
    assert_cosigned(&w, &next, &w.add(&next));
}

/// Sizes at which each fork of the kill test signs a checkpoint.
const FORK_SIZES: [u64; 5] = [8, 10, 12, 14, 16];

/// Rounds of start, load, SIGKILL.
const KILL_ROUNDS: u64 = 12;

/// Every add-checkpoint body of one fork, by (old size, new size).
fn all_bodies(t: &TempLedger, tag: &str) -> BTreeMap<(u64, u64), String> {
    for (i, pair) in FORK_SIZES.windows(2).enumerate() {
        assert_eq!(
            grow(t, &format!("{tag}{i}"), (pair[1] - pair[0]) as usize),
            pair[1]
        );
    }
    let mut bodies = BTreeMap::new();
    for &new in &FORK_SIZES {
        for old in std::iter::once(0).chain(FORK_SIZES) {
            if old <= new {
                bodies.insert((old, new), body(t, old, new));
            }
        }
    }
    bodies
}

/// One request on a new connection: `None` when no answer came (the process died, or was
/// dead), with whether the request had been sent.
fn post_once(addr: SocketAddr, body: &str) -> Result<(u16, String), bool> {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return Err(false);
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let request = format!(
        "POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return Err(false);
    }
    let mut response = String::new();
    if stream.read_to_string(&mut response).is_err() || response.is_empty() {
        return Err(true);
    }
    let status = response[9..12].parse().unwrap();
    let body = response[response.find("\r\n\r\n").unwrap() + 4..].to_owned();
    Ok((status, body))
}

/// A log pushing its checkpoints at the witness until it stops answering: each 200 is
/// recorded with the checkpoint it cosigned; a 409 tells the log where the witness is.
fn push(
    addr: SocketAddr,
    fork: usize,
    bodies: &BTreeMap<(u64, u64), String>,
    cosigned: &Mutex<Vec<(usize, u64, String)>>,
    unanswered: &AtomicUsize,
) {
    let mut old = 0;
    loop {
        let new = FORK_SIZES
            .iter()
            .copied()
            .find(|&s| s > old)
            .unwrap_or(old.max(FORK_SIZES[0]));
        let Some(body) = bodies.get(&(old, new)) else {
            old = 0;
            continue;
        };
        match post_once(addr, body) {
            Ok((200, line)) => {
                let note = format!("{}{line}", note_of(body));
                cosigned.lock().unwrap().push((fork, new, note));
                old = new;
            }
            Ok((409, size)) => old = size.trim().parse().unwrap(),
            Ok((422, _)) => old = FORK_SIZES[FORK_SIZES.len() - 1],
            Ok((status, text)) => panic!("unexpected {status}: {text}"),
            Err(sent) => {
                if sent {
                    unanswered.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
        }
    }
}

#[test]
fn a_witness_killed_while_cosigning_never_cosigns_two_histories() {
    let a = TempLedger::standard();
    sign(&a);
    let b = fork(&a);
    let forks = [all_bodies(&a, "A"), all_bodies(&b, "B")];
    assert_ne!(forks[0][&(0, 16)], forks[1][&(0, 16)]);
    let mut w = Witness::new("audit.example/witness", &[&log_key(&a)]);
    let cosigned = Mutex::new(Vec::new());
    let unanswered = AtomicUsize::new(0);
    for round in 0..KILL_ROUNDS {
        let addr = w.start();
        std::thread::scope(|s| {
            for (fork, bodies) in forks.iter().enumerate() {
                let (cosigned, unanswered) = (&cosigned, &unanswered);
                s.spawn(move || push(addr, fork, bodies, cosigned, unanswered));
            }
            // Vary the moment: early in a start, in the middle of cosigning, later.
            std::thread::sleep(Duration::from_millis(10 + (round * 47) % 400));
            w.kill();
        });
    }
    let cosigned = cosigned.into_inner().unwrap();
    assert!(
        unanswered.load(Ordering::Relaxed) > 0,
        "some kill came while a request was being answered"
    );
    assert!(!cosigned.is_empty(), "the witness cosigned something");
    for (_, _, note) in &cosigned {
        w.key.verify_note(note).expect("every cosignature verifies");
    }
    // Beyond 8 the forks differ: only one of them may have been cosigned there.
    let beyond: Vec<usize> = cosigned
        .iter()
        .filter(|(_, size, _)| *size > STANDARD_SIZE)
        .map(|(fork, _, _)| *fork)
        .collect();
    assert!(
        beyond.windows(2).all(|pair| pair[0] == pair[1]),
        "cosigned both histories: {beyond:?}"
    );

    // After the last kill, the stored checkpoint is the winner's, at least as far as any
    // cosignature handed out, and the loser is still refused.
    w.start();
    let largest = cosigned.iter().map(|(_, size, _)| *size).max().unwrap();
    let stale = w.add(&forks[0][&(0, FORK_SIZES[0])]);
    let stored: u64 = match stale.status {
        409 => stale.body.trim().parse().unwrap(),
        _ => panic!(
            "a witness that cosigned is never at 0 again: {}",
            stale.body
        ),
    };
    assert!(stored >= largest, "stored {stored}, cosigned {largest}");
    // Only the stored history is cosigned again at the stored size.
    let accepted: Vec<usize> = (0..forks.len())
        .filter(|&fork| {
            let sent = &forks[fork][&(stored, stored)];
            let reply = w.add(sent);
            if reply.status == 200 {
                assert_cosigned(&w, sent, &reply);
            }
            reply.status == 200
        })
        .collect();
    if stored > STANDARD_SIZE {
        assert_eq!(accepted.len(), 1, "one history at {stored}: {accepted:?}");
        if let Some(&first) = beyond.first() {
            assert_eq!(
                accepted[0], first,
                "the history that was cosigned is stored"
            );
        }
    } else {
        assert_eq!(accepted, [0, 1], "size 8 is the same in both");
    }
}

#[test]
fn the_witness_commands_refuse_what_they_cannot_use() {
    let t = TempLedger::new();
    let mut w = Witness::new("audit.example/witness", &[]);
    let dir = path(w.dir.path()).to_owned();
    let again = witness_command(&["init", &dir, "--name", "audit.example/witness"]);
    again.assert_code(2);
    assert!(
        again.stderr.contains("already holds a witness key"),
        "{again:?}"
    );
    let key_file = w.dir.path().join("witness.key");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    witness_command(&["init", "/nonexistent-dir/x", "--name", "two words"]).assert_code(2);
    witness_command(&["trust", &dir, "--log", "not a key"]).assert_code(2);
    // A cosigner key is not a log key.
    witness_command(&["trust", &dir, "--log", &w.vkey]).assert_code(2);
    let added = witness_command(&["trust", &dir, "--log", &log_key(&t)]);
    added.assert_ok();
    let repeat = witness_command(&["trust", &dir, "--log", &log_key(&t)]);
    assert!(repeat.assert_ok().stdout.starts_with("already trusting"));
    let no_witness = tempfile::tempdir().unwrap();
    let missing = witness_command(&["serve", path(no_witness.path()), "--addr", "127.0.0.1:0"]);
    missing.assert_code(2);
    assert!(missing.stderr.contains("witness init"), "{missing:?}");

    w.start();
    let second = witness_command(&["serve", &dir, "--addr", "127.0.0.1:0"]);
    second.assert_code(3);
    assert!(
        second.stderr.contains("in use by another witness process"),
        "{second:?}"
    );
}

fn python_ready() -> bool {
    if std::env::var("FUNDTRAIL_SKIP_PYTHON_TESTS").as_deref() == Ok("1") {
        eprintln!("skipped: FUNDTRAIL_SKIP_PYTHON_TESTS=1");
        return false;
    }
    let present = || {
        Command::new("python3")
            .args(["-c", "import cryptography"])
            .output()
            .is_ok_and(|out| out.status.success())
    };
    if !present() {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/install-test-deps");
        let _ = Command::new("bash")
            .arg(script)
            .env("FUNDTRAIL_SKIP_BROWSER_TESTS", "1")
            .status();
    }
    assert!(
        present(),
        "python3 with cryptography is missing: run scripts/install-test-deps, \
         or set FUNDTRAIL_SKIP_PYTHON_TESTS=1 to skip this test"
    );
    true
}

fn python_check(note: &Path, witness: &str, log: Option<&str>) -> Run {
    let mut cmd = Command::new("python3");
    cmd.arg(VERIFIER).arg(note).arg(witness).args(log);
    let run = run_command(&mut cmd);
    assert!(!run.stderr.contains("Traceback"), "{run:?}");
    run
}

#[test]
fn a_cosignature_verifies_in_python_written_from_the_c2sp_text() {
    if !python_ready() {
        return;
    }
    let t = TempLedger::standard();
    sign(&t);
    let log = log_key(&t);
    let mut w = Witness::new("finance.example/witness", &[&log]);
    w.start();
    let sent = body(&t, 0, STANDARD_SIZE);
    let reply = w.add(&sent);
    assert_cosigned(&w, &sent, &reply);
    let note: PathBuf = t.file("cosigned.txt");
    std::fs::write(&note, format!("{}{}", note_of(&sent), reply.body)).unwrap();

    let ok = python_check(&note, &w.vkey, Some(&log));
    ok.assert_ok();
    assert!(ok.stdout.contains("at size 8"), "{ok:?}");

    let changed = t.file("changed.txt");
    let text = std::fs::read_to_string(&note).unwrap();
    std::fs::write(&changed, text.replacen("\n8\n", "\n9\n", 1)).unwrap();
    assert!(python_check(&changed, &w.vkey, None)
        .assert_code(1)
        .stdout
        .contains("does not verify"));
    let other = Witness::new("finance.example/witness", &[]);
    assert!(python_check(&note, &other.vkey, None)
        .assert_code(1)
        .stdout
        .contains("no cosignature by finance.example/witness"));
    // The log's key is not a cosigner key.
    python_check(&note, &log, None).assert_code(1);

    // FORMAT.md §13.2's example, byte for byte.
    let example = t.file("example.txt");
    std::fs::write(&example, FORMAT_EXAMPLE).unwrap();
    python_check(
        &example,
        "witness.example/w1+f2e73717+BEUIoHqpQXB/PrLblMiJeoCywRl0drbeITrCc999hsT/",
        Some("fundtrail.example/ledger+4ac1810b+ARl/ayPhbIUyxqvIOPrNXqeJvgx2spIDNAOb+os9No1h"),
    )
    .assert_ok();
}

/// The cosigned note of FORMAT.md §13.2.
const FORMAT_EXAMPLE: &str = "fundtrail.example/ledger
3
X2iWKcJUBsvhfiOq/TcAhCGVY4N3m7KWKFNB8qXQ62g=

\u{2014} fundtrail.example/ledger SsGBC9r7KWDRmPV6WGSuzALRpnGklrABYzzYXiIvTwxrjmZtFS8CtHy++NLMNyB1iF8i0YmCYK/7UpCWVZnTo0zKFQQ=
\u{2014} witness.example/w1 8uc3FwAAAABkGFDL/sS7+zVAcRUjt8rIyuE0S4s4pttoOYgdDpk9qOwlW7W4ysnmE9V1jgCFGiwMuaXNUOOy+JDB16W6uUAE71RYCw==
";
