//! Server-driven paging: `$top` (at most 999), `$skiptoken` (an offset the emulator wrote
//! into `@odata.nextLink`), default page size from the settings.

use serde_json::{Map, Value};

use super::{Ctx, GraphError, GraphResult};

pub const MAX_TOP: usize = 999;

/// The range of a collection of `len` items this request gets, and the next link.
pub fn page(
    ctx: &Ctx,
    len: usize,
    page_size: usize,
) -> GraphResult<(usize, usize, Option<String>)> {
    let top = match ctx.query("$top") {
        None => page_size.clamp(1, MAX_TOP),
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=MAX_TOP).contains(&n) => n,
            _ => {
                return Err(GraphError::bad_request(format!(
                    "Invalid value '{t}' for $top: use an integer from 1 to {MAX_TOP}."
                )));
            }
        },
    };
    let start = match ctx.query("$skiptoken") {
        None => 0,
        Some(tok) => tok
            .strip_prefix("o")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| GraphError::bad_request(format!("Invalid $skiptoken '{tok}'.")))?,
    };
    let start = start.min(len);
    let end = (start + top).min(len);
    let next = (end < len).then(|| {
        let mut q: Vec<(String, String)> = ctx
            .query
            .iter()
            .filter(|(k, _)| !k.trim_start_matches('$').eq_ignore_ascii_case("skiptoken"))
            .cloned()
            .collect();
        q.push(("$skiptoken".into(), format!("o{end}")));
        let query = q
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        format!("{}/{}{}?{query}", ctx.base, ctx.version, ctx.raw_path)
    });
    Ok((start, end, next))
}

/// Percent-encodes a query key or value, keeping OData's `$`, quotes and parentheses
/// readable as Graph's own links do.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~$'(),:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `{"@odata.context", "value", "@odata.nextLink"?}`.
pub fn collection(context: String, value: Vec<Value>, next: Option<String>) -> Value {
    let mut m = Map::new();
    m.insert("@odata.context".into(), Value::String(context));
    m.insert("value".into(), Value::Array(value));
    if let Some(n) = next {
        m.insert("@odata.nextLink".into(), Value::String(n));
    }
    Value::Object(m)
}
