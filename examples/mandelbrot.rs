//! Renders the Mandelbrot set on Trellis, one task per image row.
//!
//! ```text
//! cargo run --release --example mandelbrot -- [--workers N] [--size S] [--out PATH]
//!                                             [--max-iter K] [--no-baseline]
//! ```
//!
//! What it shows:
//!
//! - **One task per row.** Every row of the image is a separate `trellis::spawn`ed task that
//!   computes its pixels and returns them as a `Vec<u8>`; `block_on` joins the handles in order.
//! - **Uneven rows.** A row that crosses the set runs every pixel up to `--max-iter` iterations,
//!   while a row near the top or bottom edge escapes after a few. Rows differ in cost by orders of
//!   magnitude, so no static split of rows between threads is balanced.
//! - **Work stealing.** All rows are spawned from the thread that calls `block_on`; idle workers
//!   steal them, so the expensive middle rows spread over every worker instead of piling up.
//!
//! The render runs once on a 1-worker runtime (the baseline; skip it with `--no-baseline`) and
//! once on an N-worker runtime, and prints both wall times and the speedup.

use std::error::Error;
use std::f64::consts::LN_2;
use std::fs::File;
use std::io::BufWriter;
use std::process;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

const USAGE: &str =
    "usage: mandelbrot [--workers N] [--size S] [--out PATH] [--max-iter K] [--no-baseline]";

/// The part of the complex plane that is drawn: centre and width (the image is square).
const CENTER: (f64, f64) = (-0.65, 0.0);
const WIDTH: f64 = 3.0;
/// A large escape radius makes the smooth (fractional) iteration count accurate.
const ESCAPE_RADIUS_SQ: f64 = 256.0 * 256.0;

#[derive(Debug)]
struct Config {
    workers: usize,
    size: usize,
    out: String,
    max_iter: u32,
    baseline: bool,
}

fn parse_args() -> Result<Config, String> {
    let mut cfg = Config {
        workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
        size: 2048,
        out: "mandelbrot.png".to_owned(),
        max_iter: 1000,
        baseline: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--workers" => cfg.workers = number(&arg, &value()?)?,
            "--size" => cfg.size = number(&arg, &value()?)?,
            "--out" => cfg.out = value()?,
            "--max-iter" => cfg.max_iter = number(&arg, &value()?)?,
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

/// Computes one row of RGB pixels: the work of one task.
fn render_row(y: usize, size: usize, max_iter: u32) -> Vec<u8> {
    let scale = WIDTH / size as f64;
    let cy = CENTER.1 + (size as f64 / 2.0 - y as f64) * scale;
    let mut row = Vec::with_capacity(size * 3);
    for x in 0..size {
        let cx = CENTER.0 + (x as f64 - size as f64 / 2.0) * scale;
        row.extend_from_slice(&colour(escape_time(cx, cy, max_iter)));
    }
    row
}

/// Renders the whole image on a fresh `workers`-thread runtime; returns the pixels and wall time.
fn render(cfg: &Config, workers: usize) -> Result<(Vec<u8>, Duration), Box<dyn Error>> {
    let rt = trellis::Runtime::builder()
        .workers(workers)
        .thread_name("mandelbrot")
        .build()?;
    let progress = ProgressBar::new(cfg.size as u64).with_style(ProgressStyle::with_template(
        "{prefix:>10} [{bar:40.cyan/blue}] {pos}/{len} rows {elapsed_precise}",
    )?);
    progress.set_prefix(label(workers));
    let (size, max_iter) = (cfg.size, cfg.max_iter);

    let start = Instant::now();
    let pixels = rt.block_on(async {
        // Spawn every row first, so the workers have the whole image to share out...
        let rows: Vec<_> = (0..size)
            .map(|y| {
                let progress = progress.clone();
                trellis::spawn(async move {
                    let row = render_row(y, size, max_iter);
                    progress.inc(1);
                    row
                })
            })
            .collect();
        // ...then collect the finished rows in image order.
        let mut pixels = Vec::with_capacity(size * size * 3);
        for row in rows {
            pixels.extend(row.await.expect("row task failed"));
        }
        pixels
    });
    let elapsed = start.elapsed();
    progress.finish_and_clear();
    Ok((pixels, elapsed))
}

fn label(workers: usize) -> String {
    format!("{workers} worker{}", if workers == 1 { "" } else { "s" })
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
    let cfg = parse_args().unwrap_or_else(|err| {
        eprintln!("error: {err}\n{USAGE}");
        process::exit(2);
    });
    println!(
        "Mandelbrot {0}x{0}, max {1} iterations, {0} tasks (one per row)",
        cfg.size, cfg.max_iter
    );

    let baseline = if cfg.baseline {
        let (pixels, time) = render(&cfg, 1)?;
        println!("{:>10}: {:8.3} s", label(1), time.as_secs_f64());
        Some((pixels, time))
    } else {
        None
    };

    let (pixels, time) = render(&cfg, cfg.workers)?;
    print!("{:>10}: {:8.3} s", label(cfg.workers), time.as_secs_f64());
    match &baseline {
        Some((base_pixels, base_time)) => {
            // Same rows, same maths: the parallel image must match the baseline exactly.
            assert!(
                *base_pixels == pixels,
                "parallel image differs from the 1-worker image"
            );
            println!(
                "  speedup {:.2}x vs 1 worker",
                base_time.as_secs_f64() / time.as_secs_f64()
            );
        }
        None => println!(),
    }

    write_png(&cfg.out, cfg.size, &pixels)?;
    println!("wrote {}", cfg.out);
    Ok(())
}
