/* ROC and AUC of mode = cells (cells.h, docs/design.md §2.10.4): a connection's existence scored by a matrix against
 * the planted truth. ff_cells_auc sorts every pair in one array (the plain reference, kept for tests and small
 * inputs); ff_cells_roc_ranks counts the same AUC over pairs split across the ranks without gathering them: every
 * rank gets the positives' scores (the connected pairs, a small share of all) and counts, for each of its negatives,
 * the positives above and tied with it. Integer counts summed across ranks: the same number on any rank count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/cells.h"
#include "flyfit/error.h"

int ff_cells_ranked_cmp(const void *a, const void *b) {
  const FfCellsRanked *x = a, *y = b;
  if (x->score != y->score) return x->score < y->score ? 1 : -1; /* highest first */
  return (x->index > y->index) - (x->index < y->index);
}

double ff_cells_auc(const double *score, const int8_t *label, int64_t n, double *fpr, double *tpr, int64_t *n_pts) {
  FfCellsRanked *r = malloc(sizeof *r * (size_t)(n ? n : 1));
  if (r == NULL) return NAN;
  int64_t P = 0;
  for (int64_t k = 0; k < n; ++k) {
    r[k].score = score[k];
    r[k].index = k;
    P += label[k] != 0;
  }
  const int64_t N = n - P;
  qsort(r, (size_t)n, sizeof *r, ff_cells_ranked_cmp);
  double area = 0;
  int64_t tp = 0, fp = 0, pts = 0;
  if (fpr) fpr[pts] = 0, tpr[pts] = 0, ++pts;
  for (int64_t k = 0; k < n;) {
    int64_t g = k, tp0 = tp, fp0 = fp;
    for (; g < n && r[g].score == r[k].score; ++g) label[r[g].index] ? ++tp : ++fp;
    area += (double)(fp - fp0) * (double)(tp + tp0) / 2.0;
    if (fpr) {
      fpr[pts] = N ? (double)fp / (double)N : 0;
      tpr[pts] = P ? (double)tp / (double)P : 0;
      ++pts;
    }
    k = g;
  }
  free(r);
  if (n_pts) *n_pts = pts;
  return P && N ? area / ((double)P * (double)N) : NAN;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* in v [n] ascending: how many are < x (strict) or <= x */
static int64_t count_below(const double *v, int64_t n, double x, int or_equal) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (v[mid] < x || (or_equal && v[mid] == x)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* Every rank's positive scores, ascending, on every rank: pos [*P] (caller frees). */
static int gather_positives(MPI_Comm comm, const double *score, const int8_t *label, int64_t n, double **pos,
                            int64_t *P) {
  int size = 1;
  FF_TRY(FF_MPI(MPI_Comm_size(comm, &size)));
  int64_t mine = 0, total = 0;
  for (int64_t k = 0; k < n; ++k) mine += label[k] > 0;
  int64_t *all = NULL;
  int *cnt = NULL, *off = NULL;
  double *own = NULL;
  int st = FF_MALLOC(all, size, "positives per rank");
  FF_CALL(st, FF_MALLOC(cnt, size, "gather counts"));
  FF_CALL(st, FF_MALLOC(off, size, "gather offsets"));
  FF_CALL(st, FF_MALLOC(own, mine + 1, "this rank's positive scores"));
  FF_CALL(st, FF_MPI(MPI_Allgather(&mine, 1, MPI_INT64_T, all, 1, MPI_INT64_T, comm)));
  for (int q = 0; st == FF_OK && q < size; ++q) {
    if (total + all[q] > INT32_MAX)
      st = FF_ERROR(FF_ERR_UNSUPPORTED, "ROC: more than 2^31 connected pairs to share across the ranks");
    else cnt[q] = (int)all[q], off[q] = (int)total, total += all[q];
  }
  FF_CALL(st, FF_MALLOC(*pos, total + 1, "positive scores"));
  for (int64_t k = 0, m = 0; st == FF_OK && k < n; ++k)
    if (label[k] > 0) own[m++] = score[k];
  FF_CALL(st, FF_MPI(MPI_Allgatherv(own, (int)mine, MPI_DOUBLE, *pos, cnt, off, MPI_DOUBLE, comm)));
  if (st == FF_OK) qsort(*pos, (size_t)total, sizeof **pos, cmp_double);
  *P = total;
  free(all);
  free(cnt);
  free(off);
  free(own);
  return st;
}

int ff_cells_roc_ranks(MPI_Comm comm, const double *score, const int8_t *label, int64_t n, int64_t max_pts,
                       double *auc, double *fpr, double *tpr, int64_t *n_pts) {
  if (max_pts < 4) return FF_ERROR(FF_ERR_INTERNAL, "ROC: %lld points are too few (at least 4)", (long long)max_pts);
  double *pos = NULL, *th = NULL;
  int64_t P = 0, *hist = NULL;
  int st = gather_positives(comm, score, label, n, &pos, &P);
  /* the AUC: 2 x (positives above a negative) + (positives tied with it), summed over the negatives */
  int64_t twice[2] = {0, 0}; /* that sum, and the negatives */
  for (int64_t k = 0; st == FF_OK && k < n; ++k)
    if (label[k] == 0) {
      const int64_t lt = count_below(pos, P, score[k], 0), le = count_below(pos, P, score[k], 1);
      twice[0] += 2 * (P - le) + (le - lt);
      ++twice[1];
    }
  FF_CALL(st, FF_MPI(MPI_Allreduce(MPI_IN_PLACE, twice, 2, MPI_INT64_T, MPI_SUM, comm)));
  const int64_t N = twice[1];
  /* the area as ff_cells_auc sums it (exact below 2^53 half-units), divided alike */
  if (st == FF_OK) *auc = P && N ? ((double)twice[0] / 2.0) / ((double)P * (double)N) : NAN;
  /* the curve: before and after each of K thresholds among the distinct positive scores (all of them when they fit) */
  int64_t D = 0;
  for (int64_t k = 0; st == FF_OK && k < P; ++k) D += k == 0 || pos[k] != pos[k - 1];
  const int64_t K = D <= (max_pts - 2) / 2 ? D : (max_pts - 2) / 2;
  FF_CALL(st, FF_MALLOC(th, K + 1, "ROC thresholds"));
  FF_CALL(st, FF_CALLOC(hist, 2 * (K + 1), "ROC counts"));
  if (st == FF_OK && K > 0) {
    double *distinct = NULL;
    st = FF_MALLOC(distinct, D, "distinct positive scores");
    for (int64_t k = 0, d = 0; st == FF_OK && k < P; ++k)
      if (k == 0 || pos[k] != pos[k - 1]) distinct[d++] = pos[k];
    for (int64_t m = 0; st == FF_OK && m < K; ++m) /* ascending, the lowest and the highest always among them */
      th[m] = distinct[K == 1 ? D - 1 : m * (D - 1) / (K - 1)];
    free(distinct);
  }
  /* negatives >= th[m] (m < le) and > th[m] (m < lt): a histogram of le and lt, summed from the top */
  for (int64_t k = 0; st == FF_OK && k < n; ++k)
    if (label[k] == 0) {
      ++hist[count_below(th, K, score[k], 1)];
      ++hist[K + 1 + count_below(th, K, score[k], 0)];
    }
  FF_CALL(st, FF_MPI(MPI_Allreduce(MPI_IN_PLACE, hist, (int)(2 * (K + 1)), MPI_INT64_T, MPI_SUM, comm)));
  if (st == FF_OK) {
    int64_t pts = 0, ge = 0, gt = 0;
    fpr[pts] = 0, tpr[pts] = 0, ++pts;
    for (int64_t m = K - 1; m >= 0; --m) { /* highest threshold first */
      ge += hist[m + 1];
      gt += hist[K + 1 + m + 1];
      const int64_t pge = P - count_below(pos, P, th[m], 0), pgt = P - count_below(pos, P, th[m], 1);
      fpr[pts] = N ? (double)gt / (double)N : 0, tpr[pts] = P ? (double)pgt / (double)P : 0, ++pts;
      fpr[pts] = N ? (double)ge / (double)N : 0, tpr[pts] = P ? (double)pge / (double)P : 0, ++pts;
    }
    fpr[pts] = 1, tpr[pts] = 1, ++pts;
    *n_pts = pts;
  }
  free(pos);
  free(th);
  free(hist);
  return st;
}
