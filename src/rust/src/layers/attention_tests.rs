//! Finite-difference checks of the attention layers' backward passes.

use super::attention::MultiHeadAttention;
use super::dot_attention::DotAttention;
use super::{Ctx, Layer, Shape, Tensor};
use crate::rng::Rng;
use crate::testing::check_grad;
use serde_json::{json, Value};

fn ctx(masks: &[Option<Tensor>]) -> Ctx {
    Ctx {
        training: false,
        backward: true,
        rng: Rng::new(3),
        threads: 1,
        input_grads: true,
        mask: masks.first().cloned().flatten(),
        input_masks: masks.to_vec(),
        epilogue: Vec::new(),
        added_loss: 0.0,
    }
}

fn random(shape: &[usize], rng: &mut Rng) -> Tensor {
    let n = shape.iter().product();
    let v = (0..n).map(|_| rng.uniform_f32() * 2.0 - 1.0).collect();
    Tensor::from_shape_vec(ndarray::IxDyn(shape), v).unwrap()
}

/// `sum(y * r)` and its gradients with respect to each input and parameter, checked
/// against central differences.
fn check(
    mut layer: Box<dyn Layer>,
    shapes: &[Shape],
    masks: &[Option<Tensor>],
    extra: Option<Tensor>,
) {
    let mut rng = Rng::new(11);
    let out = layer.build("att", shapes, &mut Rng::new(1)).unwrap();
    // Weights away from their initial values (scales of 1, zero biases).
    for p in layer.params_mut() {
        p.value.mapv_inplace(|v| v + rng.uniform_f32() - 0.5);
    }
    let n = 2;
    let mut xs: Vec<Tensor> = shapes[..3]
        .iter()
        .map(|s| {
            let mut d = vec![n];
            d.extend(s);
            random(&d, &mut rng)
        })
        .collect();
    if let Some(m) = extra {
        xs.push(m);
    }
    let parts = layer.output_parts(shapes);
    let width: usize = if parts.is_empty() {
        out.iter().product()
    } else {
        parts.iter().map(|s| s.iter().product::<usize>()).sum()
    };
    let r = random(&[n * width], &mut rng);
    let objective = |layer: &dyn Layer, xs: &[Tensor]| -> f64 {
        let refs: Vec<&Tensor> = xs.iter().collect();
        let (y, _) = layer.forward(&refs, &mut ctx(masks)).unwrap();
        y.iter()
            .zip(r.iter())
            .map(|(a, b)| (*a as f64) * (*b as f64))
            .sum()
    };
    let refs: Vec<&Tensor> = xs.iter().collect();
    let mut c = ctx(masks);
    let (y, cache) = layer.forward(&refs, &mut c).unwrap();
    let g = Tensor::from_shape_vec(y.raw_dim(), r.iter().copied().collect()).unwrap();
    let mut pgrads: Vec<Tensor> = layer
        .params()
        .iter()
        .map(|p| super::zeros_like(&p.value.raw_dim()))
        .collect();
    let dx = layer
        .backward(&refs, &y, &cache, g, &mut pgrads, &mut c)
        .unwrap();
    for i in 0..3 {
        let base = xs[i].as_slice().unwrap().to_vec();
        check_grad(
            &format!("input {i}"),
            &base,
            dx[i].as_slice().unwrap(),
            |v| {
                let mut x2 = xs.clone();
                x2[i].as_slice_mut().unwrap().copy_from_slice(v);
                objective(layer.as_ref(), &x2)
            },
        )
        .unwrap();
    }
    for (k, gp) in pgrads.iter().enumerate() {
        let base = layer.params()[k].value.as_slice().unwrap().to_vec();
        check_grad(&format!("param {k}"), &base, gp.as_slice().unwrap(), |v| {
            let mut l = layer.clone();
            l.params_mut()[k]
                .value
                .as_slice_mut()
                .unwrap()
                .copy_from_slice(v);
            objective(l.as_ref(), &xs)
        })
        .unwrap();
    }
}

fn mha(c: Value) -> Box<dyn Layer> {
    Box::new(MultiHeadAttention::from_config(&c, 5).unwrap())
}

fn steps_mask(rows: &[&[f32]]) -> Option<Tensor> {
    let s = rows[0].len();
    let v: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Some(Tensor::from_shape_vec(ndarray::IxDyn(&[rows.len(), s]), v).unwrap())
}

#[test]
fn multi_head_attention_gradients() {
    let shapes = vec![vec![3, 4], vec![5, 2], vec![5, 3]];
    check(
        mha(json!({"num_heads": 2, "key_dim": 3})),
        &shapes,
        &[],
        None,
    );
    check(
        mha(
            json!({"num_heads": 2, "key_dim": 2, "value_dim": 3, "output_shape": 6, "use_bias": false}),
        ),
        &shapes,
        &[],
        None,
    );
    // Masks of the query and value, the causal mask and the scores as a second output.
    let masks = vec![
        steps_mask(&[&[1.0, 1.0, 0.0], &[1.0, 1.0, 1.0]]),
        steps_mask(&[&[1.0, 1.0, 1.0, 0.0, 0.0], &[1.0, 1.0, 1.0, 1.0, 1.0]]),
        None,
    ];
    check(
        mha(
            json!({"num_heads": 2, "key_dim": 3, "use_causal_mask": true, "return_attention_scores": true}),
        ),
        &shapes,
        &masks,
        None,
    );
    // An attention mask input.
    let mut shapes4 = shapes.clone();
    shapes4.push(vec![3, 5]);
    let am: Vec<f32> = (0..30)
        .map(|i| if i % 4 == 1 { 0.0 } else { 1.0 })
        .collect();
    let am = Tensor::from_shape_vec(ndarray::IxDyn(&[2, 3, 5]), am).unwrap();
    check(
        mha(json!({"num_heads": 1, "key_dim": 2})),
        &shapes4,
        &[],
        Some(am),
    );
}

#[test]
fn dot_and_additive_attention_gradients() {
    let shapes = vec![vec![3, 4], vec![5, 2], vec![5, 4]];
    let masks = [
        steps_mask(&[&[1.0, 0.0, 1.0], &[1.0, 1.0, 1.0]]),
        steps_mask(&[&[1.0, 1.0, 0.0, 1.0, 0.0], &[1.0, 1.0, 1.0, 1.0, 1.0]]),
        None,
    ];
    for (class, c) in [
        ("Attention", json!({})),
        (
            "Attention",
            json!({"use_scale": true, "return_attention_scores": true}),
        ),
        (
            "Attention",
            json!({"use_scale": true, "score_mode": "concat", "use_causal_mask": true}),
        ),
        ("Attention", json!({"score_mode": "concat"})),
        ("AdditiveAttention", json!({})),
        (
            "AdditiveAttention",
            json!({"use_scale": false, "return_attention_scores": true}),
        ),
    ] {
        for m in [&[][..], &masks[..]] {
            let layer = Box::new(DotAttention::from_config(class, &c, 5).unwrap());
            check(layer, &shapes, m, None);
        }
    }
}
