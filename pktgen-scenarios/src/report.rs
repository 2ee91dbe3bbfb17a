//! Reports: named figures (units in the names: `_us`, `_kib`, `_s`,
//! `_percent`, `_pps`), printed as an aligned table and written as JSON.
//!
//! A figure that does not apply to a target (RSS per call of the null
//! forwarder, ng rates of anything without ng) is present with value
//! `null`, so every report of a scenario kind has the same keys and a
//! missing key is a bug the smoke test catches.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReportError {
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a pktgen report: {reason}")]
    NotAReport { path: PathBuf, reason: String },
    #[error("ratio {spec:?} must be LABEL/LABEL with labels of the columns ({labels})")]
    BadRatio { spec: String, labels: String },
}

/// Figures in the order they were set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures(Vec<(String, Option<f64>)>);

impl Figures {
    /// Sets (or replaces) a figure; non-finite values become `None`, as JSON
    /// has no NaN.
    pub fn set(&mut self, name: &str, value: Option<f64>) {
        let value = value.filter(|v| v.is_finite());
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some(e) => e.1 = value,
            None => self.0.push((name.to_string(), value)),
        }
    }

    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.iter().find(|(n, _)| n == name).and_then(|(_, v)| *v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<f64>)> {
        self.0.iter().map(|(n, v)| (n.as_str(), *v))
    }

    /// Copies every figure of `other` (later ones win).
    pub fn extend(&mut self, other: &Figures) {
        for (n, v) in other.iter() {
            self.set(n, v);
        }
    }

    pub fn to_json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(n, v)| (n.clone(), v.map_or(Value::Null, |v| json!(v))))
                .collect(),
        )
    }

    fn from_json(v: &Value) -> Option<Figures> {
        let mut f = Figures::default();
        for (n, v) in v.as_object()? {
            f.set(n, if v.is_null() { None } else { Some(v.as_f64()?) });
        }
        Some(f)
    }
}

/// One step of a ramp.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub calls: u32,
    pub passed: bool,
    pub figures: Figures,
}

/// Everything one run of one scenario against one target measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub scenario: String,
    pub description: String,
    pub kind: &'static str,
    /// Column name in side-by-side tables (`rtpbolt`, `rtpengine`, `null`).
    pub label: String,
    /// `ng 127.0.0.1:2223` or `null 127.0.0.1:9000`.
    pub target: String,
    pub relay_pid: Option<u32>,
    pub figures: Figures,
    pub steps: Vec<Step>,
    /// Why a figure is null, or why a ramp stopped.
    pub notes: Vec<String>,
}

impl Report {
    pub fn to_json(&self) -> Value {
        json!({
            "tool": "rtpbolt-pktgen",
            "version": env!("CARGO_PKG_VERSION"),
            "scenario": self.scenario,
            "description": self.description,
            "kind": self.kind,
            "label": self.label,
            "target": self.target,
            "relay_pid": self.relay_pid,
            "figures": self.figures.to_json(),
            "steps": self.steps.iter().map(|s| json!({
                "calls": s.calls,
                "passed": s.passed,
                "figures": s.figures.to_json(),
            })).collect::<Vec<_>>(),
            "notes": self.notes,
        })
    }

    pub fn write_json(&self, path: &Path) -> Result<(), ReportError> {
        write_json(path, &self.to_json())
    }

    /// The report as an aligned two-column table (plus the ramp's steps).
    pub fn table(&self) -> String {
        let mut out = format!(
            "{} ({}) against {} [{}]\n",
            self.scenario, self.kind, self.target, self.label
        );
        let rows: Vec<Vec<String>> = self
            .figures
            .iter()
            .map(|(n, v)| vec![n.to_string(), fmt_value(v)])
            .collect();
        out.push_str(&align(&["figure", "value"], &rows));
        if !self.steps.is_empty() {
            out.push('\n');
            let rows: Vec<Vec<String>> = self
                .steps
                .iter()
                .map(|s| {
                    let f = |n: &str| fmt_value(s.figures.get(n));
                    vec![
                        s.calls.to_string(),
                        if s.passed { "pass" } else { "FAIL" }.to_string(),
                        f("loss_percent"),
                        f("added_p99_us"),
                        f("relay_cpu_s_per_mpkt"),
                    ]
                })
                .collect();
            out.push_str(&align(
                &[
                    "calls",
                    "step",
                    "loss_percent",
                    "added_p99_us",
                    "relay_cpu_s_per_mpkt",
                ],
                &rows,
            ));
        }
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        out
    }
}

fn write_json(path: &Path, v: &Value) -> Result<(), ReportError> {
    let text = serde_json::to_string_pretty(v).expect("a Value always serializes");
    std::fs::write(path, text + "\n").map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Numbers as a person reads them: counts whole, small values with decimals.
pub fn fmt_value(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v == v.trunc() && v.abs() < 1e15 => format!("{v:.0}"),
        Some(v) if v.abs() >= 1000.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.3}"),
    }
}

/// Left-aligned first column, right-aligned numbers.
fn align(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.zip(&width).enumerate() {
            if i == 0 {
                let _ = write!(s, "{c:<w$}");
            } else {
                let _ = write!(s, "  {c:>w$}");
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(&mut header.iter().copied());
    out.push_str(&line(
        &mut width
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str),
    ));
    for r in rows {
        out.push_str(&line(&mut r.iter().map(String::as_str)));
    }
    out
}

/// One column of a side-by-side table: a label and the report it shows.
pub struct Column {
    pub label: String,
    pub path: PathBuf,
    pub report: Value,
}

impl Column {
    pub fn load(label: &str, path: &Path) -> Result<Column, ReportError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReportError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let report: Value = serde_json::from_str(&text).map_err(|e| ReportError::NotAReport {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        if report.get("figures").and_then(Figures::from_json).is_none() {
            return Err(ReportError::NotAReport {
                path: path.to_path_buf(),
                reason: "no \"figures\" object of numbers and nulls".into(),
            });
        }
        Ok(Column {
            label: label.to_string(),
            path: path.to_path_buf(),
            report,
        })
    }

    fn figures(&self) -> Figures {
        self.report
            .get("figures")
            .and_then(Figures::from_json)
            .unwrap_or_default()
    }
}

/// The side-by-side comparison of one scenario.
pub struct Comparison {
    pub columns: Vec<Column>,
    /// `(numerator, denominator)` column indices.
    pub ratios: Vec<(usize, usize)>,
}

impl Comparison {
    /// `ratios` are `"a/b"` with column labels.
    pub fn new(columns: Vec<Column>, ratios: &[String]) -> Result<Comparison, ReportError> {
        let idx = |l: &str| columns.iter().position(|c| c.label == l);
        let parsed = ratios
            .iter()
            .map(|spec| {
                spec.split_once('/')
                    .and_then(|(a, b)| Some((idx(a)?, idx(b)?)))
                    .ok_or_else(|| ReportError::BadRatio {
                        spec: spec.clone(),
                        labels: columns
                            .iter()
                            .map(|c| c.label.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Comparison {
            columns,
            ratios: parsed,
        })
    }

    /// Figure | one column per report | one per ratio. Rows that are null in
    /// every column are left out.
    pub fn table(&self) -> String {
        let figs: Vec<Figures> = self.columns.iter().map(Column::figures).collect();
        let mut names: Vec<&str> = Vec::new();
        for f in &figs {
            for (n, _) in f.iter() {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        let mut header: Vec<String> = vec!["figure".into()];
        header.extend(self.columns.iter().map(|c| c.label.clone()));
        header.extend(
            self.ratios
                .iter()
                .map(|&(a, b)| format!("{}/{}", self.columns[a].label, self.columns[b].label)),
        );
        let rows: Vec<Vec<String>> = names
            .iter()
            .filter(|n| figs.iter().any(|f| f.get(n).is_some()))
            .map(|n| {
                let mut row = vec![n.to_string()];
                row.extend(figs.iter().map(|f| fmt_value(f.get(n))));
                row.extend(
                    self.ratios
                        .iter()
                        .map(|&(a, b)| fmt_ratio(figs[a].get(n), figs[b].get(n))),
                );
                row
            })
            .collect();
        let scenario = self
            .columns
            .first()
            .and_then(|c| c.report.get("scenario"))
            .and_then(Value::as_str)
            .unwrap_or("?");
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        format!("== {scenario} ==\n{}", align(&header, &rows))
    }

    /// All reports in one document, keyed by label.
    pub fn to_json(&self) -> Value {
        let mut reports = Map::new();
        for c in &self.columns {
            reports.insert(c.label.clone(), c.report.clone());
        }
        json!({ "tool": "rtpbolt-pktgen", "reports": reports })
    }

    pub fn write_json(&self, path: &Path) -> Result<(), ReportError> {
        write_json(path, &self.to_json())
    }
}

fn fmt_ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => format!("{:.2}", a / b),
        _ => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figs(pairs: &[(&str, Option<f64>)]) -> Figures {
        let mut f = Figures::default();
        for (n, v) in pairs {
            f.set(n, *v);
        }
        f
    }

    #[test]
    fn figures_keep_order_replace_and_drop_nan() {
        let mut f = figs(&[("b", Some(1.0)), ("a", Some(2.0))]);
        f.set("b", Some(f64::NAN));
        assert_eq!(f.get("b"), None);
        assert_eq!(f.to_json().to_string(), r#"{"b":null,"a":2.0}"#);
        assert_eq!(Figures::from_json(&f.to_json()), Some(f));
    }

    #[test]
    fn values_format_for_reading() {
        assert_eq!(fmt_value(None), "-");
        assert_eq!(fmt_value(Some(50000.0)), "50000");
        assert_eq!(fmt_value(Some(1234.56)), "1235");
        assert_eq!(fmt_value(Some(12.345)), "12.3");
        assert_eq!(fmt_value(Some(0.12345)), "0.123");
    }

    #[test]
    fn comparison_table_has_ratios_and_skips_empty_rows() {
        let col = |label: &str, f: Figures| Column {
            label: label.into(),
            path: PathBuf::new(),
            report: json!({"scenario": "s", "figures": f.to_json()}),
        };
        let cols = vec![
            col(
                "null",
                figs(&[("pps", Some(100.0)), ("rss_kib", None), ("none", None)]),
            ),
            col(
                "engine",
                figs(&[("pps", Some(50.0)), ("rss_kib", Some(10.0)), ("none", None)]),
            ),
            col(
                "bolt",
                figs(&[("pps", Some(80.0)), ("rss_kib", Some(5.0)), ("none", None)]),
            ),
        ];
        let c = Comparison::new(cols, &["bolt/engine".into(), "bolt/null".into()]).unwrap();
        let t = c.table();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "== s ==");
        assert!(
            lines[1].starts_with("figure") && lines[1].ends_with("bolt/engine  bolt/null"),
            "{t}"
        );
        assert!(
            lines[3].starts_with("pps") && lines[3].ends_with("1.60       0.80"),
            "{t}"
        );
        assert!(lines[4].ends_with("0.50          -"), "{t}");
        assert_eq!(lines.len(), 5, "the all-null row is dropped:\n{t}");
        assert!(c.to_json()["reports"]["bolt"]["figures"]["pps"] == json!(80.0));
        assert!(Comparison::new(vec![], &["x/y".into()]).is_err());
    }

    #[test]
    fn report_table_lists_figures_steps_and_notes() {
        let r = Report {
            scenario: "ramp".into(),
            description: String::new(),
            kind: "ramp",
            label: "rtpbolt".into(),
            target: "ng 127.0.0.1:1".into(),
            relay_pid: Some(1),
            figures: figs(&[("calls_held", Some(400.0))]),
            steps: vec![Step {
                calls: 200,
                passed: true,
                figures: figs(&[("loss_percent", Some(0.0))]),
            }],
            notes: vec!["stopped".into()],
        };
        let t = r.table();
        assert!(t.contains("calls_held    400"), "{t}");
        assert!(t.contains("200    pass"), "{t}");
        assert!(t.ends_with("note: stopped\n"), "{t}");
        assert_eq!(r.to_json()["steps"][0]["calls"], json!(200));
    }
}
