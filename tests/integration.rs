//! Integration tests: every test starts the real `luna2d` binary on a loopback
//! port with its own data directory (see `util.rs`).

mod util;

mod at_rest;
mod auth;
mod boot;
mod cluster;
mod configs;
mod contract;
mod control;
mod e2e;
mod group;
mod ha;
mod hardening;
mod http;
mod images;
mod inventory;
mod network;
mod node;
mod osimage;
mod osuser;
mod plugins;
mod rack;
mod secrets;
mod server;
mod service;
mod sim;
mod tables;
mod tidy;
mod tpm;
mod transfer;
