/* Calcium recordings to firing rates (docs/design.md §2.3). Traces are [P regions × T frames] doubles,
 * region-major (one region's frames contiguous), the layout every per-region step wants;
 * activity.h5 stores them frame-major [T, P]. The chain, in this order:
 *   1. dF/F = (F - mean_t F) / mean_t F per region, the mean taken over all frames;
 *   2. first-order Butterworth high-pass, causal, from zero initial state (scipy's sosfilt);
 *   3. drop the first trim_frames frames (the filter's start-up transient among them);
 *   4. non-negative AR(1) deconvolution (OASIS, Friedrich, Zhou & Paninski 2017) to spike amounts s >= 0;
 *   5. scaling: rates = s × max_rate_hz / max s over all regions and frames, "rate in Hz" per frame.
 * Every step is deterministic (no threads, fixed summation order), so the same traces and
 * parameters give the same rates bit for bit. */
#ifndef FLYFIT_ACTIVITY_H
#define FLYFIT_ACTIVITY_H

#include <hdf5.h>
#include <stdint.h>

typedef struct {
  double fs_hz;         /* frame rate of the recording, Hz (1.2) */
  double highpass_hz;   /* cutoff of the high-pass, Hz; 0 = no filter (0.01) */
  int64_t trim_frames;  /* frames dropped at the start, after filtering (100) */
  double calcium_tau_s; /* decay time constant of the calcium kernel, s (0.8): gamma = exp(-1/(tau fs)) */
  double deconv_lambda; /* sparsity penalty of the deconvolution, dF/F units (0: plain non-negative
                           least squares, every rise of the trace is explained by a spike) */
  double max_rate_hz;   /* the largest rate after scaling, Hz (100) */
} FfPreprocess;

/* The defaults in the comments above. */
void ff_preprocess_defaults(FfPreprocess *p);
/* Range checks (FF_ERR_INPUT naming the parameter): fs_hz > 0; 0 <= highpass_hz < fs_hz/2;
 * trim_frames >= 0; calcium_tau_s > 0; deconv_lambda >= 0; max_rate_hz > 0; all finite. */
int ff_preprocess_check(const FfPreprocess *p);
/* AR(1) coefficient of the calcium kernel: gamma = exp(-1 / (calcium_tau_s × fs_hz)). */
double ff_preprocess_gamma(const FfPreprocess *p);

/* What the error messages call the data: "'fly.npz': region 'AL_R' (row 12) is constant". */
typedef struct {
  const char *source;       /* file the traces came from, or NULL */
  const char *const *names; /* [P] region names, or NULL (then "region 12") */
  const int64_t *rows;      /* [P] row of each region in the source file, or NULL (then its index) */
} FfTraceLabels;

/* 1. dF/F in place. A region whose trace holds NaN or Inf, is constant, or has mean 0 is an
 * FF_ERR_INPUT error naming it (frames count from 0). lab may be NULL. */
int ff_activity_dff(double *x, int64_t P, int64_t T, const FfTraceLabels *lab);

/* 2. The first-order Butterworth high-pass by the bilinear transform with pre-warping, exactly
 * scipy.signal.butter(1, cutoff_hz, 'highpass', fs=fs_hz): with K = tan(pi cutoff/fs),
 * b = [1, -1] / (1 + K), a = [1, -(1 - K)/(1 + K)]. Requires 0 < cutoff_hz < fs_hz/2. */
void ff_highpass_coeffs(double cutoff_hz, double fs_hz, double b[2], double a[2]);
/* Filters each region in place, causally, from zero initial state (transposed direct form II,
 * as sosfilt). cutoff_hz = 0 leaves x as it is. */
void ff_activity_highpass(double *x, int64_t P, int64_t T, double cutoff_hz, double fs_hz);

/* 3. Drops the first `trim` frames of every region in place: x becomes [P × (*T - trim)], packed.
 * Leaving no frame is an FF_ERR_INPUT error. */
int ff_activity_trim(double *x, int64_t P, int64_t *T, int64_t trim, const FfTraceLabels *lab);

/* 4. OASIS for one trace: solves min_c 1/2 ||y - c||^2 + lambda sum_t s_t with s_0 = c_0 and
 * s_t = c_t - gamma c_{t-1}, all s_t >= 0 (no calcium before the first frame), by merging pools of
 * exponentially decaying calcium, O(T). s[T] receives the spike amounts (> 0 only where a pool
 * starts); c[T] the calcium, when not NULL. 0 < gamma < 1, lambda >= 0. */
int ff_oasis_ar1(const double *y, int64_t T, double gamma, double lambda, double *s, double *c);
/* Deconvolves every region of x [P × T] into s [P × T]. */
int ff_activity_deconvolve(const double *x, int64_t P, int64_t T, double gamma, double lambda, double *s);

/* 5. Scales s in place so that its largest value over all regions and frames is max_rate_hz.
 * All-zero s (nothing to scale) is an FF_ERR_INPUT error naming lab->source. */
int ff_activity_scale(double *s, int64_t P, int64_t T, double max_rate_hz, const FfTraceLabels *lab);

/* The whole chain on raw traces [P × T]: *dff receives steps 1-3 and *rates steps 1-5, both new
 * [P × *T_out] arrays with *T_out = T - trim_frames. traces is not changed. */
int ff_activity_preprocess(const double *traces, int64_t P, int64_t T, const FfPreprocess *p,
                           const FfTraceLabels *lab, double **dff, double **rates, int64_t *T_out);
/* The same chain with every statistic of the recording taken from its first n_ref raw frames only
 * (dF/F's mean fluorescence, the rate scale) and those frames deconvolved on their own: no frame
 * from n_ref on changes any output frame before n_ref - trim_frames. A fit passes the start of its
 * test block, so that the test frames reach nothing it trains or chooses on. n_ref >= T: the
 * whole recording, as ff_activity_preprocess. */
int ff_activity_preprocess_ref(const double *traces, int64_t P, int64_t T, int64_t n_ref, const FfPreprocess *p,
                               const FfTraceLabels *lab, double **dff, double **rates, int64_t *T_out);

/* ---- regions to neuropils ------------------------------------------------------------------------ */

/* Which connectome neuropil each kept region of a recording is. */
typedef struct {
  int64_t n;         /* regions kept */
  int64_t *region;   /* [n] index of each kept region in the recording's list, ascending */
  int32_t *neuropil; /* [n] its neuropil index in the connectome (/neuropils/names) */
  char *warning;     /* NULL, or what drop_unmatched left out, for the caller to log */
} FfRegionMap;

/* Matches every recorded region to a connectome neuropil by exact name, after renaming through
 * the optional mapping file (lines "region_name neuropil_name", separated by blanks or a comma,
 * '#' starts a comment; regions the file does not name keep their own name). A region without a
 * neuropil, or a neuropil without a region, is an FF_ERR_INPUT error listing all of them, unless
 * drop_unmatched: then they are left out and listed in map->warning. Errors in the file (a line
 * without exactly two names, a region not in the recording or named twice, two regions on one
 * neuropil) are "FILE:LINE: ..." messages. Region names must be unique. */
int ff_activity_map_regions(const char *const *regions, int64_t n_regions, const char *const *neuropils,
                            int64_t n_neuropils, const char *mapping_file, int drop_unmatched, FfRegionMap *map);
/* Frees the arrays (NULL allowed); the struct is left zeroed. */
void ff_region_map_destroy(FfRegionMap *map);

/* ---- recordings and activity.h5 ------------------------------------------------------------------ */

/* One fly's recording: region names and raw traces, the background region already removed. */
typedef struct {
  int64_t P, T;     /* regions, frames */
  char **areas;     /* [P] region names */
  int64_t *rows;    /* [P] row of each region in the source file (the .npz's background is row 0) */
  double *traces;   /* [P × T] raw fluorescence, region-major */
  double fs_hz;     /* frame rate, Hz; 0 when the source does not say (an .npz) */
  char id[128];     /* neural_activity_id, e.g. "2017-10-30_1" */
  char source[512]; /* what the recording was read from, and how */
  char file[1024];  /* the file it was read from, for messages */
  char **matched;   /* [P] the connectome neuropil each region was matched to on import (its mapping file
                       applied), activity.h5 /neuropil_names; NULL when the import had no --connectome */
} FfRecording;

/* Reads an .npz in the layout of the Mann/Turner/Clandinin resting-state files: member names_key
 * ("areas") holds the region names, member traces_key ("traces") the traces [regions, frames];
 * row 0 is the background and is dropped. The id is the file name without ".npz". Missing
 * members, a traces array that is not 2-D or whose rows do not match the names, and traces stored
 * [frames, regions] each get their own message. */
int ff_recording_read_npz(const char *path, const char *names_key, const char *traces_key, FfRecording *rec);
/* Keeps only the regions keep[0..n) (ascending indices into the current list), in that order. */
int ff_recording_select(FfRecording *rec, const int64_t *keep, int64_t n);
/* Rounds the traces to float, the precision activity.h5 stores them in, so that the chain run on
 * them now and the chain rerun later from /traces give the same rates bit for bit. A value beyond
 * the float range is an FF_ERR_INPUT error naming region and frame. */
int ff_recording_round_to_float(FfRecording *rec);
/* Frees the arrays (NULL allowed); the struct is left zeroed. */
void ff_recording_destroy(FfRecording *rec);
/* The matching of a recording read from activity.h5 (src/data/activity_map.c). With rec->matched
 * (what flyfit-import --connectome [--mapping] stored), each region goes to the neuropil of that name,
 * so neither the mapping file nor the import's connectome is needed again, only a connectome with
 * those names; a stored name it lacks, or one of its neuropils without a region, is an FF_ERR_INPUT
 * error listing them (drop_unmatched: left out, with map->warning). A mapping_file given as well must
 * give the same matching, else FF_ERR_INPUT names the first region on which they differ. Without
 * rec->matched: ff_activity_map_regions by name through mapping_file. */
int ff_recording_map(const FfRecording *rec, const char *const *neuropils, int64_t n_neuropils,
                     const char *mapping_file, int drop_unmatched, FfRegionMap *map);

/* Everything activity.h5 holds (docs/design.md §4.4, docs/formats.md). */
typedef struct {
  const FfRecording *rec;        /* the kept regions and their raw traces */
  const FfPreprocess *params;    /* the parameters the rates were made with */
  const double *dff;             /* [P × T_out] after dF/F, high-pass and trim */
  const double *rates;           /* [P × T_out] Hz, after deconvolution and scaling */
  int64_t T_out;
  const int32_t *neuropil_index; /* [P] connectome neuropil of each region, or NULL */
  const char *connectome;        /* the connectome file the index refers to, or NULL */
  const char *mapping;           /* the mapping file used, or NULL */
  const char *dropped;           /* what drop_unmatched left out, or NULL */
  const char *created_by;        /* the command line */
} FfActivityFile;

/* Writes activity.h5 under a temporary name and renames it when complete: /areas string[P],
 * /traces float32[T, P], /dff and /rates float32[T_out, P] (frame-major, docs/design.md §4.4),
 * /neuropil_index int32[P] when given, /neuropil_names string[P] when rec->matched, and attributes
 * fs_hz, neural_activity_id, source, created_by, format, every preprocessing parameter,
 * calcium_gamma, frames_raw, frames. */
int ff_activity_write(const char *path, const FfActivityFile *a);
/* The same content into an open file, for a writer that adds its own before the file is committed
 * (flyfit-synth --activity adds the ground truth). */
int ff_activity_write_into(hid_t f, const FfActivityFile *a);
/* Reads /areas, /traces (back to region-major), /neuropil_names when present (rec->matched), fs_hz,
 * neural_activity_id and source; and, when params is not NULL, the preprocessing parameters stored
 * with the rates. */
int ff_activity_read(const char *path, FfRecording *rec, FfPreprocess *params);

#endif
