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
