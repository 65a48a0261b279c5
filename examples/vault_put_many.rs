//! Measures the personal-data vault (src/people/vault.rs) at the size of a large roll:
//! `put_many` of N new persons in one rewrite, opening the vault again, reading every
//! person back, and erasing one person (a rewrite of the whole vault). Prints the wall
//! time of each and the size of the vault's files.
//!
//! cargo run --release --example vault_put_many -- [PERSONS (default 100000)] [DIR]
//!
//! DIR (default: a new temporary directory) should be on the disk the ledger uses: each
//! rewrite syncs two files and the directory.

use std::path::Path;
use std::time::Instant;

use fundtrail::keys::identity::VaultKey;
use fundtrail::model::person::PersonId;
use fundtrail::people::identity::IdNumber;
use fundtrail::people::vault::{Clear, Entry, Vault};

/// Surnames and given-name characters the generated names are made of.
const SURNAMES: [&str; 8] = ["王", "李", "张", "刘", "陈", "杨", "赵", "欧阳"];
const GIVEN: [&str; 8] = ["秀", "英", "建", "国", "芳", "明", "华", "丽"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let persons: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let temp = tempfile::tempdir()?;
    let dir = match args.next() {
        Some(dir) => std::path::PathBuf::from(dir),
        None => temp.path().join("vault"),
    };
    let key = VaultKey::derive(&[42; 32]);
    let roll: Vec<(PersonId, Clear)> = (0..persons).map(person).collect::<Result<_, _>>()?;

    let mut vault = Vault::open(&dir, key.clone())?;
    let started = Instant::now();
    let written = vault.put_many(&roll)?;
    report("put_many", started, persons);
    assert_eq!(written, persons);
    println!("files: {}", sizes(&dir)?);

    let started = Instant::now();
    let vault = Vault::open(&dir, key.clone())?;
    report("open", started, persons);

    let started = Instant::now();
    for (id, clear) in &roll {
        assert_eq!(vault.get(id)?, Entry::Present(clear.clone()));
    }
    report("get (each person)", started, persons);

    let mut vault = vault;
    let started = Instant::now();
    vault.erase(&roll[0].0)?;
    report("erase (one person)", started, persons);
    Ok(())
}

fn report(what: &str, started: Instant, persons: usize) {
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{what}: {seconds:.3} s for {persons} persons ({:.0} persons/s)",
        persons as f64 / seconds
    );
}

fn person(i: usize) -> Result<(PersonId, Clear), Box<dyn std::error::Error>> {
    let id = PersonId::parse(&format!("P{i:07}"))?;
    let name = format!(
        "{}{}{}",
        SURNAMES[i % 8],
        GIVEN[(i / 8) % 8],
        GIVEN[(i / 64) % 8]
    );
    // Region 530103, born 1950-01-01 plus i mod 10000 days, sequence i mod 1000.
    let birth = chrono::NaiveDate::from_ymd_opt(1950, 1, 1).ok_or("date")?
        + chrono::Duration::days((i % 10_000) as i64);
    let first17 = format!("530103{}{:03}", birth.format("%Y%m%d"), i % 1000);
    let number = IdNumber::complete(&first17)?;
    Ok((id, Clear::new(&name, number)?))
}

fn sizes(dir: &Path) -> std::io::Result<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        out.push(format!(
            "{} {} bytes",
            entry.file_name().to_string_lossy(),
            entry.metadata()?.len()
        ));
    }
    out.sort();
    Ok(out.join(", "))
}
