//! The explicit scope: the origins (scheme, host, port) a run may send to. The engine
//! checks every request, including each redirect hop, against it.

use crate::engine::url::{Origin, Url};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    origins: Vec<Origin>,
}

impl Scope {
    pub fn new(origins: impl IntoIterator<Item = Origin>) -> Self {
        let mut origins: Vec<Origin> = origins.into_iter().collect();
        origins.sort();
        origins.dedup();
        Scope { origins }
    }

    pub fn add(&mut self, origin: Origin) {
        if !self.origins.contains(&origin) {
            self.origins.push(origin);
        }
    }

    pub fn allows(&self, url: &Url) -> bool {
        self.origins.contains(&url.origin)
    }

    pub fn origins(&self) -> &[Origin] {
        &self.origins
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_must_match_exactly() {
        let scope = Scope::new([Origin::parse("http://127.0.0.1:5000").unwrap()]);
        assert!(scope.allows(&Url::parse("http://127.0.0.1:5000/a?b").unwrap()));
        for other in [
            "http://127.0.0.1:5001/",
            "https://127.0.0.1:5000/",
            "http://localhost:5000/",
            "http://127.0.0.1/",
        ] {
            assert!(!scope.allows(&Url::parse(other).unwrap()), "{other}");
        }
    }
}
