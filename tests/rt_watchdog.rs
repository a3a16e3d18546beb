//! The tests' watchdog (`tests/support`): a hang aborts the test binary with a message that
//! names the test, also under libtest's output capture (which swallows `eprintln!` from the
//! test's threads) and with one test thread.

mod support;

use std::process::Command;
use std::time::Duration;

/// Set in the child process that runs [`hangs_under_a_watchdog`].
const CHILD_ENV: &str = "TRELLIS_WATCHDOG_CHILD";

#[test]
fn a_hang_aborts_the_binary_with_a_message_naming_the_test() {
    let _w = support::Watchdog::start();
    let exe = std::env::current_exe().expect("the test binary's path");
    for threads in ["2", "1"] {
        let out = Command::new(&exe)
            .args(["--exact", "hangs_under_a_watchdog", "--include-ignored"])
            .arg(format!("--test-threads={threads}"))
            .env(CHILD_ENV, "1")
            .output()
            .expect("run the test binary");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "the hang was not aborted: {stderr}");
        assert!(
            stderr.contains(
                "WATCHDOG: test `hangs_under_a_watchdog` (stuck on purpose) did not finish"
            ),
            "--test-threads={threads}: no message naming the test in {stderr:?}"
        );
    }
}

/// Run only as the child process of the test above.
#[test]
#[ignore = "a child process of a_hang_aborts_the_binary_with_a_message_naming_the_test"]
fn hangs_under_a_watchdog() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let _w = support::Watchdog::with_timeout("stuck on purpose", Duration::from_millis(50));
    std::thread::sleep(Duration::from_secs(30));
}
