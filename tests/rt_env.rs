//! The `TRELLIS_WORKERS` environment variable (default worker count for `trellis::run`,
//! `Runtime::new` and the builder's default).
//!
//! The environment is process-global, so this binary never changes its own environment: each
//! test re-runs this test binary as a child process (`--exact child_scenario`) with the variable
//! set, and the child runs one scenario selected by `TRELLIS_ENV_TEST_SCENARIO`. Run normally
//! (without that variable), `child_scenario` does nothing.

mod support;

use std::process::Command;

use support::Watchdog;

const SCENARIO_VAR: &str = "TRELLIS_ENV_TEST_SCENARIO";

/// Runs in the child process only.
#[test]
fn child_scenario() {
    let _w = support::Watchdog::new("child_scenario");
    let Ok(scenario) = std::env::var(SCENARIO_VAR) else {
        return;
    };
    match scenario.as_str() {
        "new_workers" => {
            let rt = trellis::Runtime::new().expect("Runtime::new with a valid TRELLIS_WORKERS");
            println!("RESULT workers={}", rt.workers());
            assert_eq!(
                rt.block_on(async { trellis::spawn(async { 1 }).await.unwrap() }),
                1
            );
        }
        "builder_default_workers" => {
            let rt = trellis::Runtime::builder()
                .build()
                .expect("builder default with a valid TRELLIS_WORKERS");
            println!("RESULT workers={}", rt.workers());
        }
        "new_error" => match trellis::Runtime::new() {
            Ok(rt) => println!("RESULT ok workers={}", rt.workers()),
            Err(e) => println!("RESULT err={e}"),
        },
        "builder_default_error" => match trellis::Runtime::builder().build() {
            Ok(rt) => println!("RESULT ok workers={}", rt.workers()),
            Err(e) => println!("RESULT err={e}"),
        },
        "explicit_workers" => {
            let rt = trellis::Runtime::builder()
                .workers(2)
                .build()
                .expect("explicit workers(2) must not depend on TRELLIS_WORKERS");
            println!("RESULT workers={}", rt.workers());
        }
        "run" => {
            let v = trellis::run(async { trellis::spawn(async { 41 }).await.unwrap() + 1 });
            println!("RESULT run={v}");
        }
        other => panic!("unknown scenario {other:?}"),
    }
}

struct Child {
    success: bool,
    stdout: String,
    stderr: String,
}

impl Child {
    /// The text after `RESULT ` on the child's result line.
    fn result(&self) -> Option<&str> {
        self.stdout
            .lines()
            .find_map(|l| l.find("RESULT ").map(|i| l[i + "RESULT ".len()..].trim()))
    }
}

fn run_child(scenario: &str, workers_env: Option<&str>) -> Child {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        "child_scenario",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(SCENARIO_VAR, scenario);
    match workers_env {
        Some(v) => cmd.env("TRELLIS_WORKERS", v),
        None => cmd.env_remove("TRELLIS_WORKERS"),
    };
    let out = cmd.output().expect("run child test process");
    Child {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn expect_ok(child: &Child, what: &str) -> String {
    assert!(
        child.success,
        "{what}: child failed\nstdout:\n{}\nstderr:\n{}",
        child.stdout, child.stderr
    );
    child
        .result()
        .unwrap_or_else(|| panic!("{what}: no RESULT line\nstdout:\n{}", child.stdout))
        .to_string()
}

#[test]
fn trellis_workers_sets_the_default_worker_count() {
    let _wd = Watchdog::new("trellis_workers_sets_the_default_worker_count");
    let c = run_child("new_workers", Some("3"));
    assert_eq!(
        expect_ok(&c, "Runtime::new, TRELLIS_WORKERS=3"),
        "workers=3"
    );
    let c = run_child("new_workers", Some("1"));
    assert_eq!(
        expect_ok(&c, "Runtime::new, TRELLIS_WORKERS=1"),
        "workers=1"
    );
    let c = run_child("run", Some("2"));
    assert_eq!(expect_ok(&c, "run, TRELLIS_WORKERS=2"), "run=42");
}

#[test]
fn builder_default_honours_trellis_workers() {
    let _wd = Watchdog::new("builder_default_honours_trellis_workers");
    let c = run_child("builder_default_workers", Some("3"));
    assert_eq!(
        expect_ok(&c, "Runtime::builder().build(), TRELLIS_WORKERS=3"),
        "workers=3"
    );
}

#[test]
fn unset_trellis_workers_uses_the_cpu_count() {
    let _wd = Watchdog::new("unset_trellis_workers_uses_the_cpu_count");
    let c = run_child("new_workers", None);
    let r = expect_ok(&c, "Runtime::new, TRELLIS_WORKERS unset");
    let n: usize = r
        .strip_prefix("workers=")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected result {r:?}"));
    assert!(n >= 1, "default worker count {n}");
}

/// Set but empty (`TRELLIS_WORKERS= cargo run`, or blanks) means unset: one per CPU.
#[test]
fn empty_trellis_workers_means_unset() {
    let _wd = Watchdog::new("empty_trellis_workers_means_unset");
    for empty in ["", "  "] {
        for scenario in ["new_workers", "builder_default_workers"] {
            let c = run_child(scenario, Some(empty));
            let r = expect_ok(&c, &format!("{scenario}, TRELLIS_WORKERS={empty:?}"));
            let n: usize = r
                .strip_prefix("workers=")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected result {r:?}"));
            assert!(n >= 1, "default worker count {n}");
        }
    }
}

#[test]
fn bad_trellis_workers_is_an_error_naming_the_variable() {
    let _wd = Watchdog::new("bad_trellis_workers_is_an_error_naming_the_variable");
    for bad in ["0", "abc", "-1", "2.5"] {
        for scenario in ["new_error", "builder_default_error"] {
            let c = run_child(scenario, Some(bad));
            let r = expect_ok(&c, &format!("{scenario}, TRELLIS_WORKERS={bad:?}"));
            assert!(
                r.starts_with("err="),
                "{scenario}: TRELLIS_WORKERS={bad:?} must be an error, got {r:?}"
            );
            assert!(
                r.contains("TRELLIS_WORKERS"),
                "{scenario}: the error should name TRELLIS_WORKERS: {r:?}"
            );
        }
    }
}

#[test]
fn run_with_bad_trellis_workers_panics_naming_the_variable() {
    let _wd = Watchdog::new("run_with_bad_trellis_workers_panics_naming_the_variable");
    let c = run_child("run", Some("abc"));
    assert!(
        !c.success,
        "trellis::run with TRELLIS_WORKERS=abc must fail\nstdout:\n{}",
        c.stdout
    );
    assert!(
        c.stderr.contains("TRELLIS_WORKERS") || c.stdout.contains("TRELLIS_WORKERS"),
        "the failure should name TRELLIS_WORKERS\nstdout:\n{}\nstderr:\n{}",
        c.stdout,
        c.stderr
    );
}

#[test]
fn explicit_workers_ignore_a_bad_trellis_workers() {
    let _wd = Watchdog::new("explicit_workers_ignore_a_bad_trellis_workers");
    let c = run_child("explicit_workers", Some("abc"));
    assert_eq!(
        expect_ok(&c, "builder.workers(2), TRELLIS_WORKERS=abc"),
        "workers=2"
    );
}
