//! The talk's websocket program, both halves: a server that sends the timed messages, and the
//! client that turns them into two `AsyncValue`s watched through `compose_values`. Shared by
//! `main.rs` and by `interop/tests/io_websocket.rs` (which runs each half against Python's
//! `websockets`).

use std::sync::Arc;
use std::time::Duration;

use async_tungstenite::tungstenite::Message;
use futures_lite::StreamExt;
use futures_lite::future::or;
use trellis::net::{TcpListener, TcpStream};
use trellis::sync::Event;
use trellis::util::{AsyncValue, SharedValue, any_value, compose_values};

/// The messages the server sends: `(milliseconds after the previous one, text)`. A text is
/// `name=value` updates separated by `;`.
pub(crate) const MESSAGES: &[(u64, &str)] = &[
    (40, "event1=baby crying"),
    (40, "event2=bottle warm"),
    (60, "event1=baby drinking;event2=bottle half"),
    (80, "event2=bottle empty"),
    (40, "event1=baby asleep"),
];

/// The composite's first and last states.
pub(crate) const FIRST: (&str, &str) = ("baby", "bottle");
pub(crate) const LAST: (&str, &str) = ("baby asleep", "bottle empty");

/// Serves the messages to `connections` websocket clients (or forever), one nursery child each.
pub(crate) async fn serve(
    listener: TcpListener,
    connections: Option<usize>,
) -> Result<(), trellis::NurseryError> {
    trellis::nursery(async |n| -> std::io::Result<()> {
        let mut served = 0;
        while connections.is_none_or(|c| served < c) {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            served += 1;
            n.start_soon(async move {
                let mut ws = async_tungstenite::accept_async(stream).await?;
                for &(delay, text) in MESSAGES {
                    trellis::time::sleep(Duration::from_millis(delay)).await;
                    ws.send(Message::text(text)).await?;
                }
                ws.close(None).await?;
                // Drain until the client's close frame answers ours.
                while ws.next().await.is_some() {}
                Ok::<_, async_tungstenite::tungstenite::Error>(())
            });
        }
        Ok(())
    })
    .await
}

/// Connects to the websocket at `host:port`, path `/`, and prints every state of the composite
/// of `event1` and `event2` (the talk's `async for v in composite.eventual_values()`) until
/// the server closes the connection. Returns the states it printed.
pub(crate) async fn watch(
    host: &str,
    port: u16,
) -> Result<Vec<(String, String)>, Box<dyn std::error::Error + Send + Sync>> {
    let stream = TcpStream::connect((host, port)).await?;
    stream.set_nodelay(true)?;
    let (ws, _) = async_tungstenite::client_async(format!("ws://{host}:{port}/"), stream).await?;
    let mut seen = Vec::new();
    let closed = Arc::new(Event::new());
    trellis::nursery(async |n| {
        let event1 = AsyncValue::shared(FIRST.0.to_string());
        let event2 = AsyncValue::shared(FIRST.1.to_string());
        n.start_soon(fetch(ws, event1.clone(), event2.clone(), closed.clone()));
        let composite = compose_values!(event1: &event1, event2: &event2);
        let mut values = composite.eventual_values(any_value);
        // Until the connection closes (Trio's `async for` ends when its nursery is cancelled;
        // here the loop stops when `fetch` reports the close, so the final state is never cut
        // off by a cancellation racing with its delivery).
        let closing = async {
            closed.wait().await;
            None
        };
        let mut closing = std::pin::pin!(closing);
        while let Some(v) = or(values.next(), closing.as_mut()).await {
            show(&mut seen, v.event1, v.event2);
        }
        // The composite holds the final state: show it if the loop had not yet.
        let last = composite.get();
        if seen.last() != Some(&(last.event1.clone(), last.event2.clone())) {
            show(&mut seen, last.event1, last.event2);
        }
    })
    .await?;
    Ok(seen)
}

/// Prints a state of the composite (as the talk's `print(f"{v=}")`) and records it.
fn show(seen: &mut Vec<(String, String)>, event1: String, event2: String) {
    println!("v=CompositeValue {{ event1: {event1:?}, event2: {event2:?} }}");
    seen.push((event1, event2));
}

/// Updates both values from the messages; when the connection closes, says so.
async fn fetch(
    mut ws: async_tungstenite::WebSocketStream<TcpStream>,
    event1: SharedValue<String>,
    event2: SharedValue<String>,
    closed: Arc<Event>,
) -> Result<(), async_tungstenite::tungstenite::Error> {
    while let Some(msg) = ws.next().await {
        let Message::Text(text) = msg? else { continue };
        for update in text.split(';') {
            match update.split_once('=') {
                Some(("event1", v)) => event1.set(v.to_string()),
                Some(("event2", v)) => event2.set(v.to_string()),
                _ => eprintln!("unknown update {update:?}"),
            }
        }
    }
    closed.set();
    Ok(())
}
