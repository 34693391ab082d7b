//! Recurrent layers that return their last states (`return_state`) and take initial
//! states (`initial_state`): the part nodes that pick the outputs, gradients through both
//! against finite differences, Keras's JSON both ways, and the errors.

use super::tests::{check_params, corrupted_grad_fails, layer};
use super::Graph;
use serde_json::{json, Value};

fn seeded(name: &str, class: &str, config: Value, seed: u64) -> Value {
    let mut l = layer(name, class, config);
    l["seed"] = json!(seed);
    l
}

fn bias() -> Value {
    json!({"name": "random_uniform", "args": [-0.3, 0.3]})
}

/// An encoder and a decoder: `enc` (return_state) reads `d(a)`; `dec` (return_sequences,
/// return_state) reads `d(b)` from `enc`'s states; the output reads the decoder's sequence
/// and last `h`, and the encoder's output.
fn seq2seq(class: &str, go_backwards: bool, dropout: f64) -> Value {
    let states = if class == "LSTM" { 2 } else { 1 };
    let enc_cfg = json!({"units": 3, "return_state": true, "bias_initializer": bias(),
                         "recurrent_dropout": dropout});
    let dec_cfg = json!({"units": 3, "return_sequences": true, "return_state": true,
                         "go_backwards": go_backwards, "bias_initializer": bias(), "dropout": dropout});
    let mut nodes = vec![
        json!({"layer": 0, "inputs": []}),
        json!({"layer": 1, "inputs": []}),
        json!({"layer": 2, "inputs": [0]}),
        json!({"layer": 3, "inputs": [2]}),
        json!({"layer": 3, "inputs": [3], "take": 0}),
    ];
    // Nodes 5.. : the encoder's states; then d(b), and the decoder reading it and them.
    for k in 0..states {
        nodes.push(json!({"layer": 3, "inputs": [3], "take": 1 + k}));
    }
    let db = nodes.len();
    nodes.push(json!({"layer": 2, "inputs": [1]}));
    let mut dec_inputs = vec![db];
    dec_inputs.extend((0..states).map(|k| 5 + k));
    let dec = nodes.len();
    nodes.push(json!({"layer": 4, "inputs": dec_inputs}));
    nodes.push(json!({"layer": 4, "inputs": [dec], "take": 0}));
    nodes.push(json!({"layer": 4, "inputs": [dec], "take": 1}));
    nodes.push(json!({"layer": 5, "inputs": [dec + 1]}));
    nodes.push(json!({"layer": 6, "inputs": [dec + 3, dec + 2, 4]}));
    nodes.push(json!({"layer": 7, "inputs": [dec + 4]}));
    let out = nodes.len() - 1;
    json!({
        "layers": [
            layer("a", "InputLayer", json!({"shape": [5, 3]})),
            layer("b", "InputLayer", json!({"shape": [4, 3]})),
            seeded("d", "Dense", json!({"units": 3, "activation": "tanh", "bias_initializer": bias()}), 1),
            seeded("enc", class, enc_cfg, 2),
            seeded("dec", class, dec_cfg, 3),
            layer("flat", "Flatten", json!({})),
            layer("cat", "Concatenate", json!({"axis": -1})),
            seeded("out", "Dense", json!({"units": 2}), 4),
        ],
        "nodes": nodes, "inputs": [0, 1], "outputs": [out]
    })
}

fn inputs(n: usize) -> Vec<f32> {
    (0..n).map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0).collect()
}

#[test]
fn states_returned_and_given_match_finite_differences() {
    for class in ["LSTM", "GRU", "SimpleRNN"] {
        for go_backwards in [false, true] {
            let g = Graph::from_json(&seq2seq(class, go_backwards, 0.0).to_string()).unwrap();
            let cat = g.nodes.len() - 2;
            assert_eq!(g.shapes[cat], vec![4 * 3 + 3 + 3], "{class}");
            let x = inputs(3 * (15 + 12));
            // d, enc, dec and out: every parameter, through states both ways.
            assert!(check_params(&g, &x, 3, false).unwrap() >= 8, "{class}");
        }
    }
    // With dropout masks (training), for the cell with two states.
    let g = Graph::from_json(&seq2seq("LSTM", false, 0.3).to_string()).unwrap();
    check_params(&g, &inputs(3 * 27), 3, true).unwrap();
}

#[test]
fn returned_states_are_the_last_steps_and_start_the_next_layer() {
    let g = Graph::from_json(&seq2seq("LSTM", false, 0.0).to_string()).unwrap();
    let x = inputs(2 * 27);
    let pass = g.forward(&x, 2, false, [0, 0], 1).unwrap();
    let dec = g.nodes.iter().position(|n| n.inputs.len() == 3).unwrap();
    let (seq, h) = (&pass.values[dec + 1], &pass.values[dec + 2]);
    assert_eq!(seq.shape(), &[2, 4, 3]);
    assert_eq!(h.shape(), &[2, 3]);
    for r in 0..2 {
        for j in 0..3 {
            assert_eq!(seq[[r, 3, j]], h[[r, j]]);
        }
    }
    // The decoder started from the encoder's states: zero states give other outputs.
    let mut spec = seq2seq("LSTM", false, 0.0);
    spec["nodes"][dec]["inputs"] = json!([dec - 1]);
    let mut alone = Graph::from_json(&spec.to_string());
    // (The graph no longer uses the states; the output still reads the encoder.)
    let alone = alone.as_mut().unwrap();
    alone.adopt_weights(&g);
    let p2 = alone.forward(&x, 2, false, [0, 0], 1).unwrap();
    assert_ne!(p2.values[dec + 1], *seq);
}

#[test]
fn a_wrong_state_gradient_fails_the_check() {
    let g = Graph::from_json(&seq2seq("LSTM", false, 0.0).to_string()).unwrap();
    // The encoder's kernel learns through its output and through the states it hands the
    // decoder; half its gradient must fail the check.
    let half = |w: &mut Vec<f32>| w.iter_mut().for_each(|v| *v *= 0.5);
    assert!(corrupted_grad_fails(
        &g,
        &inputs(3 * 27),
        3,
        false,
        (3, 0),
        half
    ));
}

#[test]
fn keras_json_names_outputs_and_initial_states() {
    let g = Graph::from_json(&seq2seq("LSTM", false, 0.0).to_string()).unwrap();
    let k = g.to_keras("m", false);
    let layers = k["config"]["layers"].as_array().unwrap();
    let dec = layers.iter().find(|l| l["name"] == "dec").unwrap();
    let node = &dec["inbound_nodes"][0];
    assert_eq!(
        node["args"][0]["config"]["keras_history"],
        json!(["d", 1, 0])
    );
    let states: Vec<&Value> = node["kwargs"]["initial_state"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["config"]["keras_history"])
        .collect();
    assert_eq!(states, vec![&json!(["enc", 0, 1]), &json!(["enc", 0, 2])]);
    assert_eq!(
        dec["build_config"]["shapes_dict"]["initial_state_shape"],
        json!([[null, 3], [null, 3]])
    );
    assert_eq!(dec["inbound_nodes"].as_array().unwrap().len(), 1);
    let cat = layers.iter().find(|l| l["name"] == "cat").unwrap();
    let hist: Vec<&Value> = cat["inbound_nodes"][0]["args"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["config"]["keras_history"])
        .collect();
    assert_eq!(
        hist,
        vec![
            &json!(["flat", 0, 0]),
            &json!(["dec", 0, 1]),
            &json!(["enc", 0, 0])
        ]
    );
    // Read back: the same graph, the same outputs.
    let desc = super::keras_json::parse_keras(&k.to_string()).unwrap();
    let mut back = Graph::from_json(&desc.graph.to_string()).unwrap();
    back.adopt_weights(&g);
    let x = inputs(2 * 27);
    let a = g.forward(&x, 2, false, [0, 0], 1).unwrap();
    let b = back.forward(&x, 2, false, [0, 0], 1).unwrap();
    assert_eq!(a.values[g.outputs[0]], b.values[back.outputs[0]]);
}

#[test]
fn several_outputs_read_as_one_and_bad_states_are_errors() {
    // A Sequential chain: the next layer would read the output and the states as one.
    let spec = json!({
        "layers": [layer("x", "InputLayer", json!({"shape": [4, 2]})),
                   layer("lstm", "LSTM", json!({"units": 3, "return_state": true})),
                   layer("out", "Dense", json!({"units": 1}))],
        "nodes": [{"layer": 0, "inputs": []}, {"layer": 1, "inputs": [0]}, {"layer": 2, "inputs": [1]}],
        "inputs": [0], "outputs": [2]});
    let e = Graph::from_json(&spec.to_string()).unwrap_err();
    assert!(
        e.message().contains("returns a list of tensors"),
        "{}",
        e.message()
    );
    let mut as_output = spec.clone();
    as_output["outputs"] = json!([1]);
    let e = Graph::from_json(&as_output.to_string()).unwrap_err();
    assert!(e.message().contains("model output"), "{}", e.message());
    // A part past the last output; a part of another layer's call.
    let mut past = spec.clone();
    past["nodes"][2] = json!({"layer": 1, "inputs": [1], "take": 3});
    past["outputs"] = json!([2]);
    assert!(Graph::from_json(&past.to_string()).is_err());
    let mut other = spec.clone();
    other["nodes"][2] = json!({"layer": 2, "inputs": [1], "take": 0});
    assert!(Graph::from_json(&other.to_string()).is_err());
    // Initial states of the wrong number or size.
    let mut spec = seq2seq("LSTM", false, 0.0);
    let dec = spec["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .position(|n| n["inputs"].as_array().unwrap().len() == 3)
        .unwrap();
    spec["nodes"][dec]["inputs"] = json!([dec - 1, 5]);
    let e = Graph::from_json(&spec.to_string()).unwrap_err();
    assert!(
        e.message().contains("takes 2 initial states"),
        "{}",
        e.message()
    );
    // Bidirectional over a layer that returns its states.
    let e = crate::layers::from_spec(
        "Bidirectional",
        &json!({"layer": {"class_name": "LSTM", "config": {"units": 2, "return_state": true}}}),
        0,
    )
    .unwrap_err();
    assert!(e.message().contains("return_state"), "{}", e.message());
}
