//! The decision script's arguments for a batch of decisions, and its reply split back
//! into one reply per decision (the layout `lua/decide.lua` documents in its header).
//!
//! Why the client does the bookkeeping: it knows every decision of a round, so it
//! passes each hash, each limit definition and each counter once, and a decision as a
//! few counter numbers. The script then builds no tables to find a batch's counters and
//! converts fewer arguments, on Redis's one thread, where every instruction counts; the
//! reply likewise leaves out what this side can fill in.

use crate::batch::Call;
use floodgate_store::StoreError;
use redis::{Script, ScriptInvocation};

/// Every hash of `calls`, each once, the hashes of their limits' counters first; how
/// many of those there are; and for each call the 1-based positions of its own keys in
/// that list.
fn key_layout<'c>(calls: &[&'c Call]) -> (Vec<&'c str>, usize, Vec<Vec<usize>>) {
    let mut keys: Vec<&str> = Vec::new();
    let mut index: foldhash::HashMap<&str, usize> = foldhash::HashMap::default();
    let mut place = |key: &'c str, keys: &mut Vec<&'c str>| {
        *index.entry(key).or_insert_with(|| {
            keys.push(key);
            keys.len()
        })
    };
    let mut positions: Vec<Vec<usize>> = calls.iter().map(|c| vec![0; c.keys.len()]).collect();
    for (call, local) in calls.iter().zip(&mut positions) {
        for limit in &call.limits {
            let at = limit.key - 1;
            local[at] = place(&call.keys[at], &mut keys);
        }
    }
    let counter_hashes = keys.len();
    for (call, local) in calls.iter().zip(&mut positions) {
        for (key, position) in call.keys.iter().zip(local.iter_mut()) {
            if *position == 0 {
                *position = place(key, &mut keys);
            }
        }
    }
    (keys, counter_hashes, positions)
}

/// A limit as the script defines it once per call.
type Definition<'c> = (&'c str, &'static str, u64, u64, u64, bool);

/// Every distinct limit definition of `calls`, each once, and for each call the 1-based
/// numbers of its limits' definitions.
fn definitions<'c>(calls: &[&'c Call]) -> (Vec<Definition<'c>>, Vec<Vec<usize>>) {
    let mut definitions: Vec<Definition<'c>> = Vec::new();
    let mut index: foldhash::HashMap<Definition<'c>, usize> = foldhash::HashMap::default();
    let numbers = calls
        .iter()
        .map(|call| {
            call.limits
                .iter()
                .map(|limit| {
                    let p = limit.params;
                    let definition = (&*limit.field, p.kind, p.p1, p.p2, p.max, limit.shadow);
                    *index.entry(definition).or_insert_with(|| {
                        definitions.push(definition);
                        definitions.len()
                    })
                })
                .collect()
        })
        .collect();
    (definitions, numbers)
}

/// The batch's counters (a field of a counter hash), each once, grouped by hash: for
/// each counter hash its counters' fields with the number of the first definition
/// naming each; and for each call's limits, their counter as (hash, position in it).
struct Counters<'c> {
    by_hash: Vec<Vec<(&'c str, usize)>>,
    of_limits: Vec<Vec<(usize, usize)>>,
}

fn counters<'c>(
    calls: &[&'c Call],
    counter_hashes: usize,
    positions: &[Vec<usize>],
    numbers: &[Vec<usize>],
) -> Counters<'c> {
    let mut by_hash: Vec<Vec<(&str, usize)>> = vec![Vec::new(); counter_hashes];
    let of_limits = calls
        .iter()
        .zip(positions)
        .zip(numbers)
        .map(|((call, local), numbers)| {
            call.limits
                .iter()
                .zip(numbers)
                .map(|(limit, &number)| {
                    let hash = local[limit.key - 1] - 1;
                    let fields = &mut by_hash[hash];
                    // a hash holds a few counters: a scan beats a map
                    let at = match fields.iter().position(|(f, _)| **f == *limit.field) {
                        Some(at) => at,
                        None => {
                            fields.push((&*limit.field, number));
                            fields.len() - 1
                        }
                    };
                    (hash, at)
                })
                .collect()
        })
        .collect();
    Counters { by_hash, of_limits }
}

/// A counter hash's counters as one script argument: their definition numbers as the
/// digits of a number in base `definitions + 1`, the first counter's lowest (the
/// batch's hashes mostly hold the same few counters, so the script converts each such
/// number once); `None` where it would pass what a Lua number holds exactly.
fn hash_code(fields: &[(&str, usize)], definitions: usize) -> Option<u64> {
    let base = u64::try_from(definitions).ok()?.checked_add(1)?;
    let mut code: u64 = 0;
    for &(_, number) in fields.iter().rev() {
        code = code
            .checked_mul(base)?
            .checked_add(u64::try_from(number).ok()?)?;
    }
    (code <= crate::scripts::LUA_MAX).then_some(code)
}

/// A decision's first argument: minus (its head + 1024 x its limits' `codes` as the
/// digits of a number in base 4 x (`counters` + 1), the first lowest), where that is a
/// number Lua holds exactly, and `true`; else its head alone, and `false` (each code is
/// then an argument of its own). Every argument costs Redis about 800 instructions
/// before the script reads it: most decisions are sent as one number and their costs.
fn word(head: usize, codes: &[usize], counters: usize) -> (i64, bool) {
    let packed = (|| {
        if head >= 1024 || codes.is_empty() {
            return None;
        }
        let base = u64::try_from(counters)
            .ok()?
            .checked_add(1)?
            .checked_mul(4)?;
        let mut digits: u64 = 0;
        for &code in codes.iter().rev() {
            digits = digits
                .checked_mul(base)?
                .checked_add(u64::try_from(code).ok()?)?;
        }
        let word = digits
            .checked_mul(1024)?
            .checked_add(u64::try_from(head).ok()?)?;
        (word <= crate::scripts::LUA_MAX).then(|| i64::try_from(word).ok())?
    })();
    match packed {
        Some(word) => (-word, true),
        None => (i64::try_from(head).unwrap_or(i64::MAX), false),
    }
}

/// The script call running `calls` in order, each hash, limit definition and counter
/// passed once, and what [`split`] needs to read its reply.
pub(crate) fn invocation<'s>(
    script: &'s Script,
    calls: &[&Call],
) -> (ScriptInvocation<'s>, Layout) {
    let mut invocation = script.prepare_invoke();
    let (keys, counter_hashes, positions) = key_layout(calls);
    for key in keys {
        invocation.key(key);
    }
    let (definitions, numbers) = definitions(calls);
    let counters = counters(calls, counter_hashes, &positions, &numbers);
    invocation
        .arg(calls.len())
        .arg(definitions.len())
        .arg(counter_hashes);
    for &(field, kind, p1, p2, max, shadow) in &definitions {
        invocation
            .arg(field)
            .arg(kind)
            .arg(p1)
            .arg(p2)
            .arg(max)
            .arg(if shadow { "1" } else { "0" });
    }
    // each hash's first counter's number, less one
    let mut first = Vec::with_capacity(counter_hashes);
    let mut numbered = 0;
    for fields in &counters.by_hash {
        first.push(numbered);
        numbered += fields.len();
        match hash_code(fields, definitions.len()) {
            Some(code) => {
                invocation.arg(code);
            }
            None => {
                invocation.arg(-i64::try_from(fields.len()).unwrap_or(i64::MAX));
                for &(_, number) in fields {
                    invocation.arg(number);
                }
            }
        }
    }
    let mut codes = Vec::new();
    for (((call, local), numbers), of_limits) in calls
        .iter()
        .zip(&positions)
        .zip(&numbers)
        .zip(&counters.of_limits)
    {
        // the script takes a lease for a concurrency counter, whose kind is its first
        // definition's (a limit's own, where a slot is shared across kinds)
        let lease = call
            .limits
            .iter()
            .zip(of_limits)
            .any(|(limit, &(hash, at))| {
                let first = counters.by_hash[hash][at].1;
                limit.params.kind == "c" || definitions[first - 1].1 == "c"
            });
        let guards = call.abuse != 0 || call.guard.is_some();
        let head = 8 * call.limits.len()
            + if lease { 4 } else { 0 }
            + if guards { 2 } else { 0 }
            + usize::from(call.consume);
        codes.clear();
        codes.extend(call.limits.iter().zip(numbers).zip(of_limits).map(
            |((limit, &number), &(hash, at))| {
                let counter = first[hash] + at + 1;
                let own = counters.by_hash[hash][at].1 != number;
                4 * counter + if own { 2 } else { 0 } + usize::from(limit.amount != 1)
            },
        ));
        let (word, packed) = word(head, &codes, numbered);
        invocation.arg(word);
        if lease {
            invocation.arg(&call.lease);
        }
        if guards {
            let global = |i: usize| if i == 0 { 0 } else { local[i - 1] };
            let (guard, generation) = call.guard.map_or((0, 0), |(k, g)| (global(k), g));
            invocation
                .arg(global(call.abuse))
                .arg(guard)
                .arg(generation);
        }
        for ((limit, &number), &code) in call.limits.iter().zip(numbers).zip(&codes) {
            if !packed {
                invocation.arg(code);
            }
            if code % 4 >= 2 {
                invocation.arg(number);
            }
            if limit.amount != 1 {
                invocation.arg(limit.amount);
            }
        }
    }
    let layout = Layout {
        definitions: definitions.len(),
        numbers,
    };
    (invocation, layout)
}

/// How a batch's reply is laid out beyond what its calls say: the number of limit
/// definitions (each has its period end in the reply's head) and, per call, its
/// limits' definition numbers (1-based).
pub(crate) struct Layout {
    definitions: usize,
    numbers: Vec<Vec<usize>>,
}

/// Splits a batch's reply into one reply per call, each as the script reported a lone
/// decision before it sent less: the time, then whether the call consumed and its
/// block (-1 for none), then three numbers per limit (its check, -1 when it fits, and its standing,
/// with the 0 of a rolling limit and a quota's period end put back); `[-1]` for a stale
/// call.
pub(crate) fn split(
    values: &[i64],
    calls: &[&Call],
    layout: &Layout,
) -> Vec<Result<Vec<i64>, StoreError>> {
    let short = || {
        StoreError::Backend(format!(
            "decision script reply too short: {} values for {} decisions",
            values.len(),
            calls.len()
        ))
    };
    let Some((time, ends)) = values.get(..2 + layout.definitions).map(|h| h.split_at(2)) else {
        return calls.iter().map(|_| Err(short())).collect();
    };
    let mut rest = values[2 + layout.definitions..].iter().copied();
    let mut replies = Vec::with_capacity(calls.len());
    for (call, numbers) in calls.iter().zip(&layout.numbers) {
        let mut take = || rest.next().ok_or_else(short);
        let reply = (|| {
            // only a guarded call can be stale or blocked: -1 stale, -2 - the ns left
            // on a block, else 0
            let mut blocked = -1;
            if call.abuse != 0 || call.guard.is_some() {
                let state = take()?;
                if state == -1 {
                    return Ok(vec![-1]);
                }
                if state <= -2 {
                    blocked = -2 - state;
                }
            }
            let mut reply = Vec::with_capacity(4 + 3 * call.limits.len());
            reply.extend_from_slice(time);
            // the flag, filled in below: consumed when it was to consume, no block
            // holds it and every limit that does not fit is shadowed
            reply.extend([0, blocked]);
            let mut consumed = call.consume && blocked < 0;
            for (limit, &number) in call.limits.iter().zip(numbers) {
                let mut first = take()?;
                // a limit that does not fit sends its check first: -1 never, else -2 - wait
                let check = if first < 0 {
                    let check = if first == -1 { -2 } else { -2 - first };
                    first = take()?;
                    check
                } else {
                    -1
                };
                let second = match limit.params.kind {
                    "c" => take()?,
                    "r" => 0,
                    _ => *ends.get(number - 1).ok_or_else(short)?,
                };
                consumed &= check == -1 || limit.shadow;
                reply.extend([check, first, second]);
            }
            reply[2] = i64::from(consumed);
            Ok(reply)
        })();
        replies.push(reply);
    }
    replies
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::LimitArg;
    use crate::scripts::Params;
    use std::sync::Arc;

    fn call(keys: &[&str], limits: usize, guard: Option<(usize, u64)>) -> Call {
        Call {
            slot: String::new(),
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            consume: true,
            lease: "7".to_owned(),
            abuse: 0,
            guard,
            limits: (0..limits)
                .map(|i| LimitArg {
                    key: 1 + i % keys.len(),
                    field: Arc::from(format!("f{i}")),
                    params: Params {
                        kind: "r",
                        p1: 1,
                        p2: 10,
                        max: 10,
                    },
                    amount: 1,
                    shadow: false,
                })
                .collect(),
        }
    }

    #[test]
    fn replies_split_per_call_with_the_time_in_front_and_what_was_not_sent_put_back() {
        let a = call(&["h1"], 1, None);
        let b = call(&["h1", "h2"], 2, Some((2, 3)));
        let mut c = call(&["h3"], 3, None);
        c.abuse = c.key_index("b3");
        c.limits[1].params.kind = "d";
        c.limits[2].params.kind = "c";
        let mut d = call(&["h4"], 2, None);
        d.limits[0].shadow = true;
        let e = call(&["h5"], 1, None);
        let layout = Layout {
            definitions: 3,
            numbers: vec![vec![1], vec![1, 2], vec![1, 2, 3], vec![1, 2], vec![1]],
        };
        // time; period ends of definitions 1 to 3; a: one rolling limit that fits; b,
        // stale; c, blocked for 5 ns: rolling limit never fits, day quota of definition
        // 2 waits 7 ns, concurrency fits; d: a shadowed limit waits 1 ns, the other fits;
        // e: its one limit waits 2 ns
        let values = [
            100, 5, 0, 86_400, 0, 7, -1, -7, -1, 4, -9, 2, 1, 30, -3, 6, 8, -4, 9,
        ];
        let calls = [&a, &b, &c, &d, &e];
        let replies = split(&values, &calls, &layout);
        assert_eq!(replies[0], Ok(vec![100, 5, 1, -1, -1, 7, 0]));
        assert_eq!(replies[1], Ok(vec![-1]), "a stale call reads as one");
        assert_eq!(
            replies[2],
            Ok(vec![100, 5, 0, 5, -2, 4, 0, 7, 2, 86_400, -1, 1, 30])
        );
        assert_eq!(
            replies[3],
            Ok(vec![100, 5, 1, -1, 1, 6, 0, -1, 8, 0]),
            "a shadowed limit does not stop it consuming"
        );
        assert_eq!(replies[4], Ok(vec![100, 5, 0, -1, 2, 9, 0]));
        assert!(split(&values[..12], &calls, &layout)
            .iter()
            .any(Result::is_err));
    }

    #[test]
    fn hashes_are_passed_once_counter_hashes_first_and_indices_follow_them() {
        let mut a = call(&["h1", "h2"], 1, None);
        a.abuse = a.key_index("b1");
        let b = call(&["r", "h2", "h3"], 2, Some((1, 4)));
        let mut b = b;
        b.limits[0].key = 2;
        b.limits[1].key = 3;
        let (keys, counter_hashes, positions) = key_layout(&[&a, &b]);
        assert_eq!(keys, vec!["h1", "h2", "h3", "b1", "r"]);
        assert_eq!(counter_hashes, 3, "h2 is a counter hash of b");
        assert_eq!(positions, vec![vec![1, 2, 4], vec![5, 2, 3]]);
    }

    #[test]
    fn each_limit_definition_is_passed_once() {
        let a = call(&["h1"], 2, None);
        let mut b = call(&["h2"], 3, None);
        b.limits[2].shadow = true;
        let (definitions, numbers) = definitions(&[&a, &b]);
        assert_eq!(definitions.len(), 3, "f0, f1, and f2 shadowed");
        assert_eq!(numbers, vec![vec![1, 2], vec![1, 2, 3]]);
        assert!(definitions[2].5);
    }

    #[test]
    fn a_word_packs_the_codes_above_the_head_while_lua_holds_it_exactly() {
        // base 4 x (3 + 1) = 16: codes 5 and 12 as 5 + 16 x 12
        assert_eq!(word(17, &[5, 12], 3), (-(17 + 1024 * (5 + 16 * 12)), true));
        assert_eq!(word(8, &[], 3), (8, false), "no limit: the head alone");
        assert_eq!(word(1024, &[4], 3), (1024, false), "a head past 1023");
        let many = [400; 12];
        assert_eq!(word(97, &many, 99), (97, false), "400^12 is far past 2^53");
        let (edge, packed) = word(8, &[(1 << 43) - 1], (1 << 41) - 1);
        assert!(
            packed && -edge <= (1 << 53),
            "the largest that fits: {edge}"
        );
        assert_eq!(word(8, &[1 << 43], 1 << 41), (8, false));
    }

    #[test]
    fn a_hash_code_holds_its_definitions_as_digits_until_it_would_not_be_exact() {
        assert_eq!(hash_code(&[("a", 1), ("b", 3)], 3), Some(1 + 4 * 3));
        assert_eq!(hash_code(&[("a", 2)], 3), Some(2));
        let many: Vec<(&str, usize)> = (0..30).map(|_| ("f", 99)).collect();
        assert_eq!(hash_code(&many, 99), None, "100^30 is far past 2^53");
    }

    #[test]
    fn each_counter_is_passed_once_by_hash_and_field_under_its_first_definition() {
        let a = call(&["h1", "h2"], 2, None);
        let mut b = call(&["h2", "h1"], 2, None);
        // the same counter (h1, f0) under another definition
        b.limits[0].key = 2;
        b.limits[0].params.max = 5;
        b.limits[1].key = 2;
        let calls = [&a, &b];
        let (_, counter_hashes, positions) = key_layout(&calls);
        let (_, numbers) = definitions(&calls);
        let counters = counters(&calls, counter_hashes, &positions, &numbers);
        assert_eq!(
            counters.by_hash,
            vec![vec![("f0", 1), ("f1", 2)], vec![("f1", 2)]]
        );
        assert_eq!(
            counters.of_limits,
            vec![vec![(0, 0), (1, 0)], vec![(0, 0), (0, 1)]]
        );
    }
}
