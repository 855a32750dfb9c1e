//! The one schedule representation every load shape compiles into: a
//! piecewise-linear rate curve r(t), payments per second over simulated
//! seconds. Constant rates, k6-style ramping stages, a 24-hour day shape and
//! named flash spikes all become a list of (time, rate) points; arrivals are
//! then drawn by inverting the cumulative curve (see [`super::schedule`]).

use super::spec::{LoadSpec, DEFAULT_DURATION_S, DEFAULT_RATE_PER_S};

/// Ramps of spikes are cut into this many linear pieces (the product of a
/// ramp and a sloped base is not linear; eight pieces keep the error tiny).
const RAMP_PIECES: usize = 8;

/// How far either side of a breakpoint to look for a step.
const STEP_PROBE_S: f64 = 1e-6;

#[derive(Clone, Debug, PartialEq)]
pub struct RateCurve {
    /// (seconds, payments per second), times non-decreasing from 0; a time
    /// appears twice where the rate steps.
    points: Vec<(f64, f64)>,
    /// Cumulative expected arrivals at each point.
    cumulative: Vec<f64>,
}

impl RateCurve {
    /// Compiles the spec's curve shape; `None` for a trace replay.
    /// `scale` multiplies every rate (`rate_scale` times `--rate-scale`).
    pub fn from_spec(spec: &LoadSpec, scale: f64) -> Option<RateCurve> {
        if spec.trace.is_some() {
            return None;
        }
        let base: Vec<(f64, f64)> = if !spec.stages.is_empty() {
            let mut t = 0.0;
            let mut pts = vec![(0.0, spec.start_rate_per_s)];
            for st in &spec.stages {
                t += st.duration_s;
                pts.push((t, st.target_per_s));
            }
            pts
        } else if let Some(day) = &spec.day {
            let h = day.hour_s;
            let m = |i: usize| day.base_rate_per_s * day.hourly.get(i % 24).copied().unwrap_or(1.0);
            // Each hour's multiplier holds at the middle of its hour; the rate
            // moves linearly between middles, wrapping midnight.
            let midnight = (m(23) + m(0)) / 2.0;
            let mut pts = vec![(0.0, midnight)];
            pts.extend((0..24).map(|i| ((i as f64 + 0.5) * h, m(i))));
            pts.push((24.0 * h, midnight));
            pts
        } else {
            let rate = spec.rate_per_s.unwrap_or(DEFAULT_RATE_PER_S);
            let d = spec.duration_s.unwrap_or(DEFAULT_DURATION_S);
            vec![(0.0, rate), (d, rate)]
        };
        let end = base.last().map_or(0.0, |p| p.0);

        // Every time where the product can bend: base points and spike edges.
        let mut times: Vec<f64> = base.iter().map(|p| p.0).collect();
        for s in &spec.spikes {
            let edges = [
                (s.start_s - s.ramp_s, s.start_s),
                (
                    s.start_s + s.duration_s,
                    s.start_s + s.duration_s + s.ramp_s,
                ),
            ];
            for (a, b) in edges {
                for k in 0..=RAMP_PIECES {
                    times.push(a + (b - a) * k as f64 / RAMP_PIECES as f64);
                }
            }
        }
        times.retain(|t| (0.0..=end).contains(t));
        times.sort_by(|a, b| a.total_cmp(b));
        times.dedup_by(|a, b| (*a - *b).abs() < 1e-9);

        // A spike without a ramp is a step: keep both sides of it, so the
        // curve jumps instead of sloping from the previous point.
        let rate = |t: f64| {
            let spikes: f64 = spec.spikes.iter().map(|s| spike_factor(s, t)).product();
            (interpolate(&base, t) * spikes * scale).max(0.0)
        };
        let mut points: Vec<(f64, f64)> = Vec::with_capacity(times.len() * 2);
        for &t in &times {
            let (left, right) = (rate(t - STEP_PROBE_S), rate(t + STEP_PROBE_S));
            if t > 0.0
                && t < end
                && (left - right).abs() > 1e-9 * left.abs().max(right.abs()).max(1.0)
            {
                points.push((t, left));
                points.push((t, right));
            } else {
                points.push((t, rate(t)));
            }
        }
        let mut cumulative = Vec::with_capacity(points.len());
        let mut acc = 0.0;
        for (i, p) in points.iter().enumerate() {
            if i > 0 {
                let q = points[i - 1];
                acc += (p.0 - q.0) * (p.1 + q.1) / 2.0;
            }
            cumulative.push(acc);
        }
        Some(RateCurve { points, cumulative })
    }

    pub fn duration_s(&self) -> f64 {
        self.points.last().map_or(0.0, |p| p.0)
    }

    /// Expected number of arrivals over the whole curve.
    pub fn expected_arrivals(&self) -> f64 {
        self.cumulative.last().copied().unwrap_or(0.0)
    }

    /// Expected arrivals by simulated second `t`: the area under the curve
    /// from 0 to `t`.
    pub fn arrivals_by(&self, t: f64) -> f64 {
        let i = self.points.partition_point(|p| p.0 <= t);
        if i == 0 {
            return 0.0;
        }
        if i == self.points.len() {
            return self.expected_arrivals();
        }
        // points[i - 1].0 <= t < points[i].0, so the piece has a width.
        let (a, b) = (self.points[i - 1], self.points[i]);
        let rate = a.1 + (b.1 - a.1) * (t - a.0) / (b.0 - a.0);
        self.cumulative[i - 1] + (t - a.0) * (a.1 + rate) / 2.0
    }

    /// The most arrivals expected in any `window_s` simulated seconds: how
    /// full a log that keeps `window_s` of messages gets, so it can be sized
    /// up front without room for the whole run.
    ///
    /// The count in the window starting at t, F(t) = C(t + w) - C(t), has
    /// the slope r(t + w) - r(t). Between the starts where either end of
    /// the window meets a point of the curve that slope is linear, so F is
    /// a parabola there: its largest value is at one of those starts or at
    /// the parabola's vertex, both found exactly from three values.
    pub fn busiest_window(&self, window_s: f64) -> f64 {
        let last_start = self.duration_s() - window_s;
        if last_start <= 0.0 {
            return self.expected_arrivals();
        }
        let count = |t: f64| self.arrivals_by(t + window_s) - self.arrivals_by(t);
        let mut starts: Vec<f64> = self
            .points
            .iter()
            .flat_map(|p| [p.0, p.0 - window_s])
            .chain([0.0, last_start])
            .filter(|t| (0.0..=last_start).contains(t))
            .collect();
        starts.sort_by(f64::total_cmp);
        starts.dedup();
        let mut best = starts.iter().map(|&t| count(t)).fold(0.0, f64::max);
        for pair in starts.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let (h, mid) = ((b - a) / 2.0, (a + b) / 2.0);
            let (fa, fm, fb) = (count(a), count(mid), count(b));
            let bend = fa - 2.0 * fm + fb;
            if bend < 0.0 {
                let vertex = mid - (fb - fa) * h / (2.0 * bend);
                best = best.max(count(vertex.clamp(a, b)));
            }
        }
        best
    }

    pub fn peak_rate(&self) -> f64 {
        self.points.iter().map(|p| p.1).fold(0.0, f64::max)
    }

    pub fn rate_at(&self, t: f64) -> f64 {
        interpolate(&self.points, t)
    }

    pub(super) fn points(&self) -> &[(f64, f64)] {
        &self.points
    }

    pub(super) fn cumulative(&self) -> &[f64] {
        &self.cumulative
    }
}

/// The spike's multiplier at time t: 1 outside, `multiplier` in its window,
/// linear on the ramps.
fn spike_factor(s: &super::spec::Spike, t: f64) -> f64 {
    let end = s.start_s + s.duration_s;
    let full = s.multiplier;
    let ramp = |x: f64| 1.0 + (full - 1.0) * x.clamp(0.0, 1.0);
    if t >= s.start_s && t < end {
        full
    } else if t < s.start_s && s.ramp_s > 0.0 {
        ramp(1.0 - (s.start_s - t) / s.ramp_s)
    } else if t >= end && s.ramp_s > 0.0 {
        ramp(1.0 - (t - end) / s.ramp_s)
    } else {
        1.0
    }
}

fn interpolate(points: &[(f64, f64)], t: f64) -> f64 {
    match points.iter().position(|p| p.0 >= t) {
        None => points.last().map_or(0.0, |p| p.1),
        Some(0) => points[0].1,
        Some(i) => {
            let (a, b) = (points[i - 1], points[i]);
            if b.0 - a.0 <= 0.0 {
                b.1
            } else {
                a.1 + (b.1 - a.1) * (t - a.0) / (b.0 - a.0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::spec::{DayShape, Spike, Stage};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * b.abs().max(1.0)
    }

    /// Stages from 0/s, each (target rate, duration).
    fn staged(stages: &[(f64, f64)]) -> LoadSpec {
        LoadSpec {
            start_rate_per_s: 0.0,
            stages: stages
                .iter()
                .map(|&(target_per_s, duration_s)| Stage {
                    target_per_s,
                    duration_s,
                })
                .collect(),
            ..LoadSpec::default()
        }
    }

    /// A constant rate, with `spikes` on it.
    fn constant(rate: f64, duration_s: f64, spikes: Vec<Spike>) -> LoadSpec {
        LoadSpec {
            rate_per_s: Some(rate),
            duration_s: Some(duration_s),
            spikes,
            ..LoadSpec::default()
        }
    }

    fn spike(start_s: f64, duration_s: f64, multiplier: f64, ramp_s: f64) -> Spike {
        Spike {
            name: "door-buster".into(),
            start_s,
            duration_s,
            multiplier,
            ramp_s,
        }
    }

    fn ramp_up_and_down() -> RateCurve {
        RateCurve::from_spec(&staged(&[(100.0, 10.0), (0.0, 10.0)]), 1.0).unwrap()
    }

    #[test]
    fn arrivals_by_integrates_the_curve_up_to_any_time() {
        let c = ramp_up_and_down();
        assert!(close(c.arrivals_by(-1.0), 0.0));
        assert!(close(c.arrivals_by(5.0), 125.0), "{}", c.arrivals_by(5.0));
        assert!(close(c.arrivals_by(10.0), 500.0));
        assert!(close(c.arrivals_by(15.0), 875.0));
        assert!(close(c.arrivals_by(99.0), 1_000.0));
    }

    #[test]
    fn busiest_window_finds_the_peak_between_the_curves_points() {
        let c = ramp_up_and_down();
        // Centred on the peak at 10 s, from 9 s to 11 s: 2 x 95. The best
        // start, 9 s, is no point of the curve nor a point less the window.
        assert!(
            close(c.busiest_window(2.0), 190.0),
            "{}",
            c.busiest_window(2.0)
        );
        assert!(
            close(c.busiest_window(10.0), 750.0),
            "{}",
            c.busiest_window(10.0)
        );
        assert!(close(c.busiest_window(20.0), 1_000.0));
        assert!(
            close(c.busiest_window(3_600.0), 1_000.0),
            "a window past the end holds all"
        );
        let flat = RateCurve::from_spec(&constant(40.0, 60.0, vec![]), 1.0).unwrap();
        assert!(close(flat.busiest_window(10.0), 400.0));
    }

    #[test]
    fn busiest_window_holds_a_step_spike() {
        let spec = constant(10.0, 1_000.0, vec![spike(500.0, 50.0, 10.0, 0.0)]);
        let c = RateCurve::from_spec(&spec, 1.0).unwrap();
        // The spike's 50 s at 100/s and 50 s either side at 10/s.
        assert!(
            close(c.busiest_window(100.0), 5_500.0),
            "{}",
            c.busiest_window(100.0)
        );
        assert!(close(c.busiest_window(20.0), 2_000.0));
    }

    #[test]
    fn constant_rate_integrates_to_rate_times_duration() {
        let spec = constant(40.0, 60.0, vec![]);
        let c = RateCurve::from_spec(&spec, 1.0).unwrap();
        assert!(close(c.expected_arrivals(), 2_400.0));
        assert!(close(c.duration_s(), 60.0));
        let doubled = RateCurve::from_spec(&spec, 2.0).unwrap();
        assert!(
            close(doubled.expected_arrivals(), 4_800.0),
            "scale doubles every rate"
        );
    }

    #[test]
    fn stages_ramp_linearly_like_k6() {
        let spec = staged(&[(100.0, 10.0), (100.0, 20.0), (0.0, 10.0)]);
        let c = RateCurve::from_spec(&spec, 1.0).unwrap();
        // Two triangles of 500 and a plateau of 2000.
        assert!(close(c.expected_arrivals(), 3_000.0));
        assert!(close(c.rate_at(5.0), 50.0));
        assert!(close(c.rate_at(35.0), 50.0));
    }

    #[test]
    fn day_shape_holds_each_hour_at_its_middle_and_compresses_time() {
        let mut hourly = vec![1.0; 24];
        hourly[12] = 10.0;
        let spec = LoadSpec {
            day: Some(DayShape {
                base_rate_per_s: 2.0,
                hourly,
                hour_s: 60.0,
            }),
            ..LoadSpec::default()
        };
        let c = RateCurve::from_spec(&spec, 1.0).unwrap();
        assert!(close(c.duration_s(), 1_440.0));
        assert!(close(c.rate_at(12.5 * 60.0), 20.0));
        assert!(close(c.rate_at(3.5 * 60.0), 2.0));
        assert!(close(c.peak_rate(), 20.0));
        // The flat day would give 2/s * 1440 s; hour 12 adds a triangle-ish bump.
        assert!(c.expected_arrivals() > 2_880.0);
    }

    #[test]
    fn spike_multiplies_its_window_and_ramps() {
        let spec = constant(10.0, 100.0, vec![spike(40.0, 10.0, 5.0, 4.0)]);
        let c = RateCurve::from_spec(&spec, 1.0).unwrap();
        assert!(close(c.rate_at(45.0), 50.0));
        assert!(close(c.rate_at(38.0), 30.0), "half-way up the ramp");
        assert!(close(c.rate_at(20.0), 10.0));
        // 1000 base + 10 s * 40 extra + two ramps of 4 s * 40 / 2.
        assert!(close(c.expected_arrivals(), 1_000.0 + 400.0 + 160.0));
    }
}
