//! Bounding what error messages repeat of their input.
//!
//! Errors quote what they refuse, but input can be huge: a 10 MB literal, a
//! kernel with a million parameters, a file with 100k kernels or errors.
//! Messages quote a long piece by its start and its length ([`quote`]),
//! list at most a screenful of names ([`list`]), and a long run of
//! diagnostics ends with how many more there are
//! ([`MAX_SHOWN_DIAGNOSTICS`]).

/// The longest piece of input a message quotes whole, in characters.
pub const QUOTE_CHARS: usize = 64;

/// The most names a message lists.
pub const LISTED_NAMES: usize = 20;

/// The most diagnostics printed for one file; the rest are counted.
pub const MAX_SHOWN_DIAGNOSTICS: usize = 200;

/// `text` whole when it is short, else its start, an ellipsis and its
/// length in bytes.
pub fn quote(text: &str) -> String {
    if text.chars().count() <= QUOTE_CHARS {
        return text.to_string();
    }
    let head: String = text.chars().take(QUOTE_CHARS - 16).collect();
    format!("{head}... ({} bytes)", text.len())
}

/// `message` with every `` `quoted` `` piece longer than [`QUOTE_CHARS`]
/// shortened by [`quote`].
pub fn shorten_quoted(message: &str) -> String {
    shorten_quoted_by(message, '`')
}

/// [`shorten_quoted`] for pieces between two `mark`s (clap quotes values
/// in `'`).
pub fn shorten_quoted_by(message: &str, mark: char) -> String {
    if message.len() <= 2 * QUOTE_CHARS {
        return message.to_string();
    }
    let mut out = String::with_capacity(message.len().min(1024));
    let mut rest = message;
    while let Some(open) = rest.find(mark) {
        out.push_str(&rest[..open + mark.len_utf8()]);
        rest = &rest[open + mark.len_utf8()..];
        match rest.find(mark) {
            Some(close) => {
                out.push_str(&quote(&rest[..close]));
                out.push(mark);
                rest = &rest[close + mark.len_utf8()..];
            }
            None => {
                out.push_str(&quote(rest));
                return out;
            }
        }
    }
    out.push_str(rest);
    out
}

/// At most [`LISTED_NAMES`] of `items`, each quoted by [`quote`], joined
/// with `, `, then how many were left out.
pub fn list<T: AsRef<str>>(items: &[T]) -> String {
    let shown: Vec<String> = items
        .iter()
        .take(LISTED_NAMES)
        .map(|i| quote(i.as_ref()))
        .collect();
    list_of(&shown, items.len())
}

/// The first items of a list of `total`, already rendered, joined with
/// `, `, then how many were left out.
pub fn list_of<T: AsRef<str>>(first: &[T], total: usize) -> String {
    let shown: Vec<&str> = first
        .iter()
        .take(LISTED_NAMES)
        .map(|i| i.as_ref())
        .collect();
    let mut out = shown.join(", ");
    if total > shown.len() {
        out.push_str(&format!(", ... ({} more)", total - shown.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_input_is_quoted_by_its_start_and_length() {
        assert_eq!(quote("short"), "short");
        let long = "7".repeat(10_000_000);
        let q = quote(&long);
        assert!(q.len() < 100, "{q}");
        assert!(
            q.starts_with("777") && q.ends_with("(10000000 bytes)"),
            "{q}"
        );
        let msg = format!("integer `{long}` does not fit in 64 bits");
        let s = shorten_quoted(&msg);
        assert!(s.len() < 120, "{s}");
        assert!(s.starts_with("integer `777") && s.ends_with("bytes)` does not fit in 64 bits"));
        // Short messages and short quotes stay as they are.
        assert_eq!(shorten_quoted("unknown `x`"), "unknown `x`");
        let names: Vec<String> = (0..100_000).map(|i| format!("k{i}")).collect();
        let l = list(&names);
        assert!(
            l.starts_with("k0, k1, ") && l.ends_with(", k19, ... (99980 more)"),
            "{l}"
        );
        assert_eq!(list(&["a", "b"]), "a, b");
    }
}
