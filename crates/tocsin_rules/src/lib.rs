//! tocsin's static rules: each one a small query over the app model and the syntax
//! of the scanned files, one rule per file under [`rules`], each with its docs.
//! The code table is [`registry::RULES`]. Rules never do I/O.

pub mod authz;
pub mod context;
pub mod fixes;
pub mod names;
pub mod registry;
pub mod rules;
pub mod secret;
pub mod syntax;

pub use context::{Context, Settings};
pub use registry::{
    all_rule_meta, check_all, check_all_guarded, rule_by_code, RuleEntry, RuleFailure, RULES,
};
