//! An in-memory BitTorrent HTTP tracker (BEP 3, with BEP 23 compact and
//! BEP 7 `peers6` peer lists) for the swarms of booting nodes' aria2c.
//!
//! Swarms are keyed by info hash and, within one, peers by peer id, so the
//! same client in two swarms is two peers. A peer is its address (the TCP
//! peer, or the `ip` parameter when that is an IP address), its port, the
//! bytes it still lacks (`left == 0` makes it a seeder) and when it last
//! announced. Memory is bounded for a hostile client: at most
//! `max_torrents` swarms (a new one beyond is refused with 503) and
//! `max_peers_per_torrent` peers each (a new peer beyond evicts the
//! stalest). Peers silent for `peer_ttl` are dropped lazily when their swarm
//! is next touched, and by [`Tracker::sweep`], which the daemon calls
//! periodically and which also forgets swarms left empty for `peer_ttl`.
//!
//! The controller seeds the images it packs; [`Tracker::set_seed`] makes it
//! the first entry of every peer list given to a node that still downloads.
//!
//! The HTTP layer passes the raw query string and gets back a bencoded body:
//! `Ok` for a 200, `Err((status, body))` with a bencoded `failure reason`
//! for a refused request (400 for a malformed one, 503 when full).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::bencode::Value;

/// A 20-byte SHA-1 info hash or peer id.
type Id = [u8; 20];

/// Tunables of the tracker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `interval`: how often clients should announce. Provisioning lasts
    /// minutes, not days, so 60 s rather than the customary 30 min.
    pub interval: Duration,
    /// `min interval`: clients must not announce more often than this.
    pub min_interval: Duration,
    /// Peers not heard from for this long are dropped; about 3 × `interval`.
    pub peer_ttl: Duration,
    /// Most swarms tracked at once; a new info hash beyond gets a 503.
    pub max_torrents: usize,
    /// Most peers per swarm; a new peer beyond evicts the stalest one.
    pub max_peers_per_torrent: usize,
    /// Peers returned when the client sends no `numwant`.
    pub numwant_default: usize,
    /// Most peers returned, whatever `numwant` asks for.
    pub numwant_max: usize,
    /// Whether a client may name its address (`ip`) instead of the one it
    /// connects from, and a peer id may move between addresses. Off, a
    /// client cannot point others at a third host or take over another
    /// node's peer id.
    pub trust_ip: bool,
}

impl Default for Settings {
    /// 64 swarms of 4096 peers: at most ~262k peers of under 100 bytes each
    /// (key, address, counters, hash table slack), about 25 MB when a
    /// hostile client fills every slot.
    fn default() -> Settings {
        Settings {
            interval: Duration::from_secs(60),
            min_interval: Duration::from_secs(30),
            peer_ttl: Duration::from_secs(180),
            max_torrents: 64,
            max_peers_per_torrent: 4096,
            numwant_default: 50,
            numwant_max: 200,
            trust_ip: true,
        }
    }
}

/// The tracker: settings and the swarms behind one mutex (an announce is a
/// few microseconds of work, so one lock is simpler than sharding).
pub struct Tracker {
    settings: Settings,
    state: Mutex<State>,
}

/// Everything that changes.
struct State {
    torrents: HashMap<Id, Torrent>,
    /// The controller's own BitTorrent address, when it seeds.
    seed: Option<SocketAddr>,
    /// Picks which peers a client gets when there are more than it wants.
    rng: XorShift,
    /// When the tracker last swept every swarm (rate-limits sweeps forced by
    /// a full tracker).
    last_sweep: Option<Instant>,
    /// The torrents this tracker serves, once any is named with `allow`: an
    /// announce for another info hash is refused, so nobody else's swarms
    /// can fill the tracker.
    known: Option<std::collections::HashSet<Id>>,
    /// Something changed since the last snapshot.
    dirty: bool,
}

/// The tracker's state as saved between runs.
#[derive(Default, Debug)]
pub struct Snapshot {
    pub peers: Vec<SavedPeer>,
    /// Each swarm and its `downloaded` count.
    pub torrents: Vec<([u8; 20], u64)>,
}

/// One peer as saved.
#[derive(Debug, Clone)]
pub struct SavedPeer {
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
    pub addr: SocketAddr,
    pub left: u64,
    pub completed: bool,
    /// How long ago it last announced.
    pub age: Duration,
}

/// One swarm.
struct Torrent {
    peers: HashMap<Id, Peer>,
    /// The peers' ids in slots (`Peer::slot`), for sampling without a scan.
    order: Vec<Id>,
    /// How many peers have nothing left to download.
    seeders: usize,
    /// When expired peers were last dropped (at most once a second: it is a
    /// scan of the swarm).
    last_expire: Option<Instant>,
    /// Peers that announced `completed` (each counted once while tracked).
    downloaded: u64,
    /// The last announce in this swarm; an empty swarm is forgotten
    /// `peer_ttl` after it.
    last_active: Instant,
}

/// One peer of a swarm.
struct Peer {
    /// Its index in `Torrent::order`.
    slot: usize,
    addr: SocketAddr,
    left: u64,
    last_seen: Instant,
    /// Whether this peer's `completed` event was already counted.
    completed: bool,
}

/// The `event` parameter of an announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    /// Absent, empty or `empty`: a regular announce.
    None,
    Started,
    Completed,
    Stopped,
}

/// A validated announce.
#[derive(Debug)]
struct Announce {
    info_hash: Id,
    peer_id: Id,
    /// Where other peers reach this one: `ip` (when valid) or the TCP peer, and `port`.
    addr: SocketAddr,
    left: u64,
    event: Event,
    compact: bool,
    /// Already capped at `numwant_max`.
    numwant: usize,
    no_peer_id: bool,
}

/// A peer chosen for a reply; `id` is `None` for the controller's seed.
struct Chosen {
    id: Option<Id>,
    addr: SocketAddr,
}

/// How long a sweep forced by a full tracker holds off the next one, so a
/// client spraying new info hashes cannot make every request walk every peer.
const FORCED_SWEEP_EVERY: Duration = Duration::from_secs(1);

impl Tracker {
    /// An empty tracker.
    pub fn new(settings: Settings) -> Tracker {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Tracker {
            settings,
            state: Mutex::new(State {
                torrents: HashMap::new(),
                seed: None,
                rng: XorShift::new(seed),
                last_sweep: None,
                known: None,
                dirty: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held; if something did, the
        // swarms are still consistent enough to keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The controller itself as a peer (it seeds the images it packed): the
    /// first entry of every peer list given to a downloading node, unless that
    /// node is the seed itself. `None` stops it.
    pub fn set_seed(&self, seed: Option<SocketAddr>) {
        self.lock().seed = seed.map(|s| SocketAddr::new(s.ip().to_canonical(), s.port()));
    }

    /// Whether anything changed since the last `snapshot`.
    pub fn dirty(&self) -> bool {
        self.lock().dirty
    }

    /// Every live peer and every swarm's download count, for saving; clears
    /// the dirty mark.
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let mut state = self.lock();
        state.dirty = false;
        let mut snap = Snapshot::default();
        for (hash, torrent) in &state.torrents {
            snap.torrents.push((*hash, torrent.downloaded));
            for (id, peer) in &torrent.peers {
                snap.peers.push(SavedPeer {
                    info_hash: *hash,
                    peer_id: *id,
                    addr: peer.addr,
                    left: peer.left,
                    completed: peer.completed,
                    age: now.saturating_duration_since(peer.last_seen),
                });
            }
        }
        snap
    }

    /// Puts saved swarms back (at start); peers older than the TTL are left out.
    pub fn restore(&self, snap: Snapshot, now: Instant) {
        let ttl = self.settings.peer_ttl;
        let mut state = self.lock();
        for (hash, downloaded) in snap.torrents {
            let torrent = state
                .torrents
                .entry(hash)
                .or_insert_with(|| Torrent::new(now));
            torrent.downloaded = downloaded;
        }
        for p in snap.peers {
            if p.age >= ttl {
                continue;
            }
            let Some(torrent) = state.torrents.get_mut(&p.info_hash) else {
                continue;
            };
            if torrent.peers.len() >= self.settings.max_peers_per_torrent {
                continue;
            }
            let last_seen = now.checked_sub(p.age).unwrap_or(now);
            let peer = torrent.upsert(p.peer_id, p.addr, p.left, last_seen);
            peer.completed = p.completed;
        }
        let max = self.settings.max_torrents;
        if state.torrents.len() > max {
            let keep: Vec<Id> = state.torrents.keys().take(max).copied().collect();
            state.torrents.retain(|k, _| keep.contains(k));
        }
    }

    /// From now on, tracks only the torrents named with `allow` (none yet).
    pub fn only_allowed(&self) {
        self.lock().known.get_or_insert_with(Default::default);
    }

    /// Serves `info_hash` (a torrent luna2d made); from the first call on,
    /// only the torrents named this way are tracked.
    pub fn allow(&self, info_hash: [u8; 20]) {
        self.lock()
            .known
            .get_or_insert_with(Default::default)
            .insert(info_hash);
    }

    /// GET /announce. `query` is the raw, still percent-encoded query string;
    /// `remote` the TCP peer's address. Returns the bencoded reply for a 200,
    /// or the status and a bencoded `failure reason`.
    pub fn announce(
        &self,
        query: &str,
        remote: IpAddr,
        now: Instant,
    ) -> Result<Vec<u8>, (u16, Vec<u8>)> {
        let req = parse_announce(query, remote, &self.settings)
            .map_err(|reason| failure(400, &reason))?;
        let ttl = self.settings.peer_ttl;
        let mut guard = self.lock();

        if req.event == Event::Stopped {
            // A peer leaving never creates a swarm.
            let state = &mut *guard;
            let (complete, incomplete) = match state.torrents.get_mut(&req.info_hash) {
                Some(torrent) => {
                    if torrent.remove_peer(&req.peer_id).is_some() {
                        state.dirty = true;
                    }
                    torrent.expire(now, ttl);
                    torrent.last_active = now;
                    torrent.counts()
                }
                None => (0, 0),
            };
            drop(guard);
            return Ok(self.reply(complete, incomplete, &[], req.compact, req.no_peer_id));
        }

        if guard
            .known
            .as_ref()
            .is_some_and(|known| !known.contains(&req.info_hash))
        {
            return Err(failure(
                400,
                "unknown torrent: this tracker serves the images of this controller",
            ));
        }
        if !guard.torrents.contains_key(&req.info_hash)
            && guard.torrents.len() >= self.settings.max_torrents
        {
            let due = guard
                .last_sweep
                .is_none_or(|last| now.saturating_duration_since(last) >= FORCED_SWEEP_EVERY);
            if due {
                guard.sweep(now, ttl);
            }
            if guard.torrents.len() >= self.settings.max_torrents {
                return Err(failure(503, "tracker is full: too many torrents"));
            }
        }

        let state = &mut *guard;
        state.dirty = true;
        let torrent = state
            .torrents
            .entry(req.info_hash)
            .or_insert_with(|| Torrent::new(now));
        torrent.expire(now, ttl);
        torrent.last_active = now;
        if !torrent.peers.contains_key(&req.peer_id)
            && torrent.peers.len() >= self.settings.max_peers_per_torrent
        {
            torrent.evict_stalest();
        }
        if !self.settings.trust_ip
            && torrent
                .peers
                .get(&req.peer_id)
                .is_some_and(|p| p.addr.ip() != req.addr.ip())
        {
            return Err(failure(400, "peer id in use from another address"));
        }
        let peer = torrent.upsert(req.peer_id, req.addr, req.left, now);
        if req.event == Event::Completed && !peer.completed {
            peer.completed = true;
            torrent.downloaded += 1;
        }

        let chosen = choose(torrent, &req, state.seed, &mut state.rng);
        let (complete, incomplete) = torrent.counts();
        drop(guard);
        Ok(self.reply(complete, incomplete, &chosen, req.compact, req.no_peer_id))
    }

    /// GET /scrape: a `files` dictionary with `complete`, `downloaded` and
    /// `incomplete` for each requested `info_hash` (a repeatable parameter)
    /// the tracker knows, or for every swarm with a live peer when none is
    /// requested.
    pub fn scrape(&self, query: &str, now: Instant) -> Result<Vec<u8>, (u16, Vec<u8>)> {
        let query = Query::parse(query).map_err(|reason| failure(400, &reason))?;
        let mut wanted = Vec::new();
        for value in query.all("info_hash") {
            wanted.push(id_param("info_hash", value).map_err(|reason| failure(400, &reason))?);
        }
        let ttl = self.settings.peer_ttl;
        let mut state = self.lock();
        let mut files = BTreeMap::new();
        if wanted.is_empty() {
            for (hash, torrent) in &mut state.torrents {
                torrent.expire(now, ttl);
                if !torrent.peers.is_empty() {
                    files.insert(hash.to_vec(), torrent.stats());
                }
            }
        } else {
            for hash in wanted {
                if let Some(torrent) = state.torrents.get_mut(&hash) {
                    torrent.expire(now, ttl);
                    files.insert(hash.to_vec(), torrent.stats());
                }
            }
        }
        Ok(Value::dict([("files", Value::Dict(files))]).encode())
    }

    /// Drops every peer not heard from for `peer_ttl`, and every swarm left
    /// without peers for as long. The daemon calls this periodically so that
    /// swarms nobody announces to any more do not hold memory.
    pub fn sweep(&self, now: Instant) {
        self.lock().sweep(now, self.settings.peer_ttl);
    }

    /// The bencoded reply to an announce.
    fn reply(
        &self,
        complete: usize,
        incomplete: usize,
        chosen: &[Chosen],
        compact: bool,
        no_peer_id: bool,
    ) -> Vec<u8> {
        let mut reply = vec![
            ("complete", Value::uint(complete as u64)),
            ("incomplete", Value::uint(incomplete as u64)),
            ("interval", Value::uint(self.settings.interval.as_secs())),
            (
                "min interval",
                Value::uint(self.settings.min_interval.as_secs()),
            ),
        ];
        if compact {
            // BEP 23: 4 address bytes and 2 port bytes, big-endian, per IPv4
            // peer; BEP 7: 16 + 2 per IPv6 peer, under `peers6`.
            let mut v4 = Vec::new();
            let mut v6 = Vec::new();
            for c in chosen {
                match c.addr {
                    SocketAddr::V4(a) => {
                        v4.extend_from_slice(&a.ip().octets());
                        v4.extend_from_slice(&a.port().to_be_bytes());
                    }
                    SocketAddr::V6(a) => {
                        v6.extend_from_slice(&a.ip().octets());
                        v6.extend_from_slice(&a.port().to_be_bytes());
                    }
                }
            }
            reply.push(("peers", Value::Bytes(v4)));
            if !v6.is_empty() {
                reply.push(("peers6", Value::Bytes(v6)));
            }
        } else {
            let peers = chosen
                .iter()
                .map(|c| {
                    let mut entry = vec![
                        ("ip", Value::str(&c.addr.ip().to_string())),
                        ("port", Value::uint(u64::from(c.addr.port()))),
                    ];
                    if let (Some(id), false) = (c.id, no_peer_id) {
                        entry.push(("peer id", Value::bytes(id)));
                    }
                    Value::dict(entry)
                })
                .collect();
            reply.push(("peers", Value::List(peers)));
        }
        Value::dict(reply).encode()
    }
}

impl State {
    fn sweep(&mut self, now: Instant, ttl: Duration) {
        self.torrents.retain(|_, torrent| {
            torrent.expire(now, ttl);
            !torrent.peers.is_empty() || now.saturating_duration_since(torrent.last_active) <= ttl
        });
        self.last_sweep = Some(now);
    }
}

impl Torrent {
    /// Drops the peers not heard from for longer than `ttl`.
    fn new(now: Instant) -> Torrent {
        Torrent {
            peers: HashMap::new(),
            order: Vec::new(),
            seeders: 0,
            last_expire: None,
            downloaded: 0,
            last_active: now,
        }
    }

    /// Adds or updates a peer; keeps `order` and `seeders` true.
    fn upsert(&mut self, id: Id, addr: SocketAddr, left: u64, now: Instant) -> &mut Peer {
        use std::collections::hash_map::Entry;
        let peer = match self.peers.entry(id) {
            Entry::Occupied(e) => {
                let peer = e.into_mut();
                match (peer.left == 0, left == 0) {
                    (false, true) => self.seeders += 1,
                    (true, false) => self.seeders -= 1,
                    _ => {}
                }
                peer
            }
            Entry::Vacant(e) => {
                self.order.push(id);
                if left == 0 {
                    self.seeders += 1;
                }
                e.insert(Peer {
                    slot: self.order.len() - 1,
                    addr,
                    left,
                    last_seen: now,
                    completed: false,
                })
            }
        };
        peer.addr = addr;
        peer.left = left;
        peer.last_seen = now;
        peer
    }

    /// Removes a peer; keeps `order` and `seeders` true.
    fn remove_peer(&mut self, id: &Id) -> Option<Peer> {
        let peer = self.peers.remove(id)?;
        if peer.left == 0 {
            self.seeders -= 1;
        }
        self.order.swap_remove(peer.slot);
        if let Some(moved) = self.order.get(peer.slot).copied() {
            if let Some(p) = self.peers.get_mut(&moved) {
                p.slot = peer.slot;
            }
        }
        Some(peer)
    }

    /// Drops peers not heard from within `ttl` (a scan, so at most once a
    /// second per swarm), rebuilding the slots and the seeder count.
    fn expire(&mut self, now: Instant, ttl: Duration) {
        if self
            .last_expire
            .is_some_and(|last| now.saturating_duration_since(last) < Duration::from_secs(1))
        {
            return;
        }
        self.last_expire = Some(now);
        self.peers
            .retain(|_, peer| now.saturating_duration_since(peer.last_seen) <= ttl);
        self.order.clear();
        self.seeders = 0;
        for (id, peer) in self.peers.iter_mut() {
            peer.slot = self.order.len();
            self.order.push(*id);
            if peer.left == 0 {
                self.seeders += 1;
            }
        }
    }

    /// Makes room for a new peer by dropping the one heard from least recently.
    fn evict_stalest(&mut self) {
        let stalest = self
            .peers
            .iter()
            .min_by_key(|(_, peer)| peer.last_seen)
            .map(|(id, _)| *id);
        if let Some(id) = stalest {
            self.remove_peer(&id);
        }
    }

    /// (seeders, leechers)
    fn counts(&self) -> (usize, usize) {
        (self.seeders, self.peers.len() - self.seeders)
    }

    /// The scrape entry of this swarm.
    fn stats(&self) -> Value {
        let (complete, incomplete) = self.counts();
        Value::dict([
            ("complete", Value::uint(complete as u64)),
            ("downloaded", Value::uint(self.downloaded)),
            ("incomplete", Value::uint(incomplete as u64)),
        ])
    }
}

/// The peers for `req`: the controller's seed first (when set, when the
/// requester still downloads and is not the seed), then a uniform random
/// sample of the swarm (reservoir sampling, so memory stays at `numwant`),
/// never the requester itself (by peer id or by address), and only leechers
/// for a seeder, who has nothing to gain from other seeders.
fn choose(
    torrent: &Torrent,
    req: &Announce,
    seed: Option<SocketAddr>,
    rng: &mut XorShift,
) -> Vec<Chosen> {
    let mut chosen = Vec::with_capacity(req.numwant.min(torrent.peers.len() + 1));
    let seeding = req.left == 0;
    if let Some(seed) = seed {
        if req.numwant > 0 && !seeding && seed != req.addr {
            chosen.push(Chosen {
                id: None,
                addr: seed,
            });
        }
    }
    let first = chosen.len();
    let room = req.numwant - first;
    let eligible = |id: &Id, peer: &Peer| {
        *id != req.peer_id
            && peer.addr != req.addr
            && Some(peer.addr) != seed
            && !(seeding && peer.left == 0)
    };
    let n = torrent.order.len();
    if room == 0 || n == 0 {
        return chosen;
    }
    // Random slots from a random start, each visited once: a uniform
    // sample when the swarm is large, all of it when it is small, and never
    // more than a few times `room` peers looked at.
    let step = coprime_step(n, rng.next());
    let mut slot = (rng.next() % n as u64) as usize;
    let budget = n.min(room.saturating_mul(4).max(64));
    for _ in 0..budget {
        let id = torrent.order[slot];
        if let Some(peer) = torrent.peers.get(&id) {
            if eligible(&id, peer) {
                chosen.push(Chosen {
                    id: Some(id),
                    addr: peer.addr,
                });
                if chosen.len() - first == room {
                    break;
                }
            }
        }
        slot = (slot + step) % n;
    }
    chosen
}

/// A step in 1..n that is coprime with `n`, so stepping visits every slot.
fn coprime_step(n: usize, r: u64) -> usize {
    if n <= 1 {
        return 1;
    }
    let mut step = 1 + (r % (n as u64 - 1)) as usize;
    while gcd(step, n) != 1 {
        step += 1;
        if step >= n {
            step = 1;
        }
    }
    step
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// xorshift64*: cheap, and good enough to spread peers around a swarm.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        // The state must never be zero.
        XorShift(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// A bencoded `{"failure reason": reason}` with its HTTP status.
fn failure(status: u16, reason: &str) -> (u16, Vec<u8>) {
    (
        status,
        Value::dict([("failure reason", Value::str(reason))]).encode(),
    )
}

/// Validates an announce query; the error is the failure reason.
fn parse_announce(query: &str, remote: IpAddr, settings: &Settings) -> Result<Announce, String> {
    let q = Query::parse(query)?;
    let info_hash = id_param("info_hash", q.get("info_hash").ok_or("missing info_hash")?)?;
    let peer_id = id_param("peer_id", q.get("peer_id").ok_or("missing peer_id")?)?;
    let port = match q.get("port").map(number) {
        None => return Err("missing port".into()),
        Some(Some(p @ 1..=65535)) => p as u16,
        Some(_) => return Err("invalid port: must be 1-65535".into()),
    };
    let count = |name: &str| match q.get(name) {
        None => Ok(0),
        Some(v) => {
            number(v).ok_or_else(|| format!("invalid {name}: must be a non-negative integer"))
        }
    };
    count("uploaded")?;
    count("downloaded")?;
    let left = count("left")?;
    let event = match q.get("event") {
        None | Some(b"" | b"empty") => Event::None,
        Some(b"started") => Event::Started,
        Some(b"completed") => Event::Completed,
        Some(b"stopped") => Event::Stopped,
        Some(_) => {
            return Err("invalid event: must be started, completed, stopped or empty".into())
        }
    };
    let compact = match q.get("compact") {
        None | Some(b"" | b"1") => true,
        Some(b"0") => false,
        Some(_) => return Err("invalid compact: must be 0 or 1".into()),
    };
    let numwant = match q.get("numwant") {
        None => settings.numwant_default,
        // Some clients send -1 for "the tracker's default".
        Some([b'-', rest @ ..]) if number(rest).is_some() => settings.numwant_default,
        Some(v) => match v {
            [] => settings.numwant_default,
            _ if v.iter().all(u8::is_ascii_digit) => {
                number(v).map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX))
            }
            _ => return Err("invalid numwant: must be an integer".into()),
        },
    }
    .min(settings.numwant_max);
    let no_peer_id = matches!(q.get("no_peer_id"), Some(v) if v != b"0");
    // `ip` is honoured only where the settings trust it, and only when it is
    // an address others can connect to; a host name or garbage falls back to
    // the TCP peer.
    let ip = q
        .get("ip")
        .filter(|_| settings.trust_ip)
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|s| s.parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
        .filter(|ip| {
            !ip.is_unspecified()
                && !ip.is_multicast()
                && *ip != IpAddr::V4(std::net::Ipv4Addr::BROADCAST)
        })
        .unwrap_or_else(|| remote.to_canonical());
    Ok(Announce {
        info_hash,
        peer_id,
        addr: SocketAddr::new(ip, port),
        left,
        event,
        compact,
        numwant,
        no_peer_id,
    })
}

/// A parameter that must be exactly 20 raw bytes.
fn id_param(name: &str, value: &[u8]) -> Result<Id, String> {
    Id::try_from(value)
        .map_err(|_| format!("invalid {name}: must be 20 bytes, got {}", value.len()))
}

/// A non-negative decimal integer: ASCII digits only (no sign, no spaces).
fn number(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// The parameters of a query string, percent-decoded, in order.
struct Query {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Query {
    /// Splits on `&` and the first `=` of each part (a part without one has
    /// an empty value) and percent-decodes keys and values; any malformed
    /// `%` escape fails the whole query. `+` means a space, as in HTML forms,
    /// except in the binary `info_hash` and `peer_id`, where it stays the
    /// byte `+`: clients percent-encode every byte of those outside
    /// `A-Za-z0-9.-_~`, so a raw `+` there can only be a byte sent as is.
    fn parse(query: &str) -> Result<Query, String> {
        let mut pairs = Vec::new();
        for part in query.split('&').filter(|part| !part.is_empty()) {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            let key = percent_decode(key, true)?;
            let binary = key == b"info_hash" || key == b"peer_id";
            let value = percent_decode(value, !binary)?;
            pairs.push((key, value));
        }
        Ok(Query { pairs })
    }

    /// The first value of `key`.
    fn get(&self, key: &str) -> Option<&[u8]> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// Every value of `key`, in order.
    fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key.as_bytes())
            .map(|(_, v)| v.as_slice())
    }
}

/// Decodes `%XX` escapes (either case) to bytes and, when `plus_is_space`,
/// `+` to a space. A `%` not followed by two hex digits is an error.
fn percent_decode(s: &str, plus_is_space: bool) -> Result<Vec<u8>, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|&c| hex_digit(c));
                let lo = bytes.get(i + 2).and_then(|&c| hex_digit(c));
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    let end = bytes.len().min(i + 3);
                    return Err(format!(
                        "malformed percent-encoding {:?} in the query",
                        String::from_utf8_lossy(&bytes[i..end])
                    ));
                };
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bencode::decode;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const HASH_A: Id = *b"AAAAAAAAAAAAAAAAAAA\x01";
    const HASH_B: Id = *b"BBBBBBBBBBBBBBBBBBB\xfe";

    fn pid(n: u32) -> Id {
        let mut id = *b"-aria2-0000000000000";
        id[16..].copy_from_slice(&n.to_be_bytes());
        id
    }

    /// Percent-encodes every byte, as clients do for binary values.
    fn enc(b: &[u8]) -> String {
        b.iter().map(|x| format!("%{x:02X}")).collect()
    }

    fn query(hash: &Id, peer: &Id, port: u16, extra: &str) -> String {
        format!(
            "info_hash={}&peer_id={}&port={port}{extra}",
            enc(hash),
            enc(peer)
        )
    }

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    fn small() -> Settings {
        Settings {
            interval: Duration::from_secs(60),
            min_interval: Duration::from_secs(30),
            peer_ttl: Duration::from_secs(180),
            max_torrents: 3,
            max_peers_per_torrent: 5,
            numwant_default: 50,
            numwant_max: 200,
            trust_ip: true,
        }
    }

    fn ok(r: Result<Vec<u8>, (u16, Vec<u8>)>) -> Value {
        match r {
            Ok(body) => decode(&body).unwrap(),
            Err((status, body)) => panic!("{status}: {}", String::from_utf8_lossy(&body)),
        }
    }

    /// The status and failure reason of a refused request.
    fn refused(r: Result<Vec<u8>, (u16, Vec<u8>)>) -> (u16, String) {
        match r {
            Ok(body) => panic!("accepted: {}", String::from_utf8_lossy(&body)),
            Err((status, body)) => {
                let v = decode(&body).unwrap();
                assert_eq!(v.as_dict().unwrap().len(), 1);
                (
                    status,
                    v.get("failure reason")
                        .and_then(Value::as_str)
                        .unwrap()
                        .to_string(),
                )
            }
        }
    }

    fn int(v: &Value, key: &str) -> i64 {
        v.get(key).and_then(Value::as_int).unwrap()
    }

    /// The addresses in a compact `peers` string.
    fn compact_peers(v: &Value) -> Vec<SocketAddr> {
        v.get("peers")
            .and_then(Value::as_bytes)
            .unwrap()
            .chunks(6)
            .map(|c| {
                assert_eq!(c.len(), 6);
                SocketAddr::new(v4(c[0], c[1], c[2], c[3]), u16::from_be_bytes([c[4], c[5]]))
            })
            .collect()
    }

    #[test]
    fn announce_happy_path_and_counts() {
        let t = Tracker::new(Settings::default());
        let now = Instant::now();
        let r = ok(t.announce(
            &query(&HASH_A, &pid(1), 6881, "&left=100&event=started"),
            v4(10, 0, 0, 1),
            now,
        ));
        assert_eq!(int(&r, "interval"), 60);
        assert_eq!(int(&r, "min interval"), 30);
        assert_eq!(int(&r, "complete"), 0);
        assert_eq!(int(&r, "incomplete"), 1);
        assert_eq!(compact_peers(&r), vec![]);

        let r = ok(t.announce(
            &query(&HASH_A, &pid(2), 6882, "&left=0"),
            v4(10, 0, 0, 2),
            now,
        ));
        assert_eq!(int(&r, "complete"), 1);
        assert_eq!(int(&r, "incomplete"), 1);
        assert_eq!(compact_peers(&r), vec!["10.0.0.1:6881".parse().unwrap()]);

        let r = ok(t.announce(
            &query(&HASH_A, &pid(1), 6881, "&left=50"),
            v4(10, 0, 0, 1),
            now,
        ));
        assert_eq!(compact_peers(&r), vec!["10.0.0.2:6882".parse().unwrap()]);
    }

    #[test]
    fn compact_reply_byte_by_byte() {
        let t = Tracker::new(Settings::default());
        t.set_seed(Some("10.141.255.254:6881".parse().unwrap()));
        let now = Instant::now();
        t.announce(
            &query(&HASH_A, &pid(1), 0x1ae1, "&left=0"),
            v4(10, 0, 0, 2),
            now,
        )
        .unwrap();
        t.announce(
            &query(&HASH_A, &pid(2), 51413, "&left=7"),
            "fd00::5".parse().unwrap(),
            now,
        )
        .unwrap();
        let body = t
            .announce(
                &query(&HASH_A, &pid(3), 6881, "&left=9&compact=1"),
                v4(10, 0, 0, 3),
                now,
            )
            .unwrap();
        let mut expected =
            b"d8:completei1e10:incompletei2e8:intervali60e12:min intervali30e5:peers12:".to_vec();
        expected.extend_from_slice(&[10, 141, 255, 254, 0x1a, 0xe1]); // the seed, first
        expected.extend_from_slice(&[10, 0, 0, 2, 0x1a, 0xe1]);
        expected.extend_from_slice(b"6:peers618:");
        expected.extend_from_slice(&[
            0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0xc8, 0xd5,
        ]);
        expected.push(b'e');
        assert_eq!(body, expected);
    }

    #[test]
    fn non_compact_reply_byte_by_byte() {
        let t = Tracker::new(Settings::default());
        t.set_seed(Some("[fd00::1]:6881".parse().unwrap()));
        let now = Instant::now();
        t.announce(
            &query(&HASH_A, &pid(1), 6881, "&left=0"),
            v4(10, 0, 0, 2),
            now,
        )
        .unwrap();
        let body = t
            .announce(
                &query(&HASH_A, &pid(2), 6882, "&left=5&compact=0"),
                v4(10, 0, 0, 3),
                now,
            )
            .unwrap();
        let mut expected =
            b"d8:completei1e10:incompletei1e8:intervali60e12:min intervali30e5:peersl".to_vec();
        expected.extend_from_slice(b"d2:ip7:fd00::14:porti6881ee");
        expected.extend_from_slice(b"d2:ip8:10.0.0.27:peer id20:");
        expected.extend_from_slice(&pid(1));
        expected.extend_from_slice(b"4:porti6881ee");
        expected.extend_from_slice(b"ee");
        assert_eq!(
            String::from_utf8_lossy(&body),
            String::from_utf8_lossy(&expected)
        );
        assert_eq!(body, expected);

        // no_peer_id=1 leaves the ids out.
        let r = ok(t.announce(
            &query(&HASH_A, &pid(2), 6882, "&left=5&compact=0&no_peer_id=1"),
            v4(10, 0, 0, 3),
            now,
        ));
        for peer in r.get("peers").and_then(Value::as_list).unwrap() {
            assert_eq!(peer.get("peer id"), None);
        }
    }

    #[test]
    fn self_is_excluded_and_seed_is_first() {
        let t = Tracker::new(Settings::default());
        let seed: SocketAddr = "10.141.255.254:6881".parse().unwrap();
        t.set_seed(Some(seed));
        let now = Instant::now();
        for n in 1..=20u8 {
            t.announce(
                &query(&HASH_A, &pid(n.into()), 6881, "&left=1"),
                v4(10, 0, 0, n),
                now,
            )
            .unwrap();
        }
        let r = ok(t.announce(
            &query(&HASH_A, &pid(7), 6881, "&left=1&numwant=50"),
            v4(10, 0, 0, 7),
            now,
        ));
        let peers = compact_peers(&r);
        assert_eq!(peers.len(), 20); // the seed and the 19 others
        assert_eq!(peers[0], seed);
        assert!(!peers.contains(&"10.0.0.7:6881".parse().unwrap()));

        // The seed announcing as a peer is neither told about itself nor listed twice.
        let r = ok(t.announce(
            &query(&HASH_A, &pid(99), 6881, "&left=0"),
            v4(10, 141, 255, 254),
            now,
        ));
        let peers = compact_peers(&r);
        assert_eq!(peers.len(), 20);
        assert!(!peers.contains(&seed));
        let r = ok(t.announce(
            &query(&HASH_A, &pid(7), 6881, "&left=1"),
            v4(10, 0, 0, 7),
            now,
        ));
        assert_eq!(compact_peers(&r).iter().filter(|a| **a == seed).count(), 1);

        // A seeder gets only leechers, and not the seed.
        t.announce(
            &query(&HASH_A, &pid(3), 6881, "&left=0"),
            v4(10, 0, 0, 3),
            now,
        )
        .unwrap();
        let r = ok(t.announce(
            &query(&HASH_A, &pid(4), 6881, "&left=0"),
            v4(10, 0, 0, 4),
            now,
        ));
        let peers = compact_peers(&r);
        assert_eq!(peers.len(), 18); // the 20 nodes but 3 and 4, the seeders
        assert!(!peers.contains(&seed));
        assert!(!peers.contains(&"10.0.0.3:6881".parse().unwrap()));

        // Unset.
        t.set_seed(None);
        let r = ok(t.announce(
            &query(&HASH_A, &pid(7), 6881, "&left=1"),
            v4(10, 0, 0, 7),
            now,
        ));
        assert_eq!(compact_peers(&r).len(), 20); // 19 nodes + the controller now seen as a peer
    }

    #[test]
    fn numwant_honoured_capped_and_fair() {
        let settings = Settings {
            numwant_default: 10,
            numwant_max: 30,
            max_peers_per_torrent: 1000,
            ..Settings::default()
        };
        let t = Tracker::new(settings);
        let now = Instant::now();
        for n in 1..=100u32 {
            let ip = v4(10, 0, (n >> 8) as u8, n as u8);
            t.announce(&query(&HASH_A, &pid(n), 6881, "&left=1"), ip, now)
                .unwrap();
        }
        let me = |extra: &str| {
            let r = ok(t.announce(
                &query(&HASH_A, &pid(1), 6881, &format!("&left=1{extra}")),
                v4(10, 0, 0, 1),
                now,
            ));
            compact_peers(&r)
        };
        assert_eq!(me("").len(), 10);
        assert_eq!(me("&numwant=5").len(), 5);
        assert_eq!(me("&numwant=0").len(), 0);
        assert_eq!(me("&numwant=1000").len(), 30);
        assert_eq!(me("&numwant=99999999999999999999999").len(), 30);
        assert_eq!(me("&numwant=-1").len(), 10);
        assert_eq!(me("&numwant=").len(), 10);

        // Over many announces the sample covers most of the swarm and has no duplicates.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..30 {
            let peers = me("");
            let distinct: std::collections::HashSet<_> = peers.iter().collect();
            assert_eq!(distinct.len(), peers.len());
            seen.extend(peers);
        }
        assert!(seen.len() > 60, "only {} distinct peers", seen.len());
    }

    #[test]
    fn ip_parameter() {
        let t = Tracker::new(Settings::default());
        let now = Instant::now();
        let remote = v4(192, 168, 1, 1);
        t.announce(
            &query(&HASH_A, &pid(1), 6881, "&left=1&ip=10.1.2.3"),
            remote,
            now,
        )
        .unwrap();
        t.announce(
            &query(&HASH_A, &pid(2), 6882, "&left=1&ip=node002.cluster"),
            remote,
            now,
        )
        .unwrap();
        t.announce(
            &query(&HASH_A, &pid(3), 6883, "&left=1&ip=0.0.0.0"),
            remote,
            now,
        )
        .unwrap();
        t.announce(
            &query(&HASH_A, &pid(4), 6884, "&left=1&ip=%3A%3Affff%3A10.9.9.9"),
            remote,
            now,
        )
        .unwrap();
        // An IPv4-mapped TCP peer counts as IPv4.
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 7, 7, 7).to_ipv6_mapped());
        t.announce(&query(&HASH_A, &pid(5), 6885, "&left=1"), mapped, now)
            .unwrap();
        let r = ok(t.announce(&query(&HASH_A, &pid(9), 1, "&left=1"), v4(10, 0, 0, 9), now));
        let mut peers = compact_peers(&r);
        peers.sort();
        let mut expected: Vec<SocketAddr> = [
            "10.1.2.3:6881",
            "192.168.1.1:6882",
            "192.168.1.1:6883",
            "10.9.9.9:6884",
            "10.7.7.7:6885",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        expected.sort();
        assert_eq!(peers, expected);
    }

    #[test]
    fn stopped_removes_and_never_creates() {
        let t = Tracker::new(Settings::default());
        let now = Instant::now();
        t.announce(
            &query(&HASH_A, &pid(1), 6881, "&left=1"),
            v4(10, 0, 0, 1),
            now,
        )
        .unwrap();
        t.announce(
            &query(&HASH_A, &pid(2), 6881, "&left=1"),
            v4(10, 0, 0, 2),
            now,
        )
        .unwrap();
        let r = ok(t.announce(
            &query(&HASH_A, &pid(2), 6881, "&left=1&event=stopped"),
            v4(10, 0, 0, 2),
            now,
        ));
        assert_eq!(int(&r, "incomplete"), 1);
        assert_eq!(compact_peers(&r), vec![]);
        let r = ok(t.announce(
            &query(&HASH_A, &pid(1), 6881, "&left=1"),
            v4(10, 0, 0, 1),
            now,
        ));
        assert_eq!(compact_peers(&r), vec![]);

        let r = ok(t.announce(
            &query(&HASH_B, &pid(1), 6881, "&event=stopped"),
            v4(10, 0, 0, 1),
            now,
        ));
        assert_eq!(int(&r, "complete"), 0);
        let files = ok(t.scrape(&format!("info_hash={}", enc(&HASH_B)), now));
        assert!(files
            .get("files")
            .and_then(Value::as_dict)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn completed_counts_once_per_peer() {
        let t = Tracker::new(Settings::default());
        let now = Instant::now();
        for _ in 0..3 {
            t.announce(
                &query(&HASH_A, &pid(1), 6881, "&left=0&event=completed"),
                v4(10, 0, 0, 1),
                now,
            )
            .unwrap();
        }
        t.announce(
            &query(&HASH_A, &pid(2), 6881, "&left=0&event=completed"),
            v4(10, 0, 0, 2),
            now,
        )
        .unwrap();
        t.announce(
            &query(&HASH_A, &pid(3), 6881, "&left=0&event=started"),
            v4(10, 0, 0, 3),
            now,
        )
        .unwrap();
        let r = ok(t.scrape(&format!("info_hash={}", enc(&HASH_A)), now));
        let stats = r
            .get("files")
            .and_then(|f| f.as_dict())
            .and_then(|f| f.get(&HASH_A[..]))
            .unwrap();
        assert_eq!(int(stats, "downloaded"), 2);
        assert_eq!(int(stats, "complete"), 3);
        assert_eq!(int(stats, "incomplete"), 0);
    }

    #[test]
    fn same_peer_id_in_two_torrents() {
        let t = Tracker::new(Settings::default());
        let now = Instant::now();
        t.announce(
            &query(&HASH_A, &pid(1), 6881, "&left=1"),
            v4(10, 0, 0, 1),
            now,
        )
        .unwrap();
        t.announce(
            &query(&HASH_B, &pid(1), 6999, "&left=0"),
            v4(10, 0, 0, 1),
            now,
        )
        .unwrap();
        // Stopping in B leaves the peer in A untouched.
        t.announce(
            &query(&HASH_B, &pid(1), 6999, "&event=stopped"),
            v4(10, 0, 0, 1),
            now,
        )
        .unwrap();
        let r = ok(t.announce(
            &query(&HASH_A, &pid(2), 6881, "&left=1"),
            v4(10, 0, 0, 2),
            now,
        ));
        assert_eq!(compact_peers(&r), vec!["10.0.0.1:6881".parse().unwrap()]);
        let r = ok(t.announce(
            &query(&HASH_B, &pid(2), 6881, "&left=1"),
            v4(10, 0, 0, 2),
            now,
        ));
        assert_eq!(compact_peers(&r), vec![]);
    }

    #[test]
    fn peers_expire() {
        let t = Tracker::new(small());
        let start = Instant::now();
        t.announce(
            &query(&HASH_A, &pid(1), 6881, "&left=1"),
            v4(10, 0, 0, 1),
            start,
        )
        .unwrap();
        t.announce(
            &query(&HASH_A, &pid(2), 6881, "&left=1"),
            v4(10, 0, 0, 2),
            start + Duration::from_secs(100),
        )
        .unwrap();
        // 180 s after its announce peer 1 is still live; after 181 s it is gone.
        let at = |s| start + Duration::from_secs(s);
        let r = ok(t.announce(
            &query(&HASH_A, &pid(3), 6881, "&left=1"),
            v4(10, 0, 0, 3),
            at(180),
        ));
        assert_eq!(compact_peers(&r).len(), 2);
        let r = ok(t.announce(
            &query(&HASH_A, &pid(3), 6881, "&left=1"),
            v4(10, 0, 0, 3),
            at(181),
        ));
        assert_eq!(compact_peers(&r), vec!["10.0.0.2:6881".parse().unwrap()]);
        assert_eq!(int(&r, "incomplete"), 2);

        // Scrape expires too.
        let r = ok(t.scrape("", at(300)));
        let stats = r.get("files").and_then(|f| f.get_bytes(&HASH_A)).unwrap();
        assert_eq!(int(stats, "incomplete"), 1);
        // With every peer gone, a scrape of all lists nothing, and the sweep
        // forgets the swarm once it has been empty for the TTL.
        t.announce(
            &query(&HASH_A, &pid(3), 6881, "&event=stopped"),
            v4(10, 0, 0, 3),
            at(300),
        )
        .unwrap();
        let r = ok(t.scrape("", at(300)));
        assert!(r.get("files").and_then(Value::as_dict).unwrap().is_empty());
        let r = ok(t.scrape(&format!("info_hash={}", enc(&HASH_A)), at(300)));
        assert_eq!(
            r.get("files")
                .and_then(|f| f.get_bytes(&HASH_A))
                .map(|s| int(s, "incomplete")),
            Some(0)
        );
        t.sweep(at(480));
        assert_eq!(t.lock().torrents.len(), 1);
        t.sweep(at(481));
        assert_eq!(t.lock().torrents.len(), 0);
    }

    #[test]
    fn scrape() {
        let t = Tracker::new(Settings::default());
        let now = Instant::now();
        t.announce(
            &query(&HASH_A, &pid(1), 6881, "&left=1"),
            v4(10, 0, 0, 1),
            now,
        )
        .unwrap();
        t.announce(
            &query(&HASH_A, &pid(2), 6881, "&left=0&event=completed"),
            v4(10, 0, 0, 2),
            now,
        )
        .unwrap();
        t.announce(
            &query(&HASH_B, &pid(1), 6881, "&left=0"),
            v4(10, 0, 0, 1),
            now,
        )
        .unwrap();

        let body = t
            .scrape(&format!("info_hash={}", enc(&HASH_A)), now)
            .unwrap();
        let mut expected = b"d5:filesd20:".to_vec();
        expected.extend_from_slice(&HASH_A);
        expected.extend_from_slice(b"d8:completei1e10:downloadedi1e10:incompletei1eeee");
        assert_eq!(body, expected);

        let unknown = [7u8; 20];
        let r = ok(t.scrape(
            &format!(
                "info_hash={}&info_hash={}&info_hash={}",
                enc(&HASH_B),
                enc(&unknown),
                enc(&HASH_A)
            ),
            now,
        ));
        let files = r.get("files").and_then(Value::as_dict).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(int(&files[&HASH_B[..]], "complete"), 1);

        let r = ok(t.scrape("", now));
        assert_eq!(r.get("files").and_then(Value::as_dict).unwrap().len(), 2);

        let (status, reason) = refused(t.scrape("info_hash=short", now));
        assert_eq!(
            (status, reason.as_str()),
            (400, "invalid info_hash: must be 20 bytes, got 5")
        );
        assert_eq!(refused(t.scrape("info_hash=%zz", now)).0, 400);
    }

    #[test]
    fn every_bad_request_is_400() {
        let t = Tracker::new(Settings::default());
        let now = Instant::now();
        let h = enc(&HASH_A);
        let p = enc(&pid(1));
        let cases: Vec<(String, &str)> = vec![
            (format!("peer_id={p}&port=1"), "missing info_hash"),
            (format!("info_hash={h}&port=1"), "missing peer_id"),
            (format!("info_hash={h}&peer_id={p}"), "missing port"),
            (
                format!("info_hash=abc&peer_id={p}&port=1"),
                "invalid info_hash: must be 20 bytes, got 3",
            ),
            (
                format!("info_hash={h}%00&peer_id={p}&port=1"),
                "invalid info_hash: must be 20 bytes, got 21",
            ),
            (
                format!("info_hash=&peer_id={p}&port=1"),
                "invalid info_hash: must be 20 bytes, got 0",
            ),
            (
                format!("info_hash={h}&peer_id=x&port=1"),
                "invalid peer_id: must be 20 bytes, got 1",
            ),
            (
                format!("info_hash={h}&peer_id={p}&port=0"),
                "invalid port: must be 1-65535",
            ),
            (
                format!("info_hash={h}&peer_id={p}&port=65536"),
                "invalid port: must be 1-65535",
            ),
            (
                format!("info_hash={h}&peer_id={p}&port=-1"),
                "invalid port: must be 1-65535",
            ),
            (
                format!("info_hash={h}&peer_id={p}&port=http"),
                "invalid port: must be 1-65535",
            ),
            (
                format!("info_hash={h}&peer_id={p}&port="),
                "invalid port: must be 1-65535",
            ),
            (
                format!("info_hash={h}&peer_id={p}&port=+80"),
                "invalid port: must be 1-65535",
            ),
            (
                format!("info_hash={h}&peer_id={p}&port=99999999999999999999999"),
                "invalid port: must be 1-65535",
            ),
            (
                format!("info_hash={h}&peer_id={p}&port=1&uploaded=-1"),
                "invalid uploaded: must be a non-negative integer",
            ),
            (
                format!("info_hash={h}&peer_id={p}&port=1&downloaded=1.5"),
                "invalid downloaded: must be a non-negative integer",
            ),
            (
                format!("info_hash={h}&peer_id={p}&port=1&left="),
                "invalid left: must be a non-negative integer",
            ),
            (
                format!("info_hash={h}&peer_id={p}&port=1&left=99999999999999999999"),
                "invalid left: must be a non-negative integer",
            ),
            (
                format!("info_hash={h}&peer_id={p}&port=1&event=paused"),
                "invalid event: must be started, completed, stopped or empty",
            ),
            (
                format!("info_hash={h}&peer_id={p}&port=1&event=started+"),
                "invalid event: must be started, completed, stopped or empty",
            ),
            (
                format!("info_hash={h}&peer_id={p}&port=1&compact=2"),
                "invalid compact: must be 0 or 1",
            ),
            (
                format!("info_hash={h}&peer_id={p}&port=1&numwant=ten"),
                "invalid numwant: must be an integer",
            ),
            (
                format!("info_hash={h}&peer_id={p}&port=1&numwant=-"),
                "invalid numwant: must be an integer",
            ),
            (
                format!("info_hash={h}&peer_id={p}&port=1&key=%zz"),
                "malformed percent-encoding \"%zz\" in the query",
            ),
            (
                format!("info_hash={h}&peer_id={p}&port=1&x=%4"),
                "malformed percent-encoding \"%4\" in the query",
            ),
            (
                format!("info_hash={h}&peer_id={p}&port=1&x=%"),
                "malformed percent-encoding \"%\" in the query",
            ),
            (
                format!("info_hash={h}&peer_id={p}&port=1&x=%4G"),
                "malformed percent-encoding \"%4G\" in the query",
            ),
            (
                format!("info_hash={h}&peer_id={p}&port=1&x=%é"),
                "malformed percent-encoding \"%é\" in the query",
            ),
            (
                format!("info_hash={h}&peer_id={p}&port=1&x=%aé"),
                "malformed percent-encoding \"%a\u{fffd}\" in the query",
            ),
            (
                format!("info_hash={}&peer_id={p}&port=1", &h[..h.len() - 1]),
                "malformed percent-encoding \"%0\" in the query",
            ),
            (String::new(), "missing info_hash"),
        ];
        for (q, reason) in cases {
            assert_eq!(
                refused(t.announce(&q, v4(10, 0, 0, 1), now)),
                (400, reason.to_string()),
                "{q}"
            );
        }
        // Nothing was created along the way.
        assert!(t.lock().torrents.is_empty());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2fc%2F", true).unwrap(), b"a b/c/");
        assert_eq!(percent_decode("a+b", true).unwrap(), b"a b");
        assert_eq!(percent_decode("a+b", false).unwrap(), b"a+b");
        assert_eq!(percent_decode("%00%ff%FF", false).unwrap(), [0, 255, 255]);
        assert_eq!(percent_decode("", false).unwrap(), b"");
        assert_eq!(percent_decode("%2525", false).unwrap(), b"%25");
        for bad in ["%", "%4", "%zz", "%g0", "%-1", "ab%", "%%41"] {
            assert!(percent_decode(bad, false).is_err(), "{bad}");
        }

        // Unescaped bytes, a literal '+' and mixed escapes in a binary value.
        let t = Tracker::new(Settings::default());
        let now = Instant::now();
        let hash = *b"ab+cd%ef\x00\xffghijklmnop";
        let raw_hash = "ab+cd%25ef%00%fFghijklmnop";
        let q =
            format!("info_hash={raw_hash}&peer_id=-aria2-0000000000001&port=6881&&&compact&left=0");
        ok(t.announce(&q, v4(10, 0, 0, 1), now));
        assert!(t.lock().torrents.contains_key(&hash));
        // A key may be escaped too (and `compact` without a value, above, is the default).
        assert_eq!(
            refused(t.announce("info%5Fhash=x", v4(10, 0, 0, 1), now)),
            (
                400,
                "invalid info_hash: must be 20 bytes, got 1".to_string()
            )
        );
        // The first of repeated parameters wins.
        let q = format!(
            "{}&port=7000&left=2&left=0",
            query(&HASH_A, &pid(2), 6882, "")
        );
        ok(t.announce(&q, v4(10, 0, 0, 2), now));
        let r = ok(t.announce(
            &query(&HASH_A, &pid(3), 6883, "&left=1"),
            v4(10, 0, 0, 3),
            now,
        ));
        assert_eq!(compact_peers(&r), vec!["10.0.0.2:6882".parse().unwrap()]);
        assert_eq!(int(&r, "incomplete"), 2);
    }

    #[test]
    fn max_torrents() {
        let t = Tracker::new(small());
        let start = Instant::now();
        for n in 0..3u8 {
            t.announce(&query(&[n; 20], &pid(1), 6881, ""), v4(10, 0, 0, 1), start)
                .unwrap();
        }
        let (status, reason) =
            refused(t.announce(&query(&[9; 20], &pid(1), 6881, ""), v4(10, 0, 0, 1), start));
        assert_eq!(
            (status, reason.as_str()),
            (503, "tracker is full: too many torrents")
        );
        // Known swarms still work, and so does a stop for an unknown one.
        ok(t.announce(&query(&[0; 20], &pid(2), 6881, ""), v4(10, 0, 0, 2), start));
        ok(t.announce(
            &query(&[9; 20], &pid(2), 6881, "&event=stopped"),
            v4(10, 0, 0, 2),
            start,
        ));
        // Once the others have expired and been empty for the TTL, the
        // forced sweep frees their slots.
        let later = start + Duration::from_secs(181 + 181);
        ok(t.announce(&query(&[9; 20], &pid(1), 6881, ""), v4(10, 0, 0, 1), later));
        assert_eq!(t.lock().torrents.len(), 1);
    }

    #[test]
    fn forced_sweeps_are_rate_limited() {
        let t = Tracker::new(small());
        let start = Instant::now();
        for n in 0..3u8 {
            t.announce(&query(&[n; 20], &pid(1), 6881, ""), v4(10, 0, 0, 1), start)
                .unwrap();
        }
        // At 180 s nothing has expired yet: the forced sweep frees nothing.
        let at = |ms| start + Duration::from_millis(ms);
        assert_eq!(
            refused(t.announce(
                &query(&[9; 20], &pid(1), 6881, ""),
                v4(10, 0, 0, 1),
                at(180_000)
            ))
            .0,
            503
        );
        // At 180.5 s everything has, but a second has not passed since that sweep.
        assert_eq!(
            refused(t.announce(
                &query(&[9; 20], &pid(1), 6881, ""),
                v4(10, 0, 0, 1),
                at(180_500)
            ))
            .0,
            503
        );
        ok(t.announce(
            &query(&[9; 20], &pid(1), 6881, ""),
            v4(10, 0, 0, 1),
            at(181_000),
        ));
        assert_eq!(t.lock().torrents.len(), 1);
    }

    #[test]
    fn max_peers_evicts_the_stalest() {
        let t = Tracker::new(small());
        let start = Instant::now();
        for n in 1..=5u8 {
            let at = start + Duration::from_secs(u64::from(n));
            t.announce(
                &query(&HASH_A, &pid(n.into()), 6881, "&left=1"),
                v4(10, 0, 0, n),
                at,
            )
            .unwrap();
        }
        // Peer 1 re-announces, so peer 2 is now the stalest.
        let at = start + Duration::from_secs(10);
        t.announce(
            &query(&HASH_A, &pid(1), 6881, "&left=1"),
            v4(10, 0, 0, 1),
            at,
        )
        .unwrap();
        let r = ok(t.announce(
            &query(&HASH_A, &pid(6), 6881, "&left=1"),
            v4(10, 0, 0, 6),
            at,
        ));
        assert_eq!(int(&r, "incomplete"), 5);
        let mut peers = compact_peers(&r);
        peers.sort();
        let expected: Vec<SocketAddr> = [1, 3, 4, 5]
            .iter()
            .map(|n| SocketAddr::new(v4(10, 0, 0, *n), 6881))
            .collect();
        assert_eq!(peers, expected);
        // A known peer re-announcing evicts nobody.
        let r = ok(t.announce(
            &query(&HASH_A, &pid(6), 6881, "&left=1"),
            v4(10, 0, 0, 6),
            at,
        ));
        assert_eq!(int(&r, "incomplete"), 5);
    }

    #[test]
    fn ipv6_peers() {
        let t = Tracker::new(Settings::default());
        let now = Instant::now();
        let ip6 = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x42));
        t.announce(&query(&HASH_A, &pid(1), 6881, "&left=1"), ip6, now)
            .unwrap();
        let r = ok(t.announce(
            &query(&HASH_A, &pid(2), 6881, "&left=1"),
            v4(10, 0, 0, 2),
            now,
        ));
        assert_eq!(compact_peers(&r), vec![]);
        let mut expected = ip6_octets(ip6);
        expected.extend_from_slice(&6881u16.to_be_bytes());
        assert_eq!(
            r.get("peers6").and_then(Value::as_bytes),
            Some(&expected[..])
        );
    }

    fn ip6_octets(ip: IpAddr) -> Vec<u8> {
        match ip {
            IpAddr::V6(ip) => ip.octets().to_vec(),
            IpAddr::V4(_) => unreachable!(),
        }
    }

    /// Dictionary lookup by a raw byte key.
    trait GetBytes {
        fn get_bytes(&self, key: &[u8]) -> Option<&Value>;
    }

    impl GetBytes for Value {
        fn get_bytes(&self, key: &[u8]) -> Option<&Value> {
            self.as_dict().and_then(|d| d.get(key))
        }
    }

    #[test]
    fn once_torrents_are_named_only_they_are_tracked() {
        let t = Tracker::new(Settings::default());
        let now = Instant::now();
        let remote: IpAddr = "127.0.0.5".parse().unwrap();
        let q = |hash: u8| {
            format!(
                "info_hash={}&peer_id={}&port=6881&left=10",
                format!("%{hash:02x}").repeat(20),
                "p".repeat(20)
            )
        };
        assert!(t.announce(&q(1), remote, now).is_ok(), "open before allow");
        t.allow([2; 20]);
        assert!(t.announce(&q(2), remote, now).is_ok());
        let (status, body) = t.announce(&q(3), remote, now).unwrap_err();
        assert_eq!(status, 400);
        assert!(String::from_utf8_lossy(&body).contains("unknown torrent"));
    }

    #[test]
    fn a_snapshot_restores_the_swarm() {
        let t = Tracker::new(Settings::default());
        let now = Instant::now();
        let remote: IpAddr = "127.0.0.7".parse().unwrap();
        for i in 0..3u8 {
            let q = format!(
                "info_hash={}&peer_id={}&port={}&left={}",
                "%09".repeat(20),
                format!("%{i:02x}").repeat(20),
                7000 + u16::from(i),
                i
            );
            t.announce(&q, remote, now).unwrap();
        }
        assert!(t.dirty());
        let snap = t.snapshot(now);
        assert!(!t.dirty());
        assert_eq!(snap.peers.len(), 3);
        let back = Tracker::new(Settings::default());
        back.restore(snap, now);
        let again = back.snapshot(now);
        assert_eq!(again.peers.len(), 3);
        let scrape = back
            .scrape(&format!("info_hash={}", "%09".repeat(20)), now)
            .unwrap();
        let text = String::from_utf8_lossy(&scrape).to_string();
        assert!(
            text.contains("8:completei1e") && text.contains("10:incompletei2e"),
            "{text}"
        );
    }

    #[test]
    fn a_thousand_peers_in_ten_swarms_then_expiry() {
        let t = Tracker::new(Settings::default());
        let start = Instant::now();
        for torrent in 0..10u32 {
            for peer in 0..100u32 {
                let q = format!(
                    "info_hash={}&peer_id={:020}&port={}&left={}&numwant=30",
                    format!("%{torrent:02x}").repeat(20),
                    torrent * 1000 + peer,
                    1000 + peer,
                    peer % 4
                );
                let ip: IpAddr = format!("127.1.{torrent}.{peer}").parse().unwrap();
                let body = t.announce(&q, ip, start).unwrap();
                let v = crate::bencode::decode(&body).unwrap();
                let peers = v.get("peers").and_then(|p| p.as_bytes()).unwrap();
                // Never more than asked, never the requester, never another swarm's.
                assert!(peers.len() / 6 <= 30);
                // A seeder is given leechers only.
                let eligible = if peer % 4 == 0 {
                    peer - peer.div_ceil(4)
                } else {
                    peer
                };
                assert_eq!(peers.len() / 6, (eligible as usize).min(30));
                for chunk in peers.chunks(6) {
                    assert_eq!(chunk[..3], [127, 1, torrent as u8]);
                    assert_ne!(chunk[3], peer as u8);
                }
            }
        }
        let scrape = String::from_utf8_lossy(&t.scrape("", start).unwrap()).to_string();
        assert_eq!(scrape.matches("8:completei25e").count(), 10, "{scrape}");
        assert_eq!(scrape.matches("10:incompletei75e").count(), 10, "{scrape}");
        // Past the TTL every peer is gone.
        let later = start + Settings::default().peer_ttl + Duration::from_secs(2);
        t.sweep(later);
        let scrape = String::from_utf8_lossy(&t.scrape("", later).unwrap()).to_string();
        assert_eq!(scrape, "d5:filesdee");
    }

    #[test]
    fn untrusted_ip_and_peer_ids_stay_with_their_address() {
        let t = Tracker::new(Settings {
            trust_ip: false,
            ..Settings::default()
        });
        let now = Instant::now();
        let hash = "%07".repeat(20);
        let node: IpAddr = "127.0.3.1".parse().unwrap();
        let other: IpAddr = "127.0.3.2".parse().unwrap();
        let q = |id: &str, extra: &str| {
            format!("info_hash={hash}&peer_id={id}&port=6881&left=5&compact=0{extra}")
        };
        // `ip` is ignored: the peer is where it connects from.
        t.announce(&q("AAAAAAAAAAAAAAAAAAAA", "&ip=10.9.9.9"), node, now)
            .unwrap();
        let body = t
            .announce(&q("BBBBBBBBBBBBBBBBBBBB", ""), other, now)
            .unwrap();
        let text = String::from_utf8_lossy(&body).to_string();
        assert!(
            text.contains("127.0.3.1") && !text.contains("10.9.9.9"),
            "{text}"
        );
        // Another address cannot take over a live peer id.
        let (status, body) = t
            .announce(&q("AAAAAAAAAAAAAAAAAAAA", ""), other, now)
            .unwrap_err();
        assert_eq!(status, 400);
        assert!(String::from_utf8_lossy(&body).contains("another address"));
    }
}
