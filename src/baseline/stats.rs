//! Small, dependency-free statistics: robust location and scale, and the
//! tail probabilities the detectors need (binomial, Poisson, normal).
//!
//! Every function is total: it accepts any `f64` (NaN, infinities, negative
//! counts) and returns a finite, clamped answer instead of panicking. Tail
//! probabilities are computed from the regularized incomplete beta and gamma
//! functions (Lentz continued fractions, Numerical Recipes §6.2 and §6.4), so
//! counts may be fractional: the detectors divide counts by an
//! over-dispersion factor (quasi-binomial / quasi-Poisson).
//!
//! Never does: allocation beyond the caller's slice, I/O, randomness.

/// Scale factor that makes the MAD a consistent estimator of a normal σ.
pub const MAD_TO_SIGMA: f64 = 1.482_602_218_505_602;

/// Median of `values`, reordering the slice. `None` when empty. NaNs sort last.
pub fn median(values: &mut [f64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mid = n / 2;
    let (_, upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        return Some(upper);
    }
    let lower = values[..mid]
        .iter()
        .copied()
        .max_by(f64::total_cmp)
        .unwrap_or(upper);
    Some((lower + upper) / 2.0)
}

/// Median and median absolute deviation (unscaled) of `values`, reordering the slice.
pub fn median_mad(values: &mut [f64]) -> Option<(f64, f64)> {
    let center = median(values)?;
    for v in values.iter_mut() {
        *v = (*v - center).abs();
    }
    let mad = median(values)?;
    Some((center, mad))
}

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, 9 terms; relative error ~1e-15).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection keeps accuracy near zero.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).abs().ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// `v > 0`, false for NaN (reads better negated than `!(v > 0.0)`).
fn positive(v: f64) -> bool {
    v > 0.0
}

const EPS: f64 = 1e-15;
const TINY: f64 = 1e-300;
const MAX_ITER: usize = 500;

/// Regularized incomplete beta `I_x(a, b)`, for `a, b > 0`; clamped to `[0, 1]`.
pub fn inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x.is_nan() || !positive(a) || !positive(b) {
        return 1.0; // conservative: callers use it as a tail p-value
    }
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let front = ln_front.exp();
    let value = if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(a, b, x) / a
    } else {
        1.0 - front * beta_cf(b, a, 1.0 - x) / b
    };
    unit(value)
}

/// Clamps to `[0, 1]`; NaN (from overflowing inputs) becomes the conservative 1.
fn unit(value: f64) -> f64 {
    if value.is_nan() {
        1.0
    } else {
        value.clamp(0.0, 1.0)
    }
}

fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=MAX_ITER {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// Regularized upper incomplete gamma `Q(a, x) = Γ(a, x) / Γ(a)`, for `a > 0`.
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if x.is_nan() || !positive(a) {
        return 1.0;
    }
    if x <= 0.0 {
        return 1.0;
    }
    if x.is_infinite() {
        return 0.0;
    }
    let ln_front = -x + a * x.ln() - ln_gamma(a);
    let value = if x < a + 1.0 {
        // Series for P, then complement.
        let mut ap = a;
        let mut del = 1.0 / a;
        let mut sum = del;
        for _ in 0..MAX_ITER {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * EPS {
                break;
            }
        }
        1.0 - sum * ln_front.exp()
    } else {
        // Continued fraction for Q.
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..=MAX_ITER {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            d = if d.abs() < TINY { TINY } else { d };
            c = b + an / c;
            c = if c.abs() < TINY { TINY } else { c };
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < EPS {
                break;
            }
        }
        ln_front.exp() * h
    };
    unit(value)
}

/// `P(Z ≥ z)` for a standard normal `Z`.
pub fn normal_sf(z: f64) -> f64 {
    if z.is_nan() {
        return 1.0;
    }
    let half_tail = 0.5 * gamma_q(0.5, z * z / 2.0);
    if z >= 0.0 { half_tail } else { 1.0 - half_tail }
}

/// `P(T ≥ t)` for Student's `T` with `df` degrees of freedom (`df` may be
/// fractional; non-positive `df` is treated as 1, the heaviest tail).
pub fn student_t_sf(t: f64, df: f64) -> f64 {
    if t.is_nan() {
        return 1.0;
    }
    let df = if df.is_finite() && df > 0.0 { df } else { 1.0 };
    if t.is_infinite() {
        return if t > 0.0 { 0.0 } else { 1.0 };
    }
    let half_tail = 0.5 * inc_beta(df / 2.0, 0.5, df / (df + t * t));
    if t >= 0.0 { half_tail } else { 1.0 - half_tail }
}

/// Effective degrees of freedom of a spread estimated by the MAD of `points`
/// values (the MAD is about 37 % efficient at the normal), at least 1.
pub fn mad_degrees_of_freedom(points: usize) -> f64 {
    (0.37 * points as f64).max(1.0)
}

/// `P(X ≥ k)` for `X ~ Binomial(n, p)`, continuous in `k` and `n`
/// (`I_p(k, n − k + 1)`), so over-dispersion can divide both.
pub fn binomial_sf(k: f64, n: f64, p: f64) -> f64 {
    if !positive(k) {
        return 1.0;
    }
    if !positive(n) || !positive(p) {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let k = k.min(n);
    inc_beta(k, n - k + 1.0, p)
}

/// `P(X ≤ k)` for `X ~ Poisson(lambda)`, continuous in `k` (`Q(k + 1, λ)`).
pub fn poisson_cdf(k: f64, lambda: f64) -> f64 {
    if !positive(lambda) {
        return 1.0;
    }
    if k.is_nan() || k < 0.0 {
        return 0.0;
    }
    gamma_q(k + 1.0, lambda)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn median_and_mad_of_small_slices() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0]), Some(3.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(
            median_mad(&mut [1.0, 2.0, 3.0, 4.0, 100.0]),
            Some((3.0, 1.0))
        );
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        assert!(ln_gamma(1.0).abs() < 1e-12 && ln_gamma(2.0).abs() < 1e-12);
        assert!(close(ln_gamma(5.0), 24.0_f64.ln(), 1e-12));
        assert!(close(
            ln_gamma(0.5),
            std::f64::consts::PI.sqrt().ln(),
            1e-12
        ));
        assert!(close(ln_gamma(101.0), 363.739_375_555_563_5, 1e-12));
    }

    #[test]
    fn binomial_tail_matches_exact_sums() {
        // P(X >= 3 | n = 9, p = 0.004), summed by hand.
        let exact: f64 = (3..=9)
            .map(|k| {
                let c =
                    (ln_gamma(10.0) - ln_gamma(k as f64 + 1.0) - ln_gamma(10.0 - k as f64)).exp();
                c * 0.004f64.powi(k) * 0.996f64.powi(9 - k)
            })
            .sum();
        assert!(close(binomial_sf(3.0, 9.0, 0.004), exact, 1e-9), "{exact}");
        assert_eq!(binomial_sf(0.0, 9.0, 0.5), 1.0);
        assert!(close(binomial_sf(5.0, 10.0, 0.5), 0.623_046_875, 1e-10));
        assert!(binomial_sf(270.0, 1000.0, 0.004) < 1e-200);
    }

    #[test]
    fn poisson_and_normal_tails_match_tables() {
        // P(X <= 2 | λ = 5) = e^-5 (1 + 5 + 12.5)
        assert!(close(poisson_cdf(2.0, 5.0), (-5.0f64).exp() * 18.5, 1e-10));
        assert!(close(
            poisson_cdf(100.0, 100.0),
            0.526_562_198_530_017_1,
            1e-9
        ));
        assert!(close(normal_sf(1.959_963_984_540_054), 0.025, 1e-9));
        assert!(close(normal_sf(-1.0), 0.841_344_746_068_543, 1e-10));
        assert!(close(normal_sf(6.0), 9.865_876_450_377e-10, 1e-8));
        assert_eq!(normal_sf(0.0), 0.5);
    }

    #[test]
    fn student_t_tail_matches_tables() {
        // t(0.975, 10) = 2.228139; t(0.995, 5) = 4.032143; df = 1 is Cauchy.
        assert!(close(student_t_sf(2.228_138_851_986_27, 10.0), 0.025, 1e-7));
        assert!(close(student_t_sf(4.032_142_983_557_536, 5.0), 0.005, 1e-7));
        assert!(close(student_t_sf(1.0, 1.0), 0.25, 1e-10));
        assert!(close(student_t_sf(-1.0, 1.0), 0.75, 1e-10));
        assert!(student_t_sf(5.0, 1e6) > normal_sf(5.0) * 0.99);
        assert!(student_t_sf(5.0, 7.0) > 100.0 * normal_sf(5.0));
    }

    #[test]
    fn nonsense_inputs_give_clamped_answers() {
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 0.0, 1e300] {
            for w in [f64::NAN, f64::INFINITY, -1.0, 0.0, 0.3, 1e300] {
                for p in [
                    binomial_sf(v, w, 0.1),
                    poisson_cdf(v, w),
                    normal_sf(v),
                    gamma_q(v, w),
                    student_t_sf(v, w),
                ] {
                    assert!((0.0..=1.0).contains(&p), "{v} {w} -> {p}");
                }
            }
        }
    }
}
