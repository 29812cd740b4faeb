# Base images made here from Debian's packages, never pulled (sourced by docker/verify).
#
# - rust:1.95.0-bookworm, the name docker/Dockerfile's build stage uses: Debian bookworm (minbase)
#   with a C compiler and this machine's Rust toolchain copied to /usr/local/{rustup,cargo}, laid
#   out as the official image is (RUSTUP_HOME, CARGO_HOME, PATH).
# - localhost/um-verify/standins:<hash>: Debian bookworm with PostgreSQL 15, Python 3 (the SMTP
#   sink), s3cmd (creates the bucket, as MinIO's mc does) and s3s-fs (the S3 server), for the
#   containers that stand in for PostgreSQL, MinIO and Mailpit.
#
# The root file systems are cached as tarballs in $UM_VERIFY_CACHE; an image already in podman's
# store is kept.

DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
RUST_IMAGE=docker.io/library/rust:1.95.0-bookworm
# Tagged with a hash of the stand-in scripts and s3s-fs, so that a change makes a new image.
STANDINS_IMAGE=localhost/um-verify/standins:$(cat "$ROOT"/docker/verify.d/standins/* \
  "$(command -v s3s-fs)" | sha256sum | cut -c1-12)

# rootfs_tarball NAME PACKAGES... → path of a cached tarball of a minbase bookworm with PACKAGES.
rootfs_tarball() {
  local name=$1; shift
  local packages
  packages=$(IFS=,; echo "$*")
  local tarball="$UM_VERIFY_CACHE/$name-$(echo "$packages" | sha256sum | cut -c1-12).tar"
  if [[ ! -s $tarball ]]; then
    local dir
    dir=$(mktemp -d "$UM_VERIFY_CACHE/$name.XXXXXX")
    debootstrap --variant=minbase --include="$packages" bookworm "$dir" "$DEBIAN_MIRROR" \
      > "$dir.log" 2>&1 || { tail -20 "$dir.log" >&2; return 1; }
    # Nothing of the host's apt lists or caches in the image.
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    tar -C "$dir" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
    rm -rf "$dir" "$dir.log"
  fi
  echo "$tarball"
}

make_rust_image() {
  if podman image exists "$RUST_IMAGE"; then echo "  $RUST_IMAGE: already in the store"; return; fi
  local tarball toolchain dir
  tarball=$(rootfs_tarball rust-build ca-certificates gcc libc6-dev make pkg-config)
  toolchain=$(rustc --print sysroot)
  dir=$(mktemp -d "$WORK/rust.XXXXXX")
  tar -C "$dir" -xf "$tarball"
  # The toolchain without its documentation; cargo and rustc on PATH through /usr/local/cargo/bin.
  mkdir -p "$dir/usr/local/rustup/toolchains/1.95.0" "$dir/usr/local/cargo/bin"
  cp -a "$toolchain"/{bin,lib,libexec} "$dir/usr/local/rustup/toolchains/1.95.0/"
  local tool
  for tool in "$dir"/usr/local/rustup/toolchains/1.95.0/bin/*; do
    ln -s "../../rustup/toolchains/1.95.0/bin/$(basename "$tool")" "$dir/usr/local/cargo/bin/"
  done
  # HTTPS from inside a container goes through this machine's intercepting proxy: cargo is given
  # the certificate authorities the host added locally, in a bundle of its own, so the system
  # bundle (which the final image copies) stays Debian's.
  mkdir -p "$dir/usr/local/share/um-verify"
  cat "$dir/etc/ssl/certs/ca-certificates.crt" /usr/local/share/ca-certificates/*.crt \
    > "$dir/usr/local/share/um-verify/ca-bundle.crt" 2>/dev/null || true
  tar -C "$dir" -c . | podman import --quiet \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV RUSTUP_HOME=/usr/local/rustup' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change 'ENV RUST_VERSION=1.95.0' \
    --change 'ENV CARGO_HTTP_CAINFO=/usr/local/share/um-verify/ca-bundle.crt' \
    --change 'CMD ["bash"]' \
    - "$RUST_IMAGE" > /dev/null
  rm -rf "$dir"
  echo "  $RUST_IMAGE: made from Debian bookworm and $(rustc --version)"
}

make_standins_image() {
  if podman image exists "$STANDINS_IMAGE"; then echo "  $STANDINS_IMAGE: already in the store"; return; fi
  local tarball dir s3s
  tarball=$(rootfs_tarball standins ca-certificates postgresql-15 python3 s3cmd)
  s3s=$(command -v s3s-fs)
  dir=$(mktemp -d "$WORK/standins.XXXXXX")
  tar -C "$dir" -xf "$tarball"
  install -m 0755 "$s3s" "$dir/usr/local/bin/s3s-fs"
  install -m 0755 "$ROOT/docker/verify.d/standins/"* "$dir/usr/local/bin/"
  tar -C "$dir" -c . | podman import --quiet --change 'CMD ["bash"]' - "$STANDINS_IMAGE" > /dev/null
  rm -rf "$dir"
  echo "  $STANDINS_IMAGE: made from Debian bookworm, PostgreSQL 15, Python 3, s3cmd and s3s-fs"
}
