//! Small number helpers shared by the scenarios and the report.

/// The `p`th percentile (nearest rank) of sorted values; NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// How many of `sorted` fall in each bucket of `width`, from 0 to the last one: shows a long tail.
pub fn histogram(sorted: &[f64], width: f64) -> Vec<usize> {
    let mut buckets = Vec::new();
    for t in sorted {
        let b = (t.max(0.0) / width) as usize;
        if buckets.len() <= b {
            buckets.resize(b + 1, 0);
        }
        buckets[b] += 1;
    }
    buckets
}

/// `x` rounded to `decimals` places.
pub fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// KiB as MiB, two decimals.
pub fn mib(kib: u64) -> f64 {
    round(kib as f64 / 1024.0, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn histogram_buckets_by_width() {
        assert_eq!(histogram(&[0.5, 1.0, 9.9, 10.0, 35.0], 10.0), vec![3, 1, 0, 1]);
    }
}
