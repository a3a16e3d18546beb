//! Turns criterion's output into the Markdown benchmark table of `BENCHMARKS.md`.
//!
//! ```text
//! cargo bench --bench rt
//! cargo run --release -p trellis-benches --bin bench_table   # print the table
//! cargo run --release -p trellis-benches --bin bench_table -- --write BENCHMARKS.md [--machine "2-core VM"]
//! ```
//!
//! It reads every `new/estimates.json` under the criterion directory (default
//! `$CARGO_TARGET_DIR/criterion`, else `target/criterion`; `--dir` to change it), takes the
//! **median** point estimate (ns), and the ids from `benchmark.json` next to it. Ids follow the
//! scheme of `benches/rt.rs`: group `<shape>/<workers>w` (e.g. `rt::yield_many/2w`), function
//! `trellis`, `tokio`, `async_executor` or `rayon`. Each row is one shape at one worker count:
//! the times, then Trellis time / peer time for each peer and for the fastest peer (below 1.00x,
//! Trellis is faster). Any other function (e.g. `trellis_raw` in `benches/scope.rs`) gets a row
//! of its own in a second table, after the first, with Trellis time / its time.
//!
//! With `--write FILE` the table replaces what lies between `<!-- bench table start -->` and
//! `<!-- bench table end -->` in FILE (the section is appended when the markers are missing, and
//! FILE is created when it does not exist), together with the date, the machine (`--machine`, or
//! the CPU model from `/proc/cpuinfo`), the core count (`available_parallelism`) and the command
//! (`--command` to override).
//!
//! `--only rt::,time::` keeps only the shapes whose names start with one of the prefixes (the
//! README's excerpt of the same run is written with it).
//!
//! With `--svg FILE` it also draws the chart the README links: one line per shape and worker
//! count, one bar per peer, the bar's length the ratio Trellis time / peer time on a log scale
//! centred on 1.00x (left of the axis, Trellis is faster), clamped to 1/8x..8x.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

const START: &str = "<!-- bench table start -->";
const END: &str = "<!-- bench table end -->";
const DEFAULT_COMMAND: &str = "cargo bench --bench rt && cargo run --release -p trellis-benches --bin bench_table -- --write BENCHMARKS.md";

/// Peer columns, in order: function id in the benchmark id, column title.
const PEERS: [(&str, &str); 3] = [
    ("tokio", "tokio"),
    ("async_executor", "async-executor"),
    ("rayon", "rayon"),
];
const TRELLIS: &str = "trellis";

/// Shapes in the order of `BENCHMARKS.md`; others follow, sorted.
const SHAPE_ORDER: [&str; 21] = [
    "rt::spawn_many_remote",
    "rt::spawn_many_local",
    "rt::spawn_many_remote_busy",
    "rt::yield_many",
    "rt::ping_pong",
    "rt::chained_spawn",
    "rt::spawn_one",
    "time::timers_100k",
    "domain::spawn_local_many",
    "domain::spawn_on_remote",
    "chan::ring",
    "chan::cross_domain_ping_pong",
    "chan::request_reply",
    "nursery::spawn_join",
    "nursery::cancel_fanout",
    "cancel::move_on_after_ready",
    "cancel::cross_thread_latency",
    "cpu::fib_spawn",
    "cpu::tree_sum",
    "cpu::mandelbrot_rows",
    "cpu::mergesort",
];

struct Args {
    dir: PathBuf,
    write: Option<PathBuf>,
    svg: Option<PathBuf>,
    machine: Option<String>,
    command: String,
    /// Shape prefixes to keep (`--only rt::,time::`); empty: every shape.
    only: Vec<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: bench_table [--dir CRITERION_DIR] [--write FILE] [--svg FILE] [--machine TEXT] \
         [--command TEXT] [--only PREFIX,PREFIX]"
    );
    std::process::exit(2);
}

fn parse_args() -> Args {
    let default_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("criterion");
    let mut args = Args {
        dir: default_dir,
        write: None,
        svg: None,
        machine: None,
        command: DEFAULT_COMMAND.to_owned(),
        only: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--dir" => args.dir = PathBuf::from(value()),
            "--write" => args.write = Some(PathBuf::from(value())),
            "--svg" => args.svg = Some(PathBuf::from(value())),
            "--machine" => args.machine = Some(value()),
            "--command" => args.command = value(),
            "--only" => args.only = value().split(',').map(str::to_owned).collect(),
            "-h" | "--help" => usage(),
            _ => {
                eprintln!("bench_table: unknown argument `{a}`");
                usage();
            }
        }
    }
    args
}

/// (shape, workers) -> function id -> median in ns.
type Results = BTreeMap<(String, Option<usize>), BTreeMap<String, f64>>;

/// Splits `rt::yield_many/2w` into (`rt::yield_many`, Some(2)).
fn split_group(group: &str) -> (String, Option<usize>) {
    if let Some((shape, w)) = group.rsplit_once('/')
        && let Some(n) = w.strip_suffix('w')
        && let Ok(n) = n.parse()
    {
        return (shape.to_owned(), Some(n));
    }
    (group.to_owned(), None)
}

/// Ids from the directory names when `benchmark.json` is missing:
/// `rt__yield_many_2w/trellis` (criterion replaces `:` and `/` with `_`).
fn ids_from_dirs(new_dir: &Path) -> Option<(String, String)> {
    let func_dir = new_dir.parent()?;
    let group_dir = func_dir.parent()?;
    let func = func_dir.file_name()?.to_str()?.to_owned();
    let mut group = group_dir.file_name()?.to_str()?.replacen("__", "::", 1);
    if let Some((shape, w)) = group.rsplit_once('_')
        && w.strip_suffix('w')
            .is_some_and(|n| n.parse::<usize>().is_ok())
    {
        group = format!("{shape}/{w}");
    }
    Some((group, func))
}

fn read_json(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

fn collect(dir: &Path, out: &mut Results) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let name = entry.file_name();
        if name == "new" {
            if let Some((group, func, median)) = read_estimate(&path) {
                let (shape, workers) = split_group(&group);
                out.entry((shape, workers))
                    .or_default()
                    .insert(func, median);
            }
        } else if name != "base" && name != "change" && name != "report" {
            collect(&path, out);
        }
    }
}

fn read_estimate(new_dir: &Path) -> Option<(String, String, f64)> {
    let est = read_json(&new_dir.join("estimates.json"))?;
    let median = est.get("median")?.get("point_estimate")?.as_f64()?;
    let (group, func) = match read_json(&new_dir.join("benchmark.json")) {
        Some(b) => {
            let group = b.get("group_id")?.as_str()?.to_owned();
            // Ids written as `BenchmarkId::new(function, "2w")` put the worker count in value_str.
            let value = b.get("value_str").and_then(Value::as_str);
            let group = match value {
                Some(v) if v.ends_with('w') => format!("{group}/{v}"),
                _ => group,
            };
            let func = b
                .get("function_id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            (group, func)
        }
        None => ids_from_dirs(new_dir)?,
    };
    Some((group, func, median))
}

/// `1.23 ms`: three significant digits in the largest unit that keeps the value ≥ 1.
fn human(ns: f64) -> String {
    let (v, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$} {unit}")
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "—".to_owned(),
    }
}

fn shape_rank(shape: &str) -> usize {
    SHAPE_ORDER
        .iter()
        .position(|s| *s == shape)
        .unwrap_or(SHAPE_ORDER.len())
}

type Row<'a> = (&'a (String, Option<usize>), &'a BTreeMap<String, f64>);

/// The rows of the main table (and the chart), in `BENCHMARKS.md`'s shape order.
fn peer_rows(results: &Results) -> Vec<Row<'_>> {
    let mut rows: Vec<_> = results
        .iter()
        .filter(|(_, f)| f.contains_key(TRELLIS) || PEERS.iter().any(|(id, _)| f.contains_key(*id)))
        .collect();
    rows.sort_by(|((sa, wa), _), ((sb, wb), _)| {
        (shape_rank(sa), sa, wa).cmp(&(shape_rank(sb), sb, wb))
    });
    rows
}

fn table(results: &Results) -> String {
    let rows = peer_rows(results);

    let mut s = String::new();
    s.push_str("| shape | workers | Trellis |");
    for (_, title) in PEERS {
        let _ = write!(s, " {title} |");
    }
    for (_, title) in PEERS {
        let _ = write!(s, " Trellis/{title} |");
    }
    s.push_str(" Trellis/best peer |\n|---|--:|--:|");
    for _ in 0..2 * PEERS.len() + 1 {
        s.push_str("--:|");
    }
    s.push('\n');

    let cell = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), human);
    for ((shape, workers), funcs) in rows {
        let trellis = funcs.get(TRELLIS).copied();
        let workers = workers.map_or_else(|| "—".to_owned(), |w| w.to_string());
        let _ = write!(s, "| `{shape}` | {workers} | {} |", cell(trellis));
        for (id, _) in PEERS {
            let _ = write!(s, " {} |", cell(funcs.get(id).copied()));
        }
        for (id, _) in PEERS {
            let _ = write!(s, " {} |", ratio(trellis, funcs.get(id).copied()));
        }
        let best = PEERS
            .iter()
            .filter_map(|(id, title)| funcs.get(*id).map(|t| (*t, *title)))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        match best {
            Some((t, title)) if trellis.is_some() => {
                let _ = writeln!(s, " {} ({title}) |", ratio(trellis, Some(t)));
            }
            _ => s.push_str(" — |\n"),
        }
    }
    s
}

/// Functions that are neither `trellis` nor a peer column (e.g. `trellis_raw` in
/// `nursery::spawn_join`: Trellis without a nursery), one row each with Trellis time / its time;
/// empty when there are none.
fn other_table(results: &Results) -> String {
    let mut rows: Vec<_> = results
        .iter()
        .flat_map(|(key, funcs)| {
            funcs
                .iter()
                .filter(|(f, _)| *f != TRELLIS && PEERS.iter().all(|(id, _)| id != f))
                .map(move |(f, t)| (key, f, *t, funcs.get(TRELLIS).copied()))
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    rows.sort_by(|((sa, wa), fa, ..), ((sb, wb), fb, ..)| {
        (shape_rank(sa), sa, wa, fa).cmp(&(shape_rank(sb), sb, wb, fb))
    });
    let mut s = String::from(
        "\nOther functions (Trellis variants, extra peers):\n\n\
         | shape | workers | function | time | Trellis/function |\n|---|--:|---|--:|--:|\n",
    );
    for ((shape, workers), func, time, trellis) in rows {
        let workers = workers.map_or_else(|| "—".to_owned(), |w| w.to_string());
        let _ = writeln!(
            s,
            "| `{shape}` | {workers} | `{func}` | {} | {} |",
            human(time),
            ratio(trellis, Some(time))
        );
    }
    s
}

/// `YYYY-MM-DD HH:MM UTC` from the system clock (days-to-civil, proleptic Gregorian).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3_600,
        rem % 3_600 / 60
    )
}

fn default_machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    });
    let os = format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH);
    match cpu {
        Some(cpu) => format!("{cpu}, {os}"),
        None => os,
    }
}

fn section(args: &Args, table: &str) -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let machine = args.machine.clone().unwrap_or_else(default_machine);
    format!(
        "{START}\n\
         Medians from criterion (`target/criterion/**/new/estimates.json`); a ratio is Trellis time / \
         peer time at the same worker count in the same run (below 1.00x, Trellis is faster).\n\n\
         Date: {date}. Machine: {machine}, {cores} cores (`available_parallelism`). \
         Command: `{command}`.\n\n\
         {table}{END}",
        date = utc_now(),
        command = args.command,
    )
}

fn write_file(path: &Path, section: &str) -> std::io::Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(old) => match (old.find(START), old.find(END)) {
            (Some(a), Some(b)) if a < b => {
                format!("{}{section}{}", &old[..a], &old[b + END.len()..])
            }
            _ => {
                let sep = if old.ends_with('\n') { "\n" } else { "\n\n" };
                format!("{old}{sep}## Latest figures\n\n{section}\n")
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => format!(
            "# Benchmarks\n\nTrellis against its peers, side by side in one bench binary \
             (`benches/rt.rs`). Regenerate with `{DEFAULT_COMMAND}`.\n\n{section}\n"
        ),
        Err(e) => return Err(e),
    };
    std::fs::write(path, text)
}

/// The SVG chart (module doc): Trellis time / peer time per row and peer, log scale.
fn svg(results: &Results, subtitle: &str) -> String {
    const COLORS: [&str; PEERS.len()] = ["#3b6fb6", "#d08c2b", "#4a9a5b"];
    const LABEL_W: f64 = 330.0;
    const PLOT_W: f64 = 420.0;
    const BAR_H: f64 = 7.0;
    const ROW_H: f64 = PEERS.len() as f64 * BAR_H + 6.0;
    const TOP: f64 = 64.0;
    let rows: Vec<_> = peer_rows(results)
        .into_iter()
        .filter(|(_, f)| f.contains_key(TRELLIS))
        .collect();
    let height = TOP + ROW_H * rows.len() as f64 + 40.0;
    let width = LABEL_W + PLOT_W + 90.0;
    let centre = LABEL_W + PLOT_W / 2.0;
    // x of a ratio: log2, 1/8x at the left edge, 8x at the right.
    let x = |r: f64| centre + r.log2().clamp(-3.0, 3.0) / 3.0 * (PLOT_W / 2.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"11\">"
    );
    let _ = writeln!(
        s,
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"18\" font-size=\"14\">Trellis time / peer time (log scale; left of \
         1.00x, Trellis is faster)</text>\n<text x=\"10\" y=\"34\">{}</text>",
        escape(subtitle)
    );
    for (i, (_, title)) in PEERS.iter().enumerate() {
        let lx = LABEL_W + 160.0 * i as f64;
        let _ = writeln!(
            s,
            "<rect x=\"{lx}\" y=\"42\" width=\"10\" height=\"10\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"51\">vs {title}</text>",
            COLORS[i],
            lx + 14.0
        );
    }
    for r in [0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0] {
        let gx = x(r);
        let stroke = if r == 1.0 { "#000" } else { "#ddd" };
        let _ = writeln!(
            s,
            "<line x1=\"{gx}\" y1=\"{TOP}\" x2=\"{gx}\" y2=\"{}\" stroke=\"{stroke}\"/>\
             <text x=\"{gx}\" y=\"{}\" text-anchor=\"middle\">{r}x</text>",
            height - 30.0,
            height - 16.0
        );
    }
    for (row, ((shape, workers), funcs)) in rows.iter().enumerate() {
        let y = TOP + ROW_H * row as f64;
        let trellis = funcs[TRELLIS];
        let label = match workers {
            Some(w) => format!("{shape} ({w}w)"),
            None => shape.clone(),
        };
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            LABEL_W - 8.0,
            y + BAR_H + 3.0,
            escape(&label)
        );
        for (i, (id, _)) in PEERS.iter().enumerate() {
            let Some(peer) = funcs.get(*id).filter(|t| **t > 0.0) else {
                continue;
            };
            let ratio = trellis / peer;
            let (x0, x1) = (x(ratio).min(centre), x(ratio).max(centre));
            let by = y + BAR_H * i as f64;
            let _ = writeln!(
                s,
                "<rect x=\"{x0:.1}\" y=\"{by}\" width=\"{:.1}\" height=\"{}\" fill=\"{}\"/>\
                 <text x=\"{:.1}\" y=\"{}\" font-size=\"8\">{ratio:.2}x</text>",
                (x1 - x0).max(0.5),
                BAR_H - 1.0,
                COLORS[i],
                LABEL_W + PLOT_W + 6.0,
                by + BAR_H - 1.0
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn main() {
    let args = parse_args();
    let mut results = Results::new();
    collect(&args.dir, &mut results);
    if !args.only.is_empty() {
        results.retain(|(shape, _), _| args.only.iter().any(|p| shape.starts_with(p.as_str())));
    }
    if results.is_empty() {
        eprintln!(
            "bench_table: no criterion results under {} (run `cargo bench --bench rt` first)",
            args.dir.display()
        );
        std::process::exit(1);
    }
    let table = table(&results) + &other_table(&results);
    print!("{table}");
    if let Some(path) = &args.write {
        if let Err(e) = write_file(path, &section(&args, &table)) {
            eprintln!("bench_table: cannot write {}: {e}", path.display());
            std::process::exit(1);
        }
        eprintln!("bench_table: wrote the table into {}", path.display());
    }
    if let Some(path) = &args.svg {
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let machine = args.machine.clone().unwrap_or_else(default_machine);
        let subtitle = format!("{} · {machine}, {cores} cores", utc_now());
        if let Err(e) = std::fs::write(path, svg(&results, &subtitle)) {
            eprintln!("bench_table: cannot write {}: {e}", path.display());
            std::process::exit(1);
        }
        eprintln!("bench_table: drew the chart into {}", path.display());
    }
}
