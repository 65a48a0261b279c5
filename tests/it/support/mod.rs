//! Helpers shared by the integration tests: temporary ledgers, CSV files, the one way to
//! run the binary, and reading or tampering with the sled database directly, as an insider
//! with file access could (the key layout is in FORMAT.md §3).
//!
//! Every handle a test opens is closed before the next user may open the same ledger:
//! `Ledger::close` (or [`Held`], which closes on drop, or [`insider::close_db`]) returns
//! only once sled has let go of its locks, so a direct sled reader or a child process
//! never finds it "in use".
//!
//! No gate keeps tests from starting children while a ledger is open. A child started by
//! one test holds copies of every descriptor the process has open, other tests' ledger
//! locks included, until its `exec` closes them. That matters only to the next opener of a
//! ledger just closed, and each opener waits: `close` until every copy is gone; the
//! library's own open for a `LOCK` naming this process or its parent (`take_lock` in
//! src/store.rs) and for sled's lock; a child of this process, for the same reasons.

pub mod client;
pub mod forge;
pub mod insider;
pub mod ledger;
pub mod server;

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use fundtrail::ledger::import::{CsvFile, ImportKind};
use fundtrail::ledger::{AppendContext, AppendSummary, Ledger, VerifyReport};
use fundtrail::model::domain::Seq;

pub const HOUSEHOLDS_HEADER: &str =
    "household_id,subdistrict,community,category,members,enrolled_on";
pub const EVENTS_HEADER: &str = "date,type,household_id,program,amount,persons,reference,memo";

/// A ledger or sled handle that is closed when dropped: its locks are free by then.
pub struct Held<T: Close> {
    value: Option<T>,
    /// The ledger directory the handle is open on.
    dir: PathBuf,
}

/// A handle on the ledger in a directory that can be closed, returning once its locks are
/// released.
pub trait Close {
    fn close(self, dir: &Path);
}

impl Close for Ledger {
    fn close(self, _: &Path) {
        Ledger::close(self).expect("the ledger closes");
    }
}

impl Close for sled::Db {
    fn close(self, dir: &Path) {
        insider::close_db(self, dir);
    }
}

impl<T: Close> Held<T> {
    /// The handle itself, no longer closed on drop: the test closes it, or means to drop it.
    pub fn into_inner(mut self) -> T {
        self.value.take().expect("present until dropped")
    }
}

impl<T: Close> std::ops::Deref for Held<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value.as_ref().expect("present until dropped")
    }
}

impl<T: Close> std::ops::DerefMut for Held<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value.as_mut().expect("present until dropped")
    }
}

impl<T: Close> Drop for Held<T> {
    fn drop(&mut self) {
        if let Some(value) = self.value.take() {
            // Closing again inside a failing test's unwinding would only hide its message.
            if !std::thread::panicking() {
                value.close(&self.dir);
            }
        }
    }
}

/// Wraps a handle open on the ledger in `dir` so that dropping it closes it.
pub fn held<T: Close>(dir: &Path, value: T) -> Held<T> {
    Held {
        value: Some(value),
        dir: dir.to_owned(),
    }
}

/// Opens a ledger, to be closed when dropped.
pub fn open_ledger(dir: &Path) -> Held<Ledger> {
    held(dir, Ledger::open(dir).expect("open the ledger"))
}

/// The actor the tests record as.
pub const ACTOR: &str = "测试员";

/// Households of [`TempLedger::standard`].
pub const STANDARD_HOUSEHOLDS: &[&str] = &[
    "PL-0001,拓东,拓东第1社区,bereaved,2,2014-03-01",
    "PL-0002,鼓楼,鼓楼第2社区,失独,1,2014-05-10",
    "PL-0003,龙泉,龙泉第1社区,disabled,3,2015-06-01",
];

/// Events of [`TempLedger::standard`]: support_allowance has 1000.00 allocated and 100.00
/// live (BANK-1; BANK-2 is reversed), holiday_condolence has 300.00 allocated and unused.
pub const STANDARD_EVENTS: &[&str] = &[
    "2015-01-05,fund_allocation,,support_allowance,1000.00,,ALLOC-SA,区财政",
    "2015-01-05,fund_allocation,,holiday_condolence,300.00,,ALLOC-HC,市计生协",
    "2015-01-31,disbursement,PL-0001,support_allowance,100.00,2,BANK-1,2015年1月扶助金",
    "2015-01-31,disbursement,PL-0002,support_allowance,50.00,1,BANK-2,2015年1月扶助金",
    "2015-02-02,reversal,PL-0002,support_allowance,50.00,1,BANK-2,重复支付",
];

/// Seqs of [`TempLedger::standard`]: 3 enrollments, then the 5 events above.
pub const STANDARD_SIZE: u64 = 8;

/// A ledger directory inside a temporary directory that also holds the test's input files.
pub struct TempLedger {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

impl TempLedger {
    /// A temporary directory with no ledger in it yet.
    pub fn uninitialized() -> TempLedger {
        let tmp = tempfile::tempdir().expect("create a temporary directory");
        let dir = tmp.path().join("ledger");
        TempLedger { tmp, dir }
    }

    /// An empty ledger.
    pub fn new() -> TempLedger {
        let t = TempLedger::uninitialized();
        Ledger::init(&t.dir)
            .expect("init a fresh ledger")
            .close()
            .expect("the new ledger closes");
        t
    }

    /// A ledger holding [`STANDARD_HOUSEHOLDS`] and [`STANDARD_EVENTS`].
    pub fn standard() -> TempLedger {
        let t = TempLedger::new();
        t.append_csv(ImportKind::Households, STANDARD_HOUSEHOLDS);
        let summary = t.append_csv(ImportKind::Events, STANDARD_EVENTS);
        assert_eq!(summary.head.size, STANDARD_SIZE);
        t
    }

    /// A path for an input file, outside the ledger directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Writes a CSV file with the header for `kind` and the given rows.
    pub fn write_csv<S: AsRef<str>>(&self, name: &str, kind: ImportKind, rows: &[S]) -> PathBuf {
        let header = kind.columns().join(",");
        let mut text = String::with_capacity(64 * (rows.len() + 1));
        text.push_str(&header);
        text.push('\n');
        for row in rows {
            text.push_str(row.as_ref());
            text.push('\n');
        }
        self.write_file(name, &text)
    }

    pub fn write_file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.file(name);
        std::fs::write(&path, contents).expect("write an input file");
        path
    }

    /// Appends CSV rows through the library (fast setup), panicking on any rejection.
    pub fn append_csv<S: AsRef<str>>(&self, kind: ImportKind, rows: &[S]) -> AppendSummary {
        let path = self.write_csv("setup.csv", kind, rows);
        let mut ledger = self.open();
        ledger
            .append_rows(&mut CsvFile::new(&path, kind), &ctx())
            .expect("setup rows are valid")
    }

    pub fn open(&self) -> Held<Ledger> {
        open_ledger(&self.dir)
    }

    /// Opens the ledger and verifies it.
    pub fn verify(&self) -> VerifyReport {
        self.open().view().verify(|_| {}).expect("verify runs")
    }

    /// Runs the binary against this ledger.
    pub fn run(&self, args: &[&str]) -> Run {
        run(&self.dir, args)
    }

    /// `fundtrail import <kind> <file>`.
    pub fn import(&self, kind: &str, file: &Path) -> Run {
        let file = file.to_str().expect("temporary paths are UTF-8");
        self.run(&["import", kind, file])
    }

    /// Imports `file` twice more, checking that each run appends nothing and says so, and
    /// that the ledger's log, indexes, head and budgets stay byte-for-byte the same. The
    /// first run may refresh the read-model cache; the second, in a steady state, leaves
    /// every byte alone.
    pub fn assert_reimport_is_no_op(&self, kind: &str, file: &Path, rows: usize) {
        let before = self.dump();
        let said = format!("nothing to append: all {rows} row(s) are already in the ledger");
        let run = self.import(kind, file);
        run.assert_ok();
        assert!(run.stdout.contains(&said), "{run:#?}");
        let after = self.dump();
        assert_eq!(after.without_read_models(), before.without_read_models());
        let run = self.import(kind, file);
        run.assert_ok();
        assert!(run.stdout.contains(&said), "{run:#?}");
        assert_eq!(
            self.dump(),
            after,
            "a second no-op import changed the ledger"
        );
    }

    /// The sled database under the ledger, opened directly. No `Ledger` may be open.
    pub fn sled(&self) -> Held<sled::Db> {
        held(&self.dir, insider::open_db(&self.dir))
    }

    /// Every key and value in the database, in key order.
    pub fn dump(&self) -> Dump {
        let db = self.sled();
        let pairs = db
            .iter()
            .map(|item| {
                let (k, v) = item.expect("read a key");
                (k.to_vec(), v.to_vec())
            })
            .collect();
        Dump(pairs)
    }

    /// Event `seq` as stored: its 32-byte hash ‖ record bytes.
    pub fn raw_event(&self, seq: u64) -> Vec<u8> {
        let (hash, record) = insider::read_event(&self.sled(), seq);
        [&hash.as_bytes()[..], &record].concat()
    }

    /// Replaces event `seq` with `value` (a 32-byte hash ‖ record bytes) in its block.
    pub fn put_raw_event(&self, seq: u64, value: &[u8]) {
        let db = self.sled();
        let (hash, record) = value.split_at(32);
        let hash =
            fundtrail::model::domain::EventHash::from_bytes(hash.try_into().expect("32 bytes"));
        insider::write_event(&db, seq, &hash, record);
        db.flush().expect("flush");
    }

    /// Removes event `seq` (only the event, not its index entries).
    pub fn remove_raw_event(&self, seq: u64) {
        let db = self.sled();
        insider::remove_event(&db, seq);
        db.flush().expect("flush");
    }
}

/// A full copy of the database's keys and values, for byte-for-byte comparisons.
#[derive(Clone, PartialEq, Eq)]
pub struct Dump(pub Vec<(Vec<u8>, Vec<u8>)>);

/// The meta record caching the read models (src/readside.rs): never evidence, and
/// rewritten after a successful import, even one that appends nothing, when it lags.
pub const READ_MODELS_KEY: &[u8] = b"mread_models";

/// The meta record caching the findings (`ledger::readmodels::findings`), saved beside
/// the read models and under the same policy.
pub const FINDINGS_KEY: &[u8] = b"mfindings";

impl Dump {
    /// Everything but the read-model and findings caches (their records, plain `m‖name` or
    /// packed `z‖name`, the read models' shards and cube records, or their chunks
    /// `s‖name‖0x00‖index` when large): the log, its indexes, the head and budgets.
    pub fn without_read_models(&self) -> Dump {
        let cache = |k: &[u8]| {
            let plain = match k.split_first() {
                Some((b'z', name)) => [b"m".as_slice(), name].concat(),
                _ => k.to_vec(),
            };
            let k = plain.as_slice();
            [READ_MODELS_KEY, FINDINGS_KEY].contains(&k)
                || k.starts_with(b"mread_models.")
                || [&b"sread_models"[..], b"sfindings\0"]
                    .iter()
                    .any(|chunk| k.starts_with(chunk))
        };
        Dump(self.0.iter().filter(|(k, _)| !cache(k)).cloned().collect())
    }

    /// Events stored in the dump's event blocks.
    pub fn events(&self) -> usize {
        self.0
            .iter()
            .filter(|(k, _)| k.first() == Some(&b'e'))
            .map(|(_, v)| {
                let block = fundtrail::store::block::decode_stored(v).expect("a stored block");
                fundtrail::store::block::event_entries(&block).count()
            })
            .sum()
    }
}

impl std::fmt::Debug for Dump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A full dump is unreadable in a failure message; the size and a digest suffice.
        let mut hasher = blake3::Hasher::new();
        for (k, v) in &self.0 {
            hasher.update(&(k.len() as u64).to_le_bytes());
            hasher.update(k);
            hasher.update(&(v.len() as u64).to_le_bytes());
            hasher.update(v);
        }
        write!(
            f,
            "Dump({} keys, {} events, digest {})",
            self.0.len(),
            self.events(),
            &hasher.finalize().to_hex()[..16]
        )
    }
}

/// 2023-11-14T22:13:20Z, the recording time of every library append in the tests.
pub const NOW_US: i64 = 1_700_000_000_000_000;

/// The context every library append in the tests uses: a fixed actor and time, so that
/// ledgers built the same way hold the same bytes.
pub fn ctx() -> AppendContext {
    AppendContext {
        actor: ACTOR.into(),
        now_us: NOW_US,
    }
}

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn assert_ok(&self) -> &Run {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "expected exit code {code}: {self:#?}");
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

impl Run {
    /// What a finished child produced; its output must be UTF-8, as the binary promises.
    pub fn from_output(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).expect("the binary writes UTF-8 to stdout"),
            stderr: String::from_utf8(out.stderr).expect("the binary writes UTF-8 to stderr"),
        }
    }
}

/// Runs `cmd` (from [`binary`] or [`binary_without_ledger`], changed by the test) to the
/// end, with no stdin: the one way the tests run the binary and wait for it.
pub fn run_command(cmd: &mut Command) -> Run {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .expect("run the fundtrail binary");
    Run::from_output(out)
}

/// Starts a child process the test drives itself (a server, a child to kill).
pub fn spawn(cmd: &mut Command) -> Child {
    cmd.spawn().expect("start a child process")
}

/// Runs the binary on `ledger` with `args`.
pub fn run(ledger: &Path, args: &[&str]) -> Run {
    run_command(binary(ledger).args(args))
}

/// `audit verify-export DIR --key KEY`, the offline export verifier, with text output.
pub fn audit_verify_export(dir: &Path, key: &str) -> Run {
    run_command(binary_without_ledger().args(verify_export_args(dir, key)))
}

/// [`audit_verify_export`] with `--json` output.
pub fn audit_verify_export_json(dir: &Path, key: &str) -> Run {
    run_command(
        binary_without_ledger()
            .arg("--json")
            .args(verify_export_args(dir, key)),
    )
}

fn verify_export_args<'a>(dir: &'a Path, key: &'a str) -> [&'a OsStr; 5] {
    [
        "audit".as_ref(),
        "verify-export".as_ref(),
        dir.as_os_str(),
        "--key".as_ref(),
        key.as_ref(),
    ]
}

/// The binary with a fixed actor and no inherited ledger settings or backtraces.
pub fn binary_without_ledger() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fundtrail"));
    cmd.env_remove("FUNDTRAIL_LEDGER")
        .env("FUNDTRAIL_ACTOR", ACTOR)
        .env_remove("RUST_BACKTRACE");
    cmd
}

/// The binary, pointed at `ledger`, with a fixed actor and no inherited ledger settings.
pub fn binary(ledger: &Path) -> Command {
    let mut cmd = binary_without_ledger();
    cmd.env("FUNDTRAIL_LEDGER", ledger);
    cmd
}

/// `n` distinct valid payment rows for the standard households, 0.01 each, in
/// support_allowance (which must have at least `n` fen left), with references `{tag}-{i}`.
pub fn payment_rows(tag: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let household = ["PL-0001", "PL-0002"][i % 2];
            let mut row = String::new();
            write!(
                row,
                "2015-03-01,disbursement,{household},support_allowance,0.01,1,{tag}-{i},批量"
            )
            .expect("writing to a String cannot fail");
            row
        })
        .collect()
}

/// The seq a reference is recorded under, through the library.
pub fn lookup(ledger: &Ledger, reference: &str) -> Option<Seq> {
    ledger
        .view()
        .lookup_reference(reference)
        .expect("look up a reference")
}

/// Checks the indexes against the log: every reference entry names a committed event
/// carrying that reference, every household entry a committed enrollment of that
/// household, and no event lies beyond the head.
pub fn check_indexes(t: &TempLedger) {
    let dump = t.dump();
    let ledger = t.open();
    let view = ledger.view();
    let size = view.head().size;
    let seq_of = |bytes: &[u8]| u64::from_be_bytes(bytes.try_into().expect("an 8-byte seq"));
    for (key, value) in &dump.0 {
        match key[0] {
            b'e' => {
                let block = fundtrail::store::block::decode_stored(value).expect("a stored block");
                let count = fundtrail::store::block::event_entries(&block).count() as u64;
                let last = seq_of(&key[1..]) + count - 1;
                assert!(last <= size, "event {last} beyond the head");
            }
            b'r' => {
                let first = seq_of(&key[1..]);
                let block = fundtrail::store::block::decode_stored(value).expect("a stored block");
                for (i, reference) in fundtrail::store::block::reference_entries(&block).enumerate()
                {
                    let reference = reference.expect("an intact reference block");
                    let seq = first + i as u64;
                    assert!(seq <= size, "reference {reference} points beyond the head");
                    let record = view.record(Seq::new(seq)).expect("a readable record");
                    assert_eq!(
                        record.reference, reference,
                        "reference index entry of seq {seq}"
                    );
                }
            }
            b'h' => {
                let household = std::str::from_utf8(&key[1..]).expect("UTF-8 household");
                let seq = seq_of(value);
                assert!(seq <= size, "household {household} points beyond the head");
                let record = view.record(Seq::new(seq)).expect("a readable record");
                assert_eq!(
                    record.body.household(),
                    Some(household),
                    "household index entry of seq {seq}"
                );
            }
            _ => {}
        }
    }
}

/// A valid identity number of Panlong district (530103) born on `birth` (YYYYMMDD), with a
/// sequence whose last digit is even for a woman and odd for a man.
pub fn id_number(birth: &str, sequence: u32, female: bool) -> String {
    let sequence = sequence * 2 + u32::from(!female);
    let first = format!("530103{birth}{sequence:03}");
    fundtrail::people::identity::IdNumber::complete(&first)
        .unwrap()
        .expose()
        .to_owned()
}
