//! Keras's model files (see `shared/reference/keras_file_format.md`):
//! - the `.keras` zip: `config.json`, `metadata.json` and `model.weights.h5`;
//! - the weights file (`model.weights.h5`, or a standalone `.weights.h5`):
//!   `layers/<group>/vars/<i>`, `optimizer/vars/<i>` and the model's own `vars`;
//! - the legacy HDF5 file: root attributes `model_config` and `training_config`,
//!   `model_weights/<layer>/<weight name>` listed by `layer_names` and `weight_names`, and
//!   `optimizer_weights`; a weights-only legacy file has the layer groups at the root.
//!
//! Files are written whole under a temporary name and renamed into place.

use crate::error::{RkError, RkResult};
use crate::io::hdf5::{Data, Reader, Stored, Tree};
use hdf5_pure::AttrValue;
use std::io::{Read, Write};
use std::path::Path;

pub const KERAS_VERSION: &str = "3.15.1";

/// One layer's variables under the group Keras names it by.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerVars {
    pub group: String,
    /// The names of the variables (legacy files list them; `.keras` files number them).
    pub names: Vec<String>,
    pub vars: Vec<Stored>,
}

/// An optimizer's state in Keras's order: its step count, learning rate, then its slots.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerVars {
    pub name: String,
    pub iterations: i64,
    pub learning_rate: f32,
    pub names: Vec<String>,
    pub vars: Vec<Stored>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Weights {
    pub model_name: String,
    pub layers: Vec<LayerVars>,
    pub optimizer: Option<OptimizerVars>,
}

/// `model.weights.h5` (Keras 3's weights file).
pub fn weights_h5(w: &Weights) -> RkResult<Vec<u8>> {
    let mut t = Tree::default();
    t.group("layers");
    for l in &w.layers {
        let g = t.group(&format!("layers/{}/vars", l.group));
        g.attr("name", AttrValue::VarLenString(l.group.clone()));
        for (i, v) in l.vars.iter().enumerate() {
            g.dataset(&i.to_string(), Data::F32(v.clone()));
        }
    }
    if let Some(o) = &w.optimizer {
        let g = t.group("optimizer/vars");
        g.attr("name", AttrValue::VarLenString(o.name.clone()));
        g.dataset("0", Data::I64(o.iterations));
        g.dataset("1", Data::F32(Stored::scalar(o.learning_rate)));
        for (i, v) in o.vars.iter().enumerate() {
            g.dataset(&(i + 2).to_string(), Data::F32(v.clone()));
        }
    }
    t.group("vars")
        .attr("name", AttrValue::VarLenString(w.model_name.clone()));
    t.to_bytes()
}

/// Datasets `0`, `1`, ... of a `vars` group, in number order.
fn numbered(r: &Reader, path: &str) -> RkResult<Vec<Stored>> {
    let mut names = r.datasets(path)?;
    names.retain(|n| n.parse::<usize>().is_ok());
    names.sort_by_key(|n| n.parse::<usize>().unwrap_or(usize::MAX));
    for (i, n) in names.iter().enumerate() {
        if n.parse::<usize>() != Ok(i) {
            return Err(RkError::Value(format!(
                "{}: '/{path}' has variable {n} but no variable {i}",
                r.label
            )));
        }
    }
    names
        .iter()
        .map(|n| r.f32s(&format!("{path}/{n}")))
        .collect()
}

pub fn read_weights_h5(bytes: Vec<u8>, label: &str) -> RkResult<Weights> {
    weights_from(&Reader::from_bytes(bytes, label)?)
}

/// A Keras 3 weights file already opened.
pub fn weights_from(r: &Reader) -> RkResult<Weights> {
    let label = &r.label;
    if !r.has_group("layers") {
        return Err(RkError::Value(format!(
            "{label} is not a Keras weights file: it has no 'layers' group"
        )));
    }
    let mut layers = Vec::new();
    // Every `vars` group under `layers/`, however deep: a recurrent layer keeps its weights
    // in its cell (`layers/lstm/cell/vars`), a bidirectional wrapper in its two layers'.
    let mut pending: Vec<(String, usize)> =
        r.groups("layers")?.into_iter().map(|g| (g, 0)).collect();
    while let Some((group, depth)) = pending.pop() {
        let path = format!("layers/{group}");
        for sub in r.groups(&path)? {
            if sub == "vars" {
                layers.push(LayerVars {
                    vars: numbered(r, &format!("{path}/vars"))?,
                    group: group.clone(),
                    names: Vec::new(),
                });
            } else if depth < 8 {
                pending.push((format!("{group}/{sub}"), depth + 1));
            }
        }
    }
    layers.sort_by(|a, b| a.group.cmp(&b.group));
    let optimizer = if r.has_group("optimizer/vars") && !r.datasets("optimizer/vars")?.is_empty() {
        let mut vars = numbered(r, "optimizer/vars")?;
        if vars.len() < 2 {
            return Err(RkError::Value(format!(
                "{label}: the optimizer's variables lack its step count and learning rate"
            )));
        }
        let iterations = r.i64("optimizer/vars/0")?;
        let rest = vars.split_off(2);
        Some(OptimizerVars {
            name: r.string_attr("optimizer/vars", "name")?.unwrap_or_default(),
            iterations,
            learning_rate: vars[1].data.first().copied().unwrap_or(f32::NAN),
            names: Vec::new(),
            vars: rest,
        })
    } else {
        None
    };
    let model_name = if r.has_group("vars") {
        r.string_attr("vars", "name")?.unwrap_or_default()
    } else {
        String::new()
    };
    Ok(Weights {
        model_name,
        layers,
        optimizer,
    })
}

/// The `.keras` archive: members stored uncompressed, dated 1980-01-01, as Keras writes them.
pub fn keras_archive(config: &str, metadata: &str, weights: &[u8]) -> RkResult<Vec<u8>> {
    let zip_err =
        |e: zip::result::ZipError| RkError::Internal(format!("cannot build the archive: {e}"));
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default());
    for (name, bytes) in [
        ("metadata.json", metadata.as_bytes()),
        ("config.json", config.as_bytes()),
        ("model.weights.h5", weights),
    ] {
        z.start_file(name, o).map_err(zip_err)?;
        z.write_all(bytes)?;
    }
    Ok(z.finish().map_err(zip_err)?.into_inner())
}

/// `config.json` and `model.weights.h5` of a `.keras` archive.
pub fn read_keras_archive(bytes: Vec<u8>, label: &str) -> RkResult<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| {
        RkError::Value(format!(
            "{label} is not a Keras model archive (a zip file): {e}"
        ))
    })?;
    let mut member = |name: &str| -> RkResult<Vec<u8>> {
        let mut f = z.by_name(name).map_err(|_| {
            RkError::Value(format!(
                "{label} is not a Keras model archive: it has no '{name}'"
            ))
        })?;
        let mut out = Vec::new();
        f.read_to_end(&mut out).map_err(|e| {
            RkError::Value(format!(
                "{label}: cannot read '{name}' from the archive: {e}"
            ))
        })?;
        Ok(out)
    };
    let config = String::from_utf8(member("config.json")?)
        .map_err(|_| RkError::Value(format!("{label}: 'config.json' is not UTF-8 text")))?;
    let weights = member("model.weights.h5")?;
    Ok((config, weights))
}

/// A legacy HDF5 file: a whole model (`model_config` given) or weights only.
#[derive(Clone, Debug, PartialEq)]
pub struct Legacy {
    pub model_config: Option<String>,
    pub training_config: Option<String>,
    pub layers: Vec<LayerVars>,
    pub optimizer: Option<OptimizerVars>,
}

fn str_attr(s: &str) -> AttrValue {
    AttrValue::VarLenString(s.to_string())
}

pub fn legacy_h5(l: &Legacy) -> RkResult<Vec<u8>> {
    let mut t = Tree::default();
    if let Some(c) = &l.model_config {
        t.attr("backend", str_attr("tensorflow"))
            .attr("keras_version", str_attr(KERAS_VERSION))
            .attr("model_config", str_attr(c));
        if let Some(tc) = &l.training_config {
            t.attr("training_config", str_attr(tc));
        }
    }
    {
        let root = if l.model_config.is_some() {
            t.group("model_weights")
        } else {
            &mut t
        };
        let names: Vec<String> = l.layers.iter().map(|x| x.group.clone()).collect();
        root.attr("backend", str_attr("tensorflow"))
            .attr("keras_version", str_attr(KERAS_VERSION))
            .attr("layer_names", AttrValue::VarLenStringArray(names));
        for layer in &l.layers {
            let g = root.group(&layer.group);
            g.attr(
                "weight_names",
                AttrValue::VarLenStringArray(layer.names.clone()),
            );
            for (n, v) in layer.names.iter().zip(&layer.vars) {
                g.dataset(n, Data::F32(v.clone()));
            }
        }
    }
    if let (Some(o), Some(_)) = (&l.optimizer, &l.model_config) {
        let g = t.group("optimizer_weights");
        let mut names = vec![
            format!("{}/iteration", o.name),
            format!("{}/learning_rate", o.name),
        ];
        names.extend(o.names.iter().cloned());
        g.attr("weight_names", AttrValue::VarLenStringArray(names.clone()));
        g.dataset(&names[0], Data::I64(o.iterations));
        g.dataset(&names[1], Data::F32(Stored::scalar(o.learning_rate)));
        for (n, v) in names[2..].iter().zip(&o.vars) {
            g.dataset(n, Data::F32(v.clone()));
        }
    }
    t.to_bytes()
}

pub fn read_legacy_h5(bytes: Vec<u8>, label: &str) -> RkResult<Legacy> {
    legacy_from(&Reader::from_bytes(bytes, label)?)
}

/// A legacy HDF5 file already opened.
pub fn legacy_from(r: &Reader) -> RkResult<Legacy> {
    let label = &r.label;
    let model_config = r.string_attr("", "model_config")?;
    let training_config = r.string_attr("", "training_config")?;
    let root = if r.has_group("model_weights") {
        "model_weights"
    } else {
        ""
    };
    let Some(layer_names) = r.strings_attr(root, "layer_names")? else {
        return Err(RkError::Value(format!(
            "{label} holds no Keras weights: it has neither a 'model_weights' group nor a 'layer_names' attribute"
        )));
    };
    let mut layers = Vec::new();
    for name in layer_names {
        let path = if root.is_empty() {
            name.clone()
        } else {
            format!("{root}/{name}")
        };
        let names = r.strings_attr(&path, "weight_names")?.unwrap_or_default();
        let vars = names
            .iter()
            .map(|n| r.f32s(&format!("{path}/{n}")))
            .collect::<RkResult<Vec<_>>>()?;
        layers.push(LayerVars {
            group: name,
            names,
            vars,
        });
    }
    let mut optimizer = None;
    if r.has_group("optimizer_weights") {
        if let Some(names) = r.strings_attr("optimizer_weights", "weight_names")? {
            if names.len() >= 2 {
                let path = |n: &String| format!("optimizer_weights/{n}");
                let iterations = r
                    .i64(&path(&names[0]))
                    .or_else(|_| r.f32s(&path(&names[0])).map(|s| s.data[0] as i64))?;
                let lr = r.f32s(&path(&names[1]))?;
                let vars = names[2..]
                    .iter()
                    .map(|n| r.f32s(&path(n)))
                    .collect::<RkResult<Vec<_>>>()?;
                optimizer = Some(OptimizerVars {
                    name: names[0].split('/').next().unwrap_or("").to_string(),
                    iterations,
                    learning_rate: lr.data.first().copied().unwrap_or(f32::NAN),
                    names: names[2..].to_vec(),
                    vars,
                });
            }
        }
    }
    Ok(Legacy {
        model_config,
        training_config,
        layers,
        optimizer,
    })
}

/// Write `bytes` to `path` whole or not at all: into a temporary file beside it, synced,
/// then renamed over it. A failure part-way removes the temporary file and leaves any
/// previous file at `path` as it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> RkResult<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let shown = path.display();
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        // A test hook: fail after this many bytes, as a full disk would.
        let limit = std::env::var("RKERAS_TEST_WRITE_LIMIT")
            .ok()
            .and_then(|v| v.parse::<usize>().ok());
        match limit {
            Some(n) if n < bytes.len() => {
                f.write_all(&bytes[..n])?;
                return Err(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "no space left on device",
                ));
            }
            _ => f.write_all(bytes)?,
        }
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(RkError::Io(format!("cannot write '{shown}': {e}")));
    }
    Ok(())
}

pub fn read_file(path: &Path) -> RkResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| RkError::Io(format!("cannot read '{}': {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(shape: &[usize], start: f32) -> Stored {
        let n = shape.iter().product();
        Stored {
            shape: shape.to_vec(),
            data: (0..n).map(|i| start + i as f32).collect(),
        }
    }

    fn sample() -> Weights {
        Weights {
            model_name: "sequential".into(),
            layers: vec![
                LayerVars {
                    group: "dense".into(),
                    names: vec![],
                    vars: vec![w(&[3, 2], 0.0), w(&[2], 10.0)],
                },
                LayerVars {
                    group: "dropout".into(),
                    names: vec![],
                    vars: vec![],
                },
            ],
            optimizer: Some(OptimizerVars {
                name: "adam".into(),
                iterations: 7,
                learning_rate: 0.001,
                names: vec![],
                vars: vec![w(&[3, 2], 1.0), w(&[3, 2], 2.0), w(&[2], 3.0), w(&[2], 4.0)],
            }),
        }
    }

    #[test]
    fn weights_file_round_trips() {
        let s = sample();
        let back = read_weights_h5(weights_h5(&s).unwrap(), "test").unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn archive_round_trips_and_names_missing_members() {
        let bytes = keras_archive("{}", "{}", b"abc").unwrap();
        let (c, w) = read_keras_archive(bytes, "m.keras").unwrap();
        assert_eq!((c.as_str(), w.as_slice()), ("{}", &b"abc"[..]));
        let err = read_keras_archive(b"not a zip".to_vec(), "x.keras").unwrap_err();
        assert!(err
            .message()
            .contains("x.keras is not a Keras model archive"));
    }

    #[test]
    fn legacy_file_round_trips() {
        let l = Legacy {
            model_config: Some("{\"class_name\": \"Sequential\"}".into()),
            training_config: None,
            layers: vec![LayerVars {
                group: "dense".into(),
                names: vec![
                    "sequential/dense/kernel".into(),
                    "sequential/dense/bias".into(),
                ],
                vars: vec![w(&[3, 2], 0.0), w(&[2], 10.0)],
            }],
            optimizer: Some(OptimizerVars {
                name: "sgd".into(),
                iterations: 3,
                learning_rate: 0.5,
                names: vec!["sgd/m".into(), "sgd/b".into()],
                vars: vec![w(&[3, 2], 1.0), w(&[2], 2.0)],
            }),
        };
        assert_eq!(read_legacy_h5(legacy_h5(&l).unwrap(), "t").unwrap(), l);
        let weights_only = Legacy {
            model_config: None,
            optimizer: None,
            ..l
        };
        assert_eq!(
            read_legacy_h5(legacy_h5(&weights_only).unwrap(), "t").unwrap(),
            weights_only
        );
        let err = read_legacy_h5(b"junk".to_vec(), "j.h5").unwrap_err();
        assert!(err.message().contains("j.h5 is not an HDF5 file"));
    }

    #[test]
    fn failed_write_keeps_the_old_file() {
        let dir = std::env::temp_dir().join(format!("rk-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("m.keras");
        write_atomic(&p, b"old").unwrap();
        std::env::set_var("RKERAS_TEST_WRITE_LIMIT", "2");
        let err = write_atomic(&p, b"new contents");
        std::env::remove_var("RKERAS_TEST_WRITE_LIMIT");
        assert!(err.is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
