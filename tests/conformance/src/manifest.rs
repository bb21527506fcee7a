//! manifest.yaml: what each suite is expected to do. A suite either passes,
//! or waits for a capability not built yet, naming the step it fails at and
//! why. The run fails when reality differs either way, so the list stays
//! true: a listed-passing suite fails, a waiting one passes or fails
//! elsewhere, a suite is missing from the list or listed but absent.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub suites: BTreeMap<String, Expectation>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Expectation {
    /// `pass`
    Pass(PassWord),
    Waits(Waiting),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PassWord {
    Pass,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waiting {
    /// The capability, with its issue: `project suspension (#18)`.
    pub waits: String,
    /// The step it fails at today (Chainsaw's step name, `step-N` when unnamed).
    pub step: String,
    /// Why, in one line.
    pub reason: String,
}

pub fn parse(text: &str) -> Result<Manifest, String> {
    let m: Manifest = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    for (suite, e) in &m.suites {
        if let Expectation::Waits(w) = e {
            if w.waits.trim().is_empty() || w.reason.trim().is_empty() || w.step.trim().is_empty() {
                return Err(format!("{suite}: waits, step and reason must all be given"));
            }
            if !names_an_issue(&w.waits) {
                return Err(format!(
                    "{suite}: waits must name the issue (`(#N)`, or `(no issue yet)`): {:?} \
                     (in YAML, quote a value holding ` #`, or the rest is a comment)",
                    w.waits
                ));
            }
        }
    }
    Ok(m)
}

/// `#18`, or `no issue yet` for a capability no issue covers.
fn names_an_issue(waits: &str) -> bool {
    waits.contains("no issue yet")
        || waits
            .match_indices('#')
            .any(|(i, _)| waits[i + 1..].starts_with(|c: char| c.is_ascii_digit()))
}

/// How one suite ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Passed,
    /// The first step that failed, and the error.
    Failed {
        step: String,
        error: String,
    },
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub suite: String,
    /// As the manifest says.
    pub as_listed: bool,
    /// `pass`, `waits` or `UNEXPECTED`.
    pub label: &'static str,
    pub detail: String,
}

/// Compares what happened with the manifest. `results` holds every suite
/// found on disk.
pub fn judge(manifest: &Manifest, results: &BTreeMap<String, Outcome>) -> Vec<Verdict> {
    let mut out = Vec::new();
    for (suite, outcome) in results {
        let verdict = |as_listed, label, detail: String| Verdict {
            suite: suite.clone(),
            as_listed,
            label,
            detail,
        };
        out.push(match (manifest.suites.get(suite), outcome) {
            (None, Outcome::Passed) => verdict(
                false,
                "UNEXPECTED",
                "passes but is not in the manifest: list it as `pass`".into(),
            ),
            (None, Outcome::Failed { step, error }) => verdict(
                false,
                "UNEXPECTED",
                format!("is not in the manifest; fails at step {step}: {error}"),
            ),
            (Some(Expectation::Pass(_)), Outcome::Passed) => verdict(true, "pass", String::new()),
            (Some(Expectation::Pass(_)), Outcome::Failed { step, error }) => verdict(
                false,
                "UNEXPECTED",
                format!("listed as passing, fails at step {step}: {error}"),
            ),
            (Some(Expectation::Waits(w)), Outcome::Passed) => verdict(
                false,
                "UNEXPECTED",
                format!(
                    "passes, listed as waiting for {}: list it as `pass`",
                    w.waits
                ),
            ),
            (Some(Expectation::Waits(w)), Outcome::Failed { step, error }) => {
                if *step == w.step {
                    verdict(
                        true,
                        "waits",
                        format!("{} — step {}: {}", w.waits, w.step, w.reason),
                    )
                } else {
                    verdict(
                        false,
                        "UNEXPECTED",
                        format!(
                            "listed as failing at step {} ({}), fails at step {step}: {error}",
                            w.step, w.reason
                        ),
                    )
                }
            }
        });
    }
    for suite in manifest.suites.keys() {
        if !results.contains_key(suite) {
            out.push(Verdict {
                suite: suite.clone(),
                as_listed: false,
                label: "UNEXPECTED",
                detail: "listed in the manifest but no such suite was found".into(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
suites:
  quota/a: pass
  quota/b:
    waits: 'project suspension (#18)'
    step: suspend
    reason: ProjectSuspension is not served
"#;

    fn failed(step: &str) -> Outcome {
        Outcome::Failed {
            step: step.into(),
            error: "boom".into(),
        }
    }

    fn run(a: Outcome, b: Outcome) -> Vec<Verdict> {
        let m = parse(MANIFEST).unwrap();
        let results = BTreeMap::from([("quota/a".to_string(), a), ("quota/b".to_string(), b)]);
        judge(&m, &results)
    }

    #[test]
    fn as_listed_when_reality_agrees() {
        let v = run(Outcome::Passed, failed("suspend"));
        assert!(v.iter().all(|v| v.as_listed), "{v:?}");
        assert_eq!(v[0].label, "pass");
        assert_eq!(v[1].label, "waits");
        assert!(v[1].detail.contains("ProjectSuspension is not served"));
    }

    #[test]
    fn a_listed_passing_suite_that_fails_fails_the_run() {
        let v = run(failed("x"), failed("suspend"));
        assert!(!v[0].as_listed);
        assert!(v[0].detail.contains("fails at step x"));
    }

    #[test]
    fn a_waiting_suite_that_passes_fails_the_run() {
        let v = run(Outcome::Passed, Outcome::Passed);
        assert!(!v[1].as_listed);
        assert!(v[1].detail.contains("list it as `pass`"));
    }

    #[test]
    fn a_waiting_suite_failing_elsewhere_fails_the_run() {
        let v = run(Outcome::Passed, failed("other"));
        assert!(!v[1].as_listed);
        assert!(v[1].detail.contains("listed as failing at step suspend"));
    }

    #[test]
    fn unlisted_and_absent_suites_fail_the_run() {
        let m = parse(MANIFEST).unwrap();
        let results = BTreeMap::from([
            ("quota/a".to_string(), Outcome::Passed),
            ("quota/c".to_string(), Outcome::Passed),
        ]);
        let v = judge(&m, &results);
        let bad: Vec<&str> = v
            .iter()
            .filter(|v| !v.as_listed)
            .map(|v| v.suite.as_str())
            .collect();
        assert_eq!(bad, ["quota/c", "quota/b"]);
    }

    #[test]
    fn a_waiting_entry_needs_all_three_fields() {
        assert!(parse("suites:\n  a:\n    waits: x\n    step: s\n").is_err());
        assert!(parse("suites:\n  a:\n    waits: ''\n    step: s\n    reason: r\n").is_err());
        assert!(parse("suites:\n  a: passes\n").is_err());
        // Unquoted, ` #20)` starts a YAML comment: the issue is lost, and refused.
        let err = parse("suites:\n  a:\n    waits: IAM (kinds, #20)\n    step: s\n    reason: r\n")
            .unwrap_err();
        assert!(err.contains("must name the issue"), "{err}");
        assert!(parse(
            "suites:\n  a:\n    waits: 'IAM (kinds, #20)'\n    step: s\n    reason: r\n"
        )
        .is_ok());
    }
}
