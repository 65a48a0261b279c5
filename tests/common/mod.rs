//! Helpers shared by the integration tests: temporary ledgers, CSV files, running the
//! binary, and reading or tampering with the sled database directly, as an insider with
//! file access could (the key layout is in src/store.rs).

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use fundtrail::domain::Seq;
use fundtrail::import::{CsvFile, ImportKind};
use fundtrail::ledger::{AppendContext, AppendSummary, Ledger, VerifyReport};

pub const HOUSEHOLDS_HEADER: &str =
    "household_id,subdistrict,community,category,members,enrolled_on";
pub const EVENTS_HEADER: &str = "date,type,household_id,program,amount,persons,reference,memo";

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
        drop(Ledger::init(&t.dir).expect("init a fresh ledger"));
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

    pub fn open(&self) -> Ledger {
        Ledger::open(&self.dir).expect("open the ledger")
    }

    /// Opens the ledger and verifies it.
    pub fn verify(&self) -> VerifyReport {
        self.open().verify(|_| {}).expect("verify runs")
    }

    /// Runs the binary against this ledger.
    pub fn run(&self, args: &[&str]) -> Run {
        run_binary(&self.dir, args)
    }

    /// `fundtrail import <kind> <file>`.
    pub fn import(&self, kind: &str, file: &Path) -> Run {
        let file = file.to_str().expect("temporary paths are UTF-8");
        self.run(&["import", kind, file])
    }

    /// Writes `rows` under the events header to a file and imports it with the binary.
    pub fn import_events<S: AsRef<str>>(&self, rows: &[S]) -> (PathBuf, Run) {
        let path = self.write_csv("events.csv", ImportKind::Events, rows);
        let run = self.import("events", &path);
        (path, run)
    }

    pub fn import_households<S: AsRef<str>>(&self, rows: &[S]) -> (PathBuf, Run) {
        let path = self.write_csv("households.csv", ImportKind::Households, rows);
        let run = self.import("households", &path);
        (path, run)
    }

    /// The sled database under the ledger, opened directly. No `Ledger` may be open.
    pub fn sled(&self) -> sled::Db {
        sled::open(self.dir.join("sled")).expect("open the ledger's sled database directly")
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

    /// The stored value of event `seq` (32-byte hash ‖ record bytes).
    pub fn raw_event(&self, seq: u64) -> Vec<u8> {
        self.sled()
            .get(event_key(seq))
            .expect("read an event")
            .expect("the event exists")
            .to_vec()
    }

    /// Replaces the stored value of event `seq`.
    pub fn put_raw_event(&self, seq: u64, value: &[u8]) {
        let db = self.sled();
        db.insert(event_key(seq), value).expect("write an event");
        db.flush().expect("flush");
    }

    /// Removes event `seq` (only the event, not its index entries).
    pub fn remove_raw_event(&self, seq: u64) {
        let db = self.sled();
        db.remove(event_key(seq)).expect("remove an event");
        db.flush().expect("flush");
    }
}

/// The key of event `seq`: `e` then the seq as a big-endian u64.
pub fn event_key(seq: u64) -> Vec<u8> {
    let mut key = vec![b'e'];
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// A full copy of the database's keys and values, for byte-for-byte comparisons.
#[derive(Clone, PartialEq, Eq)]
pub struct Dump(pub Vec<(Vec<u8>, Vec<u8>)>);

impl Dump {
    pub fn events(&self) -> usize {
        self.0
            .iter()
            .filter(|(k, _)| k.first() == Some(&b'e'))
            .count()
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

/// The context every library append in the tests uses: a fixed actor, the current time.
pub fn ctx() -> AppendContext {
    AppendContext::now(ACTOR)
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

pub fn run_binary(ledger: &Path, args: &[&str]) -> Run {
    let out = binary(ledger)
        .args(args)
        .output()
        .expect("run the fundtrail binary");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The binary, pointed at `ledger`, with a fixed actor and no inherited ledger settings.
pub fn binary(ledger: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fundtrail"));
    cmd.env("FUNDTRAIL_LEDGER", ledger)
        .env("FUNDTRAIL_ACTOR", ACTOR)
        .env_remove("RUST_BACKTRACE");
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
        .lookup_reference(reference)
        .expect("look up a reference")
}
