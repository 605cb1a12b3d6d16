//! The last minutes of one container, for the overview's sparklines: one point per `step`,
//! at most `len` of them. Kept in the daemon's memory only while someone watches and the
//! container runs; it starts over when either ends.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Point {
    /// Unix milliseconds.
    pub at_ms: i64,
    /// Of its CPU limit, percent.
    pub cpu_of_limit: f64,
    pub memory_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct History {
    points: VecDeque<Point>,
    step_ms: i64,
    len: usize,
}

impl History {
    pub fn new(step_ms: i64, len: usize) -> History {
        History {
            points: VecDeque::with_capacity(len),
            step_ms,
            len: len.max(1),
        }
    }

    /// Records `p` unless the last point is less than a step old (Docker reads about once a
    /// second; the sparkline needs less).
    pub fn push(&mut self, p: Point) {
        if self
            .points
            .back()
            .is_some_and(|last| p.at_ms - last.at_ms < self.step_ms)
        {
            return;
        }
        if self.points.len() == self.len {
            self.points.pop_front();
        }
        self.points.push_back(p);
    }

    pub fn points(&self) -> Vec<Point> {
        self.points.iter().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Point {
        Point {
            at_ms: ms,
            cpu_of_limit: ms as f64,
            memory_bytes: 0,
        }
    }

    #[test]
    fn keeps_one_point_per_step_and_only_the_last_ones() {
        let mut h = History::new(2000, 3);
        for ms in [0, 1000, 1999, 2000, 3500, 4100, 6100, 8200] {
            h.push(at(ms));
        }
        let kept: Vec<i64> = h.points().iter().map(|p| p.at_ms).collect();
        assert_eq!(kept, vec![4100, 6100, 8200]);
    }
}
