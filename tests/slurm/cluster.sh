# A throw-away one-node SLURM cluster on this machine, for tests/slurm/run.sh (sourced).
#
#   slurm_start DIR     writes DIR/slurm.conf for this host (its cores and memory, partition "debug"),
#                       starts munged, slurmctld and slurmd as root with their own key, socket, ports,
#                       pid files, state, spool and logs under DIR, and waits until the node is idle
#   slurm_stop          cancels every job, waits for them, stops the three daemons by their process ids
#   slurm_dump          prints the daemons' logs (for a failure)
#   job_field JOB KEY   one field of `scontrol show job` (JobState, Restarts, ExitCode, ...)
#   wait_job JOB SECS   waits until the job has ended (COMPLETED, FAILED, ...); prints the state
#   wait_for SECS CMD.. polls CMD every 0.5 s until it succeeds (status 1 on timeout)
#
# Nothing is installed here (tools/install-deps.sh installs slurmctld, slurmd, slurm-client and munge)
# and nothing outside DIR is touched: the daemons use free ports, not 6817/6818, and a munge socket of
# their own, so a SLURM or munge already running on the machine is neither used nor disturbed. The
# commands (sbatch, squeue, scontrol, ...) find the cluster through SLURM_CONF, which slurm_start exports.
#
# Pitfalls of SLURM in a container, as root, that the configuration below avoids:
# - no systemd and no cgroup delegation: ProctrackType=proctrack/linuxproc, TaskPlugin=task/none, and
#   no JobAcctGather/cgroup plugins;
# - the host name may not resolve: SlurmctldHost and NodeAddr are given as 127.0.0.1;
# - nproc or the memory seen in a container can differ from what slurmd detects, which would drain the
#   node: SlurmdParameters=config_overrides and RealMemory below what is there;
# - a node that was "down" on the last start comes back by itself: ReturnToService=2;
# - no accounting database: sacct does not work here, so the tests read `scontrol show job`, kept for
#   MinJobAge seconds after a job ends (its Restarts field counts requeues);
# - Debian's /etc/slurm/plugstack.conf is not ours: PlugStackConfig points to an empty file;
# - srun --mpi=pmix keeps its per-step directories under TmpFS (default /tmp): TmpFS is DIR/tmp;
# - a requeued job may start again only once the credentials of its last run have expired
#   (AuthInfo cred_expire, 120 s by default; it shows as Reason=BeginTime): 10 s here. Starting it
#   earlier by hand (scontrol update StartTime=now) gets it killed: "Job credential revoked".
# shellcheck shell=bash

SLURM_DIR=""
SLURM_PIDS=()   # munged slurmctld slurmd, in start order

wait_for() { # SECS CMD...: true once CMD succeeds, false after SECS seconds
  local end=$((SECONDS + $1)); shift
  until "$@"; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.5
  done
}

_free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

slurm_start() { # DIR
  local d=$1 host cpus mem p1 p2 t
  SLURM_DIR=$d
  mkdir -p "$d"/{munge,state,spool,log,run,tmp}
  chmod 700 "$d" "$d/munge"
  for t in munged mungekey slurmctld slurmd sbatch squeue scontrol sinfo scancel; do
    command -v "$t" >/dev/null || { echo "# slurm_start: $t is missing; run tools/install-deps.sh"; return 1; }
  done
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(awk '/^MemTotal:/ { print int($2 / 1024 * 0.8) }' /proc/meminfo)
  p1=$(_free_port); p2=$(_free_port)
  while [ "$p2" = "$p1" ]; do p2=$(_free_port); done

  # munge: a key of its own (made when missing), its own socket, seed, pid and log files
  [ -f "$d/munge/munge.key" ] || mungekey --create --keyfile="$d/munge/munge.key" || return 1
  chmod 400 "$d/munge/munge.key"
  munged --foreground --force --key-file="$d/munge/munge.key" --socket="$d/munge/munge.socket" \
    --pid-file="$d/munge/munged.pid" --log-file="$d/log/munged.log" --seed-file="$d/munge/munged.seed" \
    >>"$d/log/munged.out" 2>&1 &
  SLURM_PIDS+=($!)
  wait_for 20 test -S "$d/munge/munge.socket" || { echo "# munged did not start"; return 1; }

  : > "$d/plugstack.conf"
  cat > "$d/slurm.conf" <<CONF
# written by tests/slurm/cluster.sh: a one-node cluster on $host for the tests
ClusterName=flyfit-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$p1
SlurmdPort=$p2
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge/munge.socket,cred_expire=10
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
TmpFS=$d/tmp
SlurmctldPidFile=$d/run/slurmctld.pid
SlurmdPidFile=$d/run/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$d/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
JobRequeue=1
MinJobAge=3600
KillWait=10
InactiveLimit=0
SlurmdTimeout=300
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF=$d/slurm.conf
  # -D: in the foreground, so that $! is the daemon itself; -i: ignore unreadable state
  slurmctld -D -i -f "$SLURM_CONF" >>"$d/log/slurmctld.out" 2>&1 &
  SLURM_PIDS+=($!)
  wait_for 30 _ctld_up || { echo "# slurmctld did not answer"; return 1; }
  slurmd -D -f "$SLURM_CONF" -N "$host" >>"$d/log/slurmd.out" 2>&1 &
  SLURM_PIDS+=($!)
  wait_for 60 _node_idle || { echo "# the node did not become idle: $(sinfo -h -N -o '%N %T %E' 2>&1)"; return 1; }
}

_ctld_up() { scontrol ping 2>/dev/null | grep -q "is UP"; }
_node_idle() { [ "$(sinfo -h -N -o %T 2>/dev/null)" = idle ]; }

job_field() { # JOB KEY
  scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1
}

_job_ended() {
  case $(job_field "$1" JobState) in
    COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED) return 0 ;;
    *) return 1 ;;
  esac
}

wait_job() { # JOB SECS: prints the final state; status 1 on timeout
  wait_for "$2" _job_ended "$1" || { echo "TIMEOUT($(job_field "$1" JobState))"; return 1; }
  job_field "$1" JobState
}

slurm_dump() {
  local f
  [ -n "$SLURM_DIR" ] || return 0
  echo "# --- sinfo / squeue"
  { sinfo -N -l; squeue -l; } 2>&1 | sed 's/^/#   /'
  for f in "$SLURM_DIR"/log/*; do
    [ -s "$f" ] || continue
    echo "# --- $f (last 40 lines)"
    tail -40 "$f" | sed 's/^/#   /'
  done
}

slurm_stop() {
  local i pid jobs pids
  [ -n "$SLURM_DIR" ] || return 0
  if [ ${#SLURM_PIDS[@]} -ge 2 ] && kill -0 "${SLURM_PIDS[1]}" 2>/dev/null; then
    jobs=$(squeue -h -o %i 2>/dev/null)
    if [ -n "$jobs" ]; then
      # the processes of the running jobs (slurmd's list), should they outlive scancel
      pids=$(scontrol listpids 2>/dev/null | awk 'NR > 1 && $1 ~ /^[0-9]+$/ { print $1 }')
      # shellcheck disable=SC2086  # one argument per job
      scancel $jobs 2>/dev/null
      if ! wait_for 40 _no_jobs_running; then
        echo "# slurm_stop: jobs still running 40 s after scancel: $(squeue -h 2>&1 | xargs)"
        for pid in $pids; do _job_process "$pid" && kill -KILL "$pid" 2>/dev/null; done
      fi
    fi
  fi
  # slurmd, slurmctld, munged: SIGTERM, then SIGKILL after 15 s
  for ((i = ${#SLURM_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${SLURM_PIDS[i]}
    kill -TERM "$pid" 2>/dev/null || continue
    wait_for 15 _gone "$pid" || kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  SLURM_PIDS=()
  # slurmstepd and the jobs' processes are not our children (slurmstepd detaches): wait for the last
  # of them to end, and end what is left after 15 s
  if ! wait_for 15 _no_strays; then
    pids=$(_strays)
    echo "# slurm_stop: killing what is left of the jobs: ${pids//$'\n'/ }"
    # shellcheck disable=SC2086  # one argument per process
    kill -KILL $pids 2>/dev/null
  fi
}

# the processes of this cluster's jobs: slurmstepd, and what runs in a job (SLURM_JOB_ID), with
# SLURM_CONF=DIR/slurm.conf in their environment
_job_process() { # PID
  grep -qzxF "SLURM_CONF=$SLURM_DIR/slurm.conf" "/proc/$1/environ" 2>/dev/null || return 1
  [ "$(cat "/proc/$1/comm" 2>/dev/null)" = slurmstepd ] || grep -qz '^SLURM_JOB_ID=' "/proc/$1/environ" 2>/dev/null
}
_strays() {
  local e pid
  for e in /proc/[0-9]*/environ; do
    pid=${e#/proc/}; pid=${pid%/environ}
    if _job_process "$pid"; then echo "$pid"; fi
  done
}
_no_strays() { [ -z "$(_strays)" ]; }

_no_jobs_running() { [ -z "$(squeue -h -t R,CG,S -o %i 2>/dev/null)" ]; }

_gone() { # PID: ended (a zombie child counts as ended)
  kill -0 "$1" 2>/dev/null || return 0
  [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = Z ]
}
