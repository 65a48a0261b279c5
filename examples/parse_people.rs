//! The baseline of the people benchmark (scripts/bench-people): reads a persons file or a
//! death register with the `csv` crate and validates each row's identity number
//! (GB 11643: length, digits, province, birth date, check character; for a person also
//! the birth date and the sex digit against the role), and nothing else: no ledger, no
//! keyed hash, no vault. What `import persons` and `import deaths` spend beyond this is
//! the ledger's.
//!
//! Usage: cargo run --release --example parse_people -- persons|deaths FILE

use std::process::ExitCode;
use std::time::Instant;

use fundtrail::model::person::{check_identity, Role};
use fundtrail::people::identity::IdNumber;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(kind), Some(file)) = (args.first(), args.get(1)) else {
        eprintln!("usage: parse_people persons|deaths FILE");
        return ExitCode::from(2);
    };
    let started = Instant::now();
    let result = match kind.as_str() {
        "persons" => parse(file, check_person),
        "deaths" => parse(file, |_, _| Ok(())),
        _ => Err(format!("{kind}: not persons or deaths")),
    };
    match result {
        Ok(rows) => {
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "{file}: {rows} rows parsed in {seconds:.3} s ({:.0} rows/s)",
                rows as f64 / seconds
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("parse_people: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The rows of `file`, each number validated and then handed to `more` with its row.
fn parse(
    file: &str,
    more: impl Fn(&IdNumber, &csv::StringRecord) -> Result<(), String>,
) -> Result<u64, String> {
    let mut reader = csv::Reader::from_path(file).map_err(|e| format!("{file}: {e}"))?;
    let column = reader
        .headers()
        .map_err(|e| format!("{file}: {e}"))?
        .iter()
        .position(|c| c.trim_start_matches('\u{feff}') == "id_number")
        .ok_or(format!("{file}: no id_number column"))?;
    let mut rows = 0;
    let mut record = csv::StringRecord::new();
    while reader
        .read_record(&mut record)
        .map_err(|e| format!("{file}: {e}"))?
    {
        rows += 1;
        let line = rows + 1;
        let number = IdNumber::parse(record.get(column).unwrap_or(""))
            .map_err(|e| format!("{file}:{line}: id_number: {e}"))?;
        more(&number, &record).map_err(|e| format!("{file}:{line}: {e}"))?;
    }
    Ok(rows)
}

/// A persons row (PERSON_COLUMNS): the number's birth date and sex digit against the
/// row's `birth_date` (column 6) and `role` (column 5).
fn check_person(number: &IdNumber, record: &csv::StringRecord) -> Result<(), String> {
    let role = Role::parse(record.get(4).unwrap_or("").trim()).map_err(|e| format!("role: {e}"))?;
    let birth = chrono::NaiveDate::parse_from_str(record.get(5).unwrap_or("").trim(), "%Y-%m-%d")
        .map_err(|e| format!("birth_date: {e}"))?;
    check_identity(number, role, birth).map_err(|e| format!("id_number: {e}"))
}
