#!/usr/bin/env bash
# [run] mode = netopt (docs/design.md §2.9.7): Izhikevich's E/I network (200 regular-spiking, 50 fast-spiking
# cells, fixed random connectivity) fitted by differential evolution to a planted network's firing
# statistics (rates, LV, SPIKE-distances within and between the populations): the product p x w within 10%
# of the planted one, Welch's t-test on per-neuron rates and the two-sample KS test on per-neuron LV both
# p > 0.05 (the fitted network cannot be told from the target); both p-values equal scipy's (ttest_ind,
# equal_var=False; the Kolmogorov distribution at sqrt(n1 n2 / (n1 + n2)) D with ks_2samp's D) to 1e-9;
# 1 and 2 ranks alike, bit for bit. On a short fit: the planted network's trains written by flyfit-synth
# --network (HDF5) and as a CSV give the planted target's fit, bit for bit; split = cells (every candidate
# on all ranks, cells in blocks, spikes exchanged every step) on 2 and 3 ranks = split = members on 1 rank,
# bit for bit. Bad bounds, a recording of another network, spike times outside it, NaN refused, leaving an
# earlier results.h5 as it was.
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
    check "an interval of p x w around the estimate (parametric bootstrap, 8 noise draws of 21 factors)" /usr/bin/python3 -c "
import h5py, sys
g = h5py.File('np1/results.h5', 'r')['/netopt']
pw, lo, hi = g.attrs['p'] * g.attrs['w'], g.attrs['pw_lower'], g.attrs['pw_upper']
print('#   p x w %.4f in [%.4f, %.4f]' % (pw, lo, hi))
sys.exit(0 if lo < pw < hi and g['profile/loss'].shape == (8, 21) and g['profile/pw'].shape == (8,) else 1)"
    check "tools/flyfit-plot draws netopt.png (convergence, rates, LV, rasters)" bash -c "/usr/bin/python3 \
      '$ROOT/tools/flyfit-plot' np1/results.h5 -o fig --quiet 2>/dev/null && test -s fig/netopt.png"
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
# a short fit: 500 ms, 6 members, 2 generations
printf '[run]\nmode = netopt\nseed = 4\n[netopt]\nduration_ms = 500\npopulation = 6\ngenerations = 2\n' > short.ini
short_same() { # the done line and every dataset of /netopt but the target's own attributes
  cmp -s "$1.done" "$2.done" && for d in fitted loss_history target_rate_hz target_lv fitted_rate_hz fitted_lv \
    target_spike_distance fitted_spike_distance target_spikes/spike_times fitted_spikes/spike_times; do
    h5diff -q "$1/results.h5" "$2/results.h5" "/netopt/$d" || return 1; done
}
if "$BIN/flyfit" short.ini --set output.dir=m1 >m1.stdout 2>m1.log; then
  tail -1 m1.stdout >m1.done
  for k in 2 3; do
    mpi $k "$BIN/flyfit" short.ini --set output.dir=c$k --set netopt.split=cells >c$k.stdout 2>c$k.log
    tail -1 c$k.stdout >c$k.done
    check "split = cells on $k ranks: the fit of split = members on 1 rank, bit for bit" short_same m1 c$k
  done
  check "split = cells exchanged spikes every step" grep -q "the cells split in blocks" c2/flyfit.log
  if "$BIN/flyfit-synth" --network 200:50 --seconds 0.5 --seed 4 -o target.h5 >/dev/null 2>synth.log; then
    "$BIN/flyfit" short.ini --set output.dir=h5 --set data.recording=target.h5 >h5.stdout 2>h5.log
    tail -1 h5.stdout >h5.done
    check "flyfit-synth --network's trains as [data] recording: the planted target's fit, bit for bit" short_same m1 h5
    /usr/bin/python3 - <<'PY' 2>/dev/null
import h5py
f = h5py.File("target.h5", "r")
ip, t = f["/network/spike_indptr"][()], f["/network/spike_times"][()]
n = len(ip) - 1
rows = max(ip[i + 1] - ip[i] for i in range(n))
with open("target.csv", "w") as o:
    o.write(",".join("cell%d" % i for i in range(n)) + "\n")
    for k in range(rows):
        o.write(",".join("%.17g" % t[ip[i] + k] if ip[i] + k < ip[i + 1] else "" for i in range(n)) + "\n")
PY
    if [ -s target.csv ]; then
      "$BIN/flyfit" short.ini --set output.dir=csv --set data.recording=target.csv >csv.stdout 2>csv.log
      sed 's/target_pw=nan/target_pw=4/' <(tail -1 csv.stdout) >csv.done
      check "the same trains as a CSV, one cell per column: the same fit (target_pw=nan: no truth)" short_same m1 csv
      grep -q "target_pw=nan" csv.stdout && ok "a CSV target has no planted p x w" || fail "a CSV target has no planted p x w"
      head -c 300000 target.csv | sed '1!s/^[0-9.]*,/nan,/' > nan.csv
      expect_error "a NaN spike time, named by file, line and column" "nan.csv':2: column 1 is nan" \
        "$BIN/flyfit" short.ini --set output.dir=m1 --set data.recording=nan.csv
      expect_error "spike times beyond duration_ms" "target.csv': cell [0-9]+'s spike [0-9]+ at [0-9.]+ ms is outside the recording \[0, 300\] ms" \
        "$BIN/flyfit" short.ini --set output.dir=m1 --set data.recording=target.csv --set netopt.duration_ms=300
    else
      skip "the CSV target" "no python3 with h5py"
    fi
    expect_error "a recording of another network, naming the keys" "target.h5' records 200 excitatory and 50 inhibitory cells but \[netopt\] n_exc = 200 and n_inh = 40" \
      "$BIN/flyfit" short.ini --set output.dir=m1 --set data.recording=target.h5 --set netopt.n_inh=40
    expect_error "a recording of another duration, naming the key" "target.h5' records 500 ms but \[netopt\] duration_ms = 400" \
      "$BIN/flyfit" short.ini --set output.dir=m1 --set data.recording=target.h5 --set netopt.duration_ms=400
    check "the refused runs left the earlier results.h5 as it was" short_same m1 h5
  else
    fail "flyfit-synth --network failed"; tail -3 synth.log | sed 's/^/#   /'
  fi
else
  fail "the short netopt fit failed"; tail -3 m1.log | sed 's/^/#   /'
fi
expect_error "bounds with low > high" "\[netopt\] bounds: p = 0.5:0.1 needs 0 <= low <= high <= 1" \
  "$BIN/flyfit" net.ini --set output.dir=bad --set "netopt.bounds=p=0.5:0.1, w=5:60"
expect_error "bounds naming something else" "\[netopt\] bounds: 'q=1:2' is not p=low:high" \
  "$BIN/flyfit" net.ini --set output.dir=bad --set "netopt.bounds=q=1:2, w=5:60"
check "no refused run wrote results" test ! -e bad/results.h5
