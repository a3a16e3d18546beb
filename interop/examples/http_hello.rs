//! An HTTP/1.1 "hello" server on hyper 1.x and Trellis, with graceful shutdown on Ctrl-C.
//!
//! ```text
//! cargo run --release --example http_hello            # 127.0.0.1:3000
//! cargo run --release --example http_hello -- --port 8080 --workers 4
//! curl http://127.0.0.1:3000/
//! ```
//!
//! The structure is Trio's: the accept loop and every connection are children of one nursery.
//! Ctrl-C (or SIGTERM) sets a `shutdown` event: the accept loop stops, each connection is told
//! to finish its in-flight request and close (`graceful_shutdown`), and the nursery waits for
//! them, for at most `DRAIN` (a `move_on_after` around the drain); then the program exits.
//! The runtime's other tasks are untouched: nothing here is detached.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response};
use trellis::hyper::{HyperIo, HyperTimer};
use trellis::net::{TcpListener, TcpStream};
use trellis::signal::{SignalKind, signal};
use trellis::sync::Event;

/// How long in-flight connections get to finish after Ctrl-C.
const DRAIN: Duration = Duration::from_secs(5);

async fn hello(_req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello, World!",
    ))))
}

/// Runs `work` until it completes or `stop` is set; `Some` if it completed.
async fn until<F: Future>(stop: &Event, work: F) -> Option<F::Output> {
    let mut work = pin!(work);
    let mut stopped = pin!(stop.wait());
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        stopped.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// Serves one connection; on shutdown, lets its in-flight request finish, then closes it.
async fn serve(stream: TcpStream, shutdown: Arc<Event>) -> hyper::Result<()> {
    stream.set_nodelay(true).ok();
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(HyperTimer)
        .serve_connection(HyperIo::new(stream), hyper::service::service_fn(hello));
    let mut conn = pin!(conn);
    if let Some(done) = until(&shutdown, conn.as_mut()).await {
        return done;
    }
    conn.as_mut().graceful_shutdown();
    conn.await
}

/// Serves on `listener` until `shutdown` is set, then drains for at most [`DRAIN`].
pub async fn run_server(
    listener: TcpListener,
    shutdown: Arc<Event>,
) -> Result<(), trellis::NurseryError> {
    let scope = trellis::CancelScope::new();
    let drain = scope.handle();
    let served = scope.run(trellis::nursery(async |n| {
        while let Some(accepted) = until(&shutdown, listener.accept()).await {
            match accepted {
                Ok((stream, _)) => n.start_soon(serve(stream, shutdown.clone())),
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    eprintln!("accept: {e}");
                    trellis::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        drop(listener); // stop accepting: new connections are refused from now on
        eprintln!("shutting down: draining connections for at most {DRAIN:?}");
        // The nursery's exit waits for the connections; the deadline bounds that wait.
        drain.set_deadline(trellis::time::Instant::now() + DRAIN);
    }));
    served.await.unwrap_or(Ok(()))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| {
                v.parse::<u16>()
                    .unwrap_or_else(|_| panic!("{name} takes a number"))
            })
    };
    let port = arg("--port").unwrap_or(3000);
    let builder = trellis::Runtime::builder();
    let builder = match arg("--workers") {
        Some(workers) => builder.workers(workers as usize),
        None => builder,
    };
    let rt = builder.build().expect("build the runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        eprintln!("listening on http://{}", listener.local_addr().unwrap());
        let shutdown = Arc::new(Event::new());
        let result = trellis::nursery(async |n| {
            let s = shutdown.clone();
            n.start_soon(async move {
                let mut int = signal(SignalKind::interrupt())?;
                let mut term = signal(SignalKind::terminate())?;
                std::future::poll_fn(|cx| match (int.poll_recv(cx), term.poll_recv(cx)) {
                    (Poll::Pending, Poll::Pending) => Poll::Pending,
                    _ => Poll::Ready(()),
                })
                .await;
                s.set();
                Ok::<_, std::io::Error>(())
            });
            let served = run_server(listener, shutdown.clone()).await;
            n.cancel(); // the signal listener, if the server stopped on its own
            served
        })
        .await;
        result.expect("the server failed");
        eprintln!("bye");
    });
}
