//! Whether an expression holds a key, token or signature: by its name, or by where
//! its value came from (a credential header or query parameter, an HMAC digest).

use ruff_python_ast::Expr;
use tocsin_python::facts::{is_credential_name, string_literal};
use tocsin_python::Index;

use crate::names::{is_password_name, is_secret_name, secrecy, Secrecy};
use crate::syntax::Scope;

/// The qualified name of an expression, unless a local binding shadows its root.
pub fn qualified(index: &Index<'_>, scope: &Scope<'_>, expr: &Expr) -> Option<String> {
    if let Some(root) = tocsin_python::facts::root_name(expr) {
        if scope.in_function && scope.locals().contains_key(root) {
            return None;
        }
    }
    index.qualified(scope.module, expr)
}

/// `request.headers.get("X-API-Key")`, `request.args["token"]`, `request.authorization`…
/// Returns the request container (`headers`, `args`, `values`, `cookies`, `form`,
/// `json`) and the field name, when the field names a credential.
pub fn credential_read(
    index: &Index<'_>,
    scope: &Scope<'_>,
    expr: &Expr,
) -> Option<(String, String)> {
    let (container, key) = match expr {
        Expr::Call(call) => {
            let Expr::Attribute(attr) = &*call.func else {
                return None;
            };
            if !matches!(attr.attr.as_str(), "get" | "getlist") {
                return None;
            }
            (&*attr.value, call.arguments.args.first()?)
        }
        Expr::Subscript(sub) => (&*sub.value, &*sub.slice),
        _ => return None,
    };
    let q = qualified(index, scope, container)?;
    let source = q.strip_prefix("flask.request.")?.trim_end_matches("()");
    let source = match source {
        "get_json" => "json",
        other => other,
    };
    let field = string_literal(key)?;
    let is_credential = match source {
        "args" | "values" => is_secret_name(field, true),
        "headers" | "cookies" | "form" | "json" => {
            is_credential_name(field) || is_secret_name(field, true)
        }
        _ => false,
    };
    is_credential.then(|| (source.to_string(), field.to_string()))
}

/// Does `expr` hold a secret? Names are judged by [`is_secret_name`]; a local name is
/// also judged by the value it was assigned in the same function.
pub fn is_secret_expr<'a>(index: &Index<'a>, scope: &Scope<'a>, expr: &Expr, depth: usize) -> bool {
    if depth > 8 {
        return false;
    }
    match expr {
        Expr::Name(name) => {
            let id = name.id.as_str();
            if is_secret_name(id, false) {
                return true;
            }
            match value_of_name(index, scope, id) {
                Some(value) if !std::ptr::eq(value, expr) => {
                    is_secret_expr(index, scope, value, depth + 1)
                }
                _ => false,
            }
        }
        Expr::Attribute(attr) => {
            if qualified(index, scope, expr).as_deref() == Some("flask.request.authorization") {
                return true;
            }
            is_secret_name(attr.attr.as_str(), false)
        }
        Expr::Subscript(sub) => {
            if credential_read(index, scope, expr).is_some() {
                return true;
            }
            if string_literal(&sub.slice).is_some_and(|k| is_secret_name(k, false)) {
                return true;
            }
            // header.split(" ", 1)[1]: a part of a secret is still the secret.
            matches!(&*sub.slice, Expr::NumberLiteral(_) | Expr::UnaryOp(_))
                && is_secret_expr(index, scope, &sub.value, depth + 1)
        }
        Expr::Call(call) => {
            if credential_read(index, scope, expr).is_some() {
                return true;
            }
            let Expr::Attribute(attr) = &*call.func else {
                return false;
            };
            match attr.attr.as_str() {
                // hmac.new(...).hexdigest(): a computed signature.
                "hexdigest" | "digest" => qualified(index, scope, &attr.value)
                    .is_some_and(|q| q.starts_with("hmac.new") || q.starts_with("hmac.HMAC")),
                // os.environ.get("API_KEY"), os.getenv("API_KEY")
                "get" | "getenv" => {
                    let q = qualified(index, scope, &call.func).unwrap_or_default();
                    (q == "os.environ.get" || q == "os.getenv")
                        && call
                            .arguments
                            .args
                            .first()
                            .and_then(string_literal)
                            .is_some_and(|k| is_secret_name(k, false))
                }
                // token.strip(), header.split(" ")[1] keep their secrecy
                "strip" | "lstrip" | "rstrip" | "encode" | "decode" | "lower" | "upper"
                | "split" | "rsplit" | "partition" | "removeprefix" | "replace" => {
                    is_secret_expr(index, scope, &attr.value, depth + 1)
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// How strongly an expression holds a key or token (passwords excluded: comparing
/// them is a different flaw). Request credentials and HMAC digests are strong.
pub fn secrecy_of<'a>(index: &Index<'a>, scope: &Scope<'a>, expr: &Expr) -> Secrecy {
    secrecy_depth(index, scope, expr, 0)
}

fn secrecy_depth<'a>(index: &Index<'a>, scope: &Scope<'a>, expr: &Expr, depth: usize) -> Secrecy {
    if depth > 8 || !is_secret_expr(index, scope, expr, 0) {
        return Secrecy::None;
    }
    let named = |name: &str| {
        if is_password_name(name) {
            Secrecy::None
        } else {
            secrecy(name, false)
        }
    };
    match expr {
        Expr::Name(name) => {
            let by_name = named(name.id.as_str());
            let by_value = match value_of_name(index, scope, name.id.as_str()) {
                Some(value) if !std::ptr::eq(value, expr) => {
                    secrecy_depth(index, scope, value, depth + 1)
                }
                _ => Secrecy::None,
            };
            by_name.max(by_value)
        }
        Expr::Attribute(attr) => {
            if qualified(index, scope, expr).as_deref() == Some("flask.request.authorization") {
                return Secrecy::Strong;
            }
            named(attr.attr.as_str())
        }
        Expr::Subscript(sub) => {
            if credential_read(index, scope, expr).is_some() {
                return Secrecy::Strong;
            }
            match string_literal(&sub.slice) {
                Some(key) => named(key),
                None => secrecy_depth(index, scope, &sub.value, depth + 1),
            }
        }
        Expr::Call(call) => {
            if credential_read(index, scope, expr).is_some() {
                return Secrecy::Strong;
            }
            match &*call.func {
                Expr::Attribute(attr)
                    if matches!(
                        attr.attr.as_str(),
                        "hexdigest" | "digest" | "get" | "getenv"
                    ) =>
                {
                    Secrecy::Strong
                }
                Expr::Attribute(attr) => secrecy_depth(index, scope, &attr.value, depth + 1),
                _ => Secrecy::None,
            }
        }
        _ => Secrecy::None,
    }
}

/// The value a name was last assigned: in the enclosing function, else at module
/// level (in this module or the one it was imported from).
pub fn value_of_name<'a>(index: &Index<'a>, scope: &Scope<'a>, name: &str) -> Option<&'a Expr> {
    if let Some(value) = scope.value_of(name) {
        return Some(value);
    }
    match index.resolve_name(scope.module, name)? {
        tocsin_python::index::Resolved::Project(tocsin_python::index::Binding::Variable(
            _,
            _,
            value,
        )) => Some(value),
        _ => None,
    }
}
