//! TensorBoard event files: TFRecord framing written here (tensorboard-rs's `FileWriter`
//! panics on a full disk and names two writers of one process in one second alike), the
//! records built from the tensorboard-proto types (tensorboard-rs's `image` swaps width
//! and height; it has no text, hparams or custom-scalars records).

use crate::data::grid::Grid;
use protobuf::well_known_types::Value as ProtoValue;
use protobuf::Message;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use tensorboard_proto::api::{DataType as HDataType, Experiment, HParamInfo, MetricInfo, MetricName, Status};
use tensorboard_proto::event::{Event, SessionLog, SessionLog_SessionStatus};
use tensorboard_proto::layout::{Category, Chart, Layout, MultilineChartContent};
use tensorboard_proto::plugin_hparams::{HParamsPluginData, SessionEndInfo, SessionStartInfo};
use tensorboard_proto::summary::{Summary, SummaryMetadata, SummaryMetadata_PluginData, Summary_Image, Summary_Value};
use tensorboard_proto::tensor::TensorProto;
use tensorboard_proto::tensor_shape::{TensorShapeProto, TensorShapeProto_Dim};
use tensorboard_proto::types::DataType;
use tensorboard_rs::masked_crc32c::masked_crc32c;

/// Field number of `HParamInfo.differs` in TensorBoard's api.proto.
const HPARAM_INFO_DIFFERS: u32 = 7;

/// A hyperparameter's value in the HPARAMS dashboard.
#[derive(Clone, Debug, PartialEq)]
pub enum HValue {
    /// A string (enums, paths, names).
    Text(String),
    /// A number (integers too: the dashboard has only float64).
    Number(f64),
    /// A flag.
    Bool(bool),
}

impl HValue {
    fn to_proto(&self) -> ProtoValue {
        let mut v = ProtoValue::new();
        match self {
            HValue::Text(s) => v.set_string_value(s.clone()),
            HValue::Number(x) => v.set_number_value(*x),
            HValue::Bool(b) => v.set_bool_value(*b),
        }
        v
    }
}

/// A metric of the HPARAMS dashboard: a scalar tag and how to show it.
#[derive(Clone, Debug)]
pub struct MetricSpec {
    /// The scalar tag (its last value in a run is the run's metric).
    pub tag: String,
    /// The column title.
    pub display_name: String,
    /// What it measures.
    pub description: String,
}

/// A category of the CUSTOM SCALARS dashboard: charts as (title, tag patterns).
#[derive(Clone, Debug)]
pub struct LayoutCategory {
    /// The category's title.
    pub title: String,
    /// Its charts: a title and the tags (regular expressions) drawn together.
    pub charts: Vec<(String, Vec<String>)>,
}

/// A CUSTOM SCALARS chart's pattern for exactly the tag `tag` (patterns are regular
/// expressions).
pub fn exactly(tag: &str) -> String {
    format!("^{tag}$")
}

/// A string tensor: `Some(n)` a vector of one element (what the text plugin reads),
/// `None` a scalar.
fn string_tensor(bytes: Vec<u8>, dim: Option<i64>) -> TensorProto {
    let mut shape = TensorShapeProto::new();
    if let Some(n) = dim {
        let mut d = TensorShapeProto_Dim::new();
        d.set_size(n);
        shape.set_dim(vec![d].into());
    }
    let mut tensor = TensorProto::new();
    tensor.set_dtype(DataType::DT_STRING);
    tensor.set_tensor_shape(shape);
    tensor.set_string_val(vec![bytes].into());
    tensor
}

/// Event files this process has opened (part of each file's name).
static OPENED: AtomicU64 = AtomicU64::new(0);

/// Seconds since the Unix epoch (0 on a clock before it), as event records carry them.
pub fn unix_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// One event file in a run directory. Records are buffered; the first write error is
/// kept and returned by [`Summaries::flush`], so a full disk is an error, not a panic.
pub struct Summaries {
    path: PathBuf,
    w: std::io::BufWriter<std::fs::File>,
    error: Option<std::io::Error>,
}

impl Summaries {
    /// A new event file in `dir` (created if needed), named as TensorBoard expects and
    /// never the name of an existing file: TensorBoard reads a run's files in name
    /// order, so the time comes first.
    pub fn new(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let now = unix_seconds();
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let host = host.trim();
        let file = loop {
            let name = format!(
                "events.out.tfevents.{:010}.{}.{}.{}",
                now as u64,
                if host.is_empty() { "cgan" } else { host },
                std::process::id(),
                OPENED.fetch_add(1, Ordering::SeqCst)
            );
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(dir.join(&name))
            {
                Ok(f) => break (dir.join(name), f),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        };
        let mut me = Self {
            path: file.0,
            w: std::io::BufWriter::new(file.1),
            error: None,
        };
        let mut version = Event::new();
        version.set_wall_time(now);
        version.set_file_version("brain.Event:2".into());
        me.write_event(&version);
        me.flush()?;
        Ok(me)
    }

    /// The event file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_event(&mut self, e: &Event) {
        if self.error.is_some() {
            return;
        }
        let data = e.write_to_bytes().unwrap_or_default();
        let len = (data.len() as u64).to_le_bytes();
        let result = self
            .w
            .write_all(&len)
            .and_then(|_| self.w.write_all(&masked_crc32c(&len).to_le_bytes()))
            .and_then(|_| self.w.write_all(&data))
            .and_then(|_| self.w.write_all(&masked_crc32c(&data).to_le_bytes()));
        if let Err(e) = result {
            self.error = Some(e);
        }
    }

    fn add_summary(&mut self, summary: Summary, step: u64) {
        let mut e = Event::new();
        e.set_wall_time(unix_seconds());
        e.set_step(step as i64);
        e.set_summary(summary);
        self.write_event(&e);
    }

    /// A scalar curve point.
    pub fn scalar(&mut self, tag: &str, value: f32, step: u64) {
        self.add_summary(tensorboard_rs::summary::scalar(tag, value), step);
    }

    /// An image (shown under IMAGES). Built here: tensorboard-rs's `image` records the
    /// PNG's width as the height and the other way round.
    pub fn image(&mut self, tag: &str, grid: &Grid, step: u64) {
        let mut image = Summary_Image::new();
        image.set_height(grid.height as i32);
        image.set_width(grid.width as i32);
        image.set_colorspace(3);
        image.set_encoded_image_string(grid.to_png());
        let mut value = Summary_Value::new();
        value.set_tag(tag.into());
        value.set_image(image);
        let mut summary = Summary::new();
        summary.set_value(vec![value].into());
        self.add_summary(summary, step);
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
        self.add_summary(s, step);
    }

    /// Markdown text (shown under TEXT), e.g. the resolved config.
    pub fn text(&mut self, tag: &str, markdown: &str, step: u64) {
        let tensor = string_tensor(markdown.as_bytes().to_vec(), Some(1));
        self.plugin_record(tag, "text", Vec::new(), tensor, step);
    }

    /// The HPARAMS dashboard's experiment: the hyperparameters runs are compared by (in
    /// the order given; those named in `differs` are marked as varying between runs, and
    /// the dashboard shows them first) and the metrics (scalar tags) shown beside them.
    pub fn hparams_experiment(&mut self, hparams: &[(String, HValue)], differs: &[String], metrics: &[MetricSpec]) {
        let mut exp = Experiment::new();
        exp.set_hparam_infos(
            hparams
                .iter()
                .map(|(name, v)| {
                    let mut info = HParamInfo::new();
                    info.set_name(name.clone());
                    if differs.contains(name) {
                        // `differs` (field 7) is newer than tensorboard-proto's api.proto.
                        info.mut_unknown_fields().add_varint(HPARAM_INFO_DIFFERS, 1);
                    }
                    info.set_field_type(match v {
                        HValue::Text(_) => HDataType::DATA_TYPE_STRING,
                        HValue::Number(_) => HDataType::DATA_TYPE_FLOAT64,
                        HValue::Bool(_) => HDataType::DATA_TYPE_BOOL,
                    });
                    info
                })
                .collect::<Vec<_>>()
                .into(),
        );
        exp.set_metric_infos(
            metrics
                .iter()
                .map(|m| {
                    let mut name = MetricName::new();
                    name.set_tag(m.tag.clone());
                    let mut info = MetricInfo::new();
                    info.set_name(name);
                    info.set_display_name(m.display_name.clone());
                    info.set_description(m.description.clone());
                    info
                })
                .collect::<Vec<_>>()
                .into(),
        );
        let mut data = HParamsPluginData::new();
        data.set_experiment(exp);
        self.hparams_record("_hparams_/experiment", data);
    }

    /// The HPARAMS dashboard's session (this run) with its hyperparameter values.
    pub fn hparams_session_start(&mut self, hparams: &[(String, HValue)], start_time_secs: f64) {
        let mut info = SessionStartInfo::new();
        let values: HashMap<String, ProtoValue> = hparams.iter().map(|(k, v)| (k.clone(), v.to_proto())).collect();
        info.set_hparams(values);
        info.set_start_time_secs(start_time_secs);
        let mut data = HParamsPluginData::new();
        data.set_session_start_info(info);
        self.hparams_record("_hparams_/session_start_info", data);
    }

    /// The end of the HPARAMS session, with its status.
    pub fn hparams_session_end(&mut self, success: bool, end_time_secs: f64) {
        let mut info = SessionEndInfo::new();
        info.set_status(if success {
            Status::STATUS_SUCCESS
        } else {
            Status::STATUS_FAILURE
        });
        info.set_end_time_secs(end_time_secs);
        let mut data = HParamsPluginData::new();
        data.set_session_end_info(info);
        self.hparams_record("_hparams_/session_end_info", data);
    }

    /// The CUSTOM SCALARS dashboard's layout: categories of charts, each chart several
    /// scalar tags (regular expressions) on one set of axes.
    pub fn custom_scalars(&mut self, categories: &[LayoutCategory]) {
        let mut layout = Layout::new();
        layout.set_category(
            categories
                .iter()
                .map(|c| {
                    let mut cat = Category::new();
                    cat.set_title(c.title.clone());
                    cat.set_chart(
                        c.charts
                            .iter()
                            .map(|(title, tags)| {
                                let mut lines = MultilineChartContent::new();
                                lines.set_tag(tags.clone().into());
                                let mut chart = Chart::new();
                                chart.set_title(title.clone());
                                chart.set_multiline(lines);
                                chart
                            })
                            .collect::<Vec<_>>()
                            .into(),
                    );
                    cat
                })
                .collect::<Vec<_>>()
                .into(),
        );
        // Serialising a message built in memory cannot fail.
        let bytes = layout.write_to_bytes().unwrap_or_default();
        self.plugin_record(
            "custom_scalars__config__",
            "custom_scalars",
            Vec::new(),
            string_tensor(bytes, None),
            0,
        );
    }

    fn hparams_record(&mut self, tag: &str, mut data: HParamsPluginData) {
        data.set_version(0);
        let content = data.write_to_bytes().unwrap_or_default();
        // The hparams plugin's records carry an empty float tensor.
        let mut dim = TensorShapeProto_Dim::new();
        dim.set_size(0);
        let mut shape = TensorShapeProto::new();
        shape.set_dim(vec![dim].into());
        let mut tensor = TensorProto::new();
        tensor.set_dtype(DataType::DT_FLOAT);
        tensor.set_tensor_shape(shape);
        self.plugin_record(tag, "hparams", content, tensor, 0);
    }

    fn plugin_record(&mut self, tag: &str, plugin: &str, content: Vec<u8>, tensor: TensorProto, step: u64) {
        let mut plugin_data = SummaryMetadata_PluginData::new();
        plugin_data.set_plugin_name(plugin.into());
        plugin_data.set_content(content);
        let mut meta = SummaryMetadata::new();
        meta.set_plugin_data(plugin_data);
        let mut value = Summary_Value::new();
        value.set_tag(tag.into());
        value.set_metadata(meta);
        value.set_tensor(tensor);
        let mut summary = Summary::new();
        summary.set_value(vec![value].into());
        self.add_summary(summary, step);
    }

    /// Marks a restart after `step`: TensorBoard drops every point an interrupted run
    /// wrote after `step` (it keeps points below the START event's step, so the event
    /// goes at `step + 1`), and every tag shows one line.
    pub fn session_start(&mut self, step: u64) {
        let mut log = SessionLog::new();
        log.set_status(SessionLog_SessionStatus::START);
        let mut e = Event::new();
        e.set_wall_time(unix_seconds());
        e.set_step(step as i64 + 1);
        e.set_session_log(log);
        self.write_event(&e);
    }

    /// Pushes what was written to disk; the first error since the file was opened.
    pub fn flush(&mut self) -> std::io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.w.flush()
    }
}
