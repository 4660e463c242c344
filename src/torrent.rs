//! Single-file `.torrent` metainfo (BEP 3) for the OS image tarballs that
//! booting nodes download with aria2c.
//!
//! The info dictionary holds `name`, `length`, `piece length` and `pieces`
//! (the concatenated SHA-1 of every piece); its SHA-1 is the info hash that
//! names the swarm at the tracker. Around it: `announce` (the controller's
//! tracker), `creation date`, `created by` and, when given, `url-list`
//! (BEP 19 web seeding), so that a node can fetch pieces from the controller's
//! HTTP server when no peer has them yet.

#[cfg(test)]
use std::fs::File;
use std::io;
#[cfg(test)]
use std::io::Read;
#[cfg(test)]
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac_sha1_compact::Hash;

use crate::bencode::Value;

/// Smallest piece length: below this the piece list and the per-piece
/// overhead of peers (requests, HAVE messages, bitfields) outweigh the gain.
pub const MIN_PIECE_LENGTH: u64 = 256 * 1024;
/// Largest piece length: above this a corrupt piece costs too much to fetch
/// again and a node waits too long before it can share its first piece.
pub const MAX_PIECE_LENGTH: u64 = 16 * 1024 * 1024;
/// The number of pieces [`piece_length_for`] aims at (at least this many,
/// fewer than twice as many) while the piece length stays within bounds.
pub const TARGET_PIECES: u64 = 1024;
/// The file is read in chunks of this size, whatever the piece length.
#[cfg(test)]
const READ_BUFFER: usize = 4 * 1024 * 1024;

/// A `.torrent` made by [`make`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Made {
    /// SHA-1 of the bencoded info dictionary: the swarm's name at the tracker.
    pub info_hash: [u8; 20],
    /// Bytes per piece (the last piece may be shorter).
    pub piece_length: u64,
    /// Number of pieces: `ceil(length / piece_length)`, 0 for an empty file.
    pub pieces: usize,
    /// The `.torrent` file itself.
    pub bytes: Vec<u8>,
}

/// The info hash of a `.torrent` file's content (SHA-1 of its bencoded
/// `info` dictionary, re-encoded canonically).
pub fn info_hash_of(torrent: &[u8]) -> Result<[u8; 20], String> {
    let value = crate::bencode::decode(torrent)?;
    let info = value
        .get("info")
        .ok_or_else(|| "the torrent has no info dictionary".to_string())?;
    Ok(hmac_sha1_compact::Hash::hash(&info.encode()))
}

/// The piece length for a file of `size` bytes: the largest power of two
/// that still gives at least [`TARGET_PIECES`] pieces, so 1024 to 2047
/// pieces, clamped to 256 KiB – 16 MiB. So 1 GiB → 1 MiB (1024 pieces),
/// 4 GiB → 4 MiB, 3 GiB → 2 MiB (1536 pieces); up to 256 MiB files get
/// 256 KiB pieces (fewer than 1024 of them), and above 16 GiB the pieces
/// stay at 16 MiB and their number grows (100 GiB → 6400 pieces).
pub fn piece_length_for(size: u64) -> u64 {
    let target = size / TARGET_PIECES;
    if target <= MIN_PIECE_LENGTH {
        return MIN_PIECE_LENGTH;
    }
    // The largest power of two not above `target` (which is > 0 here).
    let power = 1u64 << (63 - target.leading_zeros());
    power.clamp(MIN_PIECE_LENGTH, MAX_PIECE_LENGTH)
}

/// Makes a single-file torrent for the file at `path`, advertised under
/// `name` (a plain file name: no `/`, not `.` or `..`). `announce` is the
/// tracker URL (e.g. "http://10.141.255.254:7050/announce"); `web_seed` an
/// optional HTTP URL of the same file (BEP 19 `url-list`).
///
/// The file is streamed, never held in memory. It fails with `InvalidData`
/// if the file's size changed while it was being hashed, since the torrent
/// would then describe neither the old nor the new file.
// Packing streams its tarball through `Pieces`; whole files are hashed
// by the tests, which check `Pieces` against independent hashes.
#[cfg(test)]
pub fn make(path: &Path, name: &str, announce: &str, web_seed: Option<&str>) -> io::Result<Made> {
    let size = std::fs::metadata(path)?.len();
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    make_with(
        path,
        name,
        announce,
        web_seed,
        piece_length_for(size),
        created,
    )
}

/// [`make`] with the piece length and creation date given, for tests.
#[cfg(test)]
fn make_with(
    path: &Path,
    name: &str,
    announce: &str,
    web_seed: Option<&str>,
    piece_length: u64,
    created: u64,
) -> io::Result<Made> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("torrent name {name:?} is not a plain file name"),
        ));
    }
    if piece_length == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "piece length is 0",
        ));
    }
    let mut file = File::open(path)?;
    let expected = file.metadata()?.len();
    let (length, digests) = hash_pieces(&mut file, piece_length)?;
    if length != expected {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} changed size while it was hashed ({expected} then {length} bytes)",
                path.display()
            ),
        ));
    }
    Ok(build(
        name,
        announce,
        web_seed,
        piece_length,
        created,
        length,
        digests,
    ))
}

/// The torrent of `length` bytes whose pieces hash to `digests`.
fn build(
    name: &str,
    announce: &str,
    web_seed: Option<&str>,
    piece_length: u64,
    created: u64,
    length: u64,
    digests: Vec<u8>,
) -> Made {
    let pieces = digests.len() / 20;
    let info = Value::dict([
        ("length", Value::uint(length)),
        ("name", Value::str(name)),
        ("piece length", Value::uint(piece_length)),
        ("pieces", Value::Bytes(digests)),
    ]);
    let info_hash = Hash::hash(&info.encode());
    let mut top = vec![
        ("announce", Value::str(announce)),
        ("created by", Value::str("luna2d")),
        ("creation date", Value::uint(created)),
        ("info", info),
    ];
    if let Some(url) = web_seed {
        top.push(("url-list", Value::List(vec![Value::str(url)])));
    }
    Made {
        info_hash,
        piece_length,
        pieces,
        bytes: Value::dict(top).encode(),
    }
}

/// Piece hashes of a stream as it goes by (a tarball being written), so
/// the torrent needs no second pass over the file.
pub struct Pieces {
    piece_length: u64,
    hash: Hash,
    piece_left: u64,
    digests: Vec<u8>,
    total: u64,
}

impl Pieces {
    pub fn new(piece_length: u64) -> Pieces {
        let piece_length = piece_length.max(1);
        Pieces {
            piece_length,
            hash: Hash::new(),
            piece_left: piece_length,
            digests: Vec::new(),
            total: 0,
        }
    }

    pub fn update(&mut self, mut chunk: &[u8]) {
        self.total += chunk.len() as u64;
        while !chunk.is_empty() {
            let take = usize::try_from(self.piece_left).map_or(chunk.len(), |p| p.min(chunk.len()));
            self.hash.update(&chunk[..take]);
            chunk = &chunk[take..];
            self.piece_left -= take as u64;
            if self.piece_left == 0 {
                self.digests
                    .extend_from_slice(&std::mem::take(&mut self.hash).finalize());
                self.piece_left = self.piece_length;
            }
        }
    }

    /// The torrent of everything fed, advertised under `name` (a plain file
    /// name).
    pub fn finish(
        mut self,
        name: &str,
        announce: &str,
        web_seed: Option<&str>,
    ) -> io::Result<Made> {
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("torrent name {name:?} is not a plain file name"),
            ));
        }
        if self.piece_left != self.piece_length {
            self.digests.extend_from_slice(&self.hash.finalize());
        }
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(build(
            name,
            announce,
            web_seed,
            self.piece_length,
            created,
            self.total,
            self.digests,
        ))
    }
}

/// Reads `reader` to its end in [`READ_BUFFER`] chunks and returns the number
/// of bytes read and the SHA-1 of every `piece_length` bytes (the last piece
/// may be shorter), concatenated.
#[cfg(test)]
fn hash_pieces(reader: &mut impl Read, piece_length: u64) -> io::Result<(u64, Vec<u8>)> {
    let mut buf = vec![0u8; READ_BUFFER];
    let mut pieces = Pieces::new(piece_length);
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        pieces.update(&buf[..n]);
    }
    if pieces.piece_left != pieces.piece_length {
        let last = std::mem::take(&mut pieces.hash).finalize();
        pieces.digests.extend_from_slice(&last);
    }
    Ok((pieces.total, pieces.digests))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bencode::decode;
    use std::path::PathBuf;
    use std::process::Command;

    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    const GIB: u64 = 1024 * MIB;

    /// A file in a fresh temporary directory, removed on drop.
    struct TempFile {
        dir: PathBuf,
        path: PathBuf,
    }

    impl TempFile {
        fn new(tag: &str, contents: &[u8]) -> TempFile {
            let dir = std::env::temp_dir().join(format!(
                "luna2d-torrent-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("image.tar.bz2");
            std::fs::write(&path, contents).unwrap();
            TempFile { dir, path }
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// Deterministic, non-repeating-looking test data.
    fn data(len: usize) -> Vec<u8> {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn piece_length_rule() {
        assert_eq!(piece_length_for(0), 256 * KIB);
        assert_eq!(piece_length_for(1), 256 * KIB);
        assert_eq!(piece_length_for(100 * MIB), 256 * KIB);
        assert_eq!(piece_length_for(256 * MIB), 256 * KIB);
        assert_eq!(piece_length_for(512 * MIB), 512 * KIB);
        assert_eq!(piece_length_for(GIB), MIB);
        assert_eq!(piece_length_for(3 * GIB), 2 * MIB);
        assert_eq!(piece_length_for(4 * GIB), 4 * MIB);
        assert_eq!(piece_length_for(4 * GIB - 1), 2 * MIB);
        assert_eq!(piece_length_for(16 * GIB), 16 * MIB);
        assert_eq!(piece_length_for(100 * GIB), 16 * MIB);
        assert_eq!(piece_length_for(u64::MAX), 16 * MIB);
        // Between the clamps the number of pieces stays in [1024, 2048).
        let mut size = 256 * MIB;
        while size <= 16 * GIB {
            let pieces = size.div_ceil(piece_length_for(size));
            assert!((1024..2048).contains(&pieces), "{size}: {pieces}");
            assert!(piece_length_for(size).is_power_of_two());
            size = size * 9 / 7;
        }
    }

    #[test]
    fn small_file_pieces_verified_independently() {
        let piece = 16 * 1024;
        let contents = data(piece * 7 / 2); // 3.5 pieces
        let file = TempFile::new("small", &contents);
        let made = make_with(
            &file.path,
            "compute.tar.bz2",
            "http://10.141.255.254:7050/announce",
            Some("http://10.141.255.254:7050/files/compute.tar.bz2"),
            piece as u64,
            1_700_000_000,
        )
        .unwrap();
        assert_eq!(made.pieces, 4);
        assert_eq!(made.piece_length, piece as u64);

        let mut expected_pieces = Vec::new();
        for chunk in contents.chunks(piece) {
            expected_pieces.extend_from_slice(&Hash::hash(chunk));
        }
        assert_eq!(expected_pieces.len(), 80);

        // The whole file, written out by hand.
        let mut info = Vec::new();
        info.extend_from_slice(
            b"d6:lengthi57344e4:name15:compute.tar.bz212:piece lengthi16384e6:pieces80:",
        );
        info.extend_from_slice(&expected_pieces);
        info.push(b'e');
        assert_eq!(made.info_hash, Hash::hash(&info));
        let mut whole = Vec::new();
        whole.extend_from_slice(
            b"d8:announce35:http://10.141.255.254:7050/announce10:created by6:luna2d13:creation datei1700000000e4:info",
        );
        whole.extend_from_slice(&info);
        whole
            .extend_from_slice(b"8:url-listl48:http://10.141.255.254:7050/files/compute.tar.bz2ee");
        assert_eq!(made.bytes, whole);
    }

    #[test]
    fn decoded_fields() {
        let contents = data(1_000_000);
        let file = TempFile::new("fields", &contents);
        let made = make(&file.path, "img.tar", "http://h:7050/announce", None).unwrap();
        assert_eq!(made.piece_length, 256 * KIB);
        assert_eq!(made.pieces, 4);
        let t = decode(&made.bytes).unwrap();
        assert_eq!(
            t.get("announce").and_then(|v| v.as_str()),
            Some("http://h:7050/announce")
        );
        assert_eq!(t.get("created by").and_then(|v| v.as_str()), Some("luna2d"));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let created = t.get("creation date").and_then(Value::as_int).unwrap();
        assert!((now - 60..=now).contains(&created));
        assert_eq!(t.get("url-list"), None);
        let info = t.get("info").unwrap();
        assert_eq!(Hash::hash(&info.encode()), made.info_hash);
        assert_eq!(info.get("name").and_then(|v| v.as_str()), Some("img.tar"));
        assert_eq!(info.get("length").and_then(Value::as_int), Some(1_000_000));
        assert_eq!(
            info.get("piece length").and_then(Value::as_int),
            Some(256 * 1024)
        );
        let pieces = info.get("pieces").and_then(|v| v.as_bytes()).unwrap();
        assert_eq!(pieces.len(), 80);
        assert_eq!(&pieces[60..], Hash::hash(&contents[3 * 256 * 1024..]));
        assert_eq!(t.as_dict().unwrap().len(), 4);
        assert_eq!(info.as_dict().unwrap().len(), 4);
    }

    #[test]
    fn piece_boundaries_across_read_buffers() {
        // Pieces that do not divide the 4 MiB read buffer, and one that spans it.
        let contents = data(READ_BUFFER * 2 + 12345);
        for piece in [1000u64, 3 * MIB, 5 * MIB, READ_BUFFER as u64] {
            let (len, digests) = hash_pieces(&mut &contents[..], piece).unwrap();
            assert_eq!(len, contents.len() as u64);
            let expected: Vec<u8> = contents
                .chunks(piece as usize)
                .flat_map(Hash::hash)
                .collect();
            assert_eq!(digests, expected, "piece {piece}");
        }
        // A reader returning a few bytes at a time gives the same result.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(self.0.len()).min(777);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let small = &contents[..100_000];
        let (len, digests) = hash_pieces(&mut Trickle(small), 4096).unwrap();
        assert_eq!(len, 100_000);
        assert_eq!(digests, hash_pieces(&mut &small[..], 4096).unwrap().1);
    }

    #[test]
    fn exact_multiple_has_no_empty_last_piece() {
        let contents = data(3 * 1024);
        let (_, digests) = hash_pieces(&mut &contents[..], 1024).unwrap();
        assert_eq!(digests.len(), 60);
    }

    #[test]
    fn empty_file() {
        let file = TempFile::new("empty", b"");
        let made = make(&file.path, "empty.tar", "http://h/announce", None).unwrap();
        assert_eq!(made.pieces, 0);
        assert_eq!(made.piece_length, 256 * KIB);
        let t = decode(&made.bytes).unwrap();
        let info = t.get("info").unwrap();
        assert_eq!(info.get("length").and_then(Value::as_int), Some(0));
        assert_eq!(
            info.get("pieces").and_then(|v| v.as_bytes()),
            Some(&b""[..])
        );
        assert_eq!(
            made.info_hash,
            Hash::hash(b"d6:lengthi0e4:name9:empty.tar12:piece lengthi262144e6:pieces0:e")
        );
    }

    #[test]
    fn bad_inputs() {
        let file = TempFile::new("bad", b"x");
        for name in ["", ".", "..", "a/b", "a\0b"] {
            let e = make(&file.path, name, "http://h/announce", None).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{name:?}");
        }
        let e = make(&file.dir.join("missing"), "x", "http://h/announce", None).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn aria2c_reads_the_torrent() {
        if Command::new("aria2c").arg("--version").output().is_err() {
            eprintln!("skipped: aria2c is not installed");
            return;
        }
        let contents = data(700_000);
        let file = TempFile::new("aria2c", &contents);
        let made = make(
            &file.path,
            "compute.tar.bz2",
            "http://10.141.255.254:7050/announce",
            Some("http://10.141.255.254:7050/files/compute.tar.bz2"),
        )
        .unwrap();
        let torrent = file.dir.join("compute.torrent");
        std::fs::write(&torrent, &made.bytes).unwrap();
        let out = Command::new("timeout")
            .args(["20", "aria2c", "--show-files"])
            .arg(&torrent)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "aria2c failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains(&format!("Info Hash: {}", hex(&made.info_hash))),
            "{text}"
        );
        assert!(text.contains("Name: compute.tar.bz2"), "{text}");
        assert!(text.contains("Total Length: 683KiB (700,000)"), "{text}");
        assert!(text.contains("Piece Length: 256KiB"), "{text}");
        assert!(text.contains("The Number of Pieces: 3"), "{text}");
        assert!(
            text.contains("http://10.141.255.254:7050/announce"),
            "{text}"
        );
    }
}
