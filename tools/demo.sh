#!/usr/bin/env bash
# make demo: the full-size synthetic brain simulated on MPI ranks, then the whole fitting pipeline
# (round 1, round 2, prediction, metrics, figures) on a small synthetic brain with synthetic
# recordings; ends with the metrics table. The recordings come from flyfit-synth's realistic model
# (ACTIVITY_MODEL=brainscale: flyfit's own network, the known answer); they are made afresh each run.
# COMPAT=brainscale fits with [fit] compat = brainscale (the original's settings) into out/demo/fit-compat.
# usage: [ACTIVITY_MODEL=realistic|brainscale] [COMPAT=brainscale] tools/demo.sh [RANKS]
set -euo pipefail
cd "$(dirname "$0")/.."
np=${1:-2}
D=out/demo
mkdir -p $D
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
if [ ! -f $D/connectome.h5 ]; then
  echo "demo: generating the full-size synthetic brain ($D/connectome.h5)"
  bin/flyfit-synth --seed 1 -o $D/connectome.h5
fi
tools/pick-neurons $D/connectome.h5 --neuropil GNG --count 21 > $D/sugar.txt
tools/pick-neurons $D/connectome.h5 --targets-of $D/sugar.txt --count 4 > $D/watch.txt
echo "demo: mpirun -np $np bin/flyfit jobs/demo.ini"
mpirun -np "$np" --oversubscribe bin/flyfit jobs/demo.ini
tools/flyfit-plot $D/results.h5 -o $D/figures --quiet  # a simulation has no fit sections
echo "demo: simulation results in $D/results.h5, spikes in $D/spikes.txt, figures in $D/figures/"

F=$D/fit  # the recordings (jobs/demo-fit.ini reads them here) and, by default, the results
R=$F
compat=()
case ${COMPAT:-none} in
  none) ;;
  brainscale) R=$D/fit-compat; compat=(--set fit.compat=brainscale --set output.dir=$R) ;;
  *) echo "demo: COMPAT=$COMPAT: it is brainscale (or unset)" >&2; exit 1 ;;
esac
mkdir -p $F $R
model=${ACTIVITY_MODEL:-realistic}
extra=()
case $model in
  realistic) ;;
  brainscale) extra=(--sample-ms 200) ;; # the network time per frame of jobs/demo-fit.ini
  *) echo "demo: ACTIVITY_MODEL=$model: it is realistic (the default) or brainscale" >&2; exit 1 ;;
esac
echo "demo: synthetic recordings of a 1,500-neuron brain, $model model ($F/activity.h5)"
bin/flyfit-synth --neurons 1500 --seed 1 -o $F/brain.h5 --activity $F/activity.h5 --frames 360 \
  --activity-model "$model" "${extra[@]}"
echo "demo: mpirun -np $np bin/flyfit jobs/demo-fit.ini ${compat[*]} (round 1, round 2, prediction, figures)"
mpirun -np "$np" --oversubscribe bin/flyfit jobs/demo-fit.ini "${compat[@]}" | tee $R/summary.txt
echo "demo: fit results in $R/results.h5, checkpoints in $R/, figures in $R/figures/"
