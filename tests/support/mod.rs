//! Shared by the HTTP tests: a small client and an in-process server on port 0.
#![allow(dead_code)]

pub mod client;
pub mod server;
