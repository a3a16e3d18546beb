//! The peer of `interop/examples/http_hello.rs` for the HTTP benchmark (`benches/tools/http.sh`):
//! the same hyper 1.x HTTP/1.1 "Hello, World!" server on tokio's multi-threaded runtime, with
//! hyper-util's `TokioIo` and `TokioTimer` and `TCP_NODELAY`, one task per connection.
//!
//! ```text
//! cargo run --release -p trellis-benches --bin http_hello_tokio -- --port 3001 --workers 1
//! ```

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};

async fn hello(_req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello, World!",
    ))))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| {
                v.parse()
                    .unwrap_or_else(|_| panic!("{name} takes a number"))
            })
    };
    let (port, workers) = (arg("--port", 3001), arg("--workers", 2));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("build tokio");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port as u16))
            .await
            .expect("bind");
        eprintln!("listening on http://{}", listener.local_addr().unwrap());
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    eprintln!("accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            stream.set_nodelay(true).ok();
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .serve_connection(TokioIo::new(stream), hyper::service::service_fn(hello))
                    .await;
            });
        }
    });
}
