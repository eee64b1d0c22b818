//! Which HTTP/S subscription endpoints trailwatch may contact.
//!
//! A subscription endpoint is a URL any API caller chooses, and the server POSTs to it: left
//! unchecked, that lets a caller reach addresses only the server can (server-side request
//! forgery). So:
//!
//! - the URL must be well-formed (`Subscribe` refuses it otherwise, as SNS does);
//! - link-local addresses, where clouds serve instance metadata and credentials
//!   (`169.254.169.254`, `fd00:ec2::254`, …), and addresses that are not one host (unspecified,
//!   multicast, broadcast) are never contacted, in any notation: decimal (`2852039166`), hex,
//!   octal, IPv4-mapped or NAT64 IPv6 all come down to the same address;
//! - operators may deny address ranges and host names, or allow only some
//!   ([`EndpointPolicy`]); the address is checked as it is connected to, after name
//!   resolution, so a name that resolves differently later cannot get around the check.
//!
//! Loopback and private networks stay allowed by default: a self-hosted server's receivers
//! (a chat bridge, a SIEM, a pager gateway) usually live there.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// A rule of an allow or deny list: an address range, or a host name (`hooks.example.com`,
/// or `*.example.com` for every name under it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointRule {
    /// Addresses in this range (`10.0.0.0/8`, `fd00::/8`, or one address).
    Network(IpNet),
    /// A host name, lower-case; a leading `*.` matches every name below the rest.
    Host(String),
}

impl std::str::FromStr for EndpointRule {
    type Err = String;

    fn from_str(text: &str) -> Result<EndpointRule, String> {
        let text = text.trim();
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(EndpointRule::Network(net.trunc()));
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(EndpointRule::Network(IpNet::from(ip)));
        }
        let text = text.strip_suffix('.').unwrap_or(text);
        let name = text.strip_prefix("*.").unwrap_or(text);
        let valid = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !valid {
            return Err(format!(
                "{text:?} is neither an address range (10.0.0.0/8, fd00::/8, 192.0.2.1) nor a host name (hooks.example.com, *.example.com)"
            ));
        }
        Ok(EndpointRule::Host(text.to_ascii_lowercase()))
    }
}

impl std::fmt::Display for EndpointRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndpointRule::Network(net) => write!(f, "{net}"),
            EndpointRule::Host(name) => f.write_str(name),
        }
    }
}

impl EndpointRule {
    /// Whether the rule's range holds `ip`, or the IPv4 address an IPv6 address stands for
    /// (`::ffff:10.0.0.5` is `10.0.0.5` to a dual-stack socket).
    fn matches_ip(&self, ip: IpAddr) -> bool {
        match self {
            EndpointRule::Network(net) => {
                net.contains(&ip)
                    || matches!(ip, IpAddr::V6(v6) if embedded_v4(v6)
                        .is_some_and(|v4| net.contains(&IpAddr::V4(v4))))
            }
            EndpointRule::Host(_) => false,
        }
    }

    fn matches_host(&self, host: &str) -> bool {
        // `example.com.` is `example.com` to the resolver.
        let host = host.strip_suffix('.').unwrap_or(host);
        match self {
            EndpointRule::Network(_) => false,
            EndpointRule::Host(rule) => match rule.strip_prefix("*.") {
                Some(suffix) => host
                    .strip_suffix(suffix)
                    .is_some_and(|head| head.ends_with('.')),
                None => host == rule,
            },
        }
    }
}

/// Where deliveries may go, beyond the addresses that are never contacted.
///
/// An address is refused when any `deny` rule matches it or its host name; when `allow` is not
/// empty, it must also match an `allow` rule (by address or by host name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointPolicy {
    /// Rules that let an endpoint through; empty lets every endpoint not denied through.
    pub allow: Vec<EndpointRule>,
    /// Rules that refuse an endpoint.
    pub deny: Vec<EndpointRule>,
}

impl EndpointPolicy {
    /// Whether `host` (lower-case, as in a parsed URL) may be contacted by its name; the
    /// addresses it resolves to are checked with [`EndpointPolicy::check_address`].
    pub fn check_host(&self, host: &str) -> Result<(), String> {
        if let Some(rule) = self.deny.iter().find(|r| r.matches_host(host)) {
            return Err(format!("the host {host} is denied by the rule {rule}"));
        }
        Ok(())
    }

    /// Whether the address `ip`, which the name `host` resolved to (or which the URL gave
    /// literally, then `host` is `None`), may be connected to.
    pub fn check_address(&self, host: Option<&str>, ip: IpAddr) -> Result<(), String> {
        never_contacted(ip)?;
        if let Some(rule) = self.deny.iter().find(|r| r.matches_ip(ip)) {
            return Err(format!("the address {ip} is denied by the rule {rule}"));
        }
        if let Some(host) = host {
            self.check_host(host)?;
        }
        let allowed = self.allow.is_empty()
            || self
                .allow
                .iter()
                .any(|r| r.matches_ip(ip) || host.is_some_and(|h| r.matches_host(h)));
        if !allowed {
            return Err(format!(
                "the address {ip} is not in the allowed endpoints ({})",
                self.allow
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(())
    }
}

/// Refuses addresses no subscription may reach, whatever the operator's lists say.
fn never_contacted(ip: IpAddr) -> Result<(), String> {
    let refuse = |why: &str| Err(format!("the address {ip} is {why} and is never contacted"));
    match ip {
        IpAddr::V4(v4) => never_contacted_v4(v4).map_or(Ok(()), refuse),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6)
                && let Some(why) = never_contacted_v4(v4)
            {
                return Err(format!(
                    "the address {ip} embeds {v4}, which is {why}, and is never contacted"
                ));
            }
            let segments = v6.segments();
            if v6.is_unspecified() {
                refuse("unspecified")
            } else if v6.is_multicast() {
                refuse("multicast")
            } else if segments[0] & 0xffc0 == 0xfe80 {
                refuse("link-local (where clouds serve instance metadata)")
            } else if v6 == AWS_METADATA_V6 {
                refuse("the AWS instance metadata service")
            } else {
                Ok(())
            }
        }
    }
}

/// The IPv6 address of the EC2 instance metadata service (Nitro instances).
const AWS_METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);

/// Instance metadata endpoints outside link-local space (Alibaba Cloud).
const METADATA_V4: [Ipv4Addr; 1] = [Ipv4Addr::new(100, 100, 100, 200)];

fn never_contacted_v4(ip: Ipv4Addr) -> Option<&'static str> {
    if ip.is_link_local() {
        Some("link-local (where clouds serve instance metadata)")
    } else if METADATA_V4.contains(&ip) {
        Some("a cloud instance metadata service")
    } else if ip.is_unspecified() || ip.octets()[0] == 0 {
        Some("not a host address")
    } else if ip.is_multicast() || ip.is_broadcast() {
        Some("not one host")
    } else {
        None
    }
}

/// The IPv4 address an IPv6 address stands for, where it stands for one: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4
/// (`2002:AABB:CCDD::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0; 6] && (s[6] != 0 || s[7] > 1) {
        return Some(tail());
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail());
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// A subscription endpoint URL, checked as `Subscribe` checks it.
#[derive(Debug, Clone)]
pub struct EndpointUrl {
    /// The parsed URL.
    pub url: url::Url,
}

impl EndpointUrl {
    /// Parses an `http://` or `https://` endpoint of the given protocol; the error is the
    /// reason, for SNS's `Invalid parameter: Endpoint Reason: …`.
    pub fn parse(text: &str, protocol: &str) -> Result<EndpointUrl, String> {
        let prefix = format!("{protocol}://");
        let Some(rest) = text.strip_prefix(&prefix) else {
            return Err("Endpoint must match the specified protocol".to_owned());
        };
        // The URL standard reads `http:///host` as `http://host`; SNS wants a host after `//`.
        if rest.is_empty() || rest.starts_with(['/', '?', '#']) {
            return Err("the URL has no host".to_owned());
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("the URL contains white space or control characters".to_owned());
        }
        let url = url::Url::parse(text).map_err(|e| format!("not a valid URL: {e}"))?;
        match url.host() {
            None => return Err("the URL has no host".to_owned()),
            Some(url::Host::Domain("")) => {
                return Err("the URL has no host".to_owned());
            }
            _ => {}
        }
        Ok(EndpointUrl { url })
    }

    /// The host's address when the URL gives one literally.
    pub fn literal_address(&self) -> Option<IpAddr> {
        match self.url.host()? {
            url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
            url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
            url::Host::Domain(_) => None,
        }
    }

    /// The host name when the URL gives a name rather than an address.
    pub fn host_name(&self) -> Option<&str> {
        match self.url.host()? {
            url::Host::Domain(d) => Some(d),
            _ => None,
        }
    }

    /// What the policy says of this URL before any name is resolved: its literal address, or
    /// its host name.
    pub fn check(&self, policy: &EndpointPolicy) -> Result<(), String> {
        match (self.literal_address(), self.host_name()) {
            (Some(ip), _) => policy.check_address(None, ip),
            (None, Some(host)) => policy.check_host(host),
            (None, None) => Err("the URL has no host".to_owned()),
        }
    }

    /// `scheme://host:port`: the deliveries that share it share a server, so they queue
    /// together and wait for that server only.
    pub fn origin_key(&self) -> String {
        self.url.origin().ascii_serialization()
    }
}

/// The `scheme://host:port` of an endpoint URL (see [`EndpointUrl::origin_key`]); the URL
/// itself when it does not parse.
pub fn origin_of(endpoint: &str) -> String {
    match url::Url::parse(endpoint) {
        Ok(url) if url.has_host() => url.origin().ascii_serialization(),
        _ => endpoint.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> bool {
        let policy = EndpointPolicy::default();
        EndpointUrl::parse(url, "http")
            .and_then(|u| u.check(&policy))
            .is_err()
    }

    #[test]
    fn metadata_addresses_are_refused_in_every_notation() {
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://2852039166/latest/meta-data/",
            "http://0xa9fea9fe/",
            "http://0251.0376.0251.0376/",
            "http://169.254.43518/",
            "http://user:pw@169.254.169.254/",
            "http://[::ffff:169.254.169.254]/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://[64:ff9b::169.254.169.254]/",
            "http://[2002:a9fe:a9fe::1]/",
            "http://[fe80::1]/",
            "http://[fd00:ec2::254]/",
            "http://100.100.100.200/",
            "http://0.0.0.0/",
            "http://[::]/",
            "http://255.255.255.255/",
            "http://224.0.0.1/",
        ] {
            assert!(refused(url), "{url} must be refused");
        }
    }

    #[test]
    fn malformed_endpoints_are_refused() {
        for url in [
            "http://a b/",
            "http:///nohost",
            "http://999.1.1.1/",
            "http://",
            "http://?x",
            "https://example.com/",
            "http://exa\tmple.com/",
            "http://[::1/",
        ] {
            assert!(
                EndpointUrl::parse(url, "http").is_err(),
                "{url} must be refused"
            );
        }
    }

    #[test]
    fn loopback_private_and_public_endpoints_are_allowed_by_default() {
        for url in [
            "http://127.0.0.1:9000/hook",
            "http://10.1.2.3/",
            "http://user:pw@10.1.2.3/",
            "http://192.168.1.5:8080/x?y=1",
            "http://[::1]:9000/",
            "http://hooks.example.com/sns",
            "http://localhost:9000/",
        ] {
            assert!(!refused(url), "{url} must be allowed");
        }
    }

    #[test]
    fn operator_rules_allow_and_deny() {
        let rule = |s: &str| s.parse::<EndpointRule>().expect("a valid rule");
        let policy = EndpointPolicy {
            allow: vec![rule("10.0.0.0/8"), rule("*.example.com")],
            deny: vec![rule("10.9.0.0/16"), rule("bad.example.com")],
        };
        let ip = |s: &str| s.parse::<IpAddr>().expect("an address");
        assert!(policy.check_address(None, ip("10.1.2.3")).is_ok());
        assert!(policy.check_address(None, ip("10.9.1.1")).is_err());
        assert!(policy.check_address(None, ip("192.168.1.1")).is_err());
        assert!(
            policy
                .check_address(Some("hooks.example.com"), ip("192.0.2.7"))
                .is_ok()
        );
        assert!(
            policy
                .check_address(Some("bad.example.com"), ip("10.1.1.1"))
                .is_err()
        );
        assert!(
            policy
                .check_address(Some("example.com.evil.net"), ip("192.0.2.7"))
                .is_err()
        );
        // Allowed names do not open link-local addresses.
        assert!(
            policy
                .check_address(Some("hooks.example.com"), ip("169.254.169.254"))
                .is_err()
        );
        // Other spellings of a denied address or name are denied too.
        for (host, ip) in [
            (None, "::ffff:10.9.0.5"),
            (None, "64:ff9b::10.9.0.5"),
            (None, "2002:0a09:0005::1"),
            (Some("bad.example.com."), "10.1.1.1"),
        ] {
            assert!(
                policy.check_address(host, ip.parse().expect("ip")).is_err(),
                "{ip}"
            );
        }
        assert!(
            policy
                .check_host("BAD.example.com.".to_ascii_lowercase().as_str())
                .is_err()
        );
        assert!("10.0.0.0/33".parse::<EndpointRule>().is_err());
        assert!("not a host!".parse::<EndpointRule>().is_err());
    }
}
