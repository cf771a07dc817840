#!/bin/bash
# One hypervisor "host" of the test topology. Runs as:
#   ip netns exec NETNS unshare --uts --mount --propagation private -- host-init.sh NAME DIR CACHE
# so its hostname and mounts are its own; every daemon it starts inherits its network namespace.
# It makes the host's private /run and libvirt trees, starts virtlogd, libvirtd and sshd, writes
# its pid to DIR/holder.pid once they are started, and then holds the namespaces open. Nothing
# outside the namespaces is changed: the mounts vanish with the last process that uses them.
set -euo pipefail
name=$1 dir=$2 cache=$3

hostname "$name"
# A private /run: libvirt's sockets and pid files, sshd's privilege separation directory.
mount -t tmpfs -o mode=755,size=64m "ferry-run-$name" /run
mkdir -p /run/sshd /run/lock /run/ferry
mount --bind "$dir/etc-libvirt" /etc/libvirt
mount --bind "$dir/var-lib-libvirt" /var/lib/libvirt
mount --bind "$dir/var-log-libvirt" /var/log/libvirt
# QEMU's capabilities, probed once per machine (8-16 s) and shared by every host and run.
mount --bind "$cache" /var/cache/libvirt
mount --bind "$dir/hosts" /etc/hosts
mount --bind "$dir/hostname" /etc/hostname
# The ssh that libvirtd itself runs for a peer-to-peer migration reads the system-wide config;
# a user config would take precedence, so an existing one is hidden.
mount --bind "$dir/ssh_config" /etc/ssh/ssh_config
if [ -d /root/.ssh ]; then mount -t tmpfs -o mode=700,size=1m "ferry-ssh-$name" /root/.ssh; fi
# A hypervisor's root does not run the build machine's shell start-up (pyenv, cargo, ...): every
# command ferry runs over SSH would pay for it.
for rc in .bashrc .profile .bash_profile .bash_login; do
  if [ -f "/root/$rc" ]; then mount --bind /dev/null "/root/$rc"; fi
done
ip link set lo up

virtlogd -d -p /run/virtlogd.pid
# Pinned to one core: libvirt caches QEMU's capabilities under the host CPUID it saw, and CPUID
# leaf 0x1f (the x2APIC id) differs per core, so an unpinned libvirtd re-probes (8-16 s) whenever
# it starts on the other core. QEMU is not affected: libvirt gives each QEMU every CPU.
taskset -c 0 libvirtd -d -p /run/libvirtd.pid
/usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"
echo $$ > "$dir/holder.pid"
exec sleep infinity
