//! Randomised structure tests of Trellis; everything lives in `tests/`:
//!
//! - `tests/nursery_random_trees.rs`: proptest builds random trees of nurseries, cancel scopes
//!   and tasks, runs each on a paused-clock runtime in the scheduler's chaos mode
//!   (`Builder::chaos`), and checks the run against an oracle that simulates the tree.
//!
//! `cargo test` at the workspace root runs 64 cases from a fixed seed; run more with
//! `PROPTEST_CASES=5000 cargo test -p trellis-randomised`, other trees with
//! `PROPTEST_RNG_SEED=N`.
