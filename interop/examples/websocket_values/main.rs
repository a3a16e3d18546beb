//! The PyCon JP 2024 talk's websocket program on Trellis: a client that connects to a websocket
//! server, updates two `AsyncValue`s from its messages and prints each state of their
//! composite with `eventual_values`; and the server that sends those messages, so the example
//! runs self-contained.
//!
//! ```text
//! cargo run --example websocket_values                 # server and client, port 8888
//! cargo run --example websocket_values -- --server     # only the server (localhost:8888)
//! cargo run --example websocket_values -- --client     # only the client
//! cargo run --example websocket_values -- --port 9000  # another port
//! ```
//!
//! Trio on the left, Trellis on the right (`talk.rs`, `watch`):
//!
//! ```text
//! async with trio.open_nursery() as nursery:         trellis::nursery(async |n| {
//!   ws = await connect_websocket(                       let (ws, _) = client_async(url, stream).await?;
//!       nursery, "localhost", 8888, "/")
//!   event1 = AsyncValue("baby")                         let event1 = AsyncValue::shared("baby");
//!   event2 = AsyncValue("bottle")                       let event2 = AsyncValue::shared("bottle");
//!   nursery.start_soon(fetch, ws, event1, event2)       n.start_soon(fetch(ws, event1.clone(), event2.clone(), closed.clone()));
//!   with compose_values(event1=event1,                  let composite = compose_values!(event1: &event1, event2: &event2);
//!                       event2=event2) as composite:
//!     async for v in composite.eventual_values():       let mut values = composite.eventual_values(any_value);
//!       print(f"{v=}")                                  while let Some(v) = or(values.next(), closing).await { show(v) }
//! ```
//!
//! One difference: the loop ends when `fetch` reports the close, instead of by cancelling the
//! nursery. In Trio a task woken with a value still gets it when a cancellation arrives before
//! it runs; in Trellis a cancelled wait never completes (it is dropped at its checkpoint), so
//! cancelling right after the last update could cut off the final state.
//!
//! The websocket is async-tungstenite over `trellis::net::TcpStream` (futures-io). States in
//! between may be skipped or seen (eventual consistency: the listener may run on another
//! worker between the two updates of one message); the last line is always the final state.

mod talk;

use trellis::net::TcpListener;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().any(|a| a == name);
    let port: u16 = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .map(|p| p.parse().expect("--port takes a number"))
        .unwrap_or(8888);
    let (server, client) = match (flag("--server"), flag("--client")) {
        (true, false) => (true, false),
        (false, true) => (false, true),
        _ => (true, true),
    };
    trellis::run(async move {
        trellis::nursery(async |n| {
            if server {
                let listener = TcpListener::bind(("127.0.0.1", port)).await?;
                eprintln!("serving ws://localhost:{port}/");
                // Self-contained: serve the one client below, then stop.
                let connections = client.then_some(1);
                n.start_soon(async move { talk::serve(listener, connections).await });
            }
            if client {
                let seen = talk::watch("localhost", port).await?;
                assert_eq!(
                    seen.last().map(|(a, b)| (a.as_str(), b.as_str())),
                    Some(talk::LAST)
                );
                println!("ok: the listener ended on the latest state");
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .await
        .expect("the websocket program failed");
    });
}
