//! Post-mortem reports (issue 4, "Reports"): a Markdown draft with the
//! timeline, suspects and their evidence, the blast radius, owners and what
//! the data cannot tell, plus two hand-written SVG charts (error ratio and
//! latency around the release, with release markers) written next to it.
//!
//! [`assemble`] builds a [`ReportInput`] from any [`ReportSource`] (a replay
//! run, the history store); [`render`] turns it into a [`Report`], purely
//! and deterministically (the same input gives byte-identical files);
//! [`Report::write`] writes `STEM.md`, `STEM-error-ratio.svg` and
//! `STEM-latency.svg` into a directory.
//!
//! Never does: read the clock, run the pipeline, or decide anything about
//! the incident (detection and attribution did; this shows what they found).
//! The only I/O is [`Report::write`].

mod assemble;
mod charts;
mod evidence;
mod incident;
mod input;
mod markdown;
mod series;
mod svg;
mod text;
mod timeline;

use std::path::{Path, PathBuf};

pub use assemble::{IncidentInfo, ReportSource, Subject, assemble};
pub use charts::{ERROR_RATIO_SUFFIX, LATENCY_SUFFIX};
pub use input::{
    BlastRadius, Dependent, EventKind, ReleaseMarker, ReportInput, SeriesPoint, ServiceSeries,
    TimelineEvent,
};
pub use markdown::LOW_TRAFFIC_REQUESTS;
pub use series::{MAX_POINTS, MIN_BUCKET_SECS, bucket_nanos, downsample};

/// Errors of assembling or writing a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The source does not know the incident asked for.
    #[error("incident {0} not found")]
    UnknownIncident(String),
    /// A file could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A rendered report: the Markdown and its charts, ready to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// File stem: the Markdown is `STEM.md`.
    pub stem: String,
    /// The Markdown document; it links the charts by relative file name.
    pub markdown: String,
    /// `(file name, SVG document)`: `STEM-error-ratio.svg`, `STEM-latency.svg`.
    pub charts: Vec<(String, String)>,
}

/// Renders `input` into a report whose files are named after `stem`
/// (reduced to letters, digits, `.`, `-` and `_`, so it cannot leave the
/// output directory).
pub fn render(input: &ReportInput, stem: &str) -> Report {
    let stem = text::file_stem(stem);
    let error_file = format!("{stem}-{ERROR_RATIO_SUFFIX}");
    let latency_file = format!("{stem}-{LATENCY_SUFFIX}");
    let links = [
        (
            format!("Error ratio of {}", chart_subjects(input)),
            error_file.clone(),
        ),
        (
            format!("Latency of {}", chart_subjects(input)),
            latency_file.clone(),
        ),
    ];
    let markdown = markdown::render(input, &links);
    Report {
        stem,
        markdown,
        charts: vec![
            (error_file, charts::error_ratio(input)),
            (latency_file, charts::latency_chart(input)),
        ],
    }
}

fn chart_subjects(input: &ReportInput) -> String {
    if input.series.is_empty() {
        return input.service.clone();
    }
    let names: Vec<&str> = input.series.iter().map(|s| s.service.as_str()).collect();
    names.join(", ")
}

/// A default file stem: `postmortem-SERVICE-YYYYMMDDTHHMM` (UTC).
pub fn default_stem(service: &str, at: crate::model::Timestamp) -> String {
    let t = at.to_rfc3339();
    let compact: String = t[..16].chars().filter(|c| *c != '-' && *c != ':').collect();
    text::file_stem(&format!("postmortem-{service}-{compact}"))
}

impl Report {
    /// Writes `STEM.md` and the charts into `dir` (created when missing);
    /// returns the paths written, Markdown first.
    ///
    /// # Errors
    /// [`ReportError::Write`] naming the file that could not be written.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut files = vec![(format!("{}.md", self.stem), &self.markdown)];
        files.extend(self.charts.iter().map(|(name, svg)| (name.clone(), svg)));
        let mut written = Vec::new();
        for (name, body) in files {
            let path = dir.join(name);
            std::fs::write(&path, body.as_bytes()).map_err(|source| ReportError::Write {
                path: path.clone(),
                source,
            })?;
            written.push(path);
        }
        Ok(written)
    }
}

#[cfg(test)]
mod assemble_tests;
#[cfg(test)]
mod markdown_tests;
#[cfg(test)]
mod tests;
