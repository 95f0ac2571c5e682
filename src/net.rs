//! The outbound network policy: which hosts may be fetched from, which
//! addresses count as internal, and the resolver and redirect policy that
//! enforce both on every connection a download makes.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

mod allow;
pub use allow::{
    is_own_listener, note_own_listeners, own_listeners, refuse_own_listener, AllowList,
};

/// Redirects followed before a download fails.
const MAX_REDIRECTS: usize = 5;

/// Loopback, private, link-local (the cloud metadata service), unspecified,
/// reserved and multicast: addresses a callback must not be able to point
/// us at, also when an IPv6 address carries one of IPv4's inside it.
pub fn is_internal(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || o[0] == 0
                || o[0] >= 240 // reserved
                // 100.64.0.0/10, carrier-grade NAT
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                // 192.0.0.0/24, IETF protocol assignments
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                // 198.18.0.0/15, benchmarking
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                // 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24: documentation
                || matches!((o[0], o[1], o[2]), (192, 0, 2) | (198, 51, 100) | (203, 0, 113))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_ipv4(v6) {
                return is_internal(&IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xfe00) == 0xfc00 // unique local, fd00:ec2::254 among them
                || (s[0], s[1], s[2]) == (0x64, 0xff9b, 1) // 64:ff9b:1::/48, local NAT64
                || (s[0] & 0xffc0) == 0xfec0 // site-local, deprecated
                || (s[0], s[1]) == (0x2001, 0xdb8) // documentation
                || s[..4] == [0x100, 0, 0, 0] // 100::/64, discard
        }
    }
}

/// The IPv4 address an IPv6 one leads to: IPv4-mapped (`::ffff:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`), 6to4
/// (`2002:aabb:ccdd::/48`), Teredo (`2001::/32`, the client's, inverted).
fn embedded_ipv4(v6: &std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    use std::net::Ipv4Addr;
    let s = v6.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    // Mapped, SIIT-translated (`::ffff:0:a.b.c.d`), compatible.
    if s[..6] == [0, 0, 0, 0, 0, 0xffff]
        || s[..6] == [0, 0, 0, 0, 0xffff, 0]
        || (s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified())
    {
        return Some(v4(s[6], s[7]));
    }
    match (s[0], s[1]) {
        (0x64, 0xff9b) if s[2..6] == [0; 4] => Some(v4(s[6], s[7])),
        (0x2002, _) => Some(v4(s[1], s[2])),
        (0x2001, 0) => Some(v4(!s[6], !s[7])),
        _ => None,
    }
}

/// A name that resolves only to addresses the source may not reach.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to internal addresses ({addrs}); list it exactly in allow_hosts to fetch from it")]
pub struct InternalAddress {
    pub host: String,
    pub addrs: String,
}

/// Resolves names for one source's downloads and drops internal addresses
/// unless the name is listed exactly: the check sees the address actually
/// connected to, for every redirect hop, so DNS rebinding gains nothing.
/// The source's proxy, named by the operator, is resolved as it is.
pub struct GuardedResolver {
    allow: Arc<AllowList>,
    proxy_host: Option<String>,
}

impl GuardedResolver {
    /// A resolver enforcing `allow`, except for `proxy_host`.
    pub fn new(allow: Arc<AllowList>, proxy_host: Option<String>) -> GuardedResolver {
        let proxy_host = proxy_host.map(|h| h.to_ascii_lowercase());
        GuardedResolver { allow, proxy_host }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = Arc::clone(&self.allow);
        let proxy = self.proxy_host.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if proxy.is_some_and(|p| p == host.to_ascii_lowercase()) {
                return Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs);
            }
            let exact = allow.names_exactly(&host);
            let kept: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| exact || !is_internal(&a.ip()))
                .collect();
            if kept.is_empty() {
                let addrs = addrs
                    .iter()
                    .map(|a| a.ip().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(Box::new(InternalAddress { host, addrs })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Through a proxy, the proxy resolves the target's name, out of the
/// resolver's sight. So the name is resolved here as well, and refused when
/// any of its addresses is internal (the proxy may pick that one), unless
/// listed exactly. A name that does not resolve here is the proxy's to
/// resolve. What this cannot catch: a name that answers the proxy
/// otherwise than it answered us; the proxy's own egress rules must.
pub async fn check_proxied(allow: &AllowList, url: &reqwest::Url) -> Result<(), InternalAddress> {
    let Some(host) = proxied_name(allow, url) else {
        return Ok(());
    };
    let addrs = match tokio::net::lookup_host((host.as_str(), 0)).await {
        Ok(a) => a.collect(),
        Err(_) => Vec::new(),
    };
    refuse_internal(host, &addrs)
}

/// [`check_proxied`] for a redirect, whose policy cannot wait: the lookup
/// runs in place on the worker thread, told to the runtime.
fn check_proxied_blocking(allow: &AllowList, url: &reqwest::Url) -> Result<(), InternalAddress> {
    use std::net::ToSocketAddrs;
    let Some(host) = proxied_name(allow, url) else {
        return Ok(());
    };
    let lookup = || -> Vec<SocketAddr> {
        (host.as_str(), 0)
            .to_socket_addrs()
            .map(|a| a.collect())
            .unwrap_or_default()
    };
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    let addrs = if multi_thread {
        tokio::task::block_in_place(lookup)
    } else {
        lookup()
    };
    refuse_internal(host, &addrs)
}

/// The name to check before a proxied request: none for an address (the
/// allow-list judged it) or a name listed exactly.
fn proxied_name(allow: &AllowList, url: &reqwest::Url) -> Option<String> {
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.parse::<IpAddr>().is_ok() || allow.names_exactly(host) {
        return None;
    }
    Some(host.to_ascii_lowercase())
}

/// The host of a proxy URL, if it parses.
pub fn proxy_host(proxy: Option<&str>) -> Option<String> {
    reqwest::Url::parse(proxy?)
        .ok()?
        .host_str()
        .map(str::to_owned)
}

fn refuse_internal(host: String, addrs: &[SocketAddr]) -> Result<(), InternalAddress> {
    let internal: Vec<String> = addrs
        .iter()
        .filter(|a| is_internal(&a.ip()))
        .map(|a| a.ip().to_string())
        .collect();
    if internal.is_empty() {
        Ok(())
    } else {
        Err(InternalAddress {
            host,
            addrs: internal.join(", "),
        })
    }
}

/// Follows a redirect only to a host `allow` lists, and at most
/// `MAX_REDIRECTS` of them; through a proxy, only to a name that does not
/// resolve to an internal address ([`check_proxied`]).
pub fn redirect_policy(allow: Arc<AllowList>, proxied: bool) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
        } else if allow.allows(attempt.url()) {
            match proxied.then(|| check_proxied_blocking(&allow, attempt.url())) {
                Some(Err(e)) => attempt.error(format!("redirect refused: {e}")),
                _ => attempt.follow(),
            }
        } else {
            let to = attempt.url().host_str().unwrap_or("?").to_owned();
            attempt.error(format!("redirect to {to} refused: not in allow_hosts"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(p: &[&str]) -> AllowList {
        AllowList::new(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>(), None)
    }

    fn url(u: &str) -> reqwest::Url {
        reqwest::Url::parse(u).unwrap()
    }

    #[test]
    fn hosts_match_exactly_or_by_wildcard_suffix() {
        let a = list(&["*.jcloudcs.com", "oss.example.com"]);
        assert!(a.allows(&url("http://s3.cn-north-1.jcloudcs.com/x")));
        assert!(a.allows(&url("https://OSS.example.com/x")));
        assert!(!a.allows(&url("http://jcloudcs.com.evil.net/x")));
        assert!(!a.allows(&url("http://evil-jcloudcs.com/x")));
        assert!(!a.allows(&url("http://other.example.com/x")));
    }

    #[test]
    fn only_http_schemes_are_fetched() {
        let a = list(&["*"]);
        assert!(!a.allows(&url("file:///etc/passwd")));
        assert!(!a.allows(&url("gopher://h/x")));
        assert!(a.allows(&url("https://anything.example/x")));
    }

    #[test]
    fn internal_addresses_need_to_be_named_outright() {
        for u in [
            "http://169.254.169.254/latest/meta-data",
            "http://127.0.0.1/x",
            "http://10.1.2.3/x",
            "http://192.168.0.1/x",
            "http://[::1]/x",
            "http://[fd00:ec2::254]/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://0.0.0.0/x",
            "http://100.64.0.1/x", // carrier-grade NAT
            // 127.0.0.1 as a URL parser also reads it: decimal, hex, octal, short.
            "http://2130706433/x",
            "http://0x7f.0.0.1/x",
            "http://0177.0.0.1/x",
            "http://127.1/x",
        ] {
            assert!(!list(&["*"]).allows(&url(u)), "{u}");
        }
        assert!(list(&["169.254.169.254"]).allows(&url("http://169.254.169.254/x")));
        assert!(list(&["127.0.0.1"]).allows(&url("http://127.0.0.1:8080/x")));
        assert!(list(&["*"]).allows(&url("http://8.8.8.8/x")));
    }

    #[test]
    fn ipv6_addresses_carrying_an_internal_ipv4_are_internal() {
        let internal = |a: &str| is_internal(&a.parse::<IpAddr>().unwrap());
        for a in [
            "64:ff9b::7f00:1",    // NAT64 of 127.0.0.1
            "64:ff9b::a9fe:a9fe", // NAT64 of 169.254.169.254
            "64:ff9b:1::808:808", // local-use NAT64: never public
            "2002:7f00:1::1",     // 6to4 of 127.0.0.1
            "2002:c0a8:101::",    // 6to4 of 192.168.1.1
            "::127.0.0.1",        // IPv4-compatible
            "::10.0.0.1",
            "2001:0:4136:e378:8000:63bf:80ff:fffe", // Teredo, client 127.0.0.1
            "ff02::1",
            "::ffff:0:7f00:1", // SIIT of 127.0.0.1
            "2001:db8::1",
            "fec0::1",
        ] {
            assert!(internal(a), "{a}");
        }
        for a in [
            "64:ff9b::808:808", // NAT64 of 8.8.8.8
            "2002:808:808::1",  // 6to4 of 8.8.8.8
            "2606:4700::1111",
            "224.0.0.1",
        ] {
            assert_eq!(internal(a), a == "224.0.0.1", "{a}");
        }
        for a in [
            "255.255.255.255",
            "240.0.0.1",
            "198.18.0.1",
            "192.0.0.170",
            "203.0.113.9",
        ] {
            assert!(internal(a), "{a}");
        }
    }

    #[test]
    fn an_empty_list_allows_nothing() {
        assert!(!list(&[]).allows(&url("http://h/x")));
    }

    #[test]
    fn the_origin_host_is_allowed_only_when_no_patterns_are_given() {
        let origin = AllowList::new(&[], Some("oss.example.com".to_owned()));
        assert!(origin.allows(&url("http://oss.example.com/x")));
        let listed = AllowList::new(
            &[" CDN.example.com ".to_owned()],
            Some("oss.example.com".to_owned()),
        );
        assert!(listed.allows(&url("http://cdn.example.com/x")));
        assert!(!listed.allows(&url("http://oss.example.com/x")));
    }
}
