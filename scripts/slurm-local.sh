#!/usr/bin/env bash
# A real one-node Slurm on 127.0.0.1 for the tests (tests/slurm.rs) and for trying
# `cgan sweep --slurm` on a machine without a cluster.
#
#   scripts/slurm-local.sh start DIR   installs Debian's slurmctld, slurmd, slurm-client and
#                                      munge if missing (needs root), writes every file under
#                                      DIR, starts munged, slurmctld and slurmd, waits for the
#                                      node to be idle, and prints `export SLURM_CONF=...`
#   scripts/slurm-local.sh stop DIR    stops the three daemons by the PIDs `start` recorded
#   scripts/slurm-local.sh run CMD...  start in a temporary directory, run CMD with SLURM_CONF
#                                      set, stop again (also when CMD fails); CMD's exit status
#
# Ports: SLURM_LOCAL_PORT (default 16817) and the next one.
set -euo pipefail

install_if_missing() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null &&
        command -v munged >/dev/null && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "slurm-local: slurmctld/slurmd/sbatch/munged missing and not root: apt-get install slurmctld slurmd slurm-client munge" >&2
        exit 1
    fi
    echo "slurm-local: installing slurmctld slurmd slurm-client munge" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        slurmctld slurmd slurm-client munge >/dev/null ||
        { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null; }
}

start() {
    local dir="$1" port="${SLURM_LOCAL_PORT:-16817}"
    install_if_missing
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    # munged refuses a socket whose directory (or any above it) is not world-searchable.
    chmod 755 "$dir"
    mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
    chmod 755 "$dir/munge"
    local cpus mem
    cpus="$(nproc)"
    mem="$(awk '/MemTotal/ { printf "%d", $2 / 1024 - 512 }' /proc/meminfo)"
    [ -f "$dir/munge/key" ] || mungekey -c -k "$dir/munge/key" 2>/dev/null || mungekey -c -f -k "$dir/munge/key"
    chmod 600 "$dir/munge/key"
    cat > "$dir/slurm.conf" <<EOF
ClusterName=cgan-local
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=600
MailProg=/bin/true
SchedulerParameters=sched_interval=1
NodeName=cgan-node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=cgan-node Default=YES MaxTime=INFINITE State=UP
EOF
    munged -F --socket="$dir/munge/socket" --key-file="$dir/munge/key" --pid-file="$dir/munge/pid" \
        --log-file="$dir/log/munged.log" --seed-file="$dir/munge/seed" >/dev/null 2>&1 &
    echo $! > "$dir/munged.pids"
    for _ in $(seq 50); do [ -S "$dir/munge/socket" ] && break; sleep 0.1; done
    export SLURM_CONF="$dir/slurm.conf"
    slurmctld -D -i -f "$SLURM_CONF" >>"$dir/log/slurmctld.out" 2>&1 &
    echo $! > "$dir/slurmctld.pids"
    slurmd -D -N cgan-node -f "$SLURM_CONF" >>"$dir/log/slurmd.out" 2>&1 &
    echo $! > "$dir/slurmd.pids"
    for _ in $(seq 150); do
        if [ "$(sinfo -h -N -o %t 2>/dev/null)" = idle ]; then
            echo "export SLURM_CONF=$SLURM_CONF"
            return 0
        fi
        sleep 0.2
    done
    echo "slurm-local: the node did not come up within 30 s; logs in $dir/log" >&2
    stop "$dir"
    return 1
}

stop() {
    local dir="$1" pid
    for daemon in slurmd slurmctld munged; do
        [ -f "$dir/$daemon.pids" ] || continue
        pid="$(cat "$dir/$daemon.pids")"
        if kill -TERM "$pid" 2>/dev/null; then
            for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$dir/$daemon.pids"
    done
}

case "${1:-}" in
    start) start "${2:?usage: slurm-local.sh start DIR}" ;;
    stop) stop "${2:?usage: slurm-local.sh stop DIR}" ;;
    run)
        shift
        dir="$(mktemp -d /tmp/cgan-slurm.XXXXXX)"
        trap 'stop "$dir"; rm -rf "$dir"' EXIT
        eval "$(start "$dir")"
        status=0
        "$@" || status=$?
        exit "$status"
        ;;
    *) echo "usage: slurm-local.sh start DIR | stop DIR | run CMD..." >&2; exit 2 ;;
esac
