//! What each misuse of the API does: the panic or error it gives, word for word, and the test
//! that checks it. A misuse never hangs a worker or corrupts the runtime, with one exception
//! marked below; a panic names the call the user made, not the internal function that noticed.
//!
//! `OUTSIDE(call)` below stands for: "`` `call` `` must be called from within a Trellis
//! runtime (a task, or a future run by `` `Runtime::block_on` `` / `` `trellis::run` ``);
//! from outside, use `` `Runtime::spawn` `` or enter the runtime with
//! `` `Runtime::block_on` ``".
//!
//! | Misuse | What happens | Test |
//! |---|---|---|
//! | `block_on` inside another `block_on` (same or another runtime) | panic: "`` `Runtime::block_on` `` called inside another `` `block_on` ``: a thread can drive one runtime at a time. `` `.await` `` the future instead, or run it with `` `spawn_blocking` `` on another thread" | `tests/rt_builder.rs`: `nested_block_on_panics_with_an_explanation`, `nested_block_on_of_another_runtime_panics` |
//! | `block_on` (or `trellis::run`) inside a task, on a worker thread | panic: "`` `Runtime::block_on` `` called from a Trellis worker thread: blocking a worker would stall every task queued on it. Inside a task, `` `.await` `` the future instead (or `` `spawn` `` it and await its JoinHandle); for blocking code use `` `spawn_blocking` ``" | `tests/rt_builder.rs`: `block_on_inside_a_task_panics_with_an_explanation`; `tests/rt_error_messages.rs`: `a_nested_run_names_trellis_run` |
//! | `trellis::spawn` (or `spawn_on`, `domain::count`) outside a runtime | panic: `OUTSIDE(trellis::spawn)` (the call's own name) | `tests/rt_spawn.rs`: `spawn_outside_a_runtime_panics_with_an_explanation`; `tests/domain_api.rs`: `spawn_on_outside_a_runtime_panics_clearly`, `count_panics_outside_a_runtime` |
//! | a socket created outside a runtime | panic: `OUTSIDE(TcpListener::from_std)` (each constructor names the registration call) | `tests/rt_misuse.rs`: `a_socket_created_outside_a_runtime_panics_naming_the_call` |
//! | a timer polled outside a runtime (created outside one, it runs in the runtime that first polls it) | panic naming `trellis::time::sleep` | `tests/time_first_poll.rs`: `sleep_polled_outside_a_runtime_panics_clearly`, `sleep_created_outside_a_runtime_runs_in_it` |
//! | `spawn_local` outside a domain (from `block_on`, a blocking job, a plain thread) | panic: "`` `trellis::spawn_local` `` called outside a domain: only a worker thread hosts a domain. Use `` `trellis::spawn_on(DomainId::new(i), \|\| future)` `` to start a pinned task on a chosen domain, or `` `trellis::spawn` `` for a `` `Send` `` task" | `tests/domain_api.rs`: `spawn_local_outside_a_domain_panics_naming_spawn_on`; `tests/rt_error_messages.rs`: `start_soon_local_outside_a_domain_names_nursery_start_soon_local` |
//! | an unknown domain (`spawn_on(DomainId::new(9), ..)` on 2 workers) | panic: "`` `Runtime::spawn_on(DomainId(9), ..)` ``: this runtime has 2 domain(s), DomainId(0) to DomainId(1); use an index below `` `trellis::domain::count()` ``" | `tests/domain_api.rs`: `spawn_on_an_unknown_domain_panics_with_the_range_and_never_hangs`; `tests/rt_error_messages.rs`: `start_soon_on_an_unknown_domain_names_nursery_start_soon_on` |
//! | a `domain_local!` value used outside a domain | panic: "a `` `domain_local!` `` value was used outside a domain: only worker threads host domains. Use it inside a task (`` `trellis::spawn` ``, `` `spawn_local` ``, `` `spawn_on` ``)" | `tests/domain_local.rs`: `use_outside_a_domain_panics_with_a_hint` |
//! | a nursery handle used from a plain thread | panic naming the method (`` `Nursery::start_soon` `` ...) | `tests/rt_error_messages.rs`: `a_nursery_handle_used_from_a_plain_thread_names_its_method` |
//! | the runtime dropped inside one of its own tasks | not an error: the runtime shuts down from that worker (no deadlock); the dropping task's handle gives its output or `Cancelled` | `tests/rt_shutdown.rs`: `last_runtime_reference_dropped_inside_its_own_task`; `tests/rt_blocking.rs`: `last_runtime_reference_dropped_inside_a_blocking_job` |
//! | spawning after shutdown (from a blocking job that `shutdown_timeout` detached) | no panic: the `JoinHandle` is finished at once with `JoinError::Cancelled`; the future (or `spawn_on` closure) is dropped unrun on the calling thread | `tests/rt_misuse.rs`: `spawn_from_a_detached_blocking_thread_after_shutdown_is_cancelled`; `tests/domain_shutdown.rs`: `spawn_on_from_a_detached_blocking_thread_after_shutdown_is_cancelled` |
//! | a socket used after its runtime dropped | every operation fails with `io::ErrorKind::Other`: "the Trellis runtime this socket was created in has shut down" | `tests/rt_misuse.rs`: `a_socket_used_after_its_runtime_dropped_fails_with_an_error` |
//! | `TaskStatus::started` called twice | does not compile: `started` takes the status by value (example below) | the `compile_fail` example below |
//! | a `JoinHandle` polled again after it returned | panic: "JoinHandle polled after it returned the output" | `tests/rt_misuse.rs`: `a_join_handle_polled_after_its_output_panics` |
//! | `JoinError::into_panic` on a cancellation | panic: "JoinError::into_panic called on a cancelled task's error: JoinError::Cancelled" | `tests/rt_misuse.rs`: `into_panic_on_a_cancelled_task_s_error_panics` |
//! | `channel::bounded(usize::MAX)` | panic naming `bounded(cap)` | `tests/rt_error_messages.rs`: `bounded_with_a_capacity_too_large_to_allocate_names_bounded` |
//! | `channel::bounded(n)` with a huge `n` that fits `usize` (`1 << 40`) | panic naming `bounded(cap)` (large buffers are test-allocated first), never an abort | `tests/rt_error_messages.rs`: `bounded_with_a_capacity_too_large_to_allocate_names_bounded` |
//! | an `AsyncValue` predicate, transform or `with` closure that touches its own value (`wait_value(\|v\| value.get() == *v)`) | panic naming the call (it would deadlock on the value's lock) | `tests/util_async_value_reentrant.rs` |
//! | `Builder::workers(0)` | `BuildError`: "a runtime needs at least 1 worker: pass `` `workers(n)` `` with n >= 1, or set TRELLIS_WORKERS to a positive integer (or unset it to use one per CPU)" | `tests/rt_builder.rs`: `workers_zero_is_a_build_error_with_a_helpful_message` |
//!
//! `Handle::current()` outside a runtime panics the same way (`Handle::try_current()` returns
//! `None` instead): `tests/rt_handle.rs`.
//!
//! # Examples
//!
//! A runtime-only call outside a runtime panics, naming the call:
//!
//! ```
//! let payload = std::panic::catch_unwind(|| trellis::spawn(async {})).unwrap_err();
//! let msg = payload.downcast_ref::<String>().unwrap();
//! assert!(msg.starts_with("`trellis::spawn` must be called from within a Trellis runtime"));
//! ```
//!
//! `started` consumes the status, so a second call does not compile:
//!
//! ```compile_fail,E0382
//! trellis::run(async {
//!     trellis::nursery(async |n| {
//!         let v = n
//!             .start(|s| async move {
//!                 s.started(1);
//!                 s.started(2);
//!             })
//!             .await;
//!         assert_eq!(v.unwrap(), 1);
//!     })
//!     .await
//!     .unwrap();
//! });
//! ```
