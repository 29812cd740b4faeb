//! `user-management healthcheck`: the container image's health probe.
//!
//! The image holds no shell and no HTTP client, so the binary probes itself: one `GET /healthz`
//! to the address the server listens on (`BIND_ADDR`; an unspecified address such as `0.0.0.0`
//! is reached through loopback), healthy on a `200` within the timeout. It reads nothing else
//! of the configuration, so it works with whatever environment the server was started with.

use std::{
    io::{Read as _, Write as _},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream},
    time::Duration,
};

/// Where the probe connects for a server listening on `bind_addr`.
#[must_use]
pub fn probe_address(bind_addr: SocketAddr) -> SocketAddr {
    let ip = match bind_addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bind_addr.port())
}

/// `GET /healthz` on the server listening on `bind_addr`; `Ok` when it answers `200`.
///
/// # Errors
/// A sentence saying why the server is not healthy: no connection, no answer within
/// `timeout`, or another status line.
pub fn probe(bind_addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    let address = probe_address(bind_addr);
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .map_err(|e| format!("no connection to {address}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| format!("cannot set a timeout: {e}"))?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("cannot send the request to {address}: {e}"))?;
    // The status line is all that matters; read until it is complete or the peer closes.
    let mut head = Vec::with_capacity(64);
    let mut buffer = [0_u8; 64];
    while !head.contains(&b'\n') && head.len() < 1024 {
        let read = stream
            .read(&mut buffer)
            .map_err(|e| format!("no answer from {address}: {e}"))?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let status_line = String::from_utf8_lossy(&head);
    let status_line = status_line.lines().next().unwrap_or_default();
    let status = status_line.split_whitespace().nth(1);
    if status_line.starts_with("HTTP/") && status == Some("200") {
        Ok(())
    } else if status_line.is_empty() {
        Err(format!("{address} closed the connection without an answer"))
    } else {
        Err(format!("{address} answered {status_line:?}"))
    }
}

#[cfg(test)]
mod tests {
    use std::{net::TcpListener, thread};

    use super::*;

    /// A one-shot server that reads a request and writes `answer`.
    fn serve_once(answer: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut request = [0_u8; 256];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(answer);
            }
        });
        address
    }

    #[test]
    fn an_unspecified_bind_address_is_probed_through_loopback() {
        let v4: SocketAddr = "0.0.0.0:8000".parse().expect("v4");
        let v6: SocketAddr = "[::]:8001".parse().expect("v6");
        let own: SocketAddr = "10.1.2.3:8002".parse().expect("own");
        assert_eq!(probe_address(v4).to_string(), "127.0.0.1:8000");
        assert_eq!(probe_address(v6).to_string(), "[::1]:8001");
        assert_eq!(probe_address(own), own);
    }

    #[test]
    fn a_200_is_healthy_and_anything_else_is_not() {
        let timeout = Duration::from_secs(5);
        let ok = serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        assert_eq!(probe(ok, timeout), Ok(()));

        let unavailable = serve_once(b"HTTP/1.1 503 Service Unavailable\r\n\r\n");
        let error = probe(unavailable, timeout).expect_err("a 503 is unhealthy");
        assert!(error.contains("503"), "{error}");

        let silent = serve_once(b"");
        let error = probe(silent, timeout).expect_err("no answer is unhealthy");
        assert!(error.contains("without an answer"), "{error}");
    }

    #[test]
    fn nothing_listening_is_unhealthy() {
        let address = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a port");
        // The listener is dropped: nothing listens there any more.
        let error = probe(address, Duration::from_secs(2)).expect_err("no server");
        assert!(error.contains("no connection"), "{error}");
    }
}
