//! The dashboard opened in a real headless Chromium against a server on 127.0.0.1: the DOM
//! it renders shows the right totals, in Chinese by default and in English on request.
//!
//! Chromium is Debian's `chromium`. When it is missing the test runs
//! scripts/install-test-deps itself (as root it installs the package), so `cargo test
//! --workspace` alone sets everything up on a fresh machine. If it still cannot be had the
//! test fails, loudly, unless FUNDTRAIL_SKIP_BROWSER_TESTS=1 says to skip it.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::client::Client;
use crate::support::server::{sample_ledger, simulated_ledger, TestServer};
use fundtrail::http::Limits;

/// Chromium gets this long to load the page and run its fetches before it is killed.
const BROWSER_DEADLINE: Duration = Duration::from_secs(90);

pub(crate) fn chromium() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("FUNDTRAIL_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromium"))
        .find(|candidate| candidate.is_file())
}

/// Runs the project's installer for test dependencies, then looks again.
pub(crate) fn install_chromium() -> Option<PathBuf> {
    if std::env::var("FUNDTRAIL_SKIP_BROWSER_TESTS").as_deref() == Ok("1") {
        return None;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/install-test-deps");
    let status = Command::new("bash").arg(script).status().ok()?;
    if status.success() {
        chromium()
    } else {
        None
    }
}

/// The DOM after the page's scripts ran (`--dump-dom` with a virtual-time budget, which
/// lets pending fetches finish first).
pub(crate) fn rendered_dom(browser: &PathBuf, url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut dom = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut dom).map(|_| dom)
    });
    let started = Instant::now();
    loop {
        if child.try_wait().expect("chromium's status").is_some() {
            break;
        }
        if started.elapsed() > BROWSER_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {BROWSER_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap().expect("chromium's output is UTF-8")
}

/// The text of the element that follows `marker`, up to the end of its row.
fn row_after<'d>(dom: &'d str, marker: &str) -> &'d str {
    let start = dom
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} is not in the page:\n{dom}"));
    let end = dom[start..].find("</tr>").map_or(dom.len(), |e| start + e);
    &dom[start..end]
}

/// Chromium, installed if need be; `None` only when FUNDTRAIL_SKIP_BROWSER_TESTS=1 says to
/// skip. Anything else without a browser fails loudly.
pub(crate) fn browser_or_skip() -> Option<PathBuf> {
    if let Some(browser) = chromium().or_else(install_chromium) {
        return Some(browser);
    }
    if std::env::var("FUNDTRAIL_SKIP_BROWSER_TESTS").as_deref() == Ok("1") {
        eprintln!("skipped: no chromium, and FUNDTRAIL_SKIP_BROWSER_TESTS=1");
        return None;
    }
    panic!(
        "chromium is not installed: run scripts/install-test-deps (as root), \
         or set FUNDTRAIL_SKIP_BROWSER_TESTS=1 to skip this test"
    );
}

#[test]
fn the_dashboard_shows_the_ledgers_totals_in_a_real_browser() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tokens = sample_ledger(dir.path());
    let server = TestServer::start(dir.path(), Limits::default());
    let url = format!("http://{}/#token={}", server.addr, tokens.supervisor);

    let dom = rendered_dom(&browser, &url);
    assert!(
        dom.contains(r#"data-state="ready""#),
        "the page did not finish loading:\n{dom}"
    );
    assert!(dom.contains("supervisor-1 (supervisor)"));
    // Sample data: 拓东 1360.00 allowance + 300.00 condolence; the district 2600.00.
    let tuodong = row_after(&dom, r#"data-subdistrict="拓东""#);
    assert!(
        tuodong.contains("1,360.00") && tuodong.contains("1,660.00"),
        "{tuodong}"
    );
    let total = row_after(&dom, r#"id="grand-total""#);
    assert!(total.contains("2,600.00"), "{total}");
    assert!(dom.contains("扶助金") && dom.contains("各街道发放合计"));
    assert!(
        dom.contains("<svg") && dom.contains("<polyline"),
        "the charts are drawn"
    );
    let allowance = row_after(&dom, r#"<tr data-program="support_allowance""#);
    assert!(allowance.contains("48,300.00"), "fund balance: {allowance}");
    // The sample ledger's checkpoint (13 events) verifies.
    assert!(
        dom.contains(r#"<dd class="ok">验证通过</dd>"#),
        "checkpoint: {dom}"
    );

    let english = rendered_dom(&browser, &format!("{url}&lang=en"));
    assert!(english.contains("Support allowance") && english.contains("Totals by sub-district"));
    assert!(row_after(&english, r#"id="grand-total""#).contains("2,600.00"));

    let refused = rendered_dom(&browser, &format!("http://{}/#token=ft_wrong", server.addr));
    assert!(
        refused.contains("令牌无效或已撤销"),
        "a bad token is sent back to sign in"
    );
    server.stop();
}

/// "1234567.80" as the page shows it: "1,234,567.80".
fn grouped(amount: &str) -> String {
    let (whole, fraction) = amount.split_once('.').expect("two decimals");
    let digits: Vec<char> = whole.chars().collect();
    let mut out = String::new();
    for (i, c) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(*c);
    }
    format!("{out}.{fraction}")
}

/// The findings panel on a simulated district with one planted case of every rule: each
/// rule's row shows 1 open finding and its amount at risk, each sub-district its counts,
/// and the recovered figure 0.00, all as the summary endpoint gives them.
#[test]
fn the_findings_panel_shows_the_planted_rules_in_a_real_browser() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (ledger, tokens) = simulated_ledger(dir.path());
    let server = TestServer::start(&ledger, Limits::default());
    let summary = Client::new(server.addr, Some(&tokens.supervisor))
        .get("/api/v1/findings/summary")
        .unwrap()
        .json();
    let url = format!("http://{}/#token={}", server.addr, tokens.supervisor);
    let dom = rendered_dom(&browser, &url);
    assert!(
        dom.contains(r#"data-state="ready""#),
        "the page did not finish loading:\n{dom}"
    );
    assert!(dom.contains(r#"<dd id="findings-open">6</dd>"#), "{dom}");
    assert!(
        dom.contains(r#"<dd id="findings-recovered">0.00</dd>"#),
        "{dom}"
    );
    let at_risk = grouped(summary["amount_at_risk"].as_str().unwrap());
    assert!(
        dom.contains(&format!(r#"<dd id="findings-at-risk">{at_risk}</dd>"#)),
        "{at_risk}: {dom}"
    );
    let by_rule = summary["by_rule"].as_array().unwrap();
    assert_eq!(by_rule.len(), 6);
    for r in by_rule {
        let rule = r["rule"].as_str().unwrap();
        let row = row_after(&dom, &format!(r#"data-rule="{rule}""#));
        let amount = grouped(r["amount_at_risk"].as_str().unwrap());
        assert!(
            row.contains(r#"<td class="num">1</td>"#) && row.contains(&amount),
            "{rule}: {row}"
        );
        assert!(row.contains(&format!("<code>{rule}</code>")), "{row}");
    }
    assert!(row_after(&dom, r#"data-rule="paid_after_death""#).contains("死亡后仍发放"));
    let places = summary["by_subdistrict"].as_array().unwrap();
    assert!(!places.is_empty());
    for p in places {
        let place = p["subdistrict"].as_str().unwrap();
        let row = row_after(&dom, &format!(r#"data-findings-subdistrict="{place}""#));
        let count = format!(r#"<td class="num">{}</td>"#, p["open"]);
        let amount = grouped(p["amount_at_risk"].as_str().unwrap());
        assert!(
            row.contains(&count) && row.contains(&amount),
            "{place}: {row}"
        );
    }
    let english = rendered_dom(&browser, &format!("{url}&lang=en"));
    assert!(
        english.contains("Audit findings") && english.contains("Paid after death"),
        "{english}"
    );
    assert!(row_after(&english, r#"data-rule="shared_account""#)
        .contains("<code>shared_account</code>"));
    server.stop();
}
