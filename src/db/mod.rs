//! Storage: opening connections and applying the schema (the first-start
//! bootstrap of the cluster is the model's: `cmdb::bootstrap`).
//!
//! The schema lives in `sql/NNN_*.sql`, embedded at build time and applied in
//! order; `PRAGMA user_version` records how many have been applied. Every
//! connection runs in WAL mode with foreign keys on and a busy timeout, so
//! workers can each own one.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

/// The migrations, in order. Index + 1 is the schema version after applying it.
const MIGRATIONS: &[&str] = &[
    include_str!("../../sql/001_schema.sql"),
    include_str!("../../sql/002_status.sql"),
    include_str!("../../sql/003_dns.sql"),
    include_str!("../../sql/004_secrets.sql"),
    include_str!("../../sql/005_racks.sql"),
    include_str!("../../sql/006_queue.sql"),
    include_str!("../../sql/007_image_state.sql"),
    include_str!("../../sql/008_journal.sql"),
    include_str!("../../sql/009_ipam_floor.sql"),
];

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Negative: KiB, per connection (SQLite's default is 2 MiB).
const CACHE_KIB: i64 = -512;

pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let db = Connection::open(path)?;
    db.busy_timeout(BUSY_TIMEOUT)?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a committed request survives power loss, not just a killed process.
    // Measured here it costs nothing noticeable (the WAL is appended, not rewritten).
    db.pragma_update(None, "synchronous", "FULL")?;
    db.pragma_update(None, "foreign_keys", "ON")?;
    // Deleted rows (an overwritten secret, a delivered journal entry) are
    // overwritten where that costs no extra I/O, not left in free pages.
    db.pragma_update(None, "secure_delete", "FAST")?;
    // Each worker keeps its own page cache; a small one keeps eight workers'
    // copies of the hot pages within the memory budget.
    db.pragma_update(None, "cache_size", CACHE_KIB)?;
    db.set_prepared_statement_cache_capacity(256);
    Ok(db)
}

/// Brings the schema up to date; returns the version now in place.
pub fn migrate(db: &mut Connection) -> rusqlite::Result<usize> {
    let current: usize = db.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (idx, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = db.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", idx + 1)?;
        tx.commit()?;
        log::info!("database schema migrated to version {}", idx + 1);
    }
    Ok(MIGRATIONS.len())
}
