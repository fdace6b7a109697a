#!/usr/bin/env bash
# Installs the Debian packages flyfit needs to build, test and plot, if any are missing.
# Idempotent: with everything present it changes nothing and prints one line.
# Runs apt-get as root, or through sudo when not root.
set -euo pipefail
PACKAGES=(
  build-essential pkg-config gzip
  openmpi-bin libopenmpi-dev          # MPI
  libhdf5-openmpi-dev hdf5-tools      # parallel HDF5; h5dump/h5diff in the tests
  libinih-dev                         # INI parsing
  libmetis-dev                        # graph partitioning
  librandom123-dev                    # counter-based random numbers (Philox)
  zlib1g-dev libcsv-dev               # gzip and CSV reading for the importer
  libzip-dev                          # numpy .npz archives (calcium recordings)
  libopenblas-dev liblapacke-dev      # CBLAS for the round-2 GRU, LAPACK for the ridge controls
  libnlopt-dev                        # L-BFGS with bounds for single-neuron fits (mode = neuron)
  libcmocka-dev                       # unit tests
  python3 python3-numpy python3-h5py python3-matplotlib  # flyfit-plot, test helpers
  python3-brian                       # the reference simulator in the tests and benchmark
  python3-pyspike python3-scipy       # the references of the spike-train distances (tests/tools/spike_dist_ref.py)
  slurmctld slurmd slurm-client munge # SLURM for make check-slurm, which starts daemons of its own
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "install-deps: not root and no sudo; run as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
