//! Load generator for `fundtrail serve`, run as a separate process (scripts/bench-http):
//! concurrent appends and totals queries against a server on this machine, bounded in
//! time and in requests. Reports appends/s, the longest stall (the longest time between
//! two acknowledged appends, whichever writers they came from), the p50 and p99 latency of
//! totals queries, and the server's peak resident memory (VmHWM of its /proc status).
//!
//! cargo run --release --example load -- ADDR CLERK_TOKEN SUPERVISOR_TOKEN SERVER_PID
//!     [--writers 16] [--readers 4] [--seconds 20] [--max-requests 400000]
//!     [--household PL-0001] [--date 2018-12-31]
//!
//! Each append is a support allowance disbursement of ¥1.00 to `--household`, dated
//! `--date` (the demo's first household by default); the program must have the budget.

#[path = "../tests/it/support/client.rs"]
mod client;
mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use client::Client;
use common::{proc_status_kib, Args};

struct Options {
    addr: SocketAddr,
    clerk: String,
    supervisor: String,
    server_pid: u32,
    writers: usize,
    readers: usize,
    seconds: u64,
    max_requests: u64,
    household: String,
    date: String,
}

fn options() -> Result<Options, String> {
    let args = Args::from_env();
    let positional = args.positional();
    let [addr, clerk, supervisor, pid] = positional[..] else {
        return Err("usage: load ADDR CLERK_TOKEN SUPERVISOR_TOKEN SERVER_PID [--writers N] [--readers N] [--seconds N] [--max-requests N] [--household ID] [--date YYYY-MM-DD]".into());
    };
    let addr: SocketAddr = addr.parse().map_err(|e| format!("ADDR: {e}"))?;
    if !addr.ip().is_loopback() {
        return Err("the load generator only targets this machine (127.0.0.0/8 or ::1)".into());
    }
    Ok(Options {
        addr,
        clerk: clerk.to_owned(),
        supervisor: supervisor.to_owned(),
        server_pid: pid.parse().map_err(|e| format!("SERVER_PID: {e}"))?,
        writers: args.flag("--writers", 16)? as usize,
        readers: args.flag("--readers", 4)? as usize,
        seconds: args.flag("--seconds", 20)?,
        max_requests: args.flag("--max-requests", 400_000)?,
        household: args.text("--household", "PL-0001")?,
        date: args.text("--date", "2018-12-31")?,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// When appends were acknowledged, as microseconds since the run started: the first one,
/// the last one, and the longest gap between two in a row with the time it ended (the
/// wait for the first, which includes the server's first reads, is reported apart).
struct Acks {
    started: Instant,
    first: AtomicU64,
    last: AtomicU64,
    longest: std::sync::Mutex<(u64, u64)>,
}

impl Acks {
    fn new() -> Acks {
        Acks {
            started: Instant::now(),
            first: AtomicU64::new(u64::MAX),
            last: AtomicU64::new(0),
            longest: std::sync::Mutex::new((0, 0)),
        }
    }

    fn note(&self) {
        let now = self.started.elapsed().as_micros() as u64;
        self.first.fetch_min(now, Ordering::Relaxed);
        let before = self.last.fetch_max(now, Ordering::Relaxed);
        if before == 0 {
            return;
        }
        let gap = now.saturating_sub(before);
        let mut longest = self.longest.lock().expect("no writer panics holding it");
        if gap > longest.0 {
            *longest = (gap, now);
        }
    }

    /// The longest gap and when it ended, counting the time from the last acknowledgement
    /// to `end` (when the writers were told to stop) as a gap.
    fn longest_stall(&self, end: Duration) -> (Duration, Duration) {
        let end = end.as_micros() as u64;
        let tail = end.saturating_sub(self.last.load(Ordering::Relaxed));
        let (gap, at) = *self.longest.lock().expect("no writer panics holding it");
        let (gap, at) = if tail > gap { (tail, end) } else { (gap, at) };
        (Duration::from_micros(gap), Duration::from_micros(at))
    }
}

fn main() -> Result<(), String> {
    let o = options()?;
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let run = std::process::id();
    let started = Instant::now();
    let acks = Arc::new(Acks::new());

    let writers: Vec<_> = (0..o.writers)
        .map(|w| {
            let (stop, sent, token, addr) = (stop.clone(), sent.clone(), o.clerk.clone(), o.addr);
            let (household, date, acks) = (o.household.clone(), o.date.clone(), acks.clone());
            std::thread::spawn(move || {
                let mut http = Client::new(addr, Some(&token));
                let (mut acked, mut refused) = (0u64, 0u64);
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let event = serde_json::json!({
                        "date": date, "type": "disbursement", "household_id": household,
                        "program": "support_allowance", "amount": "1.00",
                        "reference": format!("LOAD-{run}-{w}-{i}"),
                    });
                    match http.post_json("/api/v1/events", &event) {
                        Ok(r) if r.status == 201 => {
                            acked += 1;
                            acks.note();
                        }
                        Ok(r) if r.status == 503 => {
                            refused += 1;
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        Ok(r) => panic!("append answered {} {}", r.status, r.body),
                        Err(e) => panic!("append failed: {e}"),
                    }
                    if sent.fetch_add(1, Ordering::Relaxed) >= o.max_requests {
                        break;
                    }
                }
                (acked, refused)
            })
        })
        .collect();

    let readers: Vec<_> = (0..o.readers)
        .map(|_| {
            let (stop, sent, token, addr) =
                (stop.clone(), sent.clone(), o.supervisor.clone(), o.addr);
            std::thread::spawn(move || {
                let mut http = Client::new(addr, Some(&token));
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let reply = http
                        .get("/api/v1/totals?by=subdistrict,program")
                        .expect("totals");
                    assert_eq!(reply.status, 200, "{}", reply.body);
                    latencies.push(t.elapsed());
                    if sent.fetch_add(1, Ordering::Relaxed) >= o.max_requests {
                        break;
                    }
                }
                latencies
            })
        })
        .collect();

    let deadline = Duration::from_secs(o.seconds);
    while started.elapsed() < deadline && sent.load(Ordering::Relaxed) < o.max_requests {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let stopped = acks.started.elapsed();
    let (mut acked, mut refused) = (0, 0);
    for w in writers {
        let (a, r) = w.join().map_err(|_| "a writer panicked")?;
        acked += a;
        refused += r;
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for r in readers {
        latencies.extend(r.join().map_err(|_| "a reader panicked")?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (stall, stall_end) = acks.longest_stall(stopped);
    let first = Duration::from_micros(acks.first.load(Ordering::Relaxed));
    latencies.sort();
    let peak_kb = proc_status_kib(o.server_pid, "VmHWM:").unwrap_or(0);
    println!(
        "writers {} readers {} for {elapsed:.1} s",
        o.writers, o.readers
    );
    println!(
        "appends: {acked} acknowledged, {:.0}/s ({refused} answered 503 queue_full)",
        acked as f64 / elapsed
    );
    let steady = elapsed - first.as_secs_f64();
    println!(
        "appends after the first acknowledged: {:.0}/s over {steady:.1} s",
        acked as f64 / steady
    );
    println!(
        "longest stall between acknowledged appends: {:.3} s (ending {:.1} s into the run; the first acknowledged after {:.3} s)",
        stall.as_secs_f64(),
        stall_end.as_secs_f64(),
        first.as_secs_f64()
    );
    println!(
        "totals:  {} queries, {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3
    );
    println!(
        "server peak RSS (VmHWM): {:.1} MiB",
        peak_kb as f64 / 1024.0
    );
    Ok(())
}
