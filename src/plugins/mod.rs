//! Exporters and importers behind `GET /export/{name}` and
//! `POST /import/{name}`: each is a type implementing `Exporter` or
//! `Importer`, listed in `EXPORTERS` / `IMPORTERS`, and served when
//! `[PLUGINS] ALLOWED_EXPORTERS` / `ALLOWED_IMPORTERS` name it. Adding one is
//! a new file here and a line in a list; they read the model through a
//! `Store`, never through the API.

pub mod prometheus;

use serde_json::Value;

use crate::cmdb::Store;
use crate::config::Config;
use crate::metrics::Metrics;

/// What an exporter may read.
pub struct Source<'a> {
    pub store: &'a Store<'a>,
    pub metrics: &'a Metrics,
    /// The generated services and whether their last configuration was
    /// installed.
    pub services: Vec<(&'static str, bool)>,
}

/// An exporter's answer.
pub struct Exported {
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

pub trait Exporter: Sync {
    fn name(&self) -> &'static str;
    /// `query`: the request's raw query string, passed through.
    fn export(&self, src: &Source, query: &str) -> Result<Exported, String>;
}

/// Why an import was refused.
pub enum Refused {
    /// The data is wrong (400).
    Invalid(String),
    /// It could not be stored (500).
    Failed(String),
}

pub trait Importer: Sync {
    fn name(&self) -> &'static str;
    fn import(&self, cfg: &Config, body: &[u8]) -> Result<Value, Refused>;
}

static EXPORTERS: &[&dyn Exporter] = &[&prometheus::Metrics];
static IMPORTERS: &[&dyn Importer] = &[&prometheus::Rules];

/// The exporter `name`, if it exists and the configuration allows it.
pub fn exporter(cfg: &Config, name: &str) -> Option<&'static dyn Exporter> {
    let allowed = cfg.allowed_exporters.iter().any(|a| a == name);
    EXPORTERS
        .iter()
        .copied()
        .find(|e| e.name() == name)
        .filter(|_| allowed)
}

/// The importer `name`, if it exists and the configuration allows it.
pub fn importer(cfg: &Config, name: &str) -> Option<&'static dyn Importer> {
    let allowed = cfg.allowed_importers.iter().any(|a| a == name);
    IMPORTERS
        .iter()
        .copied()
        .find(|i| i.name() == name)
        .filter(|_| allowed)
}
