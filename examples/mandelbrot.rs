//! Renders the Mandelbrot set on Trellis: one nursery child per image row, spread over the
//! domains, each domain with its own scratch buffers, under a deadline that cancels the render
//! across threads.
//!
//! ```text
//! cargo run --release --example mandelbrot -- [--workers N] [--size S] [--out PATH]
//!                                             [--max-iter K] [--deadline SECS] [--no-baseline]
//! ```
//!
//! Ctrl-C (`SIGINT`) stops the render the same way the deadline does: the rows that finished
//! are written, and the report says how many were cancelled.
//!
//! What it shows:
//!
//! - **Rows as nursery children.** The render is one `trellis::nursery`; every row of the image
//!   is a child started with `start_soon_on` on a domain. Rows are dealt on demand: each
//!   domain starts with two, and a finished row reports its domain on a channel, so the body
//!   deals that domain the next row. A pinned row is never stolen, so this dealing is what
//!   keeps every domain busy (a domain whose thread gets less CPU takes fewer rows). The
//!   nursery returns once every row is done, or dropped.
//! - **Domains with their own `!Send` state.** Each domain keeps its scratch buffers (a row of
//!   pixels, reused by every row it renders, and its count of rows) in a `domain_local!`
//!   holding an `Rc<RefCell<..>>`. A row holds that `Rc` across an `.await`: only a child pinned
//!   to its domain may, and the compiler checks it.
//! - **A deadline that cancels across threads.** With `--deadline SECS` the nursery runs in a
//!   `CancelScope` with that timeout. When it passes, every row still queued on any domain is
//!   dropped at its first checkpoint and every row being computed stops at its next chunk of
//!   pixels (`CancelHandle::cancel_called`). The image keeps the rows that finished (the others
//!   stay black) and the report says how many were cancelled.
//! - **Ctrl-C cancels the same scope.** The render listens for `SIGINT`
//!   (`trellis::signal::signal`) in a child of the render's nursery, inside a scope of its
//!   own: a Ctrl-C calls `stop.cancel()`, exactly what the deadline does, and the program
//!   writes what finished and exits normally; once every row is done the body cancels the
//!   listener's scope, and the nursery returns. The handler is installed before the first row
//!   starts, so no Ctrl-C during the render is lost.
//! - **Uneven rows.** A row that crosses the set runs every pixel up to `--max-iter` iterations,
//!   while a row near the top or bottom edge escapes after a few: rows differ in cost by orders
//!   of magnitude.
//!
//! The render runs once on a 1-worker runtime (the baseline; skip it with `--no-baseline`) and
//! once on an N-worker runtime, and prints both wall times and the speedup (when neither was
//! cut short by the deadline).

use std::cell::RefCell;
use std::error::Error;
use std::f64::consts::LN_2;
use std::fs::File;
use std::io::BufWriter;
use std::process;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use trellis::signal::SignalKind;
use trellis::{CancelScope, DomainId};

const USAGE: &str = "usage: mandelbrot [--workers N] [--size S] [--out PATH] [--max-iter K] \
                     [--deadline SECS] [--no-baseline]";

/// The part of the complex plane that is drawn: centre and width (the image is square).
const CENTER: (f64, f64) = (-0.65, 0.0);
const WIDTH: f64 = 3.0;
/// A large escape radius makes the smooth (fractional) iteration count accurate.
const ESCAPE_RADIUS_SQ: f64 = 256.0 * 256.0;
/// Pixels a row computes between two looks at the cancel scope.
const CHUNK: usize = 64;
/// Rows queued on each domain at a time: while one computes, the next is already there.
const ROWS_IN_FLIGHT: usize = 2;

#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) workers: usize,
    pub(crate) size: usize,
    pub(crate) out: String,
    pub(crate) max_iter: u32,
    /// Cancel the render this long after it starts.
    pub(crate) deadline: Option<Duration>,
    pub(crate) baseline: bool,
    /// Ctrl-C (`SIGINT`) cancels the render (the program sets it; the in-process tests do not,
    /// so as not to take over the test process's Ctrl-C).
    pub(crate) ctrl_c: bool,
    /// Prints a plain `progress: N/S rows` line to stderr now and then (where the progress
    /// bar is not drawn: stderr is not a terminal).
    pub(crate) progress_lines: bool,
}

impl Config {
    /// The defaults: every CPU, 2048x2048, 1000 iterations, no deadline.
    pub(crate) fn new() -> Config {
        Config {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            size: 2048,
            out: "mandelbrot.png".to_owned(),
            max_iter: 1000,
            deadline: None,
            baseline: true,
            ctrl_c: false,
            progress_lines: false,
        }
    }
}

/// Parses the command line (without the program name).
pub(crate) fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Config, String> {
    let mut cfg = Config::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--workers" => cfg.workers = number(&arg, &value()?)?,
            "--size" => cfg.size = number(&arg, &value()?)?,
            "--out" => cfg.out = value()?,
            "--max-iter" => cfg.max_iter = number(&arg, &value()?)?,
            "--deadline" => {
                let v = value()?;
                let secs = v.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0);
                let secs = secs.ok_or_else(|| format!("--deadline wants seconds, got {v:?}"))?;
                cfg.deadline = Some(Duration::from_secs_f64(secs));
            }
            "--no-baseline" => cfg.baseline = false,
            "-h" | "--help" => {
                println!("{USAGE}");
                process::exit(0);
            }
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Ok(cfg)
}

/// Parses a positive integer option value.
fn number<T: std::str::FromStr + Default + PartialEq>(flag: &str, s: &str) -> Result<T, String> {
    match s.parse::<T>() {
        Ok(n) if n != T::default() => Ok(n),
        _ => Err(format!("{flag} wants a positive integer, got {s:?}")),
    }
}

/// Smooth (fractional) escape count of `c = cx + i·cy`, or `None` inside the set.
fn escape_time(cx: f64, cy: f64, max_iter: u32) -> Option<f64> {
    let (mut x, mut y) = (0.0f64, 0.0f64);
    for i in 0..max_iter {
        let (x2, y2) = (x * x, y * y);
        if x2 + y2 > ESCAPE_RADIUS_SQ {
            // i + 1 - log2(log2|z|): removes the banding of the integer count.
            let log2_abs_z = (x2 + y2).ln() / (2.0 * LN_2);
            return Some(f64::from(i) + 1.0 - log2_abs_z.log2());
        }
        y = 2.0 * x * y + cy;
        x = x2 - y2 + cx;
    }
    None
}

/// Maps a smooth escape count to a colour from a cyclic blue-white-orange gradient.
fn colour(mu: Option<f64>) -> [u8; 3] {
    // (position, rgb): the classic "Ultra Fractal" palette, wrapping back to the start.
    const STOPS: [(f64, [f64; 3]); 6] = [
        (0.0, [0.0, 7.0, 100.0]),
        (0.16, [32.0, 107.0, 203.0]),
        (0.42, [237.0, 255.0, 255.0]),
        (0.6425, [255.0, 170.0, 0.0]),
        (0.8575, [0.0, 2.0, 0.0]),
        (1.0, [0.0, 7.0, 100.0]),
    ];
    let Some(mu) = mu else { return [0, 0, 0] };
    // The square root spreads the colours evenly from the outside in.
    let t = (mu.max(0.0).sqrt() * 0.22).fract();
    let pair = STOPS.windows(2).find(|w| t < w[1].0).unwrap_or(&STOPS[4..]);
    let ((p0, c0), (p1, c1)) = (pair[0], pair[1]);
    let f = (t - p0) / (p1 - p0);
    std::array::from_fn(|k| (c0[k] + (c1[k] - c0[k]) * f).round() as u8)
}

/// One domain's scratch state: `!Send` (an `Rc`), so it never leaves the domain's thread.
#[derive(Default)]
struct Scratch {
    /// The row being rendered, reused by every row of this domain (no allocation per row).
    rgb: Vec<u8>,
    /// Rows this domain finished.
    rows: usize,
}

trellis::domain_local! {
    /// Each domain's scratch buffers, created on first use there.
    static SCRATCH: Rc<RefCell<Scratch>> = Rc::new(RefCell::new(Scratch::default()));
}

/// Computes pixels `x0..x1` of row `y` into `rgb` (3 bytes a pixel, from `x0`).
fn render_pixels(y: usize, xs: std::ops::Range<usize>, size: usize, max_iter: u32, rgb: &mut [u8]) {
    let scale = WIDTH / size as f64;
    let cy = CENTER.1 + (size as f64 / 2.0 - y as f64) * scale;
    for (x, px) in xs.zip(rgb.chunks_exact_mut(3)) {
        let cx = CENTER.0 + (x as f64 - size as f64 / 2.0) * scale;
        px.copy_from_slice(&colour(escape_time(cx, cy, max_iter)));
    }
}

/// What one render produced.
pub(crate) struct Render {
    /// RGB pixels, row after row; the rows that did not finish are black.
    pub(crate) pixels: Vec<u8>,
    /// Which rows finished.
    pub(crate) finished: Vec<bool>,
    /// Rows finished by each domain.
    pub(crate) per_domain: Vec<usize>,
    pub(crate) elapsed: Duration,
    /// A Ctrl-C stopped it.
    pub(crate) interrupted: bool,
}

impl Render {
    pub(crate) fn finished_rows(&self) -> usize {
        self.finished.iter().filter(|&&f| f).count()
    }

    pub(crate) fn cancelled_rows(&self) -> usize {
        self.finished.len() - self.finished_rows()
    }
}

/// The shared results of a render: the image and which rows made it into it.
struct Canvas {
    pixels: Mutex<Vec<u8>>,
    finished: Vec<AtomicBool>,
}

/// Renders the image on a fresh `workers`-thread runtime, within `cfg.deadline` if set.
pub(crate) fn render(cfg: &Config, workers: usize) -> Result<Render, Box<dyn Error>> {
    let rt = trellis::Runtime::builder()
        .workers(workers)
        .thread_name("mandelbrot")
        .build()?;
    let progress = ProgressBar::new(cfg.size as u64).with_style(ProgressStyle::with_template(
        "{prefix:>10} [{bar:40.cyan/blue}] {pos}/{len} rows {elapsed_precise}",
    )?);
    progress.set_prefix(label(workers));
    let (size, max_iter) = (cfg.size, cfg.max_iter);
    let canvas = Arc::new(Canvas {
        pixels: Mutex::new(vec![0; size * size * 3]),
        finished: (0..size).map(|_| AtomicBool::new(false)).collect(),
    });

    let scope = match cfg.deadline {
        Some(deadline) => CancelScope::new().timeout(deadline),
        None => CancelScope::new(),
    };
    // What cancels the render: the deadline above, or `stop.cancel()` from anywhere: the
    // Ctrl-C listener below.
    let stop = scope.handle();
    let interrupted = Arc::new(AtomicBool::new(false));
    // Installed before any row starts, so a Ctrl-C during the render is never lost.
    let sigint = match cfg.ctrl_c {
        true => Some(rt.block_on(async { trellis::signal::signal(SignalKind::interrupt()) })?),
        false => None,
    };
    let progress_lines = cfg.progress_lines;

    let start = Instant::now();
    let caught = rt.block_on({
        let (canvas, progress) = (canvas.clone(), progress.clone());
        let interrupted = interrupted.clone();
        scope.run(trellis::nursery(async move |n| {
            // Ctrl-C: a child waits for SIGINT in a scope of its own, cancelled by the body once
            // every row is done (else the nursery would wait for it forever).
            let listener = CancelScope::new();
            let deaf = listener.handle();
            if let Some(mut sigint) = sigint {
                let stop = stop.clone();
                n.start_soon_named("ctrl-c", async move {
                    listener
                        .run(async move {
                            if sigint.recv().await.is_some() {
                                interrupted.store(true, Ordering::Release);
                                stop.cancel(); // what the deadline does
                            }
                        })
                        .await;
                });
            }
            // Finished rows report their domain here; the body deals that domain its next row.
            let (done_tx, done_rx) = trellis::channel::unbounded::<usize>();
            let start_row = |y: usize, d: usize| {
                let (canvas, progress) = (canvas.clone(), progress.clone());
                let (stop, done_tx) = (stop.clone(), done_tx.clone());
                n.start_soon_on(DomainId::new(d), move || async move {
                    // Built on the row's domain: the scratch `Rc` is `!Send`, and the child
                    // holds it across the checkpoint below, where a cancelled render drops
                    // the rows that have not started.
                    let scratch = SCRATCH.with(Rc::clone);
                    trellis::checkpoint().await;
                    let mut s = scratch.borrow_mut();
                    s.rgb.resize(size * 3, 0);
                    for x0 in (0..size).step_by(CHUNK) {
                        if stop.cancel_called() {
                            return; // cancelled mid-row: the row stays black
                        }
                        let xs = x0..(x0 + CHUNK).min(size);
                        render_pixels(y, xs.clone(), size, max_iter, &mut s.rgb[xs.start * 3..]);
                    }
                    let row = y * size * 3..(y + 1) * size * 3;
                    canvas.pixels.lock().unwrap()[row].copy_from_slice(&s.rgb);
                    canvas.finished[y].store(true, Ordering::Release);
                    s.rows += 1;
                    progress.inc(1);
                    if progress_lines {
                        let done = progress.position() as usize;
                        if done == 1 || done % (size / 16).max(1) == 0 {
                            eprintln!("progress: {done}/{size} rows");
                        }
                    }
                    let _ = done_tx.try_send(d); // the body may be gone (cancelled)
                });
            };
            // Every domain starts with ROWS_IN_FLIGHT rows, then gets one more per finished
            // row: a domain whose thread gets less CPU takes fewer rows.
            let mut rows = 0..size;
            for d in (0..workers).cycle().take(workers * ROWS_IN_FLIGHT) {
                if let Some(y) = rows.next() {
                    start_row(y, d);
                }
            }
            for y in rows {
                let d = done_rx.recv().await.expect("the body holds a sender");
                start_row(y, d);
            }
            // Every row is dealt; once the ones in flight are done, stop listening for Ctrl-C.
            for _ in 0..size.min(workers * ROWS_IN_FLIGHT) {
                let _ = done_rx.recv().await;
            }
            deaf.cancel();
        }))
    });
    let elapsed = start.elapsed();
    progress.finish_and_clear();
    let interrupted = interrupted.load(Ordering::Acquire);
    // `None`: the scope caught its cancellation (the deadline passed); otherwise the
    // nursery's own result, where a failed row would show.
    if let Some(result) = caught {
        result?;
    }

    // Each domain's own count, read on that domain.
    let per_domain = rt.block_on(async {
        let mut counts = Vec::with_capacity(workers);
        for d in 0..workers {
            let count = trellis::spawn_on(DomainId::new(d), || async {
                SCRATCH.with(|s| s.borrow().rows)
            });
            counts.push(count.await?);
        }
        Ok::<_, trellis::JoinError>(counts)
    })?;
    drop(rt);

    let canvas = Arc::into_inner(canvas).expect("every row task is gone with its runtime");
    Ok(Render {
        pixels: canvas.pixels.into_inner().unwrap(),
        finished: canvas
            .finished
            .into_iter()
            .map(AtomicBool::into_inner)
            .collect(),
        per_domain,
        elapsed,
        interrupted,
    })
}

fn label(workers: usize) -> String {
    format!("{workers} worker{}", if workers == 1 { "" } else { "s" })
}

fn report(r: &Render, workers: usize) -> String {
    let mut line = format!("{:>10}: {:8.3} s", label(workers), r.elapsed.as_secs_f64());
    if r.cancelled_rows() > 0 {
        line += &format!(
            "  {} rows finished, {} cancelled by {}",
            r.finished_rows(),
            r.cancelled_rows(),
            if r.interrupted {
                "Ctrl-C"
            } else {
                "the deadline"
            }
        );
    }
    if workers > 1 {
        let counts: Vec<String> = r.per_domain.iter().map(|n| n.to_string()).collect();
        line += &format!("  (rows per domain: {})", counts.join(", "));
    }
    line
}

fn write_png(path: &str, size: usize, pixels: &[u8]) -> Result<(), Box<dyn Error>> {
    let side = u32::try_from(size)?;
    let mut encoder = png::Encoder::new(BufWriter::new(File::create(path)?), side, side);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(pixels)?;
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut cfg = parse_args(std::env::args().skip(1)).unwrap_or_else(|err| {
        eprintln!("error: {err}\n{USAGE}");
        process::exit(2);
    });
    cfg.ctrl_c = true;
    cfg.progress_lines = !std::io::IsTerminal::is_terminal(&std::io::stderr());
    run(&cfg)
}

/// The program: the renders, their reports, the image.
pub(crate) fn run(cfg: &Config) -> Result<(), Box<dyn Error>> {
    print!(
        "Mandelbrot {0}x{0}, max {1} iterations, {0} rows as nursery children over the domains",
        cfg.size, cfg.max_iter
    );
    match cfg.deadline {
        Some(d) => println!(", deadline {:.3} s", d.as_secs_f64()),
        None => println!(),
    }

    let baseline = if cfg.baseline {
        let base = render(cfg, 1)?;
        println!("{}", report(&base, 1));
        if base.interrupted {
            // Ctrl-C during the baseline: keep what it drew, and stop there.
            write_png(&cfg.out, cfg.size, &base.pixels)?;
            println!("wrote {}", cfg.out);
            return Ok(());
        }
        Some(base)
    } else {
        None
    };

    let r = render(cfg, cfg.workers)?;
    print!("{}", report(&r, cfg.workers));
    match &baseline {
        Some(base) => {
            // Same rows, same maths: every row both renders finished must match exactly.
            let row = cfg.size * 3;
            for y in (0..cfg.size).filter(|&y| base.finished[y] && r.finished[y]) {
                assert!(
                    base.pixels[y * row..(y + 1) * row] == r.pixels[y * row..(y + 1) * row],
                    "row {y} differs from the 1-worker image"
                );
            }
            if base.cancelled_rows() == 0 && r.cancelled_rows() == 0 {
                let speedup = base.elapsed.as_secs_f64() / r.elapsed.as_secs_f64();
                println!("  speedup {speedup:.2}x vs 1 worker");
            } else {
                // Rows differ in cost by orders of magnitude: rows per second say nothing.
                let by = if r.interrupted {
                    "Ctrl-C"
                } else {
                    "the deadline"
                };
                println!("  (no speedup: {by} cut a render short)");
            }
        }
        None => println!(),
    }

    write_png(&cfg.out, cfg.size, &r.pixels)?;
    println!("wrote {}", cfg.out);
    Ok(())
}
