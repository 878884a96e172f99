//! tocsin's live half.
//!
//! - [`engine`]: the HTTP engine (connections, synchronized release, timed exchanges);
//!   it knows nothing about findings.
//! - [`scope`] and [`redact`]: the safety rails every request and every output pass.
//! - `experiments`: the live experiments, one per file, that drive the engine and turn
//!   exchanges into findings.
//! - `plan`: identities, objects, routes and the requests experiments need.
//! - `cli`: the argument structs and entry points the `tocsin` binary wires in.

pub mod cli;
pub mod engine;
pub mod experiments;
pub mod plan;
pub mod redact;
pub mod scope;
