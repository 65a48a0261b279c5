//! What the probes of a running server (`load`, `stalled_uploads`) share: their command
//! line, and the server's memory as its /proc status reports it.

/// A probe's command line: positional arguments, then `--name VALUE` flags in any order.
pub struct Args(Vec<String>);

impl Args {
    pub fn from_env() -> Args {
        Args(std::env::args().skip(1).collect())
    }

    /// The number after `name`, or `default` when the flag is not given.
    pub fn flag(&self, name: &str, default: u64) -> Result<u64, String> {
        match self.0.iter().position(|a| a == name) {
            Some(i) => self
                .0
                .get(i + 1)
                .and_then(|v| v.parse().ok())
                .ok_or(format!("{name} needs a number")),
            None => Ok(default),
        }
    }

    /// The text after `name`, or `default` when the flag is not given.
    #[allow(dead_code)] // each probe includes this module; only `load` takes a text flag
    pub fn text(&self, name: &str, default: &str) -> Result<String, String> {
        match self.0.iter().position(|a| a == name) {
            Some(i) => self
                .0
                .get(i + 1)
                .cloned()
                .ok_or(format!("{name} needs a value")),
            None => Ok(default.to_owned()),
        }
    }

    /// The arguments that are neither a flag nor a flag's value.
    pub fn positional(&self) -> Vec<&str> {
        let args = &self.0;
        args.iter()
            .enumerate()
            .filter(|(i, a)| !a.starts_with("--") && (*i == 0 || !args[i - 1].starts_with("--")))
            .map(|(_, a)| a.as_str())
            .collect()
    }
}

/// A KiB figure (`VmRSS:`, `VmHWM:`) from the process's /proc/PID/status.
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
