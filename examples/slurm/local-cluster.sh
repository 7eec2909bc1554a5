#!/usr/bin/env bash
# A one-node SLURM on this machine (slurmctld + slurmd + munged), to try evaluate.sbatch without a cluster.
#
#   sudo examples/slurm/local-cluster.sh          # install (apt-get), configure, start; a second run is harmless
#   sudo examples/slurm/local-cluster.sh stop     # stop the three daemons (the packages stay)
#   examples/slurm/local-cluster.sh status        # exit 0 when a SLURM node (of PARTITION, if set) takes jobs
#
# Debian/Ubuntu (apt-get), as root. The node is this machine (CPUs and memory as `slurmd -C` reads
# them), in one partition, PARTITION (default `local`). No accounting database, no cgroups: process
# tracking by parent/child (proctrack/linuxproc), which is why evaluate.sbatch stops Ray itself.
set -euo pipefail

ASKED_PARTITION=${PARTITION:-}
PARTITION=${PARTITION:-local}
CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
MUNGE_KEY=/etc/munge/munge.key
STATE=/var/lib/slurm
LOGS=/var/log/slurm

say() { echo "local-cluster: $*" >&2; }
die() { say "error: $*"; exit 1; }

running() {  # running PIDFILE: the daemon named by its pid file is alive
    [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

stop_daemon() {  # stop_daemon NAME PIDFILE: TERM, then wait up to 20 s (then KILL)
    local pidfile=$2 pid i
    running "$pidfile" || return 0
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for i in $(seq 40); do kill -0 "$pid" 2>/dev/null || { say "$1 stopped"; return 0; }; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null || true
    say "$1 killed (did not stop within 20 s)"
}

stop_all() {
    stop_daemon slurmd /run/slurmd.pid
    stop_daemon slurmctld /run/slurmctld.pid
    stop_daemon munged /run/munge/munged.pid
}

node_ready() {  # a node of the partition (any partition, for `status` without PARTITION) takes jobs
    command -v sinfo >/dev/null || return 1
    local states
    states=$(timeout 10 sinfo -h ${1:+-p "$1"} -o '%T' 2>/dev/null) || return 1
    grep -qE '^(idle|mixed|allocated|completing)' <<<"$states"
}

install_packages() {
    if command -v sbatch >/dev/null && [[ -x /usr/sbin/slurmctld && -x /usr/sbin/slurmd && -x /usr/sbin/munged ]]; then
        return 0
    fi
    command -v apt-get >/dev/null || die "slurm-wlm and munge are not installed and there is no apt-get to install them"
    say "installing slurm-wlm and munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq slurm-wlm munge >&2
}

munge_key() {  # a 1 KiB key readable by munge only; a new key means munged must restart
    if [[ -f $MUNGE_KEY && $(stat -c %s "$MUNGE_KEY") == 1024 && $(stat -c %U "$MUNGE_KEY") == munge ]]; then
        return 1
    fi
    say "writing a new 1 KiB munge key"
    install -d -o munge -g munge -m 0700 /etc/munge
    (umask 077; dd if=/dev/urandom of="$MUNGE_KEY.new" bs=1024 count=1 status=none)
    chown munge:munge "$MUNGE_KEY.new"
    chmod 0400 "$MUNGE_KEY.new"
    mv -f "$MUNGE_KEY.new" "$MUNGE_KEY"
}

write_conf() {  # slurm.conf for this machine; returns 1 when the file was already exactly this
    local host node new
    host=$(hostname -s)
    # Loopback addresses: the daemons find each other even where the host name does not resolve.
    # slurmd -C prints this machine's node line (CPUs, sockets, cores, RealMemory) as slurmd will report it.
    node=$(/usr/sbin/slurmd -C | head -1)
    [[ $node == NodeName=* ]] || die "slurmd -C did not describe this node: $node"
    new=$(cat <<EOF
# Written by vots-tracker examples/slurm/local-cluster.sh: a one-node cluster on $host.
ClusterName=vots-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
KillWait=10
MinJobAge=600
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
)
    if [[ -f $CONF ]] && [[ $(cat "$CONF") == "$new" ]]; then
        return 1
    fi
    say "writing $CONF"
    install -d -m 0755 "$CONF_DIR"
    printf '%s\n' "$new" > "$CONF.new"
    mv -f "$CONF.new" "$CONF"
}

start_all() {
    [[ $(id -u) == 0 ]] || die "run as root (it installs packages and starts slurmctld, slurmd and munged)"
    install_packages
    local changed=0
    munge_key && { stop_all; changed=1; }
    if write_conf; then stop_daemon slurmd /run/slurmd.pid; stop_daemon slurmctld /run/slurmctld.pid; changed=1; fi
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
    install -d -o slurm -g slurm -m 0755 "$STATE" "$STATE/slurmctld" "$STATE/slurmd" "$LOGS"
    if ! running /run/munge/munged.pid; then
        say "starting munged"
        runuser -u munge -- /usr/sbin/munged
    fi
    if ! running /run/slurmctld.pid; then
        say "starting slurmctld"
        /usr/sbin/slurmctld
    fi
    if ! running /run/slurmd.pid; then
        say "starting slurmd"
        /usr/sbin/slurmd
    fi
    local i
    for i in $(seq 60); do
        if node_ready "$PARTITION"; then
            say "up: partition $PARTITION on $(hostname -s) ($(sinfo -h -p "$PARTITION" -o '%c CPUs, %m MB, %T'))"
            return 0
        fi
        # A node left down or drained by an earlier run (e.g. a killed slurmd) is put back in service.
        if (( i % 10 == 5 )); then scontrol update NodeName="$(hostname -s)" State=RESUME 2>/dev/null || true; fi
        sleep 1
    done
    die "the node did not become ready within 60 s; see $LOGS/slurmctld.log and $LOGS/slurmd.log (changed=$changed)"
}

case ${1:-start} in
    start) start_all ;;
    stop) [[ $(id -u) == 0 ]] || die "run as root"; stop_all ;;
    status) node_ready "$ASKED_PARTITION" ;;
    *) die "unknown mode '$1' (use: start, stop, status)" ;;
esac
