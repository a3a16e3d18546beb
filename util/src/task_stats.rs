//! `TaskStats`: an instrument that reports what blocked the workers (trio-util's `TaskStats`).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use trellis_runtime::time::Instant;
use trellis_runtime::{Instrument, TaskId, TaskInfo};

/// Schedules of one task name are counted in windows of this length to measure its rate.
const RATE_MEASURE_PERIOD: Duration = Duration::from_millis(250);

/// A runtime instrument that records the slowest polls per task name (what held a worker),
/// the longest scheduling delay (runnable to polled), and task names scheduled at a high rate.
/// Install it with [`Builder::instrument`](trellis_runtime::Builder::instrument); read it with
/// [`report`](Self::report) at any time. When the runtime stops, the report is printed to
/// standard error unless [`print_on_stop(false)`](Self::print_on_stop) (trio-util logs it at
/// INFO level in `after_run`).
///
/// Tasks are labelled by their name ([`TaskBuilder::name`](trellis_runtime::TaskBuilder::name),
/// [`Nursery::start_soon_named`](trellis_runtime::Nursery::start_soon_named)), else by the type
/// name of their future. Times come from [`Instant::now`], so on a paused clock they are
/// virtual.
///
/// Behaviour as trio-util's: a schedule-rate window closes only when a later schedule arrives
/// more than 250 ms after the window began; a rate is the window's count over 250 ms, and the
/// highest rate at or above the threshold is kept per name.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use trellis::util::TaskStats;
///
/// let stats = Arc::new(TaskStats::new().print_on_stop(false));
/// let rt = trellis::Runtime::builder().workers(1).start_paused(true)
///     .instrument(stats.clone()).build().unwrap();
/// rt.block_on(async {
///     trellis::TaskBuilder::new().name("hog").spawn(async {
///         trellis::time::advance(Duration::from_millis(40)); // a 40 ms poll
///     }).await.unwrap();
/// });
/// drop(rt);
/// let report = stats.report();
/// assert_eq!(report.slow_steps()[0].0, "hog");
/// assert!(report.to_string().contains("hog: 40ms"));
/// ```
pub struct TaskStats {
    slow_task_threshold: Duration,
    high_rate_task_threshold: f64,
    print_on_stop: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// When each runnable task was last scheduled.
    scheduled_at: HashMap<TaskId, Instant>,
    /// When each task's current poll began (several workers poll at once).
    poll_started: HashMap<TaskId, Instant>,
    max_wait: Duration,
    slow_steps: HashMap<String, Vec<Duration>>,
    schedule_counts: HashMap<String, usize>,
    rate_start: Option<Instant>,
    high_rates: HashMap<String, f64>,
}

impl TaskStats {
    /// An instrument with trio-util's defaults: polls longer than 10 ms are slow, and names
    /// scheduled at 100 Hz or more are reported.
    ///
    /// # Examples
    ///
    /// ```
    /// let stats = trellis::util::TaskStats::new();
    /// assert!(stats.report().slow_steps().is_empty());
    /// ```
    pub fn new() -> TaskStats {
        TaskStats {
            slow_task_threshold: Duration::from_millis(10),
            high_rate_task_threshold: 100.0,
            print_on_stop: true,
            state: Mutex::new(State::default()),
        }
    }

    /// Polls longer than this are reported (default 10 ms).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let stats = trellis::util::TaskStats::new().slow_task_threshold(Duration::from_millis(15));
    /// # drop(stats);
    /// ```
    pub fn slow_task_threshold(mut self, threshold: Duration) -> TaskStats {
        self.slow_task_threshold = threshold;
        self
    }

    /// Task names scheduled at this rate (per second) or more are reported (default 100).
    ///
    /// # Panics
    ///
    /// Panics if `hz` is NaN or negative.
    ///
    /// # Examples
    ///
    /// ```
    /// let stats = trellis::util::TaskStats::new().high_rate_task_threshold(50.0);
    /// # drop(stats);
    /// ```
    pub fn high_rate_task_threshold(mut self, hz: f64) -> TaskStats {
        assert!(
            hz >= 0.0,
            "high_rate_task_threshold must be a rate >= 0, got {hz}"
        );
        self.high_rate_task_threshold = hz;
        self
    }

    /// Whether the report is printed to standard error when the runtime stops (default
    /// `true`).
    ///
    /// # Examples
    ///
    /// ```
    /// let quiet = trellis::util::TaskStats::new().print_on_stop(false);
    /// # drop(quiet);
    /// ```
    pub fn print_on_stop(mut self, print: bool) -> TaskStats {
        self.print_on_stop = print;
        self
    }

    /// What was recorded so far.
    ///
    /// # Examples
    ///
    /// ```
    /// let stats = trellis::util::TaskStats::new();
    /// assert_eq!(stats.report().max_wait(), std::time::Duration::ZERO);
    /// ```
    pub fn report(&self) -> TaskStatsReport {
        let state = self.lock();
        let mut slow_steps: Vec<(String, Vec<Duration>)> = state
            .slow_steps
            .iter()
            .map(|(name, steps)| {
                let mut steps = steps.clone();
                steps.sort_unstable_by(|a, b| b.cmp(a));
                (name.clone(), steps)
            })
            .collect();
        slow_steps.sort_by(|a, b| b.1[0].cmp(&a.1[0]).then_with(|| a.0.cmp(&b.0)));
        let mut high_rates: Vec<(String, f64)> = state
            .high_rates
            .iter()
            .map(|(name, rate)| (name.clone(), *rate))
            .collect();
        high_rates.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        TaskStatsReport {
            slow_task_threshold: self.slow_task_threshold,
            max_wait: state.max_wait,
            slow_steps,
            high_rates,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No critical section panics; a poisoned lock still holds consistent counts.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for TaskStats {
    fn default() -> Self {
        TaskStats::new()
    }
}

impl fmt::Debug for TaskStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskStats")
            .field("slow_task_threshold", &self.slow_task_threshold)
            .field("high_rate_task_threshold", &self.high_rate_task_threshold)
            .finish_non_exhaustive()
    }
}

fn label<'t>(task: &'t TaskInfo<'_>) -> &'t str {
    task.name().unwrap_or(task.type_name())
}

/// `map[key] op= ..` without allocating the key when it is present.
fn entry<'m, V: Default>(map: &'m mut HashMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.get_mut(key).expect("inserted above")
}

impl Instrument for TaskStats {
    fn task_scheduled(&self, task: &TaskInfo<'_>) {
        let now = Instant::now();
        let mut state = self.lock();
        let state = &mut *state;
        state.scheduled_at.insert(task.id(), now);
        let rate_start = *state.rate_start.get_or_insert(now);
        if now - rate_start > RATE_MEASURE_PERIOD {
            let period = RATE_MEASURE_PERIOD.as_secs_f64();
            for (name, count) in state.schedule_counts.drain() {
                let rate = count as f64 / period;
                if rate >= self.high_rate_task_threshold {
                    let best = entry(&mut state.high_rates, &name);
                    *best = best.max(rate);
                }
            }
            state.rate_start = Some(now);
        }
        *entry(&mut state.schedule_counts, label(task)) += 1;
    }

    fn before_task_poll(&self, task: &TaskInfo<'_>) {
        let now = Instant::now();
        let mut state = self.lock();
        if let Some(scheduled) = state.scheduled_at.remove(&task.id()) {
            state.max_wait = state.max_wait.max(now - scheduled);
        }
        state.poll_started.insert(task.id(), now);
    }

    fn after_task_poll(&self, task: &TaskInfo<'_>) {
        let now = Instant::now();
        let mut state = self.lock();
        if let Some(start) = state.poll_started.remove(&task.id()) {
            let step = now - start;
            if step > self.slow_task_threshold {
                entry(&mut state.slow_steps, label(task)).push(step);
            }
        }
    }

    fn task_exited(&self, task: &TaskInfo<'_>) {
        // Its id may be reused by a later task.
        self.lock().scheduled_at.remove(&task.id());
    }

    fn runtime_stopped(&self) {
        if self.print_on_stop {
            eprintln!("{}", self.report());
        }
    }
}

/// A snapshot of [`TaskStats`]. Its `Display` is trio-util's log text: the max wait, then
/// `slow task step events (> N ms):` with one line per name (worst first, steps in
/// descending order), then `high task schedule rates:` (highest first).
///
/// # Examples
///
/// ```
/// let report = trellis::util::TaskStats::new().report();
/// assert_eq!(report.to_string(), "max task wait time: 0.00 ms");
/// ```
#[derive(Debug, Clone)]
pub struct TaskStatsReport {
    slow_task_threshold: Duration,
    max_wait: Duration,
    slow_steps: Vec<(String, Vec<Duration>)>,
    high_rates: Vec<(String, f64)>,
}

impl TaskStatsReport {
    /// The longest time a task waited between being scheduled and being polled.
    ///
    /// # Examples
    ///
    /// ```
    /// let report = trellis::util::TaskStats::new().report();
    /// assert_eq!(report.max_wait(), std::time::Duration::ZERO);
    /// ```
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// Polls over the threshold, per task name: the worst name first, each name's polls
    /// longest first.
    ///
    /// # Examples
    ///
    /// ```
    /// let report = trellis::util::TaskStats::new().report();
    /// assert!(report.slow_steps().is_empty());
    /// ```
    pub fn slow_steps(&self) -> &[(String, Vec<Duration>)] {
        &self.slow_steps
    }

    /// The highest schedule rate (Hz) seen per task name, at or above the threshold, highest
    /// first.
    ///
    /// # Examples
    ///
    /// ```
    /// let report = trellis::util::TaskStats::new().report();
    /// assert!(report.high_rates().is_empty());
    /// ```
    pub fn high_rates(&self) -> &[(String, f64)] {
        &self.high_rates
    }
}

impl fmt::Display for TaskStatsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "max task wait time: {:.2} ms",
            self.max_wait.as_secs_f64() * 1000.0
        )?;
        if !self.slow_steps.is_empty() {
            write!(
                f,
                "\nslow task step events (> {:.0} ms):",
                self.slow_task_threshold.as_secs_f64() * 1000.0
            )?;
            for (name, steps) in &self.slow_steps {
                write!(f, "\n  {name}: ")?;
                for (i, step) in steps.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{:.0}ms", step.as_secs_f64() * 1000.0)?;
                }
            }
        }
        if !self.high_rates.is_empty() {
            write!(f, "\nhigh task schedule rates:")?;
            for (name, rate) in &self.high_rates {
                write!(f, "\n  {name}: {rate:.0} Hz")?;
            }
        }
        Ok(())
    }
}
