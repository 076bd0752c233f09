#!/usr/bin/env bash
# Install and start a one-node Slurm cluster on localhost (Debian, run as root).
# Usage: .ci/slurm-setup.sh [--check]
#   --check  after setup, run a 4-task sbatch array and verify its outputs.
# Idempotent: if munged/slurmctld/slurmd already run and the node is up it only
# prints the "slurm ready" line (and runs the check if asked).
set -euo pipefail

CONF=/etc/slurm/slurm.conf            # where Debian's slurm 22.05 looks
LOG=/tmp/slurm-setup-apt.log
NODE=$(hostname -s)
CPUS=$(nproc)

running() { pgrep -x "$1" >/dev/null 2>&1; }
# timeout: sinfo retries for a long time while slurmctld is not answering yet.
node_state() { timeout 5 sinfo -h -o %t 2>/dev/null | head -n1 || true; }
# "Up" = responding and usable; mix/alloc/comp just mean jobs are running.
node_up() { case "$(node_state)" in idle|mix|alloc|comp) return 0 ;; *) return 1 ;; esac; }
ready() { running munged && running slurmctld && running slurmd && node_up; }
fail() {
  echo "slurm-setup: $*" >&2
  for f in /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log; do
    echo "==== $f" >&2; tail -n 40 "$f" >&2 || true
  done
  exit 1
}

install_pkgs() {
  export DEBIAN_FRONTEND=noninteractive
  # Keep postinst from starting munge/slurm through /etc/init.d (Docker images
  # ship this file; a bare VM may not): we start the daemons ourselves below.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -q >"$LOG" 2>&1 || true   # a broken third-party repo is not fatal
  if ! apt-get install -y -q --no-install-recommends slurm-wlm munge procps >>"$LOG" 2>&1; then
    cat "$LOG" >&2; echo "slurm-setup: apt-get install failed" >&2; exit 1
  fi
}

setup() {
  # procps: pgrep, which minimal Debian images lack.
  for b in slurmctld slurmd munged sinfo pgrep; do command -v $b >/dev/null || { install_pkgs; break; }; done

  # Munge: key (munge's postinst usually made one already), socket dir (no
  # systemd-tmpfiles in a container), daemon as the munge user.
  [ -s /etc/munge/munge.key ] || mungekey -c -k /etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
  running munged || runuser -u munge -- munged || fail "munged did not start"

  # slurm.conf. No cgroup.conf on purpose: proctrack/linuxproc + task/none
  # need no cgroups, and 22.05's slurmd refuses "CgroupPlugin=disabled".
  # 127.0.0.1 addresses avoid relying on the container's hostname resolving.
  # RealMemory is a safe lower bound (more than the real RAM drains the node).
  # No slurmdbd, so `sacct` has no data: finished tasks stay visible in
  # `squeue -t all`/`scontrol show job` for MinJobAge s, and jobcomp/filetxt
  # appends one line per finished job/array task (with its final state).
  # batch_sched_delay=0: start array tasks at once instead of up to 3 s later
  # (a small array takes ~1.5 s instead of ~3.5 s from sbatch to done).
  mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
  cat >"$CONF" <<EOF
ClusterName=ci
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MinJobAge=600
SchedulerParameters=batch_sched_delay=0
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

  # No systemd: start the daemons directly (each daemonizes itself).
  running slurmctld || slurmctld || fail "slurmctld did not start"
  running slurmd || slurmd || fail "slurmd did not start"

  # Wait for the node to register; resume it if an earlier run left it down.
  local deadline=$((SECONDS + 60))
  while [ $SECONDS -lt $deadline ]; do
    node_up && return 0
    case "$(node_state)" in
      down|drain|drng) scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 1
  done
  fail "node not up after 60 s (state: '$(node_state)')"
}

check() {
  rm -f /tmp/slurm-check-[0-3]
  local id
  # shellcheck disable=SC2016  # $SLURM_ARRAY_TASK_ID expands inside the job
  id=$(sbatch --parsable --array=0-3 --output=/dev/null \
         --wrap 'echo $SLURM_ARRAY_TASK_ID > /tmp/slurm-check-$SLURM_ARRAY_TASK_ID')
  local deadline=$((SECONDS + 60))
  while [ $SECONDS -lt $deadline ] && [ -n "$(squeue -h -j "$id" 2>/dev/null)" ]; do
    sleep 1
  done
  if [ -n "$(squeue -h -j "$id" 2>/dev/null)" ]; then
    echo "slurm-setup --check: job $id still queued after 60 s" >&2
    squeue -j "$id" >&2; scancel "$id" || true; exit 1
  fi
  for i in 0 1 2 3; do
    if [ "$(cat /tmp/slurm-check-$i 2>/dev/null)" != "$i" ]; then
      echo "slurm-setup --check: task $i of job $id wrote no/wrong output" >&2
      squeue -t all -j "$id" -o '%i %T %r' >&2 || true; exit 1
    fi
  done
  rm -f /tmp/slurm-check-[0-3]
  echo "slurm check ok: array job $id, 4 tasks"
}

ready || setup
echo "slurm ready: $(sinfo -V | awk '{print $2}') node $NODE cpus $(sinfo -h -o %c | head -n1)"
if [ "${1:-}" = --check ]; then check; fi
