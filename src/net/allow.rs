//! The allow-list: which hosts (and ports) a source may fetch from, and the
//! one address no list opens, the daemon's own listener.

use std::net::{IpAddr, SocketAddr};
use std::sync::RwLock;

use super::{embedded_ipv4, is_internal};

/// The addresses this process listens on: never fetched, whatever a list
/// says (a recording URL must not archive our own `/metrics` or API).
/// Process-wide because the port is known only once the listener is bound.
static OWN_LISTENERS: RwLock<Vec<SocketAddr>> = RwLock::new(Vec::new());

/// Notes the addresses the daemon's HTTP listener is bound to.
pub fn note_own_listeners(addrs: &[SocketAddr]) {
    if let Ok(mut own) = OWN_LISTENERS.write() {
        own.extend_from_slice(addrs);
    }
}

/// The addresses the daemon's HTTP listener is bound to (empty before).
pub fn own_listeners() -> Vec<SocketAddr> {
    OWN_LISTENERS.read().map(|o| o.clone()).unwrap_or_default()
}

/// True when `host:port` reaches this daemon's own listener: its address,
/// or, when it listens on loopback or on every address, any loopback or
/// unspecified address and `localhost`.
pub fn is_own_listener(host: &str, port: u16) -> bool {
    let Ok(own) = OWN_LISTENERS.read() else {
        return false;
    };
    reaches(&own, host, port)
}

/// Why `url` is never fetched, if it reaches this daemon's own listener.
pub fn refuse_own_listener(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?;
    let port = url.port_or_known_default()?;
    is_own_listener(host, port).then(|| {
        format!(
            "{host}:{port} is this daemon's own listener (server.listen): never fetched, \
             whatever allow_hosts says; check the URL the platform sent"
        )
    })
}

fn reaches(own: &[SocketAddr], host: &str, port: u16) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let local_name =
        host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost");
    let ip = host.parse::<IpAddr>().ok().map(|ip| match ip {
        IpAddr::V6(v6) => embedded_ipv4(&v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    });
    let local = |ip: IpAddr| ip.is_loopback() || ip.is_unspecified();
    own.iter().filter(|a| a.port() == port).any(|a| {
        let listen = a.ip();
        ip == Some(listen) || (local(listen) && (local_name || ip.is_some_and(local)))
    })
}

/// One `allow_hosts` entry: a host pattern, and the one port it opens
/// (`host:port`), or every port (a bare host, as before ports were read).
#[derive(Debug, Clone)]
struct Pattern {
    host: String,
    port: Option<u16>,
}

impl Pattern {
    fn parse(p: &str) -> Pattern {
        let p = p.trim().to_ascii_lowercase();
        let split = if let Some(rest) = p.strip_prefix('[') {
            rest.split_once("]:")
                .map(|(h, port)| (h.to_owned(), port))
                .or_else(|| Some((rest.trim_end_matches(']').to_owned(), "")))
        } else {
            match p.split_once(':') {
                // One colon: host:port; more: a bare IPv6 address.
                Some((h, port)) if !port.contains(':') => Some((h.to_owned(), port)),
                _ => None,
            }
        };
        match split {
            Some((host, port)) => Pattern {
                host,
                port: port.parse().ok(),
            },
            None => Pattern {
                host: p,
                port: None,
            },
        }
    }

    fn shown(&self) -> String {
        match self.port {
            Some(port) if self.host.contains(':') => format!("[{}]:{port}", self.host),
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }
}

/// The hosts a source may fetch from.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    patterns: Vec<Pattern>,
}

impl AllowList {
    /// `patterns` (exact hosts, `*.suffix` or `*`, each optionally with
    /// `:port`), or only `origin_host` when there are none: a source with an
    /// origin may always reach it.
    pub fn new(patterns: &[String], origin_host: Option<String>) -> AllowList {
        let mut patterns: Vec<Pattern> = patterns.iter().map(|p| Pattern::parse(p)).collect();
        if patterns.is_empty() {
            patterns.extend(origin_host.map(|h| Pattern {
                host: h.to_ascii_lowercase(),
                port: None,
            }));
        }
        AllowList { patterns }
    }

    /// True when `url` may be fetched: http(s) only, its host (and port)
    /// listed, and not this daemon's own listener.
    pub fn allows(&self, url: &reqwest::Url) -> bool {
        if !matches!(url.scheme(), "http" | "https") {
            return false;
        }
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let Some(port) = url.port_or_known_default() else {
            return false;
        };
        if is_own_listener(&host, port) {
            return false;
        }
        let port_ok = |p: &Pattern| p.port.is_none_or(|listed| listed == port);
        // Internal addresses only when named outright, never through a wildcard.
        if let Ok(ip) = host.parse::<IpAddr>() {
            if is_internal(&ip) {
                return self.patterns.iter().any(|p| p.host == host && port_ok(p));
            }
        }
        self.patterns.iter().filter(|p| port_ok(p)).any(|p| {
            p.host == "*"
                || p.host == host
                || p.host
                    .strip_prefix("*.")
                    .is_some_and(|suffix| host.ends_with(&format!(".{suffix}")))
        })
    }

    /// True when `host` is listed as itself (on some port), not through a
    /// wildcard.
    pub fn names_exactly(&self, host: &str) -> bool {
        self.patterns
            .iter()
            .any(|p| p.host.eq_ignore_ascii_case(host))
    }

    /// For error messages.
    pub fn describe(&self) -> String {
        if self.patterns.is_empty() {
            "nothing (set allow_hosts or an origin)".to_owned()
        } else {
            let shown: Vec<String> = self.patterns.iter().map(Pattern::shown).collect();
            shown.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &str) -> reqwest::Url {
        reqwest::Url::parse(u).unwrap()
    }

    fn list(p: &[&str]) -> AllowList {
        AllowList::new(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>(), None)
    }

    #[test]
    fn an_entry_with_a_port_opens_that_port_alone() {
        let a = list(&[
            "cdn.example.com:8443",
            "[::1]:9000",
            "127.0.0.1:9000",
            "::1",
        ]);
        assert!(a.allows(&url("https://cdn.example.com:8443/x")));
        assert!(!a.allows(&url("https://cdn.example.com/x")));
        assert!(a.allows(&url("http://[::1]:9000/x")));
        assert!(
            a.allows(&url("http://[::1]:1234/x")),
            "a bare ::1 is any port"
        );
        assert!(a.allows(&url("http://127.0.0.1:9000/x")));
        assert!(!a.allows(&url("http://127.0.0.1:9001/x")));
        assert!(list(&["h.example:80"]).allows(&url("http://h.example/x")));
        assert_eq!(
            a.describe(),
            "cdn.example.com:8443, [::1]:9000, 127.0.0.1:9000, ::1"
        );
    }

    #[test]
    fn the_daemons_own_listener_is_reached_by_its_address_and_loopback_aliases() {
        let loopback: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let every: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let lan: SocketAddr = "192.0.2.5:8080".parse().unwrap();
        for own in [loopback, every] {
            for host in [
                "127.0.0.1",
                "127.0.0.2",
                "localhost",
                "[::1]",
                "0.0.0.0",
                "::ffff:127.0.0.1",
            ] {
                assert!(reaches(&[own], host, 8080), "{own} {host}");
            }
            assert!(!reaches(&[own], "127.0.0.1", 8081));
        }
        assert!(reaches(&[lan], "192.0.2.5", 8080));
        assert!(!reaches(&[lan], "127.0.0.1", 8080));
    }
}
