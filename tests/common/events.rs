//! A small TensorBoard event-file reader for the tests: TFRecord framing with both
//! masked CRC-32C checks, then Event / Summary decoding with tensorboard-proto.

use std::collections::BTreeMap;
use std::path::Path;
use tensorboard_proto::event::Event;
use tensorboard_rs::masked_crc32c::masked_crc32c;

/// What kind of value a summary tag carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Scalar,
    Image,
    Histogram,
    Text,
    /// An HPARAMS or CUSTOM SCALARS record.
    Dashboard,
}

/// Every event of one file, in order. A record cut short at the end of the file (a
/// process killed mid-write) ends the file, as in TensorBoard; a complete record with a
/// bad CRC panics, failing the test.
pub fn read_events(path: &Path) -> Vec<Event> {
    let bytes = std::fs::read(path).unwrap();
    let mut events = Vec::new();
    let mut pos = 0;
    while pos + 12 <= bytes.len() {
        let header = &bytes[pos..pos + 8];
        let len = u64::from_le_bytes(header.try_into().unwrap()) as usize;
        if pos + 16 + len > bytes.len() {
            break;
        }
        let len_crc = u32::from_le_bytes(bytes[pos + 8..pos + 12].try_into().unwrap());
        assert_eq!(len_crc, masked_crc32c(header), "length CRC at byte {pos} of {path:?}");
        let data = &bytes[pos + 12..pos + 12 + len];
        let data_crc = u32::from_le_bytes(bytes[pos + 12 + len..pos + 16 + len].try_into().unwrap());
        assert_eq!(data_crc, masked_crc32c(data), "data CRC at byte {pos} of {path:?}");
        events.push(<Event as protobuf::Message>::parse_from_bytes(data).unwrap());
        pos += 16 + len;
    }
    events
}

/// The event files of a run directory, oldest first.
pub fn event_files(run: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(run)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("events.out.tfevents.")
        })
        .collect();
    files.sort();
    files
}

/// Tag -> (kind, steps) over all event files of a run, applying TensorBoard's rule for
/// a `SessionLog START` at step s: points at steps >= s written before it are dropped.
pub fn tags(run: &Path) -> BTreeMap<String, (Kind, Vec<i64>)> {
    let mut out: BTreeMap<String, (Kind, Vec<i64>)> = BTreeMap::new();
    for file in event_files(run) {
        for e in read_events(&file) {
            if e.has_session_log() {
                for (_, steps) in out.values_mut() {
                    steps.retain(|s| *s < e.get_step());
                }
            }
            if !e.has_summary() {
                continue;
            }
            for v in e.get_summary().get_value() {
                let kind = if v.has_simple_value() {
                    Kind::Scalar
                } else if v.has_image() {
                    Kind::Image
                } else if v.has_histo() {
                    Kind::Histogram
                } else {
                    match v.get_metadata().get_plugin_data().get_plugin_name() {
                        "text" => Kind::Text,
                        "hparams" | "custom_scalars" => Kind::Dashboard,
                        other => panic!("{}: unexpected plugin {other}", v.get_tag()),
                    }
                };
                out.entry(v.get_tag().to_string())
                    .or_insert((kind, Vec::new()))
                    .1
                    .push(e.get_step());
            }
        }
    }
    out
}
