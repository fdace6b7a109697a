/* Counter-based random numbers (Random123 Philox4x32-10), the same in C and CUDA.
 * A draw is a pure function of (seed, stream, counter words): no generator state, so every rank,
 * thread and backend computes the same number for the same (neuron, step, batch element) without
 * coordination. Streams separate the uses so that no two ever share a counter. */
#ifndef FLYFIT_RNG_H
#define FLYFIT_RNG_H

#include <math.h>
#include <stdint.h>

#include <Random123/philox.h>

#include "flyfit/hd.h"

/* Every random stream of the project, in one place, so that a new use cannot collide with an old
 * one: a number is never reused or renumbered (that would change every result drawn from it).
 * The comment says what draws from it and its counter words (c0, c1, c2). New streams take the
 * next free number below FF_STREAM_END, or a new block of 16 beyond it. */
enum FfStream {
  /* simulation */
  FF_STREAM_POISSON = 1,    /* stimulus Poisson input: (step/4, neuron, batch) */
  FF_STREAM_BACKGROUND = 2, /* background Poisson input to every neuron: (step/4, neuron, batch) */
  FF_STREAM_INIT = 3,       /* initial state: (0, neuron, batch) */
  /* partitioning */
  FF_STREAM_PARTITION = 4, /* random partition: (neuron, neuron >> 32, 0) */
  /* round 1 */
  FF_STREAM_FIT_BG = 5,      /* background Poisson input of a sample: (neuron, step, sample key) */
  FF_STREAM_FIT_INIT = 6,    /* initial state of a sample: (neuron, sample key, 0) */
  FF_STREAM_FIT_SHUFFLE = 7, /* order of the training samples: (sample, epoch, 0) */
  FF_STREAM_FIT_JITTER = 8,  /* input jitter inside the rate bins: (frame, neuropil, epoch) */
  FF_STREAM_FIT_PARAM = 9,   /* initial encoder weights: (neuron, neuropil, 0) */
  /* round 2 */
  FF_STREAM_GRU_INIT = 10,  /* initial GRU parameters: (index, index >> 32, 0) */
  FF_STREAM_FIT_LOWRANK = 11, /* initial low-rank A: (neuron, component, 0) */
  FF_STREAM_R2 = 12,        /* round-2 batches: window starts and jitter (step, sequence, ...) */
  FF_STREAM_R2_NOISE = 13,  /* round-2 noise on simulated rates: (step, sequence, frame x neuropil) */
  /* flyfit-synth: the connectome (16-22), the recordings of the network (24-26), realistic ones (28-30) */
  FF_STREAM_SYNTH_REGION = 16, /* shuffle of region labels: (position) */
  FF_STREAM_SYNTH_NEURON = 17, /* per-neuron properties: (neuron, 0 or 1) */
  FF_STREAM_SYNTH_TARGET = 18, /* candidate targets: (neuron, draw low, draw high) */
  FF_STREAM_SYNTH_COUNT = 19,  /* synapse count: (neuron, position in row) */
  FF_STREAM_SYNTH_SPLIT = 20,  /* second neuropil of a connection: (neuron, position in row) */
  FF_STREAM_SYNTH_ROOT = 21,   /* synthetic root ids: (neuron) */
  FF_STREAM_SYNTH_FILL = 22,   /* start of the deterministic fill of a saturated row: (neuron) */
  /* 23: never used */
  FF_STREAM_SYNTH_TRUTH = 24,  /* the hidden encoder of synthetic recordings: (neuron, neuropil, 1 or 2) */
  FF_STREAM_SYNTH_DRIVE = 25,  /* the hidden slow drive: (frame, neuropil, 0 or 7) */
  FF_STREAM_SYNTH_NOISE = 26,  /* calcium noise: (frame, region, 0) */
  /* 27: never used */
  FF_STREAM_SYNTH_REAL_NOISE = 28,   /* realistic recordings: the 1/f, factor and private processes (step, process, component) */
  FF_STREAM_SYNTH_REAL_REGION = 29,  /* realistic recordings: per-neuropil loadings and constants (neuropil, what) */
  FF_STREAM_SYNTH_REAL_MEASURE = 30, /* realistic recordings: measurement noise (frame, neuropil) */
  FF_STREAM_SHUFFLE = 31,            /* degree-preserving shuffle: (attempt, attempt >> 32, 0) */
  /* mode = task (task.h) */
  FF_STREAM_TASK_CUES = 32,  /* the cue sides of a trial: (trial index, set, 0) */
  FF_STREAM_TASK_INPUT = 33, /* Poisson input spikes of a trial: (step, trial index, set x 32 + group x 8 + input in group / 4) */
  FF_STREAM_TASK_INIT = 34,  /* initial weights and connections: (row, column, matrix) */
  FF_STREAM_END = 35,        /* the first free number below the blocks beyond it */
  /* single-neuron fitting (issue 19): the block 48-63 */
  FF_STREAM_NEURON_NOISE = 48, /* flyfit-synth --neuron: measurement noise on v (step, sweep, step >> 32) */
  FF_STREAM_NEURON_START = 49, /* mode = neuron: the candidates a start screens (start, candidate, parameter / 4) */
  FF_STREAM_NEURON_DE = 50,    /* mode = neuron, optimizer = de: mutation and crossover (generation, member, what) */
  FF_STREAM_NEURON_GA_SELECT = 51, /* mode = neuron, optimizer = ga: the two tournaments of a child (generation, child, 0) */
  FF_STREAM_NEURON_GA_CROSS = 52,  /* optimizer = ga: BLX-alpha blend of a child (generation, child, parameter / 4) */
  FF_STREAM_NEURON_GA_MUTATE = 53, /* optimizer = ga: Gaussian mutation of a child (generation, child, parameter) */
  FF_STREAM_NEURON_OU = 54,        /* flyfit-synth --neuron --stimulus ou: the OU current's noise (step, sweep, step >> 32) */
  FF_STREAM_NETOPT_DE = 55,        /* mode = netopt: differential evolution's donors and crossover (generation, member, what) */
  /* functional connectivity of cells (issue 20, cells.h): the block 64-79 */
  FF_STREAM_CELLS_NET = 64,     /* flyfit-synth --cells: connections, weights, cell constants (pre, post, what) */
  FF_STREAM_CELLS_INPUT = 65,   /* flyfit-synth --cells: noisy input current (step, cell, step >> 32) */
  FF_STREAM_CELLS_MEASURE = 66, /* flyfit-synth --cells: measurement noise (frame, cell, frame >> 32) */
  FF_STREAM_CELLS_JITTER = 67,  /* mode = cells: an inferred spike's time inside its frame (frame, cell, pass x 16 + spike) */
  FF_STREAM_CELLS_FOLDS = 68,   /* mode = cells: the E/I classifier's folds (cell, 0, 0) */
  /* networks fitted by evolution (issue 19, mode = netopt): the block 80-95 */
  FF_STREAM_NETOPT_CONN = 80,  /* mode = netopt: each pair's connection and weight draws (post, pre, 0) */
  FF_STREAM_NETOPT_NOISE = 81, /* mode = netopt: thalamic noise (step, cell, trial: 0 the target, 1 the candidates) */
  FF_STREAM_NETOPT_PAIRS = 82  /* mode = netopt: the cell pairs of the SPIKE-distance statistics (population pair, pair, 0) */
};

/* Four 32-bit words for counter (c0, c1, c2) in `stream`, under the 64-bit seed. */
FF_HD static inline void ff_rng4(uint64_t seed, uint32_t stream, uint32_t c0, uint32_t c1, uint32_t c2,
                                 uint32_t out[4]) {
  philox4x32_ctr_t ctr = {{c0, c1, c2, stream}};
  philox4x32_key_t key = {{(uint32_t)seed, (uint32_t)(seed >> 32)}};
  philox4x32_ctr_t r = philox4x32(ctr, key);
  out[0] = r.v[0];
  out[1] = r.v[1];
  out[2] = r.v[2];
  out[3] = r.v[3];
}

/* Uniform in the open interval (0, 1) from 32 bits. */
FF_HD static inline double ff_u01(uint32_t x) { return ((double)x + 0.5) * (1.0 / 4294967296.0); }

/* A standard normal number from two words: Box-Muller, its cosine branch. Host only. */
static inline double ff_normal(uint32_t a, uint32_t b) {
  return sqrt(-2.0 * log(ff_u01(a))) * cos(6.283185307179586 * ff_u01(b));
}

/* Uniform in (0, 1) with 53 random bits from two words. */
FF_HD static inline double ff_u01_53(uint32_t hi, uint32_t lo) {
  uint64_t m = ((uint64_t)hi << 21) ^ (uint64_t)(lo >> 11);
  return ((double)(m & ((1ull << 53) - 1)) + 0.5) * (1.0 / 9007199254740992.0);
}

/* Threshold for a Bernoulli(p) event from one 32-bit word: event iff word < ff_bernoulli_threshold(p). */
static inline uint64_t ff_bernoulli_threshold(double p) {
  if (p <= 0.0) return 0;
  if (p >= 1.0) return 4294967296ull;
  return (uint64_t)(p * 4294967296.0);
}

#endif
