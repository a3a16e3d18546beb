//! The talk's websocket program against a peer nobody here wrote: Python's `websockets`
//! package as the server for our client, and as a client of our server. The package is
//! installed with pip if it is missing.

#[path = "../../tests/support/mod.rs"]
mod support;

#[allow(dead_code)]
#[path = "../examples/websocket_values/talk.rs"]
mod talk;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Once;

use support::Watchdog;
use trellis::net::TcpListener;

/// Makes sure `python3` can import `websockets` (installing it with pip once if needed).
fn python_websockets() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let import = || {
            Command::new("python3")
                .args([
                    "-c",
                    "import websockets.sync.client, websockets.sync.server",
                ])
                .status()
                .is_ok_and(|s| s.success())
        };
        if !import() {
            let pip = Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "websockets>=13"])
                .status()
                .expect("run python3 -m pip (python3 is needed for this test)");
            assert!(pip.success(), "pip install websockets failed");
            assert!(
                import(),
                "websockets still cannot be imported after pip install"
            );
        }
    });
}

const PY_SERVER: &str = r#"
import json, sys, time
from websockets.sync.server import serve
messages = json.loads(sys.argv[1])
def handler(ws):
    for delay, text in messages:
        time.sleep(delay / 1000)
        ws.send(text)
    ws.close()
with serve(handler, "127.0.0.1", 0, compression=None) as server:
    print(server.socket.getsockname()[1], flush=True)
    server.serve_forever()
"#;

const PY_CLIENT: &str = r#"
import sys
from websockets.sync.client import connect
with connect(sys.argv[1], open_timeout=10, close_timeout=10, compression=None, proxy=None) as ws:
    for message in ws:
        print(message, flush=True)
"#;

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn messages_json() -> String {
    let items: Vec<String> = talk::MESSAGES
        .iter()
        .map(|(d, t)| format!("[{d}, \"{t}\"]"))
        .collect();
    format!("[{}]", items.join(", "))
}

#[test]
fn our_client_follows_a_python_websockets_server() {
    let _w = Watchdog::new("our_client_follows_a_python_websockets_server");
    python_websockets();
    let mut server = KillOnDrop(
        Command::new("python3")
            .args(["-c", PY_SERVER, &messages_json()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the Python server"),
    );
    let mut port = String::new();
    BufReader::new(server.0.stdout.as_mut().unwrap())
        .read_line(&mut port)
        .unwrap();
    let port: u16 = port
        .trim()
        .parse()
        .expect("the Python server prints its port");
    let seen = trellis::run(async move { talk::watch("127.0.0.1", port).await.unwrap() });
    let states: Vec<(&str, &str)> = seen.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(states.first(), Some(&talk::FIRST));
    assert_eq!(states.last(), Some(&talk::LAST), "{states:?}");
}

#[test]
fn a_python_websockets_client_reads_our_server() {
    let _w = Watchdog::new("a_python_websockets_client_reads_our_server");
    python_websockets();
    let received = trellis::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://127.0.0.1:{}/", listener.local_addr().unwrap().port());
        let client = trellis::spawn_blocking(move || {
            Command::new("python3")
                .args(["-c", PY_CLIENT, &url])
                .output()
                .expect("run the Python client")
        });
        talk::serve(listener, Some(1)).await.unwrap();
        client.await.unwrap()
    });
    assert!(
        received.status.success(),
        "python client failed: {}",
        String::from_utf8_lossy(&received.stderr)
    );
    let lines: Vec<String> = String::from_utf8(received.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let expected: Vec<&str> = talk::MESSAGES.iter().map(|(_, t)| *t).collect();
    assert_eq!(lines, expected);
}
