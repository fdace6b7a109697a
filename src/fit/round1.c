/* Round 1's trainer (include/flyfit/round1.h): the epoch loop around the stepper of fit_net.c, with
 * its metrics, checkpoints and resume (the files: checkpoint.h) and its results (results.h). The
 * data set and the rate classes are dataset.c's. */
#include "flyfit/round1.h"
#include "flyfit/atomic.h"
#include "flyfit/checkpoint.h"
#include "flyfit/error.h"
#include "flyfit/fit.h"
#include "flyfit/h5.h"
#include "flyfit/hash.h"
#include "flyfit/log.h"
#include "flyfit/ranks.h"
#include "flyfit/results.h"
#include "flyfit/rng.h"
#include "flyfit/runjson.h"
#include "flyfit/signals.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EVAL_KEY 0x80000000u /* samples scored without training: the same random input every epoch */

/* The history's columns: each epoch is scored on the training and the validation samples; the test
 * samples are scored once, after training (finish). */
enum { M_TRAIN_LOSS, M_TRAIN_ACC, M_TRAIN_MSE, M_VAL_LOSS, M_VAL_ACC, M_VAL_MSE, M_GRAD_NORM, M_SPS, M_LR,
       M_SECONDS, N_METRICS };
static const char *const METRIC_NAMES[N_METRICS] = {"train_loss", "train_bin_acc", "train_mse", "val_loss",
                                                    "val_bin_acc", "val_mse", "grad_norm", "samples_per_s",
                                                    "lr", "seconds"};

struct FfRound1 {
  FfRound1Setup S_copy;
  const FfRound1Setup *S;
  const FfConfig *cfg;
  MPI_Comm comm;
  int rank, size;
  FfFitData rec;
  FfBins bins;
  FfFitNet *f;
  int trainable;
  FfSplit sp;              /* training, validation and test blocks */
  int64_t n_train, n_test; /* frames before the test block (sp.test0), and test frames */
  double ut_loss, ut_acc, ut_mse; /* the untrained network on the test samples, scored at the end */
  double te_loss, te_acc, te_mse; /* the kept epoch's network on the test samples, scored at the end */
  int32_t B, P;
  FfCheckpointState ck;    /* epochs done, the best epoch, the untrained scores, a part-done epoch */
  double *hist;            /* [hist_cap x N_METRICS] one row per epoch done */
  int64_t hist_cap;
  double *x, *y, *r, *dl;  /* [B x P] */
  uint32_t *keys;          /* [B] */
  char *fingerprint;
  uint64_t part_id;
  int64_t e_offset, e_total; /* this rank's connections in the whole (slab order), and all of them */
  double train_s;
  int64_t train_samples;
  int32_t *np_of;          /* [connectome neuropils] index among the fitted ones, or -1 */
  double setup_s;
  double *peak_rss_mb;     /* [ranks], rank 0 */
  double *sim, *test_pred; /* after the run: the best network over the training and test samples */
  double *lr_sv;           /* after the run: [lr_rank] singular values of the kept network's A B, or NULL */
  int32_t lr_rank;
  double lr_norm, lr_pr;   /* their root sum of squares |A B| and participation ratio (sum s^2)^2 / sum s^4 */
};
typedef struct FfRound1 Trainer;

static void trainer_destroy(Trainer *t) {
  ff_fit_destroy(&t->f);
  ff_fitdata_destroy(&t->rec);
  ff_bins_destroy(&t->bins);
  free(t->hist);
  free(t->x);
  free(t->y);
  free(t->r);
  free(t->dl);
  free(t->keys);
  free(t->fingerprint);
  free(t->np_of);
  free(t->peak_rss_mb);
  free(t->sim);
  free(t->test_pred);
  free(t->lr_sv);
}

/* ---- samples and scores ------------------------------------------------------------------------- */

/* Input of sample k: frame k's rates, jittered uniformly within their class when training. */
static void sample_input(const Trainer *t, int64_t k, int64_t epoch, int jitter, double *x) {
  const double *rk = t->rec.rates + k * t->P;
  for (int32_t p = 0; p < t->P; ++p) {
    if (!jitter) {
      x[p] = rk[p];
      continue;
    }
    const int32_t c = ff_bins_class(&t->bins, rk[p]);
    uint32_t w[4];
    ff_rng4(t->cfg->seed, FF_STREAM_FIT_JITTER, (uint32_t)k, (uint32_t)p, (uint32_t)epoch, w);
    const double lo = t->bins.edges[c], hi = t->bins.edges[c + 1];
    x[p] = lo + ff_u01_53(w[0], w[1]) * (hi - lo);
  }
}

typedef struct {
  double loss, sq, hits;
  int64_t n; /* neuropil-samples */
  int64_t batches;
} Score;

static void score(const Trainer *t, int32_t B, Score *s, double loss) {
  for (int64_t q = 0; q < (int64_t)B * t->P; ++q) {
    const double d = t->r[q] - t->y[q];
    s->sq += d * d;
    s->hits += ff_bins_class(&t->bins, t->r[q]) == ff_bins_class(&t->bins, t->y[q]);
  }
  s->n += (int64_t)B * t->P;
  s->loss += loss * B * t->P;
  s->batches++;
}

/* Collective. Samples [k0, k0 + count) without training; predictions into pred [count x P] when given. */
static int evaluate(Trainer *t, int64_t k0, int64_t count, Score *s, double *pred) {
  memset(s, 0, sizeof *s);
  for (int64_t a = 0; a < count; a += t->B) {
    const int32_t B = (int32_t)(count - a < t->B ? count - a : t->B);
    for (int32_t b = 0; b < B; ++b) {
      const int64_t k = k0 + a + b;
      sample_input(t, k, 0, 0, t->x + (int64_t)b * t->P);
      memcpy(t->y + (int64_t)b * t->P, t->rec.rates + (k + 1) * t->P, (size_t)t->P * sizeof *t->y);
      t->keys[b] = EVAL_KEY | (uint32_t)k;
    }
    FF_TRY(ff_fit_forward(t->f, B, t->x, t->keys, 0, t->r));
    const double loss = ff_fit_loss(t->cfg->loss, t->cfg->huber_delta_hz, t->r, t->y, (int64_t)B * t->P, NULL);
    score(t, B, s, loss);
    if (pred) memcpy(pred + a * t->P, t->r, (size_t)B * t->P * sizeof *pred);
  }
  return FF_OK;
}

/* Collective. The validation samples (targets [val0, test0)); s->n = 0 without a validation block. */
static int validate(Trainer *t, Score *s) {
  return evaluate(t, t->sp.val0 - 1, t->sp.test0 - t->sp.val0, s, NULL);
}

/* ---- training ----------------------------------------------------------------------------------- */

/* The order of the n training samples in an epoch: a permutation keyed by (seed, epoch), sorting
 * by random keys, ties by index ([fit] shuffle = false: all keys 0, the recording order). perm [n]. */
static int sample_order(const Trainer *t, int64_t epoch, int64_t n, int64_t *perm) {
  uint64_t *key;
  FF_TRY(FF_MALLOC(key, n, "sample order"));
  for (int64_t k = 0; k < n; ++k) { /* [fit] shuffle = false: every key 0, so the recording's order */
    uint32_t w[4] = {0, 0, 0, 0};
    if (t->cfg->shuffle) ff_rng4(t->cfg->seed, FF_STREAM_FIT_SHUFFLE, (uint32_t)k, (uint32_t)epoch, 0, w);
    key[k] = (uint64_t)w[0] << 32 | w[1];
    perm[k] = k;
  }
  for (int64_t i = 1; i < n; ++i) { /* insertion sort by (key, index): n is a few thousand at most */
    const int64_t p = perm[i];
    int64_t j = i - 1;
    while (j >= 0 && (key[perm[j]] > key[p] || (key[perm[j]] == key[p] && perm[j] > p))) {
      perm[j + 1] = perm[j];
      --j;
    }
    perm[j + 1] = p;
  }
  free(key);
  return FF_OK;
}

/* Collective. The forward pass of the batch of samples perm[a .. a + B), inputs jittered. */
static int batch_forward(Trainer *t, int64_t epoch, const int64_t *perm, int64_t a, int32_t B) {
  for (int32_t b = 0; b < B; ++b) {
    const int64_t k = perm[a + b];
    sample_input(t, k, epoch, 1, t->x + (int64_t)b * t->P);
    memcpy(t->y + (int64_t)b * t->P, t->rec.rates + (k + 1) * t->P, (size_t)t->P * sizeof *t->y);
    t->keys[b] = (uint32_t)epoch << 16 | (uint32_t)k;
  }
  FF_TRY(ff_fit_forward(t->f, B, t->x, t->keys, 1, t->r));
  return FF_OK;
}

/* Collective. After the forward pass of batch a: its loss, the gradient, and one Adam step clipped
 * by the gradient norm (*norm). */
static int batch_step(Trainer *t, int64_t epoch, double lr, int64_t a, int32_t B, Score *s, double *norm) {
  const FfConfig *cfg = t->cfg;
  const double loss = ff_fit_loss(cfg->loss, cfg->huber_delta_hz, t->r, t->y, (int64_t)B * t->P, t->dl);
  score(t, B, s, loss);
  int st = ff_fit_backward(t->f, t->dl);
  FF_CALL(st, ff_fit_grad_norm(t->f, norm));
  if (st == FF_OK && !isfinite(*norm))
    st = FF_ERROR(FF_ERR_INPUT, "epoch %lld, batch %lld: the gradient is not finite (norm %g); lower [fit] lr",
                  (long long)epoch + 1, (long long)(a / t->B) + 1, *norm);
  const double scale = cfg->clip_norm > 0.0 && *norm > cfg->clip_norm ? cfg->clip_norm / *norm : 1.0;
  FF_CALL(st, ff_fit_adam(t->f, lr, cfg->beta1, cfg->beta2, cfg->adam_eps, scale));
  return st;
}

/* Collective. One epoch of training: shuffled batches, one Adam step per batch. Starts after *batch
 * batches of the epoch (a resumed epoch; s and *norm_sum then hold their sums) and returns with
 * *batch = the batches done; *stopped when a signal stopped it early. */
static int train_epoch(Trainer *t, int64_t epoch, double lr, Score *s, double *norm_sum, int64_t *batch,
                       int *stopped) {
  const int64_t n = t->sp.fit - 1;
  int64_t *perm;
  FF_TRY(FF_MALLOC(perm, n, "sample order"));
  int st = sample_order(t, epoch, n, perm);
  *stopped = 0;
  FfProgress prog;
  char what[64];
  snprintf(what, sizeof what, "epoch %lld: trained", (long long)epoch + 1);
  ff_progress_start(&prog, what, "samples", (double)n, t->cfg->progress_s);
  for (int64_t a = *batch * t->B; a < n && st == FF_OK; a += t->B) {
    const int32_t B = (int32_t)(n - a < t->B ? n - a : t->B);
    st = batch_forward(t, epoch, perm, a, B);
    if (st != FF_OK) break;
    double norm = 0.0;
    st = batch_step(t, epoch, lr, a, B, s, &norm);
    *norm_sum += norm;
    /* Adam can fail on one rank only, and a signal may reach some ranks only: agree on both
     * before the next collective */
    int mine[2] = {st, ff_signals_stop_requested() != 0}, all[2];
    const int agreed = FF_MPI(MPI_Allreduce(mine, all, 2, MPI_INT, MPI_MAX, t->comm));
    if (agreed != FF_OK) st = agreed;
    else if (st == FF_OK && all[0] != FF_OK) st = FF_ERROR_PEER(all[0], "another rank stopped");
    if (st != FF_OK)
      ff_error_prefix("epoch %lld, batch %lld: ", (long long)epoch + 1, (long long)(a / t->B) + 1);
    *batch = a / t->B + 1;
    ff_progress_update(&prog, (double)(a + B));
    if (st == FF_OK && all[1] && a + B < n) { /* stop here; the last batch of an epoch ends it instead */
      *stopped = 1;
      break;
    }
  }
  free(perm);
  return st;
}

/* ---- checkpoints -------------------------------------------------------------------------------- */

/* The arrays a round-1 checkpoint holds: this rank's rows of the parameters and Adam's moments. */
static int arrays(Trainer *t, FfCheckpointArray *a) {
  FfFitView v;
  ff_fit_view(t->f, &v);
  const FfNet *net = t->S->net;
  const int64_t N = net->n_global, r0 = net->new_base, nl = net->n_local;
  const hid_t F = H5T_NATIVE_FLOAT;
  int k = 0;
  a[k++] = (FfCheckpointArray){"/params/encoder_w", F, v.enc_w, 2, N, t->P, r0, nl};
  a[k++] = (FfCheckpointArray){"/params/encoder_b", F, v.enc_b, 1, N, 1, r0, nl};
  a[k++] = (FfCheckpointArray){"/adam/encoder_w_m", F, v.enc_m, 2, N, t->P, r0, nl};
  a[k++] = (FfCheckpointArray){"/adam/encoder_w_v", F, v.enc_v, 2, N, t->P, r0, nl};
  a[k++] = (FfCheckpointArray){"/adam/encoder_b_m", F, v.enc_bm, 1, N, 1, r0, nl};
  a[k++] = (FfCheckpointArray){"/adam/encoder_b_v", F, v.enc_bv, 1, N, 1, r0, nl};
  if (t->trainable & FF_TRAIN_CONNECTIONS) {
    a[k++] = (FfCheckpointArray){"/params/connection_w", F, v.conn_w, 1, t->e_total, 1, t->e_offset, v.n_conn};
    a[k++] = (FfCheckpointArray){"/adam/connection_m", F, v.conn_m, 1, t->e_total, 1, t->e_offset, v.n_conn};
    a[k++] = (FfCheckpointArray){"/adam/connection_v", F, v.conn_v, 1, t->e_total, 1, t->e_offset, v.n_conn};
  }
  if (t->trainable & FF_TRAIN_LOWRANK) { /* A [N x r] and B^T [N x r]: rows of the rank's neurons */
    const int64_t R = v.lr_rank;
    a[k++] = (FfCheckpointArray){"/params/lowrank_a", F, v.lr_a, 2, N, R, r0, nl};
    a[k++] = (FfCheckpointArray){"/params/lowrank_b", F, v.lr_b, 2, N, R, r0, nl};
    a[k++] = (FfCheckpointArray){"/adam/lowrank_a_m", F, v.lr_am, 2, N, R, r0, nl};
    a[k++] = (FfCheckpointArray){"/adam/lowrank_a_v", F, v.lr_av, 2, N, R, r0, nl};
    a[k++] = (FfCheckpointArray){"/adam/lowrank_b_m", F, v.lr_bm, 2, N, R, r0, nl};
    a[k++] = (FfCheckpointArray){"/adam/lowrank_b_v", F, v.lr_bv, 2, N, R, r0, nl};
  }
  return k;
}

static FfCheckpointIdentity identity(const Trainer *t) {
  return (FfCheckpointIdentity){t->S->net->n_global, t->e_total, t->P, t->size, t->part_id, t->rec.hash,
                                t->trainable, t->fingerprint, t->cfg->activity};
}

/* Collective. */
static int checkpoint_write(Trainer *t, const char *path) {
  FfCheckpointArray a[15];
  const int na = arrays(t, a);
  const FfCheckpointIdentity id = identity(t);
  FfFitView v;
  ff_fit_view(t->f, &v);
  t->ck.adam_t = v.adam_t;
  return ff_checkpoint_write_round1(path, t->comm, a, na, t->hist, N_METRICS, &id, &t->ck);
}

/* Collective. Reads a checkpoint into the trainer; params_only: its parameters (and Adam's state),
 * not its counters and history. */
static int checkpoint_read(Trainer *t, const char *path, int params_only) {
  FfCheckpointArray a[15];
  const int na = arrays(t, a);
  const FfCheckpointIdentity id = identity(t);
  FfCheckpointState s;
  FF_TRY(ff_checkpoint_read_round1(path, t->comm, a, na, &id, t->S->train ? t->cfg->epochs_round1 : -1,
                                   params_only ? NULL : &s, &t->hist, &t->hist_cap, N_METRICS));
  if (!params_only) {
    t->ck = s;
    ff_fit_set_adam_t(t->f, s.adam_t);
  }
  FF_TRY(ff_fit_sync_weights(t->f));
  return FF_OK;
}

/* Collective. resume = auto: the newest checkpoint in the output directory that opens and checks;
 * path "" when there is none. */
static int find_newest(Trainer *t, char *path, size_t cap) {
  int64_t found[128][2];
  int n;
  path[0] = '\0';
  FF_TRY(ff_checkpoint_list(t->cfg->out_dir, t->comm, found, 128, &n));
  for (int i = 0; i < n; ++i) {
    ff_checkpoint_name(t->cfg->out_dir, found[i][0], found[i][1], path, cap);
    if (checkpoint_read(t, path, 0) == FF_OK) return FF_OK;
    ff_warn("resume = auto: skipping %s: %s", path, ff_error_message());
    ff_error_clear();
  }
  path[0] = '\0';
  return FF_OK;
}

/* ---- setup -------------------------------------------------------------------------------------- */

/* Collective. The identity of the stored partition the ranks run on: a hash of its slab checksums
 * (0 without one). */
static int partition_id(const FfRound1Setup *S, uint64_t *id) {
  int rank, size;
  FF_TRY(FF_MPI(MPI_Comm_rank(S->comm, &rank)));
  FF_TRY(FF_MPI(MPI_Comm_size(S->comm, &size)));
  *id = 0;
  if (rank == 0 && S->net->from_partition) {
    hid_t f;
    char d[64];
    snprintf(d, sizeof d, "/partition/k%d/checksum", size);
    uint64_t *sums = NULL;
    if (ff_h5_open(S->cfg->connectome, H5P_DEFAULT, &f) == FF_OK) {
      if (ff_h5_read_all(f, S->cfg->connectome, d, H5T_NATIVE_UINT64, size, (void **)&sums, NULL) == FF_OK)
        *id = ff_fnv1a(FF_FNV_BASIS, sums, (size_t)size * sizeof *sums);
      free(sums);
      H5Fclose(f);
    }
    ff_error_clear();
  }
  FF_TRY(FF_MPI(MPI_Bcast(id, 1, MPI_UINT64_T, 0, S->comm)));
  return FF_OK;
}

/* The train/test split and the rate classes of the recordings. */
static int split(Trainer *t) {
  const FfConfig *cfg = t->cfg;
  const FfFitData *rec = &t->rec;
  if (rec->T > 65536)
    return FF_ERROR(FF_ERR_INPUT, "'%s': %lld frames; at most 65536 are supported", cfg->activity, (long long)rec->T);
  FF_TRY(ff_split_make(cfg, cfg->activity, rec->T, t->B, &t->sp));
  t->n_train = t->sp.test0;
  t->n_test = rec->T - t->n_train;
  double maxr = 0.0; /* the classes from the frames before the test block: it reaches no choice */
  for (int64_t q = 0; q < t->sp.test0 * rec->P; ++q) maxr = rec->rates[q] > maxr ? rec->rates[q] : maxr;
  FF_TRY(ff_bins_make(cfg->bin_size_hz, maxr, cfg->max_rate_hz, &t->bins));
  return FF_OK;
}

/* Collective. The stepper, and the buffers of a batch and of the history. */
static int make_network(Trainer *t, int32_t *steps, int32_t *warmup) {
  const FfRound1Setup *S = t->S;
  const FfConfig *cfg = t->cfg;
  /* the loss sees the fitted neuropils: connectome neuropil -> index among them */
  FF_TRY(FF_MALLOC(t->np_of, S->net->n_neuropils > 0 ? S->net->n_neuropils : 1, "neuropil map"));
  for (int32_t q = 0; q < S->net->n_neuropils; ++q) t->np_of[q] = -1;
  for (int32_t p = 0; p < t->P; ++p) t->np_of[t->rec.np_index[p]] = p;
  const double frame_ms = 1000.0 / t->rec.fs_hz, sample_ms = cfg->sample_ms > 0 ? cfg->sample_ms : frame_ms;
  *steps = (int32_t)floor(sample_ms / S->model->dt_ms + 1e-9);
  *warmup = (int32_t)floor(cfg->warmup_fraction * *steps);
  if (*steps < 2) return FF_ERROR(FF_ERR_INPUT, "[fit] sample_ms = %g is less than two steps", sample_ms);
  FfFitSetup fs = {.model = S->model, .net = S->net, .n_np = t->P, .np_of = t->np_of, .batch = t->B, .steps = *steps,
                   .warmup = *warmup, .background_hz = cfg->fit_background_hz,
                   .x_scale = cfg->encoder_input == FF_ENCODER_HZ ? 1.0 : cfg->max_rate_hz,
                   .fixed_init = cfg->init_state == FF_INIT_FIXED,
                   .kick_before_decay = cfg->kick_order == FF_KICK_BEFORE_DECAY, .trainable = t->trainable, .lowrank_rank = (int32_t)cfg->lowrank_rank,
                   .etrace_decay = cfg->etrace_decay,
                   .keep_sign = cfg->keep_sign, .enc_init_mV = cfg->encoder_bias_mV,
                   .enc_init_sd_mV = cfg->encoder_sd_mV, .max_trace_bytes = cfg->max_trace_mb * 1e6,
                   .seed = (uint64_t)cfg->seed, .threads = S->threads, .exchange = cfg->exchange,
                   .emulate = cfg->backend == FF_BACKEND_EMULATE, .cuda = cfg->backend == FF_BACKEND_CUDA,
                   .device = S->device, .delivery = cfg->delivery,
                   .spmm_density = cfg->spmm_density, .nccl = cfg->transport == FF_TRANSPORT_NCCL,
                   .comm = t->comm};
  FF_TRY(ff_fit_create(&fs, &t->f)); /* np_of is read by the stepper for its whole life */
  t->hist_cap = cfg->epochs_round1 > 0 ? cfg->epochs_round1 : 1;
  FF_TRY(FF_CALLOC(t->hist, t->hist_cap * N_METRICS, "the history"));
  FF_TRY(FF_MALLOC(t->x, (int64_t)t->B * t->P, "batch inputs"));
  FF_TRY(FF_MALLOC(t->y, (int64_t)t->B * t->P, "batch targets"));
  FF_TRY(FF_MALLOC(t->r, (int64_t)t->B * t->P, "batch rates"));
  FF_TRY(FF_MALLOC(t->dl, (int64_t)t->B * t->P, "loss gradients"));
  FF_TRY(FF_MALLOC(t->keys, t->B, "sample keys"));
  return FF_OK;
}

/* The log's line of round 1's arrays on rank 0, from the allocation table, by what they grow with. */
static void log_arrays(const FfFitNet *f) {
  static const char *UNITS[FF_FIT_MEM_KINDS] = {"neuron-samples", "neurons", "connections", "stand-ins",
                                                "stand-in-samples", "connection-samples", "sample steps", ""};
  FfFitMemory mem;
  ff_fit_memory(f, &mem);
  char text[512];
  size_t len = 0;
  double total = 0.0;
  for (int k = 0; k < FF_FIT_MEM_KINDS; ++k) {
    total += mem.bytes[k];
    if (mem.bytes[k] <= 0.0 || len >= sizeof text) continue;
    if (k == FF_FIT_MEM_OTHER)
      len += (size_t)snprintf(text + len, sizeof text - len, " + %.3g MB other", mem.bytes[k] / 1e6);
    else
      len += (size_t)snprintf(text + len, sizeof text - len, "%s%.4g B x %.4g %s", len ? " + " : "",
                              mem.bytes[k] / mem.units[k], mem.units[k], UNITS[k]);
  }
  ff_log("round 1 arrays on rank 0 (its allocation table; a device holds the same): %.4g MB = %s", total / 1e6, text);
}

/* Collective. */
static int setup(Trainer *t) {
  const FfRound1Setup *S = t->S;
  const FfConfig *cfg = t->cfg;
  FF_TRY(ff_fitdata_load(cfg, t->comm, &t->rec));
  t->P = t->rec.P;
  t->B = (int32_t)cfg->fit_batch;
  FF_TRY(split(t));
  FF_TRY(ff_config_trainable(cfg, &t->trainable));
  FF_TRY(ff_config_fingerprint(cfg, &t->fingerprint));
  FF_TRY(partition_id(S, &t->part_id));
  int64_t mine = S->net->n_in;
  FF_TRY(FF_MPI(MPI_Exscan(&mine, &t->e_offset, 1, MPI_INT64_T, MPI_SUM, t->comm)));
  if (t->rank == 0) t->e_offset = 0;
  FF_TRY(FF_MPI(MPI_Allreduce(&mine, &t->e_total, 1, MPI_INT64_T, MPI_SUM, t->comm)));
  int32_t steps, warmup;
  FF_TRY(make_network(t, &steps, &warmup));
  const FfFitData *rec = &t->rec;
  ff_log("recordings %s (%s): %lld frames at %g Hz, %d neuropils fitted; %lld train frames (%lld samples in batches "
         "of %d), %lld validation frames (%lld-%lld), %lld test (from %lld); %d rate classes of %g Hz",
         cfg->activity, rec->id, (long long)rec->T, rec->fs_hz, t->P, (long long)t->sp.fit, (long long)t->sp.fit - 1,
         t->B, (long long)(t->sp.test0 - t->sp.val0), (long long)t->sp.val0, (long long)t->sp.test0 - 1,
         (long long)t->n_test, (long long)t->n_train, t->bins.n, cfg->bin_size_hz);
  char rank_text[48] = "";
  if (t->trainable & FF_TRAIN_LOWRANK) snprintf(rank_text, sizeof rank_text, " (rank %lld)", (long long)cfg->lowrank_rank);
  ff_log("round 1: %d steps per sample (%d warm-up), background %g Hz, training %s%s%s with %s, loss %s, lr %g",
         steps, warmup, cfg->fit_background_hz, cfg->trainable, rank_text,
         (t->trainable & FF_TRAIN_CONNECTIONS) && cfg->keep_sign ? " (signs kept)" : "",
         cfg->etrace_decay > 0 ? "ES-D-RTRL" : "D-RTRL", cfg->loss == FF_LOSS_MAE ? "mae" : cfg->loss == FF_LOSS_HUBER ? "huber" : "mse",
         cfg->lr);
  log_arrays(t->f);
  if (cfg->delivery == FF_DELIVERY_AUTO)
    ff_log("round 1 delivery: per spike, or sparse x dense for a step whose arrivals fill at least %g of the "
           "(stand-in, sample) pairs ([fit] spmm_density)", cfg->spmm_density);
  else
    ff_log("round 1 delivery: %s on every step ([fit] delivery)", cfg->delivery == FF_DELIVERY_SPMM ? "sparse x dense" : "per spike");
  if (cfg->backend == FF_BACKEND_CUDA)
    ff_log("round 1 on %s (rank 0): the kernels of include/flyfit/fit_dev.h over managed memory, each awaited; "
           "a batch's start, the window's compaction, the exchange (MPI) and the exact reductions on the host",
           ff_fit_device(t->f));
  if (cfg->backend == FF_BACKEND_EMULATE)
    ff_log("round 1 on emulated device kernels (include/flyfit/fit_dev.h: serial, scrambled order; spikes %s)",
           cfg->transport == FF_TRANSPORT_NCCL ? "gathered from every rank and placed as a device does" : "by MPI");
  return FF_OK;
}

/* ---- results ------------------------------------------------------------------------------------ */

void ff_round1_results(const FfRound1 *t, FfRound1Results *r) {
  *r = (FfRound1Results){&t->rec, &t->bins, t->n_train, t->n_test, t->hist, t->ck.epochs_done, t->ck.best_epoch,
                         N_METRICS, METRIC_NAMES, t->ut_loss, t->ut_acc, t->ut_mse,
                         t->te_loss, t->te_acc, t->te_mse,
                         t->ck.epochs_done && isfinite(t->ck.best_val) ? t->ck.best_val : NAN, t->sp.val0,
                         t->sim, t->test_pred, t->lr_sv ? t->lr_rank : 0, t->lr_sv};
}

static int results_body(hid_t f, void *ctx) {
  const Trainer *t = ctx;
  FfRound1Results r;
  ff_round1_results(t, &r);
  const int64_t K = t->size;
  const FfH5Attr timing[] = {FF_ATTR_DOUBLE("setup_s", t->setup_s), FF_ATTR_DOUBLE("train_s", t->train_s),
                             FF_ATTR_DOUBLE("samples_per_s", t->train_s > 0 ? (double)t->train_samples / t->train_s : 0.0)};
  int st = ff_results_begin(f, t->S->config_text, "fit", t->S->version, t->S->hosts, t->size, t->S->threads, t->cfg,
                            t->rec.id);
  FF_CALL(st, ff_results_write_round1(f, &r));
  FF_CALL(st, ff_h5_group(f, "/timing"));
  FF_CALL(st, ff_h5_write_attrs(f, "/timing", timing, 3));
  FF_CALL(st, ff_h5_write(f, "/timing/peak_rss_mb", H5T_NATIVE_DOUBLE, 1, &K, t->peak_rss_mb));
  return st;
}

/* ---- the run ------------------------------------------------------------------------------------ */

/* Collective. Everything that can fail on the inputs: recordings, split, classes, network, the
 * checkpoint to resume from; and the untrained model's score. */
static int prepare(Trainer *t) {
  const FfConfig *cfg = t->cfg;
  const double t_setup = ff_wall_seconds();
  t->ut_loss = t->ut_acc = t->ut_mse = NAN; /* scored at the end of a training run only */
  t->te_loss = t->te_acc = t->te_mse = NAN;
  FF_TRY(setup(t));
  char path[FF_CONFIG_STR + 128];
  if (!t->S->train) {
    t->setup_s = ff_wall_seconds() - t_setup;
    return FF_OK;
  }
  if (cfg->resume[0]) {
    if (!strcmp(cfg->resume, "auto")) {
      FF_TRY(find_newest(t, path, sizeof path));
      if (path[0])
        ff_log("resume = auto: continuing from %s (%lld epochs%s done)", path, (long long)t->ck.epochs_done,
               t->ck.part_batches ? " and some batches of the next" : "");
      else ff_log("resume = auto: no valid checkpoint in %s; starting afresh", cfg->out_dir);
    } else {
      FF_TRY(checkpoint_read(t, cfg->resume, 0));
      ff_log("resumed from %s: %lld epochs done", cfg->resume, (long long)t->ck.epochs_done);
    }
  }
  if (t->ck.epochs_done == 0 && t->ck.part_batches == 0) {
    Score s;
    FF_TRY(validate(t, &s));
    t->ck.untrained_loss = s.n ? s.loss / (double)s.n : NAN;
    t->ck.untrained_acc = s.n ? s.hits / (double)s.n : NAN;
    t->ck.untrained_mse = s.n ? s.sq / (double)s.n : NAN;
    t->ck.best_val = INFINITY;
    if (s.n)
      ff_log("untrained: validation loss %.5g, bin accuracy %.4f, mse %.5g", t->ck.untrained_loss, t->ck.untrained_acc,
             t->ck.untrained_mse);
  }
  t->setup_s = ff_wall_seconds() - t_setup;
  return FF_OK;
}

static const char *signal_name(void) {
  const int sig = ff_signals_stop_requested();
  return sig == SIGUSR1 ? "SIGUSR1" : sig == SIGINT ? "SIGINT" : sig ? "SIGTERM" : "a signal on another rank";
}

/* Collective. Epoch e's training, continuing a part-done epoch; a signal's stop writes a
 * checkpoint of the point reached and returns FF_STOPPED. */
static int epoch_train(Trainer *t, int64_t e, double lr, Score *tr, double *norm_sum) {
  int64_t batch = 0;
  memset(tr, 0, sizeof *tr);
  *norm_sum = 0.0;
  FfCheckpointState *ck = &t->ck;
  if (e == ck->epochs_done && ck->part_batches > 0) { /* resumed part-way through this epoch */
    batch = ck->part_batches;
    *tr = (Score){ck->part_loss, ck->part_sq, ck->part_hits, (int64_t)ck->part_values, (int64_t)ck->part_count};
    *norm_sum = ck->part_norm;
    ff_log("epoch %lld: resuming after batch %lld", (long long)e + 1, (long long)batch);
  }
  int stopped = 0;
  FF_TRY(train_epoch(t, e, lr, tr, norm_sum, &batch, &stopped));
  if (stopped) { /* a signal: save this point of the epoch, collectively, and stop */
    ck->part_batches = batch;
    ck->part_loss = tr->loss;
    ck->part_sq = tr->sq;
    ck->part_hits = tr->hits;
    ck->part_values = (double)tr->n;
    ck->part_count = (double)tr->batches;
    ck->part_norm = *norm_sum;
    char path[FF_CONFIG_STR + 128];
    ff_checkpoint_name(t->cfg->out_dir, e, batch, path, sizeof path);
    FF_TRY(checkpoint_write(t, path));
    ff_log("stopped by %s after batch %lld of epoch %lld: wrote %s; [run] resume = auto continues from it",
           signal_name(), (long long)batch, (long long)e + 1, path);
    return FF_ERROR(FF_STOPPED, "stopped by a signal; checkpoint %s written (exit status %d)", path, FF_STOPPED);
  }
  ck->part_batches = 0;
  ck->part_loss = ck->part_sq = ck->part_hits = ck->part_values = ck->part_count = ck->part_norm = 0.0;
  return FF_OK;
}

/* Collective. Epoch e end to end: training, the validation score, its history row and log line,
 * and the checkpoints due. The best epoch is the one of least validation loss (without a
 * validation block, the last). */
static int epoch(Trainer *t, int64_t e, const char *best) {
  const FfConfig *cfg = t->cfg;
  const double lr = cfg->lr * pow(cfg->lr_decay, (double)(e / cfg->lr_decay_every));
  const double t0 = ff_wall_seconds();
  Score tr, va;
  double norm_sum;
  FF_TRY(epoch_train(t, e, lr, &tr, &norm_sum));
  const double gnorm = tr.batches ? norm_sum / (double)tr.batches : 0.0;
  const double t1 = ff_wall_seconds();
  FF_TRY(validate(t, &va));
  double *h = t->hist + e * N_METRICS;
  h[M_TRAIN_LOSS] = tr.loss / (double)tr.n;
  h[M_TRAIN_ACC] = tr.hits / (double)tr.n;
  h[M_TRAIN_MSE] = tr.sq / (double)tr.n;
  h[M_VAL_LOSS] = va.n ? va.loss / (double)va.n : NAN;
  h[M_VAL_ACC] = va.n ? va.hits / (double)va.n : NAN;
  h[M_VAL_MSE] = va.n ? va.sq / (double)va.n : NAN;
  h[M_GRAD_NORM] = gnorm;
  h[M_SPS] = (double)(t->sp.fit - 1) / (t1 - t0);
  h[M_LR] = lr;
  h[M_SECONDS] = ff_wall_seconds() - t0;
  t->train_s += t1 - t0;
  t->train_samples += t->sp.fit - 1;
  t->ck.epochs_done = e + 1;
  const int is_best = va.n == 0 || h[M_VAL_LOSS] < t->ck.best_val;
  if (is_best) {
    t->ck.best_val = va.n ? h[M_VAL_LOSS] : INFINITY;
    t->ck.best_epoch = e + 1;
  }
  ff_log("epoch %lld/%lld: train loss %.5g (bin acc %.4f, mse %.5g), validation loss %.5g (bin acc %.4f, mse %.5g), "
         "grad norm %.4g, %.3g samples/s, lr %.3g%s",
         (long long)e + 1, (long long)cfg->epochs_round1, h[M_TRAIN_LOSS], h[M_TRAIN_ACC], h[M_TRAIN_MSE],
         h[M_VAL_LOSS], h[M_VAL_ACC], h[M_VAL_MSE], gnorm, h[M_SPS], lr, is_best ? "  (best)" : "");
  if ((e + 1) % cfg->checkpoint_every == 0 || e + 1 == cfg->epochs_round1) {
    char path[FF_CONFIG_STR + 128];
    ff_checkpoint_name(cfg->out_dir, e + 1, 0, path, sizeof path);
    FF_TRY(checkpoint_write(t, path));
    if (t->rank == 0) ff_checkpoint_prune(cfg->out_dir, t->ck.epochs_done, cfg->checkpoint_every);
  }
  if (is_best) FF_TRY(checkpoint_write(t, best));
  return FF_OK;
}

/* Collective. After training: the untrained network's test score, then the best epoch's network
 * over the samples before the test block (round 2's input) and over the test block (the one time
 * round 1 reads it), results.h5 (mode fit) and the summary line. */
static int finish(Trainer *t, const char *best) {
  const FfConfig *cfg = t->cfg;
  double *sim = NULL, *test_pred = NULL;
  FF_TRY(FF_MALLOC(sim, (t->n_train - 1) * t->P, "simulated rates"));
  t->sim = sim;
  FF_TRY(FF_MALLOC(test_pred, t->n_test * t->P, "test predictions"));
  t->test_pred = test_pred;
  Score s_un;
  const int have_best = t->ck.epochs_done > 0;
  if (have_best && access(best, F_OK) != 0)
    return FF_ERROR(FF_ERR_IO, "'%s', the best epoch's network, is missing; rerun the fit (or resume from a "
                               "checkpoint of the same run with [run] resume = auto)", best);
  if (have_best) FF_TRY(ff_fit_reset_params(t->f));
  FF_TRY(evaluate(t, t->n_train - 1, t->n_test, &s_un, NULL));
  t->ut_loss = s_un.loss / (double)s_un.n;
  t->ut_acc = s_un.hits / (double)s_un.n;
  t->ut_mse = s_un.sq / (double)s_un.n;
  if (have_best) FF_TRY(checkpoint_read(t, best, 1));
  Score s_tr, s_te;
  FF_TRY(evaluate(t, 0, t->n_train - 1, &s_tr, sim));
  FF_TRY(evaluate(t, t->n_train - 1, t->n_test, &s_te, test_pred));
  t->te_loss = s_te.loss / (double)s_te.n;
  t->te_acc = s_te.hits / (double)s_te.n;
  t->te_mse = s_te.sq / (double)s_te.n;
  FfFitView v;
  ff_fit_view(t->f, &v);
  if (v.lr_rank > 0) { /* the kept low-rank term's spectrum: how many of its r dimensions it uses */
    FF_TRY(FF_MALLOC(t->lr_sv, v.lr_rank, "low-rank spectrum"));
    t->lr_rank = v.lr_rank;
    FF_TRY(ff_fit_lowrank_spectrum(t->f, t->lr_sv));
    double s2 = 0.0, s4 = 0.0;
    for (int32_t k = 0; k < v.lr_rank; ++k) {
      s2 += t->lr_sv[k] * t->lr_sv[k];
      s4 += t->lr_sv[k] * t->lr_sv[k] * t->lr_sv[k] * t->lr_sv[k];
    }
    t->lr_norm = sqrt(s2);
    t->lr_pr = s4 > 0 ? s2 * s2 / s4 : 0.0;
    ff_log("low-rank term A B (rank %d): largest singular value %.4g, Frobenius norm %.4g, participation ratio %.2g",
           (int)v.lr_rank, t->lr_sv[0], t->lr_norm, t->lr_pr);
  }
  ff_log("best epoch %lld: over the training frames loss %.5g (bin acc %.4f); test loss %.5g (bin acc %.4f, mse %.5g)",
         (long long)t->ck.best_epoch, s_tr.loss / (double)s_tr.n, s_tr.hits / (double)s_tr.n, s_te.loss / (double)s_te.n,
         s_te.hits / (double)s_te.n, s_te.sq / (double)s_te.n);
  FF_TRY(ff_peak_memory(t->comm, 1, &t->peak_rss_mb));
  char path[FF_CONFIG_STR + 64];
  snprintf(path, sizeof path, "%s/results.h5", cfg->out_dir);
  int st = FF_OK;
  if (t->rank == 0 && t->S->train == 1) {
    st = ff_atomic_check_space(path, 8.0 * (double)(t->rec.T * 3) * (double)t->P, "round 1's results.h5");
    FF_CALL(st, ff_h5_write_atomic(path, results_body, t));
  }
  FF_TRY(ff_ranks_root_status(st, t->comm, "write the results"));
  if (t->rank == 0) {
    const double *h = t->ck.epochs_done ? t->hist + (t->ck.epochs_done - 1) * N_METRICS : NULL;
    const FfCheckpointState *ck = &t->ck;
    if (t->S->train == 1) ff_log("wrote %s/results.h5", cfg->out_dir);
    char lowrank[160] = ""; /* the low-rank term's spectrum, where there is one */
    if (t->lr_sv)
      snprintf(lowrank, sizeof lowrank, " lowrank_sv1=%.6g lowrank_norm=%.6g lowrank_participation=%.6g", t->lr_sv[0],
               t->lr_norm, t->lr_pr);
    ff_summary("fit done: epochs=%lld best_epoch=%lld train_loss=%.6g train_bin_acc=%.6g val_loss=%.6g val_bin_acc=%.6g "
           "val_mse=%.6g best_val_loss=%.6g test_loss=%.6g test_bin_acc=%.6g test_mse=%.6g best_test_loss=%.6g "
           "best_test_bin_acc=%.6g untrained_test_loss=%.6g untrained_test_bin_acc=%.6g untrained_test_mse=%.6g%s "
           "samples_per_s=%.4g\n",
           (long long)ck->epochs_done, (long long)ck->best_epoch, h ? h[M_TRAIN_LOSS] : NAN, h ? h[M_TRAIN_ACC] : NAN,
           h ? h[M_VAL_LOSS] : ck->untrained_loss, h ? h[M_VAL_ACC] : ck->untrained_acc,
           h ? h[M_VAL_MSE] : ck->untrained_mse, ck->epochs_done && isfinite(ck->best_val) ? ck->best_val : NAN,
           s_te.loss / (double)s_te.n, s_te.hits / (double)s_te.n, s_te.sq / (double)s_te.n,
           s_te.loss / (double)s_te.n, s_te.hits / (double)s_te.n, t->ut_loss, t->ut_acc, t->ut_mse, lowrank,
           t->train_s > 0 ? (double)t->train_samples / t->train_s : 0.0);
  }
  return FF_OK;
}

/* Collective. */
static int run(Trainer *t) {
  const FfConfig *cfg = t->cfg;
  char best[FF_CONFIG_STR + 64];
  snprintf(best, sizeof best, "%s/checkpoint-best.h5", cfg->out_dir);
  FfFitStats st0, st1;
  ff_fit_stats(t->f, &st0);
  ff_signals_arm(1); /* a signal now stops training at the next batch, with a checkpoint */
  for (int64_t e = t->ck.epochs_done; e < cfg->epochs_round1; ++e) FF_TRY(epoch(t, e, best));
  ff_signals_arm(0);
  ff_fit_stats(t->f, &st1);
  if (st1.steps > st0.steps) {
    const double steps = (double)(st1.steps - st0.steps), up_s = st1.step_s - st0.step_s,
                 de_s = st1.deliver_s - st0.deliver_s, up_b = st1.update_bytes - st0.update_bytes,
                 de_b = st1.deliver_bytes - st0.deliver_bytes;
    ff_log("rank 0 stepper: %.3g ms per step for %d neurons x %d samples, %.3g GB/s (update %.3g ms, %.3g MB "
           "moved, %.3g GB/s; delivery %.3g ms, %.3g synaptic events, %.3g GB/s, sparse x dense on %lld of %lld "
           "steps)",
           (up_s + de_s) / steps * 1e3, t->S->net->n_local, t->B, (up_b + de_b) / (up_s + de_s) / 1e9,
           up_s / steps * 1e3, up_b / steps / 1e6, up_b / up_s / 1e9, de_s / steps * 1e3,
           (double)(st1.events - st0.events) / steps, de_s > 0.0 ? de_b / de_s / 1e9 : 0.0,
           (long long)(st1.spmm_steps - st0.spmm_steps), (long long)(st1.steps - st0.steps));
  }
  return finish(t, best);
}

int ff_round1_prepare(const FfRound1Setup *S, FfRound1 **out) {
  *out = NULL;
  Trainer *t;
  FF_TRY(FF_CALLOC(t, 1, "round 1"));
  t->S_copy = *S;
  t->S = &t->S_copy;
  t->cfg = S->cfg;
  t->comm = S->comm;
  int st = FF_MPI(MPI_Comm_rank(S->comm, &t->rank));
  FF_CALL(st, FF_MPI(MPI_Comm_size(S->comm, &t->size)));
  FF_CALL(st, prepare(t));
  if (st != FF_OK) {
    ff_round1_destroy(&t);
    return st;
  }
  *out = t;
  return FF_OK;
}

int ff_round1_run(FfRound1 *t) {
  FF_TRY(run(t));
  return FF_OK;
}

const FfFitData *ff_round1_data(const FfRound1 *t) { return &t->rec; }
const FfBins *ff_round1_bins(const FfRound1 *t) { return &t->bins; }
int64_t ff_round1_train_frames(const FfRound1 *t) { return t->n_train; }
const FfSplit *ff_round1_split(const FfRound1 *t) { return &t->sp; }
struct FfFitNet *ff_round1_net(FfRound1 *t) { return t->f; }

int ff_round1_load_params(FfRound1 *t, const char *path) {
  FF_TRY(checkpoint_read(t, path, 0));
  return FF_OK;
}

const double *ff_round1_sim_rates(const FfRound1 *t) { return t->sim; }
const double *ff_round1_test_pred(const FfRound1 *t) { return t->test_pred; }

int ff_round1_simulate(FfRound1 *t, int64_t k0, int64_t count, double **rates) {
  Score s;
  *rates = NULL;
  FF_TRY(FF_MALLOC(*rates, (count > 0 ? count : 1) * t->P, "simulated rates"));
  return evaluate(t, k0, count, &s, *rates);
}

int64_t ff_round1_history(const FfRound1 *t, const double **hist, const char *const **names, int *n_metrics) {
  *hist = t->hist;
  *names = METRIC_NAMES;
  *n_metrics = N_METRICS;
  return t->ck.epochs_done;
}

void ff_round1_destroy(FfRound1 **t) {
  if (t == NULL || *t == NULL) return;
  trainer_destroy(*t);
  free(*t);
  *t = NULL;
}
