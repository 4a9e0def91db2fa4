#!/usr/bin/env bash
# Start a one-node Slurm cluster on this machine (for tests/test_workflow.py and CI).
#
# Installs Debian's slurm-wlm and munge when they are missing (needs root and apt), writes
# /etc/slurm/slurm.conf for a single node on localhost, starts munged, slurmctld and slurmd, and
# waits until `sinfo` reports the node idle.  Idempotent: a cluster that is already up is left alone.
#
# Choices:
#  - proctrack/linuxproc and task/none: no cgroups needed (containers);
#  - select/cons_tres with CR_CPU: several small jobs share the node;
#  - accounting_storage/none: no slurmdbd.  Then `sacct` cannot report jobs, so the Snakemake profile
#    sets `slurm-status-command: squeue`; MinJobAge stays at its default (300 s) so that squeue still
#    shows finished jobs long enough for Snakemake to see their final state;
#  - the config lives at /etc/slurm/slurm.conf because the executor plugin's job step drops SLURM_CONF.
#
# Usage: sudo bash .ci/slurm-setup.sh      (environment: SLURM_SETUP_TIMEOUT=60 seconds to wait for idle)
set -euo pipefail

TIMEOUT=${SLURM_SETUP_TIMEOUT:-60}
CONF=/etc/slurm/slurm.conf

log() { echo "[slurm-setup] $*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "[slurm-setup] must run as root (apt-get, /etc/slurm, daemons)" >&2
  exit 1
fi

node_idle() { sinfo -h -N -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; }

if command -v sinfo >/dev/null 2>&1 && [ -f "$CONF" ] && node_idle; then
  log "cluster already up:"; sinfo
  exit 0
fi

# 1. Packages -----------------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null 2>&1 || ! command -v slurmd >/dev/null 2>&1 \
   || ! command -v sbatch >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  log "installing slurm-wlm and munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurm-wlm slurm-client munge >/dev/null
fi

# 2. Munge --------------------------------------------------------------------------------------
mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
if [ ! -s /etc/munge/munge.key ]; then
  log "creating /etc/munge/munge.key"
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 0700 /etc/munge /var/lib/munge /var/log/munge
chmod 0755 /run/munge
chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "starting munged"
  if id munge >/dev/null 2>&1; then
    su -s /bin/sh munge -c "/usr/sbin/munged" || /usr/sbin/munged --force
  else
    /usr/sbin/munged --force
  fi
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
fi
munge -n | unmunge >/dev/null || { echo "[slurm-setup] munge does not work" >&2; exit 1; }

# 3. slurm.conf ---------------------------------------------------------------------------------
HOST=$(hostname -s)
NODELINE=$(slurmd -C | head -n 1)   # NodeName=<host> CPUs=… Boards=… SocketsPerBoard=… CoresPerSocket=… ThreadsPerCore=… RealMemory=…
case "$NODELINE" in NodeName=*) ;; *) echo "[slurm-setup] unexpected 'slurmd -C' output: $NODELINE" >&2; exit 1;; esac
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat > "$CONF" <<CONFEOF
# Written by .ci/slurm-setup.sh: one-node test cluster on localhost.
ClusterName=scoregap
SlurmctldHost=${HOST}(127.0.0.1)
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
SchedulerType=sched/backfill
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=/var/spool/slurmd
StateSaveLocation=/var/spool/slurmctld
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# MinJobAge left at its default (300 s): squeue must still list finished jobs when Snakemake polls.
${NODELINE} NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONFEOF
log "wrote $CONF (node: $NODELINE)"

# 4. Daemons ------------------------------------------------------------------------------------
if ! pgrep -x slurmctld >/dev/null; then
  log "starting slurmctld"
  /usr/sbin/slurmctld
fi
if ! pgrep -x slurmd >/dev/null; then
  log "starting slurmd"
  /usr/sbin/slurmd
fi

for i in $(seq $((TIMEOUT * 2))); do
  if node_idle; then
    log "node up after ~$((i / 2)) s:"; sinfo
    exit 0
  fi
  # a node left DOWN from an earlier run comes back with ReturnToService=2; nudge it anyway
  if [ "$i" -eq 10 ]; then scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true; fi
  sleep 0.5
done
echo "[slurm-setup] the node did not become idle within ${TIMEOUT} s" >&2
sinfo -N -l >&2 || true
tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 1
