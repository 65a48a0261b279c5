//! An insider with write access to the ledger directory but not the signing key edits the
//! records of the read-model snapshot (FORMAT.md §3.4) that a query reads alone: a
//! household shard and a totals cube record. An edit fails the record's seal; an older
//! copy put back keeps its seal but not the BLAKE3 the sealed core names. Either way the
//! query refuses it, `verify` reports it, and `rebuild` replaces it.

use std::path::{Path, PathBuf};

use fundtrail::ledger::readmodels::{
    cube_record, read_household, read_totals, shard_record, ReadSide, ReadSideError,
};
use fundtrail::ledger::Ledger;
use fundtrail_projections::{household_shard, GroupKey, TotalsQuery};

use crate::support::{binary, insider, run_command, Run};

const HOUSEHOLDS_CSV: &str = "\
household_id,subdistrict,community,category,members,enrolled_on
H1,拓东,A社区,bereaved,2,2018-01-01
H2,鼓楼,C社区,disabled,3,2018-01-01
";

const EVENTS_CSV: &str = "\
date,type,household_id,program,amount,persons,reference,memo
2018-01-02,fund_allocation,,support_allowance,10000.00,,ALLOC-1,区财政
2018-01-15,disbursement,H1,support_allowance,800.00,2,PAY-1,一月
2018-02-15,disbursement,H2,support_allowance,1200.00,3,PAY-2,二月
";

/// More payments to H1: its shard and every cube record change.
const MORE_CSV: &str = "\
date,type,household_id,program,amount,persons,reference,memo
2018-03-15,disbursement,H1,support_allowance,800.00,2,PAY-3,三月
";

fn fundtrail(ledger: &Path, args: &[&str]) -> Run {
    run_command(binary(ledger).args(args))
}

fn run_ok(ledger: &Path, args: &[&str]) -> String {
    let run = fundtrail(ledger, args);
    assert_eq!(run.code, 0, "fundtrail {args:?}\n{run:#?}");
    run.stdout
}

/// A ledger whose snapshot was saved by `import` (at the head).
fn ledger(root: &Path) -> PathBuf {
    let dir = root.join("ledger");
    run_ok(&dir, &["init"]);
    for (name, text, kind) in [
        ("households.csv", HOUSEHOLDS_CSV, "households"),
        ("events.csv", EVENTS_CSV, "events"),
    ] {
        let path = root.join(name);
        std::fs::write(&path, text).expect("write the CSV");
        run_ok(
            &dir,
            &["import", kind, path.to_str().expect("a UTF-8 path")],
        );
    }
    dir
}

fn import_more(root: &Path, dir: &Path) {
    let path = root.join("more.csv");
    std::fs::write(&path, MORE_CSV).expect("write the CSV");
    run_ok(
        dir,
        &["import", "events", path.to_str().expect("a UTF-8 path")],
    );
}

/// The sealed bytes of snapshot record `name`, straight from sled.
fn raw(dir: &Path, name: &str) -> Vec<u8> {
    let db = insider::open_db(dir);
    let value = insider::snapshot_record(&db, name).expect("the record is stored");
    insider::close_db(db, dir);
    value
}

fn put_raw(dir: &Path, name: &str, value: Vec<u8>) {
    let db = insider::open_db(dir);
    insider::put_snapshot_record(&db, name, &value);
    db.flush().expect("flush");
    insider::close_db(db, dir);
}

fn by_subdistrict() -> TotalsQuery {
    TotalsQuery {
        by: vec![GroupKey::Subdistrict],
        ..TotalsQuery::default()
    }
}

/// What the library's readers say about the records: the household query, the totals
/// query and a whole load each succeed or fail with the error they give.
fn readers(dir: &Path) -> [Result<(), ReadSideError>; 3] {
    let ledger = Ledger::open(dir).expect("open");
    let view = ledger.view();
    let outcome = [
        read_household(view, "H1").map(|_| ()),
        read_totals(view, &by_subdistrict()).map(|_| ()),
        ReadSide::open(view).map(|_| ()),
    ];
    ledger.close().expect("close");
    outcome
}

fn assert_refused(outcome: &Result<(), ReadSideError>, record: &str) {
    match outcome {
        Err(e @ ReadSideError::Unbound { name }) => {
            assert_eq!(name, record);
            assert!(e.to_string().contains("without the ledger's key"), "{e}");
        }
        Err(other) => panic!("expected {record} to be refused as unbound, got {other}"),
        Ok(()) => panic!("an older {record} was believed"),
    }
}

/// `verify` exits 1 naming the record; `rebuild` replaces it and the answers are right.
fn assert_verify_reports_and_rebuild_heals(dir: &Path, record: &str) {
    let run = fundtrail(dir, &["verify"]);
    assert_eq!(run.code, 1, "verify must fail: {run:#?}");
    assert!(
        run.stdout.contains(record) || run.stderr.contains(record),
        "verify names {record}: {run:#?}"
    );
    run_ok(dir, &["rebuild"]);
    run_ok(dir, &["verify"]);
    let json: serde_json::Value =
        serde_json::from_str(&run_ok(dir, &["household", "H1", "--json"])).expect("JSON");
    assert_eq!(json["total_payments"], 2, "{json}");
}

#[test]
fn an_older_household_shard_put_back_is_refused_and_verify_reports_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = ledger(root.path());
    let name = shard_record(household_shard("H1"));
    let older = raw(&dir, &name);
    import_more(root.path(), &dir);
    assert_ne!(raw(&dir, &name), older, "the payment changed H1's shard");

    put_raw(&dir, &name, older);
    let [household, totals, whole] = readers(&dir);
    assert_refused(&household, &name);
    assert!(totals.is_ok(), "totals read no shard: {totals:?}");
    assert_refused(&whole, &name);
    let run = fundtrail(&dir, &["household", "H1"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains(&name), "{}", run.stderr);
    assert_verify_reports_and_rebuild_heals(&dir, &name);
}

#[test]
fn an_older_cube_record_put_back_is_refused_and_verify_reports_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = ledger(root.path());
    let name = cube_record(None);
    let older = raw(&dir, &name);
    import_more(root.path(), &dir);

    put_raw(&dir, &name, older);
    let [household, totals, whole] = readers(&dir);
    assert!(
        household.is_ok(),
        "a household reads no cube: {household:?}"
    );
    assert_refused(&totals, &name);
    assert_refused(&whole, &name);
    let run = fundtrail(&dir, &["totals", "--by", "subdistrict"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert_verify_reports_and_rebuild_heals(&dir, &name);
}

#[test]
fn an_edited_shard_or_year_record_fails_its_seal() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = ledger(root.path());
    for name in [shard_record(household_shard("H2")), cube_record(Some(2018))] {
        let mut value = raw(&dir, &name);
        value[0] ^= 0x01;
        put_raw(&dir, &name, value);
    }
    let ledger = Ledger::open(&dir).expect("open");
    let view = ledger.view();
    let err = read_household(view, "H2").expect_err("the edited shard is refused");
    assert!(
        err.to_string().contains("without the ledger's key"),
        "{err}"
    );
    let by_month = TotalsQuery {
        by: vec![GroupKey::Month],
        ..TotalsQuery::default()
    };
    let err = read_totals(view, &by_month).expect_err("the edited year is refused");
    assert!(
        err.to_string().contains("without the ledger's key"),
        "{err}"
    );
    // The all-time record was not touched: a query of its shape is answered.
    assert_eq!(
        read_totals(view, &by_subdistrict())
            .expect("all time")
            .len(),
        2
    );
    ledger.close().expect("close");
    let run = fundtrail(&dir, &["verify"]);
    assert_eq!(run.code, 1, "{run:#?}");
}

/// The sealed core as bincode lays it out: its data, then its directory's fields.
#[derive(serde::Serialize, serde::Deserialize)]
struct ForgedCore {
    data: fundtrail_projections::CoreData,
    shards: Vec<[u8; 32]>,
    all_time: [u8; 32],
    years: std::collections::BTreeMap<i32, [u8; 32]>,
}

/// The unsealed bytes of the snapshot's record `wanted`.
fn unsealed(dir: &Path, wanted: &str) -> Vec<u8> {
    use fundtrail::ledger::readmodels::stored_records;
    let ledger = Ledger::open(dir).expect("open");
    let records = stored_records(ledger.view()).expect("the snapshot's records");
    ledger.close().expect("close");
    records
        .into_iter()
        .find(|(n, _)| n == wanted)
        .expect("the record is stored")
        .1
}

/// With the key, record `name` as it was before [`MORE_CSV`] is put back and the core's
/// directory made to name it (`bind` sets its digest there): every record is bound.
fn forge_older(root: &Path, dir: &Path, name: &str, bind: fn(&mut ForgedCore, [u8; 32])) {
    use fundtrail::ledger::readmodels::META_READ_MODELS;
    let older = unsealed(dir, name);
    import_more(root, dir);
    let core = unsealed(dir, META_READ_MODELS);
    let mut forged: ForgedCore = bincode::deserialize(&core[1..]).expect("the core decodes");
    bind(&mut forged, *blake3::hash(&older).as_bytes());
    let mut core_bytes = vec![core[0]];
    core_bytes.extend(bincode::serialize(&forged).expect("the core encodes"));
    let ledger = Ledger::open(dir).expect("open");
    ledger
        .put_metas(vec![
            (name.to_owned(), older),
            (META_READ_MODELS.to_owned(), core_bytes),
        ])
        .expect("the insider holds the key");
    ledger.close().expect("close");
    assert!(
        readers(dir).iter().all(Result::is_ok),
        "the forgery is bound"
    );
}

/// `verify` fails naming `name` among the read models' records, not the findings.
fn assert_verify_names_forged(dir: &Path, name: &str) {
    let run = fundtrail(dir, &["--json", "verify"]);
    assert_eq!(run.code, 1, "verify must fail: {run:#?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let reason = json["read_models"].as_str().expect("a reason").to_owned();
    assert!(reason.contains("maintained read models"), "{reason}");
    assert!(reason.contains(&format!("({name})")), "{reason}");
    assert!(!reason.contains("findings"), "{reason}");
    assert_verify_reports_and_rebuild_heals(dir, name);
}

/// What the seals cannot catch, `verify` does: with the key, an older household shard is
/// put back and the core's directory made to name it. Every record is bound, so a query
/// believes it; `verify` compares the records with a rebuild's at the core's seq and names
/// the shard (and no other record, nor the findings).
#[test]
fn a_shard_forged_with_the_key_is_named_by_verify() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = ledger(root.path());
    let name = shard_record(household_shard("H1"));
    forge_older(root.path(), &dir, &name, |core, digest| {
        let shard = usize::from(household_shard("H1"));
        assert_ne!(core.shards[shard], digest, "the payment changed H1's shard");
        core.shards[shard] = digest;
    });
    assert_verify_names_forged(&dir, &name);
}

/// Likewise a cube record, which `totals` answers from alone: `verify` derives the
/// rebuild's cube and names the record.
#[test]
fn a_cube_record_forged_with_the_key_is_named_by_verify() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = ledger(root.path());
    let name = cube_record(None);
    forge_older(root.path(), &dir, &name, |core, digest| {
        assert_ne!(
            core.all_time, digest,
            "the payment changed the all-time cube"
        );
        core.all_time = digest;
    });
    assert_verify_names_forged(&dir, &name);
}

/// A rebuild rewrites only the records that differ from what is stored or do not read back
/// bound; a removed shard and an edited year record are both of those, and come back.
#[test]
fn a_removed_shard_and_an_edited_year_record_are_rewritten_by_rebuild() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = ledger(root.path());
    let shard = shard_record(household_shard("H1"));
    let year = cube_record(Some(2018));
    let mut value = raw(&dir, &year);
    value[0] ^= 0x01;
    put_raw(&dir, &year, value);
    {
        let db = insider::open_db(&dir);
        db.remove(insider::snapshot_key(&shard)).expect("remove");
        db.flush().expect("flush");
        insider::close_db(db, &dir);
    }
    let run = fundtrail(&dir, &["verify"]);
    assert_eq!(run.code, 1, "verify must fail: {run:#?}");
    run_ok(&dir, &["rebuild"]);
    run_ok(&dir, &["verify"]);
    assert!(!raw(&dir, &shard).is_empty(), "the shard is stored again");
    let [household, totals, whole] = readers(&dir);
    assert!(household.is_ok(), "{household:?}");
    assert!(totals.is_ok(), "{totals:?}");
    assert!(whole.is_ok(), "{whole:?}");
}

/// A packed shard whose stored value no longer unpacks (its Zstandard frame cut short) is
/// damage, not a record of other bytes: the household query fails naming the record,
/// `verify` names it, and `rebuild` stores it again.
#[test]
fn a_packed_shard_that_does_not_unpack_is_refused_and_rewritten_by_rebuild() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = ledger(root.path());
    let shard = shard_record(household_shard("H1"));
    {
        let db = insider::open_db(&dir);
        let key = insider::snapshot_key(&shard);
        let stored = db.get(&key).expect("read").expect("the shard is stored");
        assert_eq!(stored[0], 0x02, "a shard is stored compressed");
        db.insert(&key, &stored[..stored.len() - 4]).expect("write");
        db.flush().expect("flush");
        insider::close_db(db, &dir);
    }
    let [household, _, whole] = readers(&dir);
    for outcome in [household, whole] {
        let err = outcome.expect_err("the shard is refused");
        assert!(err.to_string().contains(&shard), "{err}");
    }
    let run = fundtrail(&dir, &["verify"]);
    assert_eq!(run.code, 1, "verify must fail: {run:#?}");
    assert!(
        run.stdout.contains(&shard),
        "verify names {shard}: {run:#?}"
    );
    run_ok(&dir, &["rebuild"]);
    run_ok(&dir, &["verify"]);
    assert!(!raw(&dir, &shard).is_empty(), "the shard unpacks again");
    let [household, _, whole] = readers(&dir);
    assert!(
        household.is_ok() && whole.is_ok(),
        "{household:?} {whole:?}"
    );
}
