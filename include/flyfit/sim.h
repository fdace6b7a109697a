/* Distributed simulation (mode = simulate): the driver that every backend plugs into.
 *
 * Time runs in windows of D steps, D = synaptic delay in steps. A spike emitted in window w can
 * only arrive in window w+1, so ranks exchange spikes once per window, as packed
 * (batch, step, neuron) words, either to every rank (MPI_Allgatherv) or only to the ranks that
 * hold a stand-in of the neuron (MPI_Alltoallv), and never synchronise inside a window.
 * A backend advances its neurons through one window and reports the spikes it emitted; it is
 * then handed the spikes that arrive in the next window. Backends are a table chosen at run time
 * ([run] backend = cpu, cuda or emulate). Results never depend on rank count, thread count,
 * partition or exchange mode: inputs are summed in integers and random numbers are keyed by the
 * original neuron index. */
#ifndef FLYFIT_SIM_H
#define FLYFIT_SIM_H

#include <mpi.h>
#include <stdint.h>

#include "flyfit/exchange.h"
#include "flyfit/model.h"
#include "flyfit/net.h"
#include "flyfit/stimulus.h"

/* Per-neuron flags of a simulation (ff_sim_flags). */
enum { FF_NF_DRIVEN = 1, FF_NF_POISSON = 2, FF_NF_RECORD = 4, FF_NF_SILENT = 8 }; /* SILENT: outgoing connections cut */

typedef struct {
  const FfModel *model;
  const FfNet *net;
  const FfStimulus *stim;
  int64_t n_steps;
  int32_t batch;
  uint64_t seed;
  int threads;       /* OpenMP threads of this rank */
  double progress_s; /* seconds between progress lines, 0 = none */
  int exchange;      /* FfExchangeMode: allgather, targeted, or auto (decided from the destinations) */
  MPI_Comm comm;     /* the ranks of the run (device backends pick their GPU and set up NCCL with it) */
  int transport;     /* FfTransport */
  int device;        /* the GPU of this rank (ff_dev_select), for the cuda backend */
} FfSimSetup;

/* What a rank holds after a run: only its own neurons. */
typedef struct {
  int32_t *count;       /* [batch x n_local] spikes per trial and local neuron */
  int64_t n_rec;        /* recorded spikes of local neurons */
  int32_t *rec_batch;   /* [n_rec] */
  int32_t *rec_step;    /* [n_rec] */
  int64_t *rec_gid;     /* [n_rec] global neuron index */
  int64_t n_state;      /* local neurons among [output] state_neurons */
  int64_t *state_gid;   /* [n_state] */
  double *state_v;      /* [batch x n_steps x n_state] mV, after each step */
  double *state_g;      /* [batch x n_steps x n_state] mV */
  /* statistics of this rank */
  int64_t spikes;       /* emitted by local neurons, all trials */
  int64_t events;       /* synaptic events delivered to local neurons */
  int64_t words_sent;   /* spike words (8 bytes) sent to other ranks */
  int64_t words_recv;   /* spike words received from other ranks */
  int64_t windows;      /* exchanges */
  int exchange;         /* the mode used */
  /* wall seconds: backend set-up; window updates; packing spikes (backend pack and, for targeted
   * exchange, sorting them by destination); MPI calls; handing arrivals to the backend */
  double create_s, compute_s, pack_s, comm_s, unpack_s;
} FfSimOutput;

/* The backend table. `state` is the backend's own. */
typedef struct {
  const char *name;
  int (*create)(const FfSimSetup *s, void **state);
  /* Advances steps [w*D, min((w+1)*D, n_steps)). */
  int (*run_window)(void *state, int64_t w);
  /* Number of spikes emitted in the last window, and packed words for them (ff_spike_pack). */
  int64_t (*emitted)(void *state);
  void (*pack)(void *state, int64_t w, uint64_t *words);
  /* Spikes (packed, from all ranks) that arrive during window w. */
  int (*deliver)(void *state, int64_t w, const uint64_t *words, int64_t n);
  int (*finish)(void *state, FfSimOutput *out);
  void (*destroy)(void *state);
  /* Optional (NULL: the driver packs with emitted/pack and exchanges over MPI). Collective: sends
   * the spikes of window w and hands the arrivals of window w + 1 to the backend itself;
   * status != FF_OK tells the other ranks to stop, as ff_exchange_run does. */
  int (*exchange)(void *state, int64_t w, int status, FfExchangeStats *xs);
} FfBackend;

extern const FfBackend ff_backend_cpu;
/* The GPU backend (src/sim/sim_dev.c over src/sim/cuda/sim_cuda.cu), and the same algorithm run serially
 * on the CPU through the same kernel bodies (src/sim/sim_emul.c), for testing without a GPU. */
extern const FfBackend ff_backend_cuda, ff_backend_cuda_nccl;
extern const FfBackend ff_backend_emulate, ff_backend_emulate_nccl;

/* Collective. The GPU of this rank for [run] backend = cuda (or emulate): [run] devices[node-local
 * rank], or the node-local rank; refuses a build without CUDA, a node without GPUs, and more ranks
 * on a node than GPUs, naming the host and both numbers. *device = -1 for backend = cpu. */
int ff_dev_select(const FfConfig *cfg, MPI_Comm comm, int *device);

/* Flags of every local neuron (FF_NF_*), from the stimulus and [output] spikes. */
void ff_sim_flags(const FfSimSetup *s, uint8_t *flags);
/* Initial state of (trial b, neuron gid), as the state after step -1: v - v_rest ~ N(0, sd) and
 * g ~ U(0, max) from the INIT stream. The same numbers for every backend. */
void ff_sim_initial_state(const FfModel *m, uint64_t seed, int64_t gid, int32_t b, double *u, double *g);

/* Collective: runs the whole simulation with the given backend. */
int ff_sim_run(const FfBackend *backend, const FfSimSetup *s, MPI_Comm comm, FfSimOutput *out);
void ff_sim_output_destroy(FfSimOutput *out);

#endif
