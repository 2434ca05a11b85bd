//! Listen addresses in the exporter-toolkit's syntax (Go's `net.Listen`):
//! `:9472` (every interface), `host:port`, `[::1]:9472`, `localhost:9472`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};

/// What a listen address looks like, for error messages.
pub const LISTEN_EXPECTED: &str =
    "an address such as :9472, 0.0.0.0:9472, 127.0.0.1:9472, [::1]:9472 or localhost:9472";

/// Resolves one listen address. A host name is resolved once, and like Go
/// the exporter listens on one of its addresses, IPv4 first. An empty host
/// (`:9472`) is every IPv4 interface (`0.0.0.0`; write `[::]:9472` for
/// IPv6 as well, dual-stack on Linux).
pub fn resolve(text: &str) -> Result<SocketAddr, String> {
    let t = text.trim();
    if let Ok(a) = t.parse::<SocketAddr>() {
        return Ok(a);
    }
    let Some((host, port)) = t.rsplit_once(':') else {
        return Err(format!(
            "'{t}' has no port; expected {LISTEN_EXPECTED} (':{t}' listens on every interface)"
        ));
    };
    let port: u16 = port.parse().map_err(|_| {
        format!("'{t}': '{port}' is not a port (0-65535); expected {LISTEN_EXPECTED}")
    })?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    if host.contains(|c: char| c.is_whitespace() || c == ':' || c == '/') {
        return Err(format!("'{t}' is not {LISTEN_EXPECTED}"));
    }
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve '{host}' of '{t}': {e}; expected {LISTEN_EXPECTED}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| format!("'{host}' of '{t}' resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_toolkit_syntax() {
        assert_eq!(resolve(":9472").unwrap(), "0.0.0.0:9472".parse().unwrap());
        assert_eq!(
            resolve("127.0.0.1:1").unwrap(),
            "127.0.0.1:1".parse().unwrap()
        );
        assert_eq!(
            resolve("[::1]:9472").unwrap(),
            "[::1]:9472".parse().unwrap()
        );
        assert_eq!(resolve("[::]:0").unwrap(), "[::]:0".parse().unwrap());
        let local = resolve("localhost:9472").unwrap();
        assert!(local.ip().is_loopback() && local.port() == 9472, "{local}");
        for bad in ["9472", "nowhere", "host:port", ":99999", "a b:1", ""] {
            let e = resolve(bad).unwrap_err();
            assert!(e.contains(":9472"), "{bad}: {e}");
        }
    }
}
