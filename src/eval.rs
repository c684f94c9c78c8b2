//! `shadergan eval`, first part: what a trained classifier says about generated images —
//! which classes they show, how many of the classes are covered, how sure the classifier is,
//! and for a conditional generator the share of samples recognised as the class they were
//! asked for (the test of issue 8: "a classifier … recognises at least 90 % of the samples as
//! the class they were asked for").

use serde::Serialize;

use crate::classifier::Classified;

/// The class statistics of `n` samples.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ClassReport {
    pub samples: usize,
    pub classes: usize,
    /// Samples per predicted class (the classifier's top class).
    pub histogram: Vec<usize>,
    /// Classes predicted for at least one sample.
    pub classes_covered: usize,
    /// Entropy of the predicted-class histogram in nats, and as a share of ln K (1: every
    /// class equally often; 0: one class only — mode collapse).
    pub entropy: f64,
    pub entropy_normalised: f64,
    /// Mean probability of the top class.
    pub mean_confidence: f64,
    /// Conditional generators: the share recognised as the requested class, overall and per
    /// requested class (None for unconditional ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recognised: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recognised_per_class: Option<Vec<f64>>,
}

impl ClassReport {
    /// The report of `verdicts`, with `requested` (one label per verdict) for a conditional
    /// generator or empty for an unconditional one.
    pub fn new(verdicts: &[Classified], requested: &[u32]) -> ClassReport {
        assert!(requested.is_empty() || requested.len() == verdicts.len(), "one requested label per sample");
        let classes = verdicts.first().map_or(0, |v| v.probs.len());
        let mut histogram = vec![0usize; classes];
        let mut confidence = 0f64;
        let (mut asked, mut hits) = (vec![0usize; classes], vec![0usize; classes]);
        for (i, v) in verdicts.iter().enumerate() {
            let (top, p) = v.top();
            histogram[top] += 1;
            confidence += p;
            if let Some(&y) = requested.get(i) {
                asked[y as usize] += 1;
                hits[y as usize] += (top == y as usize) as usize;
            }
        }
        let n = verdicts.len();
        let entropy = -histogram.iter().filter(|&&c| c > 0).map(|&c| c as f64 / n as f64).map(|p| p * p.ln()).sum::<f64>();
        let (recognised, recognised_per_class) = if requested.is_empty() || n == 0 {
            (None, None)
        } else {
            (
                Some(hits.iter().sum::<usize>() as f64 / n as f64),
                Some(asked.iter().zip(&hits).map(|(&a, &h)| if a == 0 { f64::NAN } else { h as f64 / a as f64 }).collect()),
            )
        };
        ClassReport {
            samples: n,
            classes,
            classes_covered: histogram.iter().filter(|&&c| c > 0).count(),
            entropy,
            entropy_normalised: if classes > 1 { entropy / (classes as f64).ln() } else { 0.0 },
            mean_confidence: if n == 0 { f64::NAN } else { confidence / n as f64 },
            histogram,
            recognised,
            recognised_per_class,
        }
    }
}
