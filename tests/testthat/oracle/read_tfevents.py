#!/usr/bin/env python3
"""Oracle for rkeras' TensorBoard logs: read a log directory with TensorBoard's own code.

Usage:
    python read_tfevents.py LOGDIR [--strict]

Runs are found the way `tensorboard --logdir LOGDIR --load_fast=false` finds them (every
directory holding a `*tfevents*` file, named by its path relative to LOGDIR, `.` for LOGDIR
itself) and loaded by TensorBoard's Python ingester (`plugin_event_multiplexer`, keeping every
point). Scalars and histograms are read through `MultiplexerDataProvider`, which is what the
dashboards query, and the Graphs tab's verdict comes from `GraphsPlugin.info_impl` itself.

Prints one JSON object on stdout:

    {RUN: {
       "scalars":           {TAG: [[step, value], ...]},   # as the Scalars dashboard gets them
       "graph_keras_model": true|false,   # Graphs tab lists a conceptual (Keras) graph
       "keras_model":       {"tag", "class_name", "layers": [class_name...],
                             "conceptual_graph_nodes", "nodes": [name...]} or null,
       "run_graph":         true|false,   # an op GraphDef (Event.graph_def) is present
       "tensors_tags":      [TAG, ...],    # every tensor-summary tag, sorted
       "tag_encoding":      {TAG: "tensor:DT_FLOAT:scalars", ...},
       "histograms":        {TAG: [[step, rows, total_count], ...]},
       "files": [{"name", "records", "file_version", "error"}]}}

"files" re-reads every event file with TensorBoard's own record reader, which checks both
CRCs: "error" is null or the DataLossError message (TensorBoard's loader itself stops silently
at such a record, so the data after it is simply missing above). Non-finite scalar values are
written as the strings "NaN", "Infinity", "-Infinity" to keep the JSON standard.
Exit status: 0, or 1 with --strict when any file has an error, 2 on bad usage.
"""

import json
import logging
import math
import os
import sys


def _finite(x):
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def _check_files(run_dir):
    from tensorboard.compat.proto import event_pb2
    from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow

    out = []
    names = sorted(n for n in os.listdir(run_dir) if "tfevents" in n)
    for name in names:
        path = os.path.join(run_dir, name)
        if not os.path.isfile(path):
            continue
        reader = pywrap_tensorflow.PyRecordReader_New(path)
        info = {"name": name, "records": 0, "file_version": None, "error": None}
        while True:
            try:
                reader.GetNext()
            except errors.OutOfRangeError:
                break
            except errors.DataLossError as e:
                info["error"] = "record %d: %s" % (info["records"], e.message)
                break
            if info["records"] == 0:
                info["file_version"] = event_pb2.Event.FromString(reader.record()).file_version
            info["records"] += 1
        out.append(info)
    return out


def read_logdir(logdir):
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea
    from tensorboard.backend.event_processing import plugin_event_multiplexer as pem
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.graph import graphs_plugin, keras_util
    from tensorboard.compat.proto import types_pb2

    mux = pem.EventMultiplexer(size_guidance=pea.STORE_EVERYTHING_SIZE_GUIDANCE)
    mux.AddRunsFromDirectory(logdir)
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, logdir)
    ctx = context.RequestContext()
    big = 10**9  # downsample limit: keep every point

    scalars = provider.read_scalars(ctx, experiment_id="", plugin_name="scalars", downsample=big)
    hists = provider.read_tensors(ctx, experiment_id="", plugin_name="histograms", downsample=big)
    tb_ctx = base_plugin.TBContext(logdir=logdir, multiplexer=mux, data_provider=provider)
    graph_info = graphs_plugin.GraphsPlugin(tb_ctx).info_impl(ctx, experiment="")

    result = {}
    for run in sorted(mux.Runs()):
        acc = mux.GetAccumulator(run)
        tags = acc.Tags()
        encoding = {}
        for tag in tags.get(pea.TENSORS, []):
            meta = acc.SummaryMetadata(tag)
            dtype = acc.Tensors(tag)[0].tensor_proto.dtype
            encoding[tag] = "tensor:%s:%s" % (
                types_pb2.DataType.Name(dtype),
                meta.plugin_data.plugin_name,
            )
        g = graph_info.get(run, {"tags": {}, "run_graph": False})
        conceptual = [t for t, v in g["tags"].items() if v.get("conceptual_graph")]
        keras_model = None
        if conceptual:
            tag = conceptual[0]
            config = json.loads(acc.Tensors(tag)[0].tensor_proto.string_val[0])
            graph = keras_util.keras_model_to_graph_def(config)
            layers = config.get("config", {}).get("layers", [])
            keras_model = {
                "tag": tag,
                "class_name": config.get("class_name"),
                "layers": [layer.get("class_name") for layer in layers],
                "conceptual_graph_nodes": len(graph.node),
                "nodes": [n.name for n in graph.node],
            }
        run_dir = logdir if run == "." else os.path.join(logdir, run)
        result[run] = {
            "scalars": {
                tag: [[d.step, _finite(d.value)] for d in data]
                for tag, data in sorted(scalars.get(run, {}).items())
            },
            "graph_keras_model": bool(conceptual),
            "keras_model": keras_model,
            "run_graph": bool(g.get("run_graph")),
            "tensors_tags": sorted(tags.get(pea.TENSORS, [])),
            "tag_encoding": dict(sorted(encoding.items())),
            "histograms": {
                tag: [
                    [d.step, int(d.numpy.shape[0]), _finite(d.numpy[:, 2].sum())]
                    for d in data
                ]
                for tag, data in sorted(hists.get(run, {}).items())
            },
            "files": _check_files(run_dir),
        }
    return result


def main(argv):
    args = [a for a in argv[1:] if a != "--strict"]
    if len(args) != 1 or not os.path.isdir(args[0]):
        sys.stderr.write("usage: read_tfevents.py LOGDIR [--strict]\n")
        return 2
    logging.getLogger("tensorboard").setLevel(logging.ERROR)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    result = read_logdir(os.path.abspath(args[0]))
    json.dump(result, sys.stdout, sort_keys=True, allow_nan=False)
    sys.stdout.write("\n")
    bad = any(f["error"] for r in result.values() for f in r["files"])
    return 1 if bad and "--strict" in argv[1:] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
