/* mode = task, training: batches of training trials split over the ranks in whole trials, each trial's gradient added
 * into exact sums (exact.h: integers, so the sum is the same for any split and order) and reduced once per batch;
 * then one Adam step, the same on every rank, and Dale's law (weights projected to >= 0). The validation trials (set
 * FF_TASK_VALID) are scored every val_every batches, the test trials (FF_TASK_TEST) once at the end
 * (docs/design.md §2.8). With split = neurons every rank runs every trial on its block of neurons (FfTaskSplit): the
 * trials' "ranks" are then this rank alone (MPI_COMM_SELF), each rank sums and updates its own rows, and rank 0
 * gathers the rows for the resume point and the result. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/checkpoint.h"
#include "flyfit/error.h"
#include "flyfit/exact.h"
#include "flyfit/log.h"
#include "flyfit/ranks.h"
#include "flyfit/signals.h"
#include "flyfit/task.h"

const char *const FF_TASK_METRIC_NAMES[FF_TASK_METRICS] = {"loss", "acc", "val_acc", "seconds"};

void ff_task_result_destroy(FfTaskResult *r) {
  ff_task_net_destroy(&r->net);
  FF_FREE(r->hist);
}

/* This rank's trials of n: [lo, hi), whole trials, in rank order. */
static int share(int64_t n, MPI_Comm comm, int64_t *lo, int64_t *hi) {
  int rank, size;
  FF_TRY(FF_MPI(MPI_Comm_rank(comm, &rank)));
  FF_TRY(FF_MPI(MPI_Comm_size(comm, &size)));
  *lo = n * rank / size;
  *hi = n * (rank + 1) / size;
  return FF_OK;
}

/* One thread's buffers: its work space and trial, a trial's gradient, its exact sums and its first error. Threads take
 * whole trials; their sums are integers (exact.h), merged once, so any thread count and schedule gives the same bits. */
typedef struct {
  FfTaskWork *w;
  FfTaskTrial tr;
  double *gt;   /* [P] (gradients only) */
  FfExact *acc; /* [n_acc] */
  int64_t n_acc, correct;
  int st;
  char msg[1024];
} Lane;

static void lanes_destroy(Lane *lanes, int n) {
  for (int t = 0; lanes && t < n; ++t) {
    ff_task_work_destroy(&lanes[t].w);
    ff_task_trial_destroy(&lanes[t].tr);
    free(lanes[t].gt);
    free(lanes[t].acc);
  }
  free(lanes);
}

/* n lanes with n_acc exact sums each, and a gradient buffer of P when P > 0. */
static int lanes_create(const FfTaskSpec *s, const FfTaskNet *net, int n, int64_t n_acc, int64_t P, Lane **out) {
  Lane *lanes;
  FF_TRY(FF_CALLOC(lanes, n, "task threads"));
  int st = FF_OK;
  for (int t = 0; t < n && st == FF_OK; ++t) {
    lanes[t].n_acc = n_acc;
    st = ff_task_work_create(s, net, &lanes[t].w);
    FF_CALL(st, FF_MALLOC(lanes[t].acc, n_acc, "task exact sums"));
    if (P > 0) FF_CALL(st, FF_MALLOC(lanes[t].gt, P, "task trial gradient"));
  }
  if (st != FF_OK) lanes_destroy(lanes, n);
  else *out = lanes;
  return st;
}

/* fn(lane, k, ctx) for every trial k in [lo, hi), over n threads, each into its own lane (cleared first); then lane
 * 0 holds the merged sums and counts, and the first error (in trial order of the lanes) is returned. */
typedef int (*TrialFn)(Lane *lane, int64_t k, const void *ctx);
static int over_trials(Lane *lanes, int n, int64_t lo, int64_t hi, TrialFn fn, const void *ctx) {
  for (int t = 0; t < n; ++t) {
    memset(lanes[t].acc, 0, (size_t)lanes[t].n_acc * sizeof *lanes[t].acc);
    lanes[t].correct = 0;
    lanes[t].st = FF_OK;
  }
#pragma omp parallel for schedule(dynamic, 1) num_threads(n)
  for (int64_t k = lo; k < hi; ++k) {
    Lane *l = &lanes[omp_get_thread_num()];
    if (l->st != FF_OK) continue;
    l->st = fn(l, k, ctx);
    if (l->st != FF_OK) snprintf(l->msg, sizeof l->msg, "%s", ff_error_message());
  }
  for (int t = 1; t < n; ++t) {
    for (int64_t q = 0; q < lanes[0].n_acc; ++q) ff_exact_merge(&lanes[0].acc[q], &lanes[t].acc[q]);
    lanes[0].correct += lanes[t].correct;
  }
  for (int t = 0; t < n; ++t)
    if (lanes[t].st != FF_OK) return t == 0 ? lanes[0].st : FF_ERROR(lanes[t].st, "%s", lanes[t].msg);
  return FF_OK;
}

typedef struct {
  const FfTaskSpec *s;
  const FfTaskNet *net;
  uint64_t seed;
  int set;
} EvalCtx;

static int eval_trial(Lane *l, int64_t k, const void *ctx) {
  const EvalCtx *c = ctx;
  FfTaskScore sc;
  FF_TRY(ff_task_trial_make(c->s, c->seed, c->set, k, &l->tr));
  FF_TRY(ff_task_trial_run(c->s, c->net, &l->tr, l->w, &sc, NULL));
  l->correct += sc.correct;
  ff_exact_add(&l->acc[0], sc.loss);
  return FF_OK;
}

int ff_task_evaluate(const FfTaskSpec *s, const FfTaskNet *net, uint64_t seed, int set, int64_t n, int threads,
                     MPI_Comm comm, double *acc, double *loss) {
  int64_t lo, hi, all = 0;
  FF_TRY(share(n, comm, &lo, &hi));
  const int nt = threads > 1 ? threads : 1;
  Lane *lanes = NULL;
  FfExact total = {0};
  const EvalCtx ctx = {s, net, seed, set};
  int st = lanes_create(s, net, nt, 1, 0, &lanes);
  FF_CALL(st, over_trials(lanes, nt, lo, hi, eval_trial, &ctx));
  FfExact sum = {0};
  int64_t correct = 0;
  if (st == FF_OK) {
    sum = lanes[0].acc[0];
    correct = lanes[0].correct;
  }
  lanes_destroy(lanes, nt);
  /* every rank joins the sums, whatever its own status; the caller agrees on it */
  const int red = FF_MPI(MPI_Allreduce(&correct, &all, 1, MPI_INT64_T, MPI_SUM, comm));
  const int red2 = ff_exact_reduce(&sum, &total, 1, comm);
  FF_CALL(st, red);
  FF_CALL(st, red2);
  *acc = (double)all / (double)n;
  *loss = ff_exact_value(&total) / (double)n;
  return st;
}

/* Adam with bias correction, then Dale's law. */
static void adam_step(FfTaskNet *net, const double *g, double *m, double *v, int64_t t, const FfTaskTrainSetup *ts) {
  const double c1 = 1.0 - pow(ts->beta1, (double)t), c2 = 1.0 - pow(ts->beta2, (double)t);
  for (int64_t q = 0; q < net->n_param; ++q) {
    m[q] = ts->beta1 * m[q] + (1.0 - ts->beta1) * g[q];
    v[q] = ts->beta2 * v[q] + (1.0 - ts->beta2) * g[q] * g[q];
    net->theta[q] -= ts->lr * (m[q] / c1) / (sqrt(v[q] / c2) + ts->adam_eps);
  }
  ff_task_net_project(net);
}

typedef struct {
  const FfTaskTrainSetup *ts;
  const FfTaskNet *net;
  int64_t first; /* the batch's first training trial */
} GradCtx;

static int grad_trial(Lane *l, int64_t k, const void *ctx) {
  const GradCtx *c = ctx;
  const int64_t P = c->net->n_param;
  FfTaskScore sc;
  FF_TRY(ff_task_trial_make(c->ts->spec, c->ts->seed, FF_TASK_TRAIN, c->first + k, &l->tr));
  FF_TRY(ff_task_trial_grad(c->ts->spec, c->net, &l->tr, c->ts->spec->method, l->w, l->gt, &sc));
  for (int64_t q = 0; q < P; ++q)
    if (l->gt[q] != 0.0) ff_exact_add(&l->acc[q], l->gt[q]);
  ff_exact_add(&l->acc[P], sc.loss);
  l->correct += sc.correct;
  return FF_OK;
}

/* Collective. The batch's mean gradient (exact sum over its trials, the rank's threads and the ranks, divided by B
 * once) into g, its mean loss and accuracy. */
static int batch_gradient(const FfTaskTrainSetup *ts, MPI_Comm dcomm, const FfTaskNet *net, int64_t batch, Lane *lanes,
                          int nt, FfExact *sum, double *g, double *loss, double *accuracy) {
  const int64_t P = net->n_param, B = ts->batch;
  int64_t lo, hi, all = 0;
  FF_TRY(share(B, dcomm, &lo, &hi));
  const GradCtx ctx = {ts, net, batch * B};
  int st = over_trials(lanes, nt, lo, hi, grad_trial, &ctx);
  const int red = FF_MPI(MPI_Allreduce(&lanes[0].correct, &all, 1, MPI_INT64_T, MPI_SUM, dcomm));
  const int red2 = ff_exact_reduce(lanes[0].acc, sum, P + 1, dcomm);
  FF_CALL(st, red);
  FF_CALL(st, red2);
  if (st != FF_OK) return st;
  for (int64_t q = 0; q < P; ++q) g[q] = ff_exact_value(&sum[q]) / (double)B;
  *loss = ff_exact_value(&sum[P]) / (double)B;
  *accuracy = (double)all / (double)B;
  for (int64_t q = 0; q <= P; ++q)
    if (sum[q].lost)
      return FF_ERROR(FF_ERR_INPUT, "batch %lld: the %s is not finite (training diverged); lower [task] lr",
                      (long long)batch + 1, q < P ? "gradient" : "loss");
  return FF_OK;
}

/* The parameters of the whole network: the rows of w rank by rank, then the readout (the same on every rank). */
static int64_t full_params(const FfTaskNet *net) {
  return (int64_t)net->n * net->n_pre + (int64_t)FF_TASK_N_OUT * net->n_exc + FF_TASK_N_OUT;
}

/* Collective: each rank's share of the rows of w, as counts and offsets of doubles (every rank agrees on the status). */
static int row_counts(const FfTaskNet *net, int **cnt, int **dsp) {
  const FfNet *part = &net->split->part;
  int st = FF_MALLOC(*cnt, part->size, "counts");
  FF_CALL(st, FF_MALLOC(*dsp, part->size, "offsets"));
  FF_CALL(st, ff_net_block_counts(part, net->n_pre, *cnt, *dsp));
  return ff_ranks_agree(st, net->split->comm);
}

/* Collective over a split network's ranks: rank 0 gets the whole vector of the local x [n_param] into full
 * [full_params] (rank 0's only). */
static int gather_rows(const FfTaskNet *net, const double *x, double *full) {
  const FfNet *part = &net->split->part;
  const int64_t np = net->n_pre, nw = (int64_t)net->rows * np, tail = net->n_param - nw;
  int *cnt = NULL, *dsp = NULL;
  int st = row_counts(net, &cnt, &dsp);
  FF_CALL(st, FF_MPI(MPI_Gatherv(x, (int)nw, MPI_DOUBLE, full, cnt, dsp, MPI_DOUBLE, 0, net->split->comm)));
  if (st == FF_OK && part->rank == 0) memcpy(full + (int64_t)net->n * np, x + nw, (size_t)tail * sizeof *x);
  free(cnt);
  free(dsp);
  return st;
}

/* Collective: the inverse, rank 0's whole vector full into every rank's local x. */
static int scatter_rows(const FfTaskNet *net, const double *full, double *x) {
  const FfNet *part = &net->split->part;
  const int64_t np = net->n_pre, nw = (int64_t)net->rows * np, tail = net->n_param - nw;
  int *cnt = NULL, *dsp = NULL;
  int st = row_counts(net, &cnt, &dsp);
  FF_CALL(st, FF_MPI(MPI_Scatterv(full, cnt, dsp, MPI_DOUBLE, x, (int)nw, MPI_DOUBLE, 0, net->split->comm)));
  if (st == FF_OK && part->rank == 0) memcpy(x + nw, full + (int64_t)net->n * np, (size_t)tail * sizeof *x);
  FF_CALL(st, FF_MPI(MPI_Bcast(x + nw, (int)tail, MPI_DOUBLE, 0, net->split->comm)));
  free(cnt);
  free(dsp);
  return st;
}

/* Rank 0 writes the resume point after `batches` batches; collective (every rank learns rank 0's status). A split
 * network's rows are gathered first: the file is the same whatever the split. */
static int save_point(const FfTaskTrainSetup *ts, FfTaskNet *net, double *m, double *v, const FfTaskResult *out,
                      double seconds) {
  if (ts->point == NULL) return FF_OK;
  int rank;
  FF_TRY(FF_MPI(MPI_Comm_rank(ts->comm, &rank)));
  int st = FF_OK;
  const int64_t PF = full_params(net);
  double *ft = NULL, *fm = NULL, *fv = NULL;
  if (net->split) {
    if (rank == 0) {
      st = FF_MALLOC(ft, PF, "the whole network");
      FF_CALL(st, FF_MALLOC(fm, PF, "the whole network"));
      FF_CALL(st, FF_MALLOC(fv, PF, "the whole network"));
    }
    st = ff_ranks_agree(st, ts->comm);
    FF_CALL(st, gather_rows(net, net->theta, ft));
    FF_CALL(st, gather_rows(net, m, fm));
    FF_CALL(st, gather_rows(net, v, fv));
  }
  if (st == FF_OK && rank == 0) {
    const FfTaskState s = {out->batches, PF, net->split ? ft : net->theta, net->split ? fm : m, net->split ? fv : v,
                           out->hist, FF_TASK_METRICS, out->val_acc, seconds, ts->fingerprint};
    st = ff_checkpoint_write_task(ts->point, &s);
  }
  free(ft);
  free(fm);
  free(fv);
  return ff_ranks_root_status(st, ts->comm, "write the resume point %s", ts->point);
}

/* Collective. The resume point's parameters, moments and history on every rank (rank 0 reads it); *seconds is the
 * training time it had. */
static int load_point(const FfTaskTrainSetup *ts, FfTaskNet *net, double *m, double *v, FfTaskResult *out,
                      double *seconds) {
  int rank;
  FF_TRY(FF_MPI(MPI_Comm_rank(ts->comm, &rank)));
  const int64_t PF = full_params(net);
  double *ft = NULL, *fm = NULL, *fv = NULL;
  int st = FF_OK;
  if (net->split && rank == 0) {
    st = FF_MALLOC(ft, PF, "the whole network");
    FF_CALL(st, FF_MALLOC(fm, PF, "the whole network"));
    FF_CALL(st, FF_MALLOC(fv, PF, "the whole network"));
  }
  FfTaskState s = {0, PF, net->split ? ft : net->theta, net->split ? fm : m, net->split ? fv : v, NULL,
                   FF_TASK_METRICS, NAN, 0.0, ts->fingerprint};
  if (st == FF_OK && rank == 0) st = ff_checkpoint_read_task(ts->resume, &s);
  if (st == FF_OK && rank == 0 && s.batches > ts->max_batches)
    st = FF_ERROR(FF_ERR_INPUT, "'%s' holds %lld batches, more than [task] max_batches = %lld: raise max_batches, or "
                                "remove the file to train afresh",
                  ts->resume, (long long)s.batches, (long long)ts->max_batches);
  st = ff_ranks_root_status(st, ts->comm, "read the resume point %s", ts->resume);
  double head[3] = {(double)s.batches, s.val_acc, s.seconds};
  FF_CALL(st, FF_MPI(MPI_Bcast(head, 3, MPI_DOUBLE, 0, ts->comm)));
  const int64_t P = net->n_param, B = (int64_t)head[0];
  if (net->split) {
    FF_CALL(st, scatter_rows(net, ft, net->theta));
    FF_CALL(st, scatter_rows(net, fm, m));
    FF_CALL(st, scatter_rows(net, fv, v));
  } else {
    FF_CALL(st, FF_MPI(MPI_Bcast(net->theta, (int)P, MPI_DOUBLE, 0, ts->comm)));
    FF_CALL(st, FF_MPI(MPI_Bcast(m, (int)P, MPI_DOUBLE, 0, ts->comm)));
    FF_CALL(st, FF_MPI(MPI_Bcast(v, (int)P, MPI_DOUBLE, 0, ts->comm)));
  }
  free(ft);
  free(fm);
  free(fv);
  if (st) {
    free(s.hist);
    return st;
  }
  if (rank == 0 && B > 0) memcpy(out->hist, s.hist, (size_t)(B * FF_TASK_METRICS) * sizeof *s.hist);
  free(s.hist);
  if (B > 0) FF_TRY(FF_MPI(MPI_Bcast(out->hist, (int)(B * FF_TASK_METRICS), MPI_DOUBLE, 0, ts->comm)));
  out->batches = B;
  out->val_acc = head[1];
  out->loss = B > 0 ? out->hist[(B - 1) * FF_TASK_METRICS + FF_TASK_LOSS] : NAN;
  *seconds = head[2];
  ff_log("resumed from %s after %lld batches (last validation accuracy %.3f)", ts->resume, (long long)B, head[1]);
  return FF_OK;
}

/* Collective over a split network's ranks: rank 0's result becomes the whole network (its rows gathered). */
static int gather_net(const FfTaskTrainSetup *ts, FfTaskNet *net) {
  const int rank = net->split->part.rank;
  FfTaskNet full = {0};
  int st = rank == 0 ? ff_task_net_init(ts->spec, ts->seed, &full) : FF_OK;
  st = ff_ranks_agree(st, ts->comm);
  FF_CALL(st, gather_rows(net, net->theta, full.theta));
  if (st == FF_OK && rank == 0) {
    ff_task_net_destroy(net);
    *net = full;
    memset(&full, 0, sizeof full);
  }
  ff_task_net_destroy(&full);
  return st;
}

/* Collective over a split network's ranks: [task] weights read by rank 0 into the whole network, every rank's rows. */
static int load_weights_split(const FfTaskTrainSetup *ts, FfTaskNet *net) {
  const int rank = net->split->part.rank;
  FfTaskNet full = {0};
  int st = rank == 0 ? ff_task_net_init(ts->spec, ts->seed, &full) : FF_OK;
  if (st == FF_OK && rank == 0) st = ff_task_net_load(ts->weights, &full);
  st = ff_ranks_root_status(st, ts->comm, "read [task] weights = %s", ts->weights);
  FF_CALL(st, scatter_rows(net, full.theta, net->theta));
  ff_task_net_destroy(&full);
  return st;
}

int ff_task_train(const FfTaskTrainSetup *ts, FfTaskResult *out) {
  memset(out, 0, sizeof *out);
  out->val_acc = out->test_acc = out->loss = NAN;
  const double t0 = MPI_Wtime();
  FfTaskSplit split;
  memset(&split, 0, sizeof split);
  if (ts->split) FF_TRY(ff_ranks_agree(ff_task_split_create(ts->spec->n_rec, ts->comm, &split), ts->comm));
  /* the ranks that divide the trials: all of them, or this rank alone when every rank runs every trial */
  const MPI_Comm dcomm = ts->split ? MPI_COMM_SELF : ts->comm;
  int st = ff_task_net_init_split(ts->spec, ts->seed, ts->split ? &split : NULL, &out->net);
  FfTaskNet *net = &out->net;
  const int64_t P = net->n_param;
  double *m = NULL, *v = NULL, *g = NULL;
  FfExact *sum = NULL;
  const int nt = ts->split ? 1 : ts->threads > 1 ? ts->threads : 1; /* a split network's exchange is per trial */
  Lane *lanes = NULL;
  FF_CALL(st, FF_CALLOC(m, P, "Adam moments"));
  FF_CALL(st, FF_CALLOC(v, P, "Adam moments"));
  FF_CALL(st, FF_MALLOC(g, P, "task gradient"));
  FF_CALL(st, FF_MALLOC(sum, P + 1, "task exact sums"));
  FF_CALL(st, FF_MALLOC(out->hist, (ts->max_batches > 0 ? ts->max_batches : 1) * FF_TASK_METRICS, "task history"));
  FF_CALL(st, lanes_create(ts->spec, net, nt, P + 1, P, &lanes));
  st = ff_ranks_agree(st, ts->comm);
  double before = 0.0; /* training time of the run resumed from */
  if (st == FF_OK && ts->weights && ts->weights[0] && !(ts->resume && ts->resume[0])) {
    int rank;
    FF_TRY(FF_MPI(MPI_Comm_rank(ts->comm, &rank)));
    if (ts->split) {
      st = load_weights_split(ts, net);
    } else {
      st = ff_ranks_root_status(rank == 0 ? ff_task_net_load(ts->weights, net) : FF_OK, ts->comm,
                                "read [task] weights = %s", ts->weights);
      FF_CALL(st, FF_MPI(MPI_Bcast(net->theta, (int)P, MPI_DOUBLE, 0, ts->comm)));
    }
    if (st == FF_OK) ff_log("starting from the trained network of %s ([task] weights)", ts->weights);
  }
  if (st == FF_OK && ts->resume && ts->resume[0]) st = load_point(ts, net, m, v, out, &before);
  int done = st == FF_OK && out->batches > 0 && out->val_acc >= ts->target_acc;
  FfProgress prog;
  const int64_t b_start = out->batches;
  ff_progress_start(&prog, "task: trained", "batches", (double)(ts->max_batches - b_start), ts->progress_s);
  for (int64_t b = b_start; !done && b < ts->max_batches && st == FF_OK; ++b) {
    const double tb = MPI_Wtime();
    double loss = NAN, accuracy = NAN, val = NAN, val_loss = NAN;
    st = ff_ranks_agree(batch_gradient(ts, dcomm, net, b, lanes, nt, sum, g, &loss, &accuracy), ts->comm);
    if (st != FF_OK) break;
    double gnorm = 0.0;
    if (ts->split) { /* every rank's rows, the readout once: an exact sum, the same for any split */
      FfExact sq = {0}, all = {0};
      const int64_t nw = (int64_t)net->rows * net->n_pre;
      for (int64_t q = 0; q < (split.part.rank == 0 ? P : nw); ++q) ff_exact_add(&sq, g[q] * g[q]);
      st = ff_exact_reduce(&sq, &all, 1, ts->comm);
      gnorm = sqrt(ff_exact_value(&all));
    } else {
      for (int64_t q = 0; q < P; ++q) gnorm += g[q] * g[q];
      gnorm = sqrt(gnorm);
    }
    adam_step(net, g, m, v, b + 1, ts);
    const int validate = (b + 1) % ts->val_every == 0 || b + 1 == ts->max_batches;
    if (validate)
      st = ff_ranks_agree(
          ff_task_evaluate(ts->spec, net, ts->seed, FF_TASK_VALID, ts->val_trials, nt, dcomm, &val, &val_loss),
          ts->comm);
    double *h = out->hist + b * FF_TASK_METRICS;
    h[FF_TASK_LOSS] = loss;
    h[FF_TASK_ACC] = accuracy;
    h[FF_TASK_VAL_ACC] = val;
    h[FF_TASK_SECONDS] = MPI_Wtime() - tb;
    out->batches = b + 1;
    out->loss = loss;
    if (validate) {
      out->val_acc = val;
      ff_log("batch %lld/%lld: loss %.4f, accuracy %.3f, |gradient| %.3g; validation accuracy %.3f (loss %.4f); %.2f s",
             (long long)b + 1, (long long)ts->max_batches, loss, accuracy, gnorm, val, val_loss, h[FF_TASK_SECONDS]);
    } else {
      ff_log("batch %lld/%lld: loss %.4f, accuracy %.3f, |gradient| %.3g; %.2f s", (long long)b + 1,
             (long long)ts->max_batches, loss, accuracy, gnorm, h[FF_TASK_SECONDS]);
    }
    ff_progress_update(&prog, (double)(b + 1 - b_start));
    if (st == FF_OK && validate) st = save_point(ts, net, m, v, out, before + MPI_Wtime() - t0);
    if (st == FF_OK && validate && val >= ts->target_acc) {
      ff_log("validation accuracy %.3f reached [task] target_acc = %g after %lld batches", val, ts->target_acc,
             (long long)b + 1);
      break;
    }
    /* a signal may reach some ranks only: agree on it, then stop here with the resume point written */
    int sig = ff_signals_stop_requested() != 0, any = 0;
    FF_CALL(st, FF_MPI(MPI_Allreduce(&sig, &any, 1, MPI_INT, MPI_MAX, ts->comm)));
    if (st == FF_OK && any && b + 1 < ts->max_batches) {
      if (!validate) st = save_point(ts, net, m, v, out, before + MPI_Wtime() - t0);
      if (st == FF_OK) {
        ff_log("stopped by a signal after batch %lld: wrote %s; [run] resume = auto continues from it",
               (long long)b + 1, ts->point ? ts->point : "(no resume point)");
        st = FF_STOPPED;
      }
    }
  }
  if (done) ff_log("the resume point had reached [task] target_acc = %g already: no training", ts->target_acc);
  out->seconds = before + MPI_Wtime() - t0;
  if (st == FF_OK) {
    double test_loss;
    st = ff_ranks_agree(
        ff_task_evaluate(ts->spec, net, ts->seed, FF_TASK_TEST, ts->test_trials, nt, dcomm, &out->test_acc, &test_loss),
        ts->comm);
  }
  if (ts->split && st == FF_OK) st = gather_net(ts, net); /* rank 0 keeps the whole network, for results.h5 */
  if (ts->split) {
    net->split = NULL;
    ff_task_split_destroy(&split);
  }
  lanes_destroy(lanes, nt);
  free(m);
  free(v);
  free(g);
  free(sum);
  return st;
}
