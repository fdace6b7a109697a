/* [run] mode = simulate: the network of the run (run.h) driven by its stimulus for duration_ms,
 * batch trials side by side, on the configured backend; then the run's numbers in the log and
 * run.json, and results.h5 (and spikes.txt) gathered on rank 0. */
#include <stdio.h>
#include <stdlib.h>

#include "flyfit/error.h"
#include "flyfit/log.h"
#include "flyfit/ranks.h"
#include "flyfit/results.h"
#include "flyfit/run.h"
#include "flyfit/runjson.h"

static void log_setup(const FfRun *r) {
  ff_log("preset %s: dt %g ms, delay %d steps, refractory %d steps (%d for driven neurons), %lld steps x %lld trial%s",
         ff_preset_name(r->cfg.preset), r->model.dt_ms, r->model.delay_steps, r->model.ref_steps,
         r->model.ref_steps_driven, (long long)r->n_steps, (long long)r->cfg.batch, r->cfg.batch == 1 ? "" : "s");
  ff_log("stimulus: %lld Poisson neurons at %g Hz (%g mV), %lld file input spikes, %lld silenced",
         (long long)r->stim.n_poisson, r->cfg.poisson_rate_hz, r->cfg.poisson_weight_mV, (long long)r->stim.n_file,
         (long long)r->stim.n_silence);
  if (r->stim.n_file_late)
    ff_warn("%lld input spikes of %s fall after the end of the run and are ignored", (long long)r->stim.n_file_late,
            r->cfg.spikes_file);
  ff_log_file_only("effective configuration:\n%s", r->config_text);
}

/* Collective. The totals of every rank in the log and in run.json's metrics. */
static int log_totals(const FfRun *r, double t_sim, double t_end) {
  int64_t stats[3] = {r->out.spikes, r->out.events, r->out.words_sent}, tot[3] = {0, 0, 0};
  FF_TRY(ff_ranks_agree(FF_MPI(MPI_Reduce(stats, tot, 3, MPI_INT64_T, MPI_SUM, 0, r->comm)), r->comm));
  const double sim_s = (double)r->n_steps * r->model.dt_ms * 1e-3;
  const double batch = (double)r->cfg.batch, wall = t_end - t_sim;
  ff_log("simulated %.6g s x %lld trial%s in %.3f s wall: %.4g s per simulated second; setup %.2f s", sim_s,
         (long long)r->cfg.batch, r->cfg.batch == 1 ? "" : "s", wall, wall / sim_s, t_sim - r->t_start);
  ff_log("spikes %lld (mean %.4g Hz per neuron), synaptic events %lld; %.3g MB sent between ranks (%.3g kB per window)",
         (long long)tot[0], (double)tot[0] / ((double)r->n_global * sim_s * batch), (long long)tot[1],
         (double)tot[2] * 8e-6, r->out.windows ? (double)tot[2] * 8e-3 / (double)r->out.windows : 0.0);
  if (r->rank == 0)
    ff_runjson_metrics("simulate done: spikes=%lld synaptic_events=%lld mean_rate_hz=%.6g "
                       "wall_s_per_simulated_s=%.6g words_sent=%lld\n",
                       (long long)tot[0], (long long)tot[1], (double)tot[0] / ((double)r->n_global * sim_s * batch),
                       wall / sim_s, (long long)tot[2]);
  ff_log("rank 0: set-up %.3f s, compute %.3f s, pack %.3f s, MPI %.3f s, unpack %.3f s", r->out.create_s,
         r->out.compute_s, r->out.pack_s, r->out.comm_s, r->out.unpack_s);
  return FF_OK;
}

int ff_mode_simulate(FfRun *r) {
  log_setup(r);
  ff_run_phase(r, "simulate");
  FfSimSetup setup = {&r->model, &r->net, &r->stim, r->n_steps, (int32_t)r->cfg.batch, (uint64_t)r->cfg.seed,
                      r->threads, r->cfg.progress_s, r->cfg.exchange, r->comm, r->cfg.transport, r->device};
  const FfBackend *backend = ff_backend_find(r->cfg.backend);
  FF_TRY(ff_ranks_agree(FF_MPI(MPI_Barrier(r->comm)), r->comm));
  const double t_sim = MPI_Wtime();
  FF_TRY(ff_ranks_agree(ff_sim_run(backend, &setup, r->comm, &r->out), r->comm));
  const double t_end = MPI_Wtime();
  ff_runjson_phase("setup", t_sim - r->t_start);
  ff_runjson_phase("simulate", t_end - t_sim);
  FF_TRY(log_totals(r, t_sim, t_end));
  double *rss_all = NULL;
  FF_TRY(ff_peak_memory(r->comm, 1, &rss_all));
  const FfRunInfo info = {&r->cfg, r->config_text, r->version, &setup, r->size, t_sim - r->t_start, t_end - t_sim,
                          rss_all, r->hosts};
  const int st = ff_ranks_agree(ff_results_write(&info, &r->out, r->comm), r->comm);
  free(rss_all);
  if (st) return st;
  ff_log("wrote %s/results.h5%s", r->cfg.out_dir, r->cfg.spikes_txt ? " and spikes.txt" : "");
  return FF_OK;
}
