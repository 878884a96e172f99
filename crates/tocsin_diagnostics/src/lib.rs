//! tocsin's finding model and its renderers.
//!
//! Every half of tocsin (static rules, live probes, `scan`) produces [`Finding`]s; the
//! renderers here turn a [`Report`] into text with code frames, one line per finding,
//! JSON, SARIF 2.1.0, GitHub workflow annotations or a self-contained HTML page. Renderers never decide what is a
//! finding and never touch a socket or the file system beyond the writer they are given.

mod finding;
pub mod render;

pub use finding::{
    panic_message, Applicability, Edit, ExchangeEvidence, Finding, Fix, HttpLocation, InputError,
    Location, Position, Related, RuleMeta, Severity, SourceSpan, Status,
};
pub use render::{render, Format, RenderOptions, Report, SeverityCounts, SourceLookup};
