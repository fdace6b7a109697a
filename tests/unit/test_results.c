/* The results writer (ff_results_write): a tiny simulation (a random 60-neuron connectome, Poisson
 * drive, 2 trials, the CPU backend, as bin/flyfit runs it) is written, and results.h5 is read back
 * with the HDF5 library and held to what the README's layout says: spikes sorted by (trial, step,
 * neuron); spike counts = the spikes counted here; neuropil rates = sum_i w_iP rate_i recomputed
 * here from those counts and the connectome's neuropil table; the recorded v after a spike's step
 * is the reset potential; spikes.txt = trial 0's spikes. Runs on any number of ranks (testmpi.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flyfit/config.h"
#include "flyfit/connectome.h"
#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/log.h"
#include "flyfit/model.h"
#include "flyfit/net.h"
#include "flyfit/partition.h"
#include "flyfit/results.h"
#include "flyfit/sim.h"
#include "flyfit/stimulus.h"
#include "testmpi.h"
#include "testnet.h"

static char net_path[512], dir[512];

static void *read_raw(hid_t f, const char *dset, hid_t type, size_t elem, int64_t *n) {
  hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
  assert_true(d >= 0);
  hid_t sp = H5Dget_space(d);
  *n = H5Sget_simple_extent_npoints(sp);
  void *buf = malloc((size_t)*n * elem + 1);
  assert_true(H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
  H5Sclose(sp);
  H5Dclose(d);
  return buf;
}

static double attr_double(hid_t f, const char *obj, const char *name) {
  double v = NAN;
  hid_t a = H5Aopen_by_name(f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(a >= 0 && H5Aread(a, H5T_NATIVE_DOUBLE, &v) >= 0);
  H5Aclose(a);
  return v;
}

/* Checks DIR/results.h5 and DIR/spikes.txt against c (rank 0). */
static void check_results(const FfConnectome *c, int32_t B, int64_t T, double dt, double v_reset) {
  char path[600];
  snprintf(path, sizeof path, "%s/results.h5", dir);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  assert_true(f >= 0);
  const int64_t N = c->n;
  const int32_t P = c->n_neuropils;
  int64_t S, S2, S3, n_count, n_rate, K, n_v;
  int32_t *sb = read_raw(f, "/spikes/batch", H5T_NATIVE_INT32, 4, &S);
  int32_t *ss = read_raw(f, "/spikes/step", H5T_NATIVE_INT32, 4, &S2);
  int64_t *sn = read_raw(f, "/spikes/neuron", H5T_NATIVE_INT64, 8, &S3);
  int32_t *count = read_raw(f, "/neurons/spike_count", H5T_NATIVE_INT32, 4, &n_count);
  double *rate = read_raw(f, "/neuropils/rate_hz", H5T_NATIVE_DOUBLE, 8, &n_rate);
  int64_t *state_n = read_raw(f, "/state/neuron", H5T_NATIVE_INT64, 8, &K);
  double *v = read_raw(f, "/state/v_mV", H5T_NATIVE_DOUBLE, 8, &n_v);
  assert_true(S == S2 && S == S3 && S > 20);
  assert_int_equal(n_count, (int64_t)B * N);
  assert_int_equal(n_rate, (int64_t)B * P);
  assert_int_equal(n_v, (int64_t)B * T * K);
  assert_true(attr_double(f, "/run", "steps") == (double)T && attr_double(f, "/run", "batch") == B);
  assert_true(attr_double(f, "/spikes", "dt_ms") == dt);
  /* spikes: strictly ascending by (trial, step, neuron), in range */
  for (int64_t k = 0; k < S; ++k) {
    assert_true(sb[k] >= 0 && sb[k] < B && ss[k] >= 0 && ss[k] < T && sn[k] >= 0 && sn[k] < N);
    if (k > 0)
      assert_true(sb[k] > sb[k - 1] || (sb[k] == sb[k - 1] && (ss[k] > ss[k - 1] || (ss[k] == ss[k - 1] && sn[k] > sn[k - 1]))));
  }
  /* counts: the spikes of each (trial, neuron) */
  int32_t *mine = calloc((size_t)(B * N), sizeof *mine);
  for (int64_t k = 0; k < S; ++k) mine[sb[k] * N + sn[k]]++;
  assert_memory_equal(mine, count, (size_t)(B * N) * sizeof *mine);
  /* neuropil rates, README: r_P = sum_i w_iP rate_i, w_iP = syn_iP / sum_j syn_jP */
  const double duration_s = (double)T * dt * 1e-3;
  for (int32_t b = 0; b < B; ++b)
    for (int32_t p = 0; p < P; ++p) {
      int64_t syn = 0, acc = 0;
      for (int64_t i = 0; i < N; ++i)
        for (int64_t e = c->np_indptr[i]; e < c->np_indptr[i + 1]; ++e)
          if (c->np_id[e] == p) {
            syn += c->np_syn[e];
            acc += (int64_t)c->np_syn[e] * mine[b * N + i];
          }
      const double want = syn ? (double)acc / (double)syn / duration_s : 0.0;
      if (fabs(rate[b * P + p] - want) > 1e-12 * (1 + want))
        fail_msg("trial %d neuropil %d: rate %.17g Hz, recomputed %.17g", b, p, rate[b * P + p], want);
    }
  /* the recorded v after a step in which the neuron spiked is the reset potential */
  int64_t resets = 0;
  for (int64_t k = 0; k < S; ++k)
    for (int64_t j = 0; j < K; ++j)
      if (state_n[j] == sn[k]) {
        assert_true(v[((int64_t)sb[k] * T + ss[k]) * K + j] == v_reset);
        ++resets;
      }
  assert_true(resets > 0);
  /* spikes.txt: trial 0, "neuron time_ms", in the order of /spikes */
  snprintf(path, sizeof path, "%s/spikes.txt", dir);
  FILE *t = fopen(path, "r");
  assert_non_null(t);
  long long neuron;
  double ms;
  int64_t k = 0;
  while (fscanf(t, "%lld %lf", &neuron, &ms) == 2) {
    assert_true(k < S && sb[k] == 0);
    assert_int_equal(neuron, sn[k]);
    assert_true(fabs(ms - ss[k] * dt) < 1e-9);
    ++k;
  }
  fclose(t);
  assert_true(k > 0 && (k == S || sb[k] == 1));
  free(sb), free(ss), free(sn), free(count), free(rate), free(state_n), free(v), free(mine);
  H5Fclose(f);
}

static void test_tiny_simulation(void **state) {
  (void)state;
  tm_path(net_path, sizeof net_path, "test-results", "h5");
  tm_path(dir, sizeof dir, "test-results", "dir");
  FfConnectome c;
  tn_random(&c, 60, 10, 4, 3);
  int st = FF_OK;
  if (tm_rank == 0) {
    st = ff_connectome_write(&c, net_path, "tests/unit/test_results.c");
    if (st == FF_OK && tm_size > 1) {
      FfPartition p;
      st = ff_partition_make(&c, tm_size, FF_PART_METIS, FF_BALANCE_BOTH, 1, &p);
      if (st == FF_OK) st = ff_partition_store(net_path, &p, "tests/unit/test_results.c");
      ff_partition_destroy(&p);
    }
    mkdir(dir, 0777);
  }
  assert_all(st == FF_OK);
  static FfConfig cfg;
  ff_config_init(&cfg);
  char set[700];
  snprintf(set, sizeof set, "data.connectome=%s", net_path);
  const char *sets[] = {set, "run.duration_ms=40", "run.batch=2", "run.seed=3", "run.threads=1", "run.progress_s=0",
                        "stimulus.poisson_neurons=0-9", "output.spikes=all", "output.state_neurons=1,5,7,30",
                        "output.spikes_txt=true", NULL};
  for (int k = 0; sets[k] && st == FF_OK; ++k) st = ff_config_set(&cfg, sets[k]);
  snprintf(set, sizeof set, "output.dir=%s", dir);
  if (st == FF_OK) st = ff_config_set(&cfg, set);
  if (st == FF_OK) st = ff_config_finish(&cfg);
  FfModel model;
  memset(&model, 0, sizeof model);
  if (st == FF_OK) st = ff_model_build(&cfg, &model);
  char *text = NULL;
  if (st == FF_OK) st = ff_config_format(&cfg, &text);
  assert_all(st == FF_OK);
  const int64_t T = (int64_t)floor(cfg.duration_ms / model.dt_ms + 1e-6);
  FfStimulus stim;
  memset(&stim, 0, sizeof stim);
  if (tm_rank == 0) st = ff_stimulus_load(&cfg, &model, c.n, c.root_id, T, &stim);
  assert_all(st == FF_OK);
  assert_all(ff_stimulus_bcast(&stim, MPI_COMM_WORLD) == FF_OK);
  FfNet net;
  memset(&net, 0, sizeof net);
  st = ff_net_load(net_path, MPI_COMM_WORLD, &net);
  if (st == FF_OK) st = ff_net_find_destinations(&net, MPI_COMM_WORLD);
  assert_all(st == FF_OK);
  FfSimSetup setup = {&model, &net, &stim, T, (int32_t)cfg.batch, (uint64_t)cfg.seed, 1, 0.0,
                      FF_EXCHANGE_AUTO, MPI_COMM_WORLD, FF_TRANSPORT_MPI, -1};
  FfSimOutput out;
  memset(&out, 0, sizeof out);
  st = ff_sim_run(&ff_backend_cpu, &setup, MPI_COMM_WORLD, &out);
  assert_all(st == FF_OK);
  double *peak = calloc((size_t)tm_size, sizeof *peak);
  const FfRunInfo info = {&cfg, text, "test", &setup, tm_size, 0.0, 0.0, peak, NULL};
  st = ff_results_write(&info, &out, MPI_COMM_WORLD);
  if (st) print_error("rank %d: %s\n", tm_rank, ff_error_message());
  assert_all(st == FF_OK);
  if (tm_rank == 0) {
    check_results(&c, (int32_t)cfg.batch, T, model.dt_ms, cfg.v_reset_mV);
    char p[600];
    snprintf(p, sizeof p, "%s/results.h5", dir), unlink(p);
    snprintf(p, sizeof p, "%s/spikes.txt", dir), unlink(p);
    rmdir(dir);
    unlink(net_path);
  }
  free(peak);
  free(text);
  ff_sim_output_destroy(&out);
  ff_net_destroy(&net);
  ff_stimulus_destroy(&stim);
  ff_model_destroy(&model);
  ff_connectome_destroy(&c);
  assert_all(1);
}

int main(int argc, char **argv) {
  tm_init(&argc, &argv);
  ff_h5_init();
  ff_log_init("test_results", tm_rank, tm_size); /* rank 0's log lines only */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tiny_simulation),
  };
  const int rc = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return rc;
}
