//! Tests of `tfevents.rs`.
use super::*;

const WALL: f64 = 1_700_000_000.0;

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect()
}

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rkeras-tfevents-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

#[test]
fn bytes_match_tensorflow() {
    // Spec section 2.4: TF's own record for epoch_loss = 0.5 at step 1.
    let want = hex(
        "34 00 00 00 00 00 00 00 5e 33 17 5c 09 00 00 00 40 fc 54 d9 41 10 01 2a 27 0a 25 0a 0a \
         65 70 6f 63 68 5f 6c 6f 73 73 42 0a 08 01 12 00 22 04 00 00 00 3f 4a 0b 0a 09 0a 07 73 \
         63 61 6c 61 72 73 46 10 d5 84",
    );
    assert_eq!(frame(&scalar_event(WALL, 1, "epoch_loss", 0.5)), want);
    let mut want = hex("18 00 00 00 00 00 00 00 a3 7f 4b 22 09 00 00 00 40 fc 54 d9 41 1a 0d");
    want.extend_from_slice(b"brain.Event:2");
    want.extend(hex("ec ed 8f 9d"));
    assert_eq!(frame(&file_version_event(WALL)), want);
    // Keras model-config event: 2-byte varint lengths, step absent.
    let json = "x".repeat(3024);
    let ev = keras_event(WALL, &json);
    assert_eq!(
        ev[9..32],
        hex("2a fe 17 0a fb 17 0a 05 6b 65 72 61 73 42 d7 17 08 07 12 00 42 d0 17")[..]
    );
    assert!(ev.ends_with(&hex(
        "4a 18 0a 16 0a 11 67 72 61 70 68 5f 6b 65 72 61 73 5f 6d 6f 64 65 6c 12 01 31"
    )));
}

#[test]
fn negative_step_is_ten_byte_varint() {
    let ev = scalar_event(WALL, -1, "t", 1.0);
    assert_eq!(ev[9..20], hex("10 ff ff ff ff ff ff ff ff ff 01")[..]);
}

#[test]
fn round_trip() {
    let dir = tmp_dir("roundtrip");
    let mut w = EventWriter::create(&dir, "my host/1").unwrap();
    let name = w.path().file_name().unwrap().to_string_lossy().into_owned();
    let parts: Vec<&str> = name.split('.').collect();
    assert_eq!(parts[..3], ["events", "out", "tfevents"]);
    assert_eq!(
        (parts[4], parts[5], parts[7]),
        ("my_host_1", &*std::process::id().to_string(), "v2")
    );
    w.keras_model_config(r#"{"class_name": "Sequential"}"#)
        .unwrap();
    let mut want = Vec::new();
    for step in 0..3i64 {
        for (tag, v) in [
            ("epoch_loss", 1.0 / (step as f32 + 1.0)),
            ("epoch_accuracy", -0.25 * step as f32),
        ] {
            w.scalar(tag, step, v).unwrap();
            want.push((tag.to_string(), step, v));
        }
    }
    w.histogram("dense/kernel", 2, &[1.0, 2.0, 2.5, 4.0])
        .unwrap();
    w.scalar("big_step", 1 << 40, f32::MAX).unwrap();
    want.push(("big_step".to_string(), 1 << 40, f32::MAX));
    let path = w.path().to_path_buf();
    w.flush().unwrap();
    assert_eq!(read_scalars(&path).unwrap(), want);
    drop(w);
    let all = read_summaries(&path).unwrap();
    let k = &all[0];
    assert_eq!(
        (k.tag.as_str(), k.step, k.dtype, k.plugin_name.as_str()),
        ("keras", 0, 7, "graph_keras_model")
    );
    assert_eq!(
        (k.plugin_content.as_slice(), k.string_val.len()),
        (&b"1"[..], 1)
    );
    let h = all.iter().find(|v| v.tag == "dense/kernel").unwrap();
    assert_eq!(
        (h.step, h.dtype, h.plugin_name.as_str(), h.shape.as_slice()),
        (2, 2, "histograms", &[30, 3][..])
    );
    assert_eq!(h.tensor_content.len(), 30 * 3 * 8);
    assert!(all[1].wall_time > 1.6e9);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn histogram_buckets_like_tf() {
    let rows = histogram_buckets(&[0.0, 1.0, 1.0, 3.0, f32::NAN], 3);
    assert_eq!(
        rows,
        vec![[0.0, 1.0, 1.0], [1.0, 2.0, 2.0], [2.0, 3.0, 1.0]]
    );
    let rows = histogram_buckets(&[5.0, 5.0], 30);
    assert_eq!(
        (rows.len(), rows[0], rows[29]),
        (30, [5.0, 5.0, 0.0], [5.0, 5.0, 2.0])
    );
    assert_eq!(histogram_buckets(&[], 30), vec![[0.0; 3]; 30]);
    let v: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin()).collect();
    let rows = histogram_buckets(&v, 30);
    assert_eq!(rows.iter().map(|r| r[2]).sum::<f64>(), 1000.0);
    assert_eq!(
        rows[29][1],
        v.iter().cloned().fold(f32::MIN, f32::max) as f64
    );
    assert!(rows.windows(2).all(|w| w[0][1] == w[1][0]));
}

#[test]
fn corruption_is_reported() {
    let dir = tmp_dir("corrupt");
    let path = {
        let mut w = EventWriter::create(&dir, "h").unwrap();
        w.scalar("epoch_loss", 0, 0.5).unwrap();
        w.scalar("epoch_loss", 1, 0.25).unwrap();
        w.path().to_path_buf()
    };
    let good = fs::read(&path).unwrap();
    assert_eq!(parse_records(&good).unwrap().len(), 3);
    // Truncated last record (a half-flushed tail).
    for cut in [1, 5, 20] {
        let e = parse_records(&good[..good.len() - cut]).unwrap_err();
        assert!(e.contains("truncated record 2 at byte offset"), "{e}");
    }
    fs::write(&path, &good[..good.len() - 3]).unwrap();
    let e = read_scalars(&path).unwrap_err();
    assert!(
        e.contains("truncated") && e.contains(&path.display().to_string()),
        "{e}"
    );
    // A flipped byte in the data of record 1, then in its length.
    let off = 40; // record 0 is 40 bytes
    let mut bad = good.clone();
    bad[off + 20] ^= 0x04;
    assert_eq!(
        parse_records(&bad).unwrap_err(),
        "data CRC mismatch in record 1 at byte offset 40 (data at 52)"
    );
    let mut bad = good.clone();
    bad[off] ^= 0x01;
    assert_eq!(
        parse_records(&bad).unwrap_err(),
        "length CRC mismatch in record 1 at byte offset 40"
    );
    // Not an event file at all.
    assert!(parse_records(b"hello world, not a record").is_err());
    fs::remove_dir_all(&dir).unwrap();
}
