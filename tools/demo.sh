#!/usr/bin/env bash
# make demo: build the full-size synthetic brain, simulate it with MPI and draw the figures.
# usage: tools/demo.sh [RANKS]
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
tools/flyfit-plot $D/results.h5 -o $D/figures
echo "demo: results in $D/results.h5, spikes in $D/spikes.txt, log in $D/flyfit.log, figures in $D/figures/"
