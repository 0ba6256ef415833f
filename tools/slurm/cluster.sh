#!/usr/bin/env bash
# A one-node Slurm on this machine, for the Slurm tests (docs/slurm.md): Debian 12's slurmctld, slurmd and munge,
# run as root without systemd or cgroups, state and logs under $ARTAR_SLURM_DIR (default /tmp/artar-slurm).
#   cluster.sh install   apt-get the packages (skipped when they are there)
#   cluster.sh start     fresh munge key, slurm.conf for one node with nproc CPUs, daemons up, node idle
#   cluster.sh stop      stop the daemons this script started
#   cluster.sh status    one line: up (sinfo's view of the node) or down, with the reason
# Each command prints one line on success; on failure it prints what went wrong and exits 1.
set -uo pipefail
DIR="${ARTAR_SLURM_DIR:-/tmp/artar-slurm}"
# Clients (sinfo, sbatch, squeue, scontrol) read /etc/slurm/slurm.conf, so the generated file is put there.
CONF=/etc/slurm/slurm.conf
NODE=localhost

die() { echo "cluster.sh $1: $2"; exit 1; }

install() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && command -v sbatch >/dev/null; then
    echo "slurm: installed ($(slurmctld -V 2>/dev/null))"; return 0
  fi
  [ "$(id -u)" -eq 0 ] || die install "needs root (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  # A clean image has no package lists; one update is enough.
  if ! apt-cache policy slurmctld 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    apt-get update -qq >"/tmp/artar-slurm-apt.log" 2>&1 || die install "apt-get update failed (see /tmp/artar-slurm-apt.log)"
  fi
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >>"/tmp/artar-slurm-apt.log" 2>&1 \
    || die install "apt-get install slurmctld slurmd slurm-client munge failed (see /tmp/artar-slurm-apt.log)"
  echo "slurm: installed ($(slurmctld -V 2>/dev/null))"
}

write_conf() {
  local cpus; cpus=$(nproc)
  mkdir -p /etc/slurm "$DIR/state" "$DIR/spool" "$DIR/log"
  cat >"$CONF" <<EOF
# Written by tools/slurm/cluster.sh start: one node on localhost, root, no cgroups.
ClusterName=artar
SlurmctldHost=$NODE
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# scontrol requeue and --requeue need this; a requeued task starts again from the top of its batch script.
JobRequeue=1
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
# How long a job has between SIGTERM and SIGKILL when it is cancelled or reaches its time limit.
KillWait=30
MinJobAge=300
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
  mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
  if [ -f /run/munge/munged.pid ] && kill -0 "$(cat /run/munge/munged.pid)" 2>/dev/null; then
    kill "$(cat /run/munge/munged.pid)"; sleep 1
  fi
  # A fresh key each start: nothing outside this machine shares it.
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
  chmod 0400 /etc/munge/munge.key
  chmod 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged --force >"$DIR/log/munged.out" 2>&1 || die start "munged did not start: $(tail -1 "$DIR/log/munged.out")"
  munge -n | unmunge >/dev/null 2>&1 || die start "munge does not work (munge -n | unmunge failed)"
}

stop() {
  local name pid
  for name in slurmd slurmctld; do
    if [ -f "$DIR/$name.pid" ]; then
      pid=$(cat "$DIR/$name.pid")
      kill "$pid" 2>/dev/null
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      rm -f "$DIR/$name.pid"
    fi
  done
  if [ -f /run/munge/munged.pid ]; then kill "$(cat /run/munge/munged.pid)" 2>/dev/null; fi
  echo "slurm: stopped"
}

start() {
  command -v slurmctld >/dev/null || die start "slurmctld is not installed (run: tools/slurm/cluster.sh install)"
  [ "$(id -u)" -eq 0 ] || die start "needs root (SlurmUser=root)"
  stop >/dev/null
  rm -rf "$DIR/state" "$DIR/spool"
  write_conf
  start_munge
  # -c: start clean (no jobs from an earlier cluster); -N: this node's name, whatever the hostname is.
  slurmctld -c >"$DIR/log/slurmctld.out" 2>&1 || die start "slurmctld did not start: $(tail -1 "$DIR/log/slurmctld.log" 2>/dev/null)"
  slurmd -N "$NODE" >"$DIR/log/slurmd.out" 2>&1 || die start "slurmd did not start: $(tail -1 "$DIR/log/slurmd.log" 2>/dev/null)"
  local state=""
  for _ in $(seq 60); do
    state=$(sinfo -h -n "$NODE" -o %t 2>/dev/null | head -1)
    [ "$state" = idle ] && break
    sleep 1
  done
  [ "$state" = idle ] || die start "the node is not idle after 60 s (sinfo: '${state}'); see $DIR/log/"
  echo "slurm: up, node $NODE idle with $(nproc) CPUs, partition debug (logs in $DIR/log)"
}

status() {
  if ! command -v sinfo >/dev/null; then echo "slurm: down (sinfo is not installed)"; return 1; fi
  local line; line=$(sinfo -h -o '%P %t %c' 2>&1 | head -1)
  if sinfo -h >/dev/null 2>&1; then echo "slurm: up ($line)"; else echo "slurm: down ($line)"; return 1; fi
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: tools/slurm/cluster.sh install|start|stop|status"; exit 2 ;;
esac
