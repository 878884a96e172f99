//! Python parsing and the Flask app model.
//!
//! Layers, bottom-up: [`source`] (text, parse, positions), [`project`] (files and
//! module names), [`index`] (imports, definitions, name resolution), [`facts`]
//! (per-function provenance, checks, data accesses, writes), [`flask`] (apps,
//! blueprints, APIs, routes, hooks) and [`model`] (routes with guards, principals and
//! object references; shared state with its mutations). No rules live here.

pub mod facts;
pub mod flask;
pub mod index;
pub mod model;
pub mod project;
pub mod source;

pub use index::Index;
pub use model::AppModel;
pub use project::Project;
pub use source::{FileId, LineCol, Loc, SourceFile};
