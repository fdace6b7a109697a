/* Checkpoints of rounds 1 and 2, in one place: the layout of their files, writing them atomically,
 * reading them back with every check, and round 1's file names in the output directory.
 *
 * Round 1 (DIR/checkpoint-epoch-E.h5, checkpoint-epoch-E-batch-J.h5, checkpoint-best.h5): a parallel
 * file. Every rank writes its rows of the float arrays (/params/..., /adam/..., in partition order),
 * rank 0 the /history [epochs x metrics]. Attributes say what the file belongs to
 * (FfCheckpointIdentity), carry the trainer's counters (FfCheckpointState) and an order-free
 * checksum of the arrays, the same for any rank count.
 * Round 2 (DIR/gru-best.h5): a serial file of rank 0: the GRU's params/, adam_m/ and adam_v/<group>
 * (double, 2-D for matrices), attributes P, H, out_scale_hz, adam_steps, format, epochs, best_epoch,
 * and /history [epochs x metrics]. */
#ifndef FLYFIT_CHECKPOINT_H
#define FLYFIT_CHECKPOINT_H

#include <hdf5.h>
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "flyfit/gru.h"

/* One array of a checkpoint: this rank's rows [row0, row0 + n) of a dataset [rows x cols]. A serial
 * file holds whole arrays (row0 = 0, n = rows). */
typedef struct {
  const char *name;   /* dataset path; relative to the group written to, or absolute */
  hid_t type;         /* memory type: H5T_NATIVE_FLOAT, _DOUBLE (or an integer type, serial files) */
  void *data;         /* [n x cols] */
  int rank;           /* 1 or 2 dimensions */
  int64_t rows, cols; /* the whole dataset; cols = 1 for a vector */
  int64_t row0, n;    /* this rank's rows */
} FfCheckpointArray;

/* Writes the arrays under loc: collective (every rank its rows, a parallel file) or serial. */
int ff_checkpoint_write_arrays(hid_t loc, int collective, const FfCheckpointArray *a, int n);
/* Reads them back, each checked for its shape; `file` names the file in messages, `model` (or NULL)
 * says what a serial array of another shape was expected for ("a GRU with P = 5, H = 7"). */
int ff_checkpoint_read_arrays(hid_t loc, const char *file, int collective, const FfCheckpointArray *a, int n,
                              const char *model);

/* ---- round 1 ------------------------------------------------------------------------------------ */

/* What a round-1 checkpoint belongs to; a checkpoint of anything else is refused, saying why. */
typedef struct {
  int64_t neurons, connections, neuropils, ranks;
  uint64_t partition_id;   /* of the stored partition the ranks run on (0: none) */
  uint64_t recording_hash; /* of the preprocessed, mapped recordings (FfFitData) */
  int64_t trainable;       /* FF_TRAIN_* bits */
  const char *fingerprint; /* ff_config_fingerprint: the keys that determine the trajectory */
  const char *activity;    /* [data] activity, for messages */
} FfCheckpointIdentity;

/* The trainer's counters a round-1 checkpoint carries. */
typedef struct {
  int64_t epochs_done, adam_t, best_epoch;
  double best_val;                                     /* validation loss of the best epoch (INFINITY: none yet) */
  double untrained_loss, untrained_acc, untrained_mse; /* the untrained model on the validation samples (NaN: no
                                                          validation block); a checkpoint never holds a test score */
  /* an epoch stopped part-way by a signal: batches done, and its running sums (loss x values,
   * squared errors, class hits, values, batches, gradient norms); all 0 otherwise */
  int64_t part_batches;
  double part_loss, part_sq, part_hits, part_values, part_count, part_norm;
} FfCheckpointState;

/* Collective: all ranks of comm must call it. Writes a round-1 checkpoint: arrays a[n], the history
 * hist [s->epochs_done x n_metrics] (rank 0's), the identity and the state. */
int ff_checkpoint_write_round1(const char *path, MPI_Comm comm, const FfCheckpointArray *a, int n, const double *hist,
                               int n_metrics, const FfCheckpointIdentity *id, const FfCheckpointState *s);

/* Collective: all ranks of comm must call it. Reads a round-1 checkpoint into the arrays a[n] (in
 * place) after checking that it belongs to id, then checks its checksum. With s (else only the
 * parameters are read): the state into *s, refused when it has more than max_epochs epochs (>= 0),
 * and the history into *hist [*hist_cap x n_metrics], which grows when it has more epochs. */
int ff_checkpoint_read_round1(const char *path, MPI_Comm comm, const FfCheckpointArray *a, int n,
                              const FfCheckpointIdentity *id, int64_t max_epochs, FfCheckpointState *s, double **hist,
                              int64_t *hist_cap, int n_metrics);

/* DIR/checkpoint-epoch-E.h5 after E epochs, or DIR/checkpoint-epoch-E-batch-J.h5 after J batches of
 * the next one. */
void ff_checkpoint_name(const char *dir, int64_t epochs, int64_t batches, char *path, size_t cap);

/* Collective: all ranks of comm must call it. The round-1 checkpoints in dir (up to cap), newest
 * first (most epochs, then most batches): found[k] = {epochs, batches}; rank 0 looks, all get it. */
int ff_checkpoint_list(const char *dir, MPI_Comm comm, int64_t (*found)[2], int cap, int *n);

/* Rank 0: keeps the two newest of the epoch checkpoints DIR/checkpoint-epoch-E.h5 (E a multiple of
 * every, or the last) and removes those written part-way through an epoch now complete. */
void ff_checkpoint_prune(const char *dir, int64_t epochs_done, int64_t every);

/* ---- round 2 ------------------------------------------------------------------------------------ */

/* The GRU under the open group loc: params/, adam_m/, adam_v/<group> and attributes P, H,
 * out_scale_hz, adam_steps. The model is replicated, so one rank (0) writes and reads;
 * broadcasting after a read is the caller's. */
int ff_checkpoint_write_gru(hid_t loc, const FfGru *g);
/* Restores parameters, Adam's moments and step count; `file` names the file in messages. A dataset
 * of another shape (a GRU of other P or H) or another out_scale_hz is FF_ERR_INPUT naming the file
 * and the dataset; g is unchanged then. */
int ff_checkpoint_read_gru(hid_t loc, const char *file, FfGru *g);

/* Rank 0: DIR/gru-best.h5: the GRU, the history hist [epochs x n_metrics], best_epoch, and
 * `complete` (attribute): 0 while round 2 runs (a best epoch so far), 1 once it finished. */
int ff_checkpoint_write_round2(const char *path, const FfGru *g, int64_t epochs, int64_t best_epoch,
                               const double *hist, int n_metrics, int complete);
/* Rank 0: reads it into g, whose P must be the file's (else FF_ERR_INPUT: other recordings or
 * another region mapping); *epochs, *best_epoch and a new *hist [epochs x n_metrics] when the file
 * has them (else 0, 0, NULL); *complete (1 for a file without the attribute, written before it existed). */
int ff_checkpoint_read_round2(const char *path, FfGru *g, int64_t *epochs, int64_t *best_epoch, double **hist,
                              int n_metrics, int *complete);

/* Round 2's resume point (DIR/gru-last.h5): the GRU as the last finished epoch left it (parameters,
 * Adam's moments and step count), the best epoch's parameters, the history, and what the run must
 * match to continue: the round-2 fingerprint (ff_config_fingerprint_round2) and the hash of round 2's
 * input (recorded and round-1 rates). Round 2's random numbers are keyed by (seed, step, sequence),
 * so no stream position is needed. */
typedef struct {
  int64_t epochs, best_epoch;
  double best_loss;        /* the best epoch's validation loss (INFINITY: none) */
  double *hist;            /* [epochs x n_metrics]: written from; read into a new array (caller frees) */
  int n_metrics;
  double *best;            /* [nparams] the best epoch's parameters: written from; read into */
  const char *fingerprint; /* written; on read, checked against the file's */
  uint64_t input_hash;     /* written; on read, checked */
} FfRound2State;
/* Rank 0. */
int ff_checkpoint_write_round2_state(const char *path, const FfGru *g, const FfRound2State *s);
/* Rank 0: reads it into g and s (FF_ERR_INPUT naming the file and what differs when it belongs to
 * another configuration or another round 1); g and s->best change only when everything was read. */
int ff_checkpoint_read_round2_state(const char *path, FfGru *g, FfRound2State *s);

/* The prediction's resume point (DIR/predict-partial.h5): the pass in progress over the frames and the
 * frames it has done, the forecasts of the passes so far, the state the pass carries from frame to
 * frame (a GRU's hidden state h, the network's last rates z), the raster, and what a resume must match:
 * a fingerprint of the keys and the identity (a hash of the recordings and the trained models). */
typedef struct {
  int32_t pass;
  int64_t frame;
  int64_t T, P;
  int32_t H;
  int n_arrays;
  const char *const *names; /* [n_arrays] dataset names under /forecast */
  double **arrays;          /* [n_arrays] of [T x P]: written from; read into (allocated by the caller) */
  double *h, *z;            /* [H], [P]: likewise */
  int64_t raster_n, raster_frame;
  int64_t *raster_gid;      /* [raster_n]: written from; read into new arrays (caller frees) */
  int32_t *raster_step;
  const char *fingerprint;  /* written; on read, checked */
  uint64_t identity;        /* written; on read, checked */
} FfPredictState;
/* Rank 0. */
int ff_checkpoint_write_predict(const char *path, const FfPredictState *s);
/* Rank 0: FF_ERR_INPUT naming the file and what differs when it is another run's. */
int ff_checkpoint_read_predict(const char *path, FfPredictState *s);

/* ---- mode = task ------------------------------------------------------------------------------- */

/* mode = task's resume point (DIR/task-last.h5): the parameters and Adam's moments after `batches` batches (Adam's
 * step count is the batch count), the history, the training's wall time so far, and the fingerprint
 * (ff_config_fingerprint_task). A trial is a function of (seed, set, index), so nothing else is needed. */
typedef struct {
  int64_t batches, n_param;
  double *theta, *m, *v;   /* [n_param]: written from; read into (allocated by the caller) */
  double *hist;            /* [batches x n_metrics]: written from; read into a new array (caller frees) */
  int n_metrics;
  double val_acc, seconds; /* the last validation accuracy (NaN: none yet); training wall time so far */
  const char *fingerprint; /* written; on read, checked */
} FfTaskState;
/* Rank 0. */
int ff_checkpoint_write_task(const char *path, const FfTaskState *s);
/* Rank 0: FF_ERR_INPUT naming the file and what differs when it is another configuration's; s changes only when
 * everything was read. */
int ff_checkpoint_read_task(const char *path, FfTaskState *s);

#endif
