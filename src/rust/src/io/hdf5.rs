//! HDF5 through `hdf5-pure`: a file is built as a tree in memory and written in one piece
//! (see `keras_files.rs` for what Keras puts where); reading goes through the crate's reader.

use crate::error::{RkError, RkResult};
use hdf5_pure::{AttrValue, FileBuilder, GroupBuilder};

/// A weight as Keras stores it: row-major f32 values and their shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Stored {
    pub fn scalar(v: f32) -> Stored {
        Stored {
            shape: Vec::new(),
            data: vec![v],
        }
    }
}

pub enum Data {
    F32(Stored),
    I64(i64),
}

/// A group: its attributes, datasets and subgroups, in the order they are written.
#[derive(Default)]
pub struct Tree {
    pub attrs: Vec<(String, AttrValue)>,
    pub datasets: Vec<(String, Data)>,
    pub groups: Vec<(String, Tree)>,
}

impl Tree {
    /// The group at `path` (`a/b/c`), created with its parents where missing.
    pub fn group(&mut self, path: &str) -> &mut Tree {
        let mut t = self;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let i = match t.groups.iter().position(|(n, _)| n == part) {
                Some(i) => i,
                None => {
                    t.groups.push((part.to_string(), Tree::default()));
                    t.groups.len() - 1
                }
            };
            t = &mut t.groups[i].1;
        }
        t
    }

    pub fn attr(&mut self, name: &str, v: AttrValue) -> &mut Tree {
        self.attrs.push((name.to_string(), v));
        self
    }

    /// A dataset at `path` relative to this group (parents created).
    pub fn dataset(&mut self, path: &str, d: Data) {
        let (dir, name) = match path.rfind('/') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => ("", path),
        };
        self.group(dir).datasets.push((name.to_string(), d));
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> RkResult<Vec<u8>> {
        let mut b = FileBuilder::new();
        for (n, v) in &self.attrs {
            b.set_attr(n, v.clone());
        }
        for (n, d) in &self.datasets {
            put(b.create_dataset(n), d);
        }
        for (n, t) in &self.groups {
            let mut g = b.create_group(n);
            t.emit(&mut g);
            b.add_group(g.finish());
        }
        b.finish()
            .map_err(|e| RkError::Internal(format!("cannot build the HDF5 file: {e}")))
    }

    fn emit(&self, g: &mut GroupBuilder) {
        for (n, v) in &self.attrs {
            g.set_attr(n, v.clone());
        }
        for (n, d) in &self.datasets {
            put(g.create_dataset(n), d);
        }
        for (n, t) in &self.groups {
            let mut c = g.create_group(n);
            t.emit(&mut c);
            g.add_group(c.finish());
        }
    }
}

fn put(ds: &mut hdf5_pure::DatasetBuilder, d: &Data) {
    match d {
        Data::F32(s) => {
            let dims: Vec<u64> = s.shape.iter().map(|&d| d as u64).collect();
            ds.with_f32_data(&s.data).with_shape(&dims);
        }
        Data::I64(v) => {
            ds.with_i64_data(&[*v]).with_shape(&[]);
        }
    }
}

/// An HDF5 file read into memory, with errors that name the file.
pub struct Reader {
    pub file: hdf5_pure::File,
    pub label: String,
}

impl Reader {
    pub fn from_bytes(bytes: Vec<u8>, label: &str) -> RkResult<Reader> {
        if !hdf5_pure::is_hdf5_bytes(&bytes) {
            return Err(RkError::Value(format!("{label} is not an HDF5 file")));
        }
        let file = hdf5_pure::File::from_bytes(bytes)
            .map_err(|e| RkError::Value(format!("{label} is not a readable HDF5 file: {e}")))?;
        Ok(Reader {
            file,
            label: label.to_string(),
        })
    }

    pub fn has_group(&self, path: &str) -> bool {
        self.file.group(path).is_ok()
    }

    fn bad(&self, what: String) -> RkError {
        RkError::Value(format!("{}: {what}", self.label))
    }

    /// The attributes of the group at `path` ("" for the root).
    pub fn attrs(&self, path: &str) -> RkResult<std::collections::HashMap<String, AttrValue>> {
        let g = if path.is_empty() {
            Ok(self.file.root())
        } else {
            self.file.group(path)
        };
        g.and_then(|g| g.attrs())
            .map_err(|e| self.bad(format!("cannot read the attributes of '/{path}': {e}")))
    }

    pub fn string_attr(&self, path: &str, name: &str) -> RkResult<Option<String>> {
        Ok(self
            .attrs(path)?
            .get(name)
            .and_then(strings)
            .and_then(|v| v.into_iter().next()))
    }

    /// A string-list attribute, also as Keras splits long ones (`name0`, `name1`, ...).
    pub fn strings_attr(&self, path: &str, name: &str) -> RkResult<Option<Vec<String>>> {
        let attrs = self.attrs(path)?;
        if let Some(v) = attrs.get(name) {
            return Ok(Some(strings(v).unwrap_or_default()));
        }
        let mut out = Vec::new();
        let mut i = 0;
        while let Some(v) = attrs.get(&format!("{name}{i}")) {
            out.extend(strings(v).unwrap_or_default());
            i += 1;
        }
        Ok((i > 0).then_some(out))
    }

    pub fn groups(&self, path: &str) -> RkResult<Vec<String>> {
        self.file
            .group(path)
            .and_then(|g| g.groups())
            .map_err(|e| self.bad(format!("cannot list the groups of '/{path}': {e}")))
    }

    pub fn datasets(&self, path: &str) -> RkResult<Vec<String>> {
        self.file
            .group(path)
            .and_then(|g| g.datasets())
            .map_err(|e| self.bad(format!("cannot list the datasets of '/{path}': {e}")))
    }

    /// A numeric dataset as f32 (Keras may store float64; it is converted).
    pub fn f32s(&self, path: &str) -> RkResult<Stored> {
        let ds = self
            .file
            .dataset(path)
            .map_err(|e| self.bad(format!("has no dataset '/{path}' ({e})")))?;
        let shape = ds
            .shape()
            .map_err(|e| self.bad(format!("cannot read the shape of '/{path}': {e}")))?;
        let data = ds
            .read_f32()
            .map_err(|e| self.bad(format!("cannot read '/{path}' as numbers: {e}")))?;
        let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
        if data.len() != shape.iter().product::<usize>() {
            return Err(self.bad(format!("'/{path}' holds fewer values than its shape says")));
        }
        Ok(Stored { shape, data })
    }

    pub fn i64(&self, path: &str) -> RkResult<i64> {
        self.file
            .dataset(path)
            .and_then(|d| d.read_i64())
            .ok()
            .and_then(|v| v.first().copied())
            .ok_or_else(|| self.bad(format!("'/{path}' is not an integer")))
    }
}

/// The strings of a string or string-array attribute, whatever its encoding.
pub fn strings(v: &AttrValue) -> Option<Vec<String>> {
    let trim = |s: &String| s.trim_end_matches('\0').to_string();
    Some(match v {
        AttrValue::String(s)
        | AttrValue::AsciiString(s)
        | AttrValue::VarLenString(s)
        | AttrValue::VarLenAsciiString(s) => vec![trim(s)],
        AttrValue::StringSized { value, .. } | AttrValue::AsciiStringSized { value, .. } => {
            vec![trim(value)]
        }
        AttrValue::StringArray(v)
        | AttrValue::AsciiStringArray(v)
        | AttrValue::VarLenStringArray(v)
        | AttrValue::VarLenAsciiStringArray(v)
        | AttrValue::VarLenAsciiCharArray(v) => v.iter().map(trim).collect(),
        AttrValue::StringArraySized { values, .. }
        | AttrValue::AsciiStringArraySized { values, .. } => values.iter().map(trim).collect(),
        // h5py writes an empty list of names as an empty float array.
        AttrValue::F64Array(v) if v.is_empty() => Vec::new(),
        AttrValue::F32Array(v) if v.is_empty() => Vec::new(),
        _ => return None,
    })
}
