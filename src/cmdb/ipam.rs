//! IP address management: which addresses of a network are free.
//!
//! A network's unusable addresses are its network and broadcast addresses, the
//! gateway, nameserver and NTP server when they lie inside it, the DHCP range
//! when DHCP is on, and every address in the `ipaddress` table (nodes,
//! controllers, switches, other devices). [`Pool`] loads those once (one indexed
//! query, ordered) and then hands out addresses in order without further queries,
//! so allocating for thousands of nodes in one request stays linear.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use rusqlite::{OptionalExtension, Transaction};

use super::Error;

pub fn ipv4_num(s: &str) -> Option<i64> {
    s.parse::<Ipv4Addr>().ok().map(|ip| u32::from(ip) as i64)
}

/// The network whose IPv4 range contains `ip` (networks never overlap).
pub fn network_containing(tx: &Transaction, ip: Ipv4Addr) -> Result<i64, Error> {
    let mut stmt = tx.prepare_cached("SELECT id, network FROM network")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))? {
        let (id, cidr) = row?;
        if cidr.parse::<Ipv4Net>().is_ok_and(|n| n.contains(&ip)) {
            return Ok(id);
        }
    }
    Err(Error::invalid(format!(
        "ipaddress {ip} is not inside any network"
    )))
}

/// The free/taken state of one IPv4 network.
pub struct Pool {
    pub net: Ipv4Net,
    /// Sorted, deduplicated taken addresses.
    taken: Vec<u32>,
    /// Inclusive ranges that are never handed out (DHCP pool).
    ranges: Vec<(u32, u32)>,
    /// No address below this is free.
    cursor: u32,
}

impl Pool {
    pub fn new(net: Ipv4Net, mut taken: Vec<u32>, ranges: Vec<(u32, u32)>) -> Pool {
        let (first, last) = (u32::from(net.network()), u32::from(net.broadcast()));
        if net.prefix_len() < 31 {
            taken.push(first);
            taken.push(last);
        }
        taken.sort_unstable();
        taken.dedup();
        Pool {
            net,
            taken,
            ranges,
            cursor: first,
        }
    }

    /// Loads the pool of network `id`; `None` when it has no IPv4 range.
    pub fn load(tx: &Transaction, id: i64) -> Result<Option<Pool>, Error> {
        let mut stmt = tx.prepare_cached(
            "SELECT network, gateway, nameserver_ip, ntp_server, dhcp, dhcp_range_begin, dhcp_range_end
             FROM network WHERE id = ?1",
        )?;
        type NetRow = (
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<String>,
            Option<String>,
        );
        let row: Option<NetRow> = stmt
            .query_row([id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .optional()?;
        let Some((cidr, gateway, nameserver, ntp, dhcp, begin, end)) = row else {
            return Ok(None);
        };
        let Ok(net) = cidr.parse::<Ipv4Net>() else {
            return Ok(None);
        };
        let mut taken: Vec<u32> = Vec::new();
        for s in [gateway, nameserver, ntp].into_iter().flatten() {
            for part in s.split(',') {
                if let Ok(ip) = part.trim().parse::<Ipv4Addr>() {
                    if net.contains(&ip) {
                        taken.push(ip.into());
                    }
                }
            }
        }
        let mut ranges = Vec::new();
        if dhcp == Some(1) {
            if let (Some(b), Some(e)) = (
                begin.and_then(|b| ipv4_num(&b)),
                end.and_then(|e| ipv4_num(&e)),
            ) {
                ranges.push((b as u32, e as u32));
            }
        }
        let mut stmt = tx.prepare_cached(
            "SELECT ipnum FROM ipaddress WHERE networkid = ?1 AND ipnum IS NOT NULL ORDER BY ipnum",
        )?;
        let used = stmt.query_map([id], |r| r.get::<_, i64>(0))?;
        for n in used {
            taken.push(n? as u32);
        }
        Ok(Some(Pool::new(net, taken, ranges)))
    }

    pub fn is_free(&self, ip: Ipv4Addr) -> bool {
        let n = u32::from(ip);
        self.net.contains(&ip)
            && self.taken.binary_search(&n).is_err()
            && !self.ranges.iter().any(|&(b, e)| (b..=e).contains(&n))
    }

    /// The lowest free address, without taking it.
    pub fn peek(&mut self) -> Option<Ipv4Addr> {
        let last = u32::from(self.net.broadcast());
        let mut c = self.cursor;
        let mut idx = self.taken.partition_point(|&t| t < c);
        loop {
            if let Some(&(_, e)) = self.ranges.iter().find(|&&(b, e)| (b..=e).contains(&c)) {
                c = e.checked_add(1)?;
                idx = self.taken.partition_point(|&t| t < c);
                continue;
            }
            if self.taken.get(idx) == Some(&c) {
                idx += 1;
                c = c.checked_add(1)?;
                continue;
            }
            if c > last {
                return None;
            }
            self.cursor = c;
            return Some(Ipv4Addr::from(c));
        }
    }

    /// Takes the lowest free address.
    pub fn next(&mut self) -> Option<Ipv4Addr> {
        let ip = self.peek()?;
        self.take(ip);
        Some(ip)
    }

    /// Marks an address as used.
    pub fn take(&mut self, ip: Ipv4Addr) {
        let n = u32::from(ip);
        if let Err(pos) = self.taken.binary_search(&n) {
            self.taken.insert(pos, n);
        }
    }
}

/// Pools for several networks, loaded on first use within one request.
#[derive(Default)]
pub struct Allocator {
    pools: HashMap<i64, Option<Pool>>,
}

impl Allocator {
    pub fn pool(&mut self, tx: &Transaction, network_id: i64) -> Result<Option<&mut Pool>, Error> {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.pools.entry(network_id) {
            slot.insert(Pool::load(tx, network_id)?);
        }
        Ok(self.pools.get_mut(&network_id).and_then(Option::as_mut))
    }

    /// Records an address taken outside the pool, if that pool is loaded.
    pub fn mark(&mut self, network_id: i64, ip: Ipv4Addr) {
        if let Some(Some(pool)) = self.pools.get_mut(&network_id) {
            pool.take(ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> u32 {
        s.parse::<Ipv4Addr>().unwrap().into()
    }

    #[test]
    fn skips_network_taken_and_ranges() {
        let net: Ipv4Net = "10.0.0.0/29".parse().unwrap();
        let mut p = Pool::new(
            net,
            vec![ip("10.0.0.1"), ip("10.0.0.3")],
            vec![(ip("10.0.0.4"), ip("10.0.0.5"))],
        );
        assert_eq!(p.next(), Some("10.0.0.2".parse().unwrap()));
        assert_eq!(p.next(), Some("10.0.0.6".parse().unwrap()));
        // .7 is the broadcast address.
        assert_eq!(p.next(), None);
        assert!(!p.is_free("10.0.0.7".parse().unwrap()));
        assert!(!p.is_free("10.0.1.1".parse().unwrap()));
    }

    #[test]
    fn fast_on_a_full_slash_16() {
        let net: Ipv4Net = "10.141.0.0/16".parse().unwrap();
        let taken: Vec<u32> = (1..5001).map(|i| ip("10.141.0.0") + i).collect();
        let mut p = Pool::new(net, taken, vec![]);
        let t = std::time::Instant::now();
        assert_eq!(p.next(), Some("10.141.19.137".parse().unwrap()));
        assert!(t.elapsed().as_millis() < 50);
        let mut count = 1;
        while p.next().is_some() {
            count += 1;
        }
        assert_eq!(count, 65534 - 5000);
    }

    #[test]
    fn slash_32_and_31_have_no_reserved_ends() {
        let mut p = Pool::new("10.1.1.1/32".parse().unwrap(), vec![], vec![]);
        assert_eq!(p.next(), Some("10.1.1.1".parse().unwrap()));
        assert_eq!(p.next(), None);
    }
}
