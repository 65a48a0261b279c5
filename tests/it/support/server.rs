//! A server on 127.0.0.1 port 0 in a thread of the test process, over a ledger in a
//! temporary directory holding the sample data and one token per role.

use std::net::SocketAddr;
use std::path::Path;
use std::thread::JoinHandle;

use fundtrail::http::{Limits, ServeError, Server, SnapshotHook};
use fundtrail::keys::tokens::{Role, TokenRegistry};
use fundtrail::ledger::import::{CsvFile, ImportKind};
use fundtrail::ledger::{AppendContext, Ledger};

/// A secret per role, and one for a revoked token.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub clerk: String,
    pub supervisor: String,
    pub auditor: String,
    pub admin: String,
    pub revoked: String,
}

impl Tokens {
    pub fn of(&self, role: Role) -> &str {
        match role {
            Role::Clerk => &self.clerk,
            Role::Supervisor => &self.supervisor,
            Role::Auditor => &self.auditor,
            Role::Admin => &self.admin,
        }
    }
}

/// Creates a ledger with the sample households and events, and the tokens.
pub fn sample_ledger(dir: &Path) -> Tokens {
    let mut ledger = Ledger::init(dir).expect("a new ledger");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample");
    let ctx = AppendContext::now("setup");
    for (file, kind) in [
        ("households.csv", ImportKind::Households),
        ("events.csv", ImportKind::Events),
    ] {
        ledger
            .append_rows(&mut CsvFile::new(&root.join(file), kind), &ctx)
            .expect("the sample data imports");
    }
    let tokens = issue_tokens(&mut ledger);
    // As `fundtrail import` does, every import ends with a signed checkpoint.
    ledger
        .checkpoint()
        .expect("a checkpoint of the sample data");
    ledger.close().expect("the sample ledger closes");
    tokens
}

/// One token per role, and a revoked one, saved in `ledger`.
pub fn issue_tokens(ledger: &mut Ledger) -> Tokens {
    let mut registry = TokenRegistry::default();
    let mut n = 0u8;
    let mut issue = |name: &str, role: Role| {
        n += 1;
        let secret = registry
            .issue(name, role, 1, [n; 32])
            .expect("a fresh name");
        secret.expose().to_string()
    };
    let tokens = Tokens {
        clerk: issue("clerk-1", Role::Clerk),
        supervisor: issue("supervisor-1", Role::Supervisor),
        auditor: issue("auditor-1", Role::Auditor),
        admin: issue("admin-1", Role::Admin),
        revoked: issue("gone", Role::Auditor),
    };
    registry.revoke("gone", 2).expect("just issued");
    registry.save(ledger).expect("tokens saved");
    tokens
}

/// A ledger at `dir/ledger` built by `simulate --check`'s library call from a small
/// simulated district (40 households, 2 years, seed 5: one planted case of every rule),
/// with the tokens and a signed checkpoint of the head. Returns the ledger's directory.
pub fn simulated_ledger(dir: &Path) -> (std::path::PathBuf, Tokens) {
    use fundtrail::simulate::{self, check, Options};
    let district = dir.join("district");
    let options = Options {
        households: 40,
        years: 2,
        seed: 5,
    };
    simulate::write(&district, options).expect("the district is written");
    let ledger_dir = dir.join("ledger");
    let ctx = AppendContext::now("setup");
    let checked = check::check(&district, &ledger_dir, &ctx, &mut check::Quiet)
        .expect("the district imports");
    assert!(checked.report.clean(), "{:?}", checked.report);
    let mut ledger = checked.ledger;
    let tokens = issue_tokens(&mut ledger);
    ledger.checkpoint().expect("a checkpoint of the district");
    ledger.close().expect("the ledger closes");
    (ledger_dir, tokens)
}

/// A running in-process server; dropping it without `stop` leaks nothing but the thread.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), ServeError>>>,
}

impl TestServer {
    pub fn start(dir: &Path, limits: Limits) -> TestServer {
        TestServer::start_with_snapshot_hook(dir, limits, None)
    }

    /// [`TestServer::start`], with a hook called before each snapshot part is written.
    pub fn start_with_snapshot_hook(
        dir: &Path,
        limits: Limits,
        hook: Option<SnapshotHook>,
    ) -> TestServer {
        let dir = dir.to_owned();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (bound, addr) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let ledger = Ledger::open(&dir)?;
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("port 0 binds");
                let server = Server::start_with_snapshot_hook(ledger, limits, hook)?;
                bound
                    .send(listener.local_addr().expect("bound"))
                    .expect("the test waits for the address");
                server
                    .serve(listener, async move {
                        let _ = stopped.await;
                    })
                    .await
            })
        });
        let Ok(addr) = addr.recv() else {
            let outcome = thread.join().expect("the server thread ends");
            panic!("the server did not start: {outcome:?}");
        };
        TestServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Graceful stop: returns once every queued write is committed and the ledger closed.
    pub fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread
                .join()
                .expect("the server thread ends")
                .expect("the server stops cleanly");
        }
    }
}
