#!/usr/bin/env bash
# tools/flyfit-scaling and the sweep scripts: closed forms of the model, cost calibration recovering
# known costs, per-rank loads against what a real multi-rank run counted, and a small sweep with
# jobs/scaling.sh (mpirun) through jobs/scaling-collect.
source "$(dirname "$0")/../lib.sh"
S=$ROOT/tools/flyfit-scaling
PY=/usr/bin/python3

# a balanced report for K=4 of a 4000-neuron, 400000-connection network, one "other rank" per neuron
cat > "$TMP/k4.json" <<'EOF'
{"ranks": 4, "method": "test", "neurons": [1000, 1000, 1000, 1000], "connections": [100000, 100000, 100000, 100000],
 "ghosts": [1000, 1000, 1000, 1000], "send_pairs": [1000, 1000, 1000, 1000], "send_peers": [1, 1, 1, 1],
 "recv_peers": [1, 1, 1, 1]}
EOF
field() { # JSON, batch, ranks, key
  $PY -c "import json,sys; d=json.load(open('$1')); print([r for r in d['rows'] if r['batch']==$2 and r['ranks']==$3][0]['$4'])"
}

# 1. work only (events), free links: time falls as 1/K exactly, efficiency 1
echo '{"c_step": 0, "c_trial_step": 0, "c_neuron": 0, "c_event": 1e-8, "c_word": 0, "c_window": 0}' > "$TMP/events.json"
"$S" --reports "$TMP/k4.json" --costs "$TMP/events.json" --ranks 1,4 --batch 1 --intra 0,1e12 --inter 0,1e12 \
  --rate-hz 2 --json > "$TMP/p1.json" 2>"$TMP/p1.err"
t1=$(field "$TMP/p1.json" 1 1 total_s); t4=$(field "$TMP/p1.json" 1 4 total_s)
# closed form: 1e-8 s x 2 events per connection per s x 400000 connections = 8e-3 s per simulated second
check "one rank: c_event x rate x connections = 8e-3 s per simulated s (got $t1)" \
  awk -v t="$t1" 'BEGIN { exit !(t > 8e-3 * (1 - 1e-9) && t < 8e-3 * (1 + 1e-9)) }'
check "four balanced ranks, free links: a quarter of it (got $t4)" \
  awk -v a="$t1" -v b="$t4" 'BEGIN { exit !(b > a / 4 * (1 - 1e-6) && b < a / 4 * (1 + 1e-6)) }'

# 2. exchange only: allgather over one link of 2 us and 1 GB/s, K=4 on one node
echo '{"c_step": 0, "c_trial_step": 0, "c_neuron": 0, "c_event": 0, "c_word": 0, "c_window": 0}' > "$TMP/zero.json"
"$S" --reports "$TMP/k4.json" --costs "$TMP/zero.json" --ranks 4 --batch 3 --intra 2,1 --exchange allgather \
  --rate-hz 5 --dt-ms 0.1 --delay-steps 10 --json > "$TMP/p2.json" 2>/dev/null
got=$(field "$TMP/p2.json" 3 4 total_s)
# W = 1000 windows per s; per window 2 log2(4) x 2 us + 3/4 x 8 B x 4000 x 5 Hz x 3 trials / 1000 / 1e9 B/s
want=$(awk 'BEGIN { W = 1000; S = 8 * 4000 * 5 * 3 / W; printf "%.12g", W * (2 * 2 * 2e-6 + 0.75 * S / 1e9) }')
check "allgather: W (2 log2 K a + (K-1)/K S/b) = $want s (got $got)" \
  awk -v a="$got" -v b="$want" 'BEGIN { exit !(a > b * (1 - 1e-9) && a < b * (1 + 1e-9)) }'
"$S" --reports "$TMP/k4.json" --costs "$TMP/zero.json" --ranks 4 --batch 3 --intra 2,1 --exchange targeted \
  --rate-hz 5 --dt-ms 0.1 --delay-steps 10 --json > "$TMP/p3.json" 2>/dev/null
got=$(field "$TMP/p3.json" 3 4 total_s)
# per window: log2(4) a + (1 peer x a + 8 B x 1000 pairs x 15 Hz / 1000 / 1e9 B/s)
want=$(awk 'BEGIN { W = 1000; printf "%.12g", W * (2 * 2e-6 + 2e-6 + 8 * 1000 * 15 / W / 1e9) }')
check "targeted: W (log2 K a + m a + bytes/b) = $want s (got $got)" \
  awk -v a="$got" -v b="$want" 'BEGIN { exit !(a > b * (1 - 1e-9) && a < b * (1 + 1e-9)) }'

# 3. calibration recovers the costs that made a set of (fabricated) timings
$PY - "$TMP" <<'PY'
import h5py, numpy as np, sys
c_ts, c_ev, c_w, c_win = 2.5e-8, 3.0e-8, 4.0e-8, 1.5e-6
for name, K, B, ev, sp in (("a", 1, 1, [3e5], [4000]), ("b", 1, 8, [2.1e6], [30000]), ("c", 2, 2, [4e5, 1e5], [5000, 900]),
                           ("d", 1, 4, [0], [0])):
    f = h5py.File(f"{sys.argv[1]}/{name}.h5", "w")
    steps, W = 10000, 556
    f.create_group("run").attrs.update(dict(ranks=K, batch=B, steps=steps, dt_ms=0.1, delay_steps=18, connectome="x",
                                            duration_ms=1000.0))
    t = f.create_group("timing")
    t.attrs.update(dict(windows=W, exchange="allgather", simulate_s=1.0))
    ev, sp = np.array(ev, float), np.array(sp, float)
    recv = sp.sum() - sp
    t["compute_s"] = c_ts * steps * B + c_ev * ev
    t["pack_s"] = c_w * sp + c_win * W / 2
    t["unpack_s"] = c_w * (sp + recv) + c_win * W / 2
    t["comm_s"] = np.zeros(K); t["create_s"] = np.zeros(K)
    c = f.create_group("counts")
    for k, v in dict(spikes=sp, events=ev, words_sent=sp * (K - 1), words_recv=recv, neurons=[100] * K,
                     connections=[1000] * K).items():
        c[k] = np.array(v, dtype=np.int64)
    f["neurons/spike_count"] = np.zeros((B, 100 * K), np.int32)
PY
"$S" --backend cpu --calibrate "$TMP"/a.h5 "$TMP"/b.h5 "$TMP"/c.h5 "$TMP"/d.h5 --ranks 1 --batch 1 --json \
  > "$TMP/cal.json" 2>"$TMP/cal.err"
cal=$($PY -c "
import json; c = json.load(open('$TMP/cal.json'))['costs']
want = dict(c_trial_step=2.5e-8, c_event=3.0e-8, c_word=4.0e-8, c_window=1.5e-6, c_neuron=0)
bad = [k for k, v in want.items() if abs(c[k] - v) > 1e-6 * max(v, 1e-12)]
print('ok' if not bad else 'wrong: ' + ', '.join(f'{k} {c[k]:.4g} (want {want[k]:.4g})' for k in bad))")
check "calibration recovers the costs that made the timings ($cal)" test "$cal" = ok

# 4. per-rank loads laid from a 1-rank run's spikes onto a partition equal what the 3-rank run counted
"$BIN/flyfit-synth" --neurons 3000 --seed 5 -o "$TMP/net.h5" 2>/dev/null
"$BIN/flyfit-partition" "$TMP/net.h5" --ranks 3 >/dev/null 2>&1
cat > "$TMP/run.ini" <<INI
[data]
connectome = $TMP/net.h5
[run]
duration_ms = 300
batch = 2
exchange = targeted
[stimulus]
poisson_neurons = 0-40
poisson_rate_hz = 300
[output]
spikes = all
INI
"$BIN/flyfit" "$TMP/run.ini" --set output.dir="$TMP/one" >/dev/null 2>&1
mpi 3 "$BIN/flyfit" "$TMP/run.ini" --set output.dir="$TMP/three" >/dev/null 2>&1
loads=$($PY - "$S" "$TMP" <<'PY'
import importlib.machinery, importlib.util, sys, h5py, numpy as np
loader = importlib.machinery.SourceFileLoader("fs", sys.argv[1])
spec = importlib.util.spec_from_loader("fs", loader); fs = importlib.util.module_from_spec(spec); loader.exec_module(fs)
t = sys.argv[2]
one, three = h5py.File(f"{t}/one/results.h5", "r"), h5py.File(f"{t}/three/results.h5", "r")
D, T = int(one["/run"].attrs["delay_steps"]), int(one["/run"].attrs["steps"])
step, neuron = one["/spikes/step"][:], one["/spikes/neuron"][:]
last = (T + D - 1) // D - 1
sent = np.bincount(neuron[step < last * D], minlength=3000).astype(float)  # the last window's spikes stay home
arrived = np.bincount(neuron[step + D < T], minlength=3000).astype(float)  # and arrivals after the end never happen
ev, ws = three["/counts/events"][:], three["/counts/words_sent"][:]
ok = (np.array_equal(fs.measured_loads(f"{t}/net.h5", 3, arrived, 1.0)["events"], ev) and
      np.array_equal(fs.measured_loads(f"{t}/net.h5", 3, sent, 1.0)["pairs_out"], ws))
print("ok" if ok else f"events {ev}, words {ws} differ from the loads")
PY
)
check "loads from the 1-rank run's spikes on the partition = the 3-rank run's events and words ($loads)" test "$loads" = ok

# 5. bad input: one clear line each
expect_error "unknown cost key" "--costs .*unknown key\(s\) c_magic" "$S" --reports "$TMP/k4.json" --costs <(echo '{"c_magic": 1}')
expect_error "a malformed link" "--intra fast: expected one of nvlink" "$S" --reports "$TMP/k4.json" --intra fast
echo '{"ranks": 2, "neurons": [1]}' > "$TMP/short.json"
expect_error "a report lacking fields" "short.json: partition report for K=2 lacks connections" "$S" --reports "$TMP/short.json"
expect_error "no network given" "give --connectome, --reports or --calibrate" "$S"

# 6. a small strong sweep through jobs/scaling.sh and jobs/scaling-collect
"$ROOT/jobs/scaling.sh" strong --connectome "$TMP/net.h5" --ranks "1 2" --duration-ms 200 --out "$TMP/sweep" \
  > "$TMP/sweep.log" 2>&1
check "jobs/scaling.sh strong: 3 runs collected into a table" \
  test "$(($(wc -l < "$TMP/sweep/scaling.csv") - 1))" -eq 3
check "... with a plot" test -s "$TMP/sweep/scaling.png"
check "... and the model beside each measurement" grep -q "model/measured: geometric mean" "$TMP/sweep/model.txt"
expect_error "jobs/scaling.sh with an unknown method" "unknown method 'scotch'" "$ROOT/jobs/scaling.sh" strong --methods scotch
