//! Writes the people benchmark's deterministic workload as import files (benches/README.md,
//! "The roll and a death register"; run by scripts/bench-people):
//!
//! - `households.csv`: PERSONS × 2 / 5 households, enrolled 2014 to 2016, every one
//!   bereaved (失独), each `members` its persons;
//! - `rates.csv` and `events.csv`: the support allowance's rate and one allocation that
//!   pays it, so that the allowance run can pay the roll;
//! - `persons.csv`: PERSONS persons, two households in a row holding a mother, a father and a
//!   child, then a mother and a father; valid GB 11643 numbers of region 530103 (Panlong),
//!   the sex digit agreeing with the role, parents born 1950 to 1969 (all 49 or over);
//! - `deaths.csv`: REGISTER_ROWS rows of a death register, every 50th (2%) naming a person
//!   of the roll, dead in 2026-06 to 2026-09; the rest distinct numbers of regions
//!   530111, 530112, ..., which match nobody.
//!
//! Usage: cargo run --release --example gen_people -- OUT_DIR PERSONS REGISTER_ROWS

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use chrono::{Duration, NaiveDate};
use fundtrail::people::identity::IdNumber;

/// Surnames and given-name characters the generated names are made of.
const SURNAMES: [&str; 8] = ["王", "李", "张", "刘", "陈", "杨", "赵", "欧阳"];
const GIVEN: [&str; 8] = ["秀", "英", "建", "国", "芳", "明", "华", "丽"];
/// Birth dates spread over this many days (about 20 years) from their first day.
const BIRTH_DAYS: u64 = 7_300;
/// Sequence numbers (the first two digits of the 3-digit sequence) per birth day and sex.
const SEQUENCES: u64 = 100;
/// Persons whose numbers stay distinct: one per birth day and sequence.
const MAX_PERSONS: u64 = BIRTH_DAYS * SEQUENCES;
/// Persons in each pair of households: mother, father and child; mother and father.
const PAIR_PERSONS: u64 = 5;
/// One register row in this many names a person of the roll (2%).
const MATCH_EVERY: u64 = 50;
/// The county code (after 5301, Kunming) of the first region whose numbers match nobody:
/// 530111 (Guandu), then 530112, ...; never the roll's 530103.
const UNMATCHED_REGION: u64 = 11;
/// The support allowance per eligible person and month, in yuan (the report's rate).
const RATE: &str = "340.00";
/// One allocation just under the amount ceiling (¥100,000,000): a month of a roll of
/// 100,000 persons (80,000 parents) costs ¥27,200,000.
const ALLOCATION: &str = "99999999.00";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parse = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok());
    let (Some(dir), Some(persons), Some(rows)) = (args.first(), parse(1), parse(2)) else {
        eprintln!("usage: gen_people OUT_DIR PERSONS REGISTER_ROWS");
        return ExitCode::from(2);
    };
    if persons % PAIR_PERSONS != 0 || persons > MAX_PERSONS {
        eprintln!(
            "gen_people: PERSONS must be a multiple of {PAIR_PERSONS}, at most {MAX_PERSONS}"
        );
        return ExitCode::from(2);
    }
    match write_all(Path::new(dir), persons, rows) {
        Ok(()) => {
            println!(
                "{dir}: {} households, {persons} persons, {rows} register rows ({} matching)",
                persons / PAIR_PERSONS * 2,
                matched_rows(rows, persons)
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen_people: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write_all(dir: &Path, persons: u64, rows: u64) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    write_households(&dir.join("households.csv"), persons / PAIR_PERSONS * 2)?;
    std::fs::write(
        dir.join("rates.csv"),
        format!(
            "program,category,per_member,valid_from,valid_to\n\
             support_allowance,bereaved,{RATE},2014-01-01,\n"
        ),
    )?;
    std::fs::write(
        dir.join("events.csv"),
        format!(
            "date,type,household_id,program,amount,persons,reference,memo\n\
             2026-01-05,fund_allocation,,support_allowance,{ALLOCATION},,ALLOC-2026-SA,\n"
        ),
    )?;
    write_persons(&dir.join("persons.csv"), persons)?;
    write_register(&dir.join("deaths.csv"), persons, rows)
}

fn writer(path: &Path) -> std::io::Result<BufWriter<File>> {
    Ok(BufWriter::new(File::create(path)?))
}

fn household_id(h: u64) -> String {
    format!("PL-{h:07}")
}

/// Enrolled on one of about a thousand days from 2014-01-01.
fn enrolled_on(h: u64) -> NaiveDate {
    day(2014, 1, 1) + Duration::days((h % 1_000) as i64)
}

fn write_households(path: &Path, households: u64) -> std::io::Result<()> {
    let mut w = writer(path)?;
    writeln!(
        w,
        "household_id,subdistrict,community,category,members,enrolled_on"
    )?;
    for h in 0..households {
        let members = if h % 2 == 0 { 3 } else { 2 };
        let sub = ["拓东", "鼓楼", "东华", "联盟"][(h % 4) as usize];
        writeln!(
            w,
            "{},{sub},{sub}第{}社区,bereaved,{members},{}",
            household_id(h),
            h % 20 + 1,
            enrolled_on(h)
        )?;
    }
    w.flush()
}

/// The role of person `p`: in each pair of households mother, father, child, mother, father.
fn role(p: u64) -> &'static str {
    ["mother", "father", "child", "mother", "father"][(p % PAIR_PERSONS) as usize]
}

fn household_of(p: u64) -> u64 {
    p / PAIR_PERSONS * 2 + u64::from(p % PAIR_PERSONS >= 3)
}

fn birth_date(p: u64) -> NaiveDate {
    let first = if role(p) == "child" {
        day(1985, 1, 1)
    } else {
        day(1950, 1, 1)
    };
    first + Duration::days((p % BIRTH_DAYS) as i64)
}

/// A valid number for person `p` of a region: birth date, a sequence unique for the
/// birth day (`p / BIRTH_DAYS`), its last digit odd for men and even for women.
fn id_number(region: &str, p: u64, birth: NaiveDate, male: bool) -> String {
    // Below SEQUENCES: main refuses more than MAX_PERSONS persons, and register rows
    // come here modulo MAX_PERSONS.
    let serial = p / BIRTH_DAYS;
    let sex = 2 * (serial % 5) + u64::from(male);
    let first17 = format!(
        "{region}{}{:02}{sex}",
        birth.format("%Y%m%d"),
        serial % SEQUENCES
    );
    IdNumber::complete(&first17)
        .expect("a real province and birth date make a valid number")
        .expose()
        .to_owned()
}

fn person_number(p: u64) -> String {
    id_number("530103", p, birth_date(p), role(p) == "father")
}

fn name(i: u64) -> String {
    let i = i as usize;
    format!(
        "{}{}{}",
        SURNAMES[i % 8],
        GIVEN[(i / 8) % 8],
        GIVEN[(i / 64) % 8]
    )
}

fn write_persons(path: &Path, persons: u64) -> std::io::Result<()> {
    let mut w = writer(path)?;
    writeln!(
        w,
        "person_id,household_id,id_number,name,role,birth_date,joined_on"
    )?;
    for p in 0..persons {
        let h = household_of(p);
        let birth = birth_date(p);
        writeln!(
            w,
            "P{p:08},{},{},{},{},{birth},{}",
            household_id(h),
            person_number(p),
            name(p),
            role(p),
            enrolled_on(h).max(birth)
        )?;
    }
    w.flush()
}

fn matched_rows(rows: u64, persons: u64) -> u64 {
    rows.div_ceil(MATCH_EVERY).min(persons / PAIR_PERSONS)
}

/// The register: row `r` names person `m * 5 + m % 5` (a different role in turn) when it
/// is the `m`-th matching row, and otherwise a number no person of the roll has.
fn write_register(path: &Path, persons: u64, rows: u64) -> std::io::Result<()> {
    let mut w = writer(path)?;
    writeln!(w, "id_number,name,date_of_death,source_ref")?;
    let matching = matched_rows(rows, persons);
    for r in 0..rows {
        let died = day(2026, 6, 1) + Duration::days((r % 120) as i64);
        let m = r / MATCH_EVERY;
        let number = if r % MATCH_EVERY == 0 && m < matching {
            person_number(m * PAIR_PERSONS + m % PAIR_PERSONS)
        } else {
            let region = format!("5301{:02}", UNMATCHED_REGION + r / MAX_PERSONS);
            let birth = day(1930, 1, 1) + Duration::days((r % BIRTH_DAYS) as i64);
            id_number(&region, r % MAX_PERSONS, birth, r % 2 == 1)
        };
        writeln!(w, "{number},{},{died},PSB-{r:08}", name(r))?;
    }
    w.flush()
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a literal date is valid")
}
