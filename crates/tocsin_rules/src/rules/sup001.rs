//! SUP001: a `# tocsin: ignore[CODE]` comment that suppresses nothing.
//! The driver reports it after applying suppressions; this file holds its docs.

use tocsin_diagnostics::{RuleMeta, Severity};

pub static META: RuleMeta = RuleMeta {
    code: "SUP001",
    name: "unused-suppression",
    summary: "Suppression comment that suppresses no finding",
    severity: Severity::Low,
    docs: r#"## What it does
Reports a `# tocsin: ignore[CODE]` comment on a line where rule `CODE` reports nothing.

## Why is this bad?
A stale suppression hides the next real finding on that line: code changes, the
original finding goes away, and a new flaw of the same kind slips in unseen.

## Example
```python
if hmac.compare_digest(key, expected):  # tocsin: ignore[KEY001]
    ...
```

## Use instead
```python
if hmac.compare_digest(key, expected):
    ...
```
"#,
};
