/* The data set of a fit (include/flyfit/dataset.h): rank 0 reads the recording, preprocesses it and
 * matches its regions to the connectome's neuropils, then every rank gets the same rates; and the
 * rate classes. */
#include "flyfit/dataset.h"
#include "flyfit/activity.h"
#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/hash.h"
#include "flyfit/log.h"
#include "flyfit/ranks.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- recordings --------------------------------------------------------------------------------- */

void ff_fitdata_destroy(FfFitData *rec) {
  if (rec == NULL) return;
  if (rec->names)
    for (int32_t p = 0; p < rec->P; ++p) free(rec->names[p]);
  free(rec->names);
  free(rec->np_index);
  free(rec->rates);
  memset(rec, 0, sizeof *rec);
}

static int same_params(const FfPreprocess *a, const FfPreprocess *b) {
  return a->fs_hz == b->fs_hz && a->highpass_hz == b->highpass_hz && a->trim_frames == b->trim_frames &&
         a->calcium_tau_s == b->calcium_tau_s && a->deconv_lambda == b->deconv_lambda && a->max_rate_hz == b->max_rate_hz;
}

/* The recording's raw traces through the preprocessing chain of the [preprocess] keys: rates
 * [P x T] region-major, *T frames, *p the parameters used. */
static int preprocess(const FfConfig *cfg, FfRecording *rec, FfPreprocess *p, double **rates, int64_t *T) {
  FfPreprocess stored;
  double *dff = NULL;
  FF_TRY(ff_activity_read(cfg->activity, rec, &stored));
  if (cfg->neural_activity_id[0] && strcmp(cfg->neural_activity_id, rec->id) != 0)
    return FF_ERROR(FF_ERR_INPUT, "[data] neural_activity_id = %s, but '%s' holds recording %s", cfg->neural_activity_id,
                    cfg->activity, rec->id);
  *p = (FfPreprocess){cfg->fs_hz > 0 ? cfg->fs_hz : rec->fs_hz, cfg->highpass_hz, cfg->trim_frames,
                      cfg->calcium_tau_s, cfg->deconv_lambda, cfg->max_rate_hz};
  if (!(p->fs_hz > 0))
    return FF_ERROR(FF_ERR_INPUT, "'%s' does not say its frame rate: set [preprocess] fs_hz", cfg->activity);
  FF_TRY(ff_preprocess_check(p));
  const FfTraceLabels lab = {cfg->activity, (const char *const *)rec->areas, rec->rows};
  /* the test block's frames reach nothing before it: the statistics of the preprocessing come from
   * the frames before it (ff_activity_preprocess_ref) */
  int64_t n_ref = rec->T;
  if (rec->T > p->trim_frames) {
    FfSplit sp;
    FF_TRY(ff_split_make(cfg, cfg->activity, rec->T - p->trim_frames, (int32_t)cfg->fit_batch, &sp));
    n_ref = p->trim_frames + sp.test0;
  }
  const int st = ff_activity_preprocess_ref(rec->traces, rec->P, rec->T, n_ref, p, &lab, &dff, rates, T);
  free(dff);
  FF_TRY(st);
  ff_log("preprocessing %s: dF/F, high-pass %g Hz, trim %lld frames, AR(1) deconvolution (tau %g s, lambda %g), "
         "scaled to %g Hz at %g Hz frames, statistics from the %lld frames before the test block: %lld frames%s",
         cfg->activity, p->highpass_hz, (long long)p->trim_frames, p->calcium_tau_s, p->deconv_lambda, p->max_rate_hz,
         p->fs_hz, (long long)(n_ref - p->trim_frames), (long long)*T, same_params(p, &stored) ? " (the parameters of its /rates)" : " (not those of its /rates)");
  return FF_OK;
}

/* The connectome's neuropil names, after checking its release against [data] flywire_version. */
static int connectome_neuropils(const FfConfig *cfg, char ***names, int64_t *n) {
  hid_t c;
  FF_TRY(ff_h5_open(cfg->connectome, H5P_DEFAULT, &c));
  int st = ff_h5_read_strings(c, cfg->connectome, "/neuropils/names", names, n);
  char release[64] = "";
  if (st == FF_OK && cfg->flywire_version[0]) {
    if (H5Aexists(c, "release") > 0) ff_h5_read_attr_string(c, cfg->connectome, "release", release, sizeof release);
    H5Eclear2(H5E_DEFAULT);
    if (strcmp(release, cfg->flywire_version) != 0)
      st = FF_ERROR(FF_ERR_INPUT, "[data] flywire_version = %s, but '%s' is release '%s'; import the matching "
                                  "release (flyfit-import ... --release %s) or change the key",
                    cfg->flywire_version, cfg->connectome, release[0] ? release : "(none)", cfg->flywire_version);
  }
  H5Fclose(c);
  return st;
}

/* The kept regions' rates [T x P], frame-major, under their neuropils' names. */
static int take_regions(const FfRegionMap *map, char **np_names, const double *rates, int64_t T, FfFitData *d) {
  d->T = T;
  d->P = (int32_t)map->n;
  FF_TRY(FF_CALLOC(d->names, map->n, "neuropil names"));
  FF_TRY(FF_MALLOC(d->np_index, map->n, "neuropil indices"));
  FF_TRY(FF_MALLOC(d->rates, T * map->n, "recorded rates"));
  for (int64_t k = 0; k < map->n; ++k) {
    d->np_index[k] = map->neuropil[k];
    if ((d->names[k] = strdup(np_names[map->neuropil[k]])) == NULL) return FF_ERROR(FF_ERR_NOMEM, "out of memory");
    for (int64_t t = 0; t < T; ++t) d->rates[t * map->n + k] = rates[map->region[k] * T + t];
  }
  return FF_OK;
}

/* Rank 0: the recording's rates of the regions matched to the connectome's neuropils. */
static int load_on_root(const FfConfig *cfg, FfFitData *d) {
  FfRecording rec;
  FfPreprocess p;
  FfRegionMap map = {0, NULL, NULL, NULL};
  char **np_names = NULL;
  int64_t n_np = 0, T = 0;
  double *rates = NULL;
  memset(&rec, 0, sizeof rec);
  int st = preprocess(cfg, &rec, &p, &rates, &T);
  FF_CALL(st, connectome_neuropils(cfg, &np_names, &n_np));
  FF_CALL(st, ff_recording_map(&rec, (const char *const *)np_names, n_np, cfg->mapping[0] ? cfg->mapping : NULL,
                               cfg->drop_unmatched, &map));
  if (st == FF_OK && map.warning) ff_warn("%s", map.warning);
  if (st == FF_OK && map.n == 0) st = FF_ERROR(FF_ERR_INPUT, "'%s': no region matches a neuropil", cfg->activity);
  if (st == FF_OK) {
    d->fs_hz = p.fs_hz;
    snprintf(d->id, sizeof d->id, "%s", rec.id);
  }
  FF_CALL(st, take_regions(&map, np_names, rates, T, d));
  free(rates);
  ff_region_map_destroy(&map);
  ff_h5_free_strings(&np_names, n_np);
  ff_recording_destroy(&rec);
  return st;
}

/* Collective: rank 0's rates, names and sizes to every rank. */
static int broadcast(FfFitData *rec, MPI_Comm comm, int rank) {
  int64_t hdr[2] = {rec->T, rec->P};
  FF_TRY(FF_MPI(MPI_Bcast(hdr, 2, MPI_INT64_T, 0, comm)));
  FF_TRY(FF_MPI(MPI_Bcast(&rec->fs_hz, 1, MPI_DOUBLE, 0, comm)));
  FF_TRY(FF_MPI(MPI_Bcast(rec->id, sizeof rec->id, MPI_CHAR, 0, comm)));
  if (rank != 0) {
    rec->T = hdr[0];
    rec->P = (int32_t)hdr[1];
    FF_TRY(FF_CALLOC(rec->names, rec->P, "neuropil names"));
    FF_TRY(FF_MALLOC(rec->np_index, rec->P, "neuropil indices"));
    FF_TRY(FF_MALLOC(rec->rates, rec->T * rec->P, "recorded rates"));
  }
  FF_TRY(FF_MPI(MPI_Bcast(rec->np_index, rec->P, MPI_INT32_T, 0, comm)));
  FF_TRY(FF_MPI(MPI_Bcast(rec->rates, (int)(rec->T * rec->P), MPI_DOUBLE, 0, comm)));
  for (int32_t p = 0; p < rec->P; ++p) {
    char name[256] = "";
    if (rank == 0) snprintf(name, sizeof name, "%s", rec->names[p]);
    FF_TRY(FF_MPI(MPI_Bcast(name, sizeof name, MPI_CHAR, 0, comm)));
    if (rank != 0 && (rec->names[p] = strdup(name)) == NULL) return FF_ERROR(FF_ERR_NOMEM, "out of memory");
  }
  return FF_OK;
}

int ff_fitdata_load(const FfConfig *cfg, MPI_Comm comm, FfFitData *rec) {
  int rank;
  memset(rec, 0, sizeof *rec);
  FF_TRY(FF_MPI(MPI_Comm_rank(comm, &rank)));
  int st = ff_ranks_root_status(rank == 0 ? load_on_root(cfg, rec) : FF_OK, comm, "read the recordings");
  if (st != FF_OK) {
    ff_fitdata_destroy(rec);
    return st;
  }
  FF_TRY(broadcast(rec, comm, rank));
  uint64_t h = FF_FNV_BASIS;
  h = ff_fnv1a(h, rec->rates, (size_t)(rec->T * rec->P) * sizeof *rec->rates);
  for (int32_t p = 0; p < rec->P; ++p) h = ff_fnv1a(h, rec->names[p], strlen(rec->names[p]) + 1);
  rec->hash = h;
  return FF_OK;
}

/* ---- blocks of frames ---------------------------------------------------------------------------- */

int ff_split_make(const FfConfig *cfg, const char *what, int64_t T, int32_t batch, FfSplit *s) {
  const int64_t B = batch;
  s->T = T;
  s->test0 = (int64_t)floor((double)T * cfg->split) / B * B + 1;
  if (s->test0 < B + 1)
    return FF_ERROR(FF_ERR_INPUT, "'%s' has %lld frames: [fit] split = %g leaves fewer than one batch of %lld training "
                                  "samples; lower [fit] batch or use a longer recording",
                    what, (long long)T, cfg->split, (long long)B);
  if (s->test0 >= T)
    return FF_ERROR(FF_ERR_INPUT, "[fit] split = %g leaves no test frames of the %lld (%lld train); lower it", cfg->split,
                    (long long)T, (long long)s->test0);
  if (cfg->validation <= 0.0) {
    s->fit = s->val0 = s->test0;
    return FF_OK;
  }
  /* at least the asked share of the frames before the test block validates; the training samples
   * stay whole batches, so the validation block takes what the rounding leaves */
  const int64_t want = (int64_t)ceil(cfg->validation * (double)(s->test0 - 1));
  const int64_t room = s->test0 - 1 - (want > 0 ? want : 1) - cfg->validation_gap;
  s->fit = room >= B ? room / B * B + 1 : 0;
  s->val0 = s->fit + cfg->validation_gap;
  if (s->fit < B + 1)
    return FF_ERROR(FF_ERR_INPUT, "'%s' has %lld frames: after the validation block ([fit] validation = %g, "
                                  "validation_gap = %lld) fewer than one batch of %lld samples is left to train; "
                                  "lower [fit] validation or batch, or use a longer recording",
                    what, (long long)T, cfg->validation, (long long)cfg->validation_gap, (long long)B);
  return FF_OK;
}

/* ---- rate classes ------------------------------------------------------------------------------- */

int ff_bins_make(double bin, double max_rate, double top, FfBins *b) {
  memset(b, 0, sizeof *b);
  if (!(bin > 0.0)) return FF_ERROR(FF_ERR_INPUT, "[fit] bin_size = %g Hz: it must be positive", bin);
  const double hi = ceil(max_rate);
  if (!(hi > 0.0)) return FF_ERROR(FF_ERR_INPUT, "the recorded rates are all zero: there is nothing to fit");
  if (bin > hi)
    return FF_ERROR(FF_ERR_INPUT, "[fit] bin_size = %g Hz is larger than the rate range 0..%g Hz: every rate would fall "
                                  "into one class; use a bin of at most %g Hz",
                    bin, hi, hi);
  b->n = (int32_t)ceil(hi / bin - 1e-9);
  FF_TRY(FF_MALLOC(b->edges, b->n + 1, "rate classes"));
  for (int32_t k = 0; k < b->n; ++k) b->edges[k] = k * bin;
  b->edges[b->n] = top > hi ? top : hi;
  return FF_OK;
}

int32_t ff_bins_class(const FfBins *b, double r) {
  int32_t lo = 0, hi = b->n; /* the last k with edges[k] <= r, within 0 .. n-1 */
  while (hi - lo > 1) {
    const int32_t mid = (lo + hi) / 2;
    if (b->edges[mid] <= r) lo = mid; else hi = mid;
  }
  return lo;
}

void ff_bins_destroy(FfBins *b) {
  if (b == NULL) return;
  free(b->edges);
  memset(b, 0, sizeof *b);
}
