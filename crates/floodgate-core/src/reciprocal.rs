//! Division by a divisor fixed in advance, as two multiplications.
//!
//! A rolling limit reports the units it has left on every decision, which divides by its
//! emission interval. That divisor only changes when the limit does, so its reciprocal is
//! worked out once (one 128-bit division) and each quotient is then a multiply-high: a
//! 64-bit `div` costs 10 to 40 cycles depending on the CPU, the two multiplications a few.

/// A divisor `d >= 1` prepared so that `n / d` needs no division instruction.
///
/// For `d >= 2` it keeps `m = ceil(2^128 / d)` and computes `floor(n * m / 2^128)`, which
/// is exactly `floor(n / d)` for every `n < 2^64`:
///
/// - write `m = (2^128 + e) / d` with `0 <= e < d`, and `n = q * d + s` with `0 <= s < d`;
/// - then `n * m / 2^128 = n / d + n * e / (d * 2^128)`, and the second term is at least 0
///   and below `2^64 * d / (d * 2^128) = 2^-64`, which is less than `1 / d` since `d < 2^64`;
/// - so `q <= n * m / 2^128 < q + s / d + 1 / d <= q + 1`, whose floor is `q`.
///
/// `m` fits in 128 bits for `d >= 2` (it is at most `2^127`), but not for `d = 1`, whose
/// quotient is `n` itself and is kept apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reciprocal {
    /// `ceil(2^128 / d)`, or 0 for `d = 1`.
    magic: u128,
}

impl Reciprocal {
    /// The reciprocal of `divisor`, which must not be 0.
    pub(crate) fn new(divisor: u64) -> Self {
        assert!(divisor != 0, "division by zero");
        let magic = if divisor == 1 {
            0
        } else {
            // `(2^128 - 1) / d + 1` is `ceil(2^128 / d)` whether or not `d` divides 2^128.
            u128::MAX / u128::from(divisor) + 1
        };
        Self { magic }
    }

    /// `n / d`, rounded down.
    #[inline]
    pub(crate) fn divide(self, n: u64) -> u64 {
        if self.magic == 0 {
            return n;
        }
        // floor(n * m / 2^128) with m = hi * 2^64 + lo is floor((n * hi + floor(n * lo /
        // 2^64)) / 2^64); the inner sum is below (2^64 - 1)^2 + 2^64 < 2^128, so no
        // overflow.
        let n = u128::from(n);
        let hi = self.magic >> 64;
        let lo = self.magic & u128::from(u64::MAX);
        let sum = n * hi + ((n * lo) >> 64);
        // The quotient is at most n, so it fits in 64 bits.
        (sum >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(n: u64, d: u64) {
        assert_eq!(Reciprocal::new(d).divide(n), n / d, "{n} / {d}");
    }

    #[test]
    fn edges() {
        let divisors = [
            1,
            2,
            3,
            7,
            60,
            1 << 32,
            (1 << 32) + 1,
            (1 << 63) - 1,
            1 << 63,
            (1 << 63) + 1,
            u64::MAX - 1,
            u64::MAX,
        ];
        for d in divisors {
            for n in [0, 1, d - 1, d, d.saturating_add(1), u64::MAX - 1, u64::MAX] {
                check(n, d);
            }
            // Just below and at every multiple near the top of the range.
            let top = u64::MAX / d * d;
            for n in [
                top,
                top - 1,
                top.saturating_sub(d),
                top.saturating_sub(d) + 1,
            ] {
                check(n, d);
            }
        }
    }

    #[test]
    fn every_small_pair() {
        for d in 1..=300 {
            for n in 0..=1_000 {
                check(n, d);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn matches_plain_division(n: u64, d in 1..=u64::MAX) {
            prop_assert_eq!(Reciprocal::new(d).divide(n), n / d);
        }

        #[test]
        fn matches_plain_division_for_small_divisors(n: u64, d in 1u64..1_000_000) {
            prop_assert_eq!(Reciprocal::new(d).divide(n), n / d);
        }

        #[test]
        fn matches_plain_division_near_multiples(q in 0u64..1 << 40, d in 1u64..1 << 24, s in 0u64..3) {
            // n = q * d + d - 1 (just below a multiple), q * d and q * d + 1: where an
            // approximate reciprocal would round the wrong way.
            let base = q * d;
            for n in [base, base + 1, base + d - 1].map(|n| n.saturating_add(s)) {
                prop_assert_eq!(Reciprocal::new(d).divide(n), n / d);
            }
        }
    }
}
