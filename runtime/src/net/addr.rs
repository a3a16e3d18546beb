//! Socket addresses: what `bind`, `connect` and `send_to` accept, and host-name lookup off the
//! workers.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Types that name one or more socket addresses: a [`SocketAddr`] (or its V4/V6 forms), an
/// `(ip, port)` pair, a slice of addresses, or a `"host:port"` string / `(host, port)` pair.
///
/// Literal addresses are used as they are; a host name is looked up on the blocking pool, so a
/// slow resolver never stalls a worker. The trait is sealed: it has no methods to call.
///
/// # Example
///
/// ```
/// # trellis::run(async {
/// let listener = trellis::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let addr = listener.local_addr().unwrap();
/// let _conn = trellis::net::TcpStream::connect(("localhost", addr.port())).await;
/// # });
/// ```
pub trait ToSocketAddrs: sealed::Sealed {}

pub(crate) mod sealed {
    use super::*;

    /// What an address argument turns into: addresses, or a name to look up.
    #[derive(Debug)]
    pub enum Resolve {
        Ready(Vec<SocketAddr>),
        Lookup(String),
        LookupPair(String, u16),
    }

    /// The hidden half of [`ToSocketAddrs`].
    pub trait Sealed {
        fn resolve(&self) -> Resolve;
    }
}

use sealed::Resolve;

macro_rules! literal {
    ($($ty:ty),*) => {$(
        impl ToSocketAddrs for $ty {}
        impl sealed::Sealed for $ty {
            fn resolve(&self) -> Resolve {
                Resolve::Ready(vec![SocketAddr::from(*self)])
            }
        }
    )*};
}

literal!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl ToSocketAddrs for [SocketAddr] {}
impl sealed::Sealed for [SocketAddr] {
    fn resolve(&self) -> Resolve {
        Resolve::Ready(self.to_vec())
    }
}

impl ToSocketAddrs for str {}
impl sealed::Sealed for str {
    fn resolve(&self) -> Resolve {
        match self.parse() {
            Ok(addr) => Resolve::Ready(vec![addr]),
            Err(_) => Resolve::Lookup(self.to_owned()),
        }
    }
}

impl ToSocketAddrs for String {}
impl sealed::Sealed for String {
    fn resolve(&self) -> Resolve {
        self.as_str().resolve()
    }
}

impl ToSocketAddrs for (&str, u16) {}
impl sealed::Sealed for (&str, u16) {
    fn resolve(&self) -> Resolve {
        match self.0.parse::<IpAddr>() {
            Ok(ip) => Resolve::Ready(vec![SocketAddr::new(ip, self.1)]),
            Err(_) => Resolve::LookupPair(self.0.to_owned(), self.1),
        }
    }
}

impl ToSocketAddrs for (String, u16) {}
impl sealed::Sealed for (String, u16) {
    fn resolve(&self) -> Resolve {
        (self.0.as_str(), self.1).resolve()
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: sealed::Sealed + ?Sized> sealed::Sealed for &T {
    fn resolve(&self) -> Resolve {
        (**self).resolve()
    }
}

/// Resolves `addr`: literal addresses at once, host names on the blocking pool.
pub(crate) async fn resolve<A: ToSocketAddrs + ?Sized>(addr: &A) -> io::Result<Vec<SocketAddr>> {
    use std::net::ToSocketAddrs as _;
    let lookup = match addr.resolve() {
        Resolve::Ready(addrs) => return Ok(addrs),
        Resolve::Lookup(host) => {
            crate::spawn_blocking(move || host.to_socket_addrs().map(Iterator::collect::<Vec<_>>))
        }
        Resolve::LookupPair(host, port) => crate::spawn_blocking(move || {
            (host.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect::<Vec<_>>)
        }),
    };
    lookup.await.map_err(io::Error::other)?
}

/// Tries `f` on each address in turn: the first success, or the last error.
pub(crate) async fn each_addr<A, T, F, Fut>(addr: &A, call: &str, mut f: F) -> io::Result<T>
where
    A: ToSocketAddrs + ?Sized,
    F: FnMut(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = io::Result<T>>,
{
    let mut last = None;
    for addr in resolve(addr).await? {
        match f(addr).await {
            Ok(value) => return Ok(value),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{call}`: the address resolved to no socket address"),
        )
    }))
}
