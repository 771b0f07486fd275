#!/bin/busybox sh
# PID 1 of the test guest. Mounts the host's root read-only over 9p, chroots
# into it (so the guest runs the host's node, node_modules and checkout), runs
# the topology's setup and then the test's command, and writes the command's
# stdout, stderr and status to the scratch share before powering off.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /host /scratch
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
opts=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o "$opts,ro,cache=loose" host /host || { echo "init: cannot mount host root"; poweroff -f; }
mount -t 9p -o "$opts" scratch /scratch || { echo "init: cannot mount scratch"; poweroff -f; }

for d in proc sys dev; do mount --rbind /$d /host/$d; done
mount -t debugfs debugfs /host/sys/kernel/debug 2>/dev/null
mount -t tmpfs -o mode=0755 tmpfs /host/run
mkdir -p /host/run/scratch /host/run/share /host/run/home
mkdir -m 1777 /host/run/tmp
mount --bind /scratch /host/run/scratch
mount -t 9p -o "$opts" share /host/run/share 2>/dev/null

cd /host
env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/run/home TMPDIR=/run/tmp \
  IOMMUCTL_IN_GUEST=1 NO_COLOR=1 \
  chroot /host /bin/sh -c '
    [ -f /run/scratch/setup.sh ] && { sh -e /run/scratch/setup.sh >/run/scratch/setup.log 2>&1 || { echo "guest setup failed: $(cat /run/scratch/setup.log)" >&2; exit 125; }; }
    cd "$(cat /run/scratch/cwd)" && sh /run/scratch/command.sh
  ' >/scratch/stdout 2>/scratch/stderr
echo $? >/scratch/status
sync
poweroff -f
