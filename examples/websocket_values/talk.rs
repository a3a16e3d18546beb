//! The talk's websocket program, both halves: a server that sends the timed messages, and the
//! client that turns them into two `AsyncValue`s watched through `compose_values`. Shared by
//! `main.rs` and by `tests/io_websocket.rs` (which runs each half against Python's
//! `websockets`).

use std::time::Duration;

use async_tungstenite::tungstenite::Message;
use futures_lite::StreamExt;
use trellis::NurseryHandle;
use trellis::net::{TcpListener, TcpStream};
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
    trellis::nursery(async |n| {
        let event1 = AsyncValue::shared(FIRST.0.to_string());
        let event2 = AsyncValue::shared(FIRST.1.to_string());
        n.start_soon(fetch(ws, event1.clone(), event2.clone(), n.handle()));
        let composite = compose_values!(event1: &event1, event2: &event2);
        let mut values = composite.eventual_values(any_value);
        while let Some(v) = values.next().await {
            println!("v={v:?}");
            seen.push((v.event1, v.event2));
        }
    })
    .await?;
    Ok(seen)
}

/// Updates both values from the messages; when the connection closes, cancels the nursery
/// (which ends the watch loop).
async fn fetch(
    mut ws: async_tungstenite::WebSocketStream<TcpStream>,
    event1: SharedValue<String>,
    event2: SharedValue<String>,
    nursery: NurseryHandle,
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
    nursery.cancel();
    Ok(())
}
