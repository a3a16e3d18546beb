//! The README's main demo (`examples/mandelbrot.rs`, included here as a module, so the test runs
//! the example's own render): rows as nursery children over the domains, a deadline that
//! cancels the render across threads, and the rows that finished kept in the image.

mod support;

#[allow(dead_code)] // the example's `main` and its argument parsing
#[path = "../examples/mandelbrot.rs"]
mod mandelbrot;

use std::time::Duration;

use mandelbrot::{Config, Render, render};
use support::Watchdog;

fn config(workers: usize, size: usize, max_iter: u32, deadline: Option<Duration>) -> Config {
    let mut cfg = Config::new();
    cfg.workers = workers;
    cfg.size = size;
    cfg.max_iter = max_iter;
    cfg.deadline = deadline;
    cfg
}

/// The pixels of row `y`.
fn row(r: &Render, size: usize, y: usize) -> &[u8] {
    &r.pixels[y * size * 3..(y + 1) * size * 3]
}

#[test]
fn without_a_deadline_every_row_finishes_and_matches_the_one_worker_image() {
    let _w = Watchdog::start();
    let (size, max_iter) = (48, 200);
    let one = render(&config(1, size, max_iter, None), 1).unwrap();
    let two = render(&config(2, size, max_iter, None), 2).unwrap();
    for r in [&one, &two] {
        assert_eq!(r.finished_rows(), size);
        assert_eq!(r.cancelled_rows(), 0);
    }
    assert!(one.pixels == two.pixels, "the 2-worker image differs");
    // Each domain counted its rows in its own scratch state; every domain is dealt two rows
    // at the start, then one per row it finishes.
    assert_eq!(one.per_domain, [size]);
    assert_eq!(two.per_domain.iter().sum::<usize>(), size);
    assert!(
        two.per_domain.iter().all(|&n| n >= 2),
        "{:?}",
        two.per_domain
    );
}

#[test]
fn a_deadline_already_passed_cancels_every_row_and_leaves_the_image_black() {
    let _w = Watchdog::start();
    let size = 32;
    let r = render(&config(2, size, 200, Some(Duration::ZERO)), 2).unwrap();
    assert_eq!(r.finished_rows(), 0);
    assert_eq!(r.cancelled_rows(), size);
    assert_eq!(r.per_domain, [0, 0]);
    assert!(
        r.pixels.iter().all(|&b| b == 0),
        "a cancelled row was drawn"
    );
}

#[test]
fn a_deadline_mid_render_keeps_exactly_the_rows_that_finished() {
    let _w = Watchdog::start();
    // Heavy enough that a 20 ms deadline usually lands mid-render; what is checked holds
    // wherever it lands: finished + cancelled = all rows, each finished row is the full
    // render's, each cancelled one black, and the domains' counts add up.
    let (size, max_iter) = (96, 20_000);
    let full = render(&config(2, size, max_iter, None), 2).unwrap();
    let cut = render(
        &config(2, size, max_iter, Some(Duration::from_millis(20))),
        2,
    )
    .unwrap();
    assert_eq!(cut.finished_rows() + cut.cancelled_rows(), size);
    assert_eq!(cut.per_domain.iter().sum::<usize>(), cut.finished_rows());
    for y in 0..size {
        if cut.finished[y] {
            assert_eq!(row(&cut, size, y), row(&full, size, y), "row {y}");
        } else {
            assert!(row(&cut, size, y).iter().all(|&b| b == 0), "row {y}");
        }
    }
    println!(
        "20 ms deadline: {} rows finished, {} cancelled",
        cut.finished_rows(),
        cut.cancelled_rows()
    );
}

/// Set in the child process of the Ctrl-C test: the example's command line, which that child
/// (this same test binary, running only the test below) runs instead of the test.
const CHILD_ARGS: &str = "TRELLIS_MANDELBROT_CHILD_ARGS";

/// Kills the child process if the test fails before it exited.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn ctrl_c_mid_render_writes_the_finished_rows_and_reports_the_cancelled_ones() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};

    const TEST: &str = "ctrl_c_mid_render_writes_the_finished_rows_and_reports_the_cancelled_ones";
    let _w = Watchdog::new(TEST);
    if let Ok(args) = std::env::var(CHILD_ARGS) {
        // The child: the example's program, as `main` runs it (Ctrl-C on, progress lines on
        // stderr, which is a pipe here).
        let mut cfg = mandelbrot::parse_args(args.split_whitespace().map(str::to_owned)).unwrap();
        cfg.ctrl_c = true;
        cfg.progress_lines = true;
        mandelbrot::run(&cfg).unwrap();
        return;
    }
    let size = 128;
    let out = std::env::temp_dir().join(format!(
        "trellis-mandelbrot-ctrl-c-{}.png",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&out);
    // A million iterations per pixel inside the set: the middle rows take seconds each, so
    // the render is far from done when the first rows (near the edge, cheap) report progress.
    let args = format!(
        "--workers 2 --size {size} --max-iter 1000000 --no-baseline --out {}",
        out.display()
    );
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD_ARGS, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let mut stderr = BufReader::new(child.0.stderr.take().unwrap());
    // Wait for the first progress line: the handler is installed and the render is running.
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).unwrap();
        assert!(n > 0, "the child ended before printing progress:\n{seen}");
        seen += &line;
        if line.starts_with("progress: ") {
            break;
        }
    }
    let pid = i32::try_from(child.0.id()).unwrap();
    // SAFETY: `kill` has no memory-safety preconditions; `pid` is our own live child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let rest = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        rest
    });
    let mut stdout = String::new();
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = child.0.wait().unwrap();
    let stderr = seen + &rest.join().unwrap();
    assert!(
        status.success(),
        "exit {status}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );

    // "  N rows finished, M cancelled by Ctrl-C", with N + M = every row and M > 0.
    let line = stdout
        .lines()
        .find(|l| l.contains("cancelled by Ctrl-C"))
        .unwrap_or_else(|| panic!("no cancelled-count line in:\n{stdout}\nstderr:\n{stderr}"));
    let count = |before: &str| -> usize {
        let head = &line[..line.find(before).unwrap()];
        head.split_whitespace().last().unwrap().parse().unwrap()
    };
    let (finished, cancelled) = (count(" rows finished"), count(" cancelled by Ctrl-C"));
    assert_eq!(finished + cancelled, size, "{line}");
    assert!(finished > 0 && cancelled > 0, "{line}");
    assert!(
        stdout.contains(&format!("wrote {}", out.display())),
        "{stdout}"
    );
    let png = std::fs::metadata(&out).expect("the PNG was written");
    assert!(png.len() > 0);
    let _ = std::fs::remove_file(&out);
}
