//! One rule per file, each with its docs (What it does / Why is this bad? / Example /
//! Use instead) beside the check.

pub mod jwt001;
pub mod jwt002;
pub mod key001;
pub mod key002;
pub mod key003;
pub mod sup001;
