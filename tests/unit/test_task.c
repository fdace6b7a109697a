/* mode = task (task.h): the trials, and the three gradient methods against independent references, on 20-neuron
 * networks and short trials:
 * - BPTT against central finite differences. The spiking loss is piecewise constant in the weights, so the check runs
 *   on the smooth pseudo-network of FfTaskSpec.smooth: every spike replaced by the surrogate's integral S(v - 1)
 *   (S' is the surrogate, so BPTT's chain rule is that network's exact gradient), the soft reset and the adaptation
 *   current included (reset_grad; and with reset_grad 0, without them). Every parameter, relative error <= 1e-4 of
 *   the largest entry. On the spiking network itself the readout's weights and bias (the loss is smooth in them) are
 *   checked the same way;
 * - D-RTRL = BPTT to rounding on the input weights with every recurrent weight zero (the neurons are then independent
 *   and the diagonal Jacobian, reset and adaptation current included, is the whole Jacobian), both reset_grad;
 * - D-RTRL and ES-D-RTRL against BPTT on the recurrent weights of 20 random networks: the cosine distributions are
 *   printed, on the excitatory rows (the ones the readout gives a learning signal; each must reach 0.95) and on every
 *   row (the online methods leave the inhibitory rows at 0; each must reach 0.9) (docs/design.md §2.8 has the numbers);
 * - Dale's law after training steps; the refusal of each bad [task] value, naming the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/config.h"
#include "flyfit/error.h"
#include "flyfit/task.h"
#include "testutil.h"

/* A 20-neuron spec with a short trial: 2 cues of 10 steps, gaps of 5, delay 10, recall 10 (50 steps). */
static FfTaskSpec small_spec(int method) {
  FfConfig c;
  ff_config_init(&c);
  assert_int_equal(ff_config_set(&c, "task.n_rec=20"), FF_OK);
  assert_int_equal(ff_config_set(&c, "task.n_cues=2"), FF_OK);
  assert_int_equal(ff_config_set(&c, "task.cue_ms=10"), FF_OK);
  assert_int_equal(ff_config_set(&c, "task.gap_ms=5"), FF_OK);
  assert_int_equal(ff_config_set(&c, "task.delay_ms=10"), FF_OK);
  assert_int_equal(ff_config_set(&c, "task.recall_ms=10"), FF_OK);
  FfTaskSpec s;
  assert_int_equal(ff_task_spec_from_config(&c, &s), FF_OK);
  s.method = method;
  s.cue_hz = 200.0; /* busy inputs, so that a short trial drives every neuron */
  s.noise_hz = 50.0;
  return s;
}

static double loss_of(const FfTaskSpec *s, const FfTaskNet *net, const FfTaskTrial *tr, FfTaskWork *w) {
  FfTaskScore sc;
  assert_int_equal(ff_task_trial_run(s, net, tr, w, &sc, NULL), FF_OK);
  return sc.loss;
}

/* max |g - fd| / max |fd| over the parameters [q0, q1), fd by central differences of step h. */
static double fd_error(const FfTaskSpec *s, FfTaskNet *net, const FfTaskTrial *tr, FfTaskWork *w, const double *g,
                       int64_t q0, int64_t q1, double h, double *fd_max) {
  double err = 0.0, big = 0.0;
  for (int64_t q = q0; q < q1; ++q) {
    if (q < (int64_t)net->n * net->n_pre && !net->mask[q]) continue;
    const double keep = net->theta[q];
    net->theta[q] = keep + h;
    const double lp = loss_of(s, net, tr, w);
    net->theta[q] = keep - h;
    const double lm = loss_of(s, net, tr, w);
    net->theta[q] = keep;
    const double fd = (lp - lm) / (2.0 * h);
    if (fabs(g[q] - fd) > err) err = fabs(g[q] - fd);
    if (fabs(fd) > big) big = fabs(fd);
  }
  *fd_max = big;
  return big > 0.0 ? err / big : err;
}

static void test_trials(void **state) {
  (void)state;
  FfTaskSpec s = small_spec(FF_TASK_BPTT);
  s.n_cues = 7;
  FfTaskTrial a = {0}, b = {0}, c = {0};
  assert_int_equal(ff_task_trial_make(&s, 5, FF_TASK_TRAIN, 3, &a), FF_OK);
  assert_int_equal(ff_task_trial_make(&s, 5, FF_TASK_TRAIN, 3, &b), FF_OK);
  assert_int_equal(a.T, 7 * 15 + 20);
  assert_int_equal(a.ptr[a.T], b.ptr[b.T]);
  assert_memory_equal(a.in, b.in, (size_t)a.ptr[a.T] * sizeof *a.in);
  assert_int_equal(a.label, a.n_left * 2 > 7 ? 0 : 1);
  /* inputs fire only in their group's period: a cue group during cues, recall during recall */
  for (int32_t t = 0; t < a.T; ++t)
    for (int32_t q = a.ptr[t]; q < a.ptr[t + 1]; ++q) {
      const int g = a.in[q] / FF_TASK_GROUP, in_cue = t < 7 * 15 && t % 15 >= 5;
      if (g < 2) assert_true(in_cue);
      if (g == 2) assert_true(t >= a.recall0);
    }
  /* another set's trial of the same index differs; labels are balanced over many trials */
  assert_int_equal(ff_task_trial_make(&s, 5, FF_TASK_VALID, 3, &c), FF_OK);
  assert_true(c.ptr[c.T] != a.ptr[a.T] || memcmp(a.in, c.in, (size_t)a.ptr[a.T] * sizeof *a.in) != 0);
  int right = 0;
  for (int k = 0; k < 400; ++k) {
    assert_int_equal(ff_task_trial_make(&s, 5, FF_TASK_TRAIN, k, &c), FF_OK);
    right += c.label;
  }
  assert_in_range(right, 160, 240);
  ff_task_trial_destroy(&a);
  ff_task_trial_destroy(&b);
  ff_task_trial_destroy(&c);
}

/* The cue sides: each trial favours a side, each cue falls on the other with probability cue_prob (the original's
 * EvidenceAccumulation prob). Over 4,000 trials the count of left cues follows the mixture of two binomials
 * (chi-square, 7 degrees of freedom, below its 0.1% point 24.3), and the inputs that fire in each cue period are of
 * the side the label counted. */
static void cue_counts(double cue_prob) {
  FfTaskSpec s = small_spec(FF_TASK_BPTT);
  s.n_cues = 7;
  s.cue_prob = cue_prob;
  FfTaskTrial tr = {0};
  enum { N = 4000 };
  int hist[8] = {0};
  for (int k = 0; k < N; ++k) {
    assert_int_equal(ff_task_trial_make(&s, 9, FF_TASK_TRAIN, k, &tr), FF_OK);
    hist[tr.n_left]++;
    assert_int_equal(tr.label, tr.n_left * 2 > 7 ? 0 : 1);
    int left_periods = 0;
    for (int c = 0; c < 7; ++c) {
      int fired[2] = {0, 0};
      for (int32_t t = c * 15 + 5; t < (c + 1) * 15; ++t)
        for (int32_t q = tr.ptr[t]; q < tr.ptr[t + 1]; ++q)
          if (tr.in[q] < 2 * FF_TASK_GROUP) fired[tr.in[q] / FF_TASK_GROUP]++;
      assert_true((fired[0] > 0) != (fired[1] > 0)); /* one side per cue (200 Hz x 25 inputs x 10 steps) */
      left_periods += fired[0] > 0;
    }
    assert_int_equal(left_periods, tr.n_left);
  }
  double chi2 = 0.0, binom = 1.0;
  for (int j = 0; j <= 7; ++j) {
    if (j > 0) binom = binom * (7 - j + 1) / j;
    const double p = cue_prob, e = N * 0.5 * binom * (pow(p, j) * pow(1 - p, 7 - j) + pow(1 - p, j) * pow(p, 7 - j));
    chi2 += (hist[j] - e) * (hist[j] - e) / e;
  }
  print_message("cue_prob %.2f: left-cue counts 0..7 %d %d %d %d %d %d %d %d, chi-square %.2f (7 df)\n", cue_prob,
                hist[0], hist[1], hist[2], hist[3], hist[4], hist[5], hist[6], hist[7], chi2);
  assert_true(chi2 < 24.3);
  ff_task_trial_destroy(&tr);
}

/* The readout starts as the original's (LeakyRateReadout's KaimingNormal()): a normal truncated at 2 standard
 * deviations, rescaled to variance 2 / fan-in (here the excitatory neurons), signed, mean 0. */
static void test_readout_init(void **state) {
  (void)state;
  FfConfig c;
  ff_config_init(&c);
  assert_int_equal(ff_config_set(&c, "task.n_rec=2000"), FF_OK);
  assert_int_equal(ff_config_set(&c, "task.conn_method=rand"), FF_OK);
  FfTaskSpec s;
  FfTaskNet net;
  assert_int_equal(ff_task_spec_from_config(&c, &s), FF_OK);
  assert_int_equal(ff_task_net_init(&s, 3, &net), FF_OK);
  const int64_t m = (int64_t)FF_TASK_N_OUT * net.n_exc;
  const double var = 2.0 / net.n_exc, bound = 2.0 * sqrt(var) / 0.87962566103423978;
  double sum = 0.0, sq = 0.0, big = 0.0;
  for (int64_t q = 0; q < m; ++q) {
    sum += net.w_out[q];
    sq += net.w_out[q] * net.w_out[q];
    big = fmax(big, fabs(net.w_out[q]));
  }
  print_message("readout init: %lld weights, mean %.3g, mean square %.4g (2 / n_exc = %.4g), largest %.4g (bound %.4g)\n",
                (long long)m, sum / m, sq / m, var, big, bound);
  assert_true(fabs(sq / m / var - 1.0) < 0.08);       /* 3200 draws: the mean square's sd is ~2% */
  assert_true(fabs(sum / m) < 4.0 * sqrt(var / m));   /* mean 0 within 4 standard errors */
  assert_true(big <= bound && big > 0.8 * bound);     /* truncated at 2 sd, and reaching near it */
  assert_true(net.b_out[0] == 0.0 && net.b_out[1] == 0.0);
  ff_task_net_destroy(&net);
}

static void test_cue_sides(void **state) {
  (void)state;
  cue_counts(0.3);
  cue_counts(0.5);
  cue_counts(0.1);
}

/* reset_grad 1: the default, the gradient through the soft reset and the adaptation current (the smooth network has
 * both); 0: the spike a constant there (the smooth network has neither). */
static void bptt_finite_differences(int reset_grad) {
  FfTaskSpec s = small_spec(FF_TASK_BPTT);
  s.smooth = 1;
  s.reset_grad = reset_grad;
  FfTaskNet net;
  FfTaskTrial tr = {0};
  FfTaskWork *w = NULL;
  assert_int_equal(ff_task_net_init(&s, 11, &net), FF_OK);
  assert_int_equal(ff_task_trial_make(&s, 11, FF_TASK_TRAIN, 0, &tr), FF_OK);
  assert_int_equal(ff_task_work_create(&s, &net, &w), FF_OK);
  double *g = malloc((size_t)net.n_param * sizeof *g);
  FfTaskScore sc;
  assert_int_equal(ff_task_trial_grad(&s, &net, &tr, FF_TASK_BPTT, w, g, &sc), FF_OK);
  const int64_t nin = 0, nrec = FF_TASK_N_IN, nw = (int64_t)net.n * net.n_pre;
  double big_in = 0, big_rec = 0, big_out = 0, e_in = 0, e_rec = 0, e_out = 0;
  /* inputs and recurrent weights, column blocks of every row */
  double e, m;
  for (int32_t i = 0; i < net.n; ++i) {
    const int64_t r0 = (int64_t)i * net.n_pre;
    e = fd_error(&s, &net, &tr, w, g, r0 + nin, r0 + nrec, 1e-6, &m);
    e_in = e * m > e_in ? e * m : e_in;
    big_in = m > big_in ? m : big_in;
    e = fd_error(&s, &net, &tr, w, g, r0 + nrec, r0 + net.n_pre, 1e-6, &m);
    e_rec = e * m > e_rec ? e * m : e_rec;
    big_rec = m > big_rec ? m : big_rec;
  }
  e = fd_error(&s, &net, &tr, w, g, nw, net.n_param, 1e-6, &big_out);
  e_out = e;
  e_in /= big_in;
  e_rec /= big_rec;
  print_message("BPTT vs central differences (smooth pseudo-network, reset_grad %d, h 1e-6): input weights %.2e "
                "(largest |dL/dw| %.3g), recurrent %.2e (%.3g), readout %.2e (%.3g)\n",
                reset_grad, e_in, big_in, e_rec, big_rec, e_out, big_out);
  assert_true(big_in > 0 && big_rec > 0 && big_out > 0);
  assert_true(e_in < 1e-4);
  assert_true(e_rec < 1e-4);
  assert_true(e_out < 1e-4);
  /* the spiking network: the readout only (the loss is piecewise constant in the other weights) */
  s.smooth = 0;
  assert_int_equal(ff_task_trial_grad(&s, &net, &tr, FF_TASK_BPTT, w, g, &sc), FF_OK);
  assert_true(sc.spikes > 0);
  e = fd_error(&s, &net, &tr, w, g, nw, net.n_param, 1e-6, &m);
  print_message("spiking network, readout weights and bias: %.2e (%lld spikes)\n", e, (long long)sc.spikes);
  assert_true(e < 1e-6);
  free(g);
  ff_task_work_destroy(&w);
  ff_task_trial_destroy(&tr);
  ff_task_net_destroy(&net);
}

static void test_bptt_finite_differences(void **state) {
  (void)state;
  bptt_finite_differences(1);
  bptt_finite_differences(0);
}

static void diag_equals_bptt_without_recurrence(int reset_grad) {
  FfTaskSpec s = small_spec(FF_TASK_DIAG);
  s.reset_grad = reset_grad;
  FfTaskNet net;
  FfTaskTrial tr = {0};
  FfTaskWork *w = NULL;
  assert_int_equal(ff_task_net_init(&s, 3, &net), FF_OK);
  for (int32_t i = 0; i < net.n; ++i)
    for (int32_t c = FF_TASK_N_IN; c < net.n_pre; ++c) net.w[(int64_t)i * net.n_pre + c] = 0.0;
  assert_int_equal(ff_task_trial_make(&s, 3, FF_TASK_TRAIN, 1, &tr), FF_OK);
  assert_int_equal(ff_task_work_create(&s, &net, &w), FF_OK);
  double *gb = malloc((size_t)net.n_param * sizeof *gb), *gd = malloc((size_t)net.n_param * sizeof *gd);
  FfTaskScore sb, sd;
  assert_int_equal(ff_task_trial_grad(&s, &net, &tr, FF_TASK_BPTT, w, gb, &sb), FF_OK);
  assert_int_equal(ff_task_trial_grad(&s, &net, &tr, FF_TASK_DIAG, w, gd, &sd), FF_OK);
  assert_true(sb.spikes > 0);
  assert_true(sb.loss == sd.loss);
  double big = 0, err = 0;
  for (int32_t i = 0; i < net.n_exc; ++i)
    for (int32_t c = 0; c < FF_TASK_N_IN; ++c) {
      const int64_t q = (int64_t)i * net.n_pre + c;
      big = fabs(gb[q]) > big ? fabs(gb[q]) : big;
      err = fabs(gb[q] - gd[q]) > err ? fabs(gb[q] - gd[q]) : err;
    }
  for (int64_t q = (int64_t)net.n * net.n_pre; q < net.n_param; ++q) assert_true(gb[q] == gd[q]); /* readout */
  print_message("D-RTRL vs BPTT, input weights, no recurrence, reset_grad %d: max difference %.2e of largest %.3g "
                "(%lld spikes)\n",
                reset_grad, err, big, (long long)sb.spikes);
  assert_true(big > 0);
  assert_true(err <= 1e-12 * big);
  free(gb);
  free(gd);
  ff_task_work_destroy(&w);
  ff_task_trial_destroy(&tr);
  ff_task_net_destroy(&net);
}

static void test_diag_equals_bptt_without_recurrence(void **state) {
  (void)state;
  diag_equals_bptt_without_recurrence(1);
  diag_equals_bptt_without_recurrence(0);
}

/* The cosine of a and b over the recurrent weights of rows [0, rows). */
static double cosine(const double *a, const double *b, const FfTaskNet *net, int32_t rows) {
  double ab = 0, aa = 0, bb = 0;
  for (int32_t i = 0; i < rows; ++i)
    for (int32_t c = FF_TASK_N_IN; c < net->n_pre; ++c) {
      const int64_t q = (int64_t)i * net->n_pre + c;
      ab += a[q] * b[q];
      aa += a[q] * a[q];
      bb += b[q] * b[q];
    }
  return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
}

static int by_value(const void *x, const void *y) {
  const double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

static void test_online_cosines(void **state) {
  (void)state;
  enum { NETS = 20 };
  double cos[4][NETS]; /* D-RTRL and ES-D-RTRL on the excitatory rows, then on every row */
  for (int k = 0; k < NETS; ++k) {
    FfTaskSpec s = small_spec(FF_TASK_BPTT);
    FfTaskNet net;
    FfTaskTrial tr = {0};
    FfTaskWork *w = NULL;
    assert_int_equal(ff_task_net_init(&s, 100 + (uint64_t)k, &net), FF_OK);
    assert_int_equal(ff_task_trial_make(&s, 100 + (uint64_t)k, FF_TASK_TRAIN, 0, &tr), FF_OK);
    assert_int_equal(ff_task_work_create(&s, &net, &w), FF_OK);
    double *gb = malloc((size_t)net.n_param * sizeof *gb), *gd = malloc((size_t)net.n_param * sizeof *gd),
           *ge = malloc((size_t)net.n_param * sizeof *ge);
    FfTaskScore sc;
    assert_int_equal(ff_task_trial_grad(&s, &net, &tr, FF_TASK_BPTT, w, gb, &sc), FF_OK);
    assert_int_equal(ff_task_trial_grad(&s, &net, &tr, FF_TASK_DIAG, w, gd, &sc), FF_OK);
    assert_int_equal(ff_task_trial_grad(&s, &net, &tr, FF_TASK_EXPSM_DIAG, w, ge, &sc), FF_OK);
    cos[0][k] = cosine(gb, gd, &net, net.n_exc);
    cos[1][k] = cosine(gb, ge, &net, net.n_exc);
    cos[2][k] = cosine(gb, gd, &net, net.n);
    cos[3][k] = cosine(gb, ge, &net, net.n);
    free(gb);
    free(gd);
    free(ge);
    ff_task_work_destroy(&w);
    ff_task_trial_destroy(&tr);
    ff_task_net_destroy(&net);
  }
  for (int m = 0; m < 4; ++m) {
    double *c = cos[m];
    char line[512];
    int len = 0;
    for (int k = 0; k < NETS; ++k) len += snprintf(line + len, sizeof line - (size_t)len, " %.3f", c[k]);
    qsort(c, NETS, sizeof *c, by_value);
    print_message("%s vs BPTT, recurrent weights of %s, 20 networks: min %.3f, "
                  "median %.3f, max %.3f;%s\n",
                  m % 2 ? "ES-D-RTRL" : "D-RTRL", m < 2 ? "the excitatory rows" : "every row", c[0],
                  0.5 * (c[NETS / 2 - 1] + c[NETS / 2]), c[NETS - 1], line);
  }
  /* on the excitatory rows (the ones the readout gives a learning signal) every cosine >= 0.95; on every row >= 0.9,
   * the bar (the online methods leave the inhibitory rows at 0, BPTT does not: measured 0.93-0.99 with the
   * original's readout initialisation, 0.86-0.99 with the earlier N(0, 1/n_E); docs/design.md §2.8) */
  for (int m = 0; m < 2; ++m) assert_true(cos[m][0] >= 0.95);
  for (int m = 2; m < 4; ++m) assert_true(cos[m][0] >= 0.9);
}

/* Dale's law after Adam steps at a large learning rate (which pushes many weights below 0 before the projection),
 * for each method: every existing weight >= 0, every other exactly 0, and training moved the weights. */
static void test_dale_after_training(void **state) {
  (void)state;
  for (int method = FF_TASK_BPTT; method <= FF_TASK_EXPSM_DIAG; ++method) {
    FfTaskSpec s = small_spec(method);
    const FfTaskTrainSetup ts = {&s, 7, 8, 5, 4, 4, 5, 0.05, 0.9, 0.999, 1e-8, 2.0, 0, MPI_COMM_WORLD, 1, 0, NULL, NULL, NULL, NULL};
    FfTaskResult res;
    FfTaskNet init;
    assert_int_equal(ff_task_train(&ts, &res), FF_OK);
    assert_int_equal(ff_task_net_init(&s, 7, &init), FF_OK);
    assert_int_equal(res.batches, 5);
    int64_t zeros = 0, moved = 0;
    for (int64_t q = 0; q < (int64_t)res.net.n * res.net.n_pre; ++q) {
      assert_true(res.net.w[q] >= 0.0);
      if (!res.net.mask[q]) assert_true(res.net.w[q] == 0.0);
      zeros += res.net.mask[q] && res.net.w[q] == 0.0;
      moved += res.net.w[q] != init.w[q];
    }
    print_message("%s: after 5 batches at lr 0.05, %lld weights held at 0 by Dale's law, %lld moved\n",
                  ff_task_method_name(method), (long long)zeros, (long long)moved);
    assert_true(zeros > 0 && moved > 0);
    ff_task_net_destroy(&init);
    ff_task_result_destroy(&res);
  }
}

/* [task] values that must be refused, each naming its key. */
static void test_bad_keys(void **state) {
  (void)state;
  static const struct {
    const char *set[2], *key;
  } BAD[] = {{{"task.n_rec=23", NULL}, "[task] n_rec"},
             {{"task.delay_ms=0.5", NULL}, "[task] delay_ms"},
             {{"task.cue_ms=0", NULL}, "[task] cue_ms"},
             {{"task.e_share=0.01", "task.n_rec=20"}, "[task] e_share"}};
  for (size_t k = 0; k < sizeof BAD / sizeof BAD[0]; ++k) {
    FfConfig c;
    FfTaskSpec s;
    ff_config_init(&c);
    for (int q = 0; q < 2 && BAD[k].set[q]; ++q) assert_int_equal(ff_config_set(&c, BAD[k].set[q]), FF_OK);
    assert_int_equal(ff_task_spec_from_config(&c, &s), FF_ERR_INPUT);
    if (!strstr(ff_error_message(), BAD[k].key)) fail_msg("'%s' does not name %s", ff_error_message(), BAD[k].key);
    ff_error_clear();
  }
  /* the key table refuses these itself, naming the key */
  static const char *const TABLE[][2] = {{"task.n_cues=0", "[task] n_cues"},
                                         {"task.method=rtrl", "[task] method"},
                                         {"task.conn_method=full", "[task] conn_method"}};
  for (size_t k = 0; k < sizeof TABLE / sizeof TABLE[0]; ++k) {
    FfConfig c;
    ff_config_init(&c);
    assert_int_equal(ff_config_set(&c, TABLE[k][0]), FF_ERR_INPUT);
    if (!strstr(ff_error_message(), TABLE[k][1])) fail_msg("'%s' does not name %s", ff_error_message(), TABLE[k][1]);
    ff_error_clear();
  }
  /* n_rec not a multiple of 5 is fine once e_share is given */
  FfConfig c;
  FfTaskSpec s;
  ff_config_init(&c);
  assert_int_equal(ff_config_set(&c, "task.n_rec=23"), FF_OK);
  assert_int_equal(ff_config_set(&c, "task.e_share=0.8"), FF_OK);
  assert_int_equal(ff_task_spec_from_config(&c, &s), FF_OK);
  assert_int_equal(s.n_exc, 18);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_trials),
      cmocka_unit_test(test_cue_sides),
      cmocka_unit_test(test_readout_init),
      cmocka_unit_test(test_bptt_finite_differences),
      cmocka_unit_test(test_diag_equals_bptt_without_recurrence),
      cmocka_unit_test(test_online_cosines),
      cmocka_unit_test(test_dale_after_training),
      cmocka_unit_test(test_bad_keys),
  };
  const int rc = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return rc;
}
