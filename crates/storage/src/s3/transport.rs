//! The S3 store's HTTP client: hyper's pooled HTTP/1.1 client (rustls for `https://`) on TCP
//! connections that acknowledge what they receive at once.
//!
//! Why not the reqwest client that rust-s3 builds: a server that writes a reply in two pieces
//! without `TCP_NODELAY` stalls each reply for the client's delayed ACK. s3s-fs does exactly that
//! for every GET whose body is not read from disk by the time the headers go out: the headers
//! leave alone, Nagle's algorithm holds the body until they are acknowledged, and Linux, seeing a
//! request/response ("ping-pong") connection, delays that ACK by 40 ms hoping to piggyback it on
//! the next request. Every `GET /pictures/{key}` then took 40 ms more (issue #17). reqwest sets
//! `TCP_NODELAY` on its own side, which does not help here, and has no hook for its sockets; so
//! the connections are made here, and [`QuickAckStream`] re-arms `TCP_QUICKACK` after each read,
//! which sends the pending ACK right away. It costs one `setsockopt` per read and, at worst, an
//! ACK that would otherwise have been folded into the next request.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, Uri, body::Incoming};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{
        Client,
        connect::{Connected, Connection, HttpConnector},
    },
    rt::{TokioExecutor, TokioIo, TokioTimer},
};
use tokio::net::TcpStream;

/// How long an unused connection stays in the pool (reqwest's default).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// TCP keepalive on the store's connections, so that a dead peer is noticed (reqwest's default).
const TCP_KEEPALIVE: Duration = Duration::from_secs(15);

/// A pooled HTTP/1.1 client for one S3 store. Cheap to share: the pool is behind an `Arc`.
#[derive(Clone)]
pub(super) struct HttpClient {
    client: Client<HttpsConnector<QuickAckConnector>, Full<Bytes>>,
}

impl HttpClient {
    /// The client, with the webpki roots for `https://` endpoints.
    pub(super) fn new() -> anyhow::Result<Self> {
        let mut http = HttpConnector::new();
        // The TLS layer above takes the `https://` URIs.
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_keepalive(Some(TCP_KEEPALIVE));
        // ring, explicitly: other crates of the service may enable rustls's aws-lc-rs too, and
        // with two providers compiled in rustls cannot pick a default one.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("could not set up TLS for the S3 store")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(QuickAckConnector(http));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        Ok(Self { client })
    }

    /// Sends the request on a pooled connection (or a new one) and returns the reply once its
    /// status and headers are in; the body is read from the returned response.
    pub(super) async fn send(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, hyper_util::client::legacy::Error> {
        self.client.request(request).await
    }
}

/// hyper-util's TCP connector, whose streams become [`QuickAckStream`]s.
#[derive(Clone)]
struct QuickAckConnector(HttpConnector);

impl tower_service::Service<Uri> for QuickAckConnector {
    type Response = QuickAckStream;
    type Error = <HttpConnector as tower_service::Service<Uri>>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<QuickAckStream, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move { connecting.await.map(QuickAckStream) })
    }
}

/// A TCP connection that acknowledges received data immediately: `TCP_QUICKACK` after every
/// read (see the module's documentation). Linux (and Android) only; elsewhere a plain stream.
struct QuickAckStream(TokioIo<TcpStream>);

impl QuickAckStream {
    /// Sends the ACK of what was just read now rather than after the delayed-ACK timer. The
    /// option is not sticky (the kernel goes back to delaying), hence once per read. A failure
    /// only costs the delay, so it is ignored.
    fn ack_now(&self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let _ = socket2::SockRef::from(self.0.inner()).set_tcp_quickack(true);
        }
    }
}

impl hyper::rt::Read for QuickAckStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.0).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.ack_now();
        }
        polled
    }
}

impl hyper::rt::Write for QuickAckStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl Connection for QuickAckStream {
    fn connected(&self) -> Connected {
        self.0.connected()
    }
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;

    /// The option really reaches the socket (a silent no-op would bring the 40 ms back).
    #[tokio::test]
    async fn reads_leave_the_socket_in_quickack_mode() {
        use hyper::rt::{Read as _, Write as _};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            tokio::io::AsyncWriteExt::write_all(&mut socket, b"pong")
                .await
                .expect("write");
            socket
        });
        let mut stream = QuickAckStream(TokioIo::new(
            TcpStream::connect(address).await.expect("connect"),
        ));
        let quickack = |stream: &QuickAckStream| {
            socket2::SockRef::from(stream.0.inner())
                .tcp_quickack()
                .expect("get quickack")
        };
        socket2::SockRef::from(stream.0.inner())
            .set_tcp_quickack(false)
            .expect("clear quickack");
        assert!(!quickack(&stream));

        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4];
        let mut read_buf = hyper::rt::ReadBuf::uninit(&mut buf);
        std::future::poll_fn(|cx| Pin::new(&mut stream).poll_read(cx, read_buf.unfilled()))
            .await
            .expect("read");

        assert_eq!(read_buf.filled(), b"pong");
        assert!(quickack(&stream));
        std::future::poll_fn(|cx| Pin::new(&mut stream).poll_shutdown(cx))
            .await
            .expect("shutdown");
        drop(server.await);
    }
}
