#!/bin/sh
# Set up (scripts/setup.sh), then run the main job: the MNIST MLP pipeline of Keras for R
# on data available offline (Fashion-MNIST from Debian; same shapes as MNIST).
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
Rscript scripts/mnist_mlp.R
