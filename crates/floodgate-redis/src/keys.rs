//! Key layout: which Redis hash holds which counter, and which hash slot it lands in.
//!
//! ```text
//! fg:{<account>}:a          HASH  account-scoped counters, one field per limit slot
//! fg:{<account>}:k:<key>    HASH  key-scoped counters of one API key of the account
//! fg:{g:<bucket>}           HASH  global counters of one bucket (a model or a group)
//! fg:{k:<key>}:b            HASH  abuse protection of one key (u = blocked until,
//!                                 f = recent failure times)
//! ```
//!
//! The hash tag (the part in braces) decides the cluster slot: every key- and account-scoped
//! counter of a request shares its account's slot, so one script decides them atomically.
//! Subjects are escaped so that they never contain `{`, `}` or `:` and are never empty:
//! an account tag can then never equal a global (`g:`) or abuse (`k:`) tag, and no two
//! subjects share a key name.

use floodgate_core::{Limit, Scope};
use floodgate_store::Subjects;

/// Prefix of every key floodgate writes.
const PREFIX: &str = "fg:";

/// Appends `subject` escaped: `%`, `{`, `}` and `:` as `%XX`, the empty string as `%`.
pub(crate) fn push_escaped(out: &mut String, subject: &str) {
    if subject.is_empty() {
        out.push('%');
        return;
    }
    // Keys and accounts rarely hold these bytes: such a subject is copied whole, which
    // costs a gateway less per decision than pushing it a character at a time.
    if !subject
        .bytes()
        .any(|b| matches!(b, b'%' | b'{' | b'}' | b':'))
    {
        out.push_str(subject);
        return;
    }
    for c in subject.chars() {
        match c {
            '%' => out.push_str("%25"),
            '{' => out.push_str("%7B"),
            '}' => out.push_str("%7D"),
            ':' => out.push_str("%3A"),
            c => out.push(c),
        }
    }
}

/// The hash tag (without braces) of the slot holding `limit`'s counter.
pub(crate) fn tag(subjects: &Subjects<'_>, limit: &Limit) -> String {
    let mut tag = String::new();
    push_tag(&mut tag, subjects, limit);
    tag
}

fn push_tag(out: &mut String, subjects: &Subjects<'_>, limit: &Limit) {
    match limit.scope {
        Scope::Key | Scope::Account => push_escaped(out, subjects.account),
        Scope::Global => {
            out.push_str("g:");
            push_escaped(out, &limit.bucket);
        }
    }
}

/// The hash holding `limit`'s counter (the field is the limit's slot).
pub(crate) fn counter_hash(subjects: &Subjects<'_>, limit: &Limit) -> String {
    let mut key = String::with_capacity(64);
    key.push_str(PREFIX);
    key.push('{');
    push_tag(&mut key, subjects, limit);
    key.push('}');
    match limit.scope {
        Scope::Key => {
            key.push_str(":k:");
            push_escaped(&mut key, subjects.key);
        }
        Scope::Account => key.push_str(":a"),
        Scope::Global => {}
    }
    key
}

/// The hash holding `key`'s abuse-protection state.
pub(crate) fn abuse_hash(key: &str) -> String {
    let mut name = String::with_capacity(32);
    name.push_str(PREFIX);
    name.push_str("{k:");
    push_escaped(&mut name, key);
    name.push_str("}:b");
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use floodgate_core::{Unit, Window};

    fn limit(scope: Scope) -> Limit {
        Limit::new(scope, Unit::Requests, Window::MINUTE, 10, "m1")
    }

    const SUBJECTS: Subjects<'static> = Subjects {
        key: "k1",
        account: "acme",
    };

    #[test]
    fn layout() {
        assert_eq!(
            counter_hash(&SUBJECTS, &limit(Scope::Key)),
            "fg:{acme}:k:k1"
        );
        assert_eq!(
            counter_hash(&SUBJECTS, &limit(Scope::Account)),
            "fg:{acme}:a"
        );
        assert_eq!(counter_hash(&SUBJECTS, &limit(Scope::Global)), "fg:{g:m1}");
        assert_eq!(abuse_hash("k1"), "fg:{k:k1}:b");
    }

    #[test]
    fn key_and_account_counters_share_the_account_tag() {
        assert_eq!(
            tag(&SUBJECTS, &limit(Scope::Key)),
            tag(&SUBJECTS, &limit(Scope::Account))
        );
    }

    #[test]
    fn awkward_subjects_are_escaped_apart() {
        let odd = Subjects {
            key: "a:b",
            account: "{x}",
        };
        assert_eq!(
            counter_hash(&odd, &limit(Scope::Key)),
            "fg:{%7Bx%7D}:k:a%3Ab"
        );
        let empty = Subjects {
            key: "",
            account: "",
        };
        assert_eq!(counter_hash(&empty, &limit(Scope::Account)), "fg:{%}:a");
        let global_like = Subjects {
            key: "k",
            account: "g:m1",
        };
        assert_ne!(
            tag(&global_like, &limit(Scope::Account)),
            tag(&SUBJECTS, &limit(Scope::Global))
        );
    }
}
