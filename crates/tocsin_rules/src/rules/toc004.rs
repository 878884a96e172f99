//! TOC004: key or permission lookups cached with no eviction on revocation.

use ruff_python_ast::{Expr, Stmt, StmtFunctionDef};
use tocsin_diagnostics::{Finding, RuleMeta, Severity};
use tocsin_python::facts::{last_name, Analyzer, WriteKind};
use tocsin_python::project::ModuleId;
use tocsin_python::Loc;

use super::route_common::with_related;
use crate::names::words;
use crate::Context;

pub static META: RuleMeta = RuleMeta {
    code: "TOC004",
    name: "cached-authorization-without-eviction",
    summary: "Key or permission lookup cached with no eviction when keys are revoked",
    severity: Severity::High,
    docs: r#"## What it does
Flags a function that looks up an API key's owner, scopes or permissions and is
memoized (`functools.lru_cache`, `functools.cache`, flask-caching `memoize` or
`cached`, or a module-level dict used as a cache) when nothing in the project ever
evicts it (`cache_clear()`, `delete_memoized`, `pop`/`del` on the dict).

## Why is this bad?
The cache answers with the authorization the key had when it was first looked up.
Revoking the key or narrowing its scope changes the store, not the cache: the key
keeps working until the process restarts or the entry times out.

## Example
```python
@functools.lru_cache(maxsize=1024)
def scopes_for(api_key):
    return KEY_SCOPES.get(api_key)

@app.delete("/admin/keys/<key>")
def revoke(key):
    KEY_SCOPES.pop(key, None)          # the cache still answers for it
```

## Use instead
```python
@app.delete("/admin/keys/<key>")
def revoke(key):
    KEY_SCOPES.pop(key, None)
    scopes_for.cache_clear()
```
"#,
};

const FIX: &str = "Evict on every revocation or scope change (cache_clear(), cache.delete_memoized(fn, key), cache.pop(key)), or do not cache authorization decisions.";

/// Does the function's name say it resolves keys, tokens or permissions?
fn is_authorization_lookup(name: &str) -> bool {
    words(name).iter().any(|w| {
        matches!(
            w.as_str(),
            "key"
                | "keys"
                | "apikey"
                | "token"
                | "perm"
                | "perms"
                | "permission"
                | "permissions"
                | "scope"
                | "scopes"
                | "role"
                | "roles"
                | "auth"
                | "grant"
                | "grants"
                | "acl"
                | "access"
                | "principal"
                | "client"
                | "credential"
                | "tenant"
                | "owner"
        )
    })
}

fn is_memoizing(ctx: &Context<'_>, module: ModuleId, decorator: &Expr) -> bool {
    let callee = match decorator {
        Expr::Call(call) => &*call.func,
        other => other,
    };
    if let Some(q) = ctx.index.qualified(module, callee) {
        if matches!(
            q.as_str(),
            "functools.lru_cache"
                | "functools.cache"
                | "cachetools.cached"
                | "cachetools.func.ttl_cache"
        ) {
            return true;
        }
    }
    matches!(last_name(callee), Some("memoize" | "cached" | "lru_cache"))
}

/// Is `name` ever evicted anywhere in the project?
fn evicted(ctx: &Context<'_>, name: &str) -> bool {
    let clear = format!("{name}.cache_clear(");
    ctx.project.files().iter().any(|f| {
        let text = &f.text;
        text.contains(&clear)
            || text.match_indices("delete_memoized(").any(|(at, _)| {
                let rest = &text[at..text.len().min(at + 120)];
                let args = rest.split(')').next().unwrap_or("");
                args.contains(name) || !args.contains(',') && args.trim_end() == "delete_memoized("
            })
            || text.contains("cache.clear()")
    })
}

pub fn check(ctx: &Context<'_>, module: ModuleId, out: &mut Vec<Finding>) {
    if !ctx.is_flask_project() {
        return;
    }
    let mut analyzer = Analyzer::new(ctx.index);
    let functions: Vec<(&StmtFunctionDef, Option<&ruff_python_ast::StmtClassDef>)> = ctx
        .index
        .module(module)
        .top_level
        .iter()
        .flat_map(|stmt| match stmt {
            Stmt::FunctionDef(f) => vec![(f, None)],
            Stmt::ClassDef(c) => c
                .body
                .iter()
                .filter_map(|s| match s {
                    Stmt::FunctionDef(f) => Some((f, Some(c))),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    for (function, class) in functions {
        let name = function.name.as_str();
        let named_for_authorization = is_authorization_lookup(name);
        // Only lookups named for authorization, or code that mentions a cache, can
        // be what this rule looks for: skip the summary of everything else.
        let file = ctx.project.file(ctx.project.module(module).file);
        let mentions_cache = file
            .slice(ruff_text_size::Ranged::range(function))
            .contains("cache");
        if !named_for_authorization && !mentions_cache {
            continue;
        }
        let facts = analyzer.summary(module, function, class);
        let reads_store = !facts.shared_reads.is_empty() || !facts.accesses.is_empty();
        for decorator in &function.decorator_list {
            if !named_for_authorization
                || !is_memoizing(ctx, module, &decorator.expression)
                || !reads_store
                || evicted(ctx, name)
            {
                continue;
            }
            let loc = ctx.index.loc(module, decorator);
            out.push(
                ctx.finding(
                    &META,
                    loc,
                    format!("`{name}` caches an authorization lookup and nothing evicts it: revoked keys keep their access until the entry expires"),
                )
                .with_fix(FIX),
            );
        }
        // Module-level dict caches filled by this lookup.
        for write in facts
            .writes
            .iter()
            .filter(|w| w.direct && matches!(w.kind, WriteKind::Assign))
        {
            if !write.state.name.to_ascii_lowercase().contains("cache") {
                continue;
            }
            // The lookup or the cache must say it is about keys or permissions.
            if !named_for_authorization && !is_authorization_lookup(&write.state.name) {
                continue;
            }
            let Some(state) = ctx
                .model
                .shared_state
                .iter()
                .find(|s| s.state == write.state)
            else {
                continue;
            };
            let evicts = state.mutations.iter().any(|m| {
                matches!(
                    m.kind,
                    WriteKind::Delete | WriteKind::MethodCall | WriteKind::Rebind
                ) && m.function.as_deref()
                    != Some(&format!("{}.{name}", ctx.project.module_name(module)))
            });
            if evicts {
                continue;
            }
            let loc: Loc = write.loc;
            let mut finding = ctx
                .finding(
                    &META,
                    loc,
                    format!("`{}` caches what `{name}` looks up and nothing evicts it: revoked keys keep their access", write.state.name),
                )
                .with_fix(FIX);
            finding = with_related(
                ctx,
                finding,
                state.defined,
                format!("cache `{}` defined here", write.state.name),
            );
            out.push(finding);
        }
    }
}
