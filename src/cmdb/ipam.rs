//! IP address management: which addresses of a network are free.
//!
//! A network's unusable addresses are its network and broadcast addresses, the
//! gateway, nameserver and NTP server when they lie inside it, the DHCP range
//! when DHCP is on, and every address in the `ipaddress` table (nodes,
//! controllers, switches, other devices). [`Pool`] loads those once (one indexed
//! query, ordered) and then hands out addresses in order without further queries,
//! so allocating for thousands of nodes in one request stays linear.
//!
//! The `ipamfloor` table (`sql/009_ipam_floor.sql`) keeps, per network, an
//! address below which nothing is free; a pool reads only the addresses at or
//! above it, so creating one node in a network of ten thousand reads a handful
//! of rows, not ten thousand. [`Pool::allocate`] raises it; the schema's
//! triggers lower it whenever an address is given back.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use rusqlite::{params, OptionalExtension, Transaction};

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
    /// The network's row id (0 for a pool not read from the database).
    id: i64,
    /// No address below this is free, as stored (`ipamfloor`): addresses
    /// below it were not loaded.
    floor: u32,
    /// `ipamfloor.releases` when loaded: the floor may be raised only if no
    /// address was given back since.
    releases: i64,
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
            id: 0,
            floor: 0,
            releases: 0,
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
        let (floor, releases): (i64, i64) = tx
            .prepare_cached("SELECT floor, releases FROM ipamfloor WHERE networkid = ?1")?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .unwrap_or((0, 0));
        let floor = u32::try_from(floor).unwrap_or(0);
        let mut stmt = tx.prepare_cached(
            "SELECT ipnum FROM ipaddress WHERE networkid = ?1 AND ipnum >= ?2 ORDER BY ipnum",
        )?;
        let used = stmt.query_map(params![id, floor], |r| r.get::<_, i64>(0))?;
        for n in used {
            taken.push(n? as u32);
        }
        let mut pool = Pool::new(net, taken, ranges);
        pool.id = id;
        pool.floor = floor;
        pool.releases = releases;
        pool.cursor = pool.cursor.max(floor);
        Ok(Some(pool))
    }

    /// Takes the lowest free address and records that nothing below it is
    /// free (unless an address was given back since this pool was read).
    pub fn allocate(&mut self, tx: &Transaction) -> Result<Option<Ipv4Addr>, Error> {
        let Some(ip) = self.next() else {
            return Ok(None);
        };
        let above = i64::from(u32::from(ip)) + 1;
        tx.prepare_cached(
            "INSERT INTO ipamfloor (networkid, floor, releases) VALUES (?1, ?2, ?3)
             ON CONFLICT (networkid) DO UPDATE SET floor = excluded.floor
             WHERE releases = excluded.releases AND floor < excluded.floor",
        )?
        .execute(params![self.id, above, self.releases])?;
        Ok(Some(ip))
    }

    pub fn is_free(&self, ip: Ipv4Addr) -> bool {
        let n = u32::from(ip);
        n >= self.floor
            && self.net.contains(&ip)
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

    /// A database with the schema and one /24 network (id 1), gateway .1.
    fn db() -> rusqlite::Connection {
        let mut db = rusqlite::Connection::open_in_memory().unwrap();
        crate::db::migrate(&mut db).unwrap();
        // Addresses here have owners that are only numbers.
        db.pragma_update(None, "foreign_keys", "OFF").unwrap();
        db.execute(
            "INSERT INTO network (id, name, network, gateway) VALUES (1, 'n', '10.0.0.0/24', '10.0.0.1')",
            [],
        )
        .unwrap();
        db
    }

    fn hold(tx: &Transaction, owner: i64, addr: &str) {
        tx.execute(
            "INSERT INTO ipaddress (networkid, ipaddress, ipnum, controllerid) VALUES (1, ?1, ?2, ?3)",
            params![addr, ipv4_num(addr), owner],
        )
        .unwrap();
    }

    fn allocate(tx: &Transaction) -> String {
        Pool::load(tx, 1)
            .unwrap()
            .unwrap()
            .allocate(tx)
            .unwrap()
            .unwrap()
            .to_string()
    }

    fn floor(tx: &Transaction) -> i64 {
        tx.query_row("SELECT floor FROM ipamfloor WHERE networkid = 1", [], |r| {
            r.get(0)
        })
        .unwrap()
    }

    #[test]
    fn floor_rises_with_allocation_and_falls_with_release() {
        let mut db = db();
        let tx = db.transaction().unwrap();
        for owner in 1..=3 {
            let ip = allocate(&tx);
            hold(&tx, owner, &ip);
        }
        // .1 is the gateway: .2, .3, .4 handed out; nothing free below .5.
        assert_eq!(floor(&tx), ipv4_num("10.0.0.5").unwrap());
        let pool = Pool::load(&tx, 1).unwrap().unwrap();
        assert!(!pool.is_free("10.0.0.3".parse().unwrap()));
        assert!(pool.is_free("10.0.0.5".parse().unwrap()));
        // Giving .3 back lowers the floor: it is handed out again, first.
        tx.execute("DELETE FROM ipaddress WHERE ipaddress = '10.0.0.3'", [])
            .unwrap();
        assert_eq!(floor(&tx), ipv4_num("10.0.0.3").unwrap());
        assert_eq!(allocate(&tx), "10.0.0.3");
        hold(&tx, 4, "10.0.0.3");
        assert_eq!(allocate(&tx), "10.0.0.5");
        // Moving an address away counts as giving it back.
        tx.execute(
            "UPDATE ipaddress SET ipaddress = '10.0.0.99', ipnum = ?1 WHERE ipaddress = '10.0.0.2'",
            [ipv4_num("10.0.0.99")],
        )
        .unwrap();
        assert_eq!(allocate(&tx), "10.0.0.2");
    }

    #[test]
    fn a_pool_read_before_a_release_never_raises_the_floor_over_it() {
        let mut db = db();
        let tx = db.transaction().unwrap();
        for owner in 1..=3 {
            let ip = allocate(&tx);
            hold(&tx, owner, &ip);
        }
        let mut stale = Pool::load(&tx, 1).unwrap().unwrap();
        tx.execute("DELETE FROM ipaddress WHERE ipaddress = '10.0.0.2'", [])
            .unwrap();
        // The stale pool still thinks .2 is taken and hands out .5 ...
        assert_eq!(
            stale.allocate(&tx).unwrap().unwrap().to_string(),
            "10.0.0.5"
        );
        // ... but the floor stays at .2, which the next request finds free.
        assert_eq!(floor(&tx), ipv4_num("10.0.0.2").unwrap());
        assert_eq!(allocate(&tx), "10.0.0.2");
    }

    #[test]
    fn an_update_keeping_the_address_gives_nothing_back() {
        let mut db = db();
        let tx = db.transaction().unwrap();
        for owner in 1..=3 {
            let ip = allocate(&tx);
            hold(&tx, owner, &ip);
        }
        let high = floor(&tx);
        tx.execute(
            "UPDATE ipaddress SET networkid = 1, ipnum = ipnum WHERE ipaddress = '10.0.0.2'",
            [],
        )
        .unwrap();
        assert_eq!(floor(&tx), high);
        assert_eq!(allocate(&tx), "10.0.0.5");
    }

    #[test]
    fn a_network_change_before_any_floor_still_stops_a_stale_pool() {
        let mut db = db();
        let tx = db.transaction().unwrap();
        hold(&tx, 1, "10.0.0.2");
        // Read with no floor row yet; then the gateway moves and .1 is free.
        let mut stale = Pool::load(&tx, 1).unwrap().unwrap();
        tx.execute("UPDATE network SET gateway = '10.0.0.254' WHERE id = 1", [])
            .unwrap();
        assert_eq!(
            stale.allocate(&tx).unwrap().unwrap().to_string(),
            "10.0.0.3"
        );
        assert_eq!(floor(&tx), 0, "the stale pool did not raise the floor");
        assert_eq!(allocate(&tx), "10.0.0.1");
    }

    #[test]
    fn a_changed_network_starts_again_from_the_bottom() {
        let mut db = db();
        let tx = db.transaction().unwrap();
        for owner in 1..=3 {
            let ip = allocate(&tx);
            hold(&tx, owner, &ip);
        }
        // The gateway moves: .1 becomes free, and the floor no longer holds.
        tx.execute("UPDATE network SET gateway = '10.0.0.254' WHERE id = 1", [])
            .unwrap();
        assert_eq!(floor(&tx), 0);
        assert_eq!(allocate(&tx), "10.0.0.1");
    }

    #[test]
    fn slash_32_and_31_have_no_reserved_ends() {
        let mut p = Pool::new("10.1.1.1/32".parse().unwrap(), vec![], vec![]);
        assert_eq!(p.next(), Some("10.1.1.1".parse().unwrap()));
        assert_eq!(p.next(), None);
    }
}
