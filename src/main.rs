//! The `fundtrail` binary: parses arguments, runs the command, prints, and exits with the
//! documented code. All behaviour lives in the library.

// As in the library (src/lib.rs): no cast that could lose a value goes unexplained.
#![warn(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    clippy::cast_lossless
)]

use std::io::Write;
use std::process::ExitCode;

use fundtrail::cli::{run, Cli};

/// jemalloc rather than the system's malloc: the import's planner and writer threads
/// allocate per row, and under glibc they contended on its arena lock (a fifth of the
/// import's CPU was in malloc and free). Measured in benches/README.md, "Scale".
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read when it starts: two arenas (the machines this runs on have
/// few cores, and every arena holds freed pages of its own), and freed pages given back
/// to the system after a second rather than ten, so a long process's resident memory
/// follows what it holds. With its defaults the 1,000,000-row import peaked 80 MiB higher.
#[cfg(feature = "jemalloc")]
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
static malloc_conf: &[u8] = b"narenas:2,dirty_decay_ms:1000\0";

fn main() -> ExitCode {
    let cli = Cli::from_args();
    let mut stdout = std::io::stdout().lock();
    let code = match run(&cli) {
        Ok(output) => {
            let printed = if cli.json {
                writeln!(stdout, "{}", pretty(&output.json))
            } else {
                write!(stdout, "{}", output.text)
            };
            if printed.is_err() {
                // A closed pipe (`| head`) is not an error of ours.
                return ExitCode::from(output.code);
            }
            output.code
        }
        Err(failure) => {
            if cli.json {
                let _ = writeln!(stdout, "{}", pretty(&failure.json));
            }
            eprintln!("error: {}", failure.message);
            failure.code
        }
    };
    ExitCode::from(code)
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}
