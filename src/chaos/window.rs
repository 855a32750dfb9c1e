//! When a fault is active: one window, or windows repeating every period.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Window {
    pub start_s: f64,
    /// Length of each window.
    pub length_s: f64,
    /// Period of repeating windows (`None`: a single window).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every_s: Option<f64>,
    /// No repeating window starts at or after this time (`None`: forever).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until_s: Option<f64>,
}

impl Window {
    pub fn once(start_s: f64, length_s: f64) -> Window {
        Window {
            start_s,
            length_s,
            every_s: None,
            until_s: None,
        }
    }

    pub fn repeating(start_s: f64, every_s: f64, length_s: f64, until_s: Option<f64>) -> Window {
        Window {
            start_s,
            length_s,
            every_s: Some(every_s),
            until_s,
        }
    }

    /// Whether the window is open at `now_s`.
    pub fn active(&self, now_s: f64) -> bool {
        if now_s < self.start_s {
            return false;
        }
        match self.every_s {
            None => now_s < self.start_s + self.length_s,
            Some(every) => {
                let k = ((now_s - self.start_s) / every).floor();
                let opened = self.start_s + k * every;
                if self.until_s.is_some_and(|u| opened >= u) {
                    return false;
                }
                now_s < opened + self.length_s
            }
        }
    }

    /// When the last window closes; `None` for windows repeating forever.
    pub fn end_s(&self) -> Option<f64> {
        match (self.every_s, self.until_s) {
            (None, _) => Some(self.start_s + self.length_s),
            (Some(every), Some(until)) => {
                let k = ((until - self.start_s) / every).ceil() - 1.0;
                Some(self.start_s + k.max(0.0) * every + self.length_s)
            }
            (Some(_), None) => None,
        }
    }

    /// The open intervals that start before `horizon_s`, for reports to
    /// shade (at most `max` of them).
    pub fn intervals(&self, horizon_s: f64, max: usize) -> Vec<(f64, f64)> {
        match self.every_s {
            None => vec![(self.start_s, self.start_s + self.length_s)],
            Some(every) => {
                let stop = self.until_s.unwrap_or(f64::INFINITY).min(horizon_s);
                (0..)
                    .map(|k| self.start_s + k as f64 * every)
                    .take_while(|s| *s < stop)
                    .take(max)
                    .map(|s| (s, s + self.length_s))
                    .collect()
            }
        }
    }

    /// The next moment at or after `now_s` when the window is closed.
    pub fn closes_after(&self, now_s: f64) -> f64 {
        if !self.active(now_s) {
            return now_s;
        }
        match self.every_s {
            None => self.start_s + self.length_s,
            Some(every) => {
                let k = ((now_s - self.start_s) / every).floor();
                self.start_s + k * every + self.length_s
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_window_is_half_open() {
        let w = Window::once(10.0, 5.0);
        assert!(!w.active(9.99));
        assert!(w.active(10.0) && w.active(14.99));
        assert!(!w.active(15.0));
        assert_eq!(w.end_s(), Some(15.0));
        assert_eq!(w.closes_after(12.0), 15.0);
    }

    #[test]
    fn repeating_windows_stop_at_until() {
        let w = Window::repeating(0.0, 60.0, 10.0, Some(150.0));
        assert!(w.active(5.0) && !w.active(15.0) && w.active(65.0) && w.active(125.0));
        assert!(!w.active(185.0), "no window opens at 180 >= until 150");
        assert_eq!(w.end_s(), Some(130.0));
        assert_eq!(
            w.intervals(1e9, 10),
            vec![(0.0, 10.0), (60.0, 70.0), (120.0, 130.0)]
        );
        assert_eq!(w.closes_after(61.0), 70.0);
    }
}
