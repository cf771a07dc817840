#!/usr/bin/env bash
# Installs the Debian packages ferry's tests and demo start for real: redis-server, OpenSSH's
# sshd, QEMU >= 9 (bookworm-backports: bookworm's 7.2 corrupts guest memory when migrating
# under TCG), a 32-bit gcc for the multiboot test guest, and the OpenStack clients the Nova
# stand-in is checked against. Idempotent; needs root for apt.
set -euo pipefail

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh-keygen >/dev/null || missing+=(openssh-client)
# gcc -m32 needs the multilib runtime.
echo 'int main(void){return 0;}' | gcc -m32 -x c -o /dev/null - 2>/dev/null || missing+=(gcc-multilib)

# --- OpenStack clients (Nova stand-in conformance, test/engine/drivers/nova/clients.test.ts) ---
# Debian's openstacksdk and novaclient, imported by Debian's own interpreter: the python3 first
# on PATH may be another one that cannot import Debian's packages.
/usr/bin/python3 -c 'import openstack, novaclient' 2>/dev/null || missing+=(python3-openstacksdk python3-novaclient)
# --- end OpenStack clients ---

qemu_ok=0
if command -v qemu-system-x86_64 >/dev/null; then
  major=$(qemu-system-x86_64 --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p' | head -1)
  [ "${major:-0}" -ge 9 ] && qemu_ok=1
fi

if [ ${#missing[@]} -eq 0 ] && [ $qemu_ok -eq 1 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "ferry needs these Debian packages: ${missing[*]} $([ $qemu_ok -eq 0 ] && echo 'qemu-system-x86 (>= 9, from bookworm-backports)')" >&2
  echo "Install them as root: sudo bash scripts/install-system-deps.sh" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if [ $qemu_ok -eq 0 ] && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
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
if [ $qemu_ok -eq 0 ]; then
  apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-system-x86 >/dev/null
fi
