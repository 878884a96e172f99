//! One rule per file, each with its docs (What it does / Why is this bad? / Example /
//! Use instead) beside the check.

pub mod bola001;
pub mod bola002;
pub mod jwt001;
pub mod jwt002;
pub mod key001;
pub mod key002;
pub mod key003;
pub mod route_common;
pub mod sup001;
pub mod toc001;
pub mod toc002;
pub mod toc003;
pub mod toc004;
pub mod toc005;
pub mod toc006;

/// Does TOC002 report this access (check and use reading different sources)? Then
/// BOLA001 stays silent on it: one finding per flaw.
pub fn toc002_conflicts(
    route: &tocsin_python::model::Route<'_>,
    access: &tocsin_python::facts::Access,
) -> bool {
    use tocsin_python::facts::{Origin, RequestSource};
    crate::authz::route_checks(route).iter().any(|rc| {
        rc.check.reads.iter().any(|c| {
            let Origin::Request { source: checked, field: Some(field) } = c else { return false };
            access.args.iter().any(|u| {
                matches!(u, Origin::Request { source: used, field: Some(f) }
                    if f == field && used != checked
                    && !matches!((checked, used), (RequestSource::Args, RequestSource::Values) | (RequestSource::Values, RequestSource::Args)))
            })
        })
    })
}
