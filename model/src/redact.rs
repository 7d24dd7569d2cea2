//! Hiding secrets in what a node prints, logs or shows: passwords in URLs
//! (`postgres://kaa:***@db/kaa`), secret-looking query parameters (`?token=***`), and values
//! under secret names (`password`, `auth`, `token`, `headers`, …) in settings and configuration.
//!
//! One set of rules for every place that shows such text: `kaa-node check-config`, `/ready`, log
//! lines with errors, and what the admin API shows a TENANT_USER of appender and verifier
//! settings. Redaction keeps the shape (a URL stays a URL, a key keeps its name) so an operator
//! still sees what is configured, only not the secret itself.

use std::borrow::Cow;

use serde_json::Value;

/// What a secret is replaced with.
pub const REDACTED: &str = "***";

/// Names (or name endings, after `_`) of settings and fields that hold secrets.
const SECRET_NAMES: [&str; 12] = [
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "auth",
    "authorization",
    "credentials",
    "api_key",
    "apikey",
    "access_key",
    "headers",
];

/// Whether a setting, field or parameter named `name` holds a secret: `password`,
/// `client_secret`, `access_token`, `auth`, `Authorization`, `headers`, … (case and `-`/`_`
/// insensitive).
pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace('-', "_");
    SECRET_NAMES
        .iter()
        .any(|secret| name == *secret || name.ends_with(&format!("_{secret}")))
}

/// A query parameter that carries a secret: a secret name, or `key`, `sig`, `signature`.
fn is_secret_parameter(name: &str) -> bool {
    is_secret_name(name)
        || matches!(
            name.to_ascii_lowercase().as_str(),
            "key" | "sig" | "signature"
        )
}

/// Characters that end a URL inside free text.
fn ends_url(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`')
}

/// `text` with the password of every URL in it (`scheme://user:password@host`) and the values
/// of secret-looking query parameters replaced by [`REDACTED`]; borrowed when nothing changed.
pub fn text(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = text[search..].find("://") {
        let separator = search + found;
        let start = text[..separator]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-')))
            .map_or(0, |i| i + 1)
            .max(copied);
        let end = text[separator..]
            .find(ends_url)
            .map_or(text.len(), |i| separator + i);
        if let Some(redacted) = redact_url(&text[start..end], separator - start) {
            out.push_str(&text[copied..start]);
            out.push_str(&redacted);
            copied = end;
        }
        search = end.max(separator + 3);
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// One URL whose `://` is at `separator`, redacted; `None` when it holds no secret.
fn redact_url(url: &str, separator: usize) -> Option<String> {
    let rest = separator + 3;
    let query = url[rest..].find(['?', '#']).map_or(url.len(), |i| rest + i);
    let mut out = String::with_capacity(url.len());
    let mut changed = false;
    // The last `@` before the query ends the user info, so an unescaped `@` or `/` in a password
    // is hidden with it.
    match url[rest..query].rfind('@').map(|at| rest + at) {
        Some(at) => match url[rest..at].split_once(':') {
            Some((user, _)) => {
                out.push_str(&url[..rest]);
                out.push_str(user);
                out.push(':');
                out.push_str(REDACTED);
                out.push_str(&url[at..query]);
                changed = true;
            }
            None => out.push_str(&url[..query]),
        },
        None => out.push_str(&url[..query]),
    }
    let tail = &url[query..];
    if let Some(parameters) = tail.strip_prefix('?') {
        let (parameters, fragment) = match parameters.find('#') {
            Some(hash) => parameters.split_at(hash),
            None => (parameters, ""),
        };
        out.push('?');
        for (i, pair) in parameters.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((name, value)) if !value.is_empty() && is_secret_parameter(name) => {
                    out.push_str(name);
                    out.push('=');
                    out.push_str(REDACTED);
                    changed = true;
                }
                _ => out.push_str(pair),
            }
        }
        out.push_str(fragment);
    } else {
        out.push_str(tail);
    }
    changed.then_some(out)
}

/// Redacts a JSON document in place: values under secret names (see [`is_secret_name`]) become
/// [`REDACTED`] (every leaf of an object or list under such a name; empty strings, nulls and
/// booleans stay, they hide nothing), and URLs in other strings lose their secrets ([`text`]).
pub fn json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (name, value) in map.iter_mut() {
                if is_secret_name(name) {
                    mask(value);
                } else {
                    json(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(json),
        Value::String(string) => {
            if let Cow::Owned(redacted) = text(string) {
                *string = redacted;
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn mask(value: &mut Value) {
    match value {
        Value::Object(map) => map.values_mut().for_each(mask),
        Value::Array(items) => items.iter_mut().for_each(mask),
        Value::String(string) if string.is_empty() => {}
        Value::Null | Value::Bool(_) => {}
        other => *other = Value::String(REDACTED.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn passwords_in_urls_are_hidden_and_the_rest_kept() {
        for (url, shown) in [
            (
                "postgres://kaa:secret@127.0.0.1:5432/kaa",
                "postgres://kaa:***@127.0.0.1:5432/kaa",
            ),
            (
                "mysql://root:p@ss/w:rd@db/kaa?ssl-mode=required",
                "mysql://root:***@db/kaa?ssl-mode=required",
            ),
            (
                "mongodb://logs:hunter2@m1:27017,m2:27017/kaa?authSource=admin",
                "mongodb://logs:***@m1:27017,m2:27017/kaa?authSource=admin",
            ),
            (
                "https://ingest.example.com/logs?tenant=acme&api_key=abc123&sig=x#top",
                "https://ingest.example.com/logs?tenant=acme&api_key=***&sig=***#top",
            ),
        ] {
            assert_eq!(text(url), shown, "{url}");
        }
        for plain in [
            "sqlite://{data_dir}/metadata.db",
            "postgres://kaa@db/kaa",
            "http://127.0.0.1:9000/verify?timeout=5",
            "no url here: just words",
            "",
        ] {
            assert!(matches!(text(plain), Cow::Borrowed(_)), "{plain}");
        }
    }

    #[test]
    fn urls_inside_error_messages_are_found() {
        assert_eq!(
            text(
                "cannot connect to \"postgres://kaa:pw@db/kaa\": refused; retry mongodb://u:v@m/x"
            ),
            "cannot connect to \"postgres://kaa:***@db/kaa\": refused; retry mongodb://u:***@m/x"
        );
    }

    #[test]
    fn secret_names_are_recognised_by_name_or_ending() {
        for name in [
            "password",
            "Password",
            "auth",
            "client_secret",
            "access_token",
            "Authorization",
            "x-api-key",
            "headers",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "url",
            "header_fields",
            "tls_private_key",
            "authSource",
            "contact_points",
            "keyspace",
            "session_timeout",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn json_hides_values_under_secret_names_and_urls_everywhere() {
        let mut settings = json!({
            "url": "https://bot:s3cret@ingest.example.com/in",
            "password": "hunter2",
            "auth": "",
            "headers": {"Authorization": "Bearer abc", "X-Tenant": "acme"},
            "retries": 3,
            "nested": [{"token": 1234, "name": "kept"}],
        });
        json(&mut settings);
        assert_eq!(
            settings,
            json!({
                "url": "https://bot:***@ingest.example.com/in",
                "password": "***",
                "auth": "",
                "headers": {"Authorization": "***", "X-Tenant": "***"},
                "retries": 3,
                "nested": [{"token": "***", "name": "kept"}],
            })
        );
    }
}
