//! TensorBoard event files through tensorboard-rs's `FileWriter`, with the records it
//! lacks (text, the resume marker) built from the tensorboard-proto types.

use crate::grid::Grid;
use std::path::Path;
use tensorboard_proto::event::{Event, SessionLog, SessionLog_SessionStatus};
use tensorboard_proto::summary::{Summary, SummaryMetadata, SummaryMetadata_PluginData, Summary_Value};
use tensorboard_proto::tensor::TensorProto;
use tensorboard_proto::tensor_shape::{TensorShapeProto, TensorShapeProto_Dim};
use tensorboard_proto::types::DataType;
use tensorboard_rs::summary_writer::FileWriter;

/// One event file in a run directory.
pub struct Summaries {
    w: FileWriter,
}

impl Summaries {
    /// A new event file in `dir` (created if needed).
    pub fn new(dir: &Path) -> Self {
        Self {
            w: FileWriter::new(dir),
        }
    }

    /// A scalar curve point.
    pub fn scalar(&mut self, tag: &str, value: f32, step: u64) {
        self.w
            .add_summary(tensorboard_rs::summary::scalar(tag, value), step as usize);
    }

    /// An image (shown under IMAGES).
    pub fn image(&mut self, tag: &str, grid: &Grid, step: u64) {
        // tensorboard-rs wants dims [3, width, height] and row-major RGB bytes.
        let s = tensorboard_rs::summary::image(tag, &grid.rgb, &[3, grid.width, grid.height]);
        self.w.add_summary(s, step as usize);
    }

    /// A histogram of `values` in 30 equal buckets (shown under HISTOGRAMS).
    pub fn histogram(&mut self, tag: &str, values: &[f32], step: u64) {
        if values.is_empty() {
            return;
        }
        let (min, max) = values
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v as f64), b.max(*v as f64)));
        let buckets = 30;
        let width = ((max - min) / buckets as f64).max(1e-12);
        let mut counts = vec![0.0f64; buckets];
        for v in values {
            let i = (((*v as f64 - min) / width) as usize).min(buckets - 1);
            counts[i] += 1.0;
        }
        let limits: Vec<f64> = (1..=buckets).map(|i| min + width * i as f64).collect();
        let sum = values.iter().map(|v| *v as f64).sum();
        let sum_sq = values.iter().map(|v| (*v as f64).powi(2)).sum();
        let s =
            tensorboard_rs::summary::histogram_raw(tag, min, max, values.len() as f64, sum, sum_sq, &limits, &counts);
        self.w.add_summary(s, step as usize);
    }

    /// Markdown text (shown under TEXT), e.g. the resolved config.
    pub fn text(&mut self, tag: &str, markdown: &str, step: u64) {
        let mut plugin = SummaryMetadata_PluginData::new();
        plugin.set_plugin_name("text".into());
        let mut meta = SummaryMetadata::new();
        meta.set_plugin_data(plugin);
        let mut dim = TensorShapeProto_Dim::new();
        dim.set_size(1);
        let mut shape = TensorShapeProto::new();
        shape.set_dim(vec![dim].into());
        let mut tensor = TensorProto::new();
        tensor.set_dtype(DataType::DT_STRING);
        tensor.set_tensor_shape(shape);
        tensor.set_string_val(vec![markdown.as_bytes().to_vec()].into());
        let mut value = Summary_Value::new();
        value.set_tag(tag.into());
        value.set_metadata(meta);
        value.set_tensor(tensor);
        let mut summary = Summary::new();
        summary.set_value(vec![value].into());
        self.w.add_summary(summary, step as usize);
    }

    /// Marks a restart after `step`: TensorBoard drops every point an interrupted run
    /// wrote after `step` (it keeps points below the START event's step, so the event
    /// goes at `step + 1`), and every tag shows one line.
    pub fn session_start(&mut self, step: u64) {
        let mut log = SessionLog::new();
        log.set_status(SessionLog_SessionStatus::START);
        let mut e = Event::new();
        e.set_session_log(log);
        self.w.add_event(&e, step as usize + 1);
    }

    /// Pushes what was written to disk.
    pub fn flush(&mut self) {
        self.w.flush();
    }
}
