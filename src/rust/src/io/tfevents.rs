//! TensorBoard event-file writer (and a validating reader for tests), std only.
//!
//! A file `events.out.tfevents.<unix secs>.<host>.<pid>.<n>.v2` (`n` counts writers in this
//! process) is a sequence of TFRecords, one serialized `Event` protobuf each:
//!
//! ```text
//! u64 LE length | u32 LE masked_crc32c(length bytes) | data[length] | u32 LE masked_crc32c(data)
//! ```
//!
//! (CRC-32C and the mask are in `super::crc32c`.) Protobuf is encoded by hand, proto3 style
//! (default-valued fields left out, fields in number order):
//!
//! ```text
//! Event          { wall_time: double = 1; step: int64 = 2; file_version: string = 3;
//!                  summary: Summary = 5 }
//! Summary        { repeated Value value = 1 }
//! Summary.Value  { tag: string = 1; simple_value: float = 2; tensor: TensorProto = 8;
//!                  metadata: SummaryMetadata = 9 }
//! SummaryMetadata{ plugin_data: PluginData = 1 }   PluginData { plugin_name = 1; content = 2 }
//! TensorProto    { dtype = 1 (DT_FLOAT 1, DT_DOUBLE 2, DT_STRING 7); tensor_shape = 2;
//!                  tensor_content: bytes = 4; float_val = 5 (packed); string_val = 8 }
//! TensorShapeProto { repeated Dim dim = 2 }        Dim { size: int64 = 1 }
//! ```
//!
//! Record 0 is `Event{wall_time: <whole second>, file_version: "brain.Event:2"}`. What follows
//! mirrors Keras 3's `TensorBoard` callback: scalars are rank-0 `DT_FLOAT` tensors with 4 bytes
//! of `tensor_content` and plugin `scalars`; the model config is tag `keras` at step 0, a rank-0
//! `DT_STRING` tensor holding the JSON, plugin `graph_keras_model` with content `"1"`;
//! histograms are `[30, 3]` `DT_DOUBLE` tensors of `[left, right, count]` rows, plugin
//! `histograms`. Each record is encoded in memory and handed to the `BufWriter` whole.

use super::crc32c::masked_crc32c;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub const FILE_VERSION: &str = "brain.Event:2";
/// Bucket count of `tf.summary.histogram`'s default.
pub const HISTOGRAM_BUCKETS: usize = 30;
const DT_FLOAT: u64 = 1;
const DT_DOUBLE: u64 = 2;
const DT_STRING: u64 = 7;

static WRITER_COUNTER: AtomicU64 = AtomicU64::new(0);

// ---------------------------------------------------------------- protobuf encoding

#[derive(Default)]
struct Pb(Vec<u8>);

impl Pb {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn key(&mut self, field: u32, wire: u8) {
        self.varint(((field as u64) << 3) | wire as u64);
    }
    /// Varint field (int64 is sign-extended to 10 bytes when negative); 0 is left out.
    fn int(mut self, field: u32, v: u64) -> Self {
        if v != 0 {
            self.key(field, 0);
            self.varint(v);
        }
        self
    }
    fn double(mut self, field: u32, v: f64) -> Self {
        if v != 0.0 {
            self.key(field, 1);
            self.0.extend_from_slice(&v.to_le_bytes());
        }
        self
    }
    /// Length-delimited field, always written (sub-messages, repeated elements).
    fn len(mut self, field: u32, v: &[u8]) -> Self {
        self.key(field, 2);
        self.varint(v.len() as u64);
        self.0.extend_from_slice(v);
        self
    }
    /// Singular string/bytes field; empty is left out.
    fn bytes(self, field: u32, v: &[u8]) -> Self {
        if v.is_empty() {
            self
        } else {
            self.len(field, v)
        }
    }
}

fn frame(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut rec = Vec::with_capacity(data.len() + 16);
    rec.extend_from_slice(&len);
    rec.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    rec.extend_from_slice(data);
    rec.extend_from_slice(&masked_crc32c(data).to_le_bytes());
    rec
}

fn file_version_event(wall_time: f64) -> Vec<u8> {
    Pb::default()
        .double(1, wall_time)
        .bytes(3, FILE_VERSION.as_bytes())
        .0
}

/// `Event{wall_time, step, summary{value{tag, tensor, metadata{plugin_data{name, content}}}}}`.
fn summary_event(
    wall_time: f64,
    step: i64,
    tag: &str,
    tensor: Pb,
    plugin: &str,
    content: &[u8],
) -> Vec<u8> {
    let plugin_data = Pb::default().bytes(1, plugin.as_bytes()).bytes(2, content);
    let metadata = Pb::default().len(1, &plugin_data.0);
    let value = Pb::default()
        .bytes(1, tag.as_bytes())
        .len(8, &tensor.0)
        .len(9, &metadata.0);
    let summary = Pb::default().len(1, &value.0);
    Pb::default()
        .double(1, wall_time)
        .int(2, step as u64)
        .len(5, &summary.0)
        .0
}

fn tensor(dtype: u64, shape: &[u64]) -> Pb {
    let dims = shape
        .iter()
        .fold(Pb::default(), |s, &d| s.len(2, &Pb::default().int(1, d).0));
    Pb::default().int(1, dtype).len(2, &dims.0)
}

fn scalar_event(wall_time: f64, step: i64, tag: &str, value: f32) -> Vec<u8> {
    let t = tensor(DT_FLOAT, &[]).len(4, &value.to_le_bytes());
    summary_event(wall_time, step, tag, t, "scalars", b"")
}

/// `[left, right, count]` rows exactly as TF2's `tf.summary.histogram` computes them (in f64):
/// equal-width buckets over `[min, max]`, last edge forced to `max`, indices clamped; one
/// distinct value gives `k` rows `[v, v, ·]` with every count in the last; no values gives
/// zeros. Non-finite values are skipped.
fn histogram_buckets(values: &[f32], k: usize) -> Vec<[f64; 3]> {
    let data: Vec<f64> = values
        .iter()
        .filter(|v| v.is_finite())
        .map(|&v| v as f64)
        .collect();
    if data.is_empty() || k == 0 {
        return vec![[0.0; 3]; k];
    }
    let min = data.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = data.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let range = max - min;
    if range == 0.0 {
        let mut rows = vec![[min, min, 0.0]; k];
        rows[k - 1][2] = data.len() as f64;
        return rows;
    }
    let width = range / k as f64;
    let mut counts = vec![0.0f64; k];
    for x in &data {
        let i = (((x - min) / width).floor() as usize).min(k - 1);
        counts[i] += 1.0;
    }
    let step = range / k as f64;
    let edge = |i: usize| if i == k { max } else { min + i as f64 * step };
    (0..k).map(|i| [edge(i), edge(i + 1), counts[i]]).collect()
}

fn histogram_event(wall_time: f64, step: i64, tag: &str, values: &[f32]) -> Vec<u8> {
    let rows = histogram_buckets(values, HISTOGRAM_BUCKETS);
    let raw: Vec<u8> = rows
        .iter()
        .flatten()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let t = tensor(DT_DOUBLE, &[rows.len() as u64, 3]).len(4, &raw);
    summary_event(wall_time, step, tag, t, "histograms", b"")
}

fn keras_event(wall_time: f64, json: &str) -> Vec<u8> {
    let t = tensor(DT_STRING, &[]).len(8, json.as_bytes());
    summary_event(wall_time, 0, "keras", t, "graph_keras_model", b"1")
}

// ---------------------------------------------------------------- writer

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Appends events to one new `events.out.tfevents.*.v2` file. Flushed on `flush()` and on drop.
pub struct EventWriter {
    out: BufWriter<File>,
    path: PathBuf,
}

impl EventWriter {
    /// Creates `dir` (and parents) and a new event file in it, named
    /// `events.out.tfevents.<secs>.<host>.<pid>.<n>.v2`, and writes the file-version record.
    /// Characters of `suffix_host` outside `[A-Za-z0-9._-]` become `_`.
    pub fn create(dir: &Path, suffix_host: &str) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let secs = now().floor();
        let mut host: String = suffix_host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if host.is_empty() {
            host.push_str("localhost");
        }
        let n = WRITER_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "events.out.tfevents.{}.{}.{}.{}.v2",
            secs as u64,
            host,
            std::process::id(),
            n
        );
        let path = dir.join(name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        let mut w = EventWriter {
            out: BufWriter::new(file),
            path,
        };
        w.write_record(&file_version_event(secs))?;
        Ok(w)
    }

    /// Path of the event file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_record(&mut self, data: &[u8]) -> io::Result<()> {
        self.out.write_all(&frame(data))
    }

    /// Scalar `value` at `step` (rank-0 DT_FLOAT tensor, plugin `scalars`, as Keras writes it).
    pub fn scalar(&mut self, tag: &str, step: i64, value: f32) -> io::Result<()> {
        self.write_record(&scalar_event(now(), step, tag, value))
    }

    /// The Keras model JSON (`model.to_json()`) as tag `keras` at step 0: the Graphs tab's
    /// conceptual graph.
    pub fn keras_model_config(&mut self, json: &str) -> io::Result<()> {
        self.write_record(&keras_event(now(), json))
    }

    /// Histogram of `values` at `step` (30 buckets, `[30, 3]` DT_DOUBLE, plugin `histograms`).
    pub fn histogram(&mut self, tag: &str, step: i64, values: &[f32]) -> io::Result<()> {
        self.write_record(&histogram_event(now(), step, tag, values))
    }

    /// Pushes buffered records to the OS, so TensorBoard sees them (no fsync).
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

// ---------------------------------------------------------------- reader (validating)

/// The records of an in-memory event file, checking framing and both CRCs.
pub fn parse_records(buf: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < buf.len() {
        let rec = out.len();
        let rest = buf.len() - pos;
        if rest < 12 {
            return Err(format!(
                "truncated record {rec} at byte offset {pos}: {rest} of 12 header bytes"
            ));
        }
        let mut len8 = [0u8; 8];
        len8.copy_from_slice(&buf[pos..pos + 8]);
        let crc = u32::from_le_bytes([buf[pos + 8], buf[pos + 9], buf[pos + 10], buf[pos + 11]]);
        if crc != masked_crc32c(&len8) {
            return Err(format!(
                "length CRC mismatch in record {rec} at byte offset {pos}"
            ));
        }
        let len = u64::from_le_bytes(len8);
        let start = pos + 12;
        if len > (buf.len() - start) as u64 || (buf.len() - start) as u64 - len < 4 {
            return Err(format!(
                "truncated record {rec} at byte offset {pos}: needs {} bytes, file has {} left",
                len.saturating_add(16),
                rest
            ));
        }
        let end = start + len as usize;
        let data = &buf[start..end];
        let crc = u32::from_le_bytes([buf[end], buf[end + 1], buf[end + 2], buf[end + 3]]);
        if crc != masked_crc32c(data) {
            return Err(format!(
                "data CRC mismatch in record {rec} at byte offset {pos} (data at {start})"
            ));
        }
        out.push(data.to_vec());
        pos = end + 4;
    }
    Ok(out)
}

/// The records of an event file, checking framing and both CRCs.
pub fn read_records(path: impl AsRef<Path>) -> Result<Vec<Vec<u8>>, String> {
    let path = path.as_ref();
    let buf = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_records(&buf).map_err(|e| format!("{}: {e}", path.display()))
}

enum Field<'a> {
    Int(u64),
    Bytes(&'a [u8]),
    Fixed64(u64),
    Fixed32(u32),
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        v |= ((b & 0x7F) as u64) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err("varint too long".into())
}

fn take<'a>(buf: &'a [u8], pos: &mut usize, n: u64) -> Result<&'a [u8], String> {
    if n > (buf.len() - *pos) as u64 {
        return Err("truncated protobuf field".into());
    }
    let s = &buf[*pos..*pos + n as usize];
    *pos += n as usize;
    Ok(s)
}

fn fields(buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let key = read_varint(buf, &mut pos)?;
        let f = match key & 7 {
            0 => Field::Int(read_varint(buf, &mut pos)?),
            1 => Field::Fixed64(u64::from_le_bytes(
                take(buf, &mut pos, 8)?.try_into().map_err(|_| "fixed64")?,
            )),
            2 => {
                let n = read_varint(buf, &mut pos)?;
                Field::Bytes(take(buf, &mut pos, n)?)
            }
            5 => Field::Fixed32(u32::from_le_bytes(
                take(buf, &mut pos, 4)?.try_into().map_err(|_| "fixed32")?,
            )),
            w => return Err(format!("unsupported protobuf wire type {w}")),
        };
        out.push((key >> 3, f));
    }
    Ok(out)
}

/// One decoded `Summary.Value` with its event's step and wall time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SummaryValue {
    pub wall_time: f64,
    pub step: i64,
    pub tag: String,
    pub plugin_name: String,
    pub plugin_content: Vec<u8>,
    pub simple_value: Option<f32>,
    pub dtype: u64,
    pub shape: Vec<i64>,
    pub tensor_content: Vec<u8>,
    pub float_val: Vec<f32>,
    pub string_val: Vec<Vec<u8>>,
}

/// Payloads of the length-delimited occurrences of field `field`.
fn subs(buf: &[u8], field: u64) -> Result<Vec<&[u8]>, String> {
    Ok(fields(buf)?
        .into_iter()
        .filter_map(|(n, f)| match f {
            Field::Bytes(b) if n == field => Some(b),
            _ => None,
        })
        .collect())
}

fn decode_tensor(buf: &[u8], v: &mut SummaryValue) -> Result<(), String> {
    for (n, f) in fields(buf)? {
        match (n, f) {
            (1, Field::Int(d)) => v.dtype = d,
            (2, Field::Bytes(shape)) => {
                for dim in subs(shape, 2)? {
                    let size = fields(dim)?.into_iter().find_map(|(n, f)| match (n, f) {
                        (1, Field::Int(x)) => Some(x as i64),
                        _ => None,
                    });
                    v.shape.push(size.unwrap_or(0));
                }
            }
            (4, Field::Bytes(c)) => v.tensor_content = c.to_vec(),
            (5, Field::Fixed32(x)) => v.float_val.push(f32::from_bits(x)),
            (5, Field::Bytes(p)) => v.float_val.extend(
                p.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ),
            (8, Field::Bytes(s)) => v.string_val.push(s.to_vec()),
            _ => {}
        }
    }
    Ok(())
}

fn decode_value(buf: &[u8], v: &mut SummaryValue) -> Result<(), String> {
    for (n, f) in fields(buf)? {
        match (n, f) {
            (1, Field::Bytes(b)) => v.tag = String::from_utf8_lossy(b).into_owned(),
            (2, Field::Fixed32(x)) => v.simple_value = Some(f32::from_bits(x)),
            (8, Field::Bytes(t)) => decode_tensor(t, v)?,
            (9, Field::Bytes(metadata)) => {
                for plugin_data in subs(metadata, 1)? {
                    for (n, f) in fields(plugin_data)? {
                        match (n, f) {
                            (1, Field::Bytes(b)) => {
                                v.plugin_name = String::from_utf8_lossy(b).into()
                            }
                            (2, Field::Bytes(b)) => v.plugin_content = b.to_vec(),
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Every `Summary.Value` of an event file, in file order. Errors unless the framing and CRCs are
/// valid, every record decodes, and record 0 is `file_version: "brain.Event:2"`.
pub fn read_summaries(path: impl AsRef<Path>) -> Result<Vec<SummaryValue>, String> {
    let path = path.as_ref();
    let ctx = |i: usize, e: String| format!("{}: record {i}: {e}", path.display());
    let mut out = Vec::new();
    for (i, rec) in read_records(path)?.iter().enumerate() {
        let (mut wall_time, mut step, mut version) = (0.0, 0i64, None);
        let mut summaries = Vec::new();
        for (n, f) in fields(rec).map_err(|e| ctx(i, e))? {
            match (n, f) {
                (1, Field::Fixed64(x)) => wall_time = f64::from_bits(x),
                (2, Field::Int(x)) => step = x as i64,
                (3, Field::Bytes(b)) => version = Some(String::from_utf8_lossy(b).into_owned()),
                (5, Field::Bytes(b)) => summaries.push(b),
                _ => {}
            }
        }
        if i == 0 && version.as_deref() != Some(FILE_VERSION) {
            return Err(ctx(
                0,
                format!("expected file_version {FILE_VERSION:?}, found {version:?}"),
            ));
        }
        for s in summaries {
            for (n, f) in fields(s).map_err(|e| ctx(i, e))? {
                if let (1, Field::Bytes(b)) = (n, f) {
                    let mut v = SummaryValue {
                        wall_time,
                        step,
                        ..Default::default()
                    };
                    decode_value(b, &mut v).map_err(|e| ctx(i, e))?;
                    out.push(v);
                }
            }
        }
    }
    Ok(out)
}

/// `(tag, step, value)` of every scalar: `simple_value`s and plugin-`scalars` values, which must
/// be rank-0 DT_FLOAT tensors with 4 bytes of `tensor_content` or one `float_val`.
pub fn read_scalars(path: impl AsRef<Path>) -> Result<Vec<(String, i64, f32)>, String> {
    let mut out = Vec::new();
    for v in read_summaries(path.as_ref())? {
        let value = if let Some(x) = v.simple_value {
            x
        } else if v.plugin_name != "scalars" {
            continue;
        } else if v.dtype != DT_FLOAT || !v.shape.is_empty() {
            return Err(format!(
                "scalar {:?} step {}: not a rank-0 DT_FLOAT tensor",
                v.tag, v.step
            ));
        } else if let [a, b, c, d] = v.tensor_content[..] {
            f32::from_le_bytes([a, b, c, d])
        } else if let ([x], true) = (&v.float_val[..], v.tensor_content.is_empty()) {
            *x
        } else {
            return Err(format!(
                "scalar {:?} step {}: expected exactly one float32",
                v.tag, v.step
            ));
        };
        out.push((v.tag, v.step, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
