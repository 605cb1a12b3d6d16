//! Medians, spreads, ratios and the final table.

/// (median, min, max) of a sample.
pub fn summary(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    (median, v[0], v[n - 1])
}

pub struct Row {
    pub case: String,
    pub berth: String,
    pub baseline: String,
    pub result: String,
    pub target: String,
    pub met: bool,
}

#[derive(Default)]
pub struct Report {
    rows: Vec<Row>,
}

impl Report {
    /// A paired case: Berth and baseline times per round, ratio per round.
    /// `max_ratio`: the target, if the case has one.
    pub fn paired(&mut self, case: &str, berth: &[f64], base: &[f64], max_ratio: Option<f64>) {
        let ratios: Vec<f64> = berth.iter().zip(base).map(|(b, d)| b / d).collect();
        let (bm, blo, bhi) = summary(berth);
        let (dm, dlo, dhi) = summary(base);
        let (rm, rlo, rhi) = summary(&ratios);
        self.rows.push(Row {
            case: case.to_string(),
            berth: format!("{bm:.0} ms ({blo:.0}–{bhi:.0})"),
            baseline: format!("{dm:.0} ms ({dlo:.0}–{dhi:.0})"),
            result: format!("{rm:.2}× ({rlo:.2}–{rhi:.2})"),
            target: max_ratio.map_or("—".into(), |m| format!("≤ {m:.2}×")),
            met: max_ratio.is_none_or(|m| rm <= m),
        });
        eprintln!("   {case}: berth {bm:.0} ms, docker {dm:.0} ms, ratio {rm:.2}");
    }

    pub fn single(
        &mut self,
        case: &str,
        berth: String,
        baseline: String,
        result: String,
        target: &str,
        met: bool,
    ) {
        eprintln!("   {case}: {result}");
        self.rows.push(Row {
            case: case.into(),
            berth,
            baseline,
            result,
            target: target.into(),
            met,
        });
    }

    /// A Markdown table (pasted into the README's Performance section).
    pub fn print(&self) {
        println!("| case | Berth (median, min–max) | bare Docker | result | target | met |");
        println!("|---|---|---|---|---|---|");
        for r in &self.rows {
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                r.case,
                r.berth,
                r.baseline,
                r.result,
                r.target,
                if r.met { "yes" } else { "**no**" }
            );
        }
    }
}
