#!/usr/bin/env bash
# Builds local stand-ins for the base images that Dockerfile and docker-compose.yml name (no
# container registry is reachable from this machine kind), under exactly those names:
#   debian:bookworm-slim   debootstrap --variant=minbase bookworm, imported
#   rust:1.95-bookworm     that + gcc + the host's Rust toolchain + the sandbox's TLS CA
#   postgres:15-bookworm   that + Debian's postgresql-15 + a POSTGRES_* entrypoint
#   haproxy:2.6-bookworm   that + Debian's haproxy 2.6
# Each image carries the hash of its recipe (this recipe's files, its parent's image id and
# its inputs) as the label crm.standin.recipe; an image whose label matches is kept, so a
# warm run builds nothing. Needs podman (and CONTAINERS_CONF from run.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="$here/standins"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

# The names, as the project's files use them (run.sh checks that they still do).
DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim
RUST_IMAGE=docker.io/library/rust:1.95-bookworm
POSTGRES_IMAGE=docker.io/library/postgres:15-bookworm
HAPROXY_IMAGE=docker.io/library/haproxy:2.6-bookworm

label() { podman image inspect --format '{{index .Labels "crm.standin.recipe"}}' "$1" 2>/dev/null || true; }
image_id() { podman image inspect --format '{{.Id}}' "$1"; }
hash() { sha256sum | cut -c1-16; }
# The image a rebuilt stand-in replaced, unless something still uses it (then podman refuses).
drop_old() { [ -n "$1" ] && podman rmi "$1" >/dev/null 2>&1 || true; }
t() { local s=$SECONDS; "$@"; printf '   stand-in %s: %ss\n' "$2" $(( SECONDS - s )); }

build_debian() {
  local name=$1 recipe
  recipe=$( { declare -f build_debian; echo "$MIRROR"; } | hash)
  if [ "$(label "$name")" = "$recipe" ]; then echo "   $name: cached ($recipe)"; return; fi
  local root; root="$(mktemp -d /var/tmp/standin-debian.XXXXXX)"
  debootstrap --variant=minbase bookworm "$root" "$MIRROR" > "$root.log" 2>&1 \
    || { tail -n 30 "$root.log"; rm -rf "$root" "$root.log"; return 1; }
  cat > "$root/etc/apt/sources.list" <<SRC
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SRC
  # As in the official slim image: no recommends, no package lists, no caches.
  printf 'APT::Install-Recommends "false";\n' > "$root/etc/apt/apt.conf.d/01norecommends"
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* \
         "$root"/usr/share/man/* "$root"/var/log/*.log
  local old; old=$(podman image inspect --format '{{.Id}}' "$name" 2>/dev/null || true)
  tar --numeric-owner -C "$root" -c . \
    | podman import --change 'CMD ["bash"]' --change "LABEL crm.standin.recipe=$recipe" - "$name" >/dev/null 2>&1
  rm -rf "$root" "$root.log"
  drop_old "$old"
  echo "   $name: built ($recipe)"
}

# build_from NAME CONTAINERFILE PARENT EXTRA_HASH_INPUT [podman build args...]
build_from() {
  local name=$1 file=$2 parent=$3 extra=$4; shift 4
  local recipe
  recipe=$( { cat "$dir/$file"; cat "$dir"/*.sh; image_id "$parent"; echo "$extra"; } | hash)
  if [ "$(label "$name")" = "$recipe" ]; then echo "   $name: cached ($recipe)"; return; fi
  local old; old=$(podman image inspect --format '{{.Id}}' "$name" 2>/dev/null || true)
  podman build --quiet --pull=never --format docker --label "crm.standin.recipe=$recipe" \
    --ulimit "nofile=$NOFILE:$NOFILE" --ulimit "nproc=$NPROC:$NPROC" \
    -t "$name" -f "$dir/$file" "$@" "$dir" >/dev/null
  drop_old "$old"
  echo "   $name: built ($recipe)"
}

# nofile/nproc at or below the host's hard limits: buildah's defaults are above them here, and
# runc may not raise nproc even to the hard limit (seen: 96367 refused, 8192 taken).
NOFILE="${NOFILE:-$(ulimit -Hn)}"
NPROC="${NPROC:-$(( $(ulimit -Hu) < 8192 ? $(ulimit -Hu) : 8192 ))}"

ca_dir="$dir/ca"
rm -rf "$ca_dir"; mkdir -p "$ca_dir"
# The CAs this host trusts locally (the sandbox's TLS interception among them).
cp /usr/local/share/ca-certificates/*.crt "$ca_dir"/ 2>/dev/null || true
toolchain="$(readlink -f "$(rustc --print sysroot)")"

t build_debian "$DEBIAN_IMAGE"
t build_from "$RUST_IMAGE" rust.Containerfile "$DEBIAN_IMAGE" \
  "$(rustc --version; cargo --version; cat "$ca_dir"/* | sha256sum)" --volume "$toolchain:/toolchain:ro"
t build_from "$POSTGRES_IMAGE" postgres.Containerfile "$DEBIAN_IMAGE" ""
t build_from "$HAPROXY_IMAGE" haproxy.Containerfile "$DEBIAN_IMAGE" ""
rm -rf "$ca_dir"
