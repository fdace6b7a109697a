#!/usr/bin/env bash
# [run] mode = netopt (docs/design.md §2.9.7): Izhikevich's E/I network (200 regular-spiking, 50 fast-spiking
# cells, fixed random connectivity) fitted by differential evolution to a planted network's firing
# statistics: the product p x w within 10% of the planted one, Welch's t-test on per-neuron rates and the
# two-sample KS test on per-neuron LV both p > 0.05 (the fitted network cannot be told from the target);
# both p-values equal scipy's (ttest_ind, equal_var=False; the Kolmogorov distribution at sqrt(n1 n2 /
# (n1 + n2)) D with ks_2samp's D) to 1e-9; 1 and 2 ranks alike, bit for bit; bad bounds refused.
source "$(dirname "$0")/../lib.sh"
cd "$TMP" || exit 1
printf '[run]\nmode = netopt\nseed = 1\n' > net.ini
if mpi 1 "$BIN/flyfit" net.ini --set output.dir=np1 >np1.stdout 2>np1.log; then
  tail -1 np1.stdout | tee np1.done | sed 's/^/#   /'
  check "the last line is 'netopt done: p=... w=... pw=... target_pw=... loss=... evals=... welch_p=... lv_ks_p=...'" \
    grep -qE '^netopt done: p=[^ ]+ w=[^ ]+ pw=[^ ]+ target_pw=4 loss=[^ ]+ evals=496 welch_p=[^ ]+ lv_ks_p=[^ ]+$' np1.done
  field() { tr ' ' '\n' <np1.done | sed -n "s/^$1=//p"; }
  check "p x w within 10% of the planted 0.2 x 20" awk -v v="$(field pw)" 'BEGIN { exit !(v > 3.6 && v < 4.4) }'
  check "Welch's t-test on per-neuron rates: p > 0.05" awk -v v="$(field welch_p)" 'BEGIN { exit !(v > 0.05) }'
  check "KS test on per-neuron LV: p > 0.05" awk -v v="$(field lv_ks_p)" 'BEGIN { exit !(v > 0.05) }'
  if /usr/bin/python3 -c "import scipy, h5py" 2>/dev/null; then
    scipy_ok() { /usr/bin/python3 - <<'PY'
import h5py, numpy as np, sys
from scipy import stats, special
g = h5py.File("np1/results.h5", "r")["/netopt"]
rt, rf, lt, lf = (g[k][()] for k in ("target_rate_hz", "fitted_rate_hz", "target_lv", "fitted_lv"))
w = stats.ttest_ind(rt, rf, equal_var=False).pvalue
lt, lf = lt[np.isfinite(lt)], lf[np.isfinite(lf)]
d = stats.ks_2samp(lt, lf).statistic
k = special.kolmogorov(np.sqrt(len(lt) * len(lf) / (len(lt) + len(lf))) * d)
a = dict(g.attrs)
print("#   Welch p %.12g (scipy %.12g), KS p %.12g (scipy %.12g)" % (a["welch_p"], w, a["lv_ks_p"], k))
sys.exit(0 if abs(a["welch_p"] - w) <= 1e-9 * w and abs(a["lv_ks_p"] - k) <= 1e-9 * k else 1)
PY
    }
    check "the p-values equal scipy's to 1e-9" scipy_ok
  else
    skip "the p-values against scipy" "python3-scipy or h5py is not installed"
  fi
  if mpi 2 "$BIN/flyfit" net.ini --set output.dir=np2 >np2.stdout 2>np2.log; then
    tail -1 np2.stdout >np2.done
    check "2 ranks: the done line of 1 rank" cmp -s np1.done np2.done
    check "2 ranks: results.h5 /netopt of 1 rank, bit for bit" h5diff -q np1/results.h5 np2/results.h5 /netopt
  else
    fail "netopt on 2 ranks exited with an error"
  fi
else
  fail "netopt exited with an error"; tail -3 np1.log | sed 's/^/#   /'
fi
expect_error "bounds with low > high" "\[netopt\] bounds: p = 0.5:0.1 needs 0 <= low <= high <= 1" \
  "$BIN/flyfit" net.ini --set output.dir=bad --set "netopt.bounds=p=0.5:0.1, w=5:60"
expect_error "bounds naming something else" "\[netopt\] bounds: 'q=1:2' is not p=low:high" \
  "$BIN/flyfit" net.ini --set output.dir=bad --set "netopt.bounds=q=1:2, w=5:60"
check "no refused run wrote results" test ! -e bad/results.h5
