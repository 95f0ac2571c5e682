//! How a file is cut into multipart parts, within S3's limits: at most
//! 10,000 parts, each of 5 MiB to 5 GiB (the last may be smaller), objects
//! of at most 5 TiB. The plan is decided before any byte is buffered, so an
//! absurd announced size fails the job instead of reserving its memory.

/// S3's limits.
pub const MAX_PARTS: u64 = 10_000;
pub const MIN_PART: u64 = 5 << 20;
pub const MAX_PART: u64 = 5 << 30;
pub const MAX_OBJECT: u64 = 5 << 40;

/// Parts of a file of unknown length double in size every this many parts
/// (capped at 5 GiB), so that 10,000 parts hold 5 TiB whatever `part_size`.
const GROWTH_EVERY: u64 = 500;

use serde::{Deserialize, Serialize};

/// The sizes of a file's parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartPlan {
    /// The size is known: every part but the last is `part`.
    Known { size: u64, part: u64 },
    /// The size is unknown (chunked transfer): parts grow from `first`.
    Growing { first: u64, max_object: u64 },
}

impl PartPlan {
    /// The plan for a file of `size` bytes (if known) with the configured
    /// `part_size`, or why such a file cannot be stored.
    pub fn new(size: Option<u64>, part_size: u64, max_object: u64) -> Result<PartPlan, String> {
        let max_object = max_object.min(MAX_OBJECT);
        let part_size = part_size.clamp(MIN_PART, MAX_PART);
        match size {
            Some(size) if size > max_object => Err(format!(
                "the origin announces {size} bytes, more than the {max_object} a stored file may \
                 have (transfer.max_file_bytes, at most S3's 5 TiB)"
            )),
            Some(size) => Ok(PartPlan::Known {
                size,
                part: part_size.max(size.div_ceil(MAX_PARTS)).min(MAX_PART),
            }),
            None => Ok(PartPlan::Growing {
                first: part_size,
                max_object,
            }),
        }
    }

    /// The size of part `n` (1-based): the bytes to buffer before shipping it.
    pub fn part_size(&self, n: u64) -> u64 {
        match *self {
            PartPlan::Known { size, part } => part.min(size.saturating_sub((n - 1) * part)),
            PartPlan::Growing { first, .. } => {
                let doublings = ((n - 1) / GROWTH_EVERY).min(20) as u32;
                first.saturating_mul(1 << doublings).min(MAX_PART)
            }
        }
    }

    /// Checks that `total` bytes, received so far, may still be stored.
    pub fn admits(&self, total: u64) -> Result<(), String> {
        let max = match *self {
            PartPlan::Known { size, .. } => size,
            PartPlan::Growing { max_object, .. } => max_object,
        };
        if total > max {
            return Err(format!(
                "more than {max} bytes arrived (transfer.max_file_bytes, or the announced size)"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;
    const DEFAULT_PART: u64 = 8 << 20;

    /// Cuts `size` bytes by the plan: the parts' sizes, in order.
    fn cut(plan: &PartPlan, size: u64) -> Vec<u64> {
        let mut parts = Vec::new();
        let mut left = size;
        while left > 0 {
            let p = plan.part_size(parts.len() as u64 + 1).min(left);
            assert!(p > 0, "a part of zero bytes at {left} left");
            parts.push(p);
            left -= p;
        }
        parts
    }

    fn assert_within_limits(parts: &[u64]) {
        assert!(parts.len() as u64 <= MAX_PARTS, "{} parts", parts.len());
        for (i, p) in parts.iter().enumerate() {
            assert!(*p <= MAX_PART, "part {} is {p}", i + 1);
            if i + 1 < parts.len() {
                assert!(*p >= MIN_PART, "part {} is {p}, below 5 MiB", i + 1);
            }
        }
    }

    #[test]
    fn known_sizes_at_the_edges_fit_s3() {
        for size in [1, 5 * GIB, 48_800_000_000, MAX_OBJECT] {
            let plan = PartPlan::new(Some(size), DEFAULT_PART, MAX_OBJECT).unwrap();
            let parts = cut(&plan, size);
            assert_within_limits(&parts);
            assert_eq!(parts.iter().sum::<u64>(), size);
        }
        let one = PartPlan::new(Some(1), DEFAULT_PART, MAX_OBJECT).unwrap();
        assert_eq!(one.part_size(1), 1, "a tiny file buffers only itself");
    }

    #[test]
    fn a_file_over_the_maximum_is_refused_before_anything_is_buffered() {
        let e = PartPlan::new(Some(MAX_OBJECT + 1), DEFAULT_PART, MAX_OBJECT).unwrap_err();
        assert!(e.contains(&(MAX_OBJECT + 1).to_string()), "{e}");
        let e = PartPlan::new(Some(10_000_000_000_000_000), DEFAULT_PART, u64::MAX).unwrap_err();
        assert!(e.contains("10000000000000000"), "{e}");
        // A configured maximum below S3's is the one that applies.
        assert!(PartPlan::new(Some(GIB + 1), DEFAULT_PART, GIB).is_err());
    }

    #[test]
    fn unknown_lengths_reach_five_tib_in_ten_thousand_parts() {
        for part in [MIN_PART, DEFAULT_PART, 64 << 20, MAX_PART] {
            let plan = PartPlan::new(None, part, MAX_OBJECT).unwrap();
            let capacity: u64 = (1..=MAX_PARTS).map(|n| plan.part_size(n)).sum();
            assert!(
                capacity >= MAX_OBJECT,
                "part_size {part}: only {capacity} bytes"
            );
            for size in [1, 60_000_000_000, MAX_OBJECT] {
                assert_within_limits(&cut(&plan, size));
            }
            assert!(plan.admits(MAX_OBJECT).is_ok());
            assert!(plan.admits(MAX_OBJECT + 1).is_err());
        }
    }

    #[test]
    fn parts_never_exceed_five_gib_whatever_the_size() {
        let plan = PartPlan::new(Some(MAX_OBJECT), MAX_PART, MAX_OBJECT).unwrap();
        assert_eq!(plan.part_size(1), MAX_PART);
        let plan = PartPlan::new(None, MAX_PART, MAX_OBJECT).unwrap();
        assert_eq!(plan.part_size(9_999), MAX_PART);
    }
}
