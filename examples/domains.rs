//! Domains as sub-interpreters: one tiny interpreter per worker thread, each with its own
//! variables, fed through a request queue.
//!
//! Python 3.13 runs several interpreters in one process, one per thread: each is an isolated
//! world with its own objects, and they cooperate only by passing messages. A Trellis domain is
//! that world inside one runtime: its state is a `domain_local!` (here an `Rc<RefCell<..>>`,
//! which is `!Send`, so the compiler keeps it on its thread), the work arrives as messages on a
//! bounded channel, and the results go back on oneshot channels.
//!
//! ```text
//! Python (sub-interpreters)                   Trellis (domains)
//! interp = interpreters.create()              DomainId::new(i): one per worker thread
//! module globals of that interpreter          domain_local! { static GLOBALS: Rc<RefCell<..>> }
//! queue = interpreters.create_queue()         channel::bounded(8), served by spawn_on(domain, ..)
//! queue.put(code) / result queue              tx.send(Request { line, reply }) / oneshot reply
//! objects never cross; shareable data does    !Send state never crosses; Send values do
//! ```
//!
//! ```text
//! cargo run --example domains
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use trellis::DomainId;
use trellis::channel::{self, Receiver, Sender, oneshot};

/// One line of source for an interpreter, and where its answer goes.
struct Request {
    line: String,
    reply: oneshot::Sender<(DomainId, Result<i64, String>)>,
}

trellis::domain_local! {
    /// The interpreter's global variables: one map per domain, created on first use there.
    static GLOBALS: Rc<RefCell<BTreeMap<String, i64>>> = Rc::new(RefCell::new(BTreeMap::new()));
}

/// Evaluates `name = expr` or `expr`; an expr is a sum of products of integers and names.
fn eval(line: &str) -> Result<i64, String> {
    let globals = GLOBALS.with(Rc::clone);
    let (target, expr) = match line.split_once('=') {
        Some((name, expr)) => (Some(name.trim()), expr),
        None => (None, line),
    };
    let atom = |tok: &str| -> Result<i64, String> {
        let tok = tok.trim();
        tok.parse().or_else(|_| {
            let value = globals.borrow().get(tok).copied();
            value.ok_or_else(|| format!("NameError: name '{tok}' is not defined"))
        })
    };
    let mut sum = 0;
    for term in expr.split('+') {
        let mut product = 1;
        for factor in term.split('*') {
            product *= atom(factor)?;
        }
        sum += product;
    }
    if let Some(name) = target {
        globals.borrow_mut().insert(name.to_owned(), sum);
    }
    Ok(sum)
}

/// One domain's interpreter loop: answers requests until every sender is gone.
async fn serve(requests: Receiver<Request>) {
    let here = trellis::domain::current().expect("an interpreter runs on a domain");
    while let Ok(Request { line, reply }) = requests.recv().await {
        let _ = reply.send((here, eval(&line)));
    }
}

/// Sends `line` to an interpreter and awaits its answer; callable from any thread or domain.
async fn exec(queue: &Sender<Request>, line: &str) -> (DomainId, Result<i64, String>) {
    let (reply, answer) = channel::oneshot();
    let line = line.to_owned();
    if queue.send(Request { line, reply }).await.is_err() {
        panic!("the interpreter has stopped");
    }
    answer
        .await
        .expect("the interpreter replies to every request")
}

fn show(line: &str, (domain, result): (DomainId, Result<i64, String>)) {
    match result {
        Ok(v) => println!("[{domain}] >>> {line:<18} {v}"),
        Err(e) => println!("[{domain}] >>> {line:<18} {e}"),
    }
}

fn main() {
    let rt = trellis::Runtime::builder()
        .workers(3)
        .build()
        .expect("build the runtime");
    rt.block_on(async {
        // One interpreter per domain, each behind its own bounded request queue.
        let mut queues = Vec::new();
        let mut servers = Vec::new();
        for i in 0..trellis::domain::count() {
            let (tx, rx) = channel::bounded(8);
            servers.push(trellis::spawn_on(DomainId::new(i), move || serve(rx)));
            queues.push(tx);
        }

        println!("Same names, separate worlds:");
        for (i, queue) in queues.iter().enumerate() {
            let line = format!("x = {}", 10 * (i + 1));
            show(&line, exec(queue, &line).await);
            show("y = x * 2 + 1", exec(queue, "y = x * 2 + 1").await);
        }

        println!("\nDomain 0 asks domain 1 for its x, by message, and keeps the answer:");
        let (q0, q1) = (queues[0].clone(), queues[1].clone());
        let answer = trellis::spawn_on(DomainId::new(0), move || async move {
            let (_, x1) = exec(&q1, "x").await;
            let line = format!("from_1 = {} + x", x1.expect("domain 1 knows x"));
            (line.clone(), exec(&q0, &line).await)
        });
        let (line, result) = answer.await.expect("domain 0's task");
        show(&line, result);

        println!("\nErrors come back as values; the interpreter lives on:");
        show("z * 2", exec(&queues[2], "z * 2").await);
        show("x + y", exec(&queues[2], "x + y").await);

        // Close the queues: every interpreter loop ends.
        drop(queues);
        for server in servers {
            server.await.expect("interpreter loop");
        }

        println!("\nEach domain's globals (read on the domain itself with spawn_on):");
        for i in 0..trellis::domain::count() {
            let domain = DomainId::new(i);
            let globals = trellis::spawn_on(domain, || async {
                GLOBALS.with(|g| format!("{:?}", g.borrow()))
            });
            println!("[{domain}] {}", globals.await.expect("read globals"));
        }
    });
}
