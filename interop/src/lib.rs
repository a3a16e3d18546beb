//! Real programs on Trellis against outside peers; everything lives in `examples/` and `tests/`:
//!
//! - `examples/websocket_values/`: the PyCon JP 2024 talk's websocket program (client and
//!   server), tested against Python's `websockets` package (`tests/io_websocket.rs`).
//! - `examples/http_hello.rs`: an HTTP/1.1 server on hyper 1.x with graceful shutdown, tested
//!   with hyper's client and a blocking client (`tests/io_http.rs`).
//!
//! Run them from the workspace root: `cargo run --example websocket_values`,
//! `cargo run --release --example http_hello`.
