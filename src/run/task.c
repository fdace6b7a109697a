/* [run] mode = task: the E/I spiking network trained on evidence accumulation (task.h, docs/design.md §2.8). No
 * connectome: the [task] keys are checked on every rank before the log opens; then the training, results.h5 on rank 0
 * (the history, the trained weights and the raster and readout of one test trial) and the "task done:" line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/log.h"
#include "flyfit/plot.h"
#include "flyfit/ranks.h"
#include "flyfit/results.h"
#include "flyfit/run.h"
#include "flyfit/runjson.h"
#include "flyfit/signals.h"
#include "flyfit/task.h"

typedef struct {
  const FfRun *r;
  const FfTaskSpec *spec;
  const FfTaskResult *res;
  const FfTaskTrial *trial; /* test trial 0 */
  const FfTaskRecord *rec;  /* its raster and readout under the trained network */
} Results;

static int write_results(hid_t f, void *ctx) {
  const Results *c = ctx;
  const FfTaskNet *net = &c->res->net;
  const FfTaskTrial *tr = c->trial;
  int st = ff_results_begin(f, c->r->config_text, "task", c->r->version, c->r->hosts, c->r->size, c->r->threads,
                            &c->r->cfg, "");
  FF_CALL(st, ff_results_write_history(f, "/task/history", c->res->hist, c->res->batches, FF_TASK_METRICS,
                                       FF_TASK_METRIC_NAMES));
  int64_t dims[2] = {net->n, net->n_pre};
  FF_CALL(st, ff_h5_write(f, "/task/params/w", H5T_NATIVE_DOUBLE, 2, dims, net->w));
  FF_CALL(st, ff_h5_write(f, "/task/params/mask", H5T_NATIVE_UCHAR, 2, dims, net->mask));
  dims[0] = FF_TASK_N_OUT;
  dims[1] = net->n_exc;
  FF_CALL(st, ff_h5_write(f, "/task/params/w_out", H5T_NATIVE_DOUBLE, 2, dims, net->w_out));
  FF_CALL(st, ff_h5_write(f, "/task/params/b_out", H5T_NATIVE_DOUBLE, 1, dims, net->b_out));
  const int64_t nn = net->n;
  FF_CALL(st, ff_h5_write(f, "/task/params/rho_a", H5T_NATIVE_DOUBLE, 1, &nn, net->rho_a));
  const int64_t ns = c->rec->n_spikes, ni = tr->ptr[tr->T];
  FF_CALL(st, ff_h5_write(f, "/task/raster/step", H5T_NATIVE_INT32, 1, &ns, c->rec->step));
  FF_CALL(st, ff_h5_write(f, "/task/raster/neuron", H5T_NATIVE_INT32, 1, &ns, c->rec->neuron));
  int32_t *in_step = NULL;
  FF_CALL(st, FF_MALLOC(in_step, ni > 0 ? ni : 1, "input raster"));
  for (int32_t t = 0; st == FF_OK && t < tr->T; ++t)
    for (int32_t q = tr->ptr[t]; q < tr->ptr[t + 1]; ++q) in_step[q] = t;
  FF_CALL(st, ff_h5_write(f, "/task/raster/input_step", H5T_NATIVE_INT32, 1, &ni, in_step));
  FF_CALL(st, ff_h5_write(f, "/task/raster/input_neuron", H5T_NATIVE_INT16, 1, &ni, tr->in));
  free(in_step);
  dims[0] = tr->T;
  dims[1] = FF_TASK_N_OUT;
  FF_CALL(st, ff_h5_write(f, "/task/raster/readout", H5T_NATIVE_DOUBLE, 2, dims, c->rec->logits));
  const FfTaskSpec *s = c->spec;
  const FfH5Attr raster[] = {FF_ATTR_INT("label", tr->label),
                             FF_ATTR_INT("n_left", tr->n_left),
                             FF_ATTR_INT("steps", tr->T),
                             FF_ATTR_INT("recall_start", tr->recall0),
                             FF_ATTR_INT("n_cues", s->n_cues),
                             FF_ATTR_INT("cue_steps", s->cue_steps),
                             FF_ATTR_INT("gap_steps", s->gap_steps),
                             FF_ATTR_INT("n_exc", net->n_exc),
                             FF_ATTR_DOUBLE("dt_ms", s->dt_ms),
                             FF_ATTR_INT("test_trial", 0)};
  FF_CALL(st, ff_h5_write_attrs(f, "/task/raster", raster, (int)(sizeof raster / sizeof *raster)));
  const FfH5Attr task[] = {FF_ATTR_STRING("method", ff_task_method_name(s->method)),
                           FF_ATTR_INT("batches", c->res->batches),
                           FF_ATTR_DOUBLE("val_acc", c->res->val_acc),
                           FF_ATTR_DOUBLE("test_acc", c->res->test_acc),
                           FF_ATTR_INT("n_rec", net->n),
                           FF_ATTR_INT("n_exc", net->n_exc),
                           FF_ATTR_INT("n_in", FF_TASK_N_IN),
                           FF_ATTR_INT("steps", tr->T),
                           FF_ATTR_DOUBLE("dt_ms", s->dt_ms)};
  FF_CALL(st, ff_h5_write_attrs(f, "/task", task, (int)(sizeof task / sizeof *task)));
  return st;
}


int ff_mode_task(FfRun *r) {
  FfTaskSpec spec;
  FF_TRY(ff_ranks_agree(ff_task_spec_from_config(&r->cfg, &spec), r->comm));
  FF_TRY(ff_ranks_root_status(r->rank == 0 ? ff_run_make_dir(r->cfg.out_dir) : FF_OK, r->comm, "make [output] dir '%s'",
                              r->cfg.out_dir));
  FF_TRY(ff_run_open_log(r));
  ff_run_phase(r, "task");
  ff_log_file_only("effective configuration:\n%s", r->config_text);
  ff_log("flyfit %s: mode = task on %d rank%s; %s, %d neurons (%d excitatory), %s connections, %d inputs; trials of "
         "%d steps of %g ms (%d cues, delay %d, recall %d); batch %lld, seed %lld",
         r->version, r->size, r->size == 1 ? "" : "s", ff_task_method_name(spec.method), spec.n_rec, spec.n_exc,
         r->cfg.task_conn == FF_TASK_CONN_DENSE  ? "dense"
         : r->cfg.task_conn == FF_TASK_CONN_RAND ? "random"
                                                 : "gaussian",
         FF_TASK_N_IN, ff_task_steps(&spec), spec.dt_ms, spec.n_cues, spec.delay_steps, spec.recall_steps,
         (long long)r->cfg.task_batch, (long long)r->cfg.seed);
  FfTaskTrainSetup ts = {&spec,
                               (uint64_t)r->cfg.seed,
                               r->cfg.task_batch,
                               r->cfg.task_max_batches,
                               r->cfg.task_val_trials,
                               r->cfg.task_test_trials,
                               r->cfg.task_val_every,
                               r->cfg.task_lr,
                               r->cfg.beta1,
                               r->cfg.beta2,
                               r->cfg.adam_eps,
                               r->cfg.task_target_acc,
                               r->cfg.progress_s,
                               r->comm,
                               r->threads,
                               r->cfg.task_split,
                               NULL,
                               NULL,
                               r->cfg.task_weights,
                               NULL};
  /* the resume point: [run] resume = auto takes DIR/task-last.h5 when it exists, a path that file */
  char point[FF_CONFIG_STR + 32], *fingerprint = NULL;
  snprintf(point, sizeof point, "%s/task-last.h5", r->cfg.out_dir);
  FF_TRY(ff_config_fingerprint_task(&r->cfg, &fingerprint));
  ts.point = point;
  ts.fingerprint = fingerprint;
  if (!strcmp(r->cfg.resume, "auto")) {
    int have = r->rank == 0 && access(point, F_OK) == 0;
    MPI_Bcast(&have, 1, MPI_INT, 0, r->comm);
    if (have) ts.resume = point;
    else ff_log("resume = auto: no %s; training afresh", point);
  } else if (r->cfg.resume[0]) {
    ts.resume = r->cfg.resume;
  }
  FfTaskResult res;
  ff_signals_arm(1); /* a signal now stops the training after its batch, with the resume point written */
  int st = ff_task_train(&ts, &res);
  ff_signals_arm(0);
  free(fingerprint);
  ff_runjson_phase("task", res.seconds);
  /* the raster and readout of test trial 0 under the trained network, for results.h5 (rank 0 writes it) */
  FfTaskTrial tr = {0};
  FfTaskRecord rec = {0};
  FfTaskWork *w = NULL;
  if (st == FF_OK && r->rank == 0) {
    FfTaskScore sc;
    st = ff_task_trial_make(&spec, ts.seed, FF_TASK_TEST, 0, &tr);
    FF_CALL(st, ff_task_work_create(&spec, &res.net, &w));
    FF_CALL(st, ff_task_trial_run(&spec, &res.net, &tr, w, &sc, &rec));
    char path[FF_CONFIG_STR + 32];
    snprintf(path, sizeof path, "%s/results.h5", r->cfg.out_dir);
    Results ctx = {r, &spec, &res, &tr, &rec};
    FF_CALL(st, ff_h5_write_atomic(path, write_results, &ctx));
  }
  st = ff_ranks_agree(st, r->comm);
  double mean_s = 0.0;
  for (int64_t b = 0; b < res.batches; ++b) mean_s += res.hist[b * FF_TASK_METRICS + FF_TASK_SECONDS];
  mean_s = res.batches ? mean_s / (double)res.batches : NAN;
  if (st == FF_OK) {
    ff_log("wrote %s/results.h5", r->cfg.out_dir);
    if (r->rank == 0 && r->cfg.figures) ff_plot_draw(ff_run_plot_tool(), r->cfg.out_dir);
    if (r->rank == 0)
      ff_summary("task done: method=%s batches=%lld val_acc=%.6g test_acc=%.6g loss=%.6g n_rec=%d steps=%d "
                 "ms_per_batch=%.1f train_s=%.3f\n",
                 ff_task_method_name(spec.method), (long long)res.batches, res.val_acc, res.test_acc, res.loss,
                 spec.n_rec, ff_task_steps(&spec), 1e3 * mean_s, res.seconds);
  }
  ff_task_work_destroy(&w);
  ff_task_record_destroy(&rec);
  ff_task_trial_destroy(&tr);
  ff_task_result_destroy(&res);
  return st;
}
