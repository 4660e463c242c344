//! Values checked once, where they enter the model: a MAC address, an object
//! name, an address inside a network. A function that takes one of these types
//! needs no check of its own; the text they hold is already in canonical form.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use super::Error;

/// A MAC address, lower case with colons (`aa:bb:cc:dd:ee:ff`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mac(String);

impl Mac {
    /// `aa:bb:cc:dd:ee:ff` or `aa-bb-...`, any case, surrounding space ignored.
    pub fn parse(s: &str) -> Result<Mac, Error> {
        let parts: Vec<&str> = s.trim().split([':', '-']).collect();
        let ok = parts.len() == 6
            && parts
                .iter()
                .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
        if !ok {
            return Err(Error::invalid(format!("invalid MAC address '{s}'")));
        }
        Ok(Mac(parts.join(":").to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of a resource object (node, group, network, osimage, ...): 1-63
/// letters, digits, `-`, `_` or `.`, starting with a letter or digit, and not
/// one of the names the API gives a meaning of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    /// `kind` names what the name is for, in the refusal.
    pub fn parse(kind: &str, s: &str) -> Result<Name, Error> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !ok {
            return Err(Error::invalid(format!(
                "invalid {kind} name '{s}': use 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit"
            )));
        }
        if s == "default" || s == "inventory" {
            return Err(Error::invalid(format!("'{s}' is a reserved name")));
        }
        Ok(Name(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IPv4 address given under `key`; an IPv6 one is refused with a pointer to
/// the `_ipv6` key.
pub fn ipv4(key: &str, s: &str) -> Result<Ipv4Addr, Error> {
    match s.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => Ok(ip),
        Ok(IpAddr::V6(_)) => Err(Error::invalid(format!(
            "{key} '{s}' is IPv6: use {key}_ipv6"
        ))),
        Err(_) => Err(Error::invalid(format!("invalid {key} '{s}'"))),
    }
}

/// An IPv4 address given under `key` that lies inside `net`.
pub fn ipv4_in(key: &str, s: &str, net: &Ipv4Net) -> Result<Ipv4Addr, Error> {
    match s.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) if net.contains(&ip) => Ok(ip),
        _ => Err(Error::invalid(format!(
            "{key} '{s}' is not inside network {net}"
        ))),
    }
}

/// An IPv6 address given under `key` that lies inside `net` (none: the
/// network has no IPv6 part, so nothing is inside it).
pub fn ipv6_in(key: &str, s: &str, net: Option<&Ipv6Net>) -> Result<Ipv6Addr, Error> {
    match (s.parse::<IpAddr>(), net) {
        (Ok(IpAddr::V6(ip)), Some(n)) if n.contains(&ip) => Ok(ip),
        _ => Err(Error::invalid(format!(
            "{key} '{s}' is not inside network_ipv6"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        assert_eq!(
            Mac::parse("AA-BB-cc-00-01-F4").unwrap().as_str(),
            "aa:bb:cc:00:01:f4"
        );
        assert_eq!(
            Mac::parse(" aa:bb:cc:00:01:f4\n").unwrap().as_str(),
            "aa:bb:cc:00:01:f4"
        );
        for bad in [
            "",
            "aa:bb:cc:00:01",
            "aa:bb:cc:00:01:f4:00",
            "aa:bb:cc:00:01:g4",
            "aabb:cc:00:01:f4:",
            "a:bb:cc:00:01:f44",
            "aa:bb:cc:00:01:f4 x",
        ] {
            assert!(Mac::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names() {
        for good in ["node001", "a", "gpu-01.rack_2", &"x".repeat(63)] {
            assert_eq!(Name::parse("node", good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "-a",
            ".a",
            "a b",
            "a/b",
            "ä",
            "default",
            "inventory",
            &"x".repeat(64),
        ] {
            assert!(Name::parse("node", bad).is_err(), "{bad}");
        }
        let msg = Name::parse("group", "a b").unwrap_err().to_string();
        assert!(msg.starts_with("invalid group name 'a b'"), "{msg}");
    }

    #[test]
    fn addresses() {
        let net: Ipv4Net = "10.1.0.0/16".parse().unwrap();
        assert!(ipv4_in("gateway", "10.1.255.254", &net).is_ok());
        assert!(ipv4_in("gateway", "10.2.0.1", &net).is_err());
        assert!(ipv4_in("gateway", "fd00::1", &net).is_err());
        assert!(ipv4("ipaddress", "10.2.0.1").is_ok());
        let v6 = ipv4("ipaddress", "fd00::1").unwrap_err().to_string();
        assert!(v6.contains("use ipaddress_ipv6"), "{v6}");
        assert!(ipv4("ipaddress", "10.2.0.256").is_err());
        let n6: Ipv6Net = "fd00::/64".parse().unwrap();
        assert!(ipv6_in("gateway_ipv6", "fd00::1", Some(&n6)).is_ok());
        assert!(ipv6_in("gateway_ipv6", "fd01::1", Some(&n6)).is_err());
        assert!(ipv6_in("gateway_ipv6", "fd00::1", None).is_err());
    }
}
