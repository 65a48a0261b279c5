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
