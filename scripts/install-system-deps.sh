#!/usr/bin/env bash
# Installs the Debian packages ferry's tests and demo start for real: redis-server, OpenSSH's
# sshd, QEMU >= 9 (bookworm-backports: bookworm's 7.2 corrupts guest memory when migrating
# under TCG), a 32-bit gcc for the multiboot test guest, for the libvirt hosts in network
# namespaces libvirt >= 11 (bookworm-backports, matching QEMU 10), nftables and iproute2, and the
# OpenStack clients the Nova stand-in is checked against.
# Idempotent; needs root for apt. Ends by checking every tool the tests run.
set -euo pipefail

# major version of `$1 --version` (0 when missing)
major() { command -v "$1" >/dev/null && "$1" --version 2>/dev/null | grep -o '[0-9][0-9]*\.[0-9]' | head -1 | cut -d. -f1 || echo 0; }

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
# redis-cli builds the Redis Cluster of the HA tests (`redis-cli --cluster create`).
command -v redis-cli >/dev/null || missing+=(redis-tools)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh-keygen >/dev/null || missing+=(openssh-client)
# gcc -m32 needs the multilib runtime.
echo 'int main(void){return 0;}' | gcc -m32 -x c -o /dev/null - 2>/dev/null || missing+=(gcc-multilib)
{ command -v ip >/dev/null && command -v tc >/dev/null; } || missing+=(iproute2)
command -v nft >/dev/null || missing+=(nftables)
# --- OpenStack clients (Nova stand-in conformance, test/engine/drivers/nova/clients.test.ts) ---
# Debian's openstacksdk and novaclient, imported by Debian's own interpreter: the python3 first
# on PATH may be another one that cannot import Debian's packages.
/usr/bin/python3 -c 'import openstack, novaclient' 2>/dev/null || missing+=(python3-openstacksdk python3-novaclient)
# --- end OpenStack clients ---

backports=()
[ "$(major qemu-system-x86_64)" -ge 9 ] || backports+=(qemu-system-x86)
# The QEMU driver module is a package of its own; without it libvirtd knows no qemu:/// URI.
if [ "$(major libvirtd)" -lt 11 ] || ! command -v virsh >/dev/null || ! command -v virtlogd >/dev/null ||
  ! compgen -G '/usr/lib/*/libvirt/connection-driver/libvirt_driver_qemu.so' >/dev/null; then
  backports+=(libvirt-daemon-system libvirt-clients libvirt-daemon-driver-qemu)
fi

if [ ${#missing[@]} -gt 0 ] || [ ${#backports[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "ferry needs these Debian packages: ${missing[*]} ${backports[*]:+${backports[*]} (from bookworm-backports)}" >&2
    echo "Install them as root: sudo bash scripts/install-system-deps.sh" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [ ${#backports[@]} -gt 0 ] && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    cat > /etc/apt/sources.list.d/ferry-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if [ ${#backports[@]} -gt 0 ]; then
    # libvirt with its recommends, as measured (../shared/libvirt-namespaces.md); nothing starts
    # without systemd, and the tests never use the root namespace's libvirtd.
    apt-get install -y -qq -t bookworm-backports "${backports[@]}" >/dev/null
  fi
fi

# Every tool the tests run, present and new enough.
failed=0
check() { # name condition...
  local name=$1; shift
  if ! "$@" >/dev/null 2>&1; then echo "ferry: $name is missing or too old after install" >&2; failed=1; fi
}
check redis-server command -v redis-server
check sshd test -x /usr/sbin/sshd
check ssh-keygen command -v ssh-keygen
check 'gcc -m32' sh -c "echo 'int main(void){return 0;}' | gcc -m32 -x c -o /dev/null -"
check 'qemu-system-x86_64 >= 9' test "$(major qemu-system-x86_64)" -ge 9
check 'libvirtd >= 11' test "$(major libvirtd)" -ge 11
check virtlogd command -v virtlogd
check virsh virsh --version
check 'libvirt QEMU driver' compgen -G '/usr/lib/*/libvirt/connection-driver/libvirt_driver_qemu.so'
check nft nft --version
check ip ip -V
check tc command -v tc
for tool in nsenter unshare setsid taskset timeout; do check "$tool" command -v "$tool"; done
exit $failed
